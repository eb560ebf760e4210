//! # toolhost
//!
//! Run LLM tools as sandboxed WebAssembly components.
//!
//! A tool author builds one component against `wit/plugin.wit`; an operator
//! drops it in a folder; `toolhost` loads it (compile cache, import checks,
//! schema validation), and runs every call in a fresh wasmtime store owned by
//! one tenant, under an epoch deadline, optional fuel, memory/table limits and
//! deny-by-default WASI.
//!
//! This crate is the embeddable facade: it composes the layers below it,
//! each its own crate, and re-exports what an embedder needs:
//!
//! * `toolhost-core` — calls, results, errors, the request context, metrics;
//! * `toolhost-runtime` ([`runtime`]) — the sandbox, the only crate naming
//!   wasmtime: engine, epoch ticker, compile cache, per-call stores, limits,
//!   WASI, wasi:http grants;
//! * `toolhost-exec` ([`exec`]) — the executor's policies as layers, batches,
//!   and the backend traits; it knows tools only through [`exec::Attempt`],
//!   which [`Host`] implements on top of the registry and the runtime;
//! * `toolhost-scheduler` ([`scheduler`]) — DAG runs on the executor;
//! * `toolhost-registry` ([`registry`]) — plugin files → validated tools;
//!   manifests, tenants, hot reload;
//! * `toolhost-redis` ([`backend::redis`]) — shared state for several processes;
//! * `toolhost-upstream` ([`upstream`]) — tools that live elsewhere (HTTP APIs
//!   described by OpenAPI), served next to the plugins' ([`upstreams`]).
//!
//! A call goes one way down: front door (`toolhost-serve`, `toolhost` CLI) →
//! [`Host`] → executor layers (outermost first) → [`exec::Attempt`] → runtime.
//!
//! ```no_run
//! # async fn demo() -> toolhost::Result<()> {
//! use toolhost::{CallRequest, Host};
//! let host = Host::builder().plugins_dir("plugins").build().await?;
//! for t in host.tools(None) {
//!     println!("{}: {}", t.tool.name, t.tool.description);
//! }
//! let res = host.call(CallRequest::new("text.upper", r#"{"text":"hello"}"#).tenant("acme")).await?;
//! println!("{}", res.output.to_text());
//! # Ok(()) }
//! ```
#![warn(missing_docs, unreachable_pub)]

pub mod access;
pub mod admin;
mod audited;
pub mod backend;
mod batch;
pub mod config;
mod dag;
mod host;
mod listing;
pub mod observe;
mod offers;
mod tenancy;
pub mod upstreams;
mod validate;

pub use toolhost_core::{audit, call, catalog, context, error, events, interact, text};
pub use toolhost_exec as exec;
pub use toolhost_oci as oci;
pub use toolhost_registry as registry;
pub use toolhost_runtime as runtime;
pub use toolhost_scheduler as scheduler;
pub use toolhost_upstream as upstream;

pub use config::Config;
pub use host::{Host, HostBuilder, Target};
pub use listing::ToolListing;
pub use toolhost_core::ResultView;
pub use toolhost_core::{
    CallRequest, CallResponse, CallStats, CancelToken, Content, Error, ErrorCode, ExecutionContext, Resource,
    Result, ToolErrorKind, ToolOutput,
};
pub use toolhost_exec::batch::{BatchOptions, CallEvent, Order};
pub use toolhost_exec::{CallOptions, CallResult, ToolCall};
pub use toolhost_registry::{LoadProgress, PluginSource, PluginState, PluginStatus, ToolEntry};
pub use toolhost_runtime::{Limits, RuntimeConfig};
pub use validate::MAX_ARGUMENT_BYTES;
