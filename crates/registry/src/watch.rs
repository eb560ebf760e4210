//! Hot reload: a debounced watcher on the plugin folder.
//!
//! Bursts of writes and renames are coalesced (250 ms); each affected plugin
//! (its `.wasm` or its `.toml` manifest) is then re-read once. A half-written
//! file fails validation and the last good version keeps serving until a
//! complete write arrives.
//!
//! Only changes count: opening or reading a file is not one. (The watch also
//! reports opens, the loader's own included; reacting to them made every load
//! set off the next, every 250 ms, forever.) The registry also skips files
//! unchanged since their last attempt, so a broken file is tried once per change.

use super::Registry;
use notify::RecursiveMode;
use notify::event::{AccessKind, AccessMode, EventKind};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Debounce window for file events.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(250);

/// Keeps the watch alive; dropping it stops hot reload.
pub struct Watcher {
    _debouncer: std::sync::Mutex<Box<dyn std::any::Any + Send>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The plugin file (`x.wasm` / `x.cwasm`) an event path refers to, if any.
fn plugin_file(dir: &Path, path: &Path) -> Option<String> {
    if path.parent()? != dir {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    match path.extension()?.to_str()? {
        "wasm" | "toml" => Some(format!("{stem}.wasm")),
        "cwasm" => Some(format!("{stem}.cwasm")),
        _ => None,
    }
}

/// Whether an event can mean a plugin changed: everything but opens, reads
/// and closes without writing.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Starts watching the registry's folder.
pub fn watch(registry: Arc<Registry>) -> notify::Result<Watcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BTreeSet<String>>();
    let dir = std::fs::canonicalize(registry.dir()).unwrap_or_else(|_| registry.dir().to_path_buf());
    let handler_dir = dir.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| match res {
        Ok(events) => {
            let files: BTreeSet<String> = events
                .iter()
                .filter(|e| is_change(&e.kind))
                .flat_map(|e| e.paths.iter())
                .filter_map(|p| plugin_file(&handler_dir, p))
                .collect();
            if !files.is_empty() {
                let _ = tx.send(files);
            }
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!(error = %e, "plugin folder watch error");
            }
        }
    })?;
    debouncer.watch(&dir, RecursiveMode::NonRecursive)?;
    let task = tokio::spawn(async move {
        while let Some(mut files) = rx.recv().await {
            // Coalesce whatever else is already queued.
            while let Ok(more) = rx.try_recv() {
                files.extend(more);
            }
            tracing::debug!(?files, "plugin folder changed");
            // A panic in one reload (a host bug, or the embedder's progress
            // callback) is logged; it must not end hot reload for good.
            let reload = std::panic::AssertUnwindSafe(registry.reload_files(files.into_iter().collect()));
            if let Err(panic) = futures::FutureExt::catch_unwind(reload).await {
                let why = super::panic_message(panic.as_ref());
                tracing::error!(panic = %why, "plugin reload panicked; watching goes on");
            }
        }
    });
    Ok(Watcher { _debouncer: std::sync::Mutex::new(Box::new(debouncer)), task })
}

#[cfg(test)]
mod tests {
    use super::plugin_file;
    use std::path::Path;

    #[test]
    fn opening_and_reading_are_no_change() {
        use super::is_change;
        use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!is_change(&EventKind::Access(AccessKind::Read)));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Remove(notify::event::RemoveKind::File)));
    }

    #[test]
    fn maps_wasm_and_manifest_events_to_the_plugin() {
        let d = Path::new("/p");
        assert_eq!(plugin_file(d, Path::new("/p/a.wasm")).as_deref(), Some("a.wasm"));
        assert_eq!(plugin_file(d, Path::new("/p/a.toml")).as_deref(), Some("a.wasm"));
        assert_eq!(plugin_file(d, Path::new("/p/a.cwasm")).as_deref(), Some("a.cwasm"));
        assert_eq!(plugin_file(d, Path::new("/p/a.txt")), None);
        assert_eq!(plugin_file(d, Path::new("/p/sub/a.wasm")), None);
    }
}
