//! The plugin registry under hostile edits of the plugin folder: duplicates
//! dropped beside a serving plugin, broken files that must not cause a reload
//! storm, and the failure lists operators read (`/readyz`, `toolhost list`).

use crate::common::*;
use crate::fixtures;
use serde_json::{Value, json};
use std::time::Duration;
use toolhost::{ErrorCode, Host, PluginState, PluginStatus};

fn status(host: &Host, name: &str) -> Option<PluginStatus> {
    host.catalog().plugins().iter().find(|p| p.name == name).cloned()
}

fn served_by(host: &Host, tool: &str) -> Option<String> {
    host.registry().lookup("default", tool).map(|e| e.plugin.name.clone())
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Reload events for `plugin` seen on `events` within `window`: (loaded, failed).
async fn count_events(
    events: &mut tokio::sync::broadcast::Receiver<toolhost::registry::RegistryEvent>,
    plugin: &str,
    window: Duration,
) -> (usize, usize) {
    let end = tokio::time::Instant::now() + window;
    let (mut loaded, mut failed) = (0, 0);
    while let Ok(ev) = tokio::time::timeout_at(end, events.recv()).await {
        let ev = ev.expect("no event lost");
        loaded += ev.loaded.iter().filter(|n| *n == plugin).count();
        failed += ev.failed.iter().filter(|(n, _)| n == plugin).count();
    }
    (loaded, failed)
}

// ---------------------------------------------------------------------------
// Item 3: a duplicate must not take the incumbent offline
// ---------------------------------------------------------------------------

/// A copy of a serving plugin dropped into the folder: the incumbent keeps
/// serving every tool, the copy is refused with an error naming both files,
/// and once the incumbent's file is gone the copy takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_duplicate_is_refused_and_the_incumbent_keeps_serving() {
    let (host, f) = hostile_host(None).await;
    f.wasm("h_copy", &hostile());
    host.registry().reload_files(vec!["h_copy.wasm".into()]).await;

    assert_eq!(served_by(&host, "ok").as_deref(), Some("h"), "the incumbent keeps its tools");
    bystander_ok(&host).await;
    assert_loaded(&host, "h");
    let copy = status(&host, "h_copy").expect("the copy is listed");
    assert_eq!(copy.state, PluginState::Failed, "{:?}", copy.errors);
    assert!(copy.tools.is_empty());
    let e = &copy.errors[0];
    assert_eq!(e.code(), ErrorCode::PluginLoadFailed);
    let msg = e.to_string();
    assert!(msg.contains("h_copy.wasm") && msg.contains("h.wasm") && msg.contains("ok"), "{msg}");

    // Re-announcing the unchanged copy changes nothing.
    host.registry().reload_files(vec!["h_copy.wasm".into()]).await;
    assert_eq!(served_by(&host, "ok").as_deref(), Some("h"));

    // The incumbent's file goes away: the refused copy takes its tools over.
    std::fs::remove_file(f.path().join("h.wasm")).unwrap();
    host.registry().reload_files(vec!["h.wasm".into()]).await;
    assert_eq!(served_by(&host, "ok").as_deref(), Some("h_copy"));
    assert_loaded(&host, "h_copy");
    bystander_ok(&host).await;
}

/// A new version of a plugin that starts claiming another plugin's tool is
/// refused as a whole: its last good version keeps serving (stale), the other
/// plugin keeps the contested tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_claims_a_served_tool_keeps_the_last_good_version() {
    let f = Folder::new();
    f.wasm("alpha", &fixtures::describe_tools(&["a1"])).wasm("beta", &fixtures::describe_tools(&["b1"]));
    let host = f.host().await;
    f.wasm("beta", &fixtures::describe_tools(&["b1", "b2", "a1"]));
    host.registry().reload_files(vec!["beta.wasm".into()]).await;
    assert_eq!(served_by(&host, "a1").as_deref(), Some("alpha"));
    assert_eq!(served_by(&host, "b1").as_deref(), Some("beta"));
    assert_eq!(served_by(&host, "b2"), None, "the refused version serves nothing");
    let beta = status(&host, "beta").unwrap();
    assert_eq!(beta.state, PluginState::Stale);
    let msg = beta.errors[0].to_string();
    assert!(msg.contains("beta.wasm") && msg.contains("alpha.wasm") && msg.contains("a1"), "{msg}");
    assert_loaded(&host, "alpha");
}

