//! Why an OpenAPI upstream could not start. Every variant becomes an
//! [`Error::Configuration`](toolhost_core::Error::Configuration) naming the
//! upstream; none of them carries a header's value.

/// A failure of [`connect`](super::connect).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The entry has no `openapi` location.
    #[error("`openapi` is not set")]
    NoDocument,
    /// The document could not be read or fetched.
    #[error("cannot read the OpenAPI document {location}: {reason}")]
    Fetch {
        /// The `openapi` value.
        location: String,
        /// What went wrong.
        reason: String,
    },
    /// The document is larger than [`MAX_DOCUMENT_BYTES`](super::document::MAX_DOCUMENT_BYTES).
    #[error("the OpenAPI document {location} is larger than {limit} bytes")]
    TooLarge {
        /// The `openapi` value.
        location: String,
        /// The cap.
        limit: u64,
    },
    /// The document is not JSON/YAML or not an OpenAPI 3.0 document.
    #[error("the OpenAPI document {location} is invalid: {reason}")]
    Parse {
        /// The `openapi` value.
        location: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Neither `base_url` nor `servers[0].url` gives a usable base URL.
    #[error("no usable base URL: {0}")]
    BaseUrl(String),
    /// Two operations map to the same tool name.
    #[error("operationId {id:?} ({second}) gives the tool name {tool:?}, already used by {first}")]
    DuplicateOperation {
        /// The second operation's `operationId`.
        id: String,
        /// The tool name both map to.
        tool: String,
        /// `METHOD /path` of the first operation.
        first: String,
        /// `METHOD /path` of the second operation.
        second: String,
    },
    /// A configured header cannot be sent (its value is never shown).
    #[error("header {name}: {reason}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}
