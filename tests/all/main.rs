//! toolhost integration tests: one binary (one link of wasmtime), one module
//! per behaviour. Guests come from `scripts/build-plugins.sh` (`build/`);
//! hostile binaries that need no toolchain are assembled in `fixtures`.

mod cache;
mod calls;
mod cli;
mod common;
mod dag;
mod docs;
mod executor;
mod fixtures;
mod languages;
mod loading;
mod outbound;
mod output;
mod reload;
mod sandbox;
mod serve;
mod warm;
