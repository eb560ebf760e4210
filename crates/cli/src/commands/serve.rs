//! `toolhost serve`.

use crate::host_args::HostArgs;
use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::process::ExitCode;
use toolhost_serve::{HttpServer, stdio::serve_stdio};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("listener").required(true).args(["stdio", "http"])))]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    host: HostArgs,
    /// MCP on stdin/stdout (for clients that launch the server). Logs go to stderr.
    #[arg(long)]
    stdio: bool,
    /// Listen on ADDR (e.g. 127.0.0.1:8080; port 0 picks one) for MCP streamable
    /// HTTP at /mcp and the HTTP API (/v1/tools, /v1/calls, /healthz, /readyz).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Do not watch the plugins folder for changes.
    #[arg(long)]
    no_watch: bool,
}

pub(crate) async fn run(args: ServeArgs) -> Result<ExitCode> {
    let tenant = args.host.tenant.clone();
    let watch = !args.no_watch;
    let adjust = move |cfg: &mut toolhost::Config| {
        cfg.watch = watch;
        if let Some(t) = &tenant {
            cfg.serve.tenant = t.clone();
        }
    };
    let host = args.host.host_with(adjust.clone()).await?;
    // `POST /admin/reload` and SIGHUP re-read the same file with the same overrides.
    let reread = args.host.clone();
    host.set_reloader(move || {
        let mut cfg = reread.load_config().map_err(|e| {
            e.downcast::<toolhost::Error>()
                .unwrap_or_else(|e| toolhost::Error::Configuration(format!("{e:#}")))
        })?;
        adjust(&mut cfg);
        Ok(cfg)
    });
    #[cfg(unix)]
    tokio::spawn(reload_on_hangup(host.clone()));
    let tools = host.list_tools(Some(&host.config().serve.tenant)).len();
    if args.stdio {
        eprintln!("toolhost: serving {tools} tools over MCP stdio (tenant {})", host.config().serve.tenant);
        serve_stdio(host, shutdown_signal()).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let addr = args.http.context("--http ADDR is required without --stdio")?;
    let server = HttpServer::bind(host, addr).await?;
    let bound = server.local_addr();
    // One parseable line for scripts and tests.
    eprintln!("toolhost: listening on http://{bound} ({tools} tools; MCP at /mcp, API at /v1)");
    server.run(shutdown_signal()).await?;
    eprintln!("toolhost: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Every SIGHUP reloads the configuration (tokens, tenants, policies,
/// quotas) and rescans the plugins folder; calls in flight are not touched.
/// A file that does not parse or validate is refused and logged, and the
/// running configuration stays.
#[cfg(unix)]
async fn reload_on_hangup(host: toolhost::Host) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
    while hup.recv().await.is_some() {
        let reloaded = host.reload().await;
        let outcome = reloaded.as_ref().map_or_else(|e| e.code().as_str().to_string(), |_| "ok".to_string());
        host.audit().admin("signal", "reload (SIGHUP)", "config", &outcome);
        match reloaded {
            Ok(r) => {
                tracing::info!(restart_needed = ?r.restart_needed, "SIGHUP: configuration reloaded");
                eprintln!("toolhost: configuration reloaded (SIGHUP)");
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: reload refused; the running configuration stays");
                eprintln!("toolhost: reload refused, the running configuration stays: {e}");
            }
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
