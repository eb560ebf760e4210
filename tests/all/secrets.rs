//! Brokered credentials (`[grants.http.auth."<host>"]`): the host adds the
//! header to the guest's requests to that host only; the guest (the real
//! `fetch` plugin) cannot read it back, not from a server that echoes the
//! request, not from results, errors or its environment; a manifest that
//! would hand the secret's variable to the guest is refused.

use crate::common::{Folder, call, example_plugins, load_errors};
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::json;
use std::sync::{Arc, Mutex};

const SECRET: &str = "Bearer brokered-s3cret-value";

/// An HTTP server on 127.0.0.1 answering every request with its headers, and
/// remembering the `Authorization` each request carried.
async fn echo() -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/echo",
        get(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
                log.lock().unwrap().push(auth);
                let lines: Vec<String> =
                    headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?"))).collect();
                (
                    [(
                        "x-echo-authorization",
                        headers
                            .get("authorization")
                            .cloned()
                            .unwrap_or(axum::http::HeaderValue::from_static("none")),
                    )],
                    lines.join("\n"),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

fn fetch_plugin(folder: &Folder, manifest: &str) {
    folder.wasm("fetch", &std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
    folder.manifest("fetch", manifest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_adds_the_credential_and_the_guest_never_sees_it() {
    let (port, seen) = echo().await;
    let folder = Folder::new();
    let secret_file = folder.path().join("api-token.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    fetch_plugin(
        &folder,
        &format!(
            "[limits]\ntimeout_ms = 20000\n[grants.http]\nhosts = [\"127.0.0.1\", \"localhost\"]\n\
             [grants.http.auth.\"127.0.0.1\"]\nheader = \"Authorization\"\nsecret = \"file:{}\"\n",
            secret_file.display()
        ),
    );
    let host = folder.host().await;
    crate::common::assert_loaded(&host, "fetch");

    // To the credential's host: the server gets it, the guest's copy of the echo shows [redacted].
    let r = call(&host, "web.fetch", json!({"url": format!("http://127.0.0.1:{port}/echo")})).await.unwrap();
    let value = r.output.value.clone().unwrap();
    let body = value["body"].as_str().unwrap();
    assert!(body.contains("authorization: [redacted]"), "{body}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap().as_deref(),
        Some(SECRET),
        "the upstream got the credential"
    );
    // To another host (same address, another name): nothing added.
    let r2 = call(&host, "web.fetch", json!({"url": format!("http://localhost:{port}/echo")})).await.unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap(), &None, "not sent to other hosts");
    // Nowhere in what the guest returned, nor in an error, nor in the listing.
    let err = call(&host, "web.fetch", json!({"url": format!("http://127.0.0.1:{port}/missing\u{0}")})).await;
    let everything =
        format!("{value} {} {err:?} {:?}", r2.output.value.clone().unwrap(), host.list_tools(None));
    assert!(!everything.contains("brokered-s3cret"), "the secret leaked: {everything}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_that_would_leak_the_secret_are_refused() {
    for (what, grants) in [
        ("inherit_env", "inherit_env = [\"TOOLHOST_BROKERED\"]\n"),
        ("env", "env = { TOOLHOST_BROKERED = \"x\" }\n"),
    ] {
        let folder = Folder::new();
        fetch_plugin(
            &folder,
            &format!(
                "[grants]\n{grants}[grants.http]\nhosts = [\"api.example.com\"]\n\
                 [grants.http.auth.\"api.example.com\"]\nheader = \"X-Api-Key\"\nsecret = \"env:TOOLHOST_BROKERED\"\n"
            ),
        );
        let host = folder.host().await;
        let errors = format!("{:?}", load_errors(&host, "fetch"));
        assert!(errors.contains("must not be in grants.env or grants.inherit_env"), "{what}: {errors}");
    }
    // A client secret's variable is as private as a secret's.
    let folder = Folder::new();
    fetch_plugin(
        &folder,
        "[grants]\ninherit_env = [\"TOOLHOST_CC\"]\n[grants.http]\nhosts = [\"api.example.com\"]\n\
         [grants.http.auth.\"api.example.com\"]\nclient_credentials = { token_url = \"https://auth.example.com/token\", \
         client_id = \"c\", client_secret = \"env:TOOLHOST_CC\" }\n",
    );
    let errors = format!("{:?}", load_errors(&folder.host().await, "fetch"));
    assert!(errors.contains("TOOLHOST_CC holds a brokered secret"), "{errors}");
    let folder = Folder::new();
    fetch_plugin(
        &folder,
        "[grants.http]\nhosts = [\"api.example.com\"]\n[grants.http.auth.\"other.example.com\"]\n\
         header = \"X-Api-Key\"\nsecret = \"env:TOOLHOST_BROKERED\"\n",
    );
    let errors = format!("{:?}", load_errors(&folder.host().await, "fetch"));
    assert!(errors.contains("must also be listed"), "{errors}");
}

/// A token endpoint on 127.0.0.1 (RFC 6749 §4.4): checks the client's Basic
/// credentials and the form, answers `tok-<n>` with `expires_in` seconds, and
/// counts requests.
#[derive(Clone, Default)]
struct TokenEndpoint {
    issued: Arc<std::sync::atomic::AtomicUsize>,
    bad: Arc<Mutex<Vec<String>>>,
}

impl TokenEndpoint {
    async fn serve(&self, expires_in: u64) -> u16 {
        use base64::Engine;
        let me = self.clone();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("toolhost-client:cc-s3cret")
        );
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (me, expected) = (me.clone(), expected.clone());
                async move {
                    let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
                    if auth.as_deref() != Some(expected.as_str())
                        || body != "grant_type=client_credentials&scope=read+write"
                    {
                        me.bad.lock().unwrap().push(format!("{auth:?} {body}"));
                        return (axum::http::StatusCode::UNAUTHORIZED, "{\"error\":\"invalid_client\"}".to_string());
                    }
                    let n = me.issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let t = json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": expires_in});
                    (axum::http::StatusCode::OK, t.to_string())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    fn issued(&self) -> usize {
        self.issued.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An API on 127.0.0.1 echoing the request's headers, answering 401 to a revoked token.
async fn api(revoked: Arc<Mutex<Option<String>>>) -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/echo",
        get(move |headers: HeaderMap| {
            let (log, revoked) = (log.clone(), revoked.clone());
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
                log.lock().unwrap().push(auth.clone());
                if auth.is_some() && *revoked.lock().unwrap() == auth {
                    return (axum::http::StatusCode::UNAUTHORIZED, "revoked".to_string());
                }
                (axum::http::StatusCode::OK, format!("you sent: {}", auth.unwrap_or_default()))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_fetch_one_token_refresh_it_on_expiry_and_on_401() {
    let tokens = TokenEndpoint::default();
    let token_port = tokens.serve(2).await;
    let revoked: Arc<Mutex<Option<String>>> = Arc::default();
    let (port, seen) = api(revoked.clone()).await;
    let folder = Folder::new();
    let secret_file = folder.path().join("client.secret");
    std::fs::write(&secret_file, "cc-s3cret\n").unwrap();
    fetch_plugin(
        &folder,
        &format!(
            "[limits]\ntimeout_ms = 20000\n[grants.http]\nhosts = [\"127.0.0.1\"]\n\
             [grants.http.auth.\"127.0.0.1\"]\nclient_credentials = {{ token_url = \"http://127.0.0.1:{token_port}/token\", \
             client_id = \"toolhost-client\", client_secret = \"file:{}\", scope = \"read write\" }}\n",
            secret_file.display()
        ),
    );
    let host = folder.host().await;
    crate::common::assert_loaded(&host, "fetch");
    let url = format!("http://127.0.0.1:{port}/echo");
    let fetch = || call(&host, "web.fetch", json!({"url": url}));
    let last = || seen.lock().unwrap().last().cloned().flatten();

    // Many calls, one token; the guest sees [redacted] where the token was.
    let mut returned = Vec::new();
    for _ in 0..3 {
        let r = fetch().await.unwrap();
        returned.push(r.output.value.clone().unwrap().to_string());
        assert_eq!(last().as_deref(), Some("Bearer tok-1"));
    }
    assert_eq!(tokens.issued(), 1, "one token request for many calls: {:?}", tokens.bad.lock().unwrap());
    assert!(returned[0].contains("you sent: [redacted]"), "{}", returned[0]);

    // Past expires_in (2 s, refreshed a little early): a new token.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    returned.push(fetch().await.unwrap().output.value.clone().unwrap().to_string());
    assert_eq!((tokens.issued(), last().as_deref()), (2, Some("Bearer tok-2")));

    // The API revokes tok-2: the 401 makes the host fetch tok-3 and send the request once more.
    *revoked.lock().unwrap() = Some("Bearer tok-2".into());
    let r = fetch().await.unwrap();
    let value = r.output.value.clone().unwrap();
    assert_eq!(value["status"], 200, "{value}");
    assert_eq!((tokens.issued(), last().as_deref()), (3, Some("Bearer tok-3")));
    returned.push(value.to_string());

    // Neither the token nor the client secret reached the guest's results or the listing.
    let everything = format!("{returned:?} {:?}", host.list_tools(None));
    for leak in ["tok-1", "tok-2", "tok-3", "cc-s3cret"] {
        assert!(!everything.contains(leak), "{leak} leaked: {everything}");
    }
    assert!(tokens.bad.lock().unwrap().is_empty(), "{:?}", tokens.bad.lock().unwrap());
}
