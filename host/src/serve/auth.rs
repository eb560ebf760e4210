//! Who is calling: bearer tokens mapped to tenants.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time.
//! The tenant comes from the token (or the listener's configuration), never
//! from a request field or header.

use super::TokenConfig;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

/// The authenticated caller of one HTTP request (an axum request extension;
/// the MCP handler reads it back from the request parts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant every call of this request runs as.
    pub tenant: String,
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

/// The configured tokens, as digests.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], String)>,
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
            if entries.iter().any(|(d, _)| *d == digest) {
                return Err(bad("the same token is configured twice"));
            }
            entries.push((digest, t.tenant.clone()));
        }
        Ok(Tokens { entries })
    }

    /// Whether any token is configured (then every request needs one).
    pub fn required(&self) -> bool {
        !self.entries.is_empty()
    }

    /// The tenant of an `Authorization` header value, or why there is none.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<&str, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Missing);
        }
        let d = digest(token.trim());
        // Compare with every entry, without early exit on the first match.
        let mut found = None;
        for (entry, tenant) in &self.entries {
            let diff = entry.iter().zip(d.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(tenant.as_str());
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