/// At startup nothing is incumbent: a name claimed by two files is refused for
/// both (every other tool serves), and the verdict does not depend on timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_startup_an_ambiguous_name_is_refused_for_every_claimant() {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("h_copy", &hostile()).wasm("m", &fixtures::minimal_plugin());
    for _ in 0..2 {
        let host = f.host().await;
        assert_eq!(served_by(&host, "ok"), None);
        assert_eq!(served_by(&host, "echo").as_deref(), Some("m"));
        for p in ["h", "h_copy"] {
            let st = status(&host, p).unwrap();
            assert!(st.tools.is_empty(), "{p}: {:?}", st.tools);
            let msg = st.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
            assert!(msg.contains("'ok'") && msg.contains("h_copy"), "{msg}");
        }
    }
}

// ---------------------------------------------------------------------------
// Item 2: a broken file is reported once per change, not retried forever
// ---------------------------------------------------------------------------

/// A garbage file in a watched folder is tried and reported once; over many
/// debounce ticks nothing is retried. Replaced by a valid plugin it loads (once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_in_a_watched_folder_fails_once_per_change() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = f.config();
    cfg.watch = true;
    let host = Host::builder().config(cfg).build().await.unwrap();
    let mut events = host.registry().subscribe();

    f.wasm("junk", &fixtures::random_bytes());
    // Eight debounce windows: a retry loop would report it again and again.
    let (loaded, failed) = count_events(&mut events, "junk", Duration::from_secs(2)).await;
    assert_eq!((loaded, failed), (0, 1), "one failure report per change of the file");
    let st = status(&host, "junk").unwrap();
    assert_eq!(st.state, PluginState::Failed);
    assert_eq!(st.errors[0].code(), ErrorCode::PluginLoadFailed);
    let (loaded, failed) = count_events(&mut events, "h", Duration::from_millis(10)).await;
    assert_eq!((loaded, failed), (0, 0), "untouched plugins are not reloaded");

    // The file changes into a valid plugin: it loads, once.
    f.wasm("junk", &fixtures::describe_tools(&["fresh"]));
    let (loaded, failed) = count_events(&mut events, "junk", Duration::from_secs(2)).await;
    assert_eq!((loaded, failed), (1, 0));
    assert_eq!(served_by(&host, "fresh").as_deref(), Some("junk"));
    assert_loaded(&host, "junk");
}

/// A valid file dropped into a watched folder loads once: the loader's own
/// reads of it are no change (they used to set off a reload every 250 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_plugin_in_a_watched_folder_loads_once() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = f.config();
    cfg.watch = true;
    let host = Host::builder().config(cfg).build().await.unwrap();
    let mut events = host.registry().subscribe();
    f.wasm("m", &fixtures::minimal_plugin());
    let (loaded, failed) = count_events(&mut events, "m", Duration::from_secs(2)).await;
    assert_eq!((loaded, failed), (1, 0), "loaded once, not again and again");
    assert_eq!(served_by(&host, "echo").as_deref(), Some("m"));
}

