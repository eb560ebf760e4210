//! Questions a durable run's guest asks its caller (MCP tasks on Redis).
//!
//! The worker running the call writes the question into the run hash
//! (`q:<key>`, the MCP request object); any process answers it through
//! [`RunStore::respond`] (`a:<key>`, the question removed); the worker polls
//! the hash and hands the answer to the guest. A question asked again (the
//! call re-run on another worker after a crash) finds its answer at once.
//!
//! Only runs stored with [`RunStore::submit_asking`] ask: a question in any
//! other run ends its call with `INPUT_REQUIRED`, as before.

use crate::runs::{RunStore, RunStoreError, unix_ms};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use toolhost_core::CancelToken;
use toolhost_core::interact::{Answer, BoxFuture, InputRequest, InputResponse, Interact};

/// How often a waiting worker looks for the answer.
const POLL: Duration = Duration::from_millis(200);

/// Records the answers whose question is still open; `{found, answered}`.
const RESPOND: &str = r#"
local t = redis.call('HGET', KEYS[1], 'tenant')
if not t or t ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do
  if redis.call('HDEL', KEYS[1], 'q:' .. ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], 'a:' .. ARGV[i], ARGV[i + 1])
  end
end
redis.call('HSET', KEYS[1], 'updated_ms', ARGV[2])
return 1
"#;

/// Opens a question unless it has its answer already.
const ASK: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'a:' .. ARGV[1]) == 1 then return 1 end
redis.call('HSET', KEYS[1], 'q:' .. ARGV[1], ARGV[2], 'updated_ms', ARGV[3])
return 1
"#;

impl RunStore {
    /// As [`submit`](RunStore::submit), for a run whose guest may ask its
    /// caller (an MCP task): its questions wait in the run hash for
    /// [`respond`](RunStore::respond).
    pub async fn submit_asking(
        &self,
        spec: &toolhost_scheduler::RunSpec,
        tenant: &str,
        ctx: &toolhost_core::ExecutionContext,
    ) -> Result<String, RunStoreError> {
        self.submit_with(spec, tenant, ctx, true).await
    }

    /// Opens `question` under `key` (kept while the run is).
    pub async fn ask(&self, run_id: &str, key: &str, question: &Value) -> Result<(), RunStoreError> {
        let run = self.run_key(run_id);
        let script = redis::Script::new(ASK);
        let mut c = self.redis().conn();
        self.redis()
            .run(async {
                script
                    .key(&run)
                    .arg(key)
                    .arg(question.to_string())
                    .arg(unix_ms())
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    /// The answer to `key`, once given.
    pub async fn answer(&self, run_id: &str, key: &str) -> Result<Option<Value>, RunStoreError> {
        let run = self.run_key(run_id);
        let mut c = self.redis().conn();
        let found: Option<String> = self
            .redis()
            .run(async { redis::cmd("HGET").arg(&run).arg(format!("a:{key}")).query_async(&mut c).await })
            .await?;
        Ok(found.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// The run's open questions by key.
    pub async fn questions(&self, run_id: &str) -> Result<BTreeMap<String, Value>, RunStoreError> {
        let run = self.run_key(run_id);
        let mut c = self.redis().conn();
        let all: BTreeMap<String, String> =
            self.redis().run(async { redis::cmd("HGETALL").arg(&run).query_async(&mut c).await }).await?;
        Ok(all
            .into_iter()
            .filter_map(|(field, v)| {
                Some((field.strip_prefix("q:")?.to_string(), serde_json::from_str(&v).ok()?))
            })
            .collect())
    }

    /// The caller's answers: those to open questions are recorded, others
    /// ignored. `false` when the run is unknown or another tenant's.
    pub async fn respond(
        &self,
        run_id: &str,
        tenant: &str,
        responses: &BTreeMap<String, Value>,
    ) -> Result<bool, RunStoreError> {
        let run = self.run_key(run_id);
        let script = redis::Script::new(RESPOND);
        let mut invocation = script.key(&run);
        invocation.arg(tenant).arg(unix_ms());
        for (key, value) in responses {
            invocation.arg(key).arg(value.to_string());
        }
        let mut c = self.redis().conn();
        let found: i64 = self.redis().run(async { invocation.invoke_async(&mut c).await }).await?;
        Ok(found == 1)
    }
}

/// Answers a durable run's guest questions through the run hash.
#[derive(Debug)]
pub struct RunInteract {
    store: RunStore,
    run_id: String,
    cancel: CancelToken,
}

impl RunInteract {
    /// Questions of `run_id`'s calls; waiting ends when `cancel` fires.
    pub fn new(store: RunStore, run_id: String, cancel: CancelToken) -> RunInteract {
        RunInteract { store, run_id, cancel }
    }

    async fn wait(&self, key: &str, question: &Value) -> Result<Answer, RunStoreError> {
        self.store.ask(&self.run_id, key, question).await?;
        tracing::info!(run_id = %self.run_id, key, "the guest asks its caller; waiting for the answer");
        loop {
            match self.store.answer(&self.run_id, key).await {
                Ok(Some(v)) => {
                    return Ok(match serde_json::from_value::<InputResponse>(v) {
                        Ok(r) => Answer::Given(r),
                        Err(e) => Answer::Failed(format!("the caller's answer is not a valid response: {e}")),
                    });
                }
                Ok(None) => {}
                // Redis away for a moment: the question stays; keep looking.
                Err(e) => tracing::debug!(run_id = %self.run_id, error = %e, "polling for the answer failed"),
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(Answer::Failed("the run was stopped".into())),
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

impl Interact for RunInteract {
    fn ask<'a>(&'a self, request: &'a InputRequest) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let question = match serde_json::to_value(request) {
                Ok(v) => v,
                Err(e) => return Answer::Failed(format!("the question cannot be stored: {e}")),
            };
            match self.wait(&request.key(), &question).await {
                Ok(answer) => answer,
                Err(e) => Answer::Failed(format!("the question could not reach the caller: {e}")),
            }
        })
    }
}
