//! [`Message`] and [`Role`]: one turn of a prompt or of a sampling conversation.

use crate::bindings::toolhost::plugin::types as wit;
use crate::{Content, EmbeddedResource};

/// Who speaks a message (the WIT `role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The user (or the client on the user's behalf).
    User,
    /// The language model.
    Assistant,
}

/// One message of a prompt or of a sampling conversation (the WIT `message`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said: text, an image, audio or an embedded resource.
    pub content: Content,
}

impl Message {
    /// A message from the user.
    pub fn user(content: impl Into<Content>) -> Self {
        Message { role: Role::User, content: content.into() }
    }

    /// A message from the assistant.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Message { role: Role::Assistant, content: content.into() }
    }

    /// The text, when the content is text.
    pub fn text(&self) -> Option<&str> {
        self.content.as_text()
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::Text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::Text(text.to_owned())
    }
}

impl From<EmbeddedResource> for Content {
    fn from(resource: EmbeddedResource) -> Self {
        Content::Embedded(resource)
    }
}

impl Content {
    /// The text, when this is a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Content::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl From<Role> for wit::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::User => wit::Role::User,
            Role::Assistant => wit::Role::Assistant,
        }
    }
}

impl From<wit::Role> for Role {
    fn from(r: wit::Role) -> Self {
        match r {
            wit::Role::User => Role::User,
            wit::Role::Assistant => Role::Assistant,
        }
    }
}

impl From<Message> for wit::Message {
    fn from(m: Message) -> Self {
        wit::Message { role: m.role.into(), content: m.content.into() }
    }
}

impl From<wit::Content> for Content {
    fn from(c: wit::Content) -> Self {
        match c {
            wit::Content::Text(t) => Content::Text(t),
            wit::Content::Image(m) => Content::Image { mime_type: m.mime_type, data: m.data },
            wit::Content::Audio(m) => Content::Audio { mime_type: m.mime_type, data: m.data },
            wit::Content::Embedded(r) => Content::Embedded(EmbeddedResource {
                uri: r.uri,
                mime_type: r.mime_type,
                text: r.text,
                blob: r.blob,
            }),
        }
    }
}
