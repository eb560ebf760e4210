//! A bearer JWT → who is calling, or why not.

use crate::config::OAuthConfig;
use crate::jwks::{Jwks, JwksError, Source};
use crate::scopes::Scopes;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::Value;

/// A caller whose access token checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The tenant every call of the request runs as (the tenant claim).
    pub tenant: String,
    /// The token's `sub`.
    pub subject: Option<String>,
    /// What it may do.
    pub scopes: Scopes,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// Not a valid access token for this server (`invalid_token`).
    #[error("{0}")]
    Invalid(String),
    /// The issuer's keys could not be read: the token may be fine.
    #[error("{0}")]
    Unavailable(String),
}

/// The algorithms a resource server may accept (never `HS*`: a public key is no secret).
pub(crate) fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// Checks access tokens of one issuer.
#[derive(Debug)]
pub struct Verifier {
    cfg: OAuthConfig,
    algorithms: Vec<Algorithm>,
    jwks: Jwks,
}

impl Verifier {
    /// A verifier for `cfg` (checked: see [`OAuthConfig::problems`]).
    pub fn new(cfg: &OAuthConfig) -> Result<Verifier, String> {
        let problems = cfg.problems("serve.oauth");
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let source = match (&cfg.jwks_url, &cfg.jwks_file) {
            (Some(u), _) => Source::Url(u.clone()),
            (None, Some(f)) => Source::File(f.clone()),
            (None, None) => unreachable!("checked above"),
        };
        let algorithms = cfg.algorithms.iter().filter_map(|a| algorithm(a)).collect();
        let every = std::time::Duration::from_secs(cfg.jwks_refresh_secs);
        Ok(Verifier { cfg: cfg.clone(), algorithms, jwks: Jwks::new(source, every) })
    }

    /// The configuration.
    pub fn config(&self) -> &OAuthConfig {
        &self.cfg
    }

    /// Whether `token` has a JWT's shape (three dot-separated parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// The caller `token` proves, or why it does not.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthFailure> {
        let invalid = |why: String| AuthFailure::Invalid(why);
        let header = decode_header(token).map_err(|e| invalid(format!("not a JWT: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(invalid(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let (key, jwk) = self.jwks.key(header.kid.as_deref()).await.map_err(|e| match e {
            JwksError::Unavailable(m) => AuthFailure::Unavailable(m),
            unknown => invalid(unknown.to_string()),
        })?;
        if let Some(alg) = jwk.common.key_algorithm
            && format!("{alg:?}") != format!("{:?}", header.alg)
        {
            return Err(invalid(format!(
                "key '{}' is not for {:?}",
                header.kid.unwrap_or_default(),
                header.alg
            )));
        }
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.cfg.issuer]);
        v.set_audience(&[&self.cfg.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = self.cfg.leeway_secs;
        v.validate_nbf = true;
        let claims = decode::<Value>(token, &key, &v).map_err(|e| invalid(format!("rejected: {e}")))?.claims;
        self.principal(&claims)
    }

    fn principal(&self, claims: &Value) -> Result<Principal, AuthFailure> {
        let claim = &self.cfg.tenant_claim;
        let tenant = claims.get(claim).and_then(Value::as_str).filter(|t| !t.is_empty());
        let tenant =
            tenant.ok_or_else(|| AuthFailure::Invalid(format!("the token has no '{claim}' claim")))?;
        let scopes: Vec<&str> = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => s.split(' ').collect(),
            (_, Some(Value::Array(list))) => list.iter().filter_map(Value::as_str).collect(),
            (_, Some(Value::String(s))) => s.split(' ').collect(),
            _ => Vec::new(),
        };
        Ok(Principal {
            tenant: tenant.to_string(),
            subject: claims.get("sub").and_then(Value::as_str).map(str::to_string),
            scopes: Scopes::granted(scopes),
        })
    }
}
