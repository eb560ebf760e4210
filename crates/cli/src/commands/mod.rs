//! The `toolhost` command line: a thin consumer of the library.

mod call;
mod config;
mod dag;
mod list;
mod new;
mod run;
mod serve;
mod submit;
mod top;
mod worker;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use toolhost::{Config, Host, LoadProgress};

/// Run LLM tools as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "toolhost", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter for stderr (e.g. `info`, `toolhost=debug`); RUST_LOG also works.
    #[arg(long, global = true, env = "TOOLHOST_LOG", default_value = "warn")]
    log: String,
    /// Log format on stderr: `auto` is human-readable text on a terminal and
    /// JSON lines otherwise (carrying request, tenant and call ids).
    #[arg(long, global = true, env = "TOOLHOST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    /// Also log call arguments and results (target `toolhost::payload`, level
    /// info). Off by default: payloads may hold personal or secret data.
    #[arg(long, global = true, env = "TOOLHOST_LOG_PAYLOADS")]
    log_payloads: bool,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// JSON lines.
    Json,
    /// Human-readable text.
    Text,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every tool a tenant can call, with description and input schema.
    List(list::ListArgs),
    /// Call one tool and print its result (exit status 0 only on success).
    Call(call::CallArgs),
    /// Run a batch of calls (JSON list, OpenAI, Anthropic or XML-tag input)
    /// through every executor policy; exit status 0 only if all succeed.
    Run(run::RunArgs),
    /// Serve the tools to LLM clients: MCP over stdio (`--stdio`), or MCP
    /// streamable HTTP at /mcp plus the HTTP API (`--http ADDR`). Plugins are
    /// hot-reloaded.
    Serve(serve::ServeArgs),
    /// Live view of a running server: calls in flight, per-tool rates and
    /// latencies, breaker states, bulkhead queues (`--once`/`--json` for scripts).
    Top(top::TopArgs),
    /// Create a plugin project (Rust, Python, JavaScript or C) against the
    /// contract, with a build script, a manifest and a test call.
    New(new::NewArgs),
    /// Execute durable runs from the Redis queue (`--redis URL`) until SIGTERM;
    /// runs resume from per-call checkpoints when a worker dies.
    Worker(worker::WorkerArgs),
    /// Store a DAG run in Redis and queue it for workers; prints the run id
    /// (`--wait` prints the result; exit status 0 only if it succeeded).
    Submit(submit::SubmitArgs),
    /// The configuration reference (`config reference`) and a check of a
    /// configuration file (`config check`).
    Config(config::ConfigArgs),
}

/// Options shared by every command that loads plugins.
#[derive(Debug, Args)]
pub(crate) struct HostArgs {
    /// Folder of plugins (`NAME.wasm` + optional `NAME.toml`). Overrides the config file.
    #[arg(long, short = 'p', env = "TOOLHOST_PLUGINS")]
    plugins: Option<PathBuf>,
    /// Config file (`toolhost.toml`); every field is optional.
    #[arg(long, short = 'c', env = "TOOLHOST_CONFIG")]
    config: Option<PathBuf>,
    /// Compile-cache folder, or `off`. Default: ~/.cache/toolhost.
    #[arg(long, env = "TOOLHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Tenant whose view of the tools is used.
    #[arg(long, short = 't', env = "TOOLHOST_TENANT")]
    tenant: Option<String>,
    /// Shared Redis (`redis://host:port/db`) for the result cache, rate
    /// limits and durable runs across processes. Overrides `redis_url`.
    #[arg(long = "redis", value_name = "URL", env = "TOOLHOST_REDIS_URL")]
    redis: Option<String>,
}

impl HostArgs {
    pub(crate) fn load_config(&self) -> Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => Config::from_file(p)?,
            None if std::path::Path::new("toolhost.toml").exists() => {
                Config::from_file("toolhost.toml".as_ref())?
            }
            None => Config::default(),
        };
        if let Some(p) = &self.plugins {
            cfg.plugins_dir = p.clone();
        }
        if let Some(c) = &self.cache_dir {
            cfg.cache_dir = Some(c.clone());
        }
        if let Some(url) = &self.redis {
            cfg.redis_url = Some(url.clone());
        }
        Ok(cfg)
    }

    /// Loads the host, printing a progress line per compiled or failed plugin.
    pub(crate) async fn host(&self) -> Result<Host> {
        self.host_with(|_| {}).await
    }

    /// Like [`host`](Self::host), adjusting the configuration first.
    pub(crate) async fn host_with(&self, adjust: impl FnOnce(&mut Config)) -> Result<Host> {
        let mut cfg = self.load_config()?;
        adjust(&mut cfg);
        let dir = cfg.plugins_dir.clone();
        let tty = std::io::stderr().is_terminal();
        let t0 = std::time::Instant::now();
        let tally = std::sync::Arc::new(std::sync::Mutex::new(LoadTally::default()));
        let t2 = tally.clone();
        let host = Host::builder()
            .config(cfg)
            .on_progress(move |p: &LoadProgress| {
                t2.lock().unwrap_or_else(|e| e.into_inner()).add(p);
                if tty {
                    progress_line(p);
                }
            })
            .build()
            .await
            .with_context(|| format!("loading plugins from {}", dir.display()))?;
        let tally = *tally.lock().unwrap_or_else(|e| e.into_inner());
        if tally.total() > 0 {
            eprintln!(
                "toolhost: {} plugins in {:.2} s: {} compiled, {} from the compile cache, {} failed ({} tools)",
                tally.total(),
                t0.elapsed().as_secs_f64(),
                tally.compiled,
                tally.cached,
                tally.failed,
                tally.tools
            );
        }
        let cat = host.catalog();
        let failed: Vec<_> = cat.plugins().iter().filter(|p| !p.errors.is_empty()).collect();
        for p in &failed {
            for e in &p.errors {
                eprintln!("warning: plugin {} ({:?}): {}: {e}", p.name, p.state, e.code());
            }
        }
        Ok(host)
    }
}

