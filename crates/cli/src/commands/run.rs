//! `toolhost run`: a batch of tool calls in any shape LLM code produces.

use crate::host_args::HostArgs;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use toolhost::exec::parse::{ParseLimits, parse_calls_within};
use toolhost::{BatchOptions, CallEvent, ExecutionContext, Order, ToolCall};

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// File with the calls, or `-` for stdin: a JSON list of
    /// `{id?, tool, arguments}`, OpenAI `tool_calls`, Anthropic `tool_use`
    /// blocks, or text with `<tool name="…" args='…'/>` tags.
    #[arg(default_value = "-")]
    input: String,
    #[command(flatten)]
    host: HostArgs,
    /// Result order.
    #[arg(long, default_value = "completion", value_parser = ["completion", "submission"])]
    order: String,
    /// One JSON object per result line (`{call_id, tool, ok, value|error, attempts, cached, duration_ms}`).
    #[arg(long)]
    json: bool,
    /// Run identical calls once and share the result.
    #[arg(long)]
    dedup: bool,
    /// Deadline for the whole batch, milliseconds.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Calls running at once (default: the executor's max_parallel).
    #[arg(long)]
    max_parallel: Option<usize>,
    /// Afterwards, print breaker, bulkhead and cache state as JSON on stderr.
    #[arg(long)]
    stats: bool,
    /// The input is a DAG run (`{"calls": [{call_id, tool, args, depends_on,
    /// metadata, timeout_ms, max_retries}], "constraints": {deadline_ms,
    /// max_cost, pool_limits}, "continue_on_error"}`); calls start as soon as
    /// their dependencies succeed. Exit status 0 only if the run succeeded.
    #[arg(long)]
    dag: bool,
    /// With --dag: print the plan (stages, timeouts, skips, critical path) without running.
    #[arg(long, requires = "dag")]
    plan_only: bool,
    /// Metadata for every call's context, `KEY=VALUE` (repeatable); guests
    /// read it in their call context.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = crate::host_args::meta_arg)]
    meta: Vec<(String, String)>,
}

pub(crate) async fn run(a: RunArgs) -> Result<ExitCode> {
    // A bad configuration is reported before the input is read.
    a.host.load_config()?;
    let text = if a.input == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading calls from stdin")?;
        s
    } else {
        std::fs::read_to_string(&a.input).with_context(|| format!("reading {}", a.input))?
    };
    if a.dag {
        return super::dag::run(&a.host, &text, a.plan_only, a.json, &a.meta).await;
    }
    // A local batch file: no limit on its size or number of calls.
    let calls: Vec<ToolCall> = parse_calls_within(&text, ParseLimits::UNLIMITED)
        .with_context(|| {
            format!("reading tool calls from {}", if a.input == "-" { "stdin" } else { &a.input })
        })?
        .into_iter()
        .map(Into::into)
        .collect();
    let host = a.host.host().await?;
    let mut ctx = ExecutionContext::new();
    ctx.tenant_id = a.host.tenant.clone();
    ctx.max_parallel = a.max_parallel;
    ctx.deadline = a.deadline_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    ctx.metadata = a.meta.iter().cloned().collect();
    let order: Order = a.order.parse().map_err(anyhow::Error::msg)?;
    let opts = BatchOptions { order, dedup: a.dedup, cancel: None };
    let mut failed = 0;
    let mut print = |r: &toolhost::CallResult| {
        failed += r.result.is_err() as usize;
        if a.json {
            println!("{}", r.to_json());
        } else {
            match &r.result {
                Ok(out) => println!("[{}] {} ok: {}", r.call_id, r.tool, out.to_text()),
                Err(e) => println!("[{}] {} error {}: {e}", r.call_id, r.tool, e.code()),
            }
        }
    };
    if order == Order::Completion {
        // Stream: print each result as it finishes.
        let mut rx = host.stream_batch(ctx, calls, opts, false);
        while let Some(ev) = rx.recv().await {
            if let CallEvent::Finished(r) = ev {
                print(&r);
            }
        }
    } else {
        for r in host.run_batch(&ctx, calls, opts).await {
            print(&r);
        }
    }
    if a.stats {
        let ex = host.executor();
        let breakers: serde_json::Map<String, serde_json::Value> = ex
            .breakers()
            .into_iter()
            .map(|(k, s)| (k, serde_json::to_value(s).unwrap_or_default()))
            .collect();
        let doc = serde_json::json!({
            "breakers": breakers,
            "bulkheads": ex.bulkheads().stats(),
            "cache": ex.cache_counters().map(|(hits, misses)| serde_json::json!({"hits": hits, "misses": misses})),
        });
        eprintln!("{doc}");
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
