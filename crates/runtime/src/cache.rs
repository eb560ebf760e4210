//! Compile cache: precompiled components in a host-private folder, keyed by
//! the plugin's sha256 and the engine's compatibility hash (wasmtime version
//! and every codegen setting). A warm restart loads with an mmap instead of
//! compiling. Nothing from the plugin folder is ever deserialized.
//!
//! Deserializing an artifact runs its native code, so a file is not trusted
//! for being in the folder:
//! - the folder must be a directory owned by this user that nobody else can
//!   write (an existing folder writable by group or others is refused, not
//!   repaired: files may already have been planted); it is then made 0700;
//! - every entry `NAME.cwasm` has a tag `NAME.cwasm.tag`: HMAC-SHA256 under a
//!   per-host random key (`cache.key`, 0600, created atomically) over the entry's
//!   name and bytes, so an entry cannot be forged, altered or moved to another
//!   plugin's name without the key;
//! - an entry (owned by this user, writable by nobody else) is verified
//!   before it is mapped.
//!
//! Anything that fails is logged and costs a compile; a bad cache never fails
//! a plugin.

use super::mac::{hmac_sha256, same};
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bytes of the MAC key.
const KEY_LEN: usize = 32;
/// The key's file name in the cache folder.
const KEY_FILE: &str = "cache.key";
/// Domain separation of the tag.
const TAG_CONTEXT: &[u8] = b"toolhost compile cache v1\0";

/// Why the cache folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    /// A filesystem operation failed.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The folder or key is not private to this user.
    #[error("{} is not private to this user: {reason}", .path.display())]
    Insecure {
        /// The offending path.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CacheError + 'a {
    move |source| CacheError::Io { what, path: path.to_path_buf(), source }
}

#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
    key: [u8; KEY_LEN],
}

impl CompileCache {
    /// Opens the cache folder for this engine: creates it (0700) or checks an
    /// existing one, makes it 0700, and loads or creates the MAC key.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<CompileCache, CacheError> {
        create_private_dir(dir)?;
        perms::check(dir, perms::Kind::Dir)?;
        perms::make_private(dir)?;
        let key = load_or_create_key(dir)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache { dir: dir.to_path_buf(), engine_key: format!("{:016x}", h.finish()), key })
    }

    fn name(&self, digest: &str) -> String {
        format!("{digest}-{}.cwasm", self.engine_key)
    }

    fn tag(&self, name: &str, bytes: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.key, &[TAG_CONTEXT, name.as_bytes(), b"\0", bytes])
    }

    /// The cached component for `digest`, if present and authentic. An entry
    /// that fails a check is deleted (best effort) and treated as a miss.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let name = self.name(digest);
        let path = self.dir.join(&name);
        if !path.exists() {
            return None;
        }
        if let Err(e) = self.verify(&name, &path) {
            tracing::warn!(path = %path.display(), error = %e, "discarding compile-cache entry that fails its check; compiling");
            self.discard(&path);
            return None;
        }
        // SAFETY: the bytes were just authenticated as written by this host
        // (same key, same name) and wasmtime only maps what it serialized.
        // Between the check and the mmap the file could only be swapped by
        // someone who can write the folder; `open` made sure that is this user
        // alone (owned by us, 0700, refused otherwise), who can run code as us
        // anyway, and entries are only ever replaced by an atomic rename.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unreadable compile-cache entry");
                self.discard(&path);
                None
            }
        }
    }

    /// Checks ownership, permissions and the tag of one entry.
    fn verify(&self, name: &str, path: &Path) -> Result<(), String> {
        let mut file = perms::open_private(path, perms::Kind::File).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
        let tag_path = tag_path(path);
        let mut tag_file = perms::open_private(&tag_path, perms::Kind::File).map_err(|e| e.to_string())?;
        let mut tag = String::new();
        (&mut tag_file).take(128).read_to_string(&mut tag).map_err(|e| format!("cannot read tag: {e}"))?;
        let tag = hex::decode(tag.trim()).map_err(|_| "the tag is not hex".to_string())?;
        if !same(&tag, &self.tag(name, &bytes)) {
            return Err("the tag does not authenticate the entry (altered, forged or renamed)".into());
        }
        Ok(())
    }

    fn discard(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(tag_path(path));
    }

    /// Stores a compiled component with its tag (best effort: a failure only
    /// costs a recompile). Both files are published by an atomic rename; no
    /// fsync: an entry torn by a crash fails its tag and is recompiled.
    pub(crate) fn store(&self, digest: &str, component: &Component) {
        let name = self.name(digest);
        let result = component.serialize().map_err(|e| e.to_string()).and_then(|bytes| {
            let tag = hex::encode(self.tag(&name, &bytes));
            let path = self.dir.join(&name);
            publish(&self.dir, &path, &bytes)?;
            publish(&self.dir, &tag_path(&path), tag.as_bytes())
        });
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not write compile-cache entry");
        }
    }
}

