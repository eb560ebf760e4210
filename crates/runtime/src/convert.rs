//! Between the generated WIT types and toolhost's own (`toolhost_core`).

use crate::bindings::{self as b, v2::toolhost::plugin::types as w};
use toolhost_core::call::{Bytes, Content, ToolOutput};
use toolhost_core::catalog::{self as cat, Icon, ToolAnnotations};
use toolhost_core::error::{Error, Result, ToolErrorKind};
use toolhost_core::interact::{self as ia, InputRequest, InputResponse};

/// A tool as its plugin describes it (raw, before validation).
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub struct RawDescriptor {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub input_schema: String,
    pub output_schema: Option<String>,
    pub idempotent: bool,
    /// None for a 0.1 plugin (which could not say).
    pub annotations: Option<ToolAnnotations>,
    pub icons: Vec<Icon>,
    pub long_running: bool,
}

pub(crate) fn descriptor(d: b::ToolDescriptor, annotated: bool) -> RawDescriptor {
    let a = d.annotations;
    RawDescriptor {
        name: d.name,
        title: d.title,
        description: d.description,
        input_schema: d.input_schema,
        output_schema: d.output_schema,
        idempotent: d.idempotent,
        annotations: annotated.then_some(ToolAnnotations {
            read_only: a.read_only,
            destructive: a.destructive,
            idempotent: a.idempotent,
            open_world: a.open_world,
        }),
        icons: icons(d.icons),
        long_running: d.long_running,
    }
}

fn icons(i: Vec<w::Icon>) -> Vec<Icon> {
    i.into_iter().map(|i| Icon { src: i.src, mime_type: i.mime_type, sizes: i.sizes }).collect()
}

/// Bytes of a result that count against the output cap.
fn content_size(c: &b::Content) -> usize {
    match c {
        b::Content::Text(t) => t.len(),
        b::Content::Image(m) | b::Content::Audio(m) => m.data.len() + m.mime_type.len(),
        b::Content::Embedded(r) => {
            r.uri.len() + r.text.as_ref().map_or(0, String::len) + r.blob.as_ref().map_or(0, Vec::len)
        }
    }
}

pub(crate) fn content(c: b::Content) -> Content {
    match c {
        b::Content::Text(text) => Content::Text { text },
        b::Content::Image(m) => Content::Image { mime_type: m.mime_type, data: Bytes(m.data) },
        b::Content::Audio(m) => Content::Audio { mime_type: m.mime_type, data: Bytes(m.data) },
        b::Content::Embedded(r) => {
            Content::Resource { uri: r.uri, mime_type: r.mime_type, text: r.text, blob: r.blob.map(Bytes) }
        }
    }
}

fn wit_content(c: Content) -> b::Content {
    match c {
        Content::Text { text } => b::Content::Text(text),
        Content::Image { mime_type, data } => b::Content::Image(w::Media { mime_type, data: data.0 }),
        Content::Audio { mime_type, data } => b::Content::Audio(w::Media { mime_type, data: data.0 }),
        Content::Resource { uri, mime_type, text, blob } => {
            b::Content::Embedded(w::EmbeddedResource { uri, mime_type, text, blob: blob.map(|b| b.0) })
        }
    }
}

pub(crate) fn output(tool: &str, out: b::ToolOutput, cap: u64) -> Result<ToolOutput> {
    let size =
        out.value.as_ref().map_or(0, String::len) + out.content.iter().map(content_size).sum::<usize>();
    if size as u64 > cap {
        return Err(Error::OutputTooLarge { tool: tool.to_string(), limit: cap });
    }
    let value = match out.value {
        None => None,
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| Error::InvalidOutput {
            tool: tool.to_string(),
            reason: format!(
                "value is not valid JSON ({e}); starts with {:?}",
                toolhost_core::text::preview(&text)
            ),
        })?),
    };
    Ok(ToolOutput { value, content: out.content.into_iter().map(content).collect() })
}

pub(crate) fn tool_error(tool: &str, e: b::ToolError) -> Error {
    let kind = match e.kind {
        b::ErrorKind::InvalidInput => ToolErrorKind::InvalidInput,
        b::ErrorKind::NotFound => ToolErrorKind::NotFound,
        b::ErrorKind::Denied => ToolErrorKind::Denied,
        b::ErrorKind::Transient => ToolErrorKind::Transient,
        b::ErrorKind::RateLimited => ToolErrorKind::RateLimited,
        b::ErrorKind::Internal => ToolErrorKind::Internal,
    };
    let details = e.details.map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d)));
    Error::Tool {
        tool: tool.to_string(),
        kind,
        message: crate::stdio::escape_control(&e.message),
        retryable: e.retryable.unwrap_or(kind.retryable_by_default()),
        retry_after_ms: e.retry_after_ms,
        details,
    }
}

