//! `cargo bench --bench side_by_side`: the in-process half of
//! `scripts/bench.sh`. Prints one JSON object on stdout (progress on stderr)
//! with every figure measured in this run:
//!
//! - `paths`: per-call latencies (p50/p99) and throughput of a bare wasmtime
//!   call (fresh store + `InstancePre` instantiate + call, on the host's own
//!   engine), `Host::invoke`, `Host::call` with default policies and a
//!   `Host::call` cache hit, on 1 and 2 OS threads, rounds interleaved so
//!   machine drift hits every path alike, and the machine's two-core ceiling
//!   (`cpu_1t`/`cpu_2t`: SHA-256 of 32 KiB, no wasmtime, nothing shared);
//! - `batch`: `Host::run_batch` of 5,000 fresh-instance calls vs the bare call
//!   on 2 OS threads (interleaved rounds);
//! - `languages`: fresh vs warm instances of each example plugin through
//!   `Host::call`, and a bare instantiate+call of the same component.
//!
//! The guest is `build/fixtures/hostile.wasm`, tool `ok` (echoes its
//! arguments); the examples are in `build/plugins` (`scripts/build-plugins.sh`).
//! `-- --quick` runs a tenth of the calls (a smoke run, noisy figures);
//! `-- --no-languages` leaves the languages out (`scripts/bench.sh` reruns
//! `paths` and `batch` in several processes: a process's address layout moves
//! its figures, see the README's bench section).

#[path = "common/bare.rs"]
mod bare;

use serde_json::{Value, json};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use toolhost::{BatchOptions, CallRequest, ExecutionContext, Host, ToolCall};

/// One call of a measured path; a fresh future per call.
type CallFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;
/// The arguments of the next call.
type ArgsFn = Arc<dyn Fn() -> String + Send + Sync>;

/// Scheduler accounting of threads (`/proc/<task>/schedstat`): time on a
/// CPU and time runnable but waiting for one. On a machine shared with other
/// load, the wait is what that load took; time in neither was spent blocked
/// (locks, I/O, sleeps).
#[derive(Default, Clone, Copy)]
struct Sched {
    on_cpu: Duration,
    waited: Duration,
}

impl Sched {
    fn read(path: &Path) -> Sched {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut f = text.split_whitespace().map(|v| Duration::from_nanos(v.parse().unwrap_or(0)));
        Sched { on_cpu: f.next().unwrap_or_default(), waited: f.next().unwrap_or_default() }
    }

    /// This thread so far.
    fn thread() -> Sched {
        Sched::read(Path::new("/proc/thread-self/schedstat"))
    }

    /// Every thread of this process so far.
    fn process() -> Sched {
        let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten().filter_map(|t| t.ok());
        tasks.map(|t| Sched::read(&t.path().join("schedstat"))).fold(Sched::default(), |a, b| a.plus(b))
    }

    fn plus(self, o: Sched) -> Sched {
        Sched { on_cpu: self.on_cpu + o.on_cpu, waited: self.waited + o.waited }
    }

    fn since(self, earlier: Sched) -> Sched {
        Sched {
            on_cpu: self.on_cpu.saturating_sub(earlier.on_cpu),
            waited: self.waited.saturating_sub(earlier.waited),
        }
    }
}

/// Per-call latencies and per-round wall times of one path.
#[derive(Default)]
struct Sample {
    lat: Vec<Duration>,
    /// (calls, wall time) of each round.
    rounds: Vec<(usize, Duration)>,
    /// The measuring threads' scheduler accounting and wall time, summed.
    sched: Sched,
    thread_wall: Duration,
}

impl Sample {
    fn add(&mut self, other: Sample) {
        self.lat.extend(other.lat);
        self.rounds.extend(other.rounds);
        self.sched = self.sched.plus(other.sched);
        self.thread_wall += other.thread_wall;
    }

    /// Shares of the measuring threads' wall time on a CPU and waiting for one.
    fn shares(&self) -> (f64, f64) {
        let wall = self.thread_wall.as_secs_f64().max(1e-9);
        (self.sched.on_cpu.as_secs_f64() / wall, self.sched.waited.as_secs_f64() / wall)
    }

    /// The `q` quantile of the per-call latencies, µs (nearest rank).
    fn quantile_us(&self, q: f64) -> f64 {
        let mut v = self.lat.clone();
        v.sort();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1e6
    }

