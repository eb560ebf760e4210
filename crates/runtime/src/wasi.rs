//! Deny-by-default WASI for one call.
//!
//! `WasiCtx::builder()` starts with nothing: no preopens, no environment, no
//! arguments, stdin closed, no sockets (every address refused), no name lookup.
//! A plugin's manifest may grant environment variables and read-only
//! directories; everything else stays denied. Guest stdout/stderr go to
//! bounded captures, never to the host's own stdio (stdout belongs to MCP).

use super::stdio::CapturedOutput;
use crate::Grants;
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::WasiCtx;

/// Largest `get-random-bytes` request a guest may make.
const MAX_RANDOM_BYTES: u64 = 1024 * 1024;

pub(crate) fn build_ctx(
    grants: &Grants,
    stdout: &CapturedOutput,
    stderr: &CapturedOutput,
) -> wasmtime::Result<WasiCtx> {
    let mut b = WasiCtx::builder();
    b.stdout(stdout.clone()).stderr(stderr.clone()).max_random_size(MAX_RANDOM_BYTES);
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    for (k, v) in &grants.env {
        b.env(k, v);
    }
    for name in &grants.inherit_env {
        if let Ok(v) = std::env::var(name) {
            b.env(name, v);
        }
    }
    for dir in &grants.dirs {
        b.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly)?;
    }
    Ok(b.build())
}
