//! Contract 0.2 through the `Host` API, with real built components: a 0.1
//! plugin built from an old commit still lists and answers; 0.2 descriptors
//! carry titles and annotations; prompts, resources, templates and
//! completion from the conformance plugin; a guest's questions end the call
//! with INPUT_REQUIRED and are answered on the next round; resource updates
//! reach subscribers of the same tenant only.

use crate::common::{Folder, assert_loaded, repo};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use toolhost::catalog::CompletionRef;
use toolhost::interact::{Answers, ElicitAction, ElicitResponse, InputRequest, InputResponse};
use toolhost::{CallRequest, Error, ExecutionContext, Host};

fn fixture(name: &str) -> Vec<u8> {
    let p = repo().join("build/fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (scripts/build-plugins.sh builds it)", p.display()))
}

async fn conformance() -> (Host, Folder) {
    let f = Folder::new();
    f.wasm("conformance", &fixture("conformance.wasm"));
    let host = f.host().await;
    assert_loaded(&host, "conformance");
    (host, f)
}

fn ctx() -> ExecutionContext {
    ExecutionContext::new()
}

/// The contract version the host linked plugin `name` against.
fn contract_of(host: &Host, name: &str) -> &'static str {
    let plugins = host.registry().plugins_for("default");
    plugins.iter().find(|p| p.name == name).expect("served").capabilities.contract
}

#[tokio::test]
async fn a_plugin_built_against_0_1_still_lists_and_answers() {
    let f = Folder::new();
    f.wasm("legacy", &fixture("legacy-text-0.1.wasm"));
    let host = f.host().await;
    assert_loaded(&host, "legacy");
    assert_eq!(contract_of(&host, "legacy"), "0.1");
    let upper = host.list_tools(None).into_iter().find(|t| t.name == "text.upper").expect("listed");
    assert!(upper.idempotent && upper.annotations.is_none() && upper.title.is_none());
    let out = host.call(CallRequest::json("text.upper", &json!({"text": "old contract"}))).await.unwrap();
    assert_eq!(out.output.value, Some(json!("OLD CONTRACT")));
    assert!(host.list_prompts(None).is_empty());
}

#[tokio::test]
async fn descriptors_of_0_2_carry_titles_and_annotations() {
    let f = Folder::new();
    f.wasm("confirm", &std::fs::read(repo().join("build/plugins/confirm.wasm")).unwrap());
    let host = f.host().await;
    assert_loaded(&host, "confirm");
    assert_eq!(contract_of(&host, "confirm"), "0.2");
    let purge = host.list_tools(None).into_iter().find(|t| t.name == "files.purge").expect("listed");
    let a = purge.annotations.expect("0.2 tools have annotations");
    assert!(a.destructive && !a.read_only, "{a:?}");
    assert!(purge.title.is_some());
    let listing = purge.to_json();
    assert_eq!(listing["annotations"]["destructive"], true);
}

#[tokio::test]
async fn prompts_resources_templates_and_completion_come_from_the_plugin() {
    let (host, _f) = conformance().await;
    let names: Vec<String> = host.list_prompts(None).into_iter().map(|p| p.name).collect();
    assert!(names.contains(&"test_prompt_with_arguments".to_string()), "{names:?}");
    let args = [("arg1".to_string(), "alpha".to_string()), ("arg2".to_string(), "beta".to_string())];
    let got = host.get_prompt(&ctx(), "test_prompt_with_arguments", &args).await.unwrap();
    let text = serde_json::to_string(&got.messages).unwrap();
    assert!(text.contains("alpha") && text.contains("beta"), "{text}");
    let unknown = host.get_prompt(&ctx(), "no_such_prompt", &[]).await.unwrap_err();
    assert!(matches!(unknown, Error::NotFound { kind: "prompt", .. }), "{unknown}");

    let uris: Vec<String> = host.list_resources(&ctx()).await.into_iter().map(|r| r.uri).collect();
    assert!(uris.contains(&"test://static-text".to_string()), "{uris:?}");
    let text = host.read_resource(&ctx(), "test://static-text").await.unwrap();
    assert!(text[0].text.as_deref().is_some_and(|t| !t.is_empty()));
    let blob = host.read_resource(&ctx(), "test://static-binary").await.unwrap();
    assert!(blob[0].blob.as_ref().is_some_and(|b| !b.0.is_empty()));
    let templated = host.read_resource(&ctx(), "test://template/42/data").await.unwrap();
    assert!(templated[0].text.as_deref().unwrap().contains("42"));
    let missing = host.read_resource(&ctx(), "test://nothing-here").await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { kind: "resource", .. }), "{missing}");

    let target = CompletionRef::Prompt { name: "test_prompt_with_arguments".into() };
    let c = host.complete(&ctx(), &target, "arg1", "pa", &[]).await.unwrap();
    assert!(!c.values.is_empty() && c.values.iter().all(|v| v.starts_with("pa")), "{c:?}");
}

#[tokio::test]
async fn a_question_nobody_answers_is_input_required_and_the_answer_reruns_the_call() {
    let (host, _f) = conformance().await;
    let ask = || CallRequest::json("test_elicitation", &json!({"message": "Who are you?"}));
    let err = host.call(ask()).await.unwrap_err();
    let Error::InputRequired { key, request, .. } = &err else {
        panic!("expected INPUT_REQUIRED, got {err}")
    };
    assert!(matches!(**request, InputRequest::Elicit(_)));
    assert_eq!(err.to_json()["code"], "INPUT_REQUIRED");
    assert_eq!(err.to_json()["details"]["input_requests"][key]["method"], "elicitation/create");

    let content = Some(json!({"username": "ada", "email": "ada@example.com"}));
    let answer = InputResponse::Elicit(ElicitResponse { action: ElicitAction::Accept, content });
    let answers = Answers::new(BTreeMap::from([(key.clone(), answer)]), None);
    let out = host.call(ask().interact(Arc::new(answers))).await.unwrap();
    assert!(out.output.to_text().contains("ada@example.com"), "{}", out.output.to_text());

    // An answer of the wrong kind reaches the guest as a failed interaction:
    // the tool's own error, not a crash; the plugin keeps serving.
    let sample = || CallRequest::json("test_sampling", &json!({"prompt": "hi"}));
    let Err(Error::InputRequired { key, .. }) = host.call(sample()).await else { panic!("sampling asks") };
    let wrong = InputResponse::Elicit(ElicitResponse { action: ElicitAction::Decline, content: None });
    let answers = Answers::new(BTreeMap::from([(key, wrong)]), None);
    let r = host.call(sample().interact(Arc::new(answers))).await;
    assert!(
        matches!(&r, Err(Error::Tool { message, .. }) if message.contains("not a sampling result")),
        "{r:?}"
    );
    let ok = host.call(CallRequest::json("test_simple_text", &json!({}))).await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn resource_updates_reach_subscribers_with_their_tenant() {
    let (host, _f) = conformance().await;
    let mut updates = host.resource_updates();
    let req = CallRequest::json("test_update_watched_resource", &json!({})).tenant("acme");
    host.call(req).await.unwrap();
    let u = tokio::time::timeout(std::time::Duration::from_secs(5), updates.recv()).await.unwrap().unwrap();
    assert_eq!(
        (u.uri.as_str(), u.tenant.as_str(), u.plugin.as_str()),
        ("test://watched-resource", "acme", "conformance")
    );
}