    /// Throughput: the median of the rounds' calls / wall time (a round that
    /// other load on a shared machine hit does not drag the figure).
    fn calls_per_s(&self) -> f64 {
        let mut v: Vec<f64> = self.rounds.iter().map(|(n, w)| *n as f64 / w.as_secs_f64()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    fn json(&self) -> Value {
        let (on_cpu, waited) = self.shares();
        json!({
            "calls": self.lat.len(),
            "rounds": self.rounds.len(),
            "calls_per_s": self.calls_per_s(),
            "p50_us": self.quantile_us(0.50),
            "p99_us": self.quantile_us(0.99),
            "on_cpu_share": on_cpu,
            "cpu_wait_share": waited,
        })
    }
}

/// A measured path: what it is called in the output, on how many OS threads.
struct Lane {
    name: &'static str,
    threads: usize,
    /// Calls per round, in rounds' base counts: fast paths run more so a
    /// round lasts long enough to time (and to read the CPU time of).
    weight: usize,
    call: CallFn,
}

/// What one measuring thread saw.
struct ThreadRun {
    start: Instant,
    end: Instant,
    lat: Vec<Duration>,
    sched: Sched,
}

/// `calls` calls on this thread, on its own current-thread tokio runtime,
/// once every thread of the round is ready.
fn one_thread(calls: usize, call: &CallFn, barrier: &std::sync::Barrier) -> ThreadRun {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut lat = Vec::with_capacity(calls);
    barrier.wait();
    let (start, sched) = (Instant::now(), Sched::thread());
    rt.block_on(async {
        for _ in 0..calls {
            let t = Instant::now();
            call().await;
            lat.push(t.elapsed());
        }
    });
    ThreadRun { start, end: Instant::now(), lat, sched: Sched::thread().since(sched) }
}

/// Runs `per_thread` calls on each of `threads` OS threads started together,
/// each with its own current-thread tokio runtime (no cross-thread wake-ups
/// on either side), named `name` (so `perf report --sort comm` splits a
/// profile by path). Wall time: first start to last end.
fn on_threads(name: &str, threads: usize, per_thread: usize, call: &CallFn) -> Sample {
    let barrier = std::sync::Barrier::new(threads);
    let runs: Vec<ThreadRun> = std::thread::scope(|s| {
        let spawn = |_| {
            let b = std::thread::Builder::new().name(name.to_string());
            b.spawn_scoped(s, || one_thread(per_thread, call, &barrier)).expect("spawn a measuring thread")
        };
        let handles: Vec<_> = (0..threads).map(spawn).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = runs.iter().map(|r| r.start).min().unwrap();
    let end = runs.iter().map(|r| r.end).max().unwrap();
    let sched = runs.iter().fold(Sched::default(), |a, r| a.plus(r.sched));
    let thread_wall = runs.iter().map(|r| r.end - r.start).sum();
    let lat: Vec<Duration> = runs.into_iter().flat_map(|r| r.lat).collect();
    Sample { rounds: vec![(lat.len(), end - start)], lat, sched, thread_wall }
}

/// Warms every lane up, then runs `rounds` rounds of `per_round` calls per
/// lane, lanes interleaved within each round, each round starting one lane
/// later (no lane always follows the same one: what a lane leaves behind in
/// the instance pool and the allocator is shared out evenly).
fn measure_lanes(lanes: &[Lane], rounds: usize, per_round: usize) -> Vec<Sample> {
    for lane in lanes {
        on_threads(
            lane.name,
            lane.threads,
            (lane.weight * per_round / 5).max(lane.threads) / lane.threads,
            &lane.call,
        );
    }
    let mut acc: Vec<Sample> = lanes.iter().map(|_| Sample::default()).collect();
    eprint!("  rounds of {per_round} calls per path (more on fast paths):");
    for round in 0..rounds {
        eprint!(" {}", round + 1);
        for i in (0..lanes.len()).map(|k| (k + round) % lanes.len()) {
            let lane = &lanes[i];
            acc[i].add(on_threads(
                lane.name,
                lane.threads,
                lane.weight * per_round / lane.threads,
                &lane.call,
            ));
        }
    }
    eprintln!();
    acc
}

fn lanes_json(lanes: &[Lane], samples: &[Sample]) -> Value {
    let mut out = serde_json::Map::new();
    for (lane, s) in lanes.iter().zip(samples) {
        out.insert(lane.name.to_string(), s.json());
    }
    Value::Object(out)
}

/// Arguments from `template` with `{i}` replaced by a counter: every call
/// distinct, so no call is a cache hit.
fn unique(template: &'static str) -> ArgsFn {
    let n = Arc::new(AtomicU64::new(0));
    Arc::new(move || template.replace("{i}", &n.fetch_add(1, Ordering::Relaxed).to_string()))
}

/// The machine's own two-core ceiling: SHA-256 over 32 KiB (about as long as
/// a bare call here), no wasmtime and nothing shared between the threads. What
/// 2 threads of this get over 1 is the most any path can scale on this machine.
fn cpu_fn() -> CallFn {
    use sha2::Digest;
    Arc::new(|| {
        Box::pin(async {
            let block = [0x5au8; 32 * 1024];
            let digest = sha2::Sha256::digest(std::hint::black_box(&block[..]));
            std::hint::black_box(digest);
        })
    })
}

fn bare_fn(caller: &bare::BareCaller, tool: &'static str, args: ArgsFn) -> CallFn {
    let caller = caller.clone();
    Arc::new(move || {
        let (caller, args) = (caller.clone(), args());
        Box::pin(async move { assert!(caller.call(tool, args).await, "bare {tool} failed") })
    })
}

/// Which toolhost entry point a lane calls.
#[derive(Clone, Copy)]
enum How {
    /// `Host::invoke`: lookup, validation, the sandboxed call; no executor.
    Invoke,
    /// `Host::call`: every configured policy; must not be a cache hit.
    Call,
    /// `Host::call` answered from the result cache.
    CacheHit,
}

fn host_fn(host: &Host, how: How, tool: &'static str, args: ArgsFn) -> CallFn {
    let host = host.clone();
    Arc::new(move || {
        let (host, req) = (host.clone(), CallRequest::new(tool, args()));
        Box::pin(async move {
            match how {
                How::Invoke => {
                    host.invoke(req).await.expect("invoke succeeds");
                }
                How::Call => assert!(!host.call(req).await.expect("call succeeds").cached),
                How::CacheHit => assert!(host.call(req).await.expect("call succeeds").cached),
            }
        })
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").to_path_buf()
}

/// Compile caches kept across runs (`TOOLHOST_BENCH_CACHE`, default
/// `~/.cache/toolhost/bench`): the host's under `host/`, the bare side's under `bare/`.
fn cache_root() -> PathBuf {
    std::env::var_os("TOOLHOST_BENCH_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        home.join(".cache/toolhost/bench")
    })
}

/// A host over the hostile guest (plugin `h`, from memory) with `toml` as its config.
async fn fixture_host(toml: &str, bytes: &[u8], empty: &Path) -> Host {
    let mut cfg = toolhost::Config::from_toml(toml).unwrap();
    cfg.plugins_dir = empty.to_path_buf();
    Host::builder()
        .config(cfg)
        .plugin_bytes("h", bytes.to_vec())
        .cache_dir(Some(cache_root().join("host")))
        .watch(false)
        .build()
        .await
        .unwrap()
}

/// The result cache switched on for every tool, whatever the defaults are.
const CACHE_ON: &str = "[cache]\nenabled = true\n[policy]\ncache = true\n";

/// A host over the fixture with `toml` as its config, and a bare caller of
/// the same component on the host's engine.
fn fixture(rt: &tokio::runtime::Runtime, toml: &str, bytes: &[u8]) -> (Host, bare::BareCaller) {
    let empty = tempfile::tempdir().unwrap();
    let host = rt.block_on(fixture_host(toml, bytes, empty.path()));
    let engine = host.runtime().engine().clone();
    let component = wasmtime::component::Component::from_binary(&engine, bytes).unwrap();
    let caller = bare::BareCaller::new(&engine, &component, host.config().runtime.fuel);
    (host, caller)
}

/// Bare, `Host::invoke`, `Host::call` and a cache hit, on 1 and 2 threads
/// (only the lanes named in `only`, when given: for a profiler).
fn call_paths(rt: &tokio::runtime::Runtime, bytes: &[u8], scale: f64, only: Option<&str>) -> Value {
    let (host, caller) = fixture(rt, "", bytes);
    let (cached, _) = fixture(rt, CACHE_ON, bytes);
    let args = unique(r#"{"n":{i}}"#);
    let same: ArgsFn = Arc::new(|| r#"{"same":true}"#.to_string());
    rt.block_on(cached.call(CallRequest::new("ok", same()))).unwrap();
    let lanes = [
        Lane { name: "bare_1t", threads: 1, weight: 1, call: bare_fn(&caller, "ok", args.clone()) },
        Lane {
            name: "invoke_1t",
            threads: 1,
            weight: 1,
            call: host_fn(&host, How::Invoke, "ok", args.clone()),
        },
        Lane { name: "call_1t", threads: 1, weight: 1, call: host_fn(&host, How::Call, "ok", args.clone()) },
        Lane { name: "hit_1t", threads: 1, weight: 10, call: host_fn(&cached, How::CacheHit, "ok", same) },
        Lane { name: "bare_2t", threads: 2, weight: 1, call: bare_fn(&caller, "ok", args.clone()) },
        Lane { name: "cpu_1t", threads: 1, weight: 1, call: cpu_fn() },
        Lane { name: "cpu_2t", threads: 2, weight: 1, call: cpu_fn() },
        Lane {
            name: "invoke_2t",
            threads: 2,
            weight: 1,
            call: host_fn(&host, How::Invoke, "ok", args.clone()),
        },
        Lane { name: "call_2t", threads: 2, weight: 1, call: host_fn(&host, How::Call, "ok", args) },
    ];
    let lanes: Vec<Lane> =
        lanes.into_iter().filter(|l| only.is_none_or(|o| o.split(',').any(|n| n == l.name))).collect();
    eprintln!("==> call paths (bare, invoke, call, cache hit; 1 and 2 threads)");
    let samples = measure_lanes(&lanes, 10, scaled(4000, scale));
    lanes_json(&lanes, &samples)
}

fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale) as usize).max(20)
}

/// `Host::run_batch` of `calls` `ok` calls (default policies, the executor's
/// own worker threads) vs the same number of bare calls on 2 OS threads.
fn batch(rt: &tokio::runtime::Runtime, bytes: &[u8], calls: usize) -> Value {
    let (host, caller) = fixture(rt, "", bytes);
    let bare = bare_fn(&caller, "ok", unique(r#"{"n":{i}}"#));
    let n = AtomicU64::new(0);
    let run = || {
        let batch: Vec<ToolCall> = (0..calls)
            .map(|_| ToolCall::new("ok", format!(r#"{{"b":{}}}"#, n.fetch_add(1, Ordering::Relaxed))))
            .collect();
        let (t, sched) = (Instant::now(), Sched::process());
        let done = rt.block_on(host.run_batch(&ExecutionContext::new(), batch, BatchOptions::default()));
        let (took, sched) = (t.elapsed(), Sched::process().since(sched));
        assert_eq!(done.iter().filter(|r| r.result.is_ok()).count(), calls, "every batch call succeeds");
        // The executor's two worker threads: measured like two bare threads.
        Sample { lat: vec![], rounds: vec![(calls, took)], sched, thread_wall: took * 2 }
    };
    eprintln!("==> batch of {calls} calls through the executor vs bare on 2 threads");
    run();
    on_threads("bare_batch", 2, calls / 10, &bare);
    let rounds = 5;
    let (mut toolhost, mut floor) = (Sample::default(), Sample::default());
    for _ in 0..rounds {
        floor.add(on_threads("bare_batch", 2, calls / 2, &bare));
        toolhost.add(run());
    }
    json!({
        "calls": calls,
        "rounds": rounds,
        "max_parallel": host.config().executor.max_parallel,
        "toolhost_calls_per_s": toolhost.calls_per_s(),
        "bare_2t_calls_per_s": floor.calls_per_s(),
        "bare_2t_on_cpu_share": floor.shares().0,
        "bare_2t_cpu_wait_share": floor.shares().1,
        "toolhost_on_cpu_share": toolhost.shares().0,
        "toolhost_cpu_wait_share": toolhost.shares().1,
    })
}

/// Each example language's sample tool: (language, plugin, tool, arguments
/// with `{i}` for a per-call counter).
const SAMPLES: [(&str, &str, &str, &str); 4] = [
    ("Rust", "text", "text.upper", r#"{"text":"hello {i}"}"#),
    ("Python", "stats", "py.stats", r#"{"numbers":[1,2,3,{i}]}"#),
    ("JavaScript", "textkit", "js.csv_parse", r#"{"csv":"a,b\n1,{i}"}"#),
    ("C", "checksum", "c.checksum", r#"{"text":"hello {i}"}"#),
];

/// The plugin's own manifest with `[instances]` replaced: a fresh instance
/// per call, or warm instances (reused until many calls have run).
fn manifest_with(manifest: &str, warm: bool) -> String {
    let mut t: toml::Table = manifest.parse().unwrap_or_default();
    let mut inst = toml::Table::new();
    inst.insert("mode".into(), (if warm { "warm" } else { "fresh" }).into());
    if warm {
        inst.insert("max_calls".into(), 1_000_000.into());
    }
    t.insert("instances".into(), inst.into());
    toml::to_string(&t).unwrap()
}

/// A host serving one example plugin (copied with an edited manifest).
async fn plugin_host(plugin: &str, bytes: &[u8], manifest: &str, warm: bool) -> (Host, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join(format!("{plugin}.wasm")), bytes).unwrap();
    std::fs::write(folder.path().join(format!("{plugin}.toml")), manifest_with(manifest, warm)).unwrap();
    let host = Host::builder()
        .plugins_dir(folder.path())
        .cache_dir(Some(cache_root().join("host")))
        .watch(false)
        .build()
        .await
        .unwrap();
    (host, folder)
}

/// Fresh vs warm vs bare for one example plugin (`skipped` when it is not built).
fn language(
    rt: &tokio::runtime::Runtime,
    sample: (&str, &str, &'static str, &'static str),
    scale: f64,
) -> Value {
    let (lang, plugin, tool, args) = sample;
    let dir = repo().join("build/plugins");
    let Ok(bytes) = std::fs::read(dir.join(format!("{plugin}.wasm"))) else {
        eprintln!("  {lang}: {plugin}.wasm not built; skipped");
        return json!({"lang": lang, "tool": tool, "skipped": "not built"});
    };
    let manifest = std::fs::read_to_string(dir.join(format!("{plugin}.toml"))).unwrap_or_default();
    let (fresh, _f) = rt.block_on(plugin_host(plugin, &bytes, &manifest, false));
    let (warm, _w) = rt.block_on(plugin_host(plugin, &bytes, &manifest, true));
    let engine = fresh.runtime().engine().clone();
    let component = bare::compile_cached(&engine, &bytes, &cache_root().join("bare"));
    let caller = bare::BareCaller::new(&engine, &component, fresh.config().runtime.fuel);
    let lanes = [
        Lane { name: "fresh", threads: 1, weight: 1, call: host_fn(&fresh, How::Call, tool, unique(args)) },
        Lane { name: "warm", threads: 1, weight: 10, call: host_fn(&warm, How::Call, tool, unique(args)) },
        Lane { name: "bare", threads: 1, weight: 1, call: bare_fn(&caller, tool, unique(args)) },
    ];
    let interpreter = matches!(lang, "Python" | "JavaScript");
    eprintln!("==> {lang} {tool}: fresh vs warm vs bare");
    let samples = measure_lanes(&lanes, 5, scaled(if interpreter { 40 } else { 1000 }, scale));
    let mut v = lanes_json(&lanes, &samples);
    let o = v.as_object_mut().unwrap();
    o.insert("lang".into(), lang.into());
    o.insert("tool".into(), tool.into());
    o.insert("wasm_kib".into(), (bytes.len() / 1024).into());
    o.insert("interpreter".into(), interpreter.into());
    v
}

fn main() {
    bare::cli_logging();
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 0.1 } else { 1.0 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let path = repo().join("build/fixtures/hostile.wasm");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|_| panic!("{} missing: run scripts/build-plugins.sh", path.display()));
    let (probe, _) = fixture(&rt, "", &bytes);
    let meta = json!({
        "allocator": format!("{:?}", probe.runtime().allocator()),
        "fuel": probe.config().runtime.fuel,
        "quick": quick,
    });
    drop(probe);
    // `--lanes bare_2t,call_2t`: only those call paths (e.g. under `perf record`).
    let argv: Vec<String> = std::env::args().collect();
    let only = argv.iter().position(|a| a == "--lanes").and_then(|i| argv.get(i + 1));
    let paths = call_paths(&rt, &bytes, scale, only.map(String::as_str));
    if only.is_some() {
        println!("{}", json!({ "meta": meta, "paths": paths }));
        return;
    }
    let batch = batch(&rt, &bytes, 5000);
    if argv.iter().any(|a| a == "--no-languages") {
        println!("{}", json!({ "meta": meta, "paths": paths, "batch": batch }));
        return;
    }
    let languages: Vec<Value> = SAMPLES.into_iter().map(|s| language(&rt, s, scale)).collect();
    println!("{}", json!({ "meta": meta, "paths": paths, "batch": batch, "languages": languages }));
}
