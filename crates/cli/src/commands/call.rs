//! `toolhost call`.

use crate::host_args::HostArgs;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;
use toolhost::CallRequest;

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// Tool name, exactly as listed.
    tool: String,
    /// Arguments as a JSON object; `-` reads them from stdin. Default: `{}`.
    #[arg(default_value = "{}")]
    args: String,
    #[command(flatten)]
    host: HostArgs,
    /// Timeout for this call, milliseconds (overrides the tool's).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Print one JSON object: `{"ok": true, ...}` or `{"ok": false, "error": {...}}`.
    #[arg(long)]
    json: bool,
    /// Metadata for the call's context, `KEY=VALUE` (repeatable); the guest
    /// reads it in its call context.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = crate::host_args::meta_arg)]
    meta: Vec<(String, String)>,
}

pub(crate) async fn run(a: CallArgs) -> Result<ExitCode> {
    let host = a.host.host().await?;
    let args = if a.args == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading arguments from stdin")?;
        s
    } else {
        a.args.clone()
    };
    let mut req = CallRequest::new(&a.tool, args);
    req.tenant = a.host.tenant.clone();
    req.timeout = a.timeout_ms.map(Duration::from_millis);
    req.metadata = a.meta.clone();
    match host.call(req).await {
        Ok(res) => {
            if a.json {
                let doc = serde_json::json!({
                    "ok": true,
                    "call_id": res.call_id,
                    "tool": res.tool,
                    "value": res.output.value,
                    "content": res.output.content,
                    "attempts": res.attempts,
                    "cached": res.cached,
                    "stats": res.stats,
                });
                println!("{doc}");
            } else {
                println!("{}", res.output.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                println!("{}", serde_json::json!({ "ok": false, "error": e.to_json() }));
            } else {
                eprintln!("error: {}: {e}", e.code());
            }
            Ok(ExitCode::from(1))
        }
    }
}
