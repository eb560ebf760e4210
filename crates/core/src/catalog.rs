//! What plugins offer besides running tools (contract 0.2): tool
//! annotations and icons, prompts, resources and argument completion. The
//! serde shapes are MCP's (camelCase), so a front door can pass them on.

use crate::call::Bytes;
use crate::interact::Message;
use serde::{Deserialize, Serialize};

/// An icon a client may show (MCP `Icon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    /// `https:` or `data:` URI.
    pub src: String,
    /// e.g. `image/png`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// e.g. `48x48`, `any`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
}

/// Behaviour hints of a tool (MCP tool annotations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolAnnotations {
    /// Does not modify its environment.
    pub read_only: bool,
    /// May perform destructive updates.
    pub destructive: bool,
    /// Repeating a call has no further effect.
    pub idempotent: bool,
    /// Talks to an open world of external entities.
    pub open_world: bool,
}

/// One argument of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptArgument {
    /// Argument name.
    pub name: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What to pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it must be given.
    pub required: bool,
}

/// A prompt template a plugin offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptDescriptor {
    /// Unique prompt name.
    pub name: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the prompt is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Vec<PromptArgument>,
    /// Icons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icons: Vec<Icon>,
}

/// A prompt filled in with its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptResult {
    /// What this rendering is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<Message>,
}

/// A resource a plugin serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// Unique URI.
    pub uri: String,
    /// Short name.
    pub name: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Icons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icons: Vec<Icon>,
}

/// A family of resources addressed by an RFC 6570 URI template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplate {
    /// e.g. `notes://{day}`.
    pub uri_template: String,
    /// Short name.
    pub name: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the resources hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Icons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icons: Vec<Icon>,
}

impl ResourceTemplate {
    /// Whether `uri` matches the template (level-1 RFC 6570: each `{var}`
    /// matches one or more characters other than `/`).
    pub fn matches(&self, uri: &str) -> bool {
        template_matches(&self.uri_template, uri)
    }
}

fn template_matches(template: &str, uri: &str) -> bool {
    let Some(open) = template.find('{') else { return template == uri };
    let Some(close) = template[open..].find('}').map(|c| open + c) else { return template == uri };
    let (prefix, rest) = (&template[..open], &template[close + 1..]);
    let Some(tail) = uri.strip_prefix(prefix) else { return false };
    // The variable takes 1.. characters up to the next literal; try each split.
    (1..=tail.len())
        .filter(|&n| tail.is_char_boundary(n))
        .take_while(|&n| !tail[..n].contains('/'))
        .any(|n| template_matches(rest, &tail[n..]))
}

/// The contents of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceContents {
    /// The URI read.
    pub uri: String,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Text contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Binary contents (base64 in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<Bytes>,
}

/// What an argument completion refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CompletionRef {
    /// A prompt, by name.
    #[serde(rename = "ref/prompt")]
    Prompt {
        /// The prompt's name.
        name: String,
    },
    /// A resource template, by its URI template.
    #[serde(rename = "ref/resource")]
    Resource {
        /// The template.
        uri: String,
    },
}

/// Suggested values for an argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    /// At most 100 values.
    pub values: Vec<String>,
    /// How many there are in all, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// Whether there are more than `values`.
    #[serde(default)]
    pub has_more: bool,
}

/// A resource a guest reported changed (`host.resource-updated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceUpdated {
    /// The tenant whose call reported it.
    pub tenant: String,
    /// The plugin that reported it.
    pub plugin: String,
    /// The resource.
    pub uri: String,
}

/// Where resource updates go (one per host; every session subscribes).
pub type ResourceUpdates = tokio::sync::broadcast::Sender<ResourceUpdated>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_one_segment_per_variable() {
        let t = |s: &str| ResourceTemplate {
            uri_template: s.into(),
            name: "t".into(),
            title: None,
            description: None,
            mime_type: None,
            icons: vec![],
        };
        assert!(t("test://template/{id}/data").matches("test://template/42/data"));
        assert!(!t("test://template/{id}/data").matches("test://template//data"));
        assert!(!t("test://template/{id}/data").matches("test://template/4/2/data"));
        assert!(t("notes://{day}").matches("notes://2026-12-06"));
        assert!(!t("notes://{day}").matches("other://x"));
        assert!(t("a://{x}-{y}").matches("a://1-2"));
        assert!(t("plain://x").matches("plain://x"));
    }
}
