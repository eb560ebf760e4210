//! The load gate: a plugin that `toolhost.lock` owns is compiled only when
//! the bytes about to be loaded, its `NAME.toml` and its recorded signature
//! still match the lock, at start and on every hot reload. Plugins the lock
//! does not own (local files) pass untouched.

use crate::lock::Lock;
use crate::pull::Trust;
use crate::sources::SourceConfig;
use crate::verify::{Require, verify_loaded};
use std::collections::BTreeMap;
use std::path::Path;
use toolhost_core::error::Error;

/// How each configured source's plugins are trusted, by reference.
#[derive(Debug, Default)]
pub struct Gate {
    trust: BTreeMap<String, Result<Trust, Error>>,
}

impl Gate {
    /// The gate for `sources` (plugins pulled by hand with `toolhost pull`
    /// are held to the signer their lock entry records).
    pub fn new(sources: &[SourceConfig]) -> Gate {
        let trust = sources.iter().map(|s| (s.reference.clone(), s.trust())).collect();
        Gate { trust }
    }

    /// Checks the plugin file `path` whose component bytes are `wasm`.
    pub fn check(&self, path: &Path, wasm: &[u8]) -> Result<(), Error> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
            return Ok(());
        };
        let lock = Lock::read(dir)?;
        let Some(entry) = lock.by_name(name) else { return Ok(()) };
        let require = match self.trust.get(&entry.reference) {
            Some(Ok(Trust::Key(k))) => Require::Key(k),
            Some(Ok(Trust::Identity(t))) => Require::Identity(t),
            Some(Ok(Trust::InsecureUnsigned)) | None => Require::Recorded,
            Some(Err(e)) => return Err(e.clone()),
        };
        verify_loaded(dir, entry, wasm, require)
    }
}
