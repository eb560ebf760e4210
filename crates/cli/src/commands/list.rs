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
    let tools = host.tools(args.host.tenant.as_deref());
    if args.json {
        let tools: Vec<_> = tools.iter().map(toolhost::ToolEntry::to_json).collect();
        let doc = serde_json::json!({ "tools": tools, "plugins": host.catalog().plugins() });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    if tools.is_empty() {
        println!("no tools (plugins folder: {})", host.config().plugins_dir.display());
    }
    for e in &tools {
        let flags = if e.tool.idempotent { " [idempotent]" } else { "" };
        println!("{}{flags}  (plugin {})", e.tool.name, e.plugin.name);
        println!("    {}", e.tool.description);
        println!("    input: {}", serde_json::to_string(&e.tool.input.document)?);
        if let Some(o) = &e.tool.output {
            println!("    output: {}", serde_json::to_string(&o.document)?);
        }
    }
    print_failures(&host.catalog());
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
