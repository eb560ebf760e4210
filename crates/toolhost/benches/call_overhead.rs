//! `cargo bench --bench call_overhead`: toolhost's call paths vs a bare
//! wasmtime call on the same engine and component, as ratios measured in one
//! run; the executor with every policy on vs the bare foundation call; cache
//! hits vs fresh instances; the Redis cache hit and Redis rate-limit check vs
//! their in-memory counterparts (when `redis-server` is installed); a
//! 10,000-call batch; cold compile vs warm compile-cache load for every
//! example plugin.
//!
//! Needs the guests built first (`scripts/build-plugins.sh`).
//!
//! Both sides do the same work per call: a fresh `Store` with a
//! deny-by-default WASI context, epoch deadline and fuel, `InstancePre`
//! instantiation, one `call("ok", "{}")`, drop. toolhost adds what it adds on
//! the real path: tool lookup, argument parsing and schema validation, the
//! limiter, stdio capture, output conversion and JSON parsing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use toolhost::{BatchOptions, CallRequest, ExecutionContext, Host, ToolCall};

#[path = "common/bare.rs"]
mod bare;

mod interp;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").to_path_buf()
}

/// `n` sequential calls of `f`, each polled inside [`Measured::poll`], the
/// one frame every path shares: `valgrind --tool=callgrind
/// --toggle-collect='*Measured*poll*'` counts exactly the calls, whatever
/// the compiler inlined (the bare path inlines into its caller).
async fn profile<F, Fut>(n: usize, f: &F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..n {
        Measured(Box::pin(f())).await;
    }
}

/// A call's future, polled through a frame that is never inlined.
struct Measured<Fut>(std::pin::Pin<Box<Fut>>);

impl<Fut: std::future::Future<Output = ()>> std::future::Future for Measured<Fut> {
    type Output = ();

    #[inline(never)]
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// Median of per-round mean latencies, in µs.
async fn measure<F, Fut>(rounds: usize, per_round: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..per_round {
        f().await;
    }
    let mut means = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_round {
            f().await;
        }
        means.push(t.elapsed().as_secs_f64() * 1e6 / per_round as f64);
    }
    means.sort_by(|a, b| a.partial_cmp(b).unwrap());
    means[means.len() / 2]
}

