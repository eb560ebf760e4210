//! An MCP server as a child process speaking MCP on its stdin/stdout.
//!
//! The child starts with a cleared environment plus the host's `PATH` and
//! `HOME` and the entry's `env` (secrets resolved at connect); it is killed
//! when its connection is dropped. Its stderr goes to `tracing` at debug,
//! line by line (each line cut at [`MAX_STDERR_LINE`] bytes), and the last
//! lines are kept for the health report of a server that died.

use super::error::ConnectError;
use super::routes::bounded_to;
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// Longest stderr line logged, bytes.
const MAX_STDERR_LINE: usize = 1024;

/// Stderr lines kept for the health report.
const STDERR_TAIL_LINES: usize = 5;

/// How to start the server.
#[derive(Clone)]
pub(crate) struct StdioSpec {
    /// Program and arguments.
    pub(crate) command: Vec<String>,
    /// The child's whole environment (`PATH`, `HOME`, the entry's `env`).
    pub(crate) env: Vec<(String, String)>,
}

impl std::fmt::Debug for StdioSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StdioSpec").field("command", &self.command).field("env", &names).finish()
    }
}

/// The last lines a child wrote to stderr.
#[derive(Debug, Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lines.len() == STDERR_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines joined by ` | `, or `None` when there are none.
    pub(crate) fn text(&self) -> Option<String> {
        let lines = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (!lines.is_empty()).then(|| lines.iter().cloned().collect::<Vec<_>>().join(" | "))
    }
}

/// A started child: the process, its pipes and its stderr tail.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) stdout: ChildStdout,
    pub(crate) stdin: ChildStdin,
    pub(crate) stderr: StderrTail,
}

impl StdioSpec {
    /// The spec for `command` with `env` (already resolved) on top of the
    /// host's `PATH` and `HOME`.
    pub(crate) fn new(command: Vec<String>, entry_env: Vec<(String, String)>) -> Self {
        let mut env: Vec<(String, String)> = ["PATH", "HOME"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        env.retain(|(k, _)| !entry_env.iter().any(|(e, _)| e == k));
        env.extend(entry_env);
        StdioSpec { command, env }
    }

    /// Starts the child (stderr drained into `tracing` by a task).
    pub(crate) fn spawn(&self, upstream: &Arc<str>) -> Result<Spawned, ConnectError> {
        let (program, args) = self.command.split_first().ok_or(ConnectError::NoCommand)?;
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ConnectError::Spawn { program: program.clone(), reason: e.to_string() })?;
        let pid = child.id();
        let (Some(stdout), Some(stdin), Some(stderr)) =
            (child.stdout.take(), child.stdin.take(), child.stderr.take())
        else {
            return Err(ConnectError::Spawn { program: program.clone(), reason: "no pipes".into() });
        };
        let tail = StderrTail::default();
        tokio::spawn(drain_stderr(upstream.clone(), pid, stderr, tail.clone()));
        tracing::debug!(upstream = &**upstream, pid, program, "started MCP server");
        Ok(Spawned { child, stdout, stdin, stderr: tail })
    }
}

/// Logs the child's stderr line by line (lines cut at [`MAX_STDERR_LINE`]
/// bytes) until it closes.
async fn drain_stderr(upstream: Arc<str>, pid: Option<u32>, mut stderr: ChildStderr, tail: StderrTail) {
    let mut buf = [0u8; 4096];
    let mut line: Vec<u8> = Vec::new();
    let emit = |line: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line);
        let text = bounded_to(text.trim_end_matches('\r'), MAX_STDERR_LINE);
        tracing::debug!(target: "toolhost::upstream", upstream = &*upstream, pid, "stderr: {text}");
        tail.push(text);
        line.clear();
    };
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                emit(&mut line);
            } else if line.len() <= MAX_STDERR_LINE {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        emit(&mut line);
    }
}
