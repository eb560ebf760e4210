//! The audit file: JSON lines appended through a buffer on a thread of its
//! own, rotated by size (`path` → `path.1` → … → `path.N`, the oldest
//! dropped). Records arrive over a bounded channel; a burst is written, then
//! flushed once, so a record reaches the file as soon as the thread is free.

use super::line;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use toolhost_core::audit::AuditRecord;
use toolhost_core::observe::metrics;

/// What the writer thread is sent.
pub(crate) enum Msg {
    Record(AuditRecord),
    /// Flush, then answer.
    Flush(SyncSender<()>),
}

/// The open audit file and its rotation rule.
pub(crate) struct RotatingFile {
    path: PathBuf,
    file: BufWriter<File>,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl RotatingFile {
    /// Opens (creates, appends to) `path`; the error is the reason it cannot be written.
    pub(crate) fn open(path: &Path, max_bytes: u64, keep: u32) -> std::io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile { path: path.to_path_buf(), file: BufWriter::new(file), size, max_bytes, keep })
    }

    /// Appends one line, rotating first when it would take the file past `max_bytes`.
    pub(crate) fn write_line(&mut self, text: &[u8]) -> std::io::Result<()> {
        let len = text.len() as u64 + 1;
        if self.max_bytes > 0 && self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(text)?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// `path.{N-1}` → `path.N`, …, `path` → `path.1`, and a fresh `path`.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let numbered = |i: u32| {
            let mut s = self.path.clone().into_os_string();
            s.push(format!(".{i}"));
            PathBuf::from(s)
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for i in (1..self.keep).rev() {
                let from = numbered(i);
                if from.exists() {
                    std::fs::rename(&from, numbered(i + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = BufWriter::new(open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

/// The file opened for appending, created owner-only (`0600`) on Unix.
fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// The writer thread: until every sender is gone, write what arrives and
/// flush after each burst. Write errors are logged (once per run of
/// failures) and counted; they never stop the thread.
pub(crate) fn run(rx: Receiver<Msg>, mut file: RotatingFile, payloads: bool) {
    let mut failing = false;
    let handle = |msg: Msg, file: &mut RotatingFile, failing: &mut bool| match msg {
        Msg::Record(r) => {
            let text = line::to_json(&r, payloads).to_string();
            match file.write_line(text.as_bytes()) {
                Ok(()) => {
                    metrics::audit_record("written");
                    *failing = false;
                }
                Err(e) => {
                    metrics::audit_record("failed");
                    if !std::mem::replace(failing, true) {
                        tracing::error!(path = %file.path.display(), error = %e, "cannot write the audit trail");
                    }
                }
            }
        }
        Msg::Flush(ack) => {
            let _ = file.flush();
            let _ = ack.send(());
        }
    };
    while let Ok(msg) = rx.recv() {
        handle(msg, &mut file, &mut failing);
        while let Ok(more) = rx.try_recv() {
            handle(more, &mut file, &mut failing);
        }
        let _ = file.flush();
    }
    let _ = file.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_max_bytes_keeping_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut f = RotatingFile::open(&path, 25, 2).unwrap();
        for i in 0..5 {
            f.write_line(format!("line-{i}-0123456789").as_bytes()).unwrap(); // 18 bytes with \n
        }
        f.flush().unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&path), "line-4-0123456789\n");
        assert_eq!(read(&dir.path().join("audit.jsonl.1")), "line-3-0123456789\n");
        assert_eq!(read(&dir.path().join("audit.jsonl.2")), "line-2-0123456789\n");
        assert!(!dir.path().join("audit.jsonl.3").exists(), "keep = 2");
    }
}
