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

/// `[grants.http.auth."<host>"]`: a credential the host adds for the guest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostAuth {
    /// The header it goes in (`Authorization`, `X-Api-Key`, …).
    pub header: String,
    /// Where the value is: `env:NAME` (the host's environment) or `file:/path`
    /// (trimmed). Write the whole header value there (e.g. `Bearer abc…`).
    pub secret: String,
}

/// What the guest sees where the secret was.
pub(crate) const REDACTED: &[u8] = b"[redacted]";

/// A resolved credential for one host.
#[derive(Clone, PartialEq)]
pub(crate) struct Credential {
    pub(crate) host: String,
    pub(crate) header: http::HeaderName,
    value: Arc<str>,
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
    /// Reads the secret `auth` names, for requests to `host`. Errors name the
    /// reference (`env:NAME`), never the value.
    pub(crate) fn resolve(host: &str, auth: &HostAuth) -> Result<Credential, String> {
        let at = format!("grants.http.auth.\"{host}\"");
        let header = http::HeaderName::try_from(auth.header.trim())
            .map_err(|_| format!("{at}.header: {:?} is not a header name", auth.header))?;
        let value = match auth.secret.split_once(':') {
            Some(("env", name)) => std::env::var(name)
                .map_err(|_| format!("{at}.secret: environment variable {name} is not set"))?,
            Some(("file", path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("{at}.secret: cannot read {path}: {}", e.kind()))?,
            _ => return Err(format!("{at}.secret: must be env:NAME or file:/path")),
        };
        let value = value.trim();
        if value.is_empty() || http::HeaderValue::from_str(value).is_err() {
            return Err(format!("{at}.secret: {} is empty or not a valid header value", auth.secret));
        }
        Ok(Credential { host: host.to_ascii_lowercase(), header, value: value.into() })
    }

    /// Sets the header on a request (replacing any value the guest gave).
    pub(crate) fn apply<B>(&self, req: &mut http::Request<B>) {
        if let Ok(mut v) = http::HeaderValue::from_str(&self.value) {
            v.set_sensitive(true);
            req.headers_mut().insert(self.header.clone(), v);
        }
    }

    /// The response with every occurrence of the secret cut out of its
    /// headers and body.
    pub(crate) fn scrub<B>(&self, mut response: http::Response<B>) -> http::Response<Redact<B>> {
        let secret = self.value.as_bytes();
        for v in response.headers_mut().values_mut() {
            if contains(v.as_bytes(), secret) {
                let clean = replace(v.as_bytes(), secret);
                *v = http::HeaderValue::from_bytes(&clean)
                    .unwrap_or(http::HeaderValue::from_static("[redacted]"));
            }
        }
        response.map(|body| Redact {
            inner: body,
            secret: self.value.clone(),
            carry: Vec::new(),
            done: false,
        })
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
        let cred = Credential {
            host: "h".into(),
            header: http::header::AUTHORIZATION,
            value: "Bearer s3cr3t".into(),
        };
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            ["got: Bearer s3", "cr3t and Bearer s3cr3t", "!", " Bearer s3cr"]
                .into_iter()
                .map(|c| Ok(Frame::data(Bytes::from(c))))
                .collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
        let mut resp = http::Response::new(body);
        resp.headers_mut().insert("x-echo", http::HeaderValue::from_static("Bearer s3cr3t"));
        let scrubbed = cred.scrub(resp);
        assert_eq!(scrubbed.headers()["x-echo"], "[redacted]");
        let text = scrubbed.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(text, "got: [redacted] and [redacted]! Bearer s3cr");
    }

    #[test]
    fn secrets_come_from_env_or_files_and_errors_never_show_them() {
        let auth = |secret: &str| HostAuth { header: "Authorization".into(), secret: secret.into() };
        let err =
            Credential::resolve("api.example.com", &auth("env:TOOLHOST_TEST_UNSET_SECRET")).unwrap_err();
        assert!(err.contains("TOOLHOST_TEST_UNSET_SECRET is not set"), "{err}");
        assert!(
            Credential::resolve("h", &auth("plain-text")).unwrap_err().contains("env:NAME or file:/path")
        );
        let file = std::env::temp_dir().join(format!("toolhost-secret-{}", std::process::id()));
        std::fs::write(&file, "Bearer from-file\n").unwrap();
        let c = Credential::resolve("API.example.com", &auth(&format!("file:{}", file.display()))).unwrap();
        assert_eq!((c.host.as_str(), &*c.value), ("api.example.com", "Bearer from-file"));
        assert!(!format!("{c:?}").contains("from-file"), "Debug never shows the value");
        std::fs::remove_file(file).unwrap();
    }
}
