//! Prompts and their completion.

use crate::bindings::toolhost::plugin::types as wit;
use crate::prelude::*;
use crate::{Completion, Entry, Registry, Role};

fn review(args: &Params, _ctx: &Context) -> Result<PromptResult, ToolError> {
    let lang = args.get("language").unwrap_or("code");
    Ok(PromptResult::new()
        .with_description("A code review")
        .user(format!("Review this {lang}:"))
        .user(EmbeddedResource::text("file:///main.rs", Some("text/x-rust"), args.require("code")?))
        .assistant("Looking at it."))
}

fn registry() -> Registry {
    Registry::from_entries([
        Entry::from(tool("t.noop", "No-op", |_: NoArgs, _ctx: &Context| Ok::<_, ToolError>(()))),
        Entry::from(
            prompt("code.review", "Review code", review)
                .title("Code review")
                .icon("data:image/png;base64,AA==", "image/png", ["16x16"])
                .argument("code", "The code", true)
                .argument("language", "Its language", false)
                .complete("language", |v| starting_with(["rust", "ruby", "python"], v))
                .complete_with_context("code", |v, ctx| {
                    vec![format!("{v} in {}", ctx.get("language").unwrap_or("?"))]
                }),
        ),
        Entry::from(prompt("simple", "Simple", |_: &Params, _: &Context| Ok(PromptResult::new().user("hi")))),
    ])
}

#[test]
fn prompt_descriptors() {
    let reg = registry();
    let d: Vec<_> = reg.prompts().collect();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].name, "code.review");
    assert_eq!(d[0].description.as_deref(), Some("Review code"));
    assert_eq!(d[0].arguments.len(), 2);
    assert!(d[0].arguments[0].required && !d[0].arguments[1].required);

    let w: wit::PromptDescriptor = d[0].into();
    assert_eq!(w.title.as_deref(), Some("Code review"));
    assert_eq!(w.arguments[1].name, "language");
    assert_eq!(w.arguments[1].description.as_deref(), Some("Its language"));
    assert_eq!(w.icons[0].sizes, ["16x16"]);
}

#[test]
fn get_prompt_fills_in_messages() {
    let args = Params::from_iter([("code", "fn main() {}"), ("language", "Rust")]);
    let r = registry().get_prompt("code.review", &args, &Context::new("c")).unwrap();
    assert_eq!(r.description.as_deref(), Some("A code review"));
    assert_eq!(r.messages.len(), 3);
    assert_eq!(r.messages[0].text(), Some("Review this Rust:"));
    assert_eq!(r.messages[2].role, Role::Assistant);

    let w: wit::PromptResult = r.into();
    assert_eq!(w.messages[0].role, wit::Role::User);
    assert!(matches!(&w.messages[1].content, wit::Content::Embedded(e)
        if e.uri == "file:///main.rs" && e.text.as_deref() == Some("fn main() {}")));
    assert_eq!(w.messages[2].role, wit::Role::Assistant);
}

#[test]
fn missing_required_argument_is_invalid_input() {
    let err = registry().get_prompt("code.review", &Params::new(), &Context::new("c")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.message(), "prompt `code.review` needs the argument `code`");
}

#[test]
fn unknown_prompt_is_not_found() {
    let err = registry().get_prompt("nope", &Params::new(), &Context::new("c")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("code.review, simple"), "{}", err.message());
}

#[test]
fn prompt_completion() {
    let reg = registry();
    let r = CompletionRef::Prompt("code.review".into());
    let c = reg.complete(&r, "language", "R", &Params::new()).unwrap();
    assert_eq!(c, Completion { values: vec!["rust".into(), "ruby".into()], total: Some(2), has_more: false });

    let ctx = Params::from_iter([("language", "go")]);
    assert_eq!(reg.complete(&r, "code", "x", &ctx).unwrap().values, ["x in go"]);
    // An argument without a completer, and a prompt without completers: no values.
    assert_eq!(reg.complete(&r, "other", "x", &ctx).unwrap(), Completion::default());
    let simple = CompletionRef::Prompt("simple".into());
    assert!(reg.complete(&simple, "a", "", &ctx).unwrap().values.is_empty());

    let err = reg.complete(&CompletionRef::Prompt("nope".into()), "a", "", &ctx).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let w: wit::Completion = reg.complete(&r, "language", "py", &Params::new()).unwrap().into();
    assert_eq!((w.values, w.total, w.has_more), (vec!["python".to_owned()], Some(1), false));
}

#[test]
fn completion_is_capped_at_100() {
    let c = Completion::from_values((0..150).map(|i| i.to_string()).collect());
    assert_eq!(c.values.len(), crate::MAX_COMPLETION_VALUES);
    assert_eq!(c.total, Some(150));
    assert!(c.has_more);
}

#[test]
#[should_panic(expected = "completes `colour`, which is not one of its arguments")]
fn completer_for_undeclared_argument_panics() {
    let p = prompt("p", "d", |_: &Params, _: &Context| Ok(PromptResult::new()))
        .argument("color", "d", false)
        .complete("colour", |_| vec![]);
    Registry::from_entries([Entry::from(p)]);
}

#[test]
#[should_panic(expected = "prompt name \"p\" is defined twice")]
fn duplicate_prompt_names_panic() {
    let p = || prompt("p", "d", |_: &Params, _: &Context| Ok(PromptResult::new()));
    Registry::from_entries([Entry::from(p()), Entry::from(p())]);
}

#[test]
fn a_tool_and_a_prompt_may_share_a_name() {
    let reg = Registry::from_entries([
        Entry::from(tool("same", "t", |_: NoArgs, _: &Context| Ok::<_, ToolError>(()))),
        Entry::from(prompt("same", "p", |_: &Params, _: &Context| Ok(PromptResult::new()))),
    ]);
    assert_eq!(reg.prompts().count(), 1);
}