fn main() {
    bare::cli_logging();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    // `… -- interp…`: the interpreter guests only (see benches/interp/mod.rs).
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.iter().position(|a| a.starts_with("interp")) {
        Some(i) if argv[i] == "interp-profile" => return interp::profile(&argv[i + 1..]).await,
        Some(i) if argv[i] == "interp-rss" => return interp::rss(&argv[i + 1..]).await,
        Some(_) => return interp::figures().await,
        None => {}
    }
    let fixture = repo().join("build/fixtures/hostile.wasm");
    let bytes = std::fs::read(&fixture)
        .unwrap_or_else(|_| panic!("{} missing: run scripts/build-plugins.sh", fixture.display()));
    let cache = tempfile::tempdir().unwrap();
    // `… -- observe-count MODE N`: N calls in one mode (off | on | traced), for
    // instruction counts under `valgrind --tool=callgrind` (scripts/observe-cost.sh),
    // which are exact where wall time on a shared 2-core machine is not.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "observe-count") {
        let mode = args.get(i + 1).map(String::as_str).unwrap_or("on");
        let n: u64 = args.get(i + 2).and_then(|v| v.parse().ok()).unwrap_or(100);
        let persistent = std::env::temp_dir().join("toolhost-bench-cache");
        let (host, _empty) = policy_host(EVERY_POLICY, &bytes, &persistent).await;
        toolhost::observe::set_enabled(mode != "off");
        let _g = (mode == "traced").then(|| {
            use tracing_subscriber::Layer;
            use tracing_subscriber::layer::SubscriberExt;
            let json = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::sink)
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
            tracing::dispatcher::set_default(&tracing::Dispatch::new(
                tracing_subscriber::registry().with(json),
            ))
        });
        for i in 0..n {
            host.call(CallRequest::new("ok", format!(r#"{{"n":{i}}}"#))).await.unwrap();
        }
        return;
    }
    // `cargo bench --bench call_overhead -- observe`: only the observability figures.
    if std::env::args().skip(1).any(|a| a == "observe") {
        let (host, _empty) = policy_host(EVERY_POLICY, &bytes, cache.path()).await;
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let miss = || {
            let (host, n) = (host.clone(), n.clone());
            async move {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                host.call(CallRequest::new("ok", format!(r#"{{"n":{i}}}"#))).await.unwrap();
            }
        };
        let invoke = || {
            let host = host.clone();
            async move {
                host.invoke(CallRequest::new("ok", "{}")).await.unwrap();
            }
        };
        observability(&miss, &invoke).await;
        return;
    }
    // `cargo bench --bench call_overhead -- redis`: only the Redis figures.
    if std::env::args().skip(1).any(|a| a == "redis") {
        let empty = tempfile::tempdir().unwrap();
        redis_vs_memory(&bytes, cache.path(), empty.path()).await;
        return;
    }
    let host = Host::builder()
        .cache_dir(Some(cache.path().to_path_buf()))
        .plugin_bytes("h", bytes.clone())
        .build()
        .await
        .unwrap();

    // Bare wasmtime on the very same engine (same config, pooling, epochs, fuel).
    let engine = host.runtime().engine().clone();
    let component = wasmtime::component::Component::from_binary(&engine, &bytes).unwrap();
    let caller = bare::BareCaller::new(&engine, &component, host.config().runtime.fuel);

    let bare = || {
        let caller = caller.clone();
        async move {
            assert!(caller.call("ok", "{}".to_string()).await);
        }
    };
    let invoke = || {
        let host = host.clone();
        async move {
            host.invoke(CallRequest::new("ok", "{}")).await.unwrap();
        }
    };
    let call_defaults = || {
        let host = host.clone();
        async move {
            host.call(CallRequest::new("ok", "{}")).await.unwrap();
        }
    };

    // Every executor policy on: cache (miss path: unique arguments), retries,
    // rate limits, bulkheads, breaker.
    let (policied, empty) = policy_host(EVERY_POLICY, &bytes, cache.path()).await;
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let pipeline_miss = || {
        let (host, counter) = (policied.clone(), counter.clone());
        async move {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let r = host.call(CallRequest::new("ok", format!(r#"{{"n":{n}}}"#))).await.unwrap();
            assert!(!r.cached);
        }
    };
    let pipeline_hit = || {
        let host = policied.clone();
        async move {
            let r = host.call(CallRequest::new("ok", r#"{"same":true}"#)).await.unwrap();
            assert!(r.cached || r.attempts == 1);
        }
    };

    // `… -- profile bare|invoke|call|hit N`: N calls on one path, for
    // per-call instruction counts under `valgrind --tool=callgrind
    // --toggle-collect='*Host::call*'` (or the bare closure).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "profile") {
        let n: usize = args.get(i + 2).and_then(|v| v.parse().ok()).unwrap_or(1000);
        let t = Instant::now();
        match args.get(i + 1).map(String::as_str) {
            Some("bare") => profile(n, &bare).await,
            Some("invoke") => profile(n, &invoke).await,
            Some("hit") => profile(n, &pipeline_hit).await,
            _ => profile(n, &call_defaults).await,
        }
        println!("{:.2} µs/call", t.elapsed().as_secs_f64() * 1e6 / n as f64);
        return;
    }
    let (rounds, per) = (21, 300);
    let mut results: Vec<(&str, Vec<f64>)> =
        ["bare", "invoke", "call", "miss", "hit"].iter().map(|n| (*n, vec![])).collect();
    // Interleave to share any drift in machine load.
    for _ in 0..3 {
        results[0].1.push(measure(rounds, per, bare).await);
        results[1].1.push(measure(rounds, per, invoke).await);
        results[2].1.push(measure(rounds, per, call_defaults).await);
        results[3].1.push(measure(rounds, per, pipeline_miss).await);
        results[4].1.push(measure(rounds, per * 10, pipeline_hit).await);
    }
    let med = |i: usize| {
        let mut v = results[i].1.clone();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[1]
    };
    let (b, inv, call, miss, hit) = (med(0), med(1), med(2), med(3), med(4));
    println!(
        "call path (fresh store + instantiate + call `ok`, Rust guest, {} engine), µs/call:",
        allocator(&host)
    );
    println!("  bare wasmtime (InstancePre + call)      {b:8.2}");
    println!(
        "  Host::invoke (foundation call path)     {inv:8.2}   ratio {:5.2}x vs bare   (target <= 1.25x)",
        inv / b
    );
    println!("  Host::call, default policies            {call:8.2}   ratio {:5.2}x vs bare", call / b);
    println!(
        "  Host::call, every policy on (cache miss){miss:8.2}   ratio {:5.2}x vs invoke (target <= 1.3x)",
        miss / inv
    );
    println!(
        "  Host::call, cache hit                   {hit:8.2}   {:5.1}x faster than a fresh-instance call (target >= 20x)",
        inv / hit
    );

    observability(&pipeline_miss, &invoke).await;

    // Which policy costs what: one host per policy, cache-miss arguments.
    let variants: [(&str, &str); 5] = [
        ("cache (miss)", "[cache]\nenabled = true\n[policy]\ncache = true\n"),
        (
            "rate limits",
            "[policy]\nrate_limit = { rate = 100000000, per_ms = 1000, burst = 1000000 }\n[rate_limits]\nglobal = { rate = 100000000, per_ms = 1000, burst = 1000000 }\nper_tenant = { rate = 100000000, per_ms = 1000, burst = 1000000 }\n",
        ),
        (
            "bulkheads",
            "[bulkheads]\nglobal = { max_concurrent = 1000 }\nper_tenant = { max_concurrent = 1000 }\ndefault_tool = { max_concurrent = 1000 }\n",
        ),
        (
            "breaker",
            "[policy]\nbreaker = { window = { type = \"count\", size = 100 }, minimum_calls = 50 }\n",
        ),
        ("retries", "[policy]\nretry = { max_attempts = 3 }\n"),
    ];
    println!("  per policy (each alone, µs/call, vs invoke):");
    for (name, toml) in variants {
        let (h, _empty) = policy_host(toml, &bytes, cache.path()).await;
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let f = || {
            let (h, n) = (h.clone(), n.clone());
            async move {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                h.call(CallRequest::new("ok", format!(r#"{{"n":{i}}}"#))).await.unwrap();
            }
        };
        let us = measure(11, 300, f).await;
        println!("    {name:<14} {us:8.2}   {:5.2}x", us / inv);
    }

    redis_vs_memory(&bytes, cache.path(), empty.path()).await;

    // 10,000 trivial calls in one batch on 2 worker threads.
    let rss_before = peak_rss_kib();
    let calls: Vec<ToolCall> = (0..10_000).map(|i| ToolCall::new("ok", format!(r#"{{"i":{i}}}"#))).collect();
    let t = Instant::now();
    let done = host.run_batch(&ExecutionContext::new(), calls, BatchOptions::default()).await;
    let took = t.elapsed();
    assert_eq!(done.iter().filter(|r| r.result.is_ok()).count(), 10_000);
    println!(
        "\nbatch of 10,000 `ok` calls (default policies, max_parallel 64): {:.0} ms, {:.0} calls/s; peak RSS {} MiB (before the batch {} MiB)",
        took.as_secs_f64() * 1e3,
        10_000.0 / took.as_secs_f64(),
        peak_rss_kib() / 1024,
        rss_before / 1024
    );

    println!("\ncompile vs warm cache (example plugins in build/plugins):");
    let dir = repo().join("build/plugins");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let cache = tempfile::tempdir().unwrap();
        let load = |c: &Path| {
            let (bytes, name, c) = (bytes.clone(), name.clone(), c.to_path_buf());
            async move {
                let t = Instant::now();
                let h = Host::builder().cache_dir(Some(c)).plugin_bytes(name, bytes).build().await.unwrap();
                let took = t.elapsed();
                assert_eq!(h.catalog().plugins()[0].state, toolhost::PluginState::Loaded);
                took
            }
        };
        let cold = load(cache.path()).await;
        let mut warm: Vec<Duration> = vec![];
        for _ in 0..5 {
            warm.push(load(cache.path()).await);
        }
        warm.sort();
        println!(
            "  {name:<12} {:>7} KB  cold {:>8.1} ms   warm {:>6.2} ms   ({:.0}x)",
            bytes.len() / 1024,
            cold.as_secs_f64() * 1e3,
            warm[2].as_secs_f64() * 1e3,
            cold.as_secs_f64() / warm[2].as_secs_f64()
        );
    }
    fresh_vs_warm().await;
}

/// A throwaway `redis-server` on a free loopback port, killed on drop.
struct RedisProcess(std::process::Child, u16);

impl RedisProcess {
    fn start() -> Option<RedisProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let p = RedisProcess(child, port);
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(p);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Cache hit and rate-limit check through Redis (on loopback) vs in memory.
async fn redis_vs_memory(bytes: &[u8], cache: &Path, empty: &Path) {
    let Some(redis) = RedisProcess::start() else {
        println!("  redis-server not installed (apt-get install redis-server): Redis figures skipped");
        return;
    };
    let url = format!("redis://127.0.0.1:{}/0", redis.1);
    let host = |toml: &str, redis: bool| {
        let mut cfg = toolhost::Config::from_toml(toml).unwrap();
        cfg.plugins_dir = empty.to_path_buf();
        cfg.redis_url = redis.then(|| url.clone());
        Host::builder()
            .config(cfg)
            .plugin_bytes("h", bytes.to_vec())
            .cache_dir(Some(cache.to_path_buf()))
            .build()
    };
    let cache_toml = "[cache]\nenabled = true\n[policy]\ncache = true\n";
    let rl_toml = "[rate_limits]\nglobal = { rate = 100000000, per_ms = 1000, burst = 1000000 }\nper_tenant = { rate = 100000000, per_ms = 1000, burst = 1000000 }\n";
    let (mem_cache, redis_cache) =
        (host(cache_toml, false).await.unwrap(), host(cache_toml, true).await.unwrap());
    let (mem_rl, redis_rl) = (host(rl_toml, false).await.unwrap(), host(rl_toml, true).await.unwrap());
    let hit = |h: &Host| {
        let h = h.clone();
        move || {
            let h = h.clone();
            async move {
                let r = h.call(CallRequest::new("ok", r#"{"same":true}"#)).await.unwrap();
                assert!(r.cached || r.attempts == 1);
            }
        }
    };
    let limited = |h: &Host| {
        let h = h.clone();
        move || {
            let h = h.clone();
            async move {
                h.call(CallRequest::new("ok", "{}")).await.unwrap();
            }
        }
    };
    let (mut m, mut r, mut ml, mut rl) = (vec![], vec![], vec![], vec![]);
    for _ in 0..3 {
        m.push(measure(21, 300, hit(&mem_cache)).await);
        r.push(measure(21, 300, hit(&redis_cache)).await);
        ml.push(measure(11, 300, limited(&mem_rl)).await);
        rl.push(measure(11, 300, limited(&redis_rl)).await);
    }
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[1]
    };
    let (m, r, ml, rl) = (mid(&mut m), mid(&mut r), mid(&mut ml), mid(&mut rl));
    assert_eq!(redis_cache.backend_health(), toolhost::backend::Health::Ok);
    println!("  shared state in Redis (loopback, same machine), µs/call:");
    println!("    cache hit, in memory                {m:8.2}");
    println!("    cache hit, Redis (GET + JSON decode) {r:8.2}   +{:.2} µs", r - m);
    println!("    rate limits (global + tenant), local GCRA   {ml:8.2}   (a full call: fresh instance)");
    println!("    rate limits (global + tenant), Redis Lua    {rl:8.2}   +{:.2} µs", rl - ml);
}

/// One sample call per example plugin, for the fresh vs warm comparison.
const SAMPLES: [(&str, &str, &str, &str); 4] = [
    ("Rust", "text", "text.upper", r#"{"text":"hello"}"#),
    ("Python", "stats", "py.stats", r#"{"numbers":[1,2,3,4]}"#),
    ("JavaScript", "textkit", "js.csv_parse", r#"{"csv":"a,b\n1,2"}"#),
    ("C", "checksum", "c.checksum", r#"{"text":"hello"}"#),
];

/// Per-call latency of each language's example tool with a fresh instance per
/// call vs a warm instance (`[instances] mode = "fresh"` vs `"warm"` written
/// over the example manifest), through `Host::invoke`; then the interpreter
/// guests against a bare wasmtime call, and their batches' RSS.
async fn fresh_vs_warm() {
    println!(
        "
fresh vs warm instance per call (µs, Host::invoke, example plugins):"
    );
    let dir = repo().join("build/plugins");
    let cache = tempfile::tempdir().unwrap();
    for (lang, plugin, tool, args) in SAMPLES {
        let wasm = dir.join(format!("{plugin}.wasm"));
        let Ok(bytes) = std::fs::read(&wasm) else {
            println!("  {lang:<11} {plugin}.wasm not built; skipped");
            continue;
        };
        let manifest = std::fs::read_to_string(dir.join(format!("{plugin}.toml"))).unwrap_or_default();
        let mut us = [0.0f64; 2];
        for (i, warm) in [false, true].into_iter().enumerate() {
            let folder = tempfile::tempdir().unwrap();
            std::fs::write(folder.path().join(format!("{plugin}.wasm")), &bytes).unwrap();
            let mode = if warm { "warm" } else { "fresh" };
            std::fs::write(folder.path().join(format!("{plugin}.toml")), interp::with_mode(&manifest, mode))
                .unwrap();
            let host = Host::builder()
                .plugins_dir(folder.path())
                .cache_dir(Some(cache.path().to_path_buf()))
                .build()
                .await
                .unwrap();
            let per_round = if lang == "Python" || lang == "JavaScript" { 10 } else { 50 };
            us[i] = measure(15, per_round, || {
                let host = host.clone();
                async move {
                    host.invoke(CallRequest::new(tool, args)).await.expect("sample call succeeds");
                }
            })
            .await;
        }
        println!(
            "  {lang:<11} {tool:<14} {:>7} KB   fresh {:>9.1}   warm {:>8.1}   ({:.1}x)",
            bytes.len() / 1024,
            us[0],
            us[1],
            us[0] / us[1]
        );
    }
    interp::figures().await;
}

/// Peak resident set size of this process (VmHWM), KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn allocator(host: &Host) -> &'static str {
    match host.runtime().allocator() {
        toolhost::runtime::AllocatorKind::Pooling => "pooling",
        toolhost::runtime::AllocatorKind::OnDemand => "on-demand",
    }
}

/// A host over the hostile guest (from memory) with `toml` as its config.
async fn policy_host(toml: &str, bytes: &[u8], cache: &Path) -> (Host, tempfile::TempDir) {
    let empty = tempfile::tempdir().unwrap();
    let mut cfg = toolhost::Config::from_toml(toml).unwrap();
    cfg.plugins_dir = empty.path().to_path_buf();
    // `TOOLHOST_BENCH_AUDIT=FILE`: with the audit trail on (what a record costs a call).
    cfg.audit.path = std::env::var_os("TOOLHOST_BENCH_AUDIT").map(Into::into);
    let host = Host::builder()
        .config(cfg)
        .plugin_bytes("h", bytes.to_vec())
        .cache_dir(Some(cache.to_path_buf()))
        .build()
        .await
        .unwrap();
    (host, empty)
}

/// Every executor policy on (cache miss path with unique arguments).
const EVERY_POLICY: &str = r#"
[cache]
enabled = true
[policy]
cache = true
retry = { max_attempts = 3 }
breaker = { window = { type = "count", size = 100 }, minimum_calls = 50 }
rate_limit = { rate = 100000000, per_ms = 1000, burst = 1000000 }
[rate_limits]
global = { rate = 100000000, per_ms = 1000, burst = 1000000 }
per_tenant = { rate = 100000000, per_ms = 1000, burst = 1000000 }
[bulkheads]
global = { max_concurrent = 1000 }
per_tenant = { max_concurrent = 1000 }
default_tool = { max_concurrent = 1000 }
"#;

/// What observability costs on the call path, as ratios within one run
/// (interleaved): metrics + in-flight tracking off and no subscriber (the
/// floor), on with no subscriber (the default: spans are disabled callsites),
/// and on with a JSON log subscriber at `info` that records and formats every
/// span of the call.
async fn observability<F, Fut, G, Gut>(call: &F, invoke: &G)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
    G: Fn() -> Gut,
    Gut: std::future::Future<Output = ()>,
{
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::sink)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(json));
    let (rounds, per) = (21, 300);
    let mut v: [Vec<f64>; 4] = Default::default();
    for _ in 0..5 {
        v[0].push(measure(rounds, per, invoke).await);
        toolhost::observe::set_enabled(false);
        v[1].push(measure(rounds, per, call).await);
        toolhost::observe::set_enabled(true);
        v[2].push(measure(rounds, per, call).await);
        let _g = tracing::dispatcher::set_default(&dispatch);
        v[3].push(measure(rounds, per, call).await);
    }
    let [inv, off, on, traced] = v.map(|mut x| {
        x.sort_by(|a, b| a.partial_cmp(b).unwrap());
        x[x.len() / 2]
    });
    println!("  observability (every policy on, cache miss), µs/call, medians of 5 interleaved runs:");
    println!("    Host::invoke (no executor)                          {inv:8.2}");
    println!("    Host::call, metrics + tracking off, no subscriber   {off:8.2}   (the floor)");
    println!(
        "    Host::call, metrics + tracking on, no subscriber    {on:8.2}   ratio {:5.3}x vs the floor (default)",
        on / off
    );
    println!(
        "    Host::call, + JSON log subscriber at info, 7 spans  {traced:8.2}   ratio {:5.3}x vs the floor",
        traced / off
    );
}
