//! `confirm_destructive`: before a tool annotated `destructive` runs, the
//! caller is asked to confirm it (a form elicitation with one boolean,
//! `confirm`), through the call's `interact`, before any guest code runs.
//!
//! * accepted with `confirm: true` → the call goes on (cache, retries, … as usual);
//! * declined, cancelled, `confirm: false`, or a caller that cannot ask the
//!   user → `TOOL_EXECUTION_FAILED` with kind `denied` (`details.tool_details.confirmation`
//!   says which), nothing ran, never retried, no fallback, not a breaker event;
//! * nobody can answer now → `INPUT_REQUIRED` with the question; the caller
//!   answers it (`{"action": "accept", "content": {"confirm": true}}` under its
//!   key) and calls again;
//! * an answer of another shape → `TOOL_VALIDATION_ERROR` naming the key.
//!
//! The question holds the tool's name and its canonical arguments, so its key
//! confirms exactly that call: other arguments ask (and need) another answer.

use crate::admission::Admitted;
use crate::executor::Executor;
use serde_json::{Value, json};
use toolhost_core::interact::{Answer, ElicitAction, ElicitRequest, InputRequest, InputResponse};
use toolhost_core::{Error, ToolErrorKind};

/// The form field the confirmation asks for.
pub const CONFIRM_FIELD: &str = "confirm";

/// Arguments longer than this are shown cut, with their digest.
const MAX_SHOWN_ARGS: usize = 2048;

/// The question asked before destructive tool `tool` runs with `args`.
pub fn confirmation_request(tool: &str, args: &Value) -> InputRequest {
    let text = args.to_string(); // canonical: object keys sorted
    let shown = if text.len() <= MAX_SHOWN_ARGS {
        text
    } else {
        use sha2::Digest;
        let digest = toolhost_core::text::hex("sha256:", &sha2::Sha256::digest(text.as_bytes()));
        let mut end = MAX_SHOWN_ARGS;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes, {digest})", &text[..end], text.len())
    };
    let message = format!("Run destructive tool '{tool}' with these arguments? {shown}");
    let requested_schema = json!({
        "type": "object",
        "properties": {
            CONFIRM_FIELD: {
                "type": "boolean",
                "title": "Run it",
                "description": format!("true runs '{tool}' now; false leaves everything as it is"),
                "default": false
            }
        },
        "required": [CONFIRM_FIELD]
    });
    InputRequest::Elicit(ElicitRequest::Form { message, requested_schema })
}

impl Executor {
    /// Asks the caller to confirm the destructive call `a` (within its
    /// deadline and cancel token): `Ok` runs it, any `Err` ends it unrun.
    pub(crate) async fn confirm<T>(&self, a: &Admitted<'_, T>) -> Result<(), Error> {
        let tool = a.info.name;
        let request = confirmation_request(tool, a.value);
        let key = request.key();
        let answer = match &a.opts.interact {
            None => Answer::Deferred,
            Some(interact) => {
                let left = self.remaining(a.deadline).unwrap_or(std::time::Duration::MAX);
                let cancelled = toolhost_core::CancelToken::cancelled_or_never(a.opts.cancel.as_ref());
                tokio::select! {
                    answer = tokio::time::timeout(left, interact.ask(&request)) => answer
                        .unwrap_or_else(|_| Answer::Failed("no answer before the call's deadline".into())),
                    () = cancelled => return Err(Error::Cancelled { tool: tool.to_string() }),
                }
            }
        };
        let verdict = verdict(answer);
        tracing::info!(
            target: "toolhost::call",
            tool,
            call_id = a.call_id,
            key = %key,
            confirmed = verdict.is_ok(),
            outcome = verdict.as_ref().err().map_or("confirmed", |e| e.code().as_str()),
            "destructive call confirmation"
        );
        verdict.map_err(|v| v.into_error(tool, key, request))
    }
}

