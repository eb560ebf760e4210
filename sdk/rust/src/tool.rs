//! Tool definitions ([`tool`], [`Tool`], [`ToolDef`]) and the plugin's [`Registry`].

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::output::IntoOutput;
use crate::schema::{input_schema_for, output_schema_for, parse_args};
use crate::{Context, Output, ToolError};

/// What a plugin says about one tool (mirrors the WIT `tool-descriptor`, with schemas as JSON
/// values).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDescriptor {
    /// Unique tool name, `^[A-Za-z0-9_.-]{1,64}$`; a dot makes a namespace (`text.upper`).
    pub name: String,
    /// What the tool does, written for a language model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub input_schema: Value,
    /// JSON Schema of the output value, if declared.
    pub output_schema: Option<Value>,
    /// Same input, same effect: safe to cache and to retry.
    pub idempotent: bool,
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
/// let def: ToolDef = tool("text.upper", "Uppercase the text", upper).idempotent().into();
/// assert_eq!(def.descriptor().name, "text.upper");
/// assert!(def.descriptor().idempotent);
/// ```
pub fn tool<A, T, F>(name: impl Into<String>, description: impl Into<String>, handler: F) -> Tool<A, T, F>
where
    A: DeserializeOwned + JsonSchema + 'static,
    T: IntoOutput + 'static,
    F: Fn(A, &Context) -> Result<T, ToolError> + Send + Sync + 'static,
{
    Tool {
        name: name.into(),
        description: description.into(),
        handler,
        idempotent: false,
        output_schema: None,
        input_schema: None,
        _types: PhantomData,
    }
}

/// A typed tool definition under construction; see [`tool`]. Converts into a [`ToolDef`].
pub struct Tool<A, T, F> {
    name: String,
    description: String,
    handler: F,
    idempotent: bool,
    output_schema: Option<Value>,
    input_schema: Option<Value>,
    _types: PhantomData<fn(A) -> T>,
}

impl<A, T, F> fmt::Debug for Tool<A, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("idempotent", &self.idempotent)
            .finish_non_exhaustive()
    }
}

impl<A, T, F> Tool<A, T, F>
where
    A: DeserializeOwned + JsonSchema + 'static,
    T: IntoOutput + 'static,
    F: Fn(A, &Context) -> Result<T, ToolError> + Send + Sync + 'static,
{
    /// Marks the tool idempotent: same input, same effect, safe to cache and retry.
    #[must_use]
    pub fn idempotent(self) -> Self {
        self.set_idempotent(true)
    }

    /// Sets idempotency explicitly (the default is `false`).
    #[must_use]
    pub fn set_idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Declares an output schema derived from the return type `T`.
    #[must_use]
    pub fn output_schema(mut self) -> Self
    where
        T: JsonSchema,
    {
        self.output_schema = Some(output_schema_for::<T>());
        self
    }

    /// Declares an explicit output schema.
    #[must_use]
    pub fn output_schema_value(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
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
                name: t.name,
                description: t.description,
                input_schema: t.input_schema.unwrap_or_else(input_schema_for::<A>),
                output_schema: t.output_schema,
                idempotent: t.idempotent,
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

/// The tools of one plugin, looked up by name. [`plugin!`](crate::plugin) builds one; use it
/// directly to test a plugin natively.
#[derive(Debug)]
pub struct Registry {
    tools: Vec<ToolDef>,
}

impl Registry {
    /// A registry of `tools`.
    ///
    /// # Panics
    ///
    /// When a name is invalid (see [`is_valid_tool_name`]) or used twice: a plugin with such a
    /// bug traps at load, where the host reports it.
    pub fn new(tools: impl IntoIterator<Item = ToolDef>) -> Self {
        let tools: Vec<ToolDef> = tools.into_iter().collect();
        for (i, t) in tools.iter().enumerate() {
            let name = &t.descriptor.name;
            assert!(
                is_valid_tool_name(name),
                "toolhost-sdk: invalid tool name {name:?} (want ^[A-Za-z0-9_.-]{{1,64}}$)"
            );
            assert!(
                !tools[..i].iter().any(|o| &o.descriptor.name == name),
                "toolhost-sdk: tool name {name:?} is defined twice"
            );
        }
        Registry { tools }
    }

    /// The descriptors, in definition order.
    pub fn descriptors(&self) -> impl Iterator<Item = &ToolDescriptor> {
        self.tools.iter().map(|t| &t.descriptor)
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&ToolDef> {
        self.tools.iter().find(|t| t.descriptor.name == name)
    }

    /// Runs tool `name` with JSON `args`; an unknown name is a not-found error listing the tools.
    pub fn call(&self, name: &str, args: &str, ctx: &Context) -> Result<Output, ToolError> {
        match self.get(name) {
            Some(t) => t.call(args, ctx),
            None => {
                let known: Vec<&str> = self.descriptors().map(|d| d.name.as_str()).collect();
                Err(ToolError::not_found(format!(
                    "unknown tool `{name}`; this plugin provides: {}",
                    known.join(", ")
                )))
            }
        }
    }
}

impl From<&ToolDescriptor> for crate::bindings::toolhost::plugin::types::ToolDescriptor {
    fn from(d: &ToolDescriptor) -> Self {
        crate::bindings::toolhost::plugin::types::ToolDescriptor {
            name: d.name.clone(),
            description: d.description.clone(),
            input_schema: d.input_schema.to_string(),
            output_schema: d.output_schema.as_ref().map(Value::to_string),
            idempotent: d.idempotent,
        }
    }
}
