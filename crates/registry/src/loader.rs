//! Loading one plugin file: size check → read → sha256 → manifest → header
//! sniff → compile (or compile cache) → import check → link → `describe()`
//! in a sandboxed store → name and schema validation.

use super::schema::Schema;
use super::{Plugin, ToolSpec};
use crate::manifest::Manifest;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use toolhost_core::catalog::{PromptDescriptor, ResourceTemplate};
use toolhost_core::error::{Error, Result};
use toolhost_runtime::{CallSpec, Runtime};
use toolhost_runtime::{Limits, RuntimeConfig};

/// Longest tool or plugin name.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// `^[A-Za-z0-9_.-]{1,64}$`, and dots only between non-empty segments
/// (`web.fetch_user` is fine; `..`, `.x`, `x.` are not).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && name.split('.').all(|seg| !seg.is_empty())
}

fn load_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::PluginLoad { path: path.to_path_buf(), reason: reason.into() }
}

/// A plugin's bytes and manifest, read from a file or given in memory.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// Plugin name (file stem).
    pub name: String,
    /// Where it came from (for messages; `memory:NAME` for in-memory plugins).
    pub path: std::path::PathBuf,
    /// The component bytes.
    pub bytes: Vec<u8>,
    /// Its manifest (default: grants nothing, no overrides).
    pub manifest: Manifest,
}

/// Reads a plugin file and its manifest, refusing oversized files before reading.
pub(crate) async fn read_source(path: &Path, rt: &RuntimeConfig) -> Result<PluginSource> {
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let meta = tokio::fs::metadata(path).await.map_err(|e| load_error(path, format!("cannot stat: {e}")))?;
    let max = rt.max_plugin_mib * 1024 * 1024;
    if meta.len() > max {
        return Err(load_error(
            path,
            format!("file is {} bytes; the limit is {max} (runtime.max_plugin_mib)", meta.len()),
        ));
    }
    let bytes = tokio::fs::read(path).await.map_err(|e| load_error(path, format!("cannot read: {e}")))?;
    let manifest = Manifest::for_plugin(path)?.unwrap_or_default();
    Ok(PluginSource { name, path: path.to_path_buf(), bytes, manifest })
}

/// Turns a [`PluginSource`] into a ready-to-serve [`Plugin`].
pub(crate) async fn load(
    runtime: &Runtime,
    src: PluginSource,
    defaults: &Limits,
    rt: &RuntimeConfig,
) -> Result<Plugin> {
    let started = Instant::now();
    let PluginSource { name, path, bytes, manifest } = src;
    let path = path.as_path();
    check_name_and_size(path, &name, &bytes, rt)?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len() as u64;
    let limits = plugin_limits(&name, defaults, &manifest, rt)?;
    let timeout_override = manifest.limits.timeout_ms.map(Duration::from_millis);
    let (code, source) = runtime.prepare(path, Arc::new(bytes), &digest).await?;
    let config = Arc::new(manifest.config.clone());
    let cache_digest = cache_digest(&digest, &config, &manifest.grants, &limits);
    let spec = describe_spec(&name, &limits, &manifest.grants, &config, rt);
    let raw = runtime.describe(&code, spec).await.map_err(|e| match e {
        e @ Error::ResourceExhausted { .. } => e,
        e => load_error(path, format!("describe() failed: {e}")),
    })?;
    let tools = tool_specs(path, &name, raw)?;
    let capabilities = code.capabilities();
    let (prompts, templates) = offers(runtime, &code, &name, &limits, &manifest.grants, &config, rt)
        .await
        .map_err(|e| load_error(path, e.to_string()))?;
    Ok(Plugin {
        name,
        path: path.to_path_buf(),
        digest,
        cache_digest,
        generation: next_generation(),
        size,
        limits,
        timeout_override,
        grants: manifest.grants,
        config,
        code,
        tools,
        source,
        load_time: started.elapsed(),
        warm: (manifest.instances.mode() == toolhost_runtime::InstanceMode::Warm)
            .then(|| runtime.warm_pool(manifest.instances.clone())),
        capabilities,
        prompts,
        templates,
    })
}

/// A 0.2 plugin's prompts and resource templates, read once at load, with
/// their names checked like tool names (and URI templates non-empty).
async fn offers(
    runtime: &Runtime,
    code: &toolhost_runtime::PluginCode,
    name: &str,
    limits: &Limits,
    grants: &toolhost_runtime::Grants,
    config: &Arc<std::collections::BTreeMap<String, String>>,
    rt: &RuntimeConfig,
) -> Result<(Vec<PromptDescriptor>, Vec<ResourceTemplate>)> {
    let caps = code.capabilities();
    let spec = || describe_spec(name, limits, grants, config, rt);
    let prompts = if caps.prompts { runtime.list_prompts(code, spec()).await? } else { vec![] };
    let templates = if caps.resources { runtime.list_templates(code, spec()).await? } else { vec![] };
    let mut seen = BTreeSet::new();
    for p in &prompts {
        if !valid_name(&p.name) || !seen.insert(p.name.as_str()) {
            let what = toolhost_core::text::preview(&p.name);
            return Err(Error::Configuration(format!("prompt name {what:?} is invalid or described twice")));
        }
    }
    if let Some(t) = templates.iter().find(|t| t.uri_template.is_empty() || !t.uri_template.contains("://")) {
        let what = toolhost_core::text::preview(&t.uri_template);
        return Err(Error::Configuration(format!("resource template {what:?} is not a URI template")));
    }
    Ok((prompts, templates))
}