fn role(r: w::Role) -> ia::Role {
    match r {
        w::Role::User => ia::Role::User,
        w::Role::Assistant => ia::Role::Assistant,
    }
}

fn message(m: w::Message) -> ia::Message {
    ia::Message { role: role(m.role), content: content(m.content) }
}

pub(crate) fn prompt_descriptor(p: b::PromptDescriptor) -> cat::PromptDescriptor {
    cat::PromptDescriptor {
        name: p.name,
        title: p.title,
        description: p.description,
        arguments: p
            .arguments
            .into_iter()
            .map(|a| cat::PromptArgument {
                name: a.name,
                title: a.title,
                description: a.description,
                required: a.required,
            })
            .collect(),
        icons: icons(p.icons),
    }
}

pub(crate) fn prompt_result(r: b::PromptResult) -> cat::PromptResult {
    cat::PromptResult { description: r.description, messages: r.messages.into_iter().map(message).collect() }
}

pub(crate) fn resource(r: b::ResourceDescriptor) -> cat::ResourceDescriptor {
    cat::ResourceDescriptor {
        uri: r.uri,
        name: r.name,
        title: r.title,
        description: r.description,
        mime_type: r.mime_type,
        size: r.size,
        icons: icons(r.icons),
    }
}

pub(crate) fn template(t: b::ResourceTemplate) -> cat::ResourceTemplate {
    cat::ResourceTemplate {
        uri_template: t.uri_template,
        name: t.name,
        title: t.title,
        description: t.description,
        mime_type: t.mime_type,
        icons: icons(t.icons),
    }
}

pub(crate) fn contents(c: b::ResourceContents) -> cat::ResourceContents {
    let (text, blob) = match c.body {
        w::ResourceBody::Text(t) => (Some(t), None),
        w::ResourceBody::Blob(b) => (None, Some(Bytes(b))),
    };
    cat::ResourceContents { uri: c.uri, mime_type: c.mime_type, text, blob }
}

pub(crate) fn completion(c: b::Completion) -> cat::Completion {
    let mut values = c.values;
    let has_more = c.has_more || values.len() > 100;
    values.truncate(100);
    cat::Completion { values, total: c.total, has_more }
}

pub(crate) fn completion_ref(r: &cat::CompletionRef) -> b::CompletionRef {
    match r {
        cat::CompletionRef::Prompt { name } => b::CompletionRef::Prompt(name.clone()),
        cat::CompletionRef::Resource { uri } => b::CompletionRef::ResourceTemplate(uri.clone()),
    }
}

/// A guest's elicitation as a request; a schema that is not JSON is the guest's mistake.
pub(crate) fn elicit_request(r: w::ElicitRequest) -> std::result::Result<InputRequest, String> {
    Ok(InputRequest::Elicit(match r {
        w::ElicitRequest::Form(f) => ia::ElicitRequest::Form {
            message: f.message,
            requested_schema: serde_json::from_str(&f.requested_schema)
                .map_err(|e| format!("requested-schema is not JSON: {e}"))?,
        },
        w::ElicitRequest::Url(u) => {
            ia::ElicitRequest::Url { message: u.message, url: u.url, elicitation_id: u.elicitation_id }
        }
    }))
}

pub(crate) fn elicit_response(r: InputResponse) -> std::result::Result<w::ElicitResponse, String> {
    let InputResponse::Elicit(r) = r else { return Err("the answer is not an elicitation result".into()) };
    let action = match r.action {
        ia::ElicitAction::Accept => w::ElicitAction::Accept,
        ia::ElicitAction::Decline => w::ElicitAction::Decline,
        ia::ElicitAction::Cancel => w::ElicitAction::Cancel,
    };
    Ok(w::ElicitResponse { action, content: r.content.map(|c| c.to_string()) })
}

pub(crate) fn sampling_request(r: w::SamplingRequest) -> InputRequest {
    InputRequest::Sample(ia::SamplingRequest {
        messages: r.messages.into_iter().map(message).collect(),
        system_prompt: r.system_prompt,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        stop_sequences: r.stop_sequences,
        model_hints: r.model_hints,
    })
}

pub(crate) fn sampling_response(r: InputResponse) -> std::result::Result<w::SamplingResponse, String> {
    let InputResponse::Sample(r) = r else { return Err("the answer is not a sampling result".into()) };
    let role = match r.role {
        ia::Role::User => w::Role::User,
        ia::Role::Assistant => w::Role::Assistant,
    };
    Ok(w::SamplingResponse {
        role,
        content: wit_content(r.content),
        model: r.model,
        stop_reason: r.stop_reason,
    })
}
