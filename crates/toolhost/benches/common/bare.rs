//! Bare wasmtime: the baseline the benchmarks compare toolhost against. A
//! fresh `Store` with a deny-by-default WASI context, epoch deadline and fuel
//! (when the host's engine meters it), `InstancePre` instantiation, one call,
//! drop. Shared by the benches with `#[path = "common/bare.rs"] mod bare;`;
//! its bindings are kept apart from the `toolhost` crate name.
#![allow(dead_code)]

use std::path::Path;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    exports: { default: async },
});

/// What a bare call's store holds: WASI and nothing else.
pub(crate) struct Bare {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl self::toolhost::plugin::types::Host for Bare {}
impl self::toolhost::plugin::host::Host for Bare {
    fn log(&mut self, _: self::toolhost::plugin::host::LogLevel, _: String) {}
    fn progress(&mut self, _: f64, _: Option<f64>, _: Option<String>) {}
    fn emit(&mut self, _: String) {}
    fn config(&mut self, _: String) -> Option<String> {
        None
    }
    fn elicit(
        &mut self,
        _: self::toolhost::plugin::types::ElicitRequest,
    ) -> Result<self::toolhost::plugin::types::ElicitResponse, self::toolhost::plugin::types::InteractionError>
    {
        Err(self::toolhost::plugin::types::InteractionError::Unsupported("bare".into()))
    }
    fn sample(
        &mut self,
        _: self::toolhost::plugin::types::SamplingRequest,
    ) -> Result<
        self::toolhost::plugin::types::SamplingResponse,
        self::toolhost::plugin::types::InteractionError,
    > {
        Err(self::toolhost::plugin::types::InteractionError::Unsupported("bare".into()))
    }
    fn resource_updated(&mut self, _: String) {}
}

/// A linked component on an engine: one fresh instance per [`BareCaller::call`].
#[derive(Clone)]
pub(crate) struct BareCaller {
    engine: Engine,
    pre: PluginPre<Bare>,
    fuel: bool,
}

impl BareCaller {
    /// Links WASI p2 and the host API and pre-instantiates `component`.
    pub(crate) fn new(engine: &Engine, component: &Component, fuel: bool) -> BareCaller {
        let mut linker = Linker::<Bare>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        let pre = PluginPre::new(linker.instantiate_pre(component).unwrap()).unwrap();
        BareCaller { engine: engine.clone(), pre, fuel }
    }

    /// Fresh store + instantiate + `call(tool, args)` + drop; true when the tool succeeded.
    pub(crate) async fn call(&self, tool: &str, args: String) -> bool {
        let mut store =
            Store::new(&self.engine, Bare { wasi: WasiCtx::builder().build(), table: ResourceTable::new() });
        store.set_epoch_deadline(2);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(2)));
        if self.fuel {
            store.set_fuel(u64::MAX).unwrap();
        }
        let p = self.pre.instantiate_async(&mut store).await.unwrap();
        let r = p.toolhost_plugin_tool().call_call(&mut store, tool, &args, &context()).await.unwrap();
        r.is_ok()
    }
}

/// The call context a bare call hands the guest: the shape `Host::call`
/// sends with default options (a `call_` + 32-hex call id, a 32-hex request
/// id, tenant `default`, the deadline, attempt 1), so the guest lifts the same
/// strings on both sides and the ratio is the host's own work.
pub(crate) fn context() -> exports::toolhost::plugin::tool::CallContext {
    exports::toolhost::plugin::tool::CallContext {
        call_id: "call_0123456789abcdef0123456789abcdef".into(),
        request_id: Some("0123456789abcdef0123456789abcdef".into()),
        tenant_id: Some("default".into()),
        user_id: None,
        traceparent: None,
        deadline_ms: Some(30_000),
        attempt: 1,
        metadata: vec![],
    }
}

/// Compiles `bytes` on `engine`, keeping the compiled form in `dir` (keyed by
/// the bytes' digest and the engine's compatibility hash) so a rerun of the
/// bench loads interpreter guests in milliseconds instead of seconds. `dir`
/// holds only what this function wrote.
pub(crate) fn compile_cached(engine: &Engine, bytes: &[u8], dir: &Path) -> Component {
    use sha2::Digest;
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let key = format!("{}-{:016x}.cwasm", hex::encode(sha2::Sha256::digest(bytes)), h.finish());
    let path = dir.join(key);
    if path.exists() {
        // SAFETY: the file was written below by `Engine::precompile_component`
        // for an engine with the same compatibility hash, into a directory only
        // this bench writes; it is never modified after the rename.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return c;
        }
    }
    let compiled = engine.precompile_component(bytes).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    // Private to this user: what is in it gets deserialized (mapped as code).
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let tmp = dir.join(format!(".tmp.{}", std::process::id()));
    std::fs::write(&tmp, &compiled).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    // SAFETY: as above, just written by this engine.
    unsafe { Component::deserialize_file(engine, &path) }.unwrap()
}

/// The logging `toolhost serve`/`run` install by default (stderr, level
/// `warn`), so spans cost in the benches what they cost in the CLI: with no
/// subscriber at all, every span also checks the `log` crate (a dependency
/// turns on tracing's `log` feature), which the CLI never pays.
pub fn cli_logging() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::registry().with(stderr).try_init();
}