/// Without the watcher: announcing an unchanged broken file again (as a
/// coalesced burst of events would) neither retries nor re-reports it.
#[tokio::test]
async fn an_unchanged_broken_file_is_not_retried() {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("junk", &fixtures::truncated(&hostile()));
    let host = f.host().await;
    let mut events = host.registry().subscribe();
    for _ in 0..3 {
        host.registry().reload_files(vec!["junk.wasm".into()]).await;
    }
    let (_, failed) = count_events(&mut events, "junk", Duration::from_millis(10)).await;
    assert_eq!(failed, 0, "already reported at startup");
    assert_eq!(status(&host, "junk").unwrap().state, PluginState::Failed);
    // A manifest written beside it is a change of the plugin: tried once more.
    f.manifest("junk", "[config]\nx = \"1\"\n");
    host.registry().reload_files(vec!["junk.wasm".into()]).await;
    host.registry().reload_files(vec!["junk.wasm".into()]).await;
    let (_, failed) = count_events(&mut events, "junk", Duration::from_millis(10)).await;
    assert_eq!(failed, 1);
}

/// `/readyz` lists failed plugins (name, state, error codes; no paths or
/// messages, which may quote manifest text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_lists_failed_plugins_without_details() {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("junk", &fixtures::random_bytes());
    let host = f.host().await;
    let server = toolhost_serve::HttpServer::bind(host, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{}/readyz", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    let v: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(v["plugins_failed"], 1, "{v}");
    assert_eq!(
        v["plugin_failures"],
        json!([{"plugin": "junk", "state": "failed", "codes": ["PLUGIN_LOAD_FAILED"]}])
    );
    assert!(!v.to_string().contains(&f.path().display().to_string()), "no paths: {v}");
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

/// `toolhost list` (text) names a failed plugin and why, on stdout with the tools.
#[test]
fn list_text_shows_failed_plugins() {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("junk", &fixtures::random_bytes());
    let out = std::process::Command::new(crate::cli::bin())
        .args(["list", "--plugins"])
        .arg(f.path())
        .arg("--cache-dir")
        .arg(shared_cache())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("junk")).unwrap_or_else(|| panic!("junk is listed: {text}"));
    assert!(line.contains("failed") && text.contains("PLUGIN_LOAD_FAILED"), "{text}");
}

// ---------------------------------------------------------------------------
// Item 11 (registry part): a panic fails that plugin, never the watch
// (a panicked load task itself: toolhost_registry::tests in crates/registry/src/lib.rs)
// ---------------------------------------------------------------------------

/// A panic while handling one reload (here in the embedder's progress
/// callback, outside any load task) is logged; hot reload goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_during_a_reload_does_not_stop_hot_reload() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let mut cfg = f.config();
    cfg.watch = true;
    let host = Host::builder()
        .config(cfg)
        .on_progress(|p| assert!(p.plugin != "boom", "a bug in the progress callback"))
        .build()
        .await
        .unwrap();
    f.wasm("boom", &fixtures::minimal_plugin());
    tokio::time::sleep(Duration::from_secs(1)).await;
    f.wasm("later", &fixtures::describe_tools(&["later"]));
    until("a later plugin still loads", || served_by(&host, "later").is_some()).await;
}

// ---------------------------------------------------------------------------
// Item 14: the compile cache loads only what this host wrote
// ---------------------------------------------------------------------------

mod compile_cache {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use toolhost::runtime::CompileSource;

    /// Builds a host over `f` with compile cache `cache`; returns it and how
    /// `plugin` was prepared.
    async fn start(f: &Folder, cache: &Path, plugin: &str) -> (Host, CompileSource) {
        let mut cfg = f.config();
        cfg.cache_dir = Some(cache.to_path_buf());
        let host = Host::builder().config(cfg).build().await.unwrap();
        assert_loaded(&host, plugin);
        let e = host.registry().tools("default").into_iter().find(|e| e.plugin.name == plugin).unwrap();
        let source = e.plugin.source;
        (host, source)
    }

