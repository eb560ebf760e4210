//! The registry's bookkeeping: one slot per plugin, the rule that settles
//! tool-name conflicts, and the snapshot built from the slots.
//!
//! Conflicts: a plugin that serves a tool is its *incumbent*. A new file (or
//! a new version) claiming a tool another plugin serves is refused as a
//! whole, with an error naming both files; the incumbent keeps serving, and
//! the refused version takes over by itself once those tools are free. Only
//! when nothing is incumbent (at startup, or for a name nobody serves) is an
//! ambiguous name refused for every claimant.

use super::{Catalog, Plugin, PluginState, PluginStatus, ToolEntry};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use toolhost_core::error::Error;

/// One plugin file (or in-memory plugin).
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) path: PathBuf,
    /// The version being served.
    pub(super) good: Option<Arc<Plugin>>,
    /// Why the newest version is not the one served.
    pub(super) error: Option<Error>,
    /// The newest version, loaded but refused because other plugins serve
    /// some of its tools; it is promoted when they are free.
    pub(super) blocked: Option<Arc<Plugin>>,
    /// The files as they were at the last load attempt: an unchanged file is
    /// not tried (nor reported) again.
    pub(super) seen: Option<Fingerprint>,
}

impl Slot {
    pub(super) fn new(path: PathBuf) -> Slot {
        Slot { path, good: None, error: None, blocked: None, seen: None }
    }

    /// Whether a load attempt of files looking like `now` would repeat the
    /// last one: same files, and the last outcome was no failure that may
    /// pass on a retry (a full instance pool, say).
    pub(super) fn unchanged(&self, now: &Fingerprint) -> bool {
        self.seen.as_ref() == Some(now) && !self.error.as_ref().is_some_and(Error::retryable)
    }
}

/// A plugin's files (the `.wasm` and its `.toml`) as `stat` sees them: size,
/// modification and change times, inode. Taken without opening anything, so
/// taking it sets off no watch event, and before reading, so a write racing
/// the read changes it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fingerprint {
    wasm: Option<Stamp>,
    manifest: Option<Stamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    /// (device, inode, ctime s, ctime ns): a rename over the file or a chmod changes it.
    id: (u64, u64, i64, i64),
}

impl Fingerprint {
    /// The fingerprint of plugin file `wasm` and its manifest.
    pub(super) fn of(wasm: &Path) -> Fingerprint {
        Fingerprint { wasm: stamp(wasm), manifest: stamp(&wasm.with_extension("toml")) }
    }

    /// Whether the plugin file exists.
    pub(super) fn exists(&self) -> bool {
        self.wasm.is_some()
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let id = {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino(), m.ctime(), m.ctime_nsec())
    };
    #[cfg(not(unix))]
    let id = (0, 0, 0, 0);
    Some(Stamp { len: m.len(), modified: m.modified().ok(), id })
}

/// Tool name → name of the plugin serving it.
pub(super) type Owners = BTreeMap<String, String>;

/// Who serves what in `cat`.
pub(super) fn owners(cat: &Catalog) -> Owners {
    cat.tools.iter().map(|(t, e)| (t.clone(), e.plugin.name.clone())).collect()
}

/// The tools of `plugin` (for slot `name`) that another existing plugin
/// serves according to `owners`, as `(tool, owner)`.
pub(super) fn conflicts(
    slots: &BTreeMap<String, Slot>,
    owners: &Owners,
    name: &str,
    plugin: &Plugin,
) -> Vec<(String, String)> {
    plugin
        .tools
        .iter()
        .filter_map(|t| {
            let owner = owners.get(&t.name)?;
            (owner != name && slots.contains_key(owner)).then(|| (t.name.clone(), owner.clone()))
        })
        .collect()
}

/// The refusal of a version whose tools `clashes` other plugins serve.
pub(super) fn conflict_error(
    slots: &BTreeMap<String, Slot>,
    plugin: &Plugin,
    clashes: &[(String, String)],
) -> Error {
    let list: Vec<String> = clashes
        .iter()
        .map(|(tool, owner)| {
            let file = slots.get(owner).map_or_else(|| owner.clone(), |s| s.path.display().to_string());
            format!("'{tool}' by plugin '{owner}' ({file})")
        })
        .collect();
    Error::PluginLoad {
        path: plugin.path.clone(),
        reason: format!(
            "refused: tools it declares are already served by another plugin, which keeps serving them: {}; rename the tools or remove one of the files",
            list.join(", ")
        ),
    }
}

