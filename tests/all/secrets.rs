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
    let folder = Folder::new();
    fetch_plugin(
        &folder,
        "[grants.http]\nhosts = [\"api.example.com\"]\n[grants.http.auth.\"other.example.com\"]\n\
         header = \"X-Api-Key\"\nsecret = \"env:TOOLHOST_BROKERED\"\n",
    );
    let errors = format!("{:?}", load_errors(&folder.host().await, "fetch"));
    assert!(errors.contains("must also be listed"), "{errors}");
}
