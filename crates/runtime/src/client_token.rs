//! OAuth 2.0 client credentials (RFC 6749 §4.4) for a brokered host: the
//! host, not the guest, asks the token endpoint for an access token (a form
//! POST with the client id and secret in HTTP Basic auth, §2.3.1), caches it
//! until shortly before `expires_in`, and sets `Bearer <token>` on the
//! guest's requests to that host. A 401 from the host drops the cached token
//! (the request is sent once more with a fresh one). Concurrent calls share
//! one fetch. Neither the client secret nor the token reaches the guest, an
//! error text or a log line.

use crate::egress::{self, Resolver};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `client_credentials = { token_url, client_id, client_secret, scope }` of
/// `[grants.http.auth."<host>"]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentials {
    /// The authorization server's token endpoint (`https://…/token`; plain
    /// `http://` only to a loopback address).
    pub token_url: String,
    /// The client id (sent with the secret in HTTP Basic auth).
    pub client_id: String,
    /// Where the client secret is: `env:NAME` or `file:/path`, like `secret`.
    pub client_secret: String,
    /// Space-separated scopes to ask for. Default: none (the server's default).
    #[serde(default)]
    pub scope: Option<String>,
}

/// Longest time a token is used without `expires_in`; also the cap on how
/// early a token is refreshed.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
const EARLY: Duration = Duration::from_secs(30);
/// Largest token response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// A token endpoint and the token it last gave.
pub(crate) struct TokenSource {
    pub(crate) cfg: ClientCredentials,
    url: http::Uri,
    secret: Arc<str>,
    cached: tokio::sync::Mutex<Option<(Arc<str>, Instant)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").field("token_url", &self.cfg.token_url).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    /// Checks the settings and reads the client secret (`at` names the key in errors).
    pub(crate) fn new(at: &str, cfg: &ClientCredentials) -> Result<TokenSource, String> {
        let url: http::Uri =
            cfg.token_url.parse().map_err(|_| format!("{at}.client_credentials.token_url: not a URL"))?;
        let https = url.scheme() == Some(&http::uri::Scheme::HTTPS);
        let loopback = url.host().is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        });
        if !(https || (url.scheme() == Some(&http::uri::Scheme::HTTP) && loopback)) {
            return Err(format!(
                "{at}.client_credentials.token_url: must be https:// (plain http:// only to a loopback address)"
            ));
        }
        if cfg.client_id.is_empty() {
            return Err(format!("{at}.client_credentials.client_id: must not be empty"));
        }
        let secret =
            crate::secret_ref::read(&format!("{at}.client_credentials.client_secret"), &cfg.client_secret)?;
        Ok(TokenSource { cfg: cfg.clone(), url, secret: secret.into(), cached: Default::default() })
    }

    /// A current access token: the cached one, or a new one (one fetch for
    /// every caller waiting), within `timeout`.
    pub(crate) async fn token(
        &self,
        resolver: &Arc<dyn Resolver>,
        timeout: Duration,
    ) -> Result<Arc<str>, String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = tokio::time::timeout(timeout, self.fetch(resolver, timeout))
            .await
            .map_err(|_| "the token endpoint did not answer in time".to_string())??;
        let early = EARLY.min(lifetime / 10);
        *cached = Some((token.clone(), Instant::now() + lifetime - early));
        Ok(token)
    }

    /// Drops `stale` from the cache (not a newer token another call fetched).
    pub(crate) async fn invalidate(&self, stale: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|(t, _)| &**t == stale) {
            *cached = None;
        }
    }

    async fn fetch(
        &self,
        resolver: &Arc<dyn Resolver>,
        timeout: Duration,
    ) -> Result<(Arc<str>, Duration), String> {
        let unreachable = |_| "the token endpoint cannot be reached".to_string();
        let host = self.url.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let https = self.url.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = self.url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
            Err(_) => resolver
                .resolve(host, port)
                .await
                .map_err(|_| "cannot resolve the token endpoint".to_string())?,
        };
        let request = self.request()?;
        let options = wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(timeout),
            first_byte_timeout: Some(timeout),
            between_bytes_timeout: Some(timeout),
        };
        let (response, io) = egress::send(request, addrs, options).await.map_err(unreachable)?;
        tokio::spawn(io);
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|_| "the token endpoint's answer could not be read".to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("the token endpoint answered {}", status.as_u16()));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| "the token endpoint's answer has no access_token".to_string())?;
        if parsed.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
            return Err("the token endpoint issued a token that is not a Bearer token".into());
        }
        let lifetime = parsed.expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs);
        tracing::debug!(token_url = %self.cfg.token_url, expires_in = ?parsed.expires_in, "client-credentials token fetched");
        Ok((parsed.access_token.into(), lifetime))
    }

    /// `POST token_url` with `grant_type=client_credentials[&scope=…]`.
    fn request(
        &self,
    ) -> Result<http::Request<http_body_util::combinators::BoxBody<Bytes, wasmtime_wasi_http::Error>>, String>
    {
        use base64::Engine;
        let mut form = String::from("grant_type=client_credentials");
        if let Some(scope) = &self.cfg.scope {
            form.push_str("&scope=");
            form.push_str(&form_encode(scope));
        }
        let basic = format!("{}:{}", form_encode(&self.cfg.client_id), form_encode(&self.secret));
        let mut auth = http::HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(basic)
        ))
        .map_err(|_| "the client credentials do not fit a header".to_string())?;
        auth.set_sensitive(true);
        let authority = self.url.authority().map_or("", |a| a.as_str()).to_string();
        let body = http_body_util::Full::new(Bytes::from(form)).map_err(|never| match never {}).boxed();
        http::Request::post(self.url.clone())
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, auth)
            .body(body)
            .map_err(|_| "bad token request".to_string())
    }
}

/// `application/x-www-form-urlencoded` (RFC 6749 Appendix B).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_and_url_checks() {
        assert_eq!(form_encode("a b:c/ü"), "a+b%3Ac%2F%C3%BC");
        let cfg = |url: &str| ClientCredentials {
            token_url: url.into(),
            client_id: "id".into(),
            client_secret: "env:TOOLHOST_TEST_CC_SECRET_UNSET".into(),
            scope: None,
        };
        let err = TokenSource::new("a", &cfg("http://auth.example.com/token")).unwrap_err();
        assert!(err.contains("must be https://"), "{err}");
        let err = TokenSource::new("a", &cfg("https://auth.example.com/token")).unwrap_err();
        assert!(err.contains("TOOLHOST_TEST_CC_SECRET_UNSET is not set"), "{err}");
    }
}
