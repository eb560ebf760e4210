//! # toolhost-core
//!
//! The vocabulary every other toolhost crate speaks, and nothing else: a call
//! ([`CallRequest`], [`CallResult`], [`ToolOutput`]), its request context
//! ([`ExecutionContext`]), the typed [`Error`] with its stable codes, the
//! events a guest reports while it runs, configuration checking
//! ([`check::Problems`]) and the process-wide metrics registry ([`observe`]).
//!
//! It names no sandbox, no executor policy, no backend and no front door: the
//! runtime (`toolhost-runtime`) and the executor (`toolhost-exec`) sit side by
//! side above it and never see each other.
#![warn(missing_docs, unreachable_pub)]

pub mod audit;
pub mod call;
pub mod catalog;
pub mod check;
pub mod context;
pub mod error;
pub mod events;
pub mod fold_hash;
pub mod interact;
pub mod observe;
pub mod padded;
pub mod quota;
pub mod text;

pub use call::{
    Bytes, CallOptions, CallRequest, CallResponse, CallResult, CallStats, CancelToken, Content,
    DEFAULT_TENANT, ResultView, ToolOutput, new_call_id,
};
pub use context::ExecutionContext;
pub use error::{Error, ErrorCode, Resource, Result, ToolErrorKind};
pub use events::{EventSink, GuestEvent};
