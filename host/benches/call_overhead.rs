//! `cargo bench --bench call_overhead`: toolhost's call path vs a bare
//! wasmtime call on the same engine and component, as a ratio; plus cold
//! compile vs warm compile-cache load for every example plugin.
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
use toolhost::{CallRequest, Host};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
});

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl toolhost::plugin::types::Host for Bare {}
impl toolhost::plugin::host::Host for Bare {
    fn log(&mut self, _: toolhost::plugin::host::LogLevel, _: String) {}
    fn progress(&mut self, _: f64, _: Option<f64>, _: Option<String>) {}
    fn emit(&mut self, _: String) {}
    fn config(&mut self, _: String) -> Option<String> {
        None
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
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
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let fixture = repo().join("build/fixtures/hostile.wasm");
    let bytes = std::fs::read(&fixture)
        .unwrap_or_else(|_| panic!("{} missing: run scripts/build-plugins.sh", fixture.display()));
    let cache = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .cache_dir(Some(cache.path().to_path_buf()))
        .plugin_bytes("h", bytes.clone())
        .build()
        .await
        .unwrap();

    // Bare wasmtime on the very same engine (same config, pooling, epochs, fuel).
    let engine = host.runtime().engine().clone();
    let mut linker = Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    let component = wasmtime::component::Component::from_binary(&engine, &bytes).unwrap();
    let pre = PluginPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    let fuel = host.config().runtime.fuel;

    let bare = || {
        let pre = pre.clone();
        let engine = engine.clone();
        async move {
            let mut store =
                Store::new(&engine, Bare { wasi: WasiCtx::builder().build(), table: ResourceTable::new() });
            store.set_epoch_deadline(2);
            store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(2)));
            if fuel {
                store.set_fuel(u64::MAX).unwrap();
            }
            let p = pre.instantiate_async(&mut store).await.unwrap();
            let ctx = exports::toolhost::plugin::tool::CallContext {
                call_id: "c".into(),
                request_id: None,
                tenant_id: None,
                user_id: None,
                traceparent: None,
                deadline_ms: Some(30_000),
                attempt: 1,
                metadata: vec![],
            };
            let r = p.toolhost_plugin_tool().call_call(&mut store, "ok", "{}", &ctx).await.unwrap();
            assert!(r.is_ok());
        }
    };
    let through_host = || {
        let host = host.clone();
        async move {
            host.call(CallRequest::new("ok", "{}")).await.unwrap();
        }
    };

    let (rounds, per) = (21, 300);
    let mut bare_us = vec![];
    let mut host_us = vec![];
    // Interleave to share any drift in machine load.
    for _ in 0..3 {
        bare_us.push(measure(rounds, per, bare).await);
        host_us.push(measure(rounds, per, through_host).await);
    }
    bare_us.sort_by(|a, b| a.partial_cmp(b).unwrap());
    host_us.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (b, h) = (bare_us[1], host_us[1]);
    println!("call path (fresh store + instantiate + call `ok`, Rust guest, {} engine):", allocator(&host));
    println!("  bare wasmtime         {b:8.1} µs/call");
    println!("  toolhost Host::call   {h:8.1} µs/call");
    println!("  ratio                 {:8.2}x   (target <= 1.25x)", h / b);

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
}

fn allocator(host: &Host) -> &'static str {
    match host.runtime().allocator() {
        toolhost::runtime::AllocatorKind::Pooling => "pooling",
        toolhost::runtime::AllocatorKind::OnDemand => "on-demand",
    }
}
