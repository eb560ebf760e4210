//! Tool definitions: [`tool`], [`Tool`], [`ToolDef`] and [`ToolDescriptor`].

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::meta::wit_icons;
use crate::output::IntoOutput;
use crate::schema::{input_schema_for, output_schema_for, parse_args};
use crate::{Annotations, Context, Icon, Output, ToolError};

/// What a plugin says about one tool (mirrors the WIT `tool-descriptor`, with schemas as JSON
/// values).
///
/// Build one by hand (for [`ToolDef::raw`]) with `..Default::default()` for the fields you do
/// not need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolDescriptor {
    /// Unique tool name, `^[A-Za-z0-9_.-]{1,64}$`; a dot makes a namespace (`text.upper`).
    pub name: String,
    /// Human-readable name for user interfaces.
    pub title: Option<String>,
    /// What the tool does, written for a language model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub input_schema: Value,
    /// JSON Schema of the output value, if declared.
    pub output_schema: Option<Value>,
    /// Same input, same effect: the host may cache and retry it.
    pub idempotent: bool,
    /// Behaviour hints for clients (and for the host's destructive-tool policy).
    pub annotations: Annotations,
    /// Icons for user interfaces.
    pub icons: Vec<Icon>,
    /// Usually runs longer than a client waits: MCP clients that support tasks call it as one.
    pub long_running: bool,
}

/// Starts a typed tool definition: `name`, a `description` for the model, and the function.
///
/// The function takes the parsed arguments `A` and the call [`Context`], and returns
/// `Result<T, ToolError>` where `T` is any `Serialize` type (it becomes the output value) or an
/// [`Output`]. The input schema is derived from `A`. Tools are **not** idempotent unless you call
/// [`Tool::idempotent`].
///
/// ```
/// use toolhost_sdk::prelude::*;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Args { text: String }
///
/// fn upper(a: Args, _ctx: &Context) -> Result<String, ToolError> {
///     Ok(a.text.to_uppercase())
/// }
///
/// let def: ToolDef = tool("text.upper", "Uppercase the text", upper)
///     .title("Uppercase")
///     .read_only()
///     .idempotent()
///     .into();
/// let d = def.descriptor();
/// assert_eq!(d.name, "text.upper");
/// assert_eq!(d.title.as_deref(), Some("Uppercase"));
/// assert!(d.idempotent && d.annotations.idempotent && d.annotations.read_only);
/// ```
pub fn tool<A, T, F>(name: impl Into<String>, description: impl Into<String>, handler: F) -> Tool<A, T, F>
where
    A: DeserializeOwned + JsonSchema + 'static,
    T: IntoOutput + 'static,
    F: Fn(A, &Context) -> Result<T, ToolError> + Send + Sync + 'static,
{
    Tool {
        descriptor: ToolDescriptor {
            name: name.into(),
            description: description.into(),
            ..ToolDescriptor::default()
        },
        handler,
        input_schema: None,
        _types: PhantomData,
    }
}

/// A typed tool definition under construction; see [`tool`]. Converts into a [`ToolDef`].
pub struct Tool<A, T, F> {
    /// Everything but the input schema, which is derived from `A` unless set explicitly.
    descriptor: ToolDescriptor,
    handler: F,
    input_schema: Option<Value>,
    _types: PhantomData<fn(A) -> T>,
}

impl<A, T, F> fmt::Debug for Tool<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool").field("descriptor", &self.descriptor).finish_non_exhaustive()
    }
}

