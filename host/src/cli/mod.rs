//! The `toolhost` command line: a thin consumer of the library.

mod call;
mod dag;
mod list;
mod new;
mod run;
mod serve;

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
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
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
    /// Create a plugin project (Rust, Python, JavaScript or C) against the
    /// contract, with a build script, a manifest and a test call.
    New(new::NewArgs),
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
        let host = Host::builder()
            .config(cfg)
            .on_progress(move |p: &LoadProgress| progress_line(p, tty))
            .build()
            .await
            .with_context(|| format!("loading plugins from {}", dir.display()))?;
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

fn progress_line(p: &LoadProgress, tty: bool) {
    match &p.outcome {
        Ok((toolhost::runtime::CompileSource::Compiled, tools, t)) => {
            eprintln!(
                "[{}/{}] compiled {} ({tools} tools) in {:.2} s",
                p.index,
                p.total,
                p.plugin,
                t.as_secs_f64()
            )
        }
        Ok((_, tools, t)) if tty => {
            eprintln!(
                "[{}/{}] loaded {} ({tools} tools, cached) in {} ms",
                p.index,
                p.total,
                p.plugin,
                t.as_millis()
            )
        }
        Ok(_) => {}
        Err(e) => eprintln!("[{}/{}] failed {}: {}", p.index, p.total, p.plugin, e.code()),
    }
}

fn init_logging(filter: &str, json: bool) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Parses the command line and runs it.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_json);
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
            Command::New(a) => new::run(a),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
