//! toolhost integration tests: one binary (one link of wasmtime), one module
//! per behaviour. Guests come from `scripts/build-plugins.sh` (`build/`);
//! hostile binaries that need no toolchain are assembled in `fixtures`.

mod admin;
mod asking;
mod audit;
mod cache;
mod calls;
mod cli;
mod common;
mod contract;
mod dag;
mod docs;
mod durable;
mod durable_tasks;
mod edges;
mod executor;
mod fixtures;
mod languages;
mod loading;
mod oauth;
mod observe;
mod oci;
mod outbound;
mod output;
mod quotas;
mod redis;
mod reload;
mod sandbox;
mod secrets;
mod serve;
mod tasks;
mod top;
mod upstream;
mod upstream_mcp;
mod warm;