/// `--meta KEY=VALUE`: one metadata entry of the request context (the
/// guest reads it in its call context's `metadata`).
pub(crate) fn meta_arg(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Counts of one load, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
struct LoadTally {
    compiled: usize,
    cached: usize,
    failed: usize,
    tools: usize,
}

impl LoadTally {
    fn add(&mut self, p: &LoadProgress) {
        match &p.outcome {
            Ok((toolhost::runtime::CompileSource::Compiled, tools, _)) => {
                self.compiled += 1;
                self.tools += tools;
            }
            Ok((_, tools, _)) => {
                self.cached += 1;
                self.tools += tools;
            }
            Err(_) => self.failed += 1,
        }
    }

    fn total(&self) -> usize {
        self.compiled + self.cached + self.failed
    }
}

/// One line per plugin as it finishes loading (terminals only; pipes and
/// log files get the summary line).
fn progress_line(p: &LoadProgress) {
    match &p.outcome {
        Ok((source, tools, t)) => {
            let how = match source {
                toolhost::runtime::CompileSource::Compiled => "compiled",
                toolhost::runtime::CompileSource::Cache => "loaded from cache",
            };
            eprintln!(
                "[{}/{}] {how} {} ({tools} tools) in {:.2} s",
                p.index,
                p.total,
                p.plugin,
                t.as_secs_f64()
            )
        }
        Err(e) => eprintln!("[{}/{}] failed {}: {}", p.index, p.total, p.plugin, e.code()),
    }
}

/// Keeps the OTLP exporter alive until the process ends (feature `otel`).
#[cfg(feature = "otel")]
type TraceGuard = Option<toolhost::observe::otel::OtelGuard>;
#[cfg(not(feature = "otel"))]
type TraceGuard = ();

/// stderr logs (text on a terminal, JSON lines otherwise) and, with the
/// `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT`, OTLP trace export.
fn init_logging(filter: &str, format: LogFormat) -> TraceGuard {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!("warning: invalid log filter {filter:?} ({e}); using `warn`");
        tracing_subscriber::EnvFilter::new("warn")
    });
    let tty = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Auto => !tty,
        LogFormat::Json => true,
        LogFormat::Text => false,
    };
    let stderr = if json {
        tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_filter(filter).boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_ansi(tty)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    #[allow(unused_mut)]
    let mut layers = vec![stderr];
    #[cfg(feature = "otel")]
    let guard = match toolhost::observe::otel::layer_from_env() {
        Ok(Some((layer, guard))) => {
            let spans =
                tracing_subscriber::filter::Targets::new().with_target("toolhost", tracing::Level::INFO);
            layers.push(layer.with_filter(spans).boxed());
            Some(guard)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("warning: traces are not exported: {e}");
            None
        }
    };
    tracing_subscriber::registry().with(layers).init();
    #[cfg(feature = "otel")]
    return guard;
}

/// Parses the command line and runs it.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    #[allow(clippy::let_unit_value)]
    let _traces = init_logging(&cli.log, cli.log_format);
    toolhost::observe::logs::set_payloads(cli.log_payloads);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::List(a) => list::run(a).await,
            Command::Call(a) => call::run(a).await,
            Command::Run(a) => run::run(a).await,
            Command::Serve(a) => serve::run(a).await,
            Command::Top(a) => top::run(a).await,
            Command::New(a) => new::run(a),
            Command::Worker(a) => worker::run(a).await,
            Command::Submit(a) => submit::run(a).await,
            Command::Config(a) => config::run(a),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // A typed host error (e.g. CONFIGURATION_ERROR) carries its stable code.
            match e.chain().find_map(|c| c.downcast_ref::<toolhost::Error>()) {
                Some(te) => eprintln!("error: {}: {e:#}", te.code()),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::from(2)
        }
    }
}
