//! Outbound HTTP through `wasi:http` (the `fetch` example plugin) against a
//! local server on 127.0.0.1: granted hosts only, response size capped, the
//! request bounded by the call's deadline.

use crate::common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use toolhost::{CallRequest, ErrorCode, Host};

/// A minimal HTTP/1.1 server: `/hello`, `/big` (200 KB), `/slow` (answers after 10 s).
struct Upstream {
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&got);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body: Vec<u8> = match path.as_str() {
                    "/hello" => b"hello from upstream".to_vec(),
                    "/big" | "/big-unsized" => vec![b'x'; 200 * 1024],
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        b"late".to_vec()
                    }
                    _ => b"not found".to_vec(),
                };
                let status = if path == "/missing" { "404 Not Found" } else { "200 OK" };
                // `/big-unsized` declares no length: the body runs until the connection closes.
                let length = if path == "/big-unsized" {
                    String::new()
                } else {
                    format!("content-length: {}\r\n", body.len())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\n{length}connection: close\r\n\r\n"
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    Upstream { port, hits }
}

/// A host serving the `fetch` example plugin with `manifest`.
async fn fetch_host(manifest: Option<&str>) -> (Host, Folder) {
    let f = Folder::new();
    f.wasm("fetch", &std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
    if let Some(m) = manifest {
        f.manifest("fetch", m);
    }
    let host = f.host().await;
    assert_loaded(&host, "fetch");
    (host, f)
}

const GRANT_LOOPBACK: &str =
    "[limits]\ntimeout_ms = 1500\n[grants.http]\nhosts = [\"127.0.0.1\"]\nmax_response_bytes = 65536\n";

async fn fetch(host: &Host, url: &str) -> toolhost::Result<Value> {
    let r = host.call(CallRequest::json("web.fetch", &json!({ "url": url }))).await?;
    Ok(r.output.value.clone().unwrap_or(Value::Null))
}

fn kind(e: &toolhost::Error) -> &'static str {
    match e {
        toolhost::Error::Tool { kind, .. } => kind.as_str(),
        _ => "not a tool error",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_host_is_reachable() {
    let up = upstream().await;
    let (host, _f) = fetch_host(Some(GRANT_LOOPBACK)).await;
    let v = fetch(&host, &format!("http://127.0.0.1:{}/hello", up.port)).await.unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "hello from upstream");
    assert_eq!(v["content_type"], "text/plain");
    let v = fetch(&host, &format!("http://127.0.0.1:{}/missing", up.port)).await.unwrap();
    assert_eq!(v["status"], 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_not_on_the_list_are_denied_before_any_connection() {
    let up = upstream().await;
    let (host, _f) = fetch_host(Some(GRANT_LOOPBACK)).await;
    // Same server, other name: not on the list.
    let e = fetch(&host, &format!("http://localhost:{}/hello", up.port)).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolExecutionFailed);
    assert_eq!(kind(&e), "denied", "{e}");
    assert!(e.to_string().contains("grants.http"), "the message says how to fix it: {e}");
    assert_eq!(up.hits.load(Ordering::SeqCst), 0, "no request reached the server");
    // No grant at all: everything is denied.
    let (bare, _g) = fetch_host(None).await;
    let e = fetch(&bare, &format!("http://127.0.0.1:{}/hello", up.port)).await.unwrap_err();
    assert_eq!(kind(&e), "denied", "{e}");
    assert_eq!(up.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_cap_is_cut_off_with_an_error() {
    let up = upstream().await;
    let (host, _f) = fetch_host(Some(&GRANT_LOOPBACK.replace("1500", "20000"))).await;
    // Declared too long: refused before the body is read.
    let e = fetch(&host, &format!("http://127.0.0.1:{}/big", up.port)).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolExecutionFailed, "{e}");
    assert!(e.to_string().contains("65536"), "names the cap: {e}");
    assert!(!e.retryable(), "{e}");
    // No declared length: cut off while streaming.
    let e = fetch(&host, &format!("http://127.0.0.1:{}/big-unsized", up.port)).await.unwrap_err();
    assert!(e.to_string().contains("65536") && !e.retryable(), "{e}");
    assert!(!e.to_string().contains("backtrace"), "one clean line: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_is_bounded_by_the_calls_deadline() {
    let up = upstream().await;
    let (host, _f) = fetch_host(Some(GRANT_LOOPBACK)).await;
    let started = Instant::now();
    let e = fetch(&host, &format!("http://127.0.0.1:{}/slow", up.port)).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "stopped near the 1.5 s deadline, not after 10 s ({took:?}): {e}");
    assert!(
        matches!(e.code(), ErrorCode::ToolTimeout) || kind(&e) == "transient",
        "a timeout, retryable: {e}"
    );
    bystander_call(&host, up.port).await;
}

async fn bystander_call(host: &Host, port: u16) {
    let v = fetch(host, &format!("http://127.0.0.1:{port}/hello")).await.unwrap();
    assert_eq!(v["status"], 200);
}

#[tokio::test]
async fn bad_http_grants_are_configuration_errors() {
    let f = Folder::new();
    f.wasm("fetch", &std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
    f.manifest("fetch", "[grants.http]\nhosts = [\"https://example.com/path\"]\n");
    let host = f.host().await;
    let errs = load_errors(&host, "fetch");
    assert!(errs.iter().any(|e| e.to_string().contains("grants.http")), "{errs:?}");
}