    /// The cache entry of the plugin with sha256 `digest`.
    fn entry(cache: &Path, digest: &str) -> PathBuf {
        std::fs::read_dir(cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(digest) && n.ends_with(".cwasm")
            })
            .unwrap_or_else(|| panic!("no cache entry for {digest}"))
    }

    fn digest(host: &Host, plugin: &str) -> String {
        host.catalog().plugins().iter().find(|p| p.name == plugin).unwrap().digest.clone().unwrap()
    }

    /// Another plugin's genuine artifact (and its tag, when there is one)
    /// copied over `h`'s entry: a valid artifact for this engine, so an
    /// unauthenticated cache would load it and serve `evil` as plugin `h`.
    #[tokio::test]
    async fn a_swapped_cache_entry_is_recompiled_not_loaded() {
        let cache = tempfile::tempdir().unwrap();
        let f = Folder::new();
        f.wasm("h", &hostile());
        let (host, first) = start(&f, cache.path(), "h").await;
        assert_eq!(first, CompileSource::Compiled);
        let h_digest = digest(&host, "h");
        let (_, again) = start(&f, cache.path(), "h").await;
        assert_eq!(again, CompileSource::Cache, "a warm start uses the cache");

        let g = Folder::new();
        g.wasm("e", &fixtures::describe_tools(&["evil"]));
        let (other, _) = start(&g, cache.path(), "e").await;
        let (from, to) = (entry(cache.path(), &digest(&other, "e")), entry(cache.path(), &h_digest));
        std::fs::copy(&from, &to).unwrap();
        let tag = |p: &Path| PathBuf::from(format!("{}.tag", p.display()));
        if tag(&from).exists() {
            std::fs::copy(tag(&from), tag(&to)).unwrap();
        }

        let (host, source) = start(&f, cache.path(), "h").await;
        let tools: Vec<String> = host.tools(None).iter().map(|t| t.tool.name.clone()).collect();
        assert!(!tools.contains(&"evil".to_string()), "the planted artifact was executed: {tools:?}");
        assert_eq!(source, CompileSource::Compiled, "the bad entry is discarded and h recompiled");
        bystander_ok(&host).await;
        // The recompiled entry is authentic again.
        assert_eq!(start(&f, cache.path(), "h").await.1, CompileSource::Cache);
    }

    /// A flipped byte in an entry: refused before mapping, recompiled.
    #[tokio::test]
    async fn an_altered_cache_entry_is_recompiled() {
        let cache = tempfile::tempdir().unwrap();
        let f = Folder::new();
        f.wasm("h", &hostile());
        let (host, _) = start(&f, cache.path(), "h").await;
        let path = entry(cache.path(), &digest(&host, "h"));
        let mut bytes = std::fs::read(&path).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(start(&f, cache.path(), "h").await.1, CompileSource::Compiled);
    }

    /// A cache folder others can write is not used (and not silently
    /// "repaired": files may already have been planted); plugins still load.
    #[tokio::test]
    async fn a_world_writable_cache_folder_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let f = Folder::new();
        f.wasm("h", &hostile());
        assert_eq!(start(&f, cache.path(), "h").await.1, CompileSource::Compiled);
        std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let (host, source) = start(&f, cache.path(), "h").await;
        assert_eq!(source, CompileSource::Compiled, "a world-writable cache is not read");
        bystander_ok(&host).await;
        let mode = std::fs::metadata(cache.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o777, "left as found, for the operator to inspect");
    }

    /// A cache folder owned by another user is not used (needs root to set up).
    #[tokio::test]
    async fn a_cache_folder_owned_by_another_user_is_refused() {
        use std::os::unix::fs::MetadataExt;
        let cache = tempfile::tempdir().unwrap();
        let f = Folder::new();
        f.wasm("h", &hostile());
        assert_eq!(start(&f, cache.path(), "h").await.1, CompileSource::Compiled);
        if let Err(e) = std::os::unix::fs::chown(cache.path(), Some(65534), None) {
            return eprintln!("skipped: cannot chown as uid {} ({e})", std::fs::metadata(".").unwrap().uid());
        }
        let (host, source) = start(&f, cache.path(), "h").await;
        assert_eq!(source, CompileSource::Compiled, "another user's folder is not read");
        bystander_ok(&host).await;
    }

    /// An entry file writable by others is not loaded.
    #[tokio::test]
    async fn a_cache_entry_writable_by_others_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let f = Folder::new();
        f.wasm("h", &hostile());
        let (host, _) = start(&f, cache.path(), "h").await;
        let path = entry(cache.path(), &digest(&host, "h"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(start(&f, cache.path(), "h").await.1, CompileSource::Compiled);
    }
}

