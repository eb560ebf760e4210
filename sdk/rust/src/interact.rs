//! Asking the user ([`ElicitRequest`]) and the client's model ([`SamplingRequest`]).
//!
//! Send them with [`Context::elicit`](crate::Context::elicit) and
//! [`Context::sample`](crate::Context::sample). A host that cannot reach anyone who could
//! answer now ends the call with `INPUT_REQUIRED` and runs it again from the start once the
//! answer arrives: ask before doing anything that must not happen twice.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::toolhost::plugin::types as wit;
use crate::{Content, Message, Role, ToolError};

/// A request for input from the user (the WIT `elicit-request`).
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitRequest {
    /// A form: `schema` is a flat JSON Schema object of primitive properties (string, number,
    /// integer, boolean, enums).
    Form {
        /// What to ask, shown to the user.
        message: String,
        /// The requested schema.
        schema: Value,
    },
    /// Send the user to `url` (sign-in, payment, ...) and wait until they are done.
    Url {
        /// Why, shown to the user.
        message: String,
        /// Where to send the user.
        url: String,
        /// Correlates the completion notification; unique per request.
        elicitation_id: String,
    },
}

impl ElicitRequest {
    /// Asks the user to fill in a form described by `schema` (a JSON Schema object).
    ///
    /// ```
    /// use toolhost_sdk::{ElicitRequest, serde_json::json};
    /// let req = ElicitRequest::form("Who are you?", json!({
    ///     "type": "object",
    ///     "properties": { "name": { "type": "string" } },
    ///     "required": ["name"],
    /// }));
    /// # let _ = req;
    /// ```
    pub fn form(message: impl Into<String>, schema: Value) -> Self {
        ElicitRequest::Form { message: message.into(), schema }
    }

    /// Sends the user to `url`; `elicitation_id` must be unique per request.
    pub fn url(
        message: impl Into<String>,
        url: impl Into<String>,
        elicitation_id: impl Into<String>,
    ) -> Self {
        ElicitRequest::Url { message: message.into(), url: url.into(), elicitation_id: elicitation_id.into() }
    }
}

/// What the user did with an elicitation (the WIT `elicit-action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElicitAction {
    /// Submitted the form (or finished at the URL).
    Accept,
    /// Explicitly said no.
    Decline,
    /// Dismissed the request without choosing.
    Cancel,
}

impl fmt::Display for ElicitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElicitAction::Accept => "accept",
            ElicitAction::Decline => "decline",
            ElicitAction::Cancel => "cancel",
        })
    }
}

/// The user's answer: the action and, for an accepted form, the content (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct ElicitResponse {
    /// What the user did.
    pub action: ElicitAction,
    /// The submitted form values, only with [`ElicitAction::Accept`] on a form.
    pub content: Option<Value>,
}

impl ElicitResponse {
    /// An accepted form with `content`.
    pub fn accept(content: Value) -> Self {
        ElicitResponse { action: ElicitAction::Accept, content: Some(content) }
    }

    /// A declined request.
    pub fn decline() -> Self {
        ElicitResponse { action: ElicitAction::Decline, content: None }
    }

    /// A cancelled request.
    pub fn cancel() -> Self {
        ElicitResponse { action: ElicitAction::Cancel, content: None }
    }

    /// Whether the user accepted.
    pub fn is_accepted(&self) -> bool {
        self.action == ElicitAction::Accept
    }

    /// The accepted form values parsed into `T`; `None` when the user declined or cancelled.
    ///
    /// Values that do not fit `T` are an [`invalid_input`](ToolError::invalid_input) error.
    pub fn accepted<T: DeserializeOwned>(&self) -> Result<Option<T>, ToolError> {
        if !self.is_accepted() {
            return Ok(None);
        }
        let content = self.content.clone().unwrap_or(Value::Object(Default::default()));
        serde_json::from_value(content)
            .map(Some)
            .map_err(|e| ToolError::invalid_input(format!("the user's answer does not fit the form: {e}")))
    }
}

/// A request for one completion from the client's language model (the WIT `sampling-request`).
///
/// ```
/// use toolhost_sdk::SamplingRequest;
/// let req = SamplingRequest::new(200)
///     .system_prompt("You are terse.")
///     .user("Summarise: ...")
///     .temperature(0.2)
///     .model_hint("claude-sonnet");
/// assert_eq!(req.messages.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// A system prompt, if any.
    pub system_prompt: Option<String>,
    /// Most tokens the model may produce.
    pub max_tokens: u32,
    /// Sampling temperature, if set.
    pub temperature: Option<f64>,
    /// Sequences that stop generation.
    pub stop_sequences: Vec<String>,
    /// Model preference hints, most preferred first (e.g. `claude-sonnet`).
    pub model_hints: Vec<String>,
}

