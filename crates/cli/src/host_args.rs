//! What every command that loads plugins shares: [`HostArgs`] (plugin
//! folder, config file, Redis, tenant) and building a host from them with
//! progress lines.

use anyhow::{Context, Result};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use toolhost::{Config, Host, LoadProgress};

/// Options shared by every command that loads plugins.
#[derive(Debug, Clone, Args)]
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
    pub(crate) tenant: Option<String>,
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
            // The audit trail's principal of calls made from this command line
            // (a served request names its own).
            .principal("local")
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
