//! `tasks/result` (2025-11-25) of a task whose questions wait in its state: a
//! durable task's guest asks on a worker with no client session, so the
//! replica holding the client's `tasks/result` relays each open question to
//! that client as a server-to-client request (related to the task) and
//! records the answer, which the worker picks up.

use crate::interact::PeerInteract;
use crate::state::Shared;
use crate::task_run;
use rmcp::ErrorData as McpError;
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use toolhost::interact::{Answer, InputRequest, Interact};

/// How often a waiting `tasks/result` looks for new questions.
const LOOK: Duration = Duration::from_millis(250);

/// Waits for the task's end, relaying its questions to `peer`.
pub(crate) async fn legacy_result(
    shared: &Shared,
    tenant: &str,
    id: &str,
    peer: Peer<RoleServer>,
) -> Result<Value, McpError> {
    let client = PeerInteract { peer };
    let mut asked = HashSet::new();
    loop {
        if let Ok(done) = tokio::time::timeout(LOOK, shared.tasks.wait(tenant, id)).await {
            return task_run::legacy_payload(&done?);
        }
        let record = shared.tasks.get(tenant, id).await?;
        for (key, question) in record.inputs {
            if asked.insert(key.clone()) {
                relay(shared, tenant, id, &client, key, question).await?;
            }
        }
    }
}

/// Asks the client one question and records its answer.
async fn relay(
    shared: &Shared,
    tenant: &str,
    id: &str,
    client: &PeerInteract,
    key: String,
    question: Value,
) -> Result<(), McpError> {
    let request: InputRequest = match serde_json::from_value(question) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(task = %id, key, error = %e, "a task's question is not understood; not relayed");
            return Ok(());
        }
    };
    let response = match client.ask(&request).await {
        Answer::Given(r) => serde_json::to_value(r).unwrap_or_default(),
        // A person who cannot be asked declines; a model cannot: the guest waits until its deadline.
        other if matches!(request, InputRequest::Elicit(_)) => {
            tracing::info!(task = %id, key, answer = ?other, "the client cannot answer the question; declined");
            json!({ "action": "decline" })
        }
        other => {
            tracing::warn!(task = %id, key, answer = ?other, "the client cannot answer the task's question");
            return Ok(());
        }
    };
    shared.tasks.respond(tenant, id, BTreeMap::from([(key, response)])).await?;
    Ok(())
}
