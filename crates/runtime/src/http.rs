//! Outbound HTTP (`wasi:http`), deny-by-default.
//!
//! `wasi:http` is linked for every plugin, like the other WASI interfaces,
//! but a request only leaves the host when the plugin's manifest lists its
//! host in `[grants.http] hosts`; anything else fails with `HTTP-request-denied`
//! before a connection is made. The name is checked as written in the URL,
//! then every address it resolves to: private, loopback, link-local, CGNAT,
//! unspecified and cloud-metadata addresses are refused unless the grant names
//! that IP literally (or `localhost`, for loopback). The connection goes to an
//! address that passed the check (see [`super::egress`]). Plain `http://` needs
//! `allow_http = true`, except to a loopback host named literally.
//!
//! A granted request is bounded by the call's remaining deadline (connect,
//! first byte, whole body) and its response body by `max_response_bytes`
//! (cut off with `HTTP-response-body-size`).

use super::egress::{self, Resolver};
use crate::HttpGrant;
use bytes::Bytes;
use http_body::{Body, Frame};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// A compiled `[grants.http]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HttpPolicy {
    hosts: Vec<HostPattern>,
    max_response_bytes: u64,
    allow_http: bool,
    /// IP literals among `hosts`: these may be reached even when restricted.
    literal_ips: Vec<IpAddr>,
    /// `localhost` is among `hosts`: loopback addresses may be reached.
    names_localhost: bool,
    /// Brokered credentials, by host (`[grants.http.auth]`).
    credentials: Vec<crate::secrets::Credential>,
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    /// Exact host, optionally one port.
    Exact { host: String, port: Option<u16> },
    /// `*.domain`: any subdomain of `domain`.
    Suffix(String),
}

impl HttpPolicy {
    /// Checks and compiles a grant.
    pub(crate) fn compile(g: &HttpGrant) -> Result<HttpPolicy, String> {
        let mut hosts = Vec::new();
        for h in &g.hosts {
            let h = h.trim().to_ascii_lowercase();
            if h.is_empty() || h.contains(['/', '@', '?', '#', ' ']) {
                return Err(format!("grants.http.hosts: {h:?} is not a host or host:port"));
            }
            if let Some(domain) = h.strip_prefix("*.") {
                if domain.is_empty() || domain.contains('*') {
                    return Err(format!("grants.http.hosts: {h:?}: only a leading `*.` wildcard is allowed"));
                }
                hosts.push(HostPattern::Suffix(domain.to_string()));
                continue;
            }
            if h.contains('*') {
                return Err(format!("grants.http.hosts: {h:?}: only a leading `*.` wildcard is allowed"));
            }
            let (host, port) =
                split_host_port(&h).ok_or_else(|| format!("grants.http.hosts: bad entry {h:?}"))?;
            let port = port
                .map(|p| p.parse::<u16>().map_err(|_| format!("grants.http.hosts: bad port in {h:?}")))
                .transpose()?;
            hosts.push(HostPattern::Exact { host: host.to_string(), port });
        }
        if g.max_response_bytes == 0 {
            return Err("grants.http.max_response_bytes must be positive".into());
        }
        let literal_ips = hosts
            .iter()
            .filter_map(|p| match p {
                HostPattern::Exact { host, .. } => host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical()),
                HostPattern::Suffix(_) => None,
            })
            .collect();
        let names_localhost =
            hosts.iter().any(|p| matches!(p, HostPattern::Exact { host, .. } if host == "localhost"));
        let mut policy = HttpPolicy {
            hosts,
            max_response_bytes: g.max_response_bytes,
            allow_http: g.allow_http,
            literal_ips,
            names_localhost,
            credentials: Vec::new(),
        };
        for (host, auth) in &g.auth {
            let granted = policy
                .hosts
                .iter()
                .any(|p| matches!(p, HostPattern::Exact { host: h, .. } if h.eq_ignore_ascii_case(host)));
            if !granted {
                return Err(format!(
                    "grants.http.auth.\"{host}\": the host must also be listed (exactly) in grants.http.hosts"
                ));
            }
            policy.credentials.push(crate::secrets::Credential::resolve(host, auth)?);
        }
        Ok(policy)
    }

    /// The brokered credential for requests to `host`, if any.
    pub(crate) fn credential(&self, host: &str) -> Option<&crate::secrets::Credential> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.credentials.iter().find(|c| c.host.eq_ignore_ascii_case(host))
    }

    /// Whether a request to `scheme://host:port` may go out, by name. Plain
    /// `http://` needs `allow_http`, unless the host is a loopback name or IP
    /// written literally (`localhost`, `127.0.0.1`, `[::1]`).
    pub(crate) fn allows(&self, https: bool, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if !https && !self.allow_http && !is_loopback_name(&host) {
            return false;
        }
        self.hosts.iter().any(|p| match p {
            HostPattern::Exact { host: h, port: p } => *h == host && p.is_none_or(|p| p == port),
            HostPattern::Suffix(d) => {
                host.len() > d.len() + 1 && host.ends_with(d.as_str()) && {
                    host.as_bytes()[host.len() - d.len() - 1] == b'.'
                }
            }
        })
    }

    /// Whether a connection to `ip` may be made: any public address; a
    /// restricted one only when the grant names it literally (or names
    /// `localhost`, for a loopback address).
    pub(crate) fn admits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !is_restricted(ip) || self.literal_ips.contains(&ip) || (self.names_localhost && ip.is_loopback())
    }
}

