//! The `toolhost` command line: a thin consumer of the library.

mod ask;
mod bench;
mod call;
mod config;
mod dag;
mod keygen;
mod list;
mod new;
mod pull;
mod push;
mod run;
mod serve;
mod submit;
mod top;
mod verify;
mod worker;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;

use std::process::ExitCode;

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
    /// Call one tool and print its result (exit status 0 only on success); on
    /// a terminal, asks the tool's questions (forms, URLs, confirmations) here.
    #[command(after_long_help = call::ASKING_HELP)]
    Call(call::CallArgs),
    /// Load-test one tool: N calls at concurrency C through the executor (or
    /// bare attempts with `--bare`); prints throughput, p50/p90/p99/max
    /// latency, fuel and memory per call (`--json` for scripts).
    Bench(bench::BenchArgs),
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
    /// Create a signing key pair: DIR/toolhost.key (private) and DIR/toolhost.pub.
    Keygen(keygen::KeygenArgs),
    /// Publish NAME.wasm (+ NAME.toml) to an OCI registry, signed with
    /// `--sign-key`; prints the pinned `oci://…@sha256:…` reference.
    Push(push::PushArgs),
    /// Fetch a plugin from an OCI registry by digest, verify its signature and
    /// digests, install NAME.wasm + NAME.toml and record it in DIR/toolhost.lock.
    Pull(pull::PullArgs),
    /// Re-check every plugin locked in DIR/toolhost.lock (digests and
    /// signatures, offline); exit status 1 on any mismatch.
    Verify(verify::VerifyArgs),
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
            Command::Bench(a) => bench::run(a).await,
            Command::Run(a) => run::run(a).await,
            Command::Serve(a) => serve::run(a).await,
            Command::Top(a) => top::run(a).await,
            Command::New(a) => new::run(a),
            Command::Worker(a) => worker::run(a).await,
            Command::Submit(a) => submit::run(a).await,
            Command::Config(a) => config::run(a),
            Command::Keygen(a) => keygen::run(a),
            Command::Push(a) => push::run(a).await,
            Command::Pull(a) => pull::run(a).await,
            Command::Verify(a) => verify::run(a),
        }
    });
    // Everything the audit trail has queued reaches its file before exit.
    toolhost::observe::audit::flush_all();
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
