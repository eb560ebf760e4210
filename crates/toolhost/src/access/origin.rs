//! `Origin` and `Host` checks: the DNS-rebinding protection the MCP
//! specification requires of HTTP servers, applied to every route.

use std::net::IpAddr;
use toolhost_core::error::{Error, Result};

/// Origins allowed by default: loopback, any port.
pub const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://[::1]:*",
    "https://[::1]:*",
];

/// Host names accepted by default on a loopback listener.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    scheme: String,
    host: String,
    /// `None` = any port.
    port: Option<u16>,
}

/// Allowed browser origins.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    patterns: Vec<Pattern>,
    allow_null: bool,
}

impl OriginPolicy {
    /// Reads `scheme://host[:port|:*]` entries (and `null`).
    pub fn compile(entries: &[String]) -> Result<OriginPolicy> {
        let mut policy = OriginPolicy::default();
        for e in entries {
            if e == "null" {
                policy.allow_null = true;
                continue;
            }
            let (scheme, host, port) = split(e, true).ok_or_else(|| {
                Error::Configuration(format!(
                    "serve.allowed_origins: {e:?} is not `scheme://host[:port]` (`:*` for any port)"
                ))
            })?;
            policy.patterns.push(Pattern { scheme, host, port });
        }
        Ok(policy)
    }

    /// Whether a request carrying `Origin: origin` may proceed.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim();
        if origin == "null" {
            return self.allow_null;
        }
        let Some((scheme, host, port)) = split(origin, false) else {
            return false;
        };
        self.patterns
            .iter()
            .any(|p| p.scheme == scheme && p.host == host && p.port.is_none_or(|q| Some(q) == port))
    }
}

/// Splits `scheme://host[:port]` into lower-case scheme and host and the port
/// (scheme default when absent). With `wildcard`, `:*` gives `None`.
fn split(s: &str, wildcard: bool) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.contains(['/', '?', '#', '@']) || rest.is_empty() {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    let port = match port {
        Some("*") if wildcard => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => Some(match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        }),
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

use toolhost_runtime::split_host_port;

/// Accepted `Host` header names.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// `None` = any host.
    names: Option<Vec<String>>,
}

impl HostPolicy {
    /// Configured names, else loopback names for a loopback listener, else any.
    pub fn new(configured: &[String], bound: IpAddr) -> HostPolicy {
        let names = if !configured.is_empty() {
            Some(configured.iter().map(|h| h.to_ascii_lowercase()).collect())
        } else if bound.is_loopback() {
            Some(LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect())
        } else {
            None
        };
        HostPolicy { names }
    }

    /// The configured list, for the MCP transport's own check.
    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// Whether `Host: host` (with or without port) is accepted.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(names) = &self.names else { return true };
        let Some(host) = host else { return false };
        let host = host.trim().to_ascii_lowercase();
        let Some((name, port)) = split_host_port(&host) else { return false };
        names.iter().any(|n| *n == name || port.is_some_and(|p| *n == format!("{name}:{p}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_policy() -> OriginPolicy {
        OriginPolicy::compile(&LOOPBACK_ORIGINS.map(String::from)).unwrap()
    }

    #[test]
    fn loopback_origins_pass_and_others_fail() {
        let p = default_policy();
        assert!(p.allows("http://localhost:6274"));
        assert!(p.allows("http://127.0.0.1"));
        assert!(p.allows("https://[::1]:8443"));
        assert!(p.allows("HTTP://LOCALHOST:3000"));
        assert!(!p.allows("http://evil.example"));
        assert!(!p.allows("http://localhost.evil.example:80"));
        assert!(!p.allows("http://127.0.0.1.nip.io"));
        assert!(!p.allows("null"));
        assert!(!p.allows("not an origin"));
        assert!(!p.allows("file://localhost"));
    }

    #[test]
    fn explicit_ports_and_null() {
        let p = OriginPolicy::compile(&["https://app.example.com".into(), "null".into()]).unwrap();
        assert!(p.allows("https://app.example.com"));
        assert!(p.allows("https://app.example.com:443"));
        assert!(!p.allows("https://app.example.com:8443"));
        assert!(!p.allows("http://app.example.com"));
        assert!(p.allows("null"));
        assert!(OriginPolicy::compile(&["app.example.com".into()]).is_err());
        assert!(OriginPolicy::compile(&["http://a.example/path".into()]).is_err());
    }

    #[test]
    fn hosts() {
        let lo = HostPolicy::new(&[], "127.0.0.1".parse().unwrap());
        assert!(lo.allows(Some("127.0.0.1:8080")));
        assert!(lo.allows(Some("localhost")));
        assert!(lo.allows(Some("[::1]:80")));
        assert!(!lo.allows(Some("evil.example:8080")));
        assert!(!lo.allows(None));
        let any = HostPolicy::new(&[], "0.0.0.0".parse().unwrap());
        assert!(any.allows(Some("tools.example.com")));
        let named = HostPolicy::new(&["tools.example.com".into()], "0.0.0.0".parse().unwrap());
        assert!(named.allows(Some("tools.example.com:443")));
        assert!(!named.allows(Some("localhost")));
    }
}
