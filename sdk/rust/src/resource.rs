//! Resources: listed ones ([`resource`]) and URI-template families ([`resource_template`])
//! (MCP `resources/list`, `resources/templates/list` and `resources/read`).

use std::fmt;

use crate::bindings::toolhost::plugin::types as wit;
use crate::completion::{Completers, completion_setters};
use crate::meta::{display_setters, wit_icons};
use crate::uri_template::UriTemplate;
use crate::{Completion, Context, Icon, Params, ToolError};

/// What a resource holds (the WIT `resource-body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceBody {
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// The contents of one resource (the WIT `resource-contents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// MIME type, if known.
    pub mime_type: Option<String>,
    /// Text or bytes.
    pub body: ResourceBody,
}

impl ResourceContents {
    /// Text contents.
    pub fn text(uri: impl Into<String>, mime_type: Option<&str>, text: impl Into<String>) -> Self {
        ResourceContents {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            body: ResourceBody::Text(text.into()),
        }
    }

    /// Binary contents.
    pub fn blob(uri: impl Into<String>, mime_type: Option<&str>, blob: Vec<u8>) -> Self {
        ResourceContents {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            body: ResourceBody::Blob(blob),
        }
    }

    /// The text, for text contents.
    pub fn as_text(&self) -> Option<&str> {
        match &self.body {
            ResourceBody::Text(t) => Some(t),
            ResourceBody::Blob(_) => None,
        }
    }
}

/// What a resource function may return in `Ok`: text (`String`, `&'static str`), bytes
/// (`Vec<u8>`) or a [`ResourceBody`], which the SDK gives the requested URI and the declared
/// MIME type; or explicit [`ResourceContents`] (one or a list; an empty `uri` or a missing MIME
/// type is filled in the same way).
pub trait IntoContents {
    /// Converts into a list of contents.
    fn into_contents(self) -> Vec<ResourceContents>;
}

impl IntoContents for ResourceBody {
    fn into_contents(self) -> Vec<ResourceContents> {
        vec![ResourceContents { uri: String::new(), mime_type: None, body: self }]
    }
}

impl IntoContents for String {
    fn into_contents(self) -> Vec<ResourceContents> {
        ResourceBody::Text(self).into_contents()
    }
}

impl IntoContents for &'static str {
    fn into_contents(self) -> Vec<ResourceContents> {
        self.to_owned().into_contents()
    }
}

impl IntoContents for Vec<u8> {
    fn into_contents(self) -> Vec<ResourceContents> {
        ResourceBody::Blob(self).into_contents()
    }
}

impl IntoContents for ResourceContents {
    fn into_contents(self) -> Vec<ResourceContents> {
        vec![self]
    }
}

impl IntoContents for Vec<ResourceContents> {
    fn into_contents(self) -> Vec<ResourceContents> {
        self
    }
}

/// What a plugin says about one listed resource (the WIT `resource-descriptor`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceDescriptor {
    /// Unique URI, e.g. `notes://today`.
    pub uri: String,
    /// Short name.
    pub name: String,
    /// Human-readable name for user interfaces.
    pub title: Option<String>,
    /// What the resource holds.
    pub description: Option<String>,
    /// MIME type, if known.
    pub mime_type: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Icons for user interfaces.
    pub icons: Vec<Icon>,
}

/// What a plugin says about a family of resources (the WIT `resource-template`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceTemplateDescriptor {
    /// RFC 6570 level-1 URI template, e.g. `notes://{day}`.
    pub uri_template: String,
    /// Short name.
    pub name: String,
    /// Human-readable name for user interfaces.
    pub title: Option<String>,
    /// What the resources hold.
    pub description: Option<String>,
    /// MIME type of every resource of the family, if known.
    pub mime_type: Option<String>,
    /// Icons for user interfaces.
    pub icons: Vec<Icon>,
}

