//! `oci://HOST[:PORT]/REPO[:TAG][@sha256:HEX]` references.

use std::fmt;
use std::str::FromStr;
use toolhost_core::error::Error;

/// A parsed `oci://` reference: registry, repository, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciRef {
    /// `host[:port]` (IPv6 hosts in brackets).
    pub registry: String,
    /// Repository path (`plugins/text`).
    pub repository: String,
    /// Tag, if the reference names one.
    pub tag: Option<String>,
    /// `sha256:<hex>`, if the reference pins a digest.
    pub digest: Option<String>,
}

impl OciRef {
    /// Whether the registry is a loopback address (`127.0.0.0/8`, `::1`,
    /// `localhost`): only those are spoken to over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => self.registry.split(':').next().unwrap_or(""),
        };
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The same repository pinned to `digest` (no tag).
    pub fn with_digest(&self, digest: &str) -> OciRef {
        OciRef { tag: None, digest: Some(digest.to_string()), ..self.clone() }
    }

    /// The same repository at `tag` (no digest).
    pub fn with_tag(&self, tag: &str) -> OciRef {
        OciRef { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }

    /// cosign's signature tag of the artifact `digest`: `sha256-<hex>.sig`.
    pub fn signature_ref(&self, digest: &str) -> OciRef {
        self.with_tag(&format!("{}.sig", digest.replacen(':', "-", 1)))
    }

    /// `registry/repository`: the simple-signing payload's `docker-reference`.
    pub fn docker_reference(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The reference `oci-client` speaks (digest wins over tag).
    pub fn client_ref(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => {
                oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), d.clone())
            }
            (None, Some(t)) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), t.clone())
            }
            (None, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                "latest".to_string(),
            ),
        }
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for OciRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<OciRef, Error> {
        let bad = |why: &str| {
            Error::Configuration(format!(
                "invalid reference {s:?}: {why}; expected oci://HOST[:PORT]/REPO:TAG or oci://HOST[:PORT]/REPO@sha256:HEX"
            ))
        };
        let rest = s.strip_prefix("oci://").ok_or_else(|| bad("it must start with oci://"))?;
        let (registry, path) = rest.split_once('/').ok_or_else(|| bad("no repository"))?;
        if registry.is_empty() || registry.contains(['@', ' ']) {
            return Err(bad("bad registry host"));
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_string())),
            None => (path, None),
        };
        if let Some(d) = &digest
            && !valid_digest(d)
        {
            return Err(bad("the digest must be sha256: and 64 lowercase hex digits"));
        }
        let last = path.rsplit('/').next().unwrap_or("");
        let (repository, tag) = match last.split_once(':') {
            Some((_, t)) => (&path[..path.len() - t.len() - 1], Some(t.to_string())),
            None => (path, None),
        };
        if !valid_repository(repository) {
            return Err(bad("the repository must be lowercase [a-z0-9._-/] components"));
        }
        if tag.as_deref().is_some_and(|t| !valid_tag(t)) {
            return Err(bad("the tag must be [A-Za-z0-9_.-], at most 128 characters"));
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("name a tag or a digest"));
        }
        Ok(OciRef { registry: registry.to_string(), repository: repository.to_string(), tag, digest })
    }
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn valid_repository(r: &str) -> bool {
    !r.is_empty()
        && r.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !t.starts_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_ports() {
        let r: OciRef = "oci://127.0.0.1:5000/plugins/text:1.0".parse().unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("127.0.0.1:5000", "plugins/text"));
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/plugins/text:1.0");
        let d = format!("sha256:{}", "a".repeat(64));
        let p: OciRef = format!("oci://ghcr.io/acme/text@{d}").parse().unwrap();
        assert_eq!(p.digest.as_deref(), Some(d.as_str()));
        assert!(!p.is_loopback());
        assert_eq!(p.signature_ref(&d).tag.unwrap(), format!("sha256-{}.sig", "a".repeat(64)));
        assert!("oci://[::1]:5000/x:y".parse::<OciRef>().unwrap().is_loopback());
        assert!("oci://localhost/x:y".parse::<OciRef>().unwrap().is_loopback());
        assert!(!"oci://127.0.0.1.evil.com/x:y".parse::<OciRef>().unwrap().is_loopback());
    }

    #[test]
    fn refuses_malformed_references() {
        for bad in [
            "docker://h/x:1",
            "oci://h",
            "oci://h/x",
            "oci://h/X:1",
            "oci://h/x@sha256:abc",
            "oci://h/x:bad tag",
            "oci://h/../x:1",
        ] {
            let e = bad.parse::<OciRef>().unwrap_err();
            assert_eq!(e.code(), toolhost_core::ErrorCode::ConfigurationError, "{bad}");
        }
    }
}
