//! Interpreter guests (CPython `py.stats`, SpiderMonkey `js.csv_parse`) on
//! one engine: a bare wasmtime call (fresh `Store` + `InstancePre`
//! instantiate + call, on the host's own engine and the host's own compiled
//! artifact from its compile cache) vs `Host::invoke` with a fresh instance vs
//! `Host::invoke` with a warm one; and the peak RSS of a batch, each size in a
//! child process of its own.
//!
//! - `cargo bench --bench call_overhead -- interp`: the table only;
//! - `-- interp-profile py|js bare|fresh|warm N`: N calls of one kind (for
//!   `perf record` or `valgrind --tool=callgrind`);
//! - `-- interp-rss py|js fresh|warm N [PARALLEL]`: one N-call batch through
//!   `Host::run_batch` (default policies, max_parallel 64 unless PARALLEL), then peak RSS and
//!   the pool's resident bytes as one line of JSON.
//!
//! `INTERP_CONFIG='[runtime]…'` adds host configuration (TOML) to every host
//! here, to compare pool settings.

use super::bare::{Bare, PluginPre};
use super::{measure, peak_rss_kib, repo};
use std::path::{Path, PathBuf};
use std::time::Instant;
use toolhost::{BatchOptions, CallRequest, ExecutionContext, Host, ToolCall};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;

/// One interpreter example: its key, language, plugin file, tool and sample arguments.
pub(crate) struct Guest {
    key: &'static str,
    lang: &'static str,
    plugin: &'static str,
    tool: &'static str,
    args: &'static str,
    /// The arguments of call `i` of a batch (distinct calls, same work).
    batch_args: fn(usize) -> String,
}

pub(crate) const GUESTS: [Guest; 2] = [
    Guest {
        key: "py",
        lang: "Python",
        plugin: "stats",
        tool: "py.stats",
        args: r#"{"numbers":[1,2,3,4]}"#,
        batch_args: |i| format!(r#"{{"numbers":[1,2,3,{i}]}}"#),
    },
    Guest {
        key: "js",
        lang: "JavaScript",
        plugin: "textkit",
        tool: "js.csv_parse",
        args: r#"{"csv":"a,b\n1,2"}"#,
        batch_args: |i| format!(r#"{{"csv":"a,b\n1,{i}"}}"#),
    },
];

fn guest(key: &str) -> &'static Guest {
    GUESTS.iter().find(|g| g.key == key).unwrap_or_else(|| panic!("guest {key:?}: py or js"))
}

fn wasm(g: &Guest) -> Option<Vec<u8>> {
    std::fs::read(repo().join(format!("build/plugins/{}.wasm", g.plugin))).ok()
}

/// A host serving `g` from a copy of its build output whose manifest says
/// `[instances] mode = MODE` (every other manifest key kept); its compile
/// cache is `cache`.
async fn host(g: &Guest, bytes: &[u8], mode: &str, cache: &Path) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(repo().join(format!("build/plugins/{}.toml", g.plugin))).unwrap_or_default();
    std::fs::write(dir.path().join(format!("{}.toml", g.plugin)), with_mode(&text, mode)).unwrap();
    std::fs::write(dir.path().join(format!("{}.wasm", g.plugin)), bytes).unwrap();
    // INTERP_CONFIG: extra host configuration (TOML), e.g. `[runtime]` pool settings to compare.
    let mut cfg = toolhost::Config::from_toml(&std::env::var("INTERP_CONFIG").unwrap_or_default()).unwrap();
    cfg.plugins_dir = dir.path().to_path_buf();
    let host = Host::builder().config(cfg).cache_dir(Some(cache.to_path_buf())).build().await.unwrap();
    (host, dir)
}

/// `manifest` with `[instances] mode = MODE` (an explicit mode wins over
/// `stateless`) and no retirement by call count; every other key kept.
pub(crate) fn with_mode(manifest: &str, mode: &str) -> String {
    let mut manifest: toml::Table = toml::from_str(manifest).unwrap();
    let instances = manifest.entry("instances").or_insert_with(|| toml::Table::new().into());
    let instances = instances.as_table_mut().unwrap();
    instances.insert("mode".into(), mode.into());
    instances.insert("max_calls".into(), 1_000_000.into());
    toml::to_string(&manifest).unwrap()
}

/// A compile cache kept between runs (compiling CPython takes a while).
fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("toolhost-bench-cache")
}

/// The compile-cache entry of `bytes` in `cache` (written by a host that compiled it).
fn cached_artifact(cache: &Path, bytes: &[u8]) -> PathBuf {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(bytes));
    std::fs::read_dir(cache)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&digest) && name.ends_with(".cwasm")
        })
        .expect("the host stored its compiled plugin in the cache")
}

/// The bare side: the host's compiled artifact on the host's engine, with
/// a deny-all WASI context, epoch deadline and fuel like the host's.
struct BareGuest {
    engine: Engine,
    pre: PluginPre<Bare>,
    fuel: bool,
}