/// Refuses an invalid plugin name or a component over `runtime.max_plugin_mib`.
fn check_name_and_size(path: &Path, name: &str, bytes: &[u8], rt: &RuntimeConfig) -> Result<()> {
    if !valid_name(name) {
        return Err(load_error(path, format!("plugin name {name:?} must match ^[A-Za-z0-9_.-]{{1,64}}$")));
    }
    if bytes.len() as u64 > rt.max_plugin_mib * 1024 * 1024 {
        return Err(load_error(
            path,
            format!("plugin is {} bytes; the limit is runtime.max_plugin_mib", bytes.len()),
        ));
    }
    Ok(())
}

/// The executor's default limits overridden by the manifest's, checked against the runtime's.
fn plugin_limits(name: &str, defaults: &Limits, manifest: &Manifest, rt: &RuntimeConfig) -> Result<Limits> {
    let limits = defaults.merged(&manifest.limits);
    let mut problems = toolhost_core::check::Problems::default();
    limits.check("limits", rt, &mut problems);
    problems
        .into_string_result()
        .map_err(|e| Error::Configuration(format!("manifest of plugin '{name}': {e}")))?;
    Ok(limits)
}

/// The sandboxed `describe()` call of plugin `name`, within `runtime.describe_timeout_ms`.
fn describe_spec<'a>(
    name: &'a str,
    limits: &'a Limits,
    grants: &'a toolhost_runtime::Grants,
    config: &'a Arc<std::collections::BTreeMap<String, String>>,
    rt: &RuntimeConfig,
) -> CallSpec<'a> {
    CallSpec {
        tenant: "toolhost",
        plugin: name,
        tool: "describe",
        call_id: "describe",
        limits,
        grants,
        config,
        events: None,
        cancel: None,
        budget: Duration::from_millis(rt.describe_timeout_ms),
        warm: None,
        outbound_headers: &[],
        interact: None,
        resource_updates: None,
    }
}

/// Validates the tools `describe()` listed (names, no duplicates, schemas) into specs of `plugin`.
fn tool_specs(
    path: &Path,
    plugin: &str,
    raw: Vec<toolhost_runtime::RawDescriptor>,
) -> Result<Vec<Arc<ToolSpec>>> {
    let mut seen = BTreeSet::new();
    let mut tools = Vec::with_capacity(raw.len());
    for d in raw {
        if !valid_name(&d.name) {
            return Err(load_error(
                path,
                format!(
                    "tool name {:?} is not allowed: names match ^[A-Za-z0-9_.-]{{1,64}}$ with no empty dot segments",
                    toolhost_core::text::preview(&d.name)
                ),
            ));
        }
        if !seen.insert(d.name.clone()) {
            return Err(load_error(path, format!("tool '{}' is described twice", d.name)));
        }
        tools.push(tool_spec(path, plugin, d)?);
    }
    Ok(tools)
}

/// One described tool of `plugin` with its schemas compiled.
fn tool_spec(path: &Path, plugin: &str, d: toolhost_runtime::RawDescriptor) -> Result<Arc<ToolSpec>> {
    let input = Schema::compile(&d.input_schema)
        .map_err(|e| load_error(path, format!("tool '{}': input schema: {e}", d.name)))?;
    let output = d
        .output_schema
        .as_deref()
        .map(Schema::compile)
        .transpose()
        .map_err(|e| load_error(path, format!("tool '{}': output schema: {e}", d.name)))?;
    let namespace = d.name.split_once('.').map(|(ns, _)| ns.to_string());
    Ok(Arc::new(ToolSpec {
        name: d.name,
        namespace,
        title: d.title,
        description: d.description,
        idempotent: d.idempotent,
        annotations: d.annotations,
        icons: d.icons,
        long_running: d.long_running,
        plugin: plugin.to_string(),
        input,
        output,
    }))
}

/// sha256 over the component's digest and the manifest settings a call's
/// result can depend on, as canonical JSON (map keys sorted).
/// A number no loaded plugin version had before in this process.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn cache_digest(
    wasm_digest: &str,
    config: &std::collections::BTreeMap<String, String>,
    grants: &toolhost_runtime::Grants,
    limits: &Limits,
) -> String {
    let doc = serde_json::json!({"config": config, "grants": grants, "limits": limits, "wasm": wasm_digest});
    hex::encode(Sha256::digest(doc.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::{cache_digest, valid_name};
    use std::collections::BTreeMap;
    use toolhost_runtime::Grants;
    use toolhost_runtime::Limits;

    #[test]
    fn the_cache_digest_covers_the_component_config_grants_and_limits() {
        let config = BTreeMap::from([("greeting".to_string(), "one".to_string())]);
        let (grants, limits) = (Grants::default(), Limits::default());
        let base = cache_digest("abc", &config, &grants, &limits);
        assert_eq!(base, cache_digest("abc", &config.clone(), &grants, &limits), "stable");
        assert_eq!(base.len(), 64);
        let other_config = BTreeMap::from([("greeting".to_string(), "two".to_string())]);
        let mut other_grants = Grants::default();
        other_grants.env.insert("A".into(), "1".into());
        let other_limits = Limits { memory_mib: 64, ..Limits::default() };
        for other in [
            cache_digest("abd", &config, &grants, &limits),
            cache_digest("abc", &other_config, &grants, &limits),
            cache_digest("abc", &config, &other_grants, &limits),
            cache_digest("abc", &config, &grants, &other_limits),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn names() {
        for ok in ["echo", "web.fetch_user", "a-b", "A1", &"x".repeat(64)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in
            ["", "../etc", "a*b", "a/b", "..", ".x", "x.", "a..b", "naïve", "a b", "tab\t", &"x".repeat(65)]
        {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
