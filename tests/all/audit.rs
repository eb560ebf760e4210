//! The audit trail (`[audit]`), used as an operator would: a real `toolhost
//! serve` process and `toolhost call`, both writing JSON lines to one file.
//! Two tenants call over HTTP (a static token with a name, an OAuth JWT with
//! a subject); a cached call, a retried call, a refused call (rate limit) and
//! a guest that contacts a local HTTP server are each recorded with their
//! verdicts, digests and grants used; no argument or result text is in the
//! file unless `payloads = true`; rotation at `max_bytes` keeps `keep` files;
//! an unwritable path stops the host at start with a clear error.

use crate::cli::bin;
use crate::common::{Folder, example_plugins, hostile, shared_cache};
use crate::oauth::{ISSUER, Issuer, token};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A work folder: plugins `h` (the hostile guest) and `fetch` (granted 127.0.0.1).
fn work(extra_toml: &str) -> Folder {
    let f = Folder::new();
    std::fs::create_dir_all(f.path().join("plugins")).unwrap();
    std::fs::write(f.path().join("plugins/h.wasm"), hostile()).unwrap();
    std::fs::copy(example_plugins().join("fetch.wasm"), f.path().join("plugins/fetch.wasm")).unwrap();
    std::fs::write(
        f.path().join("plugins/fetch.toml"),
        "[limits]\ntimeout_ms = 10000\n[grants.http]\nhosts = [\"127.0.0.1\"]\n",
    )
    .unwrap();
    let toml = format!(
        "plugins_dir = \"plugins\"\ncache_dir = {:?}\n[cache]\nenabled = true\n\
         [policy]\ncache = true\nretry = {{ max_attempts = 3, base_ms = 1 }}\n\
         [policy.tools.ctx]\nrate_limit = {{ rate = 1, per_ms = 60000, burst = 1 }}\n{extra_toml}",
        shared_cache().display().to_string()
    );
    std::fs::write(f.path().join("toolhost.toml"), toml).unwrap();
    f
}

