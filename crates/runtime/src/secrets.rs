//! Brokered credentials: `[grants.http.auth."<host>"]` makes the host add a
//! header (`Authorization: Bearer …`, an API key) to the guest's outbound
//! requests to that host, and to no other. The guest never holds the value:
//! it is read from the host's environment or a file when the manifest loads,
//! never enters the guest's environment, config or error texts, is never
//! logged, and is cut out of the responses of that host (an endpoint that
//! echoes the request cannot hand it back): each occurrence reads `[redacted]`.

use bytes::Bytes;
use http_body::{Body, Frame};
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// `[grants.http.auth."<host>"]`: a credential the host adds for the guest:
/// a fixed `secret`, or an OAuth access token the host obtains with
/// `client_credentials`. Give exactly one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostAuth {
    /// The header it goes in (`Authorization`, `X-Api-Key`, …). Default: `Authorization`.
    #[serde(default = "authorization")]
    pub header: String,
    /// Where the value is: `env:NAME` (the host's environment) or `file:/path`
    /// (trimmed). Write the whole header value there (e.g. `Bearer abc…`).
    #[serde(default)]
    pub secret: Option<String>,
    /// OAuth 2.0 client credentials: the host fetches (and refreshes) an
    /// access token and sends `Bearer <token>`.
    #[serde(default)]
    pub client_credentials: Option<crate::client_token::ClientCredentials>,
}

fn authorization() -> String {
    "Authorization".into()
}

impl HostAuth {
    /// The `env:NAME` variables this credential reads (never to be handed to the guest).
    pub fn env_vars(&self) -> impl Iterator<Item = &str> {
        let secret = self.secret.as_deref();
        let client = self.client_credentials.as_ref().map(|c| c.client_secret.as_str());
        secret.into_iter().chain(client).filter_map(|s| s.strip_prefix("env:"))
    }
}

/// What the guest sees where the secret was.
pub(crate) const REDACTED: &[u8] = b"[redacted]";

/// Where a credential's value comes from.
#[derive(Clone)]
enum Value {
    Fixed(Arc<str>),
    Token(Arc<crate::client_token::TokenSource>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Fixed(a), Value::Fixed(b)) => a == b,
            (Value::Token(a), Value::Token(b)) => a.cfg == b.cfg,
            _ => false,
        }
    }
}

