//! What each `[[sources]]` entry comes to while a host runs: the outcome of
//! the sync at start, brought up to date when `toolhost.lock` changes (an
//! operator's `toolhost pull` into the served folder accepts a moved tag or
//! installs a source that failed at start). Each changed entry is re-verified
//! offline with its source's trust, as the load gate does.

use crate::lock::{LOCK_FILE, Lock, LockEntry};
use crate::pull::Trust;
use crate::sources::{SourceConfig, SourceStatus};
use crate::verify::{Require, verify_entry};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;
use toolhost_core::error::Error;

/// When and how big the lock file was; `None` when there is none.
type Stamp = Option<(SystemTime, u64)>;
/// Per source: the lock entry last seen, and the status.
type Seen = Vec<(Option<LockEntry>, SourceStatus)>;

/// The source statuses of a running host.
#[derive(Debug)]
pub struct SourceBoard {
    sources: Vec<SourceConfig>,
    dir: PathBuf,
    /// The lock's stamp, and per source the entry last seen and its status.
    state: Mutex<(Stamp, Seen)>,
}

fn stamp(dir: &std::path::Path) -> Stamp {
    let m = std::fs::metadata(dir.join(LOCK_FILE)).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl SourceBoard {
    /// The board for `sources` synced into `dir`, `at_start` their outcomes.
    pub fn new(sources: Vec<SourceConfig>, dir: PathBuf, at_start: Vec<SourceStatus>) -> SourceBoard {
        let s = stamp(&dir);
        let lock = Lock::read(&dir).unwrap_or_default();
        let seen = at_start.into_iter().map(|st| (lock.get(&st.source).cloned(), st)).collect();
        SourceBoard { sources, dir, state: Mutex::new((s, seen)) }
    }

    /// The current statuses (re-read only when the lock file changed).
    pub fn statuses(&self) -> Vec<SourceStatus> {
        let now = stamp(&self.dir);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now != state.0 {
            match Lock::read(&self.dir) {
                Ok(lock) => {
                    let fresh = self.refresh(&lock, &state.1);
                    *state = (now, fresh);
                }
                Err(e) => tracing::warn!("cannot read the lock to refresh source statuses: {e}"),
            }
        }
        state.1.iter().map(|(_, st)| st.clone()).collect()
    }

    fn refresh(&self, lock: &Lock, old: &[(Option<LockEntry>, SourceStatus)]) -> Seen {
        old.iter()
            .map(|(seen, st)| {
                let now = lock.get(&st.source).cloned();
                let Some(cfg) = self.sources.iter().find(|c| c.reference == st.source) else {
                    return (now, st.clone());
                };
                let st = match &now {
                    Some(e) if seen.as_ref() == Some(e) => st.clone(),
                    Some(e) => {
                        let verdict = cfg.trust().and_then(|t| verify_entry(&self.dir, e, require(&t)));
                        log_change(&st.source, &e.digest, &verdict);
                        let (plugin, digest) = (Some(e.name.clone()), Some(e.digest.clone()));
                        status(st, verdict.is_ok(), plugin, digest, verdict.err())
                    }
                    None if st.serving => {
                        let gone = Error::PluginLoad {
                            path: self.dir.join(LOCK_FILE),
                            reason: format!("{} is no longer in the lock", st.source),
                        };
                        status(st, false, None, None, Some(gone))
                    }
                    None => st.clone(),
                };
                (now, st)
            })
            .collect()
    }
}

fn require(t: &Trust) -> Require<'_> {
    match t {
        Trust::Key(k) => Require::Key(k),
        Trust::Identity(k) => Require::Identity(k),
        Trust::InsecureUnsigned => Require::Recorded,
    }
}

fn status(
    old: &SourceStatus,
    serving: bool,
    plugin: Option<String>,
    digest: Option<String>,
    problem: Option<Error>,
) -> SourceStatus {
    SourceStatus {
        source: old.source.clone(),
        serving,
        plugin,
        digest,
        code: problem.as_ref().map(|p| p.code().as_str().to_string()),
        message: problem.map(|p| p.to_string()),
    }
}

fn log_change(source: &str, digest: &str, verdict: &Result<(), Error>) {
    match verdict {
        Ok(()) => tracing::info!(source, digest, "source re-locked while serving; verified"),
        Err(e) => {
            tracing::warn!(source, digest, code = %e.code(), "source re-locked while serving does not verify: {e}")
        }
    }
}
