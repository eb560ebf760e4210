//! toolhost as an OAuth 2.1 resource server: real JWTs (RS256 and ES256,
//! signed with the test keys in tests/fixtures/oauth) checked against a JWKS
//! served on 127.0.0.1, over the HTTP API and MCP streamable HTTP: expiry,
//! `nbf`, wrong audience or issuer, a refused algorithm, an unknown `kid`
//! (one JWKS refetch, rate-limited; a rotated key is found), scopes filtering
//! lists and refusing calls with 403 `insufficient_scope`, the tenant taken
//! from the token, static tokens still accepted, and the RFC 9728 metadata.

use crate::common::{Folder, example_plugins, repo};
use crate::serve::McpSession;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use toolhost::Host;
use toolhost_serve::HttpServer;

pub(crate) const ISSUER: &str = "https://login.example.test";

/// A JWKS endpoint on 127.0.0.1: `jwks-1.json`, or `jwks-2.json` once rotated; counts fetches.
#[derive(Clone, Default)]
pub(crate) struct Issuer {
    rotated: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    pub(crate) async fn serve(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            get(move || {
                let me = me.clone();
                async move {
                    me.fetches.fetch_add(1, Ordering::SeqCst);
                    let file = if me.rotated.load(Ordering::SeqCst) { "jwks-2.json" } else { "jwks-1.json" };
                    std::fs::read_to_string(fixture(file)).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    repo().join("tests/fixtures/oauth").join(name)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A token signed with the test key `kid`, its claims `extra` over sane defaults.
pub(crate) fn token(kid: &str, extra: Value) -> String {
    let pem = std::fs::read(fixture(&format!("{kid}.pem"))).unwrap();
    let (alg, key) = match kid.starts_with("rsa") {
        true => (Algorithm::RS256, EncodingKey::from_rsa_pem(&pem).unwrap()),
        false => (Algorithm::ES256, EncodingKey::from_ec_pem(&pem).unwrap()),
    };
    let mut claims = json!({"iss": ISSUER, "aud": "toolhost", "sub": "ada", "tenant": "acme",
        "exp": now() + 300, "iat": now(), "scope": "tools:list tools:call"});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
    encode(&header, &claims, &key).unwrap()
}

/// A server with plugins `text` (tenant acme) and `math` (tenant beta), the
/// issuer's JWKS, and one static token.
async fn server(jwks_url: &str) -> (String, tokio::sync::oneshot::Sender<()>) {
    let folder = Folder::new();
    for p in ["text", "math"] {
        folder
            .file(&format!("{p}.wasm"), &std::fs::read(example_plugins().join(format!("{p}.wasm"))).unwrap());
    }
    let doc = format!(
        r#"
        [tenants.acme]
        plugins = ["text"]
        [tenants.beta]
        plugins = ["math"]
        [[serve.tokens]]
        tenant = "acme"
        token = "static-acme"
        [serve.oauth]
        issuer = "{ISSUER}"
        audience = "toolhost"
        jwks_url = "{jwks_url}"
        jwks_refresh_secs = 1
        "#
    );
    let parsed = toolhost::Config::from_toml(&doc).unwrap();
    let mut cfg = folder.config();
    (cfg.tenants, cfg.serve) = (parsed.tenants, parsed.serve);
    let host = Host::builder().config(cfg).build().await.unwrap();
    let server = HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    std::mem::forget(folder);
    (base, tx)
}

async fn get_with(base: &str, path: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

async fn call(base: &str, bearer: &str, tool: &str) -> reqwest::Response {
    let body = json!([{"tool": tool, "arguments": {"text": "hi"}}]);
    reqwest::Client::new()
        .post(format!("{base}/v1/calls"))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

async fn tool_names(r: reqwest::Response) -> Vec<String> {
    let v: Value = r.json().await.unwrap();
    v["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_are_checked_against_the_issuers_keys() {
    let issuer = Issuer::default();
    let (base, _stop) = server(&issuer.serve().await).await;

    // Without a token: 401 pointing at the metadata, which names the issuer.
    let r = get_with(&base, "/v1/tools", None).await;
    assert_eq!(r.status(), 401);
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource");
    assert!(challenge(&r).contains(&format!("resource_metadata=\"{metadata_url}\"")), "{}", challenge(&r));
    let meta: Value = reqwest::get(&metadata_url).await.unwrap().json().await.unwrap();
    assert_eq!(meta["authorization_servers"], json!([ISSUER]));
    assert_eq!(meta["resource"], format!("{base}/mcp"));
    assert!(meta["scopes_supported"].as_array().unwrap().contains(&json!("tools:call")));

    // RS256 and ES256 tokens of the issuer work; the tenant comes from the claim.
    for kid in ["rsa-1", "ec-1"] {
        let r = get_with(&base, "/v1/tools", Some(&token(kid, json!({})))).await;
        assert_eq!(r.status(), 200, "{kid}");
        assert!(tool_names(r).await.iter().all(|n| n.starts_with("text.")), "acme sees its text tools");
    }
    let beta = get_with(&base, "/v1/tools", Some(&token("ec-1", json!({"tenant": "beta"})))).await;
    assert!(tool_names(beta).await.iter().all(|n| n.starts_with("math.")), "beta sees its math tools");
    assert_eq!(call(&base, &token("rsa-1", json!({})), "text.upper").await.status(), 200);
    // Static tokens still work alongside.
    assert_eq!(get_with(&base, "/v1/tools", Some("static-acme")).await.status(), 200);

    // Refused: expired (past the 60 s leeway), not yet valid, wrong audience or
    // issuer, no tenant claim, a symmetric algorithm, garbage.
    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": ISSUER, "aud": "toolhost", "tenant": "acme",
        "exp": now() + 300}),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    for (what, bad) in [
        ("expired", token("rsa-1", json!({"exp": now() - 120}))),
        ("not yet valid", token("rsa-1", json!({"nbf": now() + 600}))),
        ("wrong audience", token("rsa-1", json!({"aud": "someone-else"}))),
        ("wrong issuer", token("ec-1", json!({"iss": "https://evil.example"}))),
        ("no tenant", token("rsa-1", json!({"tenant": ""}))),
        ("HS256", hs256),
        ("garbage", "a.b.c".to_string()),
    ] {
        let r = get_with(&base, "/v1/tools", Some(&bad)).await;
        assert_eq!(r.status(), 401, "{what}");
        assert!(challenge(&r).contains("error=\"invalid_token\""), "{what}: {}", challenge(&r));
    }
    // Within the leeway an expired token still passes.
    let skewed = token("rsa-1", json!({"exp": now() - 10}));
    assert_eq!(get_with(&base, "/v1/tools", Some(&skewed)).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_refetches_the_jwks_once_and_a_rotated_key_is_found() {
    let issuer = Issuer::default();
    let (base, _stop) = server(&issuer.serve().await).await;
    assert_eq!(get_with(&base, "/v1/tools", Some(&token("rsa-1", json!({})))).await.status(), 200);
    assert_eq!(issuer.fetches(), 1);
    // rsa-2 is not published yet: one refetch (the last was over a second ago), then 401;
    // more unknown kids right away cost the issuer nothing.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(get_with(&base, "/v1/tools", Some(&token("rsa-2", json!({})))).await.status(), 401);
    }
    assert_eq!(issuer.fetches(), 2, "one refetch for a burst of unknown kids");
    // The issuer rotates; after the refresh interval rsa-2 is found (one more fetch).
    issuer.rotated.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get_with(&base, "/v1/tools", Some(&token("rsa-2", json!({})))).await.status(), 200);
    assert_eq!(get_with(&base, "/v1/tools", Some(&token("ec-2", json!({})))).await.status(), 200);
    assert_eq!(issuer.fetches(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_filter_lists_and_refuse_calls_with_403() {
    let issuer = Issuer::default();
    let (base, _stop) = server(&issuer.serve().await).await;
    let narrow = token("rsa-1", json!({"scope": "tools:list tools:call:text.upper"}));
    assert_eq!(tool_names(get_with(&base, "/v1/tools", Some(&narrow)).await).await, ["text.upper"]);
    assert_eq!(call(&base, &narrow, "text.upper").await.status(), 200);
    let r = call(&base, &narrow, "text.lower").await;
    assert_eq!(r.status(), 403);
    let c = challenge(&r);
    assert!(
        c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"tools:call:text.lower\""),
        "{c}"
    );
    assert!(c.contains("resource_metadata="), "{c}");

    let no_list = token("rsa-1", json!({"scope": "tools:call"}));
    let r = get_with(&base, "/v1/tools", Some(&no_list)).await;
    assert_eq!(r.status(), 403);
    assert!(challenge(&r).contains("scope=\"tools:list\""));
    assert_eq!(get_with(&base, "/v1/runs/x", Some(&no_list)).await.status(), 403, "runs needs `runs`");
    assert_eq!(get_with(&base, "/metrics", Some(&no_list)).await.status(), 403, "metrics need `admin`");
    let admin = token("ec-1", json!({"scope": "admin"}));
    assert_eq!(get_with(&base, "/metrics", Some(&admin)).await.status(), 200);

    // MCP: tools/list shows the callable tools only; tools/call of another is 403 at the HTTP level.
    let leaked: &'static str = Box::leak(narrow.clone().into_boxed_str());
    let (s, _) = McpSession::open(format!("{base}/mcp"), Some(leaked), json!({})).await;
    let listed = s.rpc("tools/list", json!({})).await;
    let names: Vec<&str> =
        listed["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["text.upper"], "{listed}");
    let ok = s.rpc("tools/call", json!({"name": "text.upper", "arguments": {"text": "hi"}})).await;
    assert_eq!(ok["result"]["isError"], false, "{ok}");
    let (status, c) = s
        .post_status(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "text.lower", "arguments": {"text": "hi"}}}))
        .await;
    assert_eq!(status, 403);
    assert!(c.contains("scope=\"tools:call:text.lower\""), "{c}");
    let (status, _) = McpSession::open_status(format!("{base}/mcp"), None).await;
    assert_eq!(status, 401, "MCP without a token");
    // A token that may call everything but not list: MCP tools/list is refused too.
    let call_only: &'static str = Box::leak(token("ec-1", json!({"scope": "tools:call"})).into_boxed_str());
    let (s, _) = McpSession::open(format!("{base}/mcp"), Some(call_only), json!({})).await;
    let (status, c) = s.post_status(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})).await;
    assert_eq!((status, c.contains("scope=\"tools:list\"")), (403, true), "{c}");
}
