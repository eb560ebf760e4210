//! # toolhost-auth
//!
//! Who may call what, for the front doors (`toolhost serve`): toolhost as an
//! OAuth 2.1 resource server (MCP authorization, RFC 9728).
//!
//! * `config` — `[serve.oauth]`: issuer, audience, where the JWKS is, which
//!   claim names the tenant, the algorithm allow-list, the clock skew.
//! * `jwks` — the issuer's signing keys, cached; an unknown `kid` refetches
//!   them (at most once per `REFRESH_EVERY`, so forged kids cannot flood the issuer).
//! * `verify` — a bearer JWT → a [`Principal`] (tenant, subject, scopes), or
//!   the reason it is refused.
//! * `scopes` — `tools:list`, `tools:call`, `tools:call:<glob>`, `runs`,
//!   `admin`, and the checks the routes make.

#![warn(missing_docs, unreachable_pub)]

mod config;
mod jwks;
mod scopes;
mod verify;

pub use config::OAuthConfig;
pub use jwks::{JwksError, REFRESH_EVERY};
pub use scopes::{ADMIN, RUNS, Scopes, TOOLS_CALL, TOOLS_LIST};
pub use verify::{AuthFailure, Principal, Verifier};
