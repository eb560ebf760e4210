//! `toolhost list`.

use crate::host_args::HostArgs;
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    host: HostArgs,
    /// Print one JSON document: `{"tools": [...], "plugins": [...]}`.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: ListArgs) -> Result<ExitCode> {
    let host = args.host.host().await?;
    let tools = host.list_tools(args.host.tenant.as_deref());
    if args.json {
        let tools: Vec<_> = tools.iter().map(toolhost::ToolListing::to_json).collect();
        let doc = serde_json::json!({ "tools": tools, "plugins": host.catalog().plugins(), "upstreams": host.upstreams(), "sources": host.sources() });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    if tools.is_empty() {
        println!("no tools (plugins folder: {})", host.config().plugins_dir.display());
    }
    for t in &tools {
        let flags = if t.idempotent { " [idempotent]" } else { "" };
        let origin = if t.source == "plugin" { "plugin" } else { "upstream" };
        println!("{}{flags}  ({origin} {})", t.name, t.origin);
        println!("    {}", t.description);
        println!("    input: {}", serde_json::to_string(&t.input_schema)?);
        if let Some(o) = &t.output_schema {
            println!("    output: {}", serde_json::to_string(o)?);
        }
    }
    print_failures(&host.catalog());
    print_upstream_failures(&host.upstreams());
    Ok(ExitCode::SUCCESS)
}

/// Plugins not (fully) served, with why: failed, stale (an older version
/// serves) or loaded with refused tool names.
fn print_failures(catalog: &toolhost::registry::Catalog) {
    let failing: Vec<_> = catalog.plugins().iter().filter(|p| !p.errors.is_empty()).collect();
    if failing.is_empty() {
        return;
    }
    println!();
    for p in failing {
        let state = serde_json::to_value(p.state).ok().and_then(|v| v.as_str().map(str::to_string));
        println!("plugin {}: {}  ({})", p.name, state.unwrap_or_default(), p.path.display());
        for e in &p.errors {
            println!("    {}: {e}", e.code());
        }
    }
}

/// Upstream sources that are down, with the latest error (retried in the background).
fn print_upstream_failures(upstreams: &[toolhost::upstreams::UpstreamStatus]) {
    for u in upstreams.iter().filter(|u| !u.connected) {
        println!(
            "upstream {} ({}): unavailable: {}",
            u.name,
            u.kind,
            u.error.as_deref().unwrap_or("connecting")
        );
    }
}
