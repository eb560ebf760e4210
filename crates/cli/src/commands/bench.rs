//! `toolhost bench`: a load generator for one tool, so a tool author sees what
//! a call costs (throughput, latency quantiles, fuel and memory per call)
//! under the host's real policies, or as bare attempts (`--bare`).

use crate::host_args::HostArgs;
use anyhow::{Result, bail};
use clap::Args;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use toolhost::{CallRequest, Host};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Tool name, exactly as listed.
    tool: String,
    /// Arguments as a JSON object, the same for every call. Default: `{}`.
    /// With `[cache]` on and an idempotent tool, repeats are cache hits.
    #[arg(default_value = "{}")]
    args: String,
    #[command(flatten)]
    host: HostArgs,
    /// Calls to time.
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Untimed calls first (compile caches, warm pools, allocator).
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// One bare attempt per call (`Host::invoke`: no cache, retries, rate
    /// limits, breakers or bulkheads) instead of the full executor.
    #[arg(long)]
    bare: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// What one timed call cost.
struct Sample {
    latency: Duration,
    fuel: Option<u64>,
    memory: u64,
}

/// Everything the timed calls reported.
#[derive(Default)]
struct Samples {
    ok: Vec<Sample>,
    errors: BTreeMap<String, usize>,
}

pub(crate) async fn run(a: BenchArgs) -> Result<ExitCode> {
    if a.calls == 0 || a.concurrency == 0 {
        bail!("--calls and --concurrency must be at least 1");
    }
    serde_json::from_str::<Value>(&a.args).map_err(|e| anyhow::anyhow!("arguments are not JSON: {e}"))?;
    let host = a.host.host().await?;
    if host.find_tool(a.host.tenant.as_deref().unwrap_or("default"), &a.tool).is_none() {
        bail!("no tool {:?} for this tenant; `toolhost list` shows the tools", a.tool);
    }
    let (_, _) = drive(&host, &a, a.warmup).await;
    let faults_before = minor_faults();
    let (samples, wall) = drive(&host, &a, a.calls).await;
    let faults = minor_faults().zip(faults_before).map(|(after, before)| after.saturating_sub(before));
    let mut report = report(&a, &samples, wall);
    report["minor_faults_per_call"] = json!(faults.map(|f| f as f64 / a.calls as f64));
    if a.json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    Ok(if samples.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Runs `calls` calls, `concurrency` at a time; returns the samples and the wall time.
async fn drive(host: &Host, a: &BenchArgs, calls: usize) -> (Samples, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.concurrency.min(calls.max(1)))
        .map(|_| {
            let (host, next, samples) = (host.clone(), next.clone(), samples.clone());
            let (tool, args, tenant, bare) = (a.tool.clone(), a.args.clone(), a.host.tenant.clone(), a.bare);
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < calls {
                    let mut req = CallRequest::new(&tool, &args);
                    req.tenant = tenant.clone();
                    let t = Instant::now();
                    let r = if bare { host.invoke(req).await } else { host.call(req).await };
                    let latency = t.elapsed();
                    let mut s = samples.lock().unwrap_or_else(|e| e.into_inner());
                    match r {
                        Ok(res) => s.ok.push(Sample {
                            latency,
                            fuel: res.stats.fuel_used,
                            memory: res.stats.memory_peak,
                        }),
                        Err(e) => *s.errors.entry(e.code().as_str().to_string()).or_default() += 1,
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let wall = started.elapsed();
    let samples = Arc::try_unwrap(samples).ok().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()));
    (samples.unwrap_or_default(), wall)
}

/// Minor page faults of this process so far (`/proc/self/stat`, Linux only):
/// memory a call touched that was not resident, pool slot resets included.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; minflt is the 10th field overall.
    stat.rsplit_once(')')?.1.split_whitespace().nth(7)?.parse().ok()
}

/// The JSON report: throughput, latency quantiles (µs), fuel and memory per call, errors.
fn report(a: &BenchArgs, s: &Samples, wall: Duration) -> Value {
    let mut lat: Vec<f64> = s.ok.iter().map(|x| x.latency.as_secs_f64() * 1e6).collect();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat.get(((p * lat.len() as f64).ceil() as usize).saturating_sub(1)).copied();
    let fuel: Vec<u64> = s.ok.iter().filter_map(|x| x.fuel).collect();
    let mean = |v: &[u64]| (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64);
    let memory: Vec<u64> = s.ok.iter().map(|x| x.memory).collect();
    let done = s.ok.len() + s.errors.values().sum::<usize>();
    json!({
        "tool": a.tool,
        "mode": if a.bare { "bare" } else { "executor" },
        "calls": done,
        "ok": s.ok.len(),
        "errors": s.errors,
        "concurrency": a.concurrency,
        "wall_ms": wall.as_secs_f64() * 1e3,
        "calls_per_sec": done as f64 / wall.as_secs_f64().max(1e-9),
        "latency_us": { "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": lat.last().copied() },
        "fuel": { "mean": mean(&fuel), "max": fuel.iter().max() },
        "memory_peak_bytes": { "mean": mean(&memory), "max": memory.iter().max() },
    })
}

fn print_table(r: &Value) {
    let num = |v: &Value| v.as_f64().map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    println!(
        "{} ({}): {} calls, concurrency {}",
        r["tool"].as_str().unwrap_or(""),
        r["mode"].as_str().unwrap_or(""),
        r["calls"],
        r["concurrency"]
    );
    println!("  throughput   {} calls/s ({} ms wall)", num(&r["calls_per_sec"]), num(&r["wall_ms"]));
    let l = &r["latency_us"];
    println!(
        "  latency µs   p50 {}   p90 {}   p99 {}   max {}",
        num(&l["p50"]),
        num(&l["p90"]),
        num(&l["p99"]),
        num(&l["max"])
    );
    println!("  fuel/call    mean {}   max {}", num(&r["fuel"]["mean"]), num(&r["fuel"]["max"]));
    let m = &r["memory_peak_bytes"];
    println!("  memory peak  mean {} B   max {} B", num(&m["mean"]), num(&m["max"]));
    println!("  page faults  {} per call (minor)", num(&r["minor_faults_per_call"]));
    if r["errors"].as_object().is_some_and(|e| !e.is_empty()) {
        println!("  errors       {}", r["errors"]);
    }
}
