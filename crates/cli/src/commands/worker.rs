//! `toolhost worker`: execute durable runs from the Redis queue.

use crate::host_args::HostArgs;
use anyhow::{Context, Result};
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;
use toolhost::backend::redis::{Worker, WorkerEvent, WorkerOptions};

#[derive(Debug, Args)]
#[command(after_help = "\
Runs come from `POST /v1/runs` on a `toolhost serve` with redis_url set, or from
`toolhost submit`. Each call's result is checkpointed in Redis: a run whose
worker dies is reclaimed by another worker after redis.visibility_timeout_ms
and resumes without re-running finished calls. A non-idempotent call that was
in flight when its worker died is reported INTERRUPTED unless
redis.rerun_interrupted = true.

On SIGTERM or Ctrl-C the worker stops taking runs, lets running calls finish
for --grace-ms (no new call starts), then cancels what is left and hands the
unfinished runs back to the queue for another worker.

One line per run on stderr: `took`, `finished`, `handed back`, `abandoned`.")]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    host: HostArgs,
    /// Runs executed at once by this worker.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// On shutdown, how long running calls may finish before they are
    /// cancelled and their runs handed back, ms.
    #[arg(long, default_value_t = 10_000)]
    grace_ms: u64,
}

pub(crate) async fn run(a: WorkerArgs) -> Result<ExitCode> {
    let host = a.host.host_with(|cfg| cfg.watch = false).await?;
    let redis = host
        .backend()
        .redis()
        .cloned()
        .context("toolhost worker needs a Redis: pass --redis URL or set redis_url in the config")?;
    let opts = WorkerOptions {
        concurrency: a.concurrency as usize,
        grace: Duration::from_millis(a.grace_ms),
        ..Default::default()
    };
    let url = redis.display_url();
    let worker = Worker::new(std::sync::Arc::new(host.clone()), redis, opts).on_event(print_event);
    let tools = host.list_tools(None).len();
    eprintln!(
        "toolhost worker {}: waiting for runs on {url} ({tools} tools, concurrency {}, grace {} ms)",
        worker.consumer(),
        a.concurrency,
        a.grace_ms
    );
    let stats = worker.run(shutdown_signal()).await;
    eprintln!(
        "toolhost worker: stopped ({} finished, {} handed back, {} abandoned)",
        stats.finished, stats.handed_back, stats.abandoned
    );
    Ok(ExitCode::SUCCESS)
}

fn print_event(ev: &WorkerEvent) {
    match ev {
        WorkerEvent::Taken { run_id, reclaimed, checkpoints } => eprintln!(
            "took {run_id}{}{}",
            if *reclaimed { " (reclaimed)" } else { "" },
            if *checkpoints > 0 {
                format!(", {checkpoints} calls already checkpointed")
            } else {
                String::new()
            }
        ),
        WorkerEvent::Finished { run_id, status, executed, reused } => {
            eprintln!("finished {run_id}: {status} ({executed} calls ran, {reused} reused from checkpoints)")
        }
        WorkerEvent::HandedBack { run_id } => eprintln!("handed back {run_id}"),
        WorkerEvent::Abandoned { run_id, reason } => eprintln!("abandoned {run_id}: {reason}"),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
