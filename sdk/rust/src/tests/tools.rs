//! Tools: schemas, argument errors, descriptors, output and error mapping.

use serde_json::json;

use crate::bindings::toolhost::plugin::types as wit;
use crate::prelude::*;
use crate::testing::{self, HostEvent};
use crate::{Registry, input_schema_for, parse_args};

/// Arguments with a nested, shared type (forces `$defs`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The text to transform.
    text: String,
    #[serde(default)]
    times: Option<u32>,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
struct Item {
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Counted {
    count: usize,
}

fn upper(a: Args, _ctx: &Context) -> Result<String, ToolError> {
    Ok(a.text.repeat(a.times.unwrap_or(1) as usize).to_uppercase())
}

fn count(a: Args, ctx: &Context) -> Result<Counted, ToolError> {
    ctx.info(format!("counting {}", a.items.len()));
    ctx.progress(1.0, Some(2.0), Some("half"));
    ctx.emit(&json!({ "partial": 1 }))?;
    Ok(Counted { count: a.items.len() })
}

fn fail(_: NoArgs, _ctx: &Context) -> Result<(), ToolError> {
    Err(ToolError::rate_limited(1500).details(json!({ "bucket": "b1" })))
}

fn rich(_: NoArgs, _ctx: &Context) -> Result<Output, ToolError> {
    Output::text("hello")
        .with_image("image/png", vec![1, 2, 3])
        .with_audio("audio/wav", vec![4])
        .with_embedded(EmbeddedResource::text("file:///a.txt", Some("text/plain"), "A"))
        .with_value(&json!({ "ok": true }))
}

fn registry() -> Registry {
    Registry::new([
        tool("t.upper", "Uppercase", upper).idempotent().into(),
        tool("t.count", "Count items", count).output_schema().into(),
        tool("t.fail", "Always rate limited", fail).into(),
        tool("t.rich", "Rich content", rich).into(),
        tool("t.closure", "A closure", |a: Item, _ctx: &Context| Ok::<_, ToolError>(a.name.len())).into(),
    ])
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_owned());
                }
                refs(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn input_schema_is_draft_2020_12_and_self_contained() {
    let schema = input_schema_for::<Args>();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["text"]));
    assert_eq!(schema["properties"]["text"]["description"], "The text to transform.");
    assert_eq!(schema["additionalProperties"], false);
    let mut found = Vec::new();
    refs(&schema, &mut found);
    assert!(!found.is_empty(), "expected a $ref to Item: {schema}");
    for r in found {
        let pointer = r.strip_prefix('#').expect("only local $refs");
        assert!(schema.pointer(pointer).is_some(), "dangling {r}");
    }
}

