//! The issuer's signing keys (a JWKS), fetched at first use and again when a
//! token names a key id the cached set lacks (key rotation), at most once per
//! `jwks_refresh_secs` (default [`REFRESH_EVERY`]): a flood of tokens with
//! made-up key ids costs the issuer one request per interval.

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Default shortest time between two fetches of the JWKS.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Longest a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no key was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The JWKS could not be read.
    #[error("the issuer's keys (JWKS) are unavailable: {0}")]
    Unavailable(String),
    /// The JWKS has no such key (after a refresh, or too soon for one).
    #[error("no signing key '{0}' in the issuer's JWKS")]
    UnknownKey(String),
}

/// Whether a JWKS URL may be used: HTTPS, or HTTP on a loopback host.
pub(crate) fn allowed_url(url: &str) -> bool {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) if u.scheme() == "http" => {
            matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]" | "::1"))
        }
        _ => false,
    }
}

#[derive(Debug)]
pub(crate) enum Source {
    Url(String),
    File(PathBuf),
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Jwk>,
    fetched: Option<Instant>,
}

/// The cached key set of one issuer.
pub(crate) struct Jwks {
    source: Source,
    every: Duration,
    client: reqwest::Client,
    state: Mutex<State>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("source", &self.source).finish()
    }
}

impl Jwks {
    pub(crate) fn new(source: Source, every: Duration) -> Jwks {
        let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build().unwrap_or_default();
        Jwks { source, every, client, state: Mutex::new(State::default()) }
    }

    /// The key `kid` (`None`: the set's only key) and its JWK.
    pub(crate) async fn key(&self, kid: Option<&str>) -> Result<(DecodingKey, Jwk), JwksError> {
        let mut state = self.state.lock().await;
        if let Some(found) = pick(&state.keys, kid) {
            return found;
        }
        let due = state.fetched.is_none_or(|at| at.elapsed() >= self.every);
        if due {
            state.fetched = Some(Instant::now());
            let set = self.fetch().await?;
            state.keys = set.keys.into_iter().filter_map(|k| Some((k.common.key_id.clone()?, k))).collect();
            tracing::info!(keys = state.keys.len(), source = ?self.source, "fetched the issuer's JWKS");
        }
        pick(&state.keys, kid).unwrap_or_else(|| Err(JwksError::UnknownKey(kid.unwrap_or("(none)").into())))
    }

    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        let text = match &self.source {
            Source::File(p) => std::fs::read_to_string(p)
                .map_err(|e| JwksError::Unavailable(format!("{}: {e}", p.display())))?,
            Source::Url(u) => {
                let r = self
                    .client
                    .get(u)
                    .send()
                    .await
                    .map_err(|e| JwksError::Unavailable(format!("{u}: {e}")))?;
                if !r.status().is_success() {
                    return Err(JwksError::Unavailable(format!("{u}: HTTP {}", r.status())));
                }
                r.text().await.map_err(|e| JwksError::Unavailable(format!("{u}: {e}")))?
            }
        };
        serde_json::from_str(&text).map_err(|e| JwksError::Unavailable(format!("not a JWKS: {e}")))
    }
}

/// The key named `kid`, or the only key when the token names none.
fn pick(keys: &HashMap<String, Jwk>, kid: Option<&str>) -> Option<Result<(DecodingKey, Jwk), JwksError>> {
    let jwk = match kid {
        Some(k) => keys.get(k)?,
        None if keys.len() == 1 => keys.values().next()?,
        None => return None,
    };
    Some(
        DecodingKey::from_jwk(jwk)
            .map(|d| (d, jwk.clone()))
            .map_err(|e| JwksError::Unavailable(format!("key '{}' is unusable: {e}", kid.unwrap_or("?")))),
    )
}
