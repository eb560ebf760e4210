//! Serving tools to LLM clients: MCP over stdio and streamable HTTP, and a
//! plain HTTP API, all in front of the same [`Host`](toolhost::Host).
//!
//! - [`stdio`]: one MCP session on stdin/stdout (logs go to stderr).
//! - [`http`]: `/mcp` (streamable HTTP), `/v1/tools`, `/v1/calls`, `/healthz`, `/readyz`.
//!
//! The tenant of a request never comes from the request itself: it is the
//! listener's configured tenant, or the tenant an authenticated bearer token
//! maps to ([`auth`]). Every HTTP route checks `Host` and `Origin`
//! ([`origin`]), bounds bodies and read times, and shuts down gracefully:
//! in-flight calls get [`ServeConfig::shutdown_grace_ms`] to finish
//! ([`inflight`]).

#![warn(missing_docs, unreachable_pub)]

mod admin;
mod authn;
mod convert;
pub mod http;
pub mod inflight;
mod interact;
mod listener;
pub mod mcp;
mod mcp_offers;
mod mrtr;
mod request;
mod runs;
mod state;
pub mod stdio;
mod task_relay;
mod task_run;
mod task_wire;
mod tasks;
mod tasks_redis;

pub use http::HttpServer;
pub use toolhost::access::{Caller, ServeConfig, TokenConfig, auth, origin};