#[test]
fn no_args_schema_is_an_object() {
    let schema = input_schema_for::<NoArgs>();
    assert_eq!(schema["type"], "object");
    assert_eq!(parse_args::<NoArgs>("").unwrap(), NoArgs {});
    assert_eq!(parse_args::<NoArgs>(r#"{"x":1}"#).unwrap(), NoArgs {});
}

#[test]
fn descriptors() {
    let reg = registry();
    let d: Vec<_> = reg.descriptors().collect();
    assert_eq!(d.len(), 5);
    assert_eq!(d[0].name, "t.upper");
    assert_eq!(d[0].description, "Uppercase");
    assert!(d[0].idempotent);
    assert!(!d[1].idempotent, "tools are not idempotent by default");
    assert!(d[0].output_schema.is_none());
    let out = d[1].output_schema.as_ref().expect("derived output schema");
    assert_eq!(out["properties"]["count"]["type"], "integer");

    let w: wit::ToolDescriptor = d[1].into();
    assert_eq!(w.name, "t.count");
    let parsed: Value = serde_json::from_str(&w.input_schema).unwrap();
    assert_eq!(parsed, d[1].input_schema);
    assert!(w.output_schema.is_some());
}

#[test]
fn call_serialises_value() {
    let out = registry().call("t.upper", r#"{"text":"ab","times":2}"#, &Context::new("c")).unwrap();
    assert_eq!(out.value(), Some(&json!("ABAB")));
    assert!(out.content().is_empty());
    let w: wit::ToolOutput = out.into();
    assert_eq!(w.value.as_deref(), Some(r#""ABAB""#));
    assert!(w.content.is_empty());
}

#[test]
fn closures_work_as_tools() {
    let out = registry().call("t.closure", r#"{"name":"four"}"#, &Context::new("c")).unwrap();
    assert_eq!(out.value(), Some(&json!(4)));
}

#[test]
fn missing_field_names_the_field() {
    let err = registry().call("t.upper", "{}", &Context::new("c")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.message(), "invalid arguments: missing field `text`");
    assert!(!err.is_retryable());
}

#[test]
fn wrong_type_names_the_path() {
    let err = parse_args::<Args>(r#"{"text":"a","items":[{"name":"x"},{"name":5}]}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.message(),
        "invalid argument `items[1].name`: invalid type: integer `5`, expected a string"
    );
    assert_eq!(err.details_value().unwrap()["path"], "items[1].name");

    let err = parse_args::<Args>(r#"{"text":"a","times":-1}"#).unwrap_err();
    assert!(err.message().starts_with("invalid argument `times`:"), "{}", err.message());
}

#[test]
fn unknown_field_and_bad_json() {
    let err = parse_args::<Args>(r#"{"text":"a","txet":1}"#).unwrap_err();
    assert!(err.message().contains("unknown field `txet`"), "{}", err.message());

    let err = parse_args::<Args>(r#"{"text": "#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().starts_with("arguments are not valid JSON"), "{}", err.message());

    let err = parse_args::<Args>(r#"{"text":"a"} x"#).unwrap_err();
    assert!(
        err.message().starts_with("arguments are not valid JSON: trailing characters"),
        "{}",
        err.message()
    );
}

#[test]
fn unknown_tool_is_not_found() {
    let err = registry().call("t.nope", "{}", &Context::new("c")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("t.upper, t.count"), "{}", err.message());
}

#[test]
fn error_mapping() {
    let err = registry().call("t.fail", "{}", &Context::new("c")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    let w: wit::ToolError = err.into();
    assert_eq!(w.kind, wit::ErrorKind::RateLimited);
    assert_eq!(w.retry_after_ms, Some(1500));
    assert_eq!(w.retryable, None);
    assert_eq!(w.details.as_deref(), Some(r#"{"bucket":"b1"}"#));

    let cases = [
        (ToolError::invalid_input("m"), wit::ErrorKind::InvalidInput, false),
        (ToolError::not_found("m"), wit::ErrorKind::NotFound, false),
        (ToolError::denied("m"), wit::ErrorKind::Denied, false),
        (ToolError::transient("m"), wit::ErrorKind::Transient, true),
        (ToolError::internal("m"), wit::ErrorKind::Internal, false),
    ];
    for (e, kind, retryable) in cases {
        assert_eq!(e.is_retryable(), retryable, "{e}");
        assert_eq!(e.message(), "m");
        let w: wit::ToolError = e.retryable(!retryable).into();
        assert_eq!(w.kind, kind);
        assert_eq!(w.retryable, Some(!retryable));
        assert_eq!(w.details, None);
    }
}

#[test]
fn rich_output_maps_every_content_kind() {
    let out = registry().call("t.rich", "", &Context::new("c")).unwrap();
    let w: wit::ToolOutput = out.into();
    assert_eq!(w.value.as_deref(), Some(r#"{"ok":true}"#));
    assert_eq!(w.content.len(), 4);
    assert!(matches!(&w.content[0], wit::Content::Text(t) if t == "hello"));
    assert!(
        matches!(&w.content[1], wit::Content::Image(m) if m.mime_type == "image/png" && m.data == [1, 2, 3])
    );
    assert!(matches!(&w.content[2], wit::Content::Audio(m) if m.mime_type == "audio/wav"));
    assert!(matches!(&w.content[3], wit::Content::Embedded(r)
        if r.uri == "file:///a.txt" && r.text.as_deref() == Some("A") && r.blob.is_none()));
}

#[test]
fn host_helpers_reach_the_fake_host() {
    testing::reset();
    testing::set_config("k", "v");
    let ctx = Context::new("c")
        .with_metadata("m", "1")
        .with_metadata("m", "2")
        .with_attempt(2)
        .with_deadline_ms(10_000);
    assert_eq!(ctx.metadata("m"), Some("1"));
    assert_eq!(ctx.metadata_all("m").collect::<Vec<_>>(), ["1", "2"]);
    assert!(ctx.is_retry());
    assert!(ctx.remaining().unwrap().as_millis() <= 10_000);
    assert_eq!(ctx.config("k").as_deref(), Some("v"));
    assert_eq!(ctx.config_or("missing", "dflt"), "dflt");
    assert_eq!(crate::config("k").as_deref(), Some("v"));

    registry().call("t.count", r#"{"text":"","items":[{"name":"a"}]}"#, &ctx).unwrap();
    assert_eq!(
        testing::take_events(),
        vec![
            HostEvent::Log { level: Level::Info, message: "counting 1".into() },
            HostEvent::Progress { done: 1.0, total: Some(2.0), message: Some("half".into()) },
            HostEvent::Emit(r#"{"partial":1}"#.into()),
        ]
    );
}

#[test]
fn call_context_conversion() {
    let ctx = Context::from(wit::CallContext {
        call_id: "c1".into(),
        request_id: Some("r".into()),
        tenant_id: Some("t".into()),
        user_id: None,
        traceparent: Some("00-abc-def-01".into()),
        deadline_ms: Some(500),
        attempt: 1,
        metadata: vec![("a".into(), "b".into())],
    });
    assert_eq!(ctx.call_id(), "c1");
    assert_eq!(ctx.request_id(), Some("r"));
    assert_eq!(ctx.tenant_id(), Some("t"));
    assert_eq!(ctx.user_id(), None);
    assert_eq!(ctx.traceparent(), Some("00-abc-def-01"));
    assert_eq!(ctx.deadline_ms(), Some(500));
    assert!(!ctx.is_retry());
    assert_eq!(ctx.metadata("a"), Some("b"));
}

#[test]
#[should_panic(expected = "defined twice")]
fn duplicate_names_panic() {
    Registry::new([tool("a", "x", upper).into(), tool("a", "y", upper).into()]);
}

#[test]
#[should_panic(expected = "invalid tool name")]
fn invalid_names_panic() {
    Registry::new([ToolDef::from(tool("has space", "x", upper))]);
}

#[test]
fn tools_default_to_no_hints() {
    let reg = registry();
    let d = reg.get("t.count").unwrap().descriptor();
    assert_eq!(d.title, None);
    assert_eq!(d.annotations, crate::Annotations::default());
    assert!(d.icons.is_empty());
    assert!(!d.long_running);
}

#[test]
fn builder_options_fill_the_descriptor() {
    let def: ToolDef = tool("t.purge", "Delete everything", upper)
        .title("Purge")
        .destructive()
        .open_world()
        .idempotent()
        .icon("https://example.com/trash.svg", "image/svg+xml", ["any"])
        .long_running()
        .into();
    let d = def.descriptor();
    assert_eq!(d.title.as_deref(), Some("Purge"));
    let hints =
        crate::Annotations { read_only: false, destructive: true, idempotent: true, open_world: true };
    assert_eq!(d.annotations, hints);
    assert!(d.idempotent, "idempotent() sets the caching flag too");
    assert!(d.long_running);
    assert_eq!(d.icons[0].mime_type.as_deref(), Some("image/svg+xml"));

    let w: wit::ToolDescriptor = d.into();
    assert_eq!(w.title.as_deref(), Some("Purge"));
    assert!(w.annotations.destructive && w.annotations.idempotent && w.annotations.open_world);
    assert!(!w.annotations.read_only);
    assert!(w.idempotent && w.long_running);
    assert_eq!(w.icons.len(), 1);
    assert_eq!(w.icons[0].src, "https://example.com/trash.svg");
    assert_eq!(w.icons[0].sizes, ["any"]);
}

#[test]
fn read_only_and_destructive_exclude_each_other() {
    let d = ToolDef::from(tool("a", "x", upper).destructive().read_only()).descriptor().annotations;
    assert!(d.read_only && !d.destructive);
    let d = ToolDef::from(tool("a", "x", upper).read_only().destructive()).descriptor().annotations;
    assert!(!d.read_only && d.destructive);
}

#[test]
fn set_idempotent_false_clears_flag_and_hint() {
    let def = ToolDef::from(tool("a", "x", upper).idempotent().set_idempotent(false));
    assert!(!def.descriptor().idempotent);
    assert!(!def.descriptor().annotations.idempotent);
}

#[test]
fn raw_descriptors_default_the_new_fields() {
    let d = crate::ToolDescriptor {
        name: "raw".into(),
        description: "Raw".into(),
        input_schema: json!({ "type": "object" }),
        ..Default::default()
    };
    let def = ToolDef::raw(d, |args, _ctx| Ok(Output::text(args)));
    let reg = Registry::new([def]);
    assert_eq!(reg.call("raw", "{}", &Context::new("c")).unwrap().content(), [Content::Text("{}".into())]);
}