// ---------------------------------------------------------------------------
// Item 15: egress is checked on the resolved address, plain http is opt-in
// ---------------------------------------------------------------------------

mod egress {
    use super::*;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use toolhost::CallRequest;

    /// An HTTP/1.1 server on 127.0.0.1 answering `hello` to anything; counts connections.
    async fn upstream() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
                        .await;
                });
            }
        });
        (port, hits)
    }

    /// Answers every name with `ip`; counts lookups.
    #[derive(Debug)]
    struct Fixed {
        ip: IpAddr,
        lookups: AtomicUsize,
    }

    impl toolhost::runtime::Resolver for Fixed {
        fn resolve(
            &self,
            _host: &str,
            port: u16,
        ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            let addr = SocketAddr::new(self.ip, port);
            Box::pin(async move { Ok(vec![addr]) })
        }
    }

    async fn fetch_host(manifest: &str, resolver: Option<Arc<Fixed>>) -> (Host, Folder) {
        let f = Folder::new();
        f.wasm("fetch", &std::fs::read(example_plugins().join("fetch.wasm")).unwrap());
        f.manifest("fetch", manifest);
        let mut b = Host::builder().config(f.config());
        if let Some(r) = resolver {
            b = b.resolver(r);
        }
        let host = b.build().await.unwrap();
        assert_loaded(&host, "fetch");
        (host, f)
    }

    async fn fetch(host: &Host, url: &str) -> toolhost::Result<Value> {
        let r = host.call(CallRequest::json("web.fetch", &json!({ "url": url }))).await?;
        Ok(r.output.value.clone().unwrap_or(Value::Null))
    }

    fn denied(e: &toolhost::Error) -> bool {
        matches!(e, toolhost::Error::Tool { kind: toolhost::ToolErrorKind::Denied, .. })
    }

    fn loopback() -> Arc<Fixed> {
        Arc::new(Fixed { ip: "127.0.0.1".parse().unwrap(), lookups: AtomicUsize::new(0) })
    }

    /// A granted wildcard name that resolves to 127.0.0.1 is refused before
    /// any connection, though the name matches the grant.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_granted_name_resolving_to_loopback_is_denied() {
        let (port, hits) = upstream().await;
        let dns = loopback();
        let grant =
            "[limits]\ntimeout_ms = 5000\n[grants.http]\nhosts = [\"*.example.test\"]\nallow_http = true\n";
        let (host, _f) = fetch_host(grant, Some(dns.clone())).await;
        let e = fetch(&host, &format!("http://svc.example.test:{port}/")).await.unwrap_err();
        assert!(denied(&e), "{e}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the loopback server");
        assert_eq!(dns.lookups.load(Ordering::SeqCst), 1, "the name was resolved, then refused");
    }

    /// The same name is reachable when the grant also names the IP literally;
    /// the connection goes to the address resolved once (no second lookup).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_literal_ip_in_the_grant_admits_it_and_is_resolved_once() {
        let (port, hits) = upstream().await;
        let dns = loopback();
        let grant = "[limits]\ntimeout_ms = 5000\n[grants.http]\nhosts = [\"*.example.test\", \"127.0.0.1\"]\nallow_http = true\n";
        let (host, _f) = fetch_host(grant, Some(dns.clone())).await;
        let v = fetch(&host, &format!("http://svc.example.test:{port}/")).await.unwrap();
        assert_eq!((v["status"].as_u64(), v["body"].as_str()), (Some(200), Some("hello")), "{v}");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert_eq!(dns.lookups.load(Ordering::SeqCst), 1, "one resolution, and it was used to connect");
    }

    /// Plain http:// to a granted name needs `allow_http = true`: denied
    /// before resolution or connection without it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_http_needs_allow_http() {
        let (port, hits) = upstream().await;
        let dns = loopback();
        let grant =
            "[limits]\ntimeout_ms = 5000\n[grants.http]\nhosts = [\"svc.example.test\", \"127.0.0.1\"]\n";
        let (host, _f) = fetch_host(grant, Some(dns.clone())).await;
        let e = fetch(&host, &format!("http://svc.example.test:{port}/")).await.unwrap_err();
        assert!(denied(&e), "{e}");
        assert_eq!((hits.load(Ordering::SeqCst), dns.lookups.load(Ordering::SeqCst)), (0, 0));
        // A loopback host written literally may still use plain http (local tests).
        let v = fetch(&host, &format!("http://127.0.0.1:{port}/")).await.unwrap();
        assert_eq!(v["status"], 200, "{v}");
        // allow_http = true takes effect.
        let (host, _g) = fetch_host(&format!("{grant}allow_http = true\n"), Some(dns.clone())).await;
        let v = fetch(&host, &format!("http://svc.example.test:{port}/")).await.unwrap();
        assert_eq!(v["status"], 200, "{v}");
    }

    /// https:// runs TLS over the vetted connection: a server that answers
    /// in plain text fails the handshake cleanly (an error, no panic, and the
    /// request never goes out in clear).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn https_runs_tls_over_the_vetted_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await;
            let mut first = [0u8; 1];
            let _ = sock.read_exact(&mut first).await;
            first[0]
        });
        let grant = "[limits]\ntimeout_ms = 5000\n[grants.http]\nhosts = [\"127.0.0.1\"]\n";
        let (host, _f) = fetch_host(grant, None).await;
        let e = fetch(&host, &format!("https://127.0.0.1:{port}/")).await.unwrap_err();
        assert!(!denied(&e) && e.to_string().to_lowercase().contains("fail"), "{e}");
        assert_eq!(server.await.unwrap(), 0x16, "the client spoke TLS (a handshake record)");
    }

    /// The README's `[grants.http]` table lists every key with the code's default.
    #[test]
    fn the_readme_grants_http_table_matches_the_code() {
        let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
        let code = serde_json::to_value(toolhost::runtime::HttpGrant::default()).unwrap();
        let mut documented = std::collections::BTreeMap::new();
        for line in text.lines().filter(|l| l.starts_with("| `grants.http.")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let key = cells[1].trim_matches('`').trim_start_matches("grants.http.").to_string();
            let value: Value = serde_json::from_str(cells[2].trim_matches('`')).unwrap();
            documented.insert(key, value);
        }
        let code: std::collections::BTreeMap<String, Value> =
            code.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(documented, code);
    }

    /// With the system resolver: this machine's own name (from /etc/hosts,
    /// no DNS) resolves to a loopback or private address; granted by name, it
    /// must still be refused. Skipped where the name resolves to a public address.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_machine_name_granted_by_name_is_denied_with_the_system_resolver() {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_ascii_lowercase();
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((name.as_str(), 80)).await {
            Ok(a) => a.collect(),
            Err(e) => return eprintln!("skipped: {name} does not resolve here ({e})"),
        };
        if !addrs.iter().all(|a| a.ip().is_loopback() || matches!(a.ip(), IpAddr::V4(v) if v.is_private())) {
            return eprintln!("skipped: {name} resolves to {addrs:?}");
        }
        let (port, hits) = upstream().await;
        let grant =
            format!("[limits]\ntimeout_ms = 5000\n[grants.http]\nhosts = [\"{name}\"]\nallow_http = true\n");
        let (host, _f) = fetch_host(&grant, None).await;
        let e = fetch(&host, &format!("http://{name}:{port}/")).await.unwrap_err();
        assert!(denied(&e), "{name} -> {addrs:?}: {e}");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }
}
