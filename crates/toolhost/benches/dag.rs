//! DAG scheduling: a 1,000-node random DAG of trivial calls.
//!
//! Reports, in one run: the scheduler's own overhead per node (no-op
//! dispatcher), the total time of the same DAG through the host with the
//! hostile guest's `ok` tool, and that time against the critical-path bound
//! (depth × measured per-call latency) and the serial bound (nodes × latency).
//!
//!   scripts/build-plugins.sh && cargo bench --bench dag

use rand::{Rng, SeedableRng};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolhost::exec::CallResult;
use toolhost::scheduler::{Dispatch, NodeMeta, NodeSpec, RunOptions, RunSpec, RunStatus, execute};
use toolhost::{CallRequest, CancelToken, ExecutionContext, Host, ToolOutput};

const NODES: usize = 1000;

fn random_dag(seed: u64) -> (RunSpec, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut depth = vec![0usize; NODES];
    let calls = (0..NODES)
        .map(|i| {
            let mut deps: Vec<usize> = Vec::new();
            if i > 0 {
                for _ in 0..rng.random_range(0..=3usize) {
                    let d = i - 1 - rng.random_range(0..i.min(50));
                    if !deps.contains(&d) {
                        deps.push(d);
                    }
                }
            }
            depth[i] = deps.iter().map(|&d| depth[d] + 1).max().unwrap_or(0);
            NodeSpec {
                call_id: format!("n{i}"),
                tool: "ok".into(),
                args: serde_json::json!({"i": i}),
                depends_on: deps.iter().map(|d| format!("n{d}")).collect(),
                metadata: NodeMeta { est_ms: 1, ..Default::default() },
                timeout_ms: None,
                max_retries: None,
            }
        })
        .collect();
    (RunSpec { calls, ..Default::default() }, depth.iter().max().unwrap() + 1)
}

/// Completes every call at once: what remains is the scheduler.
struct Noop;

impl Dispatch for Noop {
    fn dispatch(
        &self,
        node: NodeSpec,
        _args: String,
        _ctx: ExecutionContext,
        _cancel: CancelToken,
    ) -> Pin<Box<dyn Future<Output = CallResult> + Send + 'static>> {
        Box::pin(async move {
            CallResult {
                index: 0,
                call_id: node.call_id,
                tool: node.tool,
                result: Ok(Arc::new(ToolOutput { value: Some(serde_json::json!(1)), content: vec![] })),
                attempts: 1,
                cached: false,
                fallback_for: None,
                started: Duration::ZERO,
                duration: Duration::ZERO,
                stats: None,
            }
        })
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let (spec, depth) = random_dag(7);
    let edges: usize = spec.calls.iter().map(|c| c.depends_on.len()).sum();
    println!("random DAG: {NODES} nodes, {edges} edges, depth {depth}");

    let mut overhead = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let r =
            execute(Arc::new(Noop), &ExecutionContext::new(), &spec, RunOptions::default()).await.unwrap();
        overhead.push(t.elapsed());
        assert_eq!(r.status, RunStatus::Succeeded);
    }
    overhead.sort();
    let o = overhead[3];
    println!(
        "  scheduler alone (no-op calls):   {:8.2} ms total, {:6.2} µs per node",
        o.as_secs_f64() * 1e3,
        o.as_secs_f64() * 1e6 / NODES as f64
    );

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join("build/fixtures/hostile.wasm");
    let bytes = std::fs::read(&fixture).expect("build/fixtures/hostile.wasm: run scripts/build-plugins.sh");
    let cache = tempfile::tempdir().unwrap();
    let host = Host::builder()
        .cache_dir(Some(cache.path().to_path_buf()))
        .plugin_bytes("h", bytes)
        .build()
        .await
        .unwrap();
    // Per-call latency through every policy, one at a time.
    let mut lat = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        host.call(CallRequest::new("ok", format!(r#"{{"warmup":{i}}}"#))).await.unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    let call = lat[lat.len() / 2];
    // Throughput bound: the same 1,000 calls with no dependencies, as one batch.
    let mut batch = Vec::new();
    for rep in 0..5 {
        let calls: Vec<toolhost::ToolCall> = (0..NODES)
            .map(|i| toolhost::ToolCall::new("ok", format!(r#"{{"i":{i},"batch":{rep}}}"#)))
            .collect();
        let t = Instant::now();
        host.run_batch(&ExecutionContext::new(), calls, toolhost::BatchOptions::default()).await;
        batch.push(t.elapsed());
    }
    batch.sort();
    let batch = batch[2];
    let mut totals = Vec::new();
    for rep in 0..5 {
        // Fresh arguments every repetition: no call is answered from the result cache.
        let mut spec = spec.clone();
        for c in &mut spec.calls {
            c.args["rep"] = rep.into();
        }
        let t = Instant::now();
        let r = host.run_dag(&ExecutionContext::new(), &spec, RunOptions::default()).await.unwrap();
        totals.push(t.elapsed());
        assert_eq!(r.status, RunStatus::Succeeded);
    }
    totals.sort();
    let total = totals[2];
    let critical = call * depth as u32;
    let serial = call * NODES as u32;
    println!("  one `ok` call (Host::call):     {:8.1} µs median", call.as_secs_f64() * 1e6);
    println!(
        "  DAG through the host:           {:8.2} ms total ({:.1} µs per node)",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / NODES as f64
    );
    println!(
        "  same calls as one flat batch:   {:8.2} ms (throughput bound on this machine) -> DAG at {:.2}x of it",
        batch.as_secs_f64() * 1e3,
        total.as_secs_f64() / batch.as_secs_f64()
    );
    println!(
        "  critical-path bound (depth × call): {:6.2} ms -> ratio {:.2}x;  serial bound {:.1} ms -> {:.2}x of serial",
        critical.as_secs_f64() * 1e3,
        total.as_secs_f64() / critical.as_secs_f64(),
        serial.as_secs_f64() * 1e3,
        total.as_secs_f64() / serial.as_secs_f64()
    );
}
