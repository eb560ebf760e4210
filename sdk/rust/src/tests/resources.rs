//! Resources, resource templates, subscriptions and template completion.

use crate::bindings::toolhost::plugin::types as wit;
use crate::prelude::*;
use crate::{Entry, Registry, ResourceBody};

fn registry() -> Registry {
    Registry::from_entries([
        Entry::from(
            resource("test://text", "Text", |_ctx: &Context| Ok("hello"))
                .title("Some text")
                .description("A text resource")
                .mime_type("text/plain")
                .size(5),
        ),
        Entry::from(
            resource("test://bytes", "Bytes", |_ctx: &Context| Ok(vec![1u8, 2, 3])).mime_type("image/png"),
        ),
        Entry::from(resource("test://two", "Two parts", |_ctx: &Context| {
            Ok(vec![
                ResourceContents::text("test://two#a", Some("text/markdown"), "# A"),
                ResourceContents::text("", None, "b"),
            ])
        })),
        Entry::from(
            resource_template("test://items/{id}/data", "Item", |vars: &Params, _ctx: &Context| {
                Ok(format!(r#"{{"id":"{}"}}"#, vars.require("id")?))
            })
            .description("One item")
            .mime_type("application/json")
            .complete("id", |v| starting_with(["10", "11", "20"], v)),
        ),
        Entry::from(resource_template("test://{a}-{b}", "Pair", |vars: &Params, _ctx: &Context| {
            Ok(format!("{}+{}", vars.require("a")?, vars.require("b")?))
        })),
    ])
}

#[test]
fn listed_resources_and_templates() {
    let reg = registry();
    let r: Vec<_> = reg.resources().collect();
    assert_eq!(
        r.iter().map(|d| d.uri.as_str()).collect::<Vec<_>>(),
        ["test://text", "test://bytes", "test://two"]
    );
    let w: wit::ResourceDescriptor = r[0].into();
    assert_eq!(w.name, "Text");
    assert_eq!(w.title.as_deref(), Some("Some text"));
    assert_eq!(w.description.as_deref(), Some("A text resource"));
    assert_eq!(w.mime_type.as_deref(), Some("text/plain"));
    assert_eq!(w.size, Some(5));

    let t: Vec<_> = reg.templates().collect();
    assert_eq!(t.len(), 2);
    let w: wit::ResourceTemplate = t[0].into();
    assert_eq!(w.uri_template, "test://items/{id}/data");
    assert_eq!(w.mime_type.as_deref(), Some("application/json"));
}

#[test]
fn read_listed_resources() {
    let reg = registry();
    let ctx = Context::new("c");
    let text = reg.read_resource("test://text", &ctx).unwrap();
    assert_eq!(text, [ResourceContents::text("test://text", Some("text/plain"), "hello")]);

    let bytes = reg.read_resource("test://bytes", &ctx).unwrap();
    assert_eq!(bytes[0].body, ResourceBody::Blob(vec![1, 2, 3]));
    assert_eq!(bytes[0].mime_type.as_deref(), Some("image/png"));
    let w: wit::ResourceContents = bytes[0].clone().into();
    assert!(matches!(w.body, wit::ResourceBody::Blob(b) if b == [1, 2, 3]));

    // Explicit contents keep their URI and type; empty ones get the resource's URI.
    let two = reg.read_resource("test://two", &ctx).unwrap();
    assert_eq!(two[0].uri, "test://two#a");
    assert_eq!(two[0].mime_type.as_deref(), Some("text/markdown"));
    assert_eq!(two[1].uri, "test://two");
    assert_eq!(two[1].mime_type, None);
}

#[test]
fn read_through_templates() {
    let reg = registry();
    let ctx = Context::new("c");
    let item = reg.read_resource("test://items/123/data", &ctx).unwrap();
    assert_eq!(
        item,
        [ResourceContents::text("test://items/123/data", Some("application/json"), r#"{"id":"123"}"#)]
    );
    let decoded = reg.read_resource("test://items/a%20b/data", &ctx).unwrap();
    assert_eq!(decoded[0].as_text(), Some(r#"{"id":"a b"}"#));
    assert_eq!(reg.read_resource("test://x-y", &ctx).unwrap()[0].as_text(), Some("x+y"));

    for uri in ["test://items/1/2/data", "test://items//data", "test://nothing", "other://text"] {
        let err = reg.read_resource(uri, &ctx).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{uri}");
    }
}

#[test]
fn subscribe_accepts_served_uris_only() {
    let reg = registry();
    reg.subscribe("test://text").unwrap();
    reg.subscribe("test://items/9/data").unwrap();
    assert_eq!(reg.subscribe("test://unknown").unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn template_completion() {
    let reg = registry();
    let r = CompletionRef::ResourceTemplate("test://items/{id}/data".into());
    assert_eq!(reg.complete(&r, "id", "1", &Params::new()).unwrap().values, ["10", "11"]);
    let missing = CompletionRef::ResourceTemplate("test://{nope}".into());
    assert_eq!(reg.complete(&missing, "nope", "", &Params::new()).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn resource_updated_reaches_the_fake_host() {
    crate::testing::reset();
    let add = |_: NoArgs, _ctx: &Context| {
        resource_updated("notes://today");
        Ok::<_, ToolError>("added")
    };
    let reg = Registry::new([tool("notes.add", "Add", add).into()]);
    reg.call("notes.add", "{}", &Context::new("c")).unwrap();
    assert_eq!(crate::testing::resource_updates(), ["notes://today"]);
    assert_eq!(
        crate::testing::take_events(),
        [crate::testing::HostEvent::ResourceUpdated("notes://today".into())]
    );
}

#[test]
#[should_panic(expected = "resource URI \"test://a\" is defined twice")]
fn duplicate_resource_uris_panic() {
    let r = || resource("test://a", "A", |_ctx: &Context| Ok("a"));
    Registry::from_entries([Entry::from(r()), Entry::from(r())]);
}

#[test]
#[should_panic(expected = "invalid URI template \"files://{+path}\"")]
fn level_2_templates_panic() {
    let _ = resource_template("files://{+path}", "F", |_: &Params, _: &Context| Ok("x"));
}

#[test]
#[should_panic(expected = "completes `name`, which is not one of its arguments (id)")]
fn template_completer_for_unknown_variable_panics() {
    let t =
        resource_template("x://{id}", "X", |_: &Params, _: &Context| Ok("x")).complete("name", |_| vec![]);
    Registry::from_entries([Entry::from(t)]);
}
