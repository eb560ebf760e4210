//! The audit trail (`[audit]`): one JSON line per tool call — every entry
//! point (HTTP API, MCP, CLI, batches, DAG steps, durable runs) passes
//! through [`Host`](crate::Host), which records it — and per operator action
//! ([`Audit::admin`]).
//!
//! Recording costs the calling thread a few allocations and a channel send:
//! digests, formatting and file IO happen on the writer's own thread. When
//! its queue (`queue` records) is full the record is dropped and counted in
//! `toolhost_audit_records_total{result="dropped"}`; a call never waits for
//! the audit file. [`flush_all`] (the CLI calls it before exiting) writes
//! everything queued.

mod line;
mod writer;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use toolhost_core::audit::{AdminAudit, AuditRecord, AuditSink};
use toolhost_core::check::{Problems, join};
use toolhost_core::error::{Error, Result};
use toolhost_core::observe::metrics;
use writer::{Msg, RotatingFile};

/// `[audit]`: where the audit trail goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// File the JSON lines are appended to (created `0600`). A path that
    /// cannot be opened for writing stops the host at start. Default: none
    /// (no audit trail).
    pub path: Option<PathBuf>,
    /// Size at which the file is rotated (`path` → `path.1` → … →
    /// `path.<keep>`), bytes; 0 never rotates. Default: 104857600 (100 MiB).
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` … `path.<keep>`; 0: the full file is
    /// deleted). Default: 5.
    pub keep: u32,
    /// Also record argument and result text (and error messages). Default:
    /// false (only their SHA-256 and the error code).
    pub payloads: bool,
    /// Records waiting for the writer before new ones are dropped (and
    /// counted). Default: 8192.
    pub queue: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { path: None, max_bytes: 100 << 20, keep: 5, payloads: false, queue: 8192 }
    }
}

impl AuditConfig {
    /// Problems of the section, at their key paths.
    pub fn check(&self, path: &str, p: &mut Problems) {
        p.at_least_one(self.queue as u64, join(path, "queue"));
        let empty = self.path.as_ref().is_some_and(|p| p.as_os_str().is_empty());
        p.require(!empty, join(path, "path"), "must not be empty");
    }
}

/// The host's audit trail: a cheap handle (clone it freely). Disabled unless
/// `[audit] path` is set or a sink is given.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    sink: Option<Arc<dyn AuditSink>>,
}

impl Audit {
    /// Opens the trail `cfg` describes: the file is opened now (an unwritable
    /// path is a `CONFIGURATION_ERROR` naming it) and its writer thread started.
    pub fn open(cfg: &AuditConfig) -> Result<Audit> {
        let Some(path) = &cfg.path else { return Ok(Audit::default()) };
        let file = RotatingFile::open(path, cfg.max_bytes, cfg.keep).map_err(|e| {
            Error::Configuration(format!("audit.path: cannot open {} for writing: {e}", path.display()))
        })?;
        let (tx, rx) = sync_channel(cfg.queue.max(1));
        let payloads = cfg.payloads;
        std::thread::Builder::new()
            .name("toolhost-audit".into())
            .spawn(move || writer::run(rx, file, payloads))
            .map_err(|e| Error::Internal(format!("cannot start the audit writer: {e}")))?;
        let sink = Arc::new(FileSink { tx });
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&sink));
        Ok(Audit { sink: Some(sink) })
    }

    /// `sink` when given, else the trail `cfg` describes ([`open`](Self::open)).
    pub fn of(sink: Option<Arc<dyn AuditSink>>, cfg: &AuditConfig) -> Result<Audit> {
        sink.map_or_else(|| Audit::open(cfg), |s| Ok(Audit::with_sink(s)))
    }

    /// Sends every record to `sink` instead (an embedder's own trail).
    pub fn with_sink(sink: Arc<dyn AuditSink>) -> Audit {
        Audit { sink: Some(sink) }
    }

    /// Whether anything is recorded.
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Records one record (nothing when disabled; never blocks).
    pub fn record(&self, record: AuditRecord) {
        if let Some(s) = &self.sink {
            s.record(record);
        }
    }

    /// Records an operator action: `principal` (token subject or
    /// static-token name) did `action` (`reload`, `plugin.disable`, …) to
    /// `target` (`plugin:text`, `tenant:acme`, …) with `outcome` (`ok` or an
    /// error code).
    pub fn admin(&self, principal: &str, action: &str, target: &str, outcome: &str) {
        if self.enabled() {
            self.record(AuditRecord::Admin(AdminAudit {
                time: SystemTime::now(),
                principal: principal.into(),
                action: action.into(),
                target: target.into(),
                outcome: outcome.into(),
            }));
        }
    }
}

/// An `Audit` is a sink too: a host rebuilt on reload keeps the running
/// trail with `HostBuilder::audit_sink(Arc::new(old.audit().clone()))`.
impl AuditSink for Audit {
    fn record(&self, record: AuditRecord) {
        Audit::record(self, record);
    }
}

/// Every file sink of the process, for [`flush_all`].
static LIVE: Mutex<Vec<Weak<FileSink>>> = Mutex::new(Vec::new());

/// Writes out everything every audit file of the process has queued (waits
/// at most 5 s per file). Call it before the process exits.
pub fn flush_all() {
    let live: Vec<Arc<FileSink>> = {
        let mut l = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        l.retain(|w| w.strong_count() > 0);
        l.iter().filter_map(Weak::upgrade).collect()
    };
    for s in live {
        s.flush(Duration::from_secs(5));
    }
}

/// The queue in front of one writer thread.
#[derive(Debug)]
struct FileSink {
    tx: SyncSender<Msg>,
}

impl FileSink {
    fn flush(&self, wait: Duration) {
        let (ack, done) = sync_channel(1);
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(wait);
        }
    }
}

impl AuditSink for FileSink {
    fn record(&self, record: AuditRecord) {
        match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                metrics::audit_record("dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // A writer that never reads: the second record finds the queue (1) full.
        let (tx, _stalled) = sync_channel(1);
        let sink = FileSink { tx };
        let before = metrics::audit_records("dropped");
        for _ in 0..3 {
            sink.record(AuditRecord::Admin(AdminAudit {
                time: SystemTime::now(),
                principal: "p".into(),
                action: "a".into(),
                target: "t".into(),
                outcome: "ok".into(),
            }));
        }
        assert_eq!(metrics::audit_records("dropped") - before, 2);
    }

    #[test]
    fn admin_actions_are_lines_and_flush_all_writes_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let cfg = AuditConfig { path: Some(path.clone()), ..AuditConfig::default() };
        let audit = Audit::open(&cfg).unwrap();
        audit.admin("ops-root", "plugin.disable", "plugin:text", "ok");
        flush_all();
        let v: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(
            (&v["kind"], &v["principal"], &v["action"], &v["target"], &v["outcome"]),
            (
                &"admin".into(),
                &"ops-root".into(),
                &"plugin.disable".into(),
                &"plugin:text".into(),
                &"ok".into()
            )
        );
        let bad = AuditConfig { path: Some(dir.path().join("missing/audit.jsonl")), ..cfg };
        let e = Audit::open(&bad).unwrap_err().to_string();
        assert!(e.contains("audit.path: cannot open") && e.contains("missing/audit.jsonl"), "{e}");
    }
}
