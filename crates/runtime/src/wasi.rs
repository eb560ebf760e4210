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
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// Largest `get-random-bytes` request a guest may make.
const MAX_RANDOM_BYTES: u64 = 1024 * 1024;

/// The WASI context `grants` give a call, or `None` when they grant nothing
/// (no environment, no directories): that context is [`deny_all`], which
/// the store builds the first time the guest reaches for WASI, so a call
/// that never does pays for no context at all.
pub(crate) fn build_ctx(
    grants: &Grants,
    stdout: &CapturedOutput,
    stderr: &CapturedOutput,
) -> wasmtime::Result<Option<WasiCtx>> {
    if grants.env.is_empty() && grants.inherit_env.is_empty() && grants.dirs.is_empty() {
        return Ok(None);
    }
    let mut b = denying(stdout, stderr);
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
    Ok(Some(b.build()))
}

/// The context of a plugin granted nothing: captured stdio and no more.
pub(crate) fn deny_all(stdout: &CapturedOutput, stderr: &CapturedOutput) -> WasiCtx {
    denying(stdout, stderr).build()
}

fn denying(stdout: &CapturedOutput, stderr: &CapturedOutput) -> WasiCtxBuilder {
    let mut b = WasiCtx::builder();
    b.stdout(stdout.clone()).stderr(stderr.clone()).max_random_size(MAX_RANDOM_BYTES);
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_granted_nothing_gets_its_context_on_first_use() {
        let (out, err) = (CapturedOutput::new(64), CapturedOutput::new(64));
        assert!(build_ctx(&Grants::default(), &out, &err).unwrap().is_none());
        let env = Grants { env: [("A".into(), "1".into())].into(), ..Grants::default() };
        assert!(build_ctx(&env, &out, &err).unwrap().is_some());
        let inherit = Grants { inherit_env: vec!["PATH".into()], ..Grants::default() };
        assert!(build_ctx(&inherit, &out, &err).unwrap().is_some());
        let dirs = Grants {
            dirs: vec![crate::DirGrant { host: "/nonexistent-toolhost-dir".into(), guest: "/d".into() }],
            ..Grants::default()
        };
        assert!(build_ctx(&dirs, &out, &err).is_err(), "a bad directory grant still fails the call");
    }
}