/// `toolhost serve --http 127.0.0.1:0` in `dir`.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        let mut child = Command::new(bin())
            .args(["serve", "--http", "127.0.0.1:0", "--no-watch", "--config", "toolhost.toml"])
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let url = crate::top::listening_url(&mut child);
        Serve { child, url }
    }

    async fn call(&self, bearer: &str, tool: &str, args: Value) -> Value {
        let body = json!({"tool": tool, "arguments": args});
        let r = reqwest::Client::new()
            .post(format!("{}/v1/calls", self.url))
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["results"][0].clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP server on 127.0.0.1 answering `hello from upstream`.
async fn upstream() -> u16 {
    let app = axum::Router::new().route("/hi", axum::routing::get(|| async { "hello from upstream" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// The file's records, once at least `n` are there (10 s at most).
async fn records(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if lines.len() >= n || Instant::now() > deadline {
            assert!(lines.len() >= n, "{} records, wanted {n}:\n{text}", lines.len());
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn config_tail(jwks: &str) -> String {
    format!(
        "[tenants.acme]\nplugins = [\"h\", \"fetch\"]\n[tenants.beta]\nplugins = [\"h\"]\n\
         [[serve.tokens]]\ntenant = \"acme\"\ntoken = \"static-acme\"\nname = \"acme-bot\"\n\
         [serve.oauth]\nissuer = \"{ISSUER}\"\naudience = \"toolhost\"\njwks_url = \"{jwks}\"\n\
         [audit]\npath = \"audit.jsonl\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_recorded_with_principal_verdicts_digest_and_grants() {
    let issuer = Issuer::default();
    let jwks = issuer.serve().await;
    let port = upstream().await;
    let w = work(&config_tail(&jwks));
    let serve = Serve::start(w.path());
    let jwt = token("rsa-1", json!({"sub": "ada", "tenant": "beta", "scope": "tools:call"}));

    let secret_words = "zebra-quartz-words";
    let first = serve.call("static-acme", "ok", json!({"say": secret_words})).await;
    let second = serve.call("static-acme", "ok", json!({"say": secret_words})).await;
    assert_eq!((first["cached"].as_bool(), second["cached"].as_bool()), (Some(false), Some(true)));
    let retried = serve.call(&jwt, "flaky", json!({"fail_times": 2})).await;
    assert_eq!(retried["attempts"], 3, "{retried}");
    assert_eq!(serve.call(&jwt, "ctx", json!({"n": 1})).await["ok"], true);
    let refused = serve.call(&jwt, "ctx", json!({"n": 2})).await;
    assert_eq!(refused["error"]["code"], "TOOL_RATE_LIMITED", "{refused}");
    let url = format!("http://127.0.0.1:{port}/hi");
    let fetched = serve.call("static-acme", "web.fetch", json!({"url": url})).await;
    assert_eq!(fetched["ok"], true, "{fetched}");
    // And from the command line, into the same file.
    let cli = Command::new(bin())
        .args(["call", "ok", r#"{"say":"from the cli"}"#, "--tenant", "acme", "--config", "toolhost.toml"])
        .current_dir(w.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));

    let path = w.path().join("audit.jsonl");
    let all = records(&path, 7).await;
    let by = |tool: &str, i: usize| all.iter().filter(|r| r["tool"] == tool).nth(i).cloned().unwrap();
    let h_digest = format!("sha256:{}", sha256(&hostile()));

    let miss = by("ok", 0);
    assert_eq!(miss["kind"], "call");
    assert_eq!((miss["principal"].as_str(), miss["tenant"].as_str()), (Some("acme-bot"), Some("acme")));
    assert_eq!((miss["source"].as_str(), miss["plugin_digest"].as_str()), (Some("plugin"), Some(&*h_digest)));
    let args_text = json!({"say": secret_words}).to_string();
    assert_eq!(miss["arguments_sha256"], sha256(args_text.as_bytes()));
    let out = json!({"value": {"say": secret_words}}).to_string();
    assert_eq!(miss["result_sha256"], sha256(out.as_bytes()));
    assert_eq!(
        miss["verdicts"],
        json!({"cached": false, "attempts": 1, "retries": 0, "refused": null, "fallback_for": null})
    );
    assert_eq!((miss["outcome"].as_str(), miss["grants_used"].clone()), (Some("ok"), json!({"http": []})));
    assert!(miss["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(
        miss["time"].as_str().unwrap().ends_with('Z')
            && miss["call_id"].as_str().unwrap().starts_with("call_")
    );
    assert_eq!(miss["call_id"], first["call_id"]);
    assert!(!miss["request_id"].as_str().unwrap().is_empty());

    let hit = by("ok", 1);
    assert_eq!(hit["verdicts"]["cached"], true);
    assert_eq!(
        (hit["verdicts"]["attempts"].as_u64(), hit["result_sha256"].clone()),
        (Some(0), miss["result_sha256"].clone())
    );

    let flaky = by("flaky", 0);
    assert_eq!((flaky["principal"].as_str(), flaky["tenant"].as_str()), (Some("ada"), Some("beta")));
    assert_eq!(
        (flaky["verdicts"]["attempts"].as_u64(), flaky["verdicts"]["retries"].as_u64()),
        (Some(3), Some(2))
    );

    let limited = by("ctx", 1);
    assert_eq!(limited["verdicts"]["refused"], json!({"by": "rate_limit", "key": "tool:ctx@beta"}));
    assert_eq!(
        (limited["outcome"].as_str(), limited["result_sha256"].clone()),
        (Some("TOOL_RATE_LIMITED"), Value::Null)
    );

    let fetch = by("web.fetch", 0);
    assert_eq!(fetch["grants_used"], json!({"http": [format!("127.0.0.1:{port}")]}));
    let fetch_digest = sha256(&std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
    assert_eq!(fetch["plugin_digest"], format!("sha256:{fetch_digest}"));

    let local = all.iter().find(|r| r["principal"] == "local").expect("the CLI call is recorded");
    assert_eq!((local["tool"].as_str(), local["tenant"].as_str()), (Some("ok"), Some("acme")));

    let text = std::fs::read_to_string(&path).unwrap();
    for leak in [secret_words, "hello from upstream", "from the cli", "upstream hiccup"] {
        assert!(!text.contains(leak), "{leak} is in the audit file:\n{text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_rotation_and_an_unwritable_path() {
    // payloads = true: the text is there.
    let w = work("[audit]\npath = \"audit.jsonl\"\npayloads = true\n");
    let out = Command::new(bin())
        .args(["call", "ok", r#"{"say":"visible words"}"#, "--config", "toolhost.toml"])
        .current_dir(w.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = &records(&w.path().join("audit.jsonl"), 1).await[0];
    assert_eq!(r["arguments"], r#"{"say":"visible words"}"#);
    assert_eq!(r["result"]["value"], json!({"say": "visible words"}));

    // Rotation: each record is ~700 bytes; 1500 bytes hold two, keep = 2.
    let w = work("[audit]\npath = \"a.jsonl\"\nmax_bytes = 1500\nkeep = 2\n");
    let serve = Serve::start(w.path());
    for i in 0..7 {
        assert_eq!(serve.call("", "ok", json!({"n": i})).await["ok"], true);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let count = |p: &str| std::fs::read_to_string(w.path().join(p)).map_or(0, |t| t.lines().count());
    // Until the writer settles: enough records kept, and no file caught between
    // a rotation and the write that follows it.
    let settled = || {
        count("a.jsonl") + count("a.jsonl.1") + count("a.jsonl.2") >= 5
            && ["a.jsonl", "a.jsonl.1", "a.jsonl.2"].iter().all(|f| count(f) > 0)
    };
    while !settled() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for f in ["a.jsonl", "a.jsonl.1", "a.jsonl.2"] {
        let size = std::fs::metadata(w.path().join(f)).unwrap().len();
        assert!(size > 0 && size <= 1500, "{f}: {size} bytes");
    }
    assert!(!w.path().join("a.jsonl.3").exists(), "keep = 2");
    let newest: Vec<Value> = records(&w.path().join("a.jsonl"), 1).await;
    let last = newest.last().unwrap()["arguments_sha256"].clone();
    assert_eq!(last, sha256(json!({"n": 6}).to_string().as_bytes()), "the newest record is in `path`");
    drop(serve);

    // Unwritable: a clear startup error, exit code 2, no panic.
    let w = work("[audit]\npath = \"no/such/dir/audit.jsonl\"\n");
    let out = Command::new(bin())
        .args(["serve", "--http", "127.0.0.1:0", "--no-watch", "--config", "toolhost.toml"])
        .current_dir(w.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("CONFIGURATION_ERROR")
            && err.contains("audit.path: cannot open no/such/dir/audit.jsonl"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
