//! Who is calling: bearer tokens mapped to tenants.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time.
//! The tenant comes from the token (or the listener's configuration), never
//! from a request field or header. A token marked `admin = true` is also an
//! operator credential: only it may read the process-wide observability
//! routes (`/metrics`, `/v1/stats`) once tokens are configured.

use super::TokenConfig;
use sha2::{Digest, Sha256};
use toolhost_core::error::{Error, Result};

/// The authenticated caller of one HTTP request (an axum request extension;
/// the MCP handler reads it back from the request parts).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The tenant every call of this request runs as.
    pub tenant: String,
    /// Who: the access token's `sub`, or the static token's tenant.
    pub subject: Option<String>,
    /// What it may do (a static token: everything, `admin` as configured).
    pub scopes: toolhost_auth::Scopes,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("missing bearer token")]
    Missing,
    /// A token that matches no configured one.
    #[error("invalid bearer token")]
    Invalid,
}

/// Who a valid token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The tenant every call of the request runs as.
    pub tenant: &'a str,
    /// An operator token (`admin = true`): may read `/metrics` and `/v1/stats`.
    pub admin: bool,
    /// The token's `name` (default `token:<first 12 hex digits of its SHA-256>`).
    pub name: &'a str,
}

#[derive(Debug, Clone)]
struct Entry {
    digest: [u8; 32],
    tenant: String,
    admin: bool,
    name: String,
}

/// The configured tokens, as digests.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl Tokens {
    /// Reads `[[serve.tokens]]`; a token given by `token_env` is read now.
    pub fn compile(cfg: &[TokenConfig]) -> Result<Tokens> {
        let mut entries = Vec::with_capacity(cfg.len());
        for (i, t) in cfg.iter().enumerate() {
            let bad = |why: &str| Error::Configuration(format!("serve.tokens[{i}]: {why}"));
            if t.tenant.is_empty() {
                return Err(bad("tenant is empty"));
            }
            let digest = match (&t.token, &t.token_env, &t.token_sha256) {
                (Some(tok), None, None) => digest(tok),
                (None, Some(var), None) => match std::env::var(var) {
                    Ok(tok) if !tok.is_empty() => digest(&tok),
                    _ => return Err(bad(&format!("environment variable {var} is unset or empty"))),
                },
                (None, None, Some(hexd)) => {
                    let bytes = hex::decode(hexd.trim()).map_err(|_| bad("token_sha256 is not hex"))?;
                    bytes.try_into().map_err(|_| bad("token_sha256 must be 32 bytes (64 hex digits)"))?
                }
                _ => return Err(bad("give exactly one of token, token_env, token_sha256")),
            };
            if entries.iter().any(|e: &Entry| e.digest == digest) {
                return Err(bad("the same token is configured twice"));
            }
            let name = t.name.clone().unwrap_or_else(|| format!("token:{}", &hex::encode(digest)[..12]));
            entries.push(Entry { digest, tenant: t.tenant.clone(), admin: t.admin, name });
        }
        Ok(Tokens { entries })
    }

    /// Whether any token is configured (then every request needs one).
    pub fn required(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Whether any configured token is an operator (`admin`) token.
    pub fn has_admin(&self) -> bool {
        self.entries.iter().any(|e| e.admin)
    }

    /// The tenant of an `Authorization` header value, or why there is none.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<&str, AuthError> {
        self.identify(authorization).map(|id| id.tenant)
    }

    /// The tenant and scope of an `Authorization` header value, or why there is none.
    pub fn identify(&self, authorization: Option<&str>) -> Result<Identity<'_>, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Missing);
        }
        let d = digest(token.trim());
        // Compare with every entry, without early exit on the first match.
        let mut found = None;
        for e in &self.entries {
            let diff = e.digest.iter().zip(d.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(Identity { tenant: e.tenant.as_str(), admin: e.admin, name: e.name.as_str() });
            }
        }
        found.ok_or(AuthError::Invalid)
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The hex SHA-256 of a token, for `token_sha256` in `[[serve.tokens]]`.
pub fn token_sha256(token: &str) -> String {
    hex::encode(digest(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(tenant: &str, token: &str) -> TokenConfig {
        TokenConfig { tenant: tenant.into(), token: Some(token.into()), ..Default::default() }
    }

    #[test]
    fn maps_tokens_to_tenants() {
        let sha = token_sha256("s3cret-b");
        let t = Tokens::compile(&[
            cfg("acme", "s3cret-a"),
            TokenConfig { tenant: "beta".into(), token_sha256: Some(sha), ..Default::default() },
        ])
        .unwrap();
        assert!(t.required());
        assert_eq!(t.authenticate(Some("Bearer s3cret-a")), Ok("acme"));
        assert_eq!(t.authenticate(Some("bearer  s3cret-b ")), Ok("beta"));
        assert_eq!(t.authenticate(Some("Bearer nope")), Err(AuthError::Invalid));
        assert_eq!(t.authenticate(Some("Basic czNjcmV0LWE=")), Err(AuthError::Missing));
        assert_eq!(t.authenticate(Some("garbage")), Err(AuthError::Invalid));
        assert_eq!(t.authenticate(None), Err(AuthError::Missing));
        assert!(!t.has_admin());
        let id = t.identify(Some("Bearer s3cret-a")).unwrap();
        assert_eq!((id.tenant, id.admin), ("acme", false));
        assert_eq!(id.name, format!("token:{}", &token_sha256("s3cret-a")[..12]), "the default name");
    }

    #[test]
    fn admin_tokens_are_operators_of_their_tenant() {
        let admin = TokenConfig { admin: true, name: Some("ops-root".into()), ..cfg("ops", "root-token") };
        let t = Tokens::compile(&[cfg("acme", "a"), admin]).unwrap();
        assert!(t.has_admin());
        let id = t.identify(Some("Bearer root-token")).unwrap();
        assert_eq!((id.tenant, id.admin, id.name), ("ops", true, "ops-root"));
        let id = t.identify(Some("Bearer a")).unwrap();
        assert_eq!((id.tenant, id.admin), ("acme", false));
    }

    #[test]
    fn rejects_ambiguous_or_missing_sources() {
        let both = TokenConfig {
            tenant: "a".into(),
            token: Some("x".into()),
            token_env: Some("Y".into()),
            ..Default::default()
        };
        assert!(Tokens::compile(&[both]).is_err());
        assert!(Tokens::compile(&[TokenConfig { tenant: "a".into(), ..Default::default() }]).is_err());
        assert!(Tokens::compile(&[cfg("", "x")]).is_err());
        assert!(Tokens::compile(&[cfg("a", "x"), cfg("b", "x")]).is_err());
        let env = TokenConfig {
            tenant: "a".into(),
            token_env: Some("TOOLHOST_TEST_SURELY_UNSET_VAR".into()),
            ..Default::default()
        };
        assert!(Tokens::compile(&[env]).is_err());
        assert!(!Tokens::compile(&[]).unwrap().required());
    }
}