fn tag_path(entry: &Path) -> PathBuf {
    let mut s = entry.as_os_str().to_os_string();
    s.push(".tag");
    PathBuf::from(s)
}

/// Writes `bytes` to a fresh 0600 temp file in `dir` and renames it to `path`.
fn publish(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = temp_name(dir);
    let written = perms::create_new_private(&tmp).and_then(|mut f| {
        use std::io::Write;
        f.write_all(bytes)
    });
    let result = written.and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("{}: {e}", path.display()))
}

fn temp_name(dir: &Path) -> PathBuf {
    dir.join(format!(".tmp.{}.{:016x}", std::process::id(), rand::random::<u64>()))
}

/// Creates `dir` (and missing parents) with mode 0700.
fn create_private_dir(dir: &Path) -> Result<(), CacheError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(io("cannot create the compile-cache folder", dir))
}

/// Reads the folder's MAC key, or creates it: random bytes written to a
/// private temp file, then hard-linked into place (never replacing a key
/// another process created meanwhile). A key that is not exactly
/// [`KEY_LEN`] bytes with mode 0600 is replaced by a fresh one (the entries
/// under the old key then fail their check and are recompiled).
fn load_or_create_key(dir: &Path) -> Result<[u8; KEY_LEN], CacheError> {
    let path = dir.join(KEY_FILE);
    for _ in 0..3 {
        match read_key(&path) {
            Ok(Some(key)) => return Ok(key),
            Ok(None) => {}
            Err(e @ CacheError::Insecure { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "compile-cache key unusable; creating a new one");
                std::fs::remove_file(&path).map_err(io("cannot remove the compile-cache key", &path))?;
            }
        }
        let mut key = [0u8; KEY_LEN];
        rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut key).map_err(|e| CacheError::Io {
            what: "cannot draw random bytes for",
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let tmp = temp_name(dir);
        let written = perms::create_new_private(&tmp).and_then(|mut f| {
            use std::io::Write;
            f.write_all(&key)
        });
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("cannot create the compile-cache key", &path)(e)),
        }
    }
    Err(CacheError::Io {
        what: "cannot settle on a key",
        path,
        source: std::io::Error::other("the key file keeps changing"),
    })
}

