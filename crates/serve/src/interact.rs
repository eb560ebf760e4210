//! A guest's questions (`elicit`, `sample`) answered by the MCP client of the
//! session that made the call, as server-to-client requests (protocols up to
//! 2025-11-25). A client without the capability gets `unsupported`, which the
//! guest sees as an error it can handle.

// Sampling is deprecated from protocol 2026-07-28 (SEP-2577) but is how every
// earlier client offers its model; rmcp marks its calls deprecated.
#![allow(deprecated)]

use crate::convert;
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use toolhost::interact::{
    Answer, BoxFuture, ElicitRequest, InputRequest, InputResponse, Interact, SamplingRequest,
    SamplingResponse,
};

/// Asks the session's client.
#[derive(Debug, Clone)]
pub(crate) struct PeerInteract {
    pub(crate) peer: Peer<RoleServer>,
}

impl Interact for PeerInteract {
    fn ask<'a>(&'a self, request: &'a InputRequest) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            match request {
                InputRequest::Elicit(e) => self.elicit(e).await,
                InputRequest::Sample(s) => self.sample(s).await,
            }
        })
    }
}

impl PeerInteract {
    fn capability(&self, name: &str) -> Option<Value> {
        let info = self.peer.peer_info()?;
        let caps = serde_json::to_value(&info.capabilities).ok()?;
        caps.get(name).filter(|v| !v.is_null()).cloned()
    }

    async fn elicit(&self, e: &ElicitRequest) -> Answer {
        let Some(cap) = self.capability("elicitation") else {
            return Answer::Unsupported("the MCP client does not support elicitation".into());
        };
        // A client that names its modes must name `url` for URL elicitation.
        if matches!(e, ElicitRequest::Url { .. }) && cap.get("form").is_some() && cap.get("url").is_none() {
            return Answer::Unsupported("the MCP client does not support URL elicitation".into());
        }
        let params = match serde_json::to_value(e).and_then(serde_json::from_value) {
            Ok(p) => p,
            Err(err) => return Answer::Failed(format!("the elicitation request is not valid MCP: {err}")),
        };
        match self.peer.create_elicitation(params).await {
            Ok(r) => match serde_json::to_value(r).and_then(serde_json::from_value) {
                Ok(r) => Answer::Given(InputResponse::Elicit(r)),
                Err(err) => {
                    Answer::Failed(format!("the client's elicitation result is not understood: {err}"))
                }
            },
            Err(err) => Answer::Failed(format!("elicitation failed: {err}")),
        }
    }

    async fn sample(&self, s: &SamplingRequest) -> Answer {
        if self.capability("sampling").is_none() {
            return Answer::Unsupported("the MCP client does not support sampling".into());
        }
        let params = match serde_json::from_value(sampling_params(s)) {
            Ok(p) => p,
            Err(err) => return Answer::Failed(format!("the sampling request is not valid MCP: {err}")),
        };
        match self.peer.create_message(params).await {
            Ok(r) => match serde_json::to_value(r).ok().and_then(|v| sampling_result(&v)) {
                Some(r) => Answer::Given(InputResponse::Sample(r)),
                None => Answer::Failed("the client's sampling result is not understood".into()),
            },
            Err(err) => Answer::Failed(format!("sampling failed: {err}")),
        }
    }
}

/// `sampling/createMessage` params in MCP's JSON form.
pub(crate) fn sampling_params(s: &SamplingRequest) -> Value {
    let messages: Vec<Value> = s
        .messages
        .iter()
        .map(|m| json!({ "role": m.role, "content": convert::content_block(&m.content) }))
        .collect();
    let mut v = json!({ "messages": messages, "maxTokens": s.max_tokens });
    if let Some(p) = &s.system_prompt {
        v["systemPrompt"] = p.clone().into();
    }
    if let Some(t) = s.temperature {
        v["temperature"] = t.into();
    }
    if !s.stop_sequences.is_empty() {
        v["stopSequences"] = json!(s.stop_sequences);
    }
    if !s.model_hints.is_empty() {
        let hints: Vec<Value> = s.model_hints.iter().map(|h| json!({ "name": h })).collect();
        v["modelPreferences"] = json!({ "hints": hints });
    }
    v
}

/// A `CreateMessageResult` from its JSON form.
pub(crate) fn sampling_result(v: &Value) -> Option<SamplingResponse> {
    Some(SamplingResponse {
        role: serde_json::from_value(v.get("role")?.clone()).ok()?,
        content: convert::from_content_block(v.get("content")?)?,
        model: v.get("model")?.as_str()?.to_string(),
        stop_reason: v.get("stopReason").and_then(Value::as_str).map(str::to_string),
    })
}
