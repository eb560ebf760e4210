//! `[serve.oauth]`: toolhost accepts access tokens of one issuer.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// An OAuth 2.1 authorization server whose JWT access tokens toolhost accepts
/// (alongside `[[serve.tokens]]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// The tokens' `iss` (required).
    pub issuer: String,
    /// The `aud` the tokens must name (required): this server.
    pub audience: String,
    /// Where the issuer publishes its JWKS (HTTPS; HTTP only on loopback).
    pub jwks_url: Option<String>,
    /// A local JWKS file instead (read at start and on an unknown `kid`).
    pub jwks_file: Option<PathBuf>,
    /// The claim that names the tenant. Default: `tenant`.
    pub tenant_claim: String,
    /// Accepted signature algorithms. Default: `["RS256", "ES256"]`.
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, seconds. Default: 60.
    pub leeway_secs: u64,
    /// Shortest time between two JWKS fetches (a token naming an unknown key
    /// refetches it at most this often), seconds. Default: 30.
    pub jwks_refresh_secs: u64,
    /// This server's public MCP URL, the `resource` of its protected-resource
    /// metadata. Default: derived from the request (`http://<Host>/mcp`).
    pub resource: Option<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            issuer: String::new(),
            audience: String::new(),
            jwks_url: None,
            jwks_file: None,
            tenant_claim: "tenant".into(),
            algorithms: vec!["RS256".into(), "ES256".into()],
            leeway_secs: 60,
            jwks_refresh_secs: 30,
            resource: None,
        }
    }
}

impl OAuthConfig {
    /// What is wrong with it, each problem named at its key under `path`.
    pub fn problems(&self, path: &str) -> Vec<String> {
        let mut p = Vec::new();
        let mut need = |ok: bool, key: &str, why: &str| {
            if !ok {
                p.push(format!("{path}.{key}: {why}"));
            }
        };
        need(!self.issuer.trim().is_empty(), "issuer", "is required");
        need(!self.audience.trim().is_empty(), "audience", "is required");
        need(
            self.jwks_url.is_some() != self.jwks_file.is_some(),
            "jwks_url",
            "give exactly one of jwks_url and jwks_file",
        );
        need(!self.tenant_claim.is_empty(), "tenant_claim", "must not be empty");
        need(self.jwks_refresh_secs >= 1, "jwks_refresh_secs", "must be ≥ 1");
        need(!self.algorithms.is_empty(), "algorithms", "must list at least one algorithm");
        for a in &self.algorithms {
            let known = crate::verify::algorithm(a).is_some();
            need(
                known,
                "algorithms",
                &format!(
                    "unknown or not allowed algorithm '{a}' (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA)"
                ),
            );
        }
        if let Some(url) = &self.jwks_url {
            need(
                crate::jwks::allowed_url(url),
                "jwks_url",
                "must be https:// (http:// only for a loopback host)",
            );
        }
        p
    }
}