/// `description` and `mime_type` builder methods (resources and resource templates).
macro_rules! resource_setters {
    () => {
        /// Says what the resource holds.
        #[must_use]
        pub fn description(mut self, description: impl Into<String>) -> Self {
            self.descriptor.description = Some(description.into());
            self
        }

        /// Sets the MIME type, also used for contents returned as plain text or bytes.
        #[must_use]
        pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
            self.descriptor.mime_type = Some(mime_type.into());
            self
        }
    };
}

type ResourceHandler = Box<dyn Fn(&Context) -> Result<Vec<ResourceContents>, ToolError> + Send + Sync>;
type TemplateHandler =
    Box<dyn Fn(&Params, &Context) -> Result<Vec<ResourceContents>, ToolError> + Send + Sync>;

/// Starts a listed resource: its `uri`, a short `name`, and the function that reads it.
///
/// ```
/// use toolhost_sdk::prelude::*;
///
/// let r = resource("config://limits", "Limits", |_ctx: &Context| Ok("max = 10"))
///     .description("The current limits")
///     .mime_type("text/plain");
/// let contents = r.read(&Context::new("c1")).unwrap();
/// assert_eq!(contents[0].as_text(), Some("max = 10"));
/// assert_eq!(contents[0].mime_type.as_deref(), Some("text/plain"));
/// ```
pub fn resource<R, F>(uri: impl Into<String>, name: impl Into<String>, handler: F) -> Resource
where
    R: IntoContents,
    F: Fn(&Context) -> Result<R, ToolError> + Send + Sync + 'static,
{
    Resource {
        descriptor: ResourceDescriptor {
            uri: uri.into(),
            name: name.into(),
            ..ResourceDescriptor::default()
        },
        handler: Box::new(move |ctx: &Context| handler(ctx).map(IntoContents::into_contents)),
    }
}

/// A listed resource: its [`ResourceDescriptor`] and the function that reads it.
pub struct Resource {
    descriptor: ResourceDescriptor,
    handler: ResourceHandler,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource").field("descriptor", &self.descriptor).finish_non_exhaustive()
    }
}

impl Resource {
    display_setters!();
    resource_setters!();

    /// Sets the size in bytes.
    #[must_use]
    pub fn size(mut self, size: u64) -> Self {
        self.descriptor.size = Some(size);
        self
    }

    /// The descriptor.
    pub fn descriptor(&self) -> &ResourceDescriptor {
        &self.descriptor
    }

    /// Reads the resource.
    pub fn read(&self, ctx: &Context) -> Result<Vec<ResourceContents>, ToolError> {
        let d = &self.descriptor;
        let contents = (self.handler)(ctx)?;
        Ok(fill_in(contents, &d.uri, d.mime_type.as_deref()))
    }
}

/// Gives contents without a URI the resource's URI, and those without a MIME type the declared one.
fn fill_in(mut contents: Vec<ResourceContents>, uri: &str, mime_type: Option<&str>) -> Vec<ResourceContents> {
    for c in &mut contents {
        if c.uri.is_empty() {
            uri.clone_into(&mut c.uri);
        }
        if c.mime_type.is_none() {
            c.mime_type = mime_type.map(str::to_owned);
        }
    }
    contents
}