impl BareGuest {
    fn new(host: &Host, artifact: &Path) -> BareGuest {
        let engine = host.runtime().engine().clone();
        let mut linker = Linker::<Bare>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        super::bare::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        // SAFETY: written by the host on this engine a moment ago, in a private tempdir.
        let component = unsafe { Component::deserialize_file(&engine, artifact) }.unwrap();
        let pre = PluginPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        BareGuest { engine, pre, fuel: host.config().runtime.fuel }
    }

    async fn call(&self, tool: &str, args: &str) {
        let state = Bare { wasi: WasiCtx::builder().build(), table: ResourceTable::new() };
        let mut store = Store::new(&self.engine, state);
        store.set_epoch_deadline(2);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(2)));
        if self.fuel {
            store.set_fuel(u64::MAX).unwrap();
        }
        let p = self.pre.instantiate_async(&mut store).await.unwrap();
        let ctx = super::bare::exports::toolhost::plugin::tool::CallContext {
            call_id: "c".into(),
            request_id: None,
            tenant_id: None,
            user_id: None,
            traceparent: None,
            deadline_ms: Some(5_000),
            attempt: 1,
            metadata: vec![],
        };
        let r = p.toolhost_plugin_tool().call_call(&mut store, tool, &args.to_string(), &ctx).await.unwrap();
        assert!(r.is_ok(), "{tool} failed on the bare side");
    }
}

/// The three ways to run one call of `g`, on one engine per host.
struct Sides {
    fresh: Host,
    warm: Host,
    bare: BareGuest,
    _dirs: [tempfile::TempDir; 3],
}

impl Sides {
    async fn new(g: &Guest, bytes: &[u8]) -> Sides {
        let cache = cache_dir();
        // The first host compiles and fills the cache (unless an earlier run
        // did); the measured ones load from it, as a restarted host does, and
        // so does the bare side.
        let (first, d0) = host(g, bytes, "fresh", &cache).await;
        drop(first);
        let (fresh, d1) = host(g, bytes, "fresh", &cache).await;
        let (warm, d2) = host(g, bytes, "warm", &cache).await;
        let bare = BareGuest::new(&fresh, &cached_artifact(&cache, bytes));
        Sides { fresh, warm, bare, _dirs: [d0, d1, d2] }
    }

    async fn one(&self, g: &Guest, kind: &str) {
        match kind {
            "bare" => self.bare.call(g.tool, g.args).await,
            "fresh" | "warm" => {
                let host = if kind == "fresh" { &self.fresh } else { &self.warm };
                host.invoke(CallRequest::new(g.tool, g.args)).await.expect("sample call succeeds");
            }
            other => panic!("{other:?}: bare, fresh or warm"),
        }
    }
}

/// Bare vs fresh vs warm per interpreter guest (medians of interleaved
/// rounds), then the peak RSS of 200- and 2,000-call batches.
pub(crate) async fn figures() {
    println!(
        "\ninterpreter guests, µs/call (medians of 5 interleaved runs; bare = fresh Store + InstancePre + call on the host's engine and artifact):"
    );
    for g in &GUESTS {
        let Some(bytes) = wasm(g) else {
            println!("  {:<11} {}.wasm not built; skipped", g.lang, g.plugin);
            continue;
        };
        let sides = Sides::new(g, &bytes).await;
        let mut v: [Vec<f64>; 3] = Default::default();
        for _ in 0..5 {
            for (i, kind) in ["bare", "fresh", "warm"].into_iter().enumerate() {
                v[i].push(measure(9, 10, || sides.one(g, kind)).await);
            }
        }
        let [bare, fresh, warm] = v.map(|mut x| {
            x.sort_by(|a, b| a.partial_cmp(b).unwrap());
            x[x.len() / 2]
        });
        println!(
            "  {:<11} {:<13} bare {bare:8.1}   fresh {fresh:8.1} ({:4.2}x bare, target <= 1.5x)   warm {warm:7.1} ({:4.2}x bare)",
            g.lang,
            g.tool,
            fresh / bare,
            warm / bare
        );
    }
    for g in &GUESTS {
        if wasm(g).is_none() {
            continue;
        }
        for mode in ["fresh", "warm"] {
            let runs: Vec<String> = [200, 2000].iter().map(|n| rss_child(g, mode, *n)).collect();
            println!("  {:<11} batch peak RSS, {mode:<5}: {}", g.lang, runs.join("; "));
        }
    }
}

/// Runs `interp-rss` in a child process of this very binary; its line, summarised.
fn rss_child(g: &Guest, mode: &str, calls: usize) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["interp-rss", g.key, mode, &calls.to_string()])
        .output()
        .expect("runs itself");
    let line = String::from_utf8_lossy(&out.stdout);
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line.trim()) else {
        return format!("{calls} calls: failed ({})", String::from_utf8_lossy(&out.stderr).trim());
    };
    let b = &v["batch"];
    format!(
        "{calls} calls: peak {} MiB ({} MiB loaded, {} memories live at most, {:.2} ms/call)",
        b["peak_mib"],
        b["before_mib"],
        b["peak_live_memories"],
        b["ms_per_call"].as_f64().unwrap_or(0.0)
    )
}

