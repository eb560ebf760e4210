//! `toolhost run --dag FILE [--plan-only]`.

use crate::host_args::HostArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use toolhost::ExecutionContext;
use toolhost::scheduler::{Greedy, NodeStatus, Plan, RunEvent, RunOptions, RunResult, RunSpec, RunStatus};

pub(crate) async fn run(
    host_args: &HostArgs,
    text: &str,
    plan_only: bool,
    json: bool,
    meta: &[(String, String)],
) -> Result<ExitCode> {
    let spec: RunSpec =
        serde_json::from_str(text).context("reading the DAG run (see `toolhost run --help`)")?;
    let host = host_args.host().await?;
    if plan_only {
        let plan = host.plan_dag(&spec, &Greedy)?;
        print_plan(&plan, json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut ctx = ExecutionContext::new();
    ctx.tenant_id = host_args.tenant.clone();
    ctx.metadata = meta.iter().cloned().collect();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    // Progress lines on stderr while the run goes.
    let progress = tokio::spawn(print_progress(rx));
    let result = host.run_dag(&ctx, &spec, RunOptions { events: Some(tx), ..Default::default() }).await?;
    let _ = progress.await;
    print_result(&result, json)?;
    Ok(if result.status == RunStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints a plan: as JSON, or its critical path, stages and one line per call.
fn print_plan(plan: &Plan, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    println!(
        "critical path {} ms ({}), serial {} ms, cost {}",
        plan.critical_path_ms,
        plan.critical_path.join(" -> "),
        plan.serial_ms,
        plan.total_cost
    );
    for (i, stage) in plan.stages.iter().enumerate() {
        println!("stage {i}: {}", stage.join(", "));
    }
    for c in &plan.calls {
        let skip = c
            .skipped
            .map(|r| {
                format!("  SKIPPED ({})", serde_json::to_value(r).unwrap_or_default().as_str().unwrap_or(""))
            })
            .unwrap_or_default();
        println!(
            "  {:<20} {:<18} stage {} start ≥{} ms timeout {} retries {}{skip}",
            c.call_id,
            c.tool,
            c.stage,
            c.earliest_start_ms,
            c.timeout_ms.map_or("policy".into(), |t| format!("{t} ms")),
            c.max_retries.map_or("policy".into(), |r| r.to_string()),
        );
    }
    Ok(())
}

/// Prints a line on stderr for each run event until the run ends.
async fn print_progress(mut rx: tokio::sync::mpsc::Receiver<RunEvent>) {
    while let Some(ev) = rx.recv().await {
        match ev {
            RunEvent::Started { call_id, tool, at_ms } => {
                eprintln!("[{at_ms:8.1} ms] start  {call_id} ({tool})")
            }
            RunEvent::Finished(r) => eprintln!(
                "[{:8.1} ms] {:<6} {} ({:.1} ms)",
                r.started_ms.unwrap_or(0.0) + r.duration_ms.unwrap_or(0.0),
                if r.status == NodeStatus::Succeeded { "ok" } else { "FAILED" },
                r.call_id,
                r.duration_ms.unwrap_or(0.0)
            ),
            RunEvent::Skipped { call_id, reason } => {
                eprintln!(
                    "             skip   {call_id} ({})",
                    serde_json::to_value(reason).unwrap_or_default().as_str().unwrap_or("")
                )
            }
        }
    }
}

/// Prints a finished run: as JSON, or its status and one line per call.
fn print_result(result: &RunResult, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(result)?);
        return Ok(());
    }
    println!(
        "{} {:?} in {:.1} ms (critical path estimate {} ms)",
        result.run_id, result.status, result.duration_ms, result.critical_path_ms
    );
    for c in &result.calls {
        let detail = match (&c.status, &c.result, c.reason) {
            (NodeStatus::Skipped, _, Some(r)) => {
                serde_json::to_value(r).unwrap_or_default().as_str().unwrap_or("").to_string()
            }
            (_, Some(r), _) if r["ok"] == true => r["value"].to_string(),
            (_, Some(r), _) => r["error"]["message"].as_str().unwrap_or("").to_string(),
            _ => String::new(),
        };
        println!("  {:<20} {:<10} {}", c.call_id, format!("{:?}", c.status).to_lowercase(), detail);
    }
    Ok(())
}
