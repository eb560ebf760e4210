//! Bounded capture of guest stdout/stderr.
//!
//! A guest may write without limit; every write is accepted (so `println!`
//! never fails inside the guest), the first and last `cap / 2` bytes are kept
//! and the rest is only counted. Control characters are escaped before the
//! text leaves the host (logs, error messages).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Debug, Default)]
struct Capture {
    half: usize,
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl Capture {
    fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < self.half {
            let n = (self.half - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if self.half == 0 || bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.half {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - self.half..]);
        } else {
            let overflow = (self.tail.len() + bytes.len()).saturating_sub(self.half);
            self.tail.drain(..overflow);
            self.tail.extend(bytes);
        }
    }
}

/// A cloneable, bounded sink for one call's stdout or stderr.
#[derive(Debug, Clone)]
pub(crate) struct CapturedOutput(Arc<Mutex<Capture>>);

impl CapturedOutput {
    /// Keeps at most `cap` bytes (half head, half tail).
    pub(crate) fn new(cap: usize) -> Self {
        CapturedOutput(Arc::new(Mutex::new(Capture { half: cap / 2, ..Default::default() })))
    }

    /// Forgets everything written (a warm instance starting its next call).
    pub(crate) fn reset(&self) {
        let mut c = self.0.lock().unwrap();
        c.head.clear();
        c.tail.clear();
        c.total = 0;
    }

    /// Bytes written in total (kept or not).
    pub(crate) fn total(&self) -> u64 {
        self.0.lock().unwrap().total
    }

    /// The kept text: head, a `[… N bytes dropped …]` marker if needed, tail.
    /// Control characters other than newline and tab are escaped.
    pub(crate) fn text(&self) -> String {
        let c = self.0.lock().unwrap();
        let kept = c.head.len() as u64 + c.tail.len() as u64;
        let mut out = escape_control(&String::from_utf8_lossy(&c.head));
        if c.total > kept {
            out.push_str(&format!("\n[… {} bytes dropped …]\n", c.total - kept));
        }
        let tail: Vec<u8> = c.tail.iter().copied().collect();
        out.push_str(&escape_control(&String::from_utf8_lossy(&tail)));
        out
    }

    /// The last `n` characters of the kept text.
    pub(crate) fn tail_text(&self, n: usize) -> String {
        let t = self.text();
        let count = t.chars().count();
        t.chars().skip(count.saturating_sub(n)).collect()
    }
}

pub(crate) use toolhost_core::text::escape_control;

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.0.lock().unwrap().push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.lock().unwrap().push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_and_counts_the_rest() {
        let c = CapturedOutput::new(8);
        let mut s = c.clone();
        for chunk in [&b"abcd"[..], b"efgh", b"ijkl", b"mn"] {
            s.write(bytes::Bytes::copy_from_slice(chunk)).unwrap();
        }
        assert_eq!(c.total(), 14);
        let t = c.text();
        assert!(t.starts_with("abcd"), "{t}");
        assert!(t.ends_with("klmn"), "{t}");
        assert!(t.contains("6 bytes dropped"), "{t}");
    }

    #[test]
    fn escapes_ansi_and_control_characters() {
        assert_eq!(escape_control("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\n");
    }
}
