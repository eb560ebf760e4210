//! Elicitation and sampling through the fake host, and their WIT mapping.

use crate::bindings::toolhost::plugin::types as wit;
use crate::prelude::*;
use crate::testing::{self, HostEvent};
use crate::{ElicitAction, InteractionError, Registry, Role, SamplingResponse};

#[derive(Debug, Deserialize, PartialEq)]
struct Signup {
    name: String,
    email: String,
}

fn signup(_: NoArgs, ctx: &Context) -> Result<String, ToolError> {
    let schema = json!({
        "type": "object",
        "properties": { "name": { "type": "string" }, "email": { "type": "string", "format": "email" } },
        "required": ["name", "email"],
    });
    let answer = ctx.elicit(&ElicitRequest::form("Sign up", schema))?;
    Ok(match answer.accepted::<Signup>()? {
        Some(s) => format!("welcome {} <{}>", s.name, s.email),
        None => format!("no signup ({})", answer.action),
    })
}

fn ask(_: NoArgs, ctx: &Context) -> Result<String, ToolError> {
    let req = SamplingRequest::new(100).system_prompt("Be brief").user("Capital of France?").temperature(0.0);
    let answer = ctx.sample(&req)?;
    Ok(format!("{} said {}", answer.model, answer.as_text().unwrap_or("<not text>")))
}

fn registry() -> Registry {
    Registry::new([tool("signup", "Sign up", signup).into(), tool("ask", "Ask", ask).into()])
}

fn call(name: &str) -> Result<Value, ToolError> {
    registry().call(name, "{}", &Context::new("c")).map(|o| o.value().cloned().unwrap())
}

#[test]
fn elicitation_answers_are_scripted_in_order() {
    testing::reset();
    testing::answer_elicit(Ok(ElicitResponse::accept(json!({ "name": "Ada", "email": "ada@example.com" }))));
    testing::answer_elicit(Ok(ElicitResponse::decline()));
    assert_eq!(call("signup").unwrap(), "welcome Ada <ada@example.com>");
    assert_eq!(call("signup").unwrap(), "no signup (decline)");

    let events = testing::take_events();
    assert_eq!(events.len(), 2);
    let HostEvent::Elicit(ElicitRequest::Form { message, schema }) = &events[0] else {
        panic!("expected a form elicitation: {events:?}");
    };
    assert_eq!(message, "Sign up");
    assert_eq!(schema["required"], json!(["name", "email"]));
}

#[test]
fn unanswered_elicitation_is_unsupported_and_maps_to_denied() {
    testing::reset();
    let err = call("signup").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert!(err.message().starts_with("not supported by the client"), "{}", err.message());

    testing::answer_elicit(Err(InteractionError::Failed("user closed the window".into())));
    let err = call("signup").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(err.message(), "the client failed: user closed the window");
}

#[test]
fn answers_that_do_not_fit_are_invalid_input() {
    testing::reset();
    testing::answer_elicit(Ok(ElicitResponse::accept(json!({ "name": "Ada" }))));
    let err = call("signup").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("missing field `email`"), "{}", err.message());
}

#[test]
fn sampling_round_trip() {
    testing::reset();
    testing::answer_sample(Ok(SamplingResponse::text("test-model", "Paris")));
    assert_eq!(call("ask").unwrap(), "test-model said Paris");
    let events = testing::take_events();
    let HostEvent::Sample(req) = &events[0] else { panic!("{events:?}") };
    assert_eq!(req.max_tokens, 100);
    assert_eq!(req.system_prompt.as_deref(), Some("Be brief"));
    assert_eq!(req.messages[0].role, Role::User);
    assert_eq!(req.messages[0].text(), Some("Capital of France?"));

    assert_eq!(call("ask").unwrap_err().kind(), ErrorKind::Denied, "no answer scripted");
}

#[test]
fn elicit_requests_map_to_wit() {
    let form: wit::ElicitRequest = (&ElicitRequest::form("m", json!({ "type": "object" }))).into();
    assert!(
        matches!(form, wit::ElicitRequest::Form(f) if f.message == "m" && f.requested_schema == r#"{"type":"object"}"#)
    );
    let url: wit::ElicitRequest = (&ElicitRequest::url("Sign in", "https://example.com/login", "e-1")).into();
    assert!(matches!(url, wit::ElicitRequest::Url(u)
        if u.url == "https://example.com/login" && u.elicitation_id == "e-1" && u.message == "Sign in"));
}

#[test]
fn elicit_responses_map_from_wit() {
    let r = ElicitResponse::from(wit::ElicitResponse {
        action: wit::ElicitAction::Accept,
        content: Some(r#"{"a":1}"#.into()),
    });
    assert_eq!(r, ElicitResponse::accept(json!({ "a": 1 })));
    let r = ElicitResponse::from(wit::ElicitResponse { action: wit::ElicitAction::Cancel, content: None });
    assert_eq!(r.action, ElicitAction::Cancel);
    assert_eq!(r.accepted::<Value>().unwrap(), None);
}

#[test]
fn sampling_maps_both_ways() {
    let req = SamplingRequest::new(10).user("q").assistant("a").stop_sequence("\n").model_hint("m1");
    let w: wit::SamplingRequest = (&req).into();
    assert_eq!(w.messages.len(), 2);
    assert_eq!(w.messages[1].role, wit::Role::Assistant);
    assert_eq!(
        (w.max_tokens, w.stop_sequences, w.model_hints),
        (10, vec!["\n".to_owned()], vec!["m1".to_owned()])
    );

    let r = SamplingResponse::from(wit::SamplingResponse {
        role: wit::Role::Assistant,
        content: wit::Content::Image(wit::Media { mime_type: "image/png".into(), data: vec![1] }),
        model: "m".into(),
        stop_reason: None,
    });
    assert_eq!(r.content, Content::Image { mime_type: "image/png".into(), data: vec![1] });
    assert_eq!(r.as_text(), None);
    let e = InteractionError::from(wit::InteractionError::Unsupported("no".into()));
    assert_eq!(e, InteractionError::Unsupported("no".into()));
}
