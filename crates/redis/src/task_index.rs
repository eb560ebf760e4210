//! Which durable runs are a tenant's MCP tasks: one sorted set per tenant,
//! `{prefix}:tasks:{<tenant>}` (run ids scored by creation time, Unix ms),
//! so `tasks/list` answers from any process. A run that expired is dropped
//! from the set when a listing finds it gone.

use crate::runs::{RunStore, RunStoreError, unix_ms};

impl RunStore {
    fn task_index_key(&self, tenant: &str) -> String {
        self.redis().key(&format!("tasks:{{{tenant}}}"))
    }

    /// Records `run_id` as one of `tenant`'s tasks.
    pub async fn index_task(&self, tenant: &str, run_id: &str) -> Result<(), RunStoreError> {
        let key = self.task_index_key(tenant);
        let ttl = self.redis().config().run_ttl_secs.max(1) as i64;
        let mut pipe = redis::pipe();
        pipe.atomic().zadd(&key, run_id, unix_ms()).ignore().expire(&key, ttl).ignore();
        let mut c = self.redis().conn();
        self.redis().run(async { pipe.query_async::<()>(&mut c).await }).await?;
        Ok(())
    }

    /// `tenant`'s task run ids, oldest first.
    pub async fn task_ids(&self, tenant: &str) -> Result<Vec<String>, RunStoreError> {
        let key = self.task_index_key(tenant);
        let mut c = self.redis().conn();
        let ids: Vec<String> = self
            .redis()
            .run(async { redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query_async(&mut c).await })
            .await?;
        Ok(ids)
    }

    /// Drops runs that are gone from `tenant`'s tasks.
    pub async fn forget_tasks(&self, tenant: &str, run_ids: &[String]) -> Result<(), RunStoreError> {
        if run_ids.is_empty() {
            return Ok(());
        }
        let key = self.task_index_key(tenant);
        let mut c = self.redis().conn();
        self.redis()
            .run(async { redis::cmd("ZREM").arg(&key).arg(run_ids).query_async::<()>(&mut c).await })
            .await?;
        Ok(())
    }
}