/// `interp-profile KEY KIND N`: N calls of one kind, then µs/call.
pub(crate) async fn profile(args: &[String]) {
    let g = guest(args.first().map(String::as_str).unwrap_or("py"));
    let kind = args.get(1).map(String::as_str).unwrap_or("fresh");
    let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(200);
    let sides = Sides::new(g, &wasm(g).expect("guest built")).await;
    for _ in 0..10 {
        sides.one(g, kind).await;
    }
    let t = Instant::now();
    for _ in 0..n {
        sides.one(g, kind).await;
    }
    println!("{} {kind}: {:.1} µs/call", g.tool, t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let engine = if kind == "warm" { sides.warm.runtime().engine() } else { sides.fresh.runtime().engine() };
    if let Some(m) = engine.pooling_allocator_metrics() {
        let (slots, kib) = (m.unused_warm_memories(), m.unused_memory_bytes_resident() >> 10);
        println!("  pool: {slots} unused warm memory slots keep {kib} KiB resident");
    }
}

/// `interp-rss KEY MODE N`: one N-call batch, then one line of JSON.
pub(crate) async fn rss(args: &[String]) {
    let g = guest(args.first().map(String::as_str).unwrap_or("py"));
    let mode = args.get(1).map(String::as_str).unwrap_or("fresh");
    let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(200);
    let parallel: Option<usize> = args.get(3).and_then(|v| v.parse().ok());
    let bytes = wasm(g).expect("guest built");
    let (host, _dir) = host(g, &bytes, mode, &cache_dir()).await;
    // INTERP_REPEAT=R: R batches in a row in this process (does anything pile up?).
    let repeat: usize = std::env::var("INTERP_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    for _ in 0..repeat {
        let line = batch(&host, g, n, parallel).await;
        println!("{}", serde_json::json!({"tool": g.tool, "mode": mode, "calls": n, "batch": line}));
    }
    if std::env::var_os("INTERP_SMAPS").is_some() {
        print_smaps();
    }
}

/// One batch of `n` calls of `g`: what it cost and the memory it took.
async fn batch(host: &Host, g: &Guest, n: usize, parallel: Option<usize>) -> serde_json::Value {
    let before = peak_rss_kib();
    let calls: Vec<ToolCall> = (0..n).map(|i| ToolCall::new(g.tool, (g.batch_args)(i))).collect();
    let sampler = Sampler::start(host.runtime().engine().clone());
    let t = Instant::now();
    let mut ctx = ExecutionContext::new();
    ctx.max_parallel = parallel;
    let done = host.run_batch(&ctx, calls, BatchOptions::default()).await;
    let took = t.elapsed();
    let peaks = sampler.stop();
    let m = host.runtime().engine().pooling_allocator_metrics();
    serde_json::json!({
        "ok": done.iter().filter(|r| r.result.is_ok()).count(),
        "before_mib": before / 1024, "peak_mib": peak_rss_kib() / 1024, "rss_mib": rss_kib() / 1024,
        "ms_per_call": took.as_secs_f64() * 1e3 / n as f64,
        "pool_unused_warm_memories": m.as_ref().map(|m| m.unused_warm_memories()),
        "pool_unused_memory_resident_mib": m.as_ref().map(|m| m.unused_memory_bytes_resident() >> 20),
        "peak_anon_mib": peaks[0] / 1024, "peak_file_mib": peaks[1] / 1024,
        "peak_live_memories": peaks[3],
    })
}

/// The mappings holding the most resident memory (INTERP_SMAPS=1), on stderr.
fn print_smaps() {
    let text = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut maps: Vec<(u64, u64, String)> = vec![];
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let (a, b) = first.split_once('-').unwrap();
            let size = u64::from_str_radix(b, 16).unwrap_or(0) - u64::from_str_radix(a, 16).unwrap_or(0);
            maps.push((
                0,
                0,
                format!(
                    "{} MiB {}",
                    size >> 20,
                    line.split_whitespace().skip(5).collect::<Vec<_>>().join(" ")
                ),
            ));
        } else if first == "Rss:" {
            maps.last_mut().unwrap().0 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        } else if first == "Anonymous:" {
            maps.last_mut().unwrap().1 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    maps.sort_by(|a, b| b.0.cmp(&a.0));
    for (rss, anon, name) in maps.iter().take(12) {
        eprintln!("  rss {:>7} KiB  anon {:>7} KiB  {name}", rss, anon);
    }
}

/// Samples, every millisecond on a thread of its own, the largest RssAnon,
/// RssFile and RssShmem (KiB) of this process and the most linear memories
/// live in the pool at once.
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<[u64; 4]>,
}

impl Sampler {
    fn start(engine: Engine) -> Sampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = [0u64; 4];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
                for (i, key) in ["RssAnon:", "RssFile:", "RssShmem:"].iter().enumerate() {
                    let v = status.lines().find(|l| l.starts_with(key));
                    let v = v.and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0);
                    peaks[i] = peaks[i].max(v);
                }
                let live = engine.pooling_allocator_metrics().map_or(0, |m| m.memories() as u64);
                peaks[3] = peaks[3].max(live);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            peaks
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> [u64; 4] {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Current resident set size of this process (VmRSS), KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}
