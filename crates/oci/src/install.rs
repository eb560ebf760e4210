//! Writing a pulled plugin into a plugins folder and recording it.

use crate::lock::{Lock, LockEntry};
use crate::pull::Pulled;
use std::path::Path;
use toolhost_core::error::Error;

/// Writes `bytes` to `path` through a temp file and a rename, so a watcher
/// or a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Configuration(format!("cannot write {}: {e}", path.display()));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

/// Records `p` in `DIR/toolhost.lock` and installs it into `dir` as
/// `NAME.toml` and `NAME.wasm` (last). Refuses to overwrite a plugin of the
/// same name that the lock does not own (a local plugin).
///
/// With `take_over` false (sources at start), a plugin name that the lock
/// gives to another reference is refused too: two sources never replace
/// each other. `toolhost pull` (an operator's explicit choice) takes it over.
pub fn install(dir: &Path, p: &Pulled, take_over: bool) -> Result<LockEntry, Error> {
    let mut lock = Lock::read(dir)?;
    let name = &p.layout.name;
    let wasm_path = dir.join(format!("{name}.wasm"));
    if let Some(owner) = lock.by_name(name).filter(|e| !take_over && e.reference != p.reference.to_string()) {
        return Err(Error::PluginLoad {
            path: wasm_path,
            reason: format!(
                "{} is plugin '{name}', which {} already serves; one plugin name, one source",
                p.reference, owner.reference
            ),
        });
    }
    if wasm_path.exists() && lock.by_name(name).is_none() {
        return Err(Error::PluginLoad {
            path: wasm_path,
            reason: format!(
                "{} would overwrite a local plugin of the same name that {} does not own; rename or remove it",
                p.reference,
                crate::lock::LOCK_FILE
            ),
        });
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Configuration(format!("cannot create {}: {e}", dir.display())))?;
    // The lock first: a hot reload that the file writes below trigger then
    // checks them against the new entry (the last write, NAME.wasm, passes).
    let entry = LockEntry::of(p);
    lock.upsert(entry.clone());
    lock.write(dir)?;
    let toml_path = dir.join(format!("{name}.toml"));
    match &p.manifest {
        Some(m) => write_atomic(&toml_path, m)?,
        None => {
            let _ = std::fs::remove_file(&toml_path);
        }
    }
    write_atomic(&wasm_path, &p.wasm)?;
    Ok(entry)
}

/// Removes a locked plugin's files (it no longer verifies); the lock entry
/// stays, so the next successful sync restores them.
pub fn remove_files(dir: &Path, entry: &LockEntry) {
    for ext in ["wasm", "toml"] {
        let _ = std::fs::remove_file(dir.join(format!("{}.{ext}", entry.name)));
    }
}
