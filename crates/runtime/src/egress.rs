//! The network side of outbound HTTP: resolve the host once, keep only the
//! addresses the grant admits, connect to one of those (never resolving
//! again, so a DNS answer cannot change between the check and the connect),
//! then TLS and HTTP/1.1 as `wasmtime_wasi_http::default_send_request` does.

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};
use http_body::Body;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions};

/// Resolves host names for plugins' outbound HTTP. The default,
/// [`SystemResolver`], asks the operating system (`getaddrinfo`); an embedder
/// may supply its own (its own DNS, or fixed answers in tests). Every answer
/// is still filtered by the grant before a connection is made.
pub trait Resolver: Send + Sync + std::fmt::Debug + 'static {
    /// The addresses of `host` (a name, never an IP literal) at `port`.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let host = host.to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), port)).await?.collect()) })
    }
}

/// Where a granted request may connect: the addresses of its host the
/// grant `admits` (`HttpPolicy::admits`).
pub(crate) async fn vet(
    admits: &(dyn Fn(IpAddr) -> bool + Sync),
    resolver: &Arc<dyn Resolver>,
    plugin: &str,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, HttpError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let found = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(timeout, resolver.resolve(bare, port))
            .await
            .map_err(|_| HttpError::DnsTimeout)?
            .map_err(|e| HttpError::DnsError { rcode: Some(e.to_string()), info_code: None })?,
    };
    if found.is_empty() {
        return Err(HttpError::DestinationNotFound);
    }
    let (admitted, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
        found.into_iter().partition(|a| admits(a.ip()));
    if admitted.is_empty() {
        let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        tracing::warn!(
            plugin,
            host,
            port,
            addresses = %refused.join(", "),
            "outbound HTTP denied: the host resolves only to private, loopback, link-local or metadata addresses, which [grants.http] does not name"
        );
        return Err(HttpError::HttpRequestDenied);
    }
    Ok(admitted)
}

/// Connects to the first address that answers, within `timeout` overall.
async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, HttpError> {
    let attempt = async {
        let mut last = None;
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(HttpError::Connect(last.unwrap_or_else(|| std::io::Error::other("no address"))))
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| HttpError::ConnectionTimeout)?
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// TLS over `tcp` for `host` (a name or an IP literal).
async fn tls(tcp: TcpStream, host: &str) -> Result<Box<dyn Stream>, HttpError> {
    use rustls::pki_types::ServerName;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = match bare.parse::<IpAddr>() {
        Ok(ip) => ServerName::from(ip),
        Err(_) => ServerName::try_from(bare.to_string())?,
    };
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(HttpError::Tls)?;
    Ok(Box::new(stream))
}

/// The response and the future driving the connection to its end.
pub(crate) type Sent = (Response<IncomingBody>, BoxFuture<'static, Result<(), HttpError>>);

/// Sends `req` over a connection to one of `addrs` (already vetted).
pub(crate) async fn send<B>(
    mut req: Request<B>,
    addrs: Vec<SocketAddr>,
    options: RequestOptions,
) -> Result<Sent, HttpError>
where
    B: Body<Data = Bytes, Error = HttpError> + Send + 'static,
{
    let long = Duration::from_secs(600);
    let connect_timeout = options.connect_timeout.unwrap_or(long);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(long);
    let between = options.between_bytes_timeout.unwrap_or(long).max(Duration::from_nanos(1));
    let https = req.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = req.uri().host().ok_or(HttpError::HttpRequestUriInvalid)?.to_string();
    let tcp = connect(&addrs, connect_timeout).await?;
    let stream: Box<dyn Stream> = if https { tls(tcp, &host).await? } else { Box::new(tcp) };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(hyper_util::rt::TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;
    // The request line carries only the path (no proxy form).
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *req.uri_mut() =
        http::Uri::builder().path_and_query(path).build().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let mut conn = Box::pin(conn);
    let mut conn_done = false;
    let mut response = Box::pin(tokio::time::timeout(first_byte_timeout, sender.send_request(req)));
    // Drive the connection while waiting for the response head.
    let res = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = response.as_mut().poll(cx) {
            return Poll::Ready(r.map_err(|_| HttpError::ConnectionReadTimeout)?.map_err(HttpError::from));
        }
        if !conn_done {
            match ready!(conn.as_mut().poll(cx)) {
                Ok(()) => conn_done = true,
                Err(e) => return Poll::Ready(Err(HttpError::from(e))),
            }
            return response
                .as_mut()
                .poll(cx)
                .map(|r| r.map_err(|_| HttpError::ConnectionReadTimeout)?.map_err(HttpError::from));
        }
        Poll::Pending
    })
    .await?;
    let mut timeout = tokio::time::interval(between);
    timeout.reset();
    let response = res.map(|incoming| IncomingBody { incoming, timeout });
    let io: BoxFuture<'static, Result<(), HttpError>> = Box::pin(async move {
        if conn_done {
            return Ok(());
        }
        conn.await.map_err(|e| if e.is_timeout() { HttpError::HttpResponseTimeout } else { e.into() })
    });
    Ok((response, io))
}

/// A response body with the request's between-bytes timeout.
pub(crate) struct IncomingBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                HttpError::from(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}
