//! Compile cache: precompiled components in a host-private folder, keyed by
//! the plugin's sha256 and the engine's compatibility hash (wasmtime version
//! and every codegen setting). A warm restart loads with an mmap instead of
//! compiling. Nothing from the plugin folder is ever deserialized: the only
//! inputs here are files this host wrote itself (temp file + rename).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// Opens (creating with mode 0700) the cache folder for this engine.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<CompileCache> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache { dir: dir.to_path_buf(), engine_key: format!("{:016x}", h.finish()) })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The cached component for `digest`, if present and loadable. A corrupt
    /// entry is deleted and treated as a miss.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was produced by `Component::serialize` of this host
        // (same engine key) and published by an atomic rename into a folder only
        // this user can write; it is never modified in place while mapped.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unreadable compile-cache entry");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores a compiled component (best effort: a failure only costs a recompile).
    pub(crate) fn store(&self, digest: &str, component: &Component) {
        let result = component.serialize().map_err(|e| e.to_string()).and_then(|bytes| {
            let tmp = self.dir.join(format!(".{digest}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, self.path(digest)).map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not write compile-cache entry");
        }
    }
}
