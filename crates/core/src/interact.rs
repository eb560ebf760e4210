//! Asking the caller for input while a call runs: elicitation (a form or a
//! URL for the user) and sampling (one completion from the client's model).
//!
//! A guest asks through the `elicit`/`sample` host calls; whoever started the
//! call answers through an [`Interact`] in its [`CallOptions`](crate::CallOptions):
//! a live MCP session (a server-to-client request), answers collected on an
//! earlier round ([`Answers`]), or nobody — then the call ends with
//! [`Error::InputRequired`](crate::Error::InputRequired) carrying the request,
//! and runs again from the start once the caller sends the answer. The JSON
//! shapes are MCP's (`elicitation/create`, `sampling/createMessage`).

use crate::call::Content;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A request for input from the user (MCP `elicitation/create` params).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum ElicitRequest {
    /// A form: a flat JSON Schema object of primitive properties.
    Form {
        /// What the user is asked, and why.
        message: String,
        /// The schema of the answer's `content`.
        #[serde(rename = "requestedSchema")]
        requested_schema: Value,
    },
    /// Send the user to a URL and wait until they are done there.
    Url {
        /// What the user is asked, and why.
        message: String,
        /// Where to send them.
        url: String,
        /// Correlates the completion notification.
        #[serde(rename = "elicitationId")]
        elicitation_id: String,
    },
}

/// What the user did with an elicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElicitAction {
    /// Submitted (a form's `content` holds the values).
    Accept,
    /// Refused explicitly.
    Decline,
    /// Dismissed without choosing.
    Cancel,
}

/// The answer to an [`ElicitRequest`] (MCP `ElicitResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElicitResponse {
    /// What the user did.
    pub action: ElicitAction,
    /// The form's values (a JSON object), with `accept` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
}

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One message of a prompt or a sampling conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

/// A request for one completion from the client's model (MCP
/// `sampling/createMessage` params, with the model preference hints as names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplingRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// System prompt, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Where generation stops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Preferred models, most preferred first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_hints: Vec<String>,
}

/// The model's answer to a [`SamplingRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplingResponse {
    /// Normally `assistant`.
    pub role: Role,
    /// The generated content.
    pub content: Content,
    /// The model that answered.
    pub model: String,
    /// Why generation stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

/// One question a running call asks its caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params")]
pub enum InputRequest {
    /// Ask the user.
    #[serde(rename = "elicitation/create")]
    Elicit(ElicitRequest),
    /// Ask the client's model.
    #[serde(rename = "sampling/createMessage")]
    Sample(SamplingRequest),
}

impl InputRequest {
    /// A stable key of this request (`in_` + 16 hex digits of the SHA-256 of
    /// its JSON): the same question asked again on a later round, by any host
    /// process, has the same key, so its earlier answer applies.
    pub fn key(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_vec(self).expect("input requests serialise");
        crate::text::hex("in_", &sha2::Sha256::digest(&json)[..8])
    }
}

/// The answer to one [`InputRequest`] (the result of the MCP request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputResponse {
    /// A sampling result (tried first: it has required fields an elicit result lacks).
    Sample(SamplingResponse),
    /// An elicitation result.
    Elicit(ElicitResponse),
}

/// How an [`Interact`] answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The answer.
    Given(InputResponse),
    /// The caller cannot do this at all (e.g. an MCP client without the
    /// capability); the guest sees an `unsupported` error.
    Unsupported(String),
    /// The caller tried and failed; the guest sees a `failed` error.
    Failed(String),
    /// Not now: the call ends with `INPUT_REQUIRED` and runs again with the answer.
    Deferred,
}

/// A boxed, sendable future (what [`Interact::ask`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whoever answers a call's questions.
pub trait Interact: Send + Sync + std::fmt::Debug {
    /// Answers `request` (may wait for a person, within the call's deadline).
    fn ask<'a>(&'a self, request: &'a InputRequest) -> BoxFuture<'a, Answer>;
}

/// Answers collected on earlier rounds of a call, by request key, in front of
/// an optional live [`Interact`]; what neither answers is [`Answer::Deferred`].
#[derive(Debug, Default, Clone)]
pub struct Answers {
    given: BTreeMap<String, InputResponse>,
    live: Option<Arc<dyn Interact>>,
}

impl Answers {
    /// Answers from `given` (request key → response), then from `live`.
    pub fn new(given: BTreeMap<String, InputResponse>, live: Option<Arc<dyn Interact>>) -> Answers {
        Answers { given, live }
    }

    /// The answers given so far.
    pub fn given(&self) -> &BTreeMap<String, InputResponse> {
        &self.given
    }
}

impl Interact for Answers {
    fn ask<'a>(&'a self, request: &'a InputRequest) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            if let Some(r) = self.given.get(&request.key()) {
                return Answer::Given(r.clone());
            }
            match &self.live {
                Some(live) => live.ask(request).await,
                None => Answer::Deferred,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_have_mcp_shapes_and_stable_keys() {
        let form = InputRequest::Elicit(ElicitRequest::Form {
            message: "Your name?".into(),
            requested_schema: json!({"type": "object", "properties": {"name": {"type": "string"}}}),
        });
        let v = serde_json::to_value(&form).unwrap();
        assert_eq!(v["method"], "elicitation/create");
        assert_eq!(v["params"]["mode"], "form");
        assert_eq!(v["params"]["requestedSchema"]["type"], "object");
        assert_eq!(form.key(), form.clone().key());
        assert!(form.key().starts_with("in_") && form.key().len() == 19);
        let other = InputRequest::Elicit(ElicitRequest::Form {
            message: "Your email?".into(),
            requested_schema: json!({}),
        });
        assert_ne!(form.key(), other.key());
        let back: InputRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back, form);
    }

    #[test]
    fn responses_parse_from_either_shape() {
        let e: InputResponse =
            serde_json::from_value(json!({"action": "accept", "content": {"a": 1}})).unwrap();
        assert!(matches!(e, InputResponse::Elicit(ElicitResponse { action: ElicitAction::Accept, .. })));
        let s: InputResponse = serde_json::from_value(json!({
            "role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"
        }))
        .unwrap();
        assert!(matches!(s, InputResponse::Sample(_)));
    }

    #[tokio::test]
    async fn answers_come_from_earlier_rounds_else_are_deferred() {
        let q = InputRequest::Elicit(ElicitRequest::Url {
            message: "Sign in".into(),
            url: "https://example.com".into(),
            elicitation_id: "e1".into(),
        });
        let a = ElicitResponse { action: ElicitAction::Accept, content: None };
        let answers = Answers::new([(q.key(), InputResponse::Elicit(a.clone()))].into(), None);
        assert_eq!(answers.ask(&q).await, Answer::Given(InputResponse::Elicit(a)));
        assert_eq!(Answers::default().ask(&q).await, Answer::Deferred);
    }
}