impl SamplingRequest {
    /// An empty conversation answered with at most `max_tokens` tokens.
    pub fn new(max_tokens: u32) -> Self {
        SamplingRequest {
            messages: Vec::new(),
            system_prompt: None,
            max_tokens,
            temperature: None,
            stop_sequences: Vec::new(),
            model_hints: Vec::new(),
        }
    }

    /// Appends a message.
    #[must_use]
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Appends a user message.
    #[must_use]
    pub fn user(self, content: impl Into<Content>) -> Self {
        self.message(Message::user(content))
    }

    /// Appends an assistant message.
    #[must_use]
    pub fn assistant(self, content: impl Into<Content>) -> Self {
        self.message(Message::assistant(content))
    }

    /// Sets the system prompt.
    #[must_use]
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Adds a stop sequence.
    #[must_use]
    pub fn stop_sequence(mut self, stop: impl Into<String>) -> Self {
        self.stop_sequences.push(stop.into());
        self
    }

    /// Adds a model preference hint (most preferred first).
    #[must_use]
    pub fn model_hint(mut self, hint: impl Into<String>) -> Self {
        self.model_hints.push(hint.into());
        self
    }
}

/// The model's answer (the WIT `sampling-response`).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingResponse {
    /// Usually [`Role::Assistant`].
    pub role: Role,
    /// The answer.
    pub content: Content,
    /// The model that answered.
    pub model: String,
    /// Why generation stopped (`endTurn`, `maxTokens`, ...), if known.
    pub stop_reason: Option<String>,
}

impl SamplingResponse {
    /// An assistant text answer from `model` (handy in tests).
    pub fn text(model: impl Into<String>, text: impl Into<String>) -> Self {
        SamplingResponse {
            role: Role::Assistant,
            content: Content::Text(text.into()),
            model: model.into(),
            stop_reason: Some("endTurn".into()),
        }
    }

    /// The answer's text, when it is text.
    pub fn as_text(&self) -> Option<&str> {
        self.content.as_text()
    }
}

/// Why the host could not answer an elicitation or a sampling request.
///
/// Converts into a [`ToolError`] (so `?` works in tools): `Unsupported` becomes
/// [`denied`](ToolError::denied), `Failed` becomes [`internal`](ToolError::internal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InteractionError {
    /// The client cannot do this (no elicitation or sampling capability).
    Unsupported(String),
    /// The client or the user answered with an error.
    Failed(String),
}

impl fmt::Display for InteractionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InteractionError::Unsupported(m) => write!(f, "not supported by the client: {m}"),
            InteractionError::Failed(m) => write!(f, "the client failed: {m}"),
        }
    }
}

impl std::error::Error for InteractionError {}

impl From<InteractionError> for ToolError {
    fn from(e: InteractionError) -> Self {
        match e {
            InteractionError::Unsupported(_) => ToolError::denied(e.to_string()),
            InteractionError::Failed(_) => ToolError::internal(e.to_string()),
        }
    }
}

impl From<&ElicitRequest> for wit::ElicitRequest {
    fn from(r: &ElicitRequest) -> Self {
        match r {
            ElicitRequest::Form { message, schema } => wit::ElicitRequest::Form(wit::ElicitForm {
                message: message.clone(),
                requested_schema: schema.to_string(),
            }),
            ElicitRequest::Url { message, url, elicitation_id } => wit::ElicitRequest::Url(wit::ElicitUrl {
                message: message.clone(),
                url: url.clone(),
                elicitation_id: elicitation_id.clone(),
            }),
        }
    }
}

impl From<wit::ElicitResponse> for ElicitResponse {
    fn from(r: wit::ElicitResponse) -> Self {
        let action = match r.action {
            wit::ElicitAction::Accept => ElicitAction::Accept,
            wit::ElicitAction::Decline => ElicitAction::Decline,
            wit::ElicitAction::Cancel => ElicitAction::Cancel,
        };
        // Content that is not JSON is kept as a JSON string rather than dropped.
        let content = r.content.map(|c| serde_json::from_str(&c).unwrap_or(Value::String(c)));
        ElicitResponse { action, content }
    }
}

impl From<&SamplingRequest> for wit::SamplingRequest {
    fn from(r: &SamplingRequest) -> Self {
        wit::SamplingRequest {
            messages: r.messages.iter().cloned().map(Into::into).collect(),
            system_prompt: r.system_prompt.clone(),
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            stop_sequences: r.stop_sequences.clone(),
            model_hints: r.model_hints.clone(),
        }
    }
}

impl From<wit::SamplingResponse> for SamplingResponse {
    fn from(r: wit::SamplingResponse) -> Self {
        SamplingResponse {
            role: r.role.into(),
            content: r.content.into(),
            model: r.model,
            stop_reason: r.stop_reason,
        }
    }
}

impl From<wit::InteractionError> for InteractionError {
    fn from(e: wit::InteractionError) -> Self {
        match e {
            wit::InteractionError::Unsupported(m) => InteractionError::Unsupported(m),
            wit::InteractionError::Failed(m) => InteractionError::Failed(m),
        }
    }
}