impl<A, T, F> Tool<A, T, F>
where
    A: DeserializeOwned + JsonSchema + 'static,
    T: IntoOutput + 'static,
    F: Fn(A, &Context) -> Result<T, ToolError> + Send + Sync + 'static,
{
    /// Marks the tool idempotent: same input, same effect. Sets both the host's caching and
    /// retry flag and the `idempotent` hint for clients.
    #[must_use]
    pub fn idempotent(self) -> Self {
        self.set_idempotent(true)
    }

    /// Sets idempotency explicitly, flag and hint (the default is `false`).
    #[must_use]
    pub fn set_idempotent(mut self, idempotent: bool) -> Self {
        self.descriptor.idempotent = idempotent;
        self.descriptor.annotations.idempotent = idempotent;
        self
    }

    crate::meta::display_setters!();

    /// Hints that the tool does not modify its environment (clears [`destructive`](Self::destructive)).
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.descriptor.annotations.read_only = true;
        self.descriptor.annotations.destructive = false;
        self
    }

    /// Hints that the tool may destroy data (clears [`read_only`](Self::read_only)). With
    /// `[policy] confirm_destructive = true` the host asks the user before running it.
    #[must_use]
    pub fn destructive(mut self) -> Self {
        self.descriptor.annotations.destructive = true;
        self.descriptor.annotations.read_only = false;
        self
    }

    /// Hints that the tool talks to an open world of external entities (the web, ...).
    #[must_use]
    pub fn open_world(mut self) -> Self {
        self.descriptor.annotations.open_world = true;
        self
    }

    /// Replaces all the annotations at once (the idempotent *flag* is left alone).
    #[must_use]
    pub fn annotations(mut self, annotations: Annotations) -> Self {
        self.descriptor.annotations = annotations;
        self
    }

    /// Marks the tool long-running: MCP clients that support tasks are asked to call it as a
    /// task. Report progress with [`Context::progress`].
    #[must_use]
    pub fn long_running(mut self) -> Self {
        self.descriptor.long_running = true;
        self
    }

    /// Declares an output schema derived from the return type `T`.
    #[must_use]
    pub fn output_schema(mut self) -> Self
    where
        T: JsonSchema,
    {
        self.descriptor.output_schema = Some(output_schema_for::<T>());
        self
    }

    /// Declares an explicit output schema.
    #[must_use]
    pub fn output_schema_value(mut self, schema: Value) -> Self {
        self.descriptor.output_schema = Some(schema);
        self
    }

    /// Replaces the derived input schema with an explicit one. Arguments are still parsed into
    /// `A`, so keep the two consistent.
    #[must_use]
    pub fn input_schema_value(mut self, schema: Value) -> Self {
        self.input_schema = Some(schema);
        self
    }
}

type Handler = Box<dyn Fn(&str, &Context) -> Result<Output, ToolError> + Send + Sync>;

/// A type-erased tool: its [`ToolDescriptor`] and a handler taking JSON arguments.
pub struct ToolDef {
    descriptor: ToolDescriptor,
    handler: Handler,
}

impl fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolDef").field("descriptor", &self.descriptor).finish_non_exhaustive()
    }
}

impl ToolDef {
    /// A tool from a descriptor and a raw handler (`args` JSON text in, [`Output`] out).
    ///
    /// Prefer [`tool`], which derives the schema and parses the arguments for you.
    pub fn raw<F>(descriptor: ToolDescriptor, handler: F) -> Self
    where
        F: Fn(&str, &Context) -> Result<Output, ToolError> + Send + Sync + 'static,
    {
        ToolDef { descriptor, handler: Box::new(handler) }
    }

    /// The descriptor.
    pub fn descriptor(&self) -> &ToolDescriptor {
        &self.descriptor
    }

    /// Runs the tool with JSON `args`.
    pub fn call(&self, args: &str, ctx: &Context) -> Result<Output, ToolError> {
        (self.handler)(args, ctx)
    }
}

impl<A, T, F> From<Tool<A, T, F>> for ToolDef
where
    A: DeserializeOwned + JsonSchema + 'static,
    T: IntoOutput + 'static,
    F: Fn(A, &Context) -> Result<T, ToolError> + Send + Sync + 'static,
{
    fn from(t: Tool<A, T, F>) -> Self {
        let handler = t.handler;
        ToolDef {
            descriptor: ToolDescriptor {
                input_schema: t.input_schema.unwrap_or_else(input_schema_for::<A>),
                ..t.descriptor
            },
            handler: Box::new(move |args: &str, ctx: &Context| {
                let args = parse_args::<A>(args)?;
                handler(args, ctx)?.into_output()
            }),
        }
    }
}

/// Whether `name` is a valid tool name: `^[A-Za-z0-9_.-]{1,64}$`.
pub fn is_valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl From<&ToolDescriptor> for crate::bindings::toolhost::plugin::types::ToolDescriptor {
    fn from(d: &ToolDescriptor) -> Self {
        crate::bindings::toolhost::plugin::types::ToolDescriptor {
            name: d.name.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            input_schema: d.input_schema.to_string(),
            output_schema: d.output_schema.as_ref().map(Value::to_string),
            idempotent: d.idempotent,
            annotations: d.annotations.into(),
            icons: wit_icons(&d.icons),
            long_running: d.long_running,
        }
    }
}