/// `localhost` or a loopback IP literal.
fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Addresses a granted name must not lead to: private, loopback, link-local
/// (incl. cloud metadata `169.254.169.254`), CGNAT, unspecified, multicast,
/// reserved and benchmarking ranges; IPv6 unique-local (incl. `fd00:ec2::254`),
/// link-local, site-local, and IPv4 addresses embedded in IPv6
/// (mapped, compatible, NAT64, 6to4) by their IPv4 verdict.
pub(crate) fn is_restricted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

fn restricted_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || ip.is_multicast()
        || a >= 240 // reserved, broadcast
}

fn restricted_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return restricted_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || ip.is_multicast()
        || (s[..6] == [0; 6] && restricted_v4(embedded(s[6], s[7]))) // IPv4-compatible ::a.b.c.d
        || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && restricted_v4(embedded(s[6], s[7]))) // NAT64
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x2002 && restricted_v4(embedded(s[1], s[2]))) // 6to4
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` (an unbracketed `a:b:c` is a bare IPv6 host).
pub fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?))),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, Some(p))),
        Some(_) => Some((s, None)),
        None => Some((s, None)),
    }
}

/// The `wasi:http` hooks of one store: its grant, its call's deadline and
/// the request context headers every outbound request carries.
pub(crate) struct HttpHooks {
    pub(crate) policy: Option<Arc<HttpPolicy>>,
    pub(crate) deadline: Instant,
    pub(crate) plugin: Arc<str>,
    pub(crate) resolver: Arc<dyn Resolver>,
    /// `ExecutionContext::outbound_headers` of the call (ids, trace context).
    pub(crate) context: Vec<(&'static str, String)>,
    /// Hosts (`host:port`) granted requests of this call went to, first
    /// contact first (the audit trail's grants used).
    pub(crate) contacted: Vec<String>,
}

/// Sets the call's context headers on an outbound request, replacing any value
/// the guest gave for those names: `context` (request and correlation ids, W3C
/// trace context) and `X-Deadline-Seconds`, the call's remaining time rounded
/// up to whole seconds.
pub(crate) fn add_context_headers<B>(
    req: &mut http::Request<B>,
    context: &[(&'static str, String)],
    deadline: Instant,
    now: Instant,
) {
    let left = deadline.saturating_duration_since(now);
    let seconds = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).to_string();
    let deadline = (toolhost_core::context::DEADLINE_HEADER, seconds);
    let headers = req.headers_mut();
    for (name, value) in context.iter().chain(std::iter::once(&deadline)) {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(*name), http::HeaderValue::from_str(value))
        {
            headers.insert(name, value);
        }
    }
}

/// A request that passed the name check.
struct Granted {
    policy: Arc<HttpPolicy>,
    host: String,
    port: u16,
}

impl HttpHooks {
    /// Remembers that a granted request went to `g`'s host.
    fn note_contact(&mut self, g: &Granted) {
        let bare = g.host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let at =
            if bare.contains(':') { format!("[{bare}]:{}", g.port) } else { format!("{bare}:{}", g.port) };
        if !self.contacted.contains(&at) {
            self.contacted.push(at);
        }
    }

    /// The grant that lets the request go out, by name.
    fn check(&self, req: &http::Request<WasiBody>) -> Result<Granted, HttpError> {
        let uri = req.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        match &self.policy {
            Some(p) if p.allows(https, host, port) => {
                tracing::debug!(plugin = &*self.plugin, %uri, "outbound HTTP request");
                Ok(Granted { policy: p.clone(), host: host.to_string(), port })
            }
            _ => {
                tracing::warn!(
                    plugin = &*self.plugin,
                    host,
                    port,
                    https,
                    "outbound HTTP denied: host not granted in [grants.http] (plain http:// also needs allow_http = true)"
                );
                Err(HttpError::HttpRequestDenied)
            }
        }
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        let checked = self.check(&request);
        if let Ok(g) = &checked {
            self.note_contact(g);
        }
        let mut request = request;
        add_context_headers(&mut request, &self.context, self.deadline, Instant::now());
        let credential = checked.as_ref().ok().and_then(|g| g.policy.credential(&g.host).cloned());
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let (resolver, plugin) = (self.resolver.clone(), self.plugin.clone());
        Box::new(async move {
            use http_body_util::BodyExt;
            let granted = checked?;
            let max = granted.policy.max_response_bytes;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(HttpError::ConnectionTimeout);
            }
            let bound = |d: Option<Duration>| Some(d.map_or(left, |d| d.min(left)));
            let options = options.unwrap_or_default();
            let options = RequestOptions {
                connect_timeout: bound(options.connect_timeout),
                first_byte_timeout: bound(options.first_byte_timeout),
                between_bytes_timeout: bound(options.between_bytes_timeout),
            };
            let out = Outbound { granted: &granted, resolver: &resolver, plugin: &plugin, options, deadline };
            let ((response, io), value) = match &credential {
                Some(c) => out.send_brokered(c, request).await.map(|(sent, v)| (sent, Some(v)))?,
                None => (out.send(request).await?, None),
            };
            // A declared length over the cap fails the request itself (typed for
            // the guest); an undeclared one is cut off while streaming.
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max) {
                return Err(HttpError::HttpResponseBodySize(Some(max)));
            }
            let response = match &value {
                Some(v) => crate::secrets::Credential::scrub(v, response)
                    .map(|body| CappedBody::new(body, max, deadline).boxed_unsync()),
                None => response.map(|body| CappedBody::new(body, max, deadline).boxed_unsync()),
            };
            Ok((response, Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>))
        })
    }
}

/// One granted request on its way out.
struct Outbound<'a> {
    granted: &'a Granted,
    resolver: &'a Arc<dyn Resolver>,
    plugin: &'a str,
    options: RequestOptions,
    deadline: tokio::time::Instant,
}

impl Outbound<'_> {
    /// Vets the host's addresses and sends, within the call's deadline.
    async fn send<B>(&self, request: http::Request<B>) -> Result<egress::Sent, HttpError>
    where
        B: Body<Data = Bytes, Error = HttpError> + Send + 'static,
    {
        let g = self.granted;
        let left = self.deadline.saturating_duration_since(tokio::time::Instant::now());
        let sent = tokio::time::timeout_at(self.deadline, async {
            let connect = self.options.connect_timeout.unwrap_or(left);
            let admits = |ip| g.policy.admits(ip);
            let addrs = egress::vet(&admits, self.resolver, self.plugin, &g.host, g.port, connect).await?;
            egress::send(request, addrs, self.options).await
        });
        sent.await.map_err(|_| HttpError::HttpResponseTimeout)?
    }

    /// With a brokered credential: its value on the request. A token the
    /// host refused (401) is dropped and the request sent once more with a
    /// fresh one (its body is kept for that). Returns the value sent last.
    async fn send_brokered(
        &self,
        c: &crate::secrets::Credential,
        mut request: http::Request<WasiBody>,
    ) -> Result<(egress::Sent, Arc<str>), HttpError> {
        use http_body_util::BodyExt;
        let fail = |why: String| {
            HttpError::InternalError(Some(format!("brokered credential for {}: {why}", c.host)))
        };
        let left = || self.deadline.saturating_duration_since(tokio::time::Instant::now());
        let value = c.value(self.resolver, left()).await.map_err(fail)?;
        tracing::debug!(plugin = self.plugin, host = %c.host, header = %c.header, "brokered credential added");
        if !c.refreshable() {
            c.apply(&mut request, &value);
            return Ok((self.send(request).await?, value));
        }
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let build = |value: &str| {
            let full = http_body_util::Full::new(body.clone()).map_err(|never| match never {});
            let mut r = http::Request::from_parts(parts.clone(), full);
            c.apply(&mut r, value);
            r
        };
        let sent = self.send(build(&value)).await?;
        if sent.0.status() != http::StatusCode::UNAUTHORIZED {
            return Ok((sent, value));
        }
        drop(sent);
        c.invalidate(&value).await;
        let fresh = c.value(self.resolver, left()).await.map_err(fail)?;
        tracing::info!(plugin = self.plugin, host = %c.host, "401 with a client-credentials token: sent again with a new one");
        Ok((self.send(build(&fresh)).await?, fresh))
    }
}

/// A response body cut off at `max` bytes and at the call's deadline.
struct CappedBody<B> {
    inner: B,
    seen: u64,
    max: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<B> CappedBody<B> {
    fn new(inner: B, max: u64, deadline: tokio::time::Instant) -> Self {
        CappedBody { inner, seen: 0, max, deadline: Box::pin(tokio::time::sleep_until(deadline)) }
    }
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes, Error = HttpError> + Unpin,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(HttpError::HttpResponseTimeout)));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.seen += data.len() as u64;
                    if self.seen > self.max {
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(self.max)))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str]) -> HttpPolicy {
        HttpPolicy::compile(&HttpGrant {
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn hosts_ports_and_wildcards() {
        let p = policy(&["127.0.0.1", "api.example.com:8443", "*.example.org", "[::1]:8080"]);
        assert!(p.allows(false, "127.0.0.1", 41234));
        assert!(p.allows(true, "API.example.com", 8443));
        assert!(!p.allows(true, "api.example.com", 443));
        assert!(p.allows(true, "a.b.example.org", 443));
        assert!(!p.allows(true, "example.org", 443));
        assert!(!p.allows(true, "badexample.org", 443));
        assert!(p.allows(false, "[::1]", 8080));
        assert!(!p.allows(false, "localhost", 80));
        assert!(!policy(&[]).allows(true, "example.com", 443));
    }

    #[test]
    fn plain_http_can_be_refused() {
        let g = HttpGrant { hosts: vec!["example.com".into()], allow_http: false, ..Default::default() };
        let p = HttpPolicy::compile(&g).unwrap();
        assert!(p.allows(true, "example.com", 443));
        assert!(!p.allows(false, "example.com", 80));
    }

    #[test]
    fn plain_http_is_opt_in_except_for_literal_loopback_hosts() {
        let p = policy(&["api.example.com", "127.0.0.1", "localhost", "::1"]);
        assert!(!p.allows(false, "api.example.com", 80), "allow_http defaults to false");
        assert!(p.allows(true, "api.example.com", 443));
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            assert!(p.allows(false, host, 8080), "{host}");
        }
        let g = HttpGrant { hosts: vec!["api.example.com".into()], allow_http: true, ..Default::default() };
        assert!(HttpPolicy::compile(&g).unwrap().allows(false, "api.example.com", 80));
    }

    #[test]
    fn restricted_ranges() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2002:7f00:1::",
        ] {
            assert!(is_restricted(ip.parse().unwrap()), "{ip} must be restricted");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_restricted(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn restricted_addresses_need_a_literal_grant() {
        let wild = policy(&["*.example.test"]);
        assert!(!wild.admits("127.0.0.1".parse().unwrap()));
        assert!(!wild.admits("169.254.169.254".parse().unwrap()));
        assert!(!wild.admits("::ffff:10.0.0.1".parse().unwrap()));
        assert!(wild.admits("93.184.216.34".parse().unwrap()));
        let lit = policy(&["*.example.test", "10.0.0.5", "[fd00:ec2::254]:80"]);
        assert!(lit.admits("10.0.0.5".parse().unwrap()));
        assert!(lit.admits("::ffff:10.0.0.5".parse().unwrap()), "the mapped form is the same address");
        assert!(lit.admits("fd00:ec2::254".parse().unwrap()));
        assert!(!lit.admits("10.0.0.6".parse().unwrap()));
        let local = policy(&["localhost"]);
        assert!(local.admits("127.0.0.1".parse().unwrap()) && local.admits("::1".parse().unwrap()));
        assert!(!local.admits("10.0.0.1".parse().unwrap()), "localhost admits loopback only");
    }

    /// Answers every lookup with fixed addresses.
    #[derive(Debug)]
    struct Fixed(Vec<IpAddr>);

    impl Resolver for Fixed {
        fn resolve(
            &self,
            _host: &str,
            port: u16,
        ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<std::net::SocketAddr>>> {
            let addrs = self.0.iter().map(|ip| std::net::SocketAddr::new(*ip, port)).collect();
            Box::pin(async move { Ok(addrs) })
        }
    }

    #[tokio::test]
    async fn only_admitted_addresses_are_connected_to() {
        let p = policy(&["*.example.test"]);
        let vet = |ips: &[&str]| {
            let r: Arc<dyn Resolver> = Arc::new(Fixed(ips.iter().map(|s| s.parse().unwrap()).collect()));
            let p = p.clone();
            async move {
                egress::vet(&|ip| p.admits(ip), &r, "t", "svc.example.test", 443, Duration::from_secs(1))
                    .await
            }
        };
        assert!(matches!(vet(&["127.0.0.1"]).await, Err(HttpError::HttpRequestDenied)));
        assert!(matches!(vet(&["169.254.169.254", "10.0.0.1"]).await, Err(HttpError::HttpRequestDenied)));
        let ok = vet(&["10.0.0.1", "93.184.216.34"]).await.unwrap();
        assert_eq!(ok, ["93.184.216.34:443".parse().unwrap()], "the private answer is dropped");
        assert!(matches!(vet(&[]).await, Err(HttpError::DestinationNotFound)));
    }

    #[test]
    fn context_headers_replace_the_guests_own() {
        let mut req = http::Request::builder()
            .uri("http://127.0.0.1/x")
            .header("traceparent", "00-11111111111111111111111111111111-2222222222222222-01")
            .header("X-Request-ID", "forged")
            .header("x-deadline-seconds", "999")
            .header("accept", "text/plain")
            .body(())
            .unwrap();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = [("X-Request-ID", "req-1".to_string()), ("traceparent", tp.to_string())];
        let now = Instant::now();
        add_context_headers(&mut req, &context, now + Duration::from_millis(1500), now);
        let h = req.headers();
        assert_eq!(h.get_all("x-request-id").iter().collect::<Vec<_>>(), ["req-1"]);
        assert_eq!(h.get_all("traceparent").iter().collect::<Vec<_>>(), [tp]);
        assert_eq!(h.get_all("x-deadline-seconds").iter().collect::<Vec<_>>(), ["2"], "rounded up");
        assert_eq!(h["accept"], "text/plain", "other headers are the guest's");
        add_context_headers(&mut req, &[], now, now + Duration::from_secs(1));
        assert_eq!(h_of(&req, "x-deadline-seconds"), "0", "expired");
        assert_eq!(h_of(&req, "x-request-id"), "req-1");
    }

    fn h_of<B>(req: &http::Request<B>, name: &str) -> String {
        req.headers()[name].to_str().unwrap().to_string()
    }

    #[test]
    fn bad_entries_are_configuration_errors() {
        for bad in ["", "http://x.com", "a*.com", "*.", "x.com:notaport", "user@x.com"] {
            let g = HttpGrant { hosts: vec![bad.into()], ..Default::default() };
            assert!(HttpPolicy::compile(&g).is_err(), "{bad:?}");
        }
        let g = HttpGrant { hosts: vec![], max_response_bytes: 0, ..Default::default() };
        assert!(HttpPolicy::compile(&g).is_err());
    }
}
