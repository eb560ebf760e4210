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
//! Architecture (dependency direction top to bottom):
//!
//! * [`runtime`] — the only module that touches wasmtime: engine, epoch ticker,
//!   compile cache, per-call stores, limits, WASI, error classification.
//! * [`registry`] — plugin files → validated tools; manifests, tenants, hot reload.
//! * [`Host`] — the call path: lookup → argument validation → sandboxed call →
//!   output checks.
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

pub mod backend;
pub mod call;
pub mod config;
pub mod error;
pub mod exec;
mod host;
pub mod observe;
pub mod registry;
pub mod runtime;
pub mod scheduler;
pub mod serve;

pub use call::{CallRequest, CallResponse, CallStats, CancelToken, Content, ToolOutput};
pub use config::{Config, Limits, RuntimeConfig};
pub use error::{Error, ErrorCode, Resource, Result, ToolErrorKind};
pub use exec::batch::{BatchOptions, CallEvent, Order};
pub use exec::context::ExecutionContext;
pub use exec::{CallOptions, CallResult, ToolCall};
pub use host::{Host, HostBuilder, MAX_ARGUMENT_BYTES};
pub use registry::{LoadProgress, PluginSource, PluginState, PluginStatus, ToolEntry};