/// Starts a resource template: an RFC 6570 level-1 `uri_template` (`notes://{day}`), a short
/// `name`, and the function that reads one resource given the matched variables.
///
/// # Panics
///
/// When `uri_template` is not a level-1 template (operators such as `{+path}`, lists such as
/// `{a,b}`, adjacent or repeated variables, unbalanced braces).
///
/// ```
/// use toolhost_sdk::prelude::*;
///
/// let t = resource_template("users://{id}/profile", "User profile", |vars: &Params, _ctx: &Context| {
///     Ok(format!("profile of {}", vars.require("id")?))
/// })
/// .mime_type("text/plain")
/// .complete("id", |v| starting_with(["ada", "alan"], v));
/// let contents = t.read("users://ada/profile", &Context::new("c1")).unwrap().unwrap();
/// assert_eq!(contents[0].as_text(), Some("profile of ada"));
/// assert!(t.read("users://ada", &Context::new("c1")).is_none());
/// ```
pub fn resource_template<R, F>(
    uri_template: impl Into<String>,
    name: impl Into<String>,
    handler: F,
) -> ResourceTemplate
where
    R: IntoContents,
    F: Fn(&Params, &Context) -> Result<R, ToolError> + Send + Sync + 'static,
{
    let uri_template = uri_template.into();
    let template = UriTemplate::parse(&uri_template)
        .unwrap_or_else(|e| panic!("toolhost-sdk: invalid URI template {uri_template:?}: {e}"));
    ResourceTemplate {
        descriptor: ResourceTemplateDescriptor {
            uri_template,
            name: name.into(),
            ..ResourceTemplateDescriptor::default()
        },
        template,
        handler: Box::new(move |vars: &Params, ctx: &Context| {
            handler(vars, ctx).map(IntoContents::into_contents)
        }),
        completers: Completers::default(),
    }
}

/// A family of resources addressed by a URI template; see [`resource_template`].
pub struct ResourceTemplate {
    descriptor: ResourceTemplateDescriptor,
    template: UriTemplate,
    handler: TemplateHandler,
    completers: Completers,
}

impl fmt::Debug for ResourceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceTemplate")
            .field("descriptor", &self.descriptor)
            .field("completers", &self.completers)
            .finish_non_exhaustive()
    }
}

impl ResourceTemplate {
    display_setters!();
    resource_setters!();
    completion_setters!();

    /// The descriptor.
    pub fn descriptor(&self) -> &ResourceTemplateDescriptor {
        &self.descriptor
    }

    /// The variables, when `uri` belongs to this template.
    pub fn match_uri(&self, uri: &str) -> Option<Params> {
        self.template.match_uri(uri)
    }

    /// Reads `uri`: `None` when it does not match the template.
    pub fn read(&self, uri: &str, ctx: &Context) -> Option<Result<Vec<ResourceContents>, ToolError>> {
        let vars = self.match_uri(uri)?;
        let contents = (self.handler)(&vars, ctx);
        Some(contents.map(|c| fill_in(c, uri, self.descriptor.mime_type.as_deref())))
    }

    /// Suggests values for template variable `argument` from the partial `value`.
    pub fn completion(&self, argument: &str, value: &str, context: &Params) -> Completion {
        self.completers.complete(argument, value, context)
    }

    /// The variable names of the template.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &str> {
        self.template.vars()
    }

    /// The variable names that have a completer.
    pub(crate) fn completed_arguments(&self) -> impl Iterator<Item = &str> {
        self.completers.names()
    }
}

impl From<&ResourceDescriptor> for wit::ResourceDescriptor {
    fn from(d: &ResourceDescriptor) -> Self {
        wit::ResourceDescriptor {
            uri: d.uri.clone(),
            name: d.name.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            mime_type: d.mime_type.clone(),
            size: d.size,
            icons: wit_icons(&d.icons),
        }
    }
}

impl From<&ResourceTemplateDescriptor> for wit::ResourceTemplate {
    fn from(d: &ResourceTemplateDescriptor) -> Self {
        wit::ResourceTemplate {
            uri_template: d.uri_template.clone(),
            name: d.name.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            mime_type: d.mime_type.clone(),
            icons: wit_icons(&d.icons),
        }
    }
}

impl From<ResourceContents> for wit::ResourceContents {
    fn from(c: ResourceContents) -> Self {
        let body = match c.body {
            ResourceBody::Text(t) => wit::ResourceBody::Text(t),
            ResourceBody::Blob(b) => wit::ResourceBody::Blob(b),
        };
        wit::ResourceContents { uri: c.uri, mime_type: c.mime_type, body }
    }
}
