//! One upstream tool as the host serves it: its source, compiled schemas,
//! the digest that keys its cache entries, and the source's concurrency limit.

use crate::listing::ToolListing;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use toolhost_core::{CallStats, Error, ToolOutput};
use toolhost_exec::AttemptSpec;
use toolhost_registry::schema::Schema;
use toolhost_upstream::{Source, UpstreamCall, UpstreamTool};

/// An upstream tool, ready to call.
#[derive(Debug)]
pub struct UpstreamEntry {
    /// The tool as its source lists it.
    pub tool: Arc<UpstreamTool>,
    /// The source serving it.
    pub source: Arc<dyn Source>,
    pub(crate) input: Schema,
    pub(crate) output: Option<Schema>,
    /// SHA-256 of the source's name and the tool's description (cache keys).
    pub(crate) digest: String,
    /// The source's `max_concurrency`, shared by all its tools.
    pub(crate) limit: Option<Arc<Semaphore>>,
    /// The source's `timeout_ms`.
    pub(crate) timeout: Duration,
}

impl UpstreamEntry {
    /// Compiles `tool`'s schemas; a schema that does not compile leaves the
    /// tool out (logged), like a plugin tool with a bad schema.
    pub(crate) fn new(
        tool: Arc<UpstreamTool>,
        source: Arc<dyn Source>,
        limit: Option<Arc<Semaphore>>,
        timeout: Duration,
    ) -> Result<UpstreamEntry, String> {
        let input =
            Schema::compile(&tool.input_schema.to_string()).map_err(|e| format!("input schema: {e}"))?;
        let output = match &tool.output_schema {
            Some(s) => Some(Schema::compile(&s.to_string()).map_err(|e| format!("output schema: {e}"))?),
            None => None,
        };
        let mut h = Sha256::new();
        for part in [tool.source.as_str(), &tool.remote_name, &tool.input_schema.to_string()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let digest = hex::encode(h.finalize());
        Ok(UpstreamEntry { tool, source, input, output, digest, limit, timeout })
    }

    /// How front doors list it.
    pub fn listing(&self) -> ToolListing {
        let t = &self.tool;
        ToolListing {
            name: t.name.clone(),
            namespace: Some(t.source.clone()),
            description: t.description.clone(),
            input_schema: t.input_schema.clone(),
            output_schema: t.output_schema.clone(),
            idempotent: t.idempotent,
            source: self.source.kind().as_str(),
            origin: t.source.clone(),
            title: None,
            annotations: None,
            icons: vec![],
            long_running: false,
        }
    }

    /// One attempt: a slot under the source's `max_concurrency` (waiting at
    /// most the attempt's budget), then the upstream call, bounded by the
    /// same budget whatever the source does.
    pub(crate) async fn attempt(&self, a: AttemptSpec<'_>) -> (Result<ToolOutput, Error>, CallStats) {
        let started = Instant::now();
        let deadline = started + a.timeout;
        let name = &self.tool.name;
        let _slot = match &self.limit {
            None => None,
            Some(sem) => match tokio::time::timeout_at(deadline.into(), sem.clone().acquire_owned()).await {
                Ok(Ok(p)) => Some(p),
                _ => {
                    let e = Error::BulkheadFull {
                        tool: name.clone(),
                        key: format!("upstream:{}", self.tool.source),
                        reason: "timed out".into(),
                        waited_ms: started.elapsed().as_millis() as u64,
                    };
                    return (Err(e), stats(started));
                }
            },
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let call = UpstreamCall {
            tool: &self.tool,
            args: a.value,
            ctx: a.ctx,
            call_id: a.call_id,
            timeout: left,
            cancel: a.opts.cancel.as_ref(),
            events: a.opts.events.as_ref(),
        };
        let timeout_ms = a.timeout.as_millis() as u64;
        let result = match tokio::time::timeout(left, self.source.call(call)).await {
            Ok(r) => r.and_then(|out| crate::validate::output(name, self.output.as_ref(), out)),
            Err(_) => Err(Error::Timeout { tool: name.clone(), timeout_ms }),
        };
        (result, stats(started))
    }
}

fn stats(started: Instant) -> CallStats {
    CallStats { duration: started.elapsed(), ..CallStats::default() }
}
