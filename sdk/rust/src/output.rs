//! [`Output`]: what a successful call returns (the WIT `tool-output`).

use serde::Serialize;
use serde_json::Value;

use crate::ToolError;
use crate::bindings::toolhost::plugin::types as wit;

/// One content block for the model (the WIT `content`, i.e. MCP content).
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// An image.
    Image {
        /// MIME type, e.g. `image/png`.
        mime_type: String,
        /// The encoded image bytes.
        data: Vec<u8>,
    },
    /// An audio clip.
    Audio {
        /// MIME type, e.g. `audio/wav`.
        mime_type: String,
        /// The encoded audio bytes.
        data: Vec<u8>,
    },
    /// A resource embedded in the result.
    Embedded(EmbeddedResource),
}

/// A resource embedded in a result: text or binary, named by a URI.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddedResource {
    /// The resource's URI.
    pub uri: String,
    /// MIME type, if known.
    pub mime_type: Option<String>,
    /// Text content, for text resources.
    pub text: Option<String>,
    /// Binary content, for binary resources.
    pub blob: Option<Vec<u8>>,
}

impl EmbeddedResource {
    /// A text resource.
    pub fn text(uri: impl Into<String>, mime_type: Option<&str>, text: impl Into<String>) -> Self {
        EmbeddedResource {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            text: Some(text.into()),
            blob: None,
        }
    }

    /// A binary resource.
    pub fn blob(uri: impl Into<String>, mime_type: Option<&str>, blob: Vec<u8>) -> Self {
        EmbeddedResource {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            text: None,
            blob: Some(blob),
        }
    }
}

/// A successful result: an optional JSON `value` (MCP `structuredContent`) and content blocks.
///
/// Tools that return any `T: Serialize` get an `Output` whose value is `T` as JSON and with no
/// content blocks (hosts then render the value as text). Return an `Output` to control both:
///
/// ```
/// use toolhost_sdk::{Output, ToolError};
/// # fn png() -> Vec<u8> { vec![] }
/// fn chart() -> Result<Output, ToolError> {
///     Ok(Output::text("Here is the chart.")
///         .with_image("image/png", png())
///         .with_value(&serde_json::json!({ "points": 3 }))?)
/// }
/// # chart().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    value: Option<Value>,
    content: Vec<Content>,
}

impl Output {
    /// An empty output: no value, no content.
    pub fn new() -> Self {
        Output::default()
    }

    /// An output whose value is `value` serialised to JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, ToolError> {
        Output::new().with_value(value)
    }

    /// An output with one text block and no value.
    pub fn text(text: impl Into<String>) -> Self {
        Output::new().with_text(text)
    }

    /// Sets the value to `value` serialised to JSON (fails with an internal error when it
    /// cannot be serialised, e.g. a map with non-string keys).
    pub fn with_value<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, ToolError> {
        self.value = Some(to_json(value)?);
        Ok(self)
    }

    /// Sets the value to an already-built JSON value.
    #[must_use]
    pub fn with_json(mut self, value: Value) -> Self {
        self.value = Some(value);
        self
    }

    /// Appends a text block.
    #[must_use]
    pub fn with_text(self, text: impl Into<String>) -> Self {
        self.with_content(Content::Text(text.into()))
    }

    /// Appends an image block.
    #[must_use]
    pub fn with_image(self, mime_type: impl Into<String>, data: Vec<u8>) -> Self {
        self.with_content(Content::Image { mime_type: mime_type.into(), data })
    }

    /// Appends an audio block.
    #[must_use]
    pub fn with_audio(self, mime_type: impl Into<String>, data: Vec<u8>) -> Self {
        self.with_content(Content::Audio { mime_type: mime_type.into(), data })
    }

    /// Appends an embedded resource block.
    #[must_use]
    pub fn with_embedded(self, resource: EmbeddedResource) -> Self {
        self.with_content(Content::Embedded(resource))
    }

    /// Appends any content block.
    #[must_use]
    pub fn with_content(mut self, content: Content) -> Self {
        self.content.push(content);
        self
    }

    /// The value, if set.
    pub fn value(&self) -> Option<&Value> {
        self.value.as_ref()
    }

    /// The content blocks, in order.
    pub fn content(&self) -> &[Content] {
        &self.content
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, ToolError> {
    serde_json::to_value(value)
        .map_err(|e| ToolError::internal(format!("could not serialise the result: {e}")))
}

/// What a tool function may return in `Ok`: any `T: Serialize` (becomes the output value) or an
/// [`Output`] (used as is).
pub trait IntoOutput {
    /// Converts into an [`Output`].
    fn into_output(self) -> Result<Output, ToolError>;
}

impl IntoOutput for Output {
    fn into_output(self) -> Result<Output, ToolError> {
        Ok(self)
    }
}

impl<T: Serialize> IntoOutput for T {
    fn into_output(self) -> Result<Output, ToolError> {
        Output::json(&self)
    }
}

impl From<Content> for wit::Content {
    fn from(c: Content) -> Self {
        match c {
            Content::Text(t) => wit::Content::Text(t),
            Content::Image { mime_type, data } => wit::Content::Image(wit::Media { mime_type, data }),
            Content::Audio { mime_type, data } => wit::Content::Audio(wit::Media { mime_type, data }),
            Content::Embedded(r) => wit::Content::Embedded(wit::EmbeddedResource {
                uri: r.uri,
                mime_type: r.mime_type,
                text: r.text,
                blob: r.blob,
            }),
        }
    }
}

impl From<Output> for wit::ToolOutput {
    fn from(o: Output) -> Self {
        wit::ToolOutput {
            value: o.value.map(|v| v.to_string()),
            content: o.content.into_iter().map(Into::into).collect(),
        }
    }
}
