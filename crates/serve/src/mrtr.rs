//! Multi-round-trip requests (MCP 2026-07-28, SEP-2322): a guest's question
//! cannot be sent to the client as a request, so `tools/call` answers
//! `input_required` with the question under its key, and the client calls
//! again with `inputResponses` and the `requestState` it was given.
//!
//! The state holds the answers of earlier rounds, sealed (HMAC, 10-minute
//! expiry) and bound to the tenant, tool and arguments, so it cannot be
//! forged, replayed on another call, or read by another tenant's call. The
//! tool runs again from the start each round and gets every answer so far.

use rmcp::ErrorData as McpError;
use rmcp::model::{CallToolRequestParams, InputRequiredResult, RequestStateCodec, SealOptions};
use serde_json::json;
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use toolhost::interact::{Answers, InputRequest, InputResponse};

/// How long a client has to answer a round.
const STATE_TTL: Duration = Duration::from_secs(600);

/// A server's codec: `serve.request_state_key`, else a random key.
pub(crate) fn codec(key: Option<&str>) -> RequestStateCodec {
    let key: Vec<u8> = match key {
        Some(k) => k.as_bytes().to_vec(),
        None => (0..4).flat_map(|_| rand::random::<u128>().to_le_bytes()).collect(),
    };
    RequestStateCodec::try_new(key).expect("serve.request_state_key is checked to be ≥ 32 bytes")
}

/// One call's round: what binds its state, and the answers so far.
pub(crate) struct Round<'a> {
    bound: Vec<u8>,
    codec: &'a RequestStateCodec,
    pub(crate) answers: BTreeMap<String, InputResponse>,
}

impl<'a> Round<'a> {
    /// Opens the request's state and adds its `inputResponses`; a state that
    /// is forged, expired or from another call is the client's error.
    pub(crate) fn open(
        tenant: &str,
        args: &str,
        request: &CallToolRequestParams,
        codec: &'a RequestStateCodec,
    ) -> Result<Round<'a>, McpError> {
        let bound = binding(tenant, &request.name, args);
        let mut answers: BTreeMap<String, InputResponse> = match &request.request_state {
            None => BTreeMap::new(),
            Some(state) => codec
                .open_json_with(state, &bound)
                .map_err(|e| McpError::invalid_params(format!("requestState: {e}"), None))?,
        };
        for (k, v) in request.input_responses.iter().flatten() {
            let r = serde_json::from_value(v.clone())
                .map_err(|e| McpError::invalid_params(format!("inputResponses.{k}: {e}"), None))?;
            answers.insert(k.clone(), r);
        }
        Ok(Round { bound, codec, answers })
    }

    /// The answers as the call's `interact`.
    pub(crate) fn interact(&self) -> Arc<dyn toolhost::interact::Interact> {
        Arc::new(Answers::new(self.answers.clone(), None))
    }

    /// The `input_required` result asking `request` under `key`; an error
    /// when the request is not valid MCP (e.g. a form schema MCP does not allow).
    pub(crate) fn ask(&self, key: &str, request: &InputRequest) -> Result<InputRequiredResult, McpError> {
        let opts = SealOptions::new().associated_data(&self.bound).ttl(STATE_TTL);
        let state = self
            .codec
            .seal_json_with(&self.answers, &opts)
            .map_err(|e| McpError::internal_error(format!("sealing requestState: {e}"), None))?;
        serde_json::from_value(json!({
            "resultType": "input_required",
            "inputRequests": { key: request },
            "requestState": state,
        }))
        .map_err(|e| McpError::invalid_params(format!("the tool's question is not valid MCP: {e}"), None))
    }
}

/// What a state is bound to: the tenant, the tool and its arguments.
fn binding(tenant: &str, tool: &str, args: &str) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    for part in [tenant, tool, args] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost::interact::{ElicitAction, ElicitRequest, ElicitResponse};

    fn request(
        state: Option<String>,
        responses: Option<BTreeMap<String, serde_json::Value>>,
    ) -> CallToolRequestParams {
        let mut r = CallToolRequestParams::new("account.signup");
        r.request_state = state;
        r.input_responses = responses;
        r
    }

    fn ask(codec: &RequestStateCodec, q: &InputRequest) -> String {
        let round = Round::open("t1", "{}", &request(None, None), codec).unwrap();
        let asked = serde_json::to_value(round.ask(&q.key(), q).unwrap()).unwrap();
        assert_eq!(asked["inputRequests"][q.key()]["method"], "elicitation/create");
        asked["requestState"].as_str().unwrap().to_string()
    }

    fn form() -> InputRequest {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        InputRequest::Elicit(ElicitRequest::Form { message: "name?".into(), requested_schema: schema })
    }

    #[test]
    fn answers_survive_rounds_and_states_bind_to_their_call() {
        let (codec, q) = (codec(None), form());
        let state = ask(&codec, &q);
        let answer = json!({"action": "accept", "content": {"name": "Ada"}});
        let responses = BTreeMap::from([(q.key(), answer)]);
        let second = Round::open("t1", "{}", &request(Some(state.clone()), Some(responses)), &codec).unwrap();
        let content = Some(json!({"name": "Ada"}));
        let want = InputResponse::Elicit(ElicitResponse { action: ElicitAction::Accept, content });
        assert_eq!(second.answers.get(&q.key()), Some(&want));
        // The state of one call opens for no other tenant, tool or arguments, nor tampered.
        assert!(Round::open("t2", "{}", &request(Some(state.clone()), None), &codec).is_err());
        assert!(Round::open("t1", "{\"x\":1}", &request(Some(state.clone()), None), &codec).is_err());
        assert!(Round::open("t1", "{}", &request(Some(format!("{state}x")), None), &codec).is_err());
    }

    #[test]
    fn replicas_with_the_same_request_state_key_open_each_others_states() {
        let key = "a-shared-request-state-key-of-32-bytes-or-more";
        let (a, b, other) = (codec(Some(key)), codec(Some(key)), codec(Some(&key.replace('a', "b"))));
        let state = ask(&a, &form());
        assert!(Round::open("t1", "{}", &request(Some(state.clone()), None), &b).is_ok());
        assert!(Round::open("t1", "{}", &request(Some(state), None), &other).is_err());
    }
}