/// Why a confirmation did not let the call run.
#[derive(Debug)]
enum Refusal {
    /// Nobody could answer now.
    Deferred,
    /// The user (or the caller) said no: `details.confirmation`, and why.
    Denied(&'static str, String),
    /// The answer is not a confirmation.
    Malformed,
}

fn verdict(answer: Answer) -> Result<(), Refusal> {
    let response = match answer {
        Answer::Deferred => return Err(Refusal::Deferred),
        Answer::Unsupported(m) | Answer::Failed(m) => {
            let why = format!("the caller could not ask the user to confirm it ({m})");
            return Err(Refusal::Denied("unavailable", why));
        }
        Answer::Given(InputResponse::Sample(_)) => return Err(Refusal::Malformed),
        Answer::Given(InputResponse::Elicit(r)) => r,
    };
    let confirm = response.content.as_ref().and_then(|c| c.get(CONFIRM_FIELD));
    match (response.action, confirm) {
        (ElicitAction::Accept, Some(Value::Bool(true))) => Ok(()),
        (ElicitAction::Accept, Some(Value::Bool(false))) => {
            Err(Refusal::Denied("rejected", "the user answered confirm = false".into()))
        }
        (ElicitAction::Accept, _) => Err(Refusal::Malformed),
        (ElicitAction::Decline, _) => Err(Refusal::Denied("declined", "the user declined".into())),
        (ElicitAction::Cancel, _) => Err(Refusal::Denied("cancelled", "the user cancelled".into())),
    }
}

impl Refusal {
    fn code(&self) -> toolhost_core::ErrorCode {
        match self {
            Refusal::Deferred => toolhost_core::ErrorCode::InputRequired,
            Refusal::Denied(..) => toolhost_core::ErrorCode::ToolExecutionFailed,
            Refusal::Malformed => toolhost_core::ErrorCode::ToolValidationError,
        }
    }

    fn into_error(self, tool: &str, key: String, request: InputRequest) -> Error {
        let tool = tool.to_string();
        match self {
            Refusal::Deferred => Error::InputRequired { tool, key, request: Box::new(request) },
            Refusal::Denied(confirmation, why) => Error::Tool {
                message: format!(
                    "destructive tool '{tool}' was not run: {why}; nothing was changed. \
                     Call it again only once the user wants it to run"
                ),
                tool,
                kind: ToolErrorKind::Denied,
                retryable: false,
                retry_after_ms: None,
                details: Some(json!({ "confirmation": confirmation, "key": key })),
            },
            Refusal::Malformed => Error::InvalidArguments {
                tool,
                problems: vec![format!(
                    "input_responses.{key}: a confirmation is answered {{\"action\": \"accept\", \"content\": {{\"{CONFIRM_FIELD}\": true}}}} (or false), or with action \"decline\" or \"cancel\""
                )],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolhost_core::interact::ElicitResponse;

    fn given(action: ElicitAction, content: Option<Value>) -> Answer {
        Answer::Given(InputResponse::Elicit(ElicitResponse { action, content }))
    }

    #[test]
    fn only_an_accepted_true_confirms() {
        assert!(verdict(given(ElicitAction::Accept, Some(json!({"confirm": true})))).is_ok());
        for (answer, code) in [
            (given(ElicitAction::Accept, Some(json!({"confirm": false}))), "TOOL_EXECUTION_FAILED"),
            (given(ElicitAction::Decline, None), "TOOL_EXECUTION_FAILED"),
            (given(ElicitAction::Cancel, Some(json!({"confirm": true}))), "TOOL_EXECUTION_FAILED"),
            (Answer::Unsupported("no elicitation".into()), "TOOL_EXECUTION_FAILED"),
            (given(ElicitAction::Accept, Some(json!({"confirm": "yes"}))), "TOOL_VALIDATION_ERROR"),
            (given(ElicitAction::Accept, None), "TOOL_VALIDATION_ERROR"),
            (Answer::Deferred, "INPUT_REQUIRED"),
        ] {
            assert_eq!(verdict(answer).unwrap_err().code().as_str(), code);
        }
    }

    #[test]
    fn the_question_binds_the_exact_arguments() {
        let a = confirmation_request("files.purge", &json!({"suffix": ".tmp", "dry_run": false}));
        let b = confirmation_request("files.purge", &json!({"dry_run": false, "suffix": ".tmp"}));
        let c = confirmation_request("files.purge", &json!({"suffix": ".log", "dry_run": false}));
        assert_eq!(a.key(), b.key(), "canonical arguments");
        assert_ne!(a.key(), c.key());
        let InputRequest::Elicit(ElicitRequest::Form { message, requested_schema }) = &a else { panic!() };
        assert!(message.starts_with("Run destructive tool 'files.purge' with these arguments? {"));
        assert_eq!(requested_schema["required"], json!(["confirm"]));
        let long = "x".repeat(5000);
        let d = confirmation_request("t", &json!({ "s": long.clone() }));
        let e = confirmation_request("t", &json!({ "s": format!("{long}y") }));
        assert_ne!(d.key(), e.key(), "cut arguments still differ by their digest");
    }
}