/// A resolved credential for one host.
#[derive(Clone, PartialEq)]
pub(crate) struct Credential {
    pub(crate) host: String,
    pub(crate) header: http::HeaderName,
    value: Value,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("host", &self.host)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Reads the secret `auth` names (or checks its client credentials and
    /// reads their secret), for requests to `host`. Errors name the reference
    /// (`env:NAME`), never the value.
    pub(crate) fn resolve(host: &str, auth: &HostAuth) -> Result<Credential, String> {
        let at = format!("grants.http.auth.\"{host}\"");
        let header = http::HeaderName::try_from(auth.header.trim())
            .map_err(|_| format!("{at}.header: {:?} is not a header name", auth.header))?;
        let value = match (&auth.secret, &auth.client_credentials) {
            (Some(secret), None) => {
                Value::Fixed(crate::secret_ref::read(&format!("{at}.secret"), secret)?.into())
            }
            (None, Some(cc)) => Value::Token(Arc::new(crate::client_token::TokenSource::new(&at, cc)?)),
            _ => return Err(format!("{at}: give exactly one of secret, client_credentials")),
        };
        Ok(Credential { host: host.to_ascii_lowercase(), header, value })
    }

    /// The header value to send now (a client-credentials token is fetched
    /// when none is cached), or why there is none (no secret in the text).
    pub(crate) async fn value(
        &self,
        resolver: &Arc<dyn crate::egress::Resolver>,
        timeout: std::time::Duration,
    ) -> Result<Arc<str>, String> {
        match &self.value {
            Value::Fixed(v) => Ok(v.clone()),
            Value::Token(src) => {
                let token = src.token(resolver, timeout).await?;
                Ok(format!("Bearer {token}").into())
            }
        }
    }

    /// Whether a 401 from the host means a new value may help (a token).
    pub(crate) fn refreshable(&self) -> bool {
        matches!(self.value, Value::Token(_))
    }

    /// Drops the cached token `sent` (`Bearer <token>`) after a 401.
    pub(crate) async fn invalidate(&self, sent: &str) {
        if let Value::Token(src) = &self.value {
            src.invalidate(sent.strip_prefix("Bearer ").unwrap_or(sent)).await;
        }
    }

    /// Sets the header to `value` on a request (replacing any value the guest gave).
    pub(crate) fn apply<B>(&self, req: &mut http::Request<B>, value: &str) {
        if let Ok(mut v) = http::HeaderValue::from_str(value) {
            v.set_sensitive(true);
            req.headers_mut().insert(self.header.clone(), v);
        }
    }

    /// The response with every occurrence of the secret cut out of its
    /// headers and body.
    pub(crate) fn scrub<B>(value: &Arc<str>, mut response: http::Response<B>) -> http::Response<Redact<B>> {
        let secret = value.as_bytes();
        for v in response.headers_mut().values_mut() {
            if contains(v.as_bytes(), secret) {
                let clean = replace(v.as_bytes(), secret);
                *v = http::HeaderValue::from_bytes(&clean)
                    .unwrap_or(http::HeaderValue::from_static("[redacted]"));
            }
        }
        response.map(|body| Redact { inner: body, secret: value.clone(), carry: Vec::new(), done: false })
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn replace(hay: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(REDACTED);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// A body with the secret cut out, also across chunk boundaries (the last
/// `len - 1` bytes of each chunk wait for the next).
pub(crate) struct Redact<B> {
    inner: B,
    secret: Arc<str>,
    carry: Vec<u8>,
    done: bool,
}

impl<B> Body for Redact<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let this = &mut *self;
                        this.carry.extend_from_slice(&data);
                        let clean = replace(&this.carry, this.secret.as_bytes());
                        let keep = (this.secret.len() - 1).min(clean.len());
                        let (out, rest) = clean.split_at(clean.len() - keep);
                        this.carry = rest.to_vec();
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(out)))));
                        }
                    }
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                Poll::Ready(None) => {
                    self.done = true;
                    let rest = std::mem::take(&mut self.carry);
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn the_secret_is_cut_out_across_chunks() {
        let value: Arc<str> = "Bearer s3cr3t".into();
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            ["got: Bearer s3", "cr3t and Bearer s3cr3t", "!", " Bearer s3cr"]
                .into_iter()
                .map(|c| Ok(Frame::data(Bytes::from(c))))
                .collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
        let mut resp = http::Response::new(body);
        resp.headers_mut().insert("x-echo", http::HeaderValue::from_static("Bearer s3cr3t"));
        let scrubbed = Credential::scrub(&value, resp);
        assert_eq!(scrubbed.headers()["x-echo"], "[redacted]");
        let text = scrubbed.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(text, "got: [redacted] and [redacted]! Bearer s3cr");
    }

    #[test]
    fn secrets_come_from_env_or_files_and_errors_never_show_them() {
        let auth = |secret: &str| HostAuth {
            header: "Authorization".into(),
            secret: Some(secret.into()),
            client_credentials: None,
        };
        let err =
            Credential::resolve("api.example.com", &auth("env:TOOLHOST_TEST_UNSET_SECRET")).unwrap_err();
        assert!(err.contains("TOOLHOST_TEST_UNSET_SECRET is not set"), "{err}");
        assert!(
            Credential::resolve("h", &auth("plain-text")).unwrap_err().contains("env:NAME or file:/path")
        );
        let file = std::env::temp_dir().join(format!("toolhost-secret-{}", std::process::id()));
        std::fs::write(&file, "Bearer from-file\n").unwrap();
        let c = Credential::resolve("API.example.com", &auth(&format!("file:{}", file.display()))).unwrap();
        assert_eq!(c.host, "api.example.com");
        assert!(matches!(&c.value, Value::Fixed(v) if &**v == "Bearer from-file"));
        assert!(!format!("{c:?}").contains("from-file"), "Debug never shows the value");
        std::fs::remove_file(file).unwrap();
    }
}