/// Accepts a loaded version into its slot, or refuses it (kept as `blocked`,
/// the last good version still serving) when incumbents serve its tools.
/// `Err` carries the refusal.
pub(super) fn accept(
    slots: &mut BTreeMap<String, Slot>,
    owners: &Owners,
    name: &str,
    path: PathBuf,
    plugin: Arc<Plugin>,
) -> Result<(), Error> {
    let clashes = conflicts(slots, owners, name, &plugin);
    let refusal = (!clashes.is_empty()).then(|| conflict_error(slots, &plugin, &clashes));
    let slot = slots.entry(name.to_string()).or_insert_with(|| Slot::new(path.clone()));
    slot.path = path;
    match refusal {
        None => {
            slot.good = Some(plugin);
            slot.error = None;
            slot.blocked = None;
            Ok(())
        }
        Some(e) => {
            slot.blocked = Some(plugin);
            slot.error = Some(e.clone());
            Err(e)
        }
    }
}

/// Records a failed load: the last good version keeps serving.
pub(super) fn fail(slots: &mut BTreeMap<String, Slot>, name: &str, path: PathBuf, e: Error) {
    let slot = slots.entry(name.to_string()).or_insert_with(|| Slot::new(path));
    slot.error = Some(e);
    slot.blocked = None;
}

/// Promotes refused versions whose contested tools nobody serves any more
/// (in name order, one at a time); returns their names.
pub(super) fn promote(slots: &mut BTreeMap<String, Slot>, prev: &Owners) -> Vec<String> {
    let mut promoted = Vec::new();
    loop {
        let served = owners(&build(slots, prev));
        let free = slots.iter().find_map(|(name, s)| {
            let p = s.blocked.as_ref()?;
            conflicts(slots, &served, name, p).is_empty().then(|| name.clone())
        });
        let Some(name) = free else { return promoted };
        let slot = slots.get_mut(&name).expect("found above");
        slot.good = slot.blocked.take();
        slot.error = None;
        promoted.push(name);
    }
}

/// Builds the snapshot. A tool claimed by several served versions goes to its
/// previous owner (`prev`) if that is one of them; otherwise to none of them,
/// and every claimant's status names all of them.
pub(super) fn build(slots: &BTreeMap<String, Slot>, prev: &Owners) -> Catalog {
    let mut claims: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, slot) in slots {
        for t in slot.good.iter().flat_map(|p| p.tools.iter()) {
            claims.entry(&t.name).or_default().push(name);
        }
    }
    let mut tools = super::ToolMap::default();
    let mut plugins = Vec::with_capacity(slots.len());
    let mut served_plugins = BTreeMap::new();
    for (name, slot) in slots {
        if let Some(p) = &slot.good {
            served_plugins.insert(name.clone(), p.clone());
        }
        let mut errors: Vec<Error> = slot.error.iter().cloned().collect();
        let mut served = vec![];
        let mut lost = vec![];
        if let Some(p) = &slot.good {
            for t in &p.tools {
                let claimants = &claims[t.name.as_str()];
                let incumbent = prev.get(&t.name).filter(|o| claimants.contains(&o.as_str()));
                if claimants.len() == 1 || incumbent == Some(name) {
                    served.push(t.name.clone());
                    tools.insert(t.name.clone(), ToolEntry { tool: t.clone(), plugin: p.clone() });
                } else if let Some(owner) = incumbent {
                    lost.push((t.name.clone(), owner.clone()));
                } else {
                    errors.push(Error::DuplicateTool {
                        tool: t.name.clone(),
                        plugins: claimants.iter().map(|s| s.to_string()).collect(),
                    });
                }
            }
            if !lost.is_empty() {
                errors.push(conflict_error(slots, p, &lost));
            }
        }
        let state = match (&slot.good, &slot.error) {
            (Some(_), None) => PluginState::Loaded,
            (Some(_), Some(_)) => PluginState::Stale,
            (None, _) => PluginState::Failed,
        };
        plugins.push(PluginStatus {
            name: name.clone(),
            path: slot.path.clone(),
            state,
            digest: slot.good.as_ref().map(|p| p.digest.clone()),
            tools: served,
            errors,
            disabled: false,
        });
    }
    Catalog { tools, plugins, served: served_plugins, hidden: BTreeMap::new() }
}

/// `cat` without the tools of `disabled` plugins (they move to `hidden`).
pub(super) fn hide(mut cat: Catalog, disabled: &std::collections::BTreeSet<String>) -> Catalog {
    if disabled.is_empty() {
        return cat;
    }
    let gone: Vec<String> =
        cat.tools.iter().filter(|(_, e)| disabled.contains(&e.plugin.name)).map(|(t, _)| t.clone()).collect();
    for tool in gone {
        if let Some(e) = cat.tools.remove(&tool) {
            cat.hidden.insert(tool, e.plugin.name.clone());
        }
    }
    cat.served.retain(|name, _| !disabled.contains(name));
    for p in &mut cat.plugins {
        p.disabled = disabled.contains(&p.name);
    }
    cat
}
