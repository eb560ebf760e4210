//! `toolhost submit`: store a DAG run in Redis and queue it for workers.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use toolhost::backend::redis::{Redis, RunStore};
use toolhost::scheduler::{Graph, RunSpec};
use toolhost::{Config, ExecutionContext};

#[derive(Debug, Args)]
#[command(after_help = "\
Prints the run id on stdout once the run is stored and queued; `toolhost
worker` processes execute it. When the run cannot be stored (Redis down or too
slow) nothing is accepted: the command says so and exits 2.

With --wait it polls until a worker has finished the run and prints the result
(like `toolhost run --dag`); exit status 0 only if the run succeeded, 1
otherwise. Any process can read the result later with `GET /v1/runs/{id}` on a
`toolhost serve` that uses the same Redis.")]
pub(crate) struct SubmitArgs {
    /// File with the DAG run, or `-` for stdin: `{"calls": [{call_id, tool,
    /// args, depends_on, …}], "constraints": {…}, "continue_on_error"}` (see
    /// `toolhost run --help`).
    input: String,
    /// Shared Redis (`redis://host:port/db`). Overrides `redis_url`.
    #[arg(long = "redis", value_name = "URL", env = "TOOLHOST_REDIS_URL")]
    redis: Option<String>,
    /// Config file (`toolhost.toml`) for `redis_url` and `[redis]`.
    #[arg(long, short = 'c', env = "TOOLHOST_CONFIG")]
    config: Option<PathBuf>,
    /// Tenant that owns the run (its tools and its `GET /v1/runs/{id}`).
    #[arg(long, short = 't', env = "TOOLHOST_TENANT", default_value = "default")]
    tenant: String,
    /// Wait for the result and print it.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this many ms (exit 1; the run goes on).
    #[arg(long, requires = "wait")]
    timeout_ms: Option<u64>,
    /// JSON output: `{"run_id","status"}`, or the whole result with --wait.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(a: SubmitArgs) -> Result<ExitCode> {
    let text = if a.input == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading the run from stdin")?;
        s
    } else {
        std::fs::read_to_string(&a.input).with_context(|| format!("reading {}", a.input))?
    };
    let spec: RunSpec =
        serde_json::from_str(&text).context("reading the DAG run (see `toolhost run --help`)")?;
    Graph::build(&spec).context("invalid run")?;
    let mut cfg = match &a.config {
        Some(p) => Config::from_file(p)?,
        None if std::path::Path::new("toolhost.toml").exists() => {
            Config::from_file("toolhost.toml".as_ref())?
        }
        None => Config::default(),
    };
    if let Some(url) = &a.redis {
        cfg.redis_url = Some(url.clone());
    }
    cfg.redis.validate().map_err(anyhow::Error::msg)?;
    let url =
        cfg.redis_url.clone().context("toolhost submit needs a Redis: pass --redis URL or set redis_url")?;
    let store = RunStore::new(Redis::open(&url, cfg.redis.clone())?);
    let ctx = ExecutionContext::new().with_tenant_id(a.tenant.clone()).with_principal("local");
    let run_id = store.submit(&spec, &a.tenant, &ctx).await?;
    if !a.wait {
        if a.json {
            println!("{}", serde_json::json!({"run_id": run_id, "status": "queued"}));
        } else {
            println!("{run_id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("submitted {run_id}; waiting for a worker");
    let rec = store.wait(&run_id, Some(&a.tenant), a.timeout_ms.map(Duration::from_millis)).await?;
    let Some(rec) = rec.filter(|r| r.is_finished()) else {
        eprintln!("{run_id}: not finished in time (it stays queued or running)");
        if a.json {
            println!("{}", serde_json::json!({"run_id": run_id, "status": "pending"}));
        }
        return Ok(ExitCode::from(1));
    };
    let result = rec.to_json();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_result(&result);
    }
    Ok(if rec.status == "succeeded" { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_result(r: &Value) {
    println!(
        "{} {} in {:.1} ms",
        r["run_id"].as_str().unwrap_or(""),
        r["status"].as_str().unwrap_or(""),
        r["duration_ms"].as_f64().unwrap_or(0.0)
    );
    if let Some(e) = r.get("error") {
        println!("  error {}: {}", e["code"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""));
    }
    for c in r["calls"].as_array().into_iter().flatten() {
        let status = c["status"].as_str().unwrap_or("");
        let detail = match (&c["result"], c["reason"].as_str()) {
            (_, Some(reason)) if status == "skipped" => reason.to_string(),
            (res, _) if res["ok"] == true => res["value"].to_string(),
            (res, _) => format!(
                "{}: {}",
                res["error"]["code"].as_str().unwrap_or(""),
                res["error"]["message"].as_str().unwrap_or("")
            ),
        };
        println!("  {:<20} {:<10} {}", c["call_id"].as_str().unwrap_or(""), status, detail);
    }
}