/// `Ok(None)` when there is no key yet; `Err(Io)` when the file is not a
/// usable key (wrong size, readable by others: replace it); `Err(Insecure)`
/// when it is not ours.
fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, CacheError> {
    let mut f = match perms::open_private(path, perms::Kind::File) {
        Ok(f) => f,
        Err(CacheError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = f.metadata().map_err(io("cannot inspect", path))?.mode() & 0o777;
        if mode & 0o077 != 0 {
            let e = std::io::Error::other(format!("mode {mode:03o}: readable by others"));
            return Err(io("compile-cache key exposed", path)(e));
        }
    }
    let mut key = [0u8; KEY_LEN];
    let mut rest = Vec::new();
    f.read_exact(&mut key)
        .and_then(|()| f.read_to_end(&mut rest))
        .map_err(io("cannot read the compile-cache key", path))?;
    if !rest.is_empty() {
        return Err(io("bad compile-cache key", path)(std::io::Error::other("not 32 bytes")));
    }
    Ok(Some(key))
}

/// Ownership and permission checks (no-ops off Unix).
mod perms {
    use super::{CacheError, io};
    use std::fs::File;
    use std::path::Path;

    /// What a path must be.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Kind {
        /// The cache folder: ours, writable by nobody else.
        Dir,
        /// An entry, tag or key: a regular file, ours, writable by nobody else.
        File,
    }

    #[cfg(unix)]
    pub(super) fn check_meta(path: &Path, meta: &std::fs::Metadata, kind: Kind) -> Result<(), CacheError> {
        use std::os::unix::fs::MetadataExt;
        let insecure = |reason: String| CacheError::Insecure { path: path.to_path_buf(), reason };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let right_type = if kind == Kind::Dir { meta.is_dir() } else { meta.is_file() };
        if !right_type {
            return Err(insecure(format!(
                "expected a {}",
                if kind == Kind::Dir { "directory" } else { "regular file" }
            )));
        }
        if meta.uid() != me {
            return Err(insecure(format!("owned by uid {}, not by this user (uid {me})", meta.uid())));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(insecure(format!("mode {mode:03o} lets group or others write it; run chmod go-w")));
        }
        Ok(())
    }

    /// Checks a path (following a symlink to the folder itself).
    pub(super) fn check(path: &Path, kind: Kind) -> Result<(), CacheError> {
        #[cfg(unix)]
        {
            let meta = std::fs::metadata(path).map_err(io("cannot inspect", path))?;
            check_meta(path, &meta, kind)?;
        }
        let _ = (path, kind);
        Ok(())
    }

    /// `chmod 0700`; a failure is an error, never ignored.
    pub(super) fn make_private(dir: &Path) -> Result<(), CacheError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io("cannot make the compile-cache folder private (chmod 0700)", dir))?;
        }
        let _ = dir;
        Ok(())
    }

    /// Opens a file for reading without following a symlink, and checks the
    /// opened file itself (no race between check and read).
    pub(super) fn open_private(path: &Path, kind: Kind) -> Result<File, CacheError> {
        let mut o = std::fs::OpenOptions::new();
        o.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut o, libc::O_NOFOLLOW);
        let f = o.open(path).map_err(io("cannot open", path))?;
        #[cfg(unix)]
        check_meta(path, &f.metadata().map_err(io("cannot inspect", path))?, kind)?;
        let _ = kind;
        Ok(f)
    }

    /// Creates a new file (failing if it exists) readable by this user only.
    pub(super) fn create_new_private(path: &Path) -> std::io::Result<File> {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(path)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_key_is_private_stable_and_replaced_when_damaged() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("cache");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let k1 = load_or_create_key(&dir).unwrap();
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(load_or_create_key(&dir).unwrap(), k1, "the same key on every start");
        std::fs::write(dir.join(KEY_FILE), b"short").unwrap();
        let k2 = load_or_create_key(&dir).unwrap();
        assert_ne!(k2, k1);
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_ne!(load_or_create_key(&dir).unwrap(), k2, "an exposed key is replaced");
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        std::fs::set_permissions(dir.join(KEY_FILE), std::fs::Permissions::from_mode(0o662)).unwrap();
        assert!(matches!(read_key(&dir.join(KEY_FILE)), Err(CacheError::Insecure { .. })));
    }

    #[test]
    fn folders_writable_by_others_and_symlinked_entries_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(perms::check(d.path(), perms::Kind::Dir), Err(CacheError::Insecure { .. })));
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        perms::check(d.path(), perms::Kind::Dir).unwrap();
        let target = d.path().join("real");
        std::fs::write(&target, b"x").unwrap();
        std::os::unix::fs::symlink(&target, d.path().join("link")).unwrap();
        assert!(perms::open_private(&d.path().join("link"), perms::Kind::File).is_err());
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(perms::open_private(&target, perms::Kind::File), Err(CacheError::Insecure { .. })));
    }
}
