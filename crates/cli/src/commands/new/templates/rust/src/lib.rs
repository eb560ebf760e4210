//! The `{{name}}` toolhost plugin: one tool, `{{name}}.hello`.
//! The contract is wit/plugin.wit (toolhost:plugin@0.2.0, world `plugin`).

wit_bindgen::generate!({ path: "wit", world: "plugin" });

use exports::toolhost::plugin::tool::Guest;
use toolhost::plugin::host::{LogLevel, log};
use toolhost::plugin::types::{Annotations, CallContext, ErrorKind, ToolDescriptor, ToolError, ToolOutput};

struct Plugin;

fn error(kind: ErrorKind, message: String) -> ToolError {
    ToolError { kind, message, retryable: None, retry_after_ms: None, details: None }
}

impl Guest for Plugin {
    fn describe() -> Vec<ToolDescriptor> {
        vec![ToolDescriptor {
            name: "{{name}}.hello".into(),
            title: Some("Say hello".into()),
            description: "Greet someone by name.".into(),
            input_schema: r#"{"type":"object","properties":{"name":{"type":"string","description":"Who to greet"}},"required":["name"]}"#.into(),
            output_schema: None,
            idempotent: true,
            // Hints for clients: it changes nothing, the same name gives the same greeting,
            // and it reaches nothing outside the call.
            annotations: Annotations { read_only: true, destructive: false, idempotent: true, open_world: false },
            icons: vec![],
            long_running: false,
        }]
    }

    fn call(name: String, args: String, ctx: CallContext) -> Result<ToolOutput, ToolError> {
        if name != "{{name}}.hello" {
            return Err(error(ErrorKind::NotFound, format!("no tool named {name}")));
        }
        let args: serde_json::Value = serde_json::from_str(&args)
            .map_err(|e| error(ErrorKind::InvalidInput, format!("arguments are not JSON: {e}")))?;
        let who = args["name"].as_str().unwrap_or("world");
        log(LogLevel::Debug, &format!("call {} greets {who}", ctx.call_id));
        let value = serde_json::json!({ "greeting": format!("Hello, {who}!") });
        Ok(ToolOutput { value: Some(value.to_string()), content: vec![] })
    }
}

export!(Plugin);
