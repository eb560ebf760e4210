//! Prompt templates: [`prompt`], [`Prompt`], [`PromptResult`] (MCP `prompts/list` and
//! `prompts/get`).

use std::fmt;

use crate::bindings::toolhost::plugin::types as wit;
use crate::completion::{Completers, completion_setters};
use crate::meta::{display_setters, wit_icons};
use crate::{Completion, Content, Context, Icon, Message, Params, ToolError};

/// One argument a prompt takes (the WIT `prompt-argument`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromptArgument {
    /// The argument's name.
    pub name: String,
    /// Human-readable name for user interfaces.
    pub title: Option<String>,
    /// What the argument is for.
    pub description: Option<String>,
    /// Whether the prompt needs it.
    pub required: bool,
}

/// What a plugin says about one prompt (the WIT `prompt-descriptor`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PromptDescriptor {
    /// Unique prompt name, same rules as tool names.
    pub name: String,
    /// Human-readable name for user interfaces.
    pub title: Option<String>,
    /// What the prompt is for.
    pub description: Option<String>,
    /// The arguments, in declaration order.
    pub arguments: Vec<PromptArgument>,
    /// Icons for user interfaces.
    pub icons: Vec<Icon>,
}

/// A prompt filled in with its arguments: the messages to send (the WIT `prompt-result`).
///
/// ```
/// use toolhost_sdk::PromptResult;
/// let r = PromptResult::new()
///     .with_description("A code review")
///     .user("Review this function:")
///     .assistant("Sure, paste it.");
/// assert_eq!(r.messages.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromptResult {
    /// A description of the filled-in prompt, if any.
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<Message>,
}

impl PromptResult {
    /// No description, no messages.
    pub fn new() -> Self {
        PromptResult::default()
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Appends a message.
    #[must_use]
    pub fn message(mut self, message: Message) -> Self {
        self.messages.push(message);
        self
    }

    /// Appends a user message (text, or any [`Content`]).
    #[must_use]
    pub fn user(self, content: impl Into<Content>) -> Self {
        self.message(Message::user(content))
    }

    /// Appends an assistant message.
    #[must_use]
    pub fn assistant(self, content: impl Into<Content>) -> Self {
        self.message(Message::assistant(content))
    }
}

type PromptHandler = Box<dyn Fn(&Params, &Context) -> Result<PromptResult, ToolError> + Send + Sync>;

/// Starts a prompt definition: `name`, a `description`, and the function that fills it in.
///
/// Declare the arguments with [`Prompt::argument`]; the SDK rejects a call that lacks a
/// required one before your function runs, so [`Params::require`] cannot fail for those.
///
/// ```
/// use toolhost_sdk::prelude::*;
///
/// let p = prompt("code.review", "Review a piece of code", |args: &Params, _ctx: &Context| {
///     let lang = args.get("language").unwrap_or("the code");
///     Ok(PromptResult::new().user(format!("Review this {lang}:\n{}", args.require("code")?)))
/// })
/// .argument("code", "The code to review", true)
/// .argument("language", "Its language", false)
/// .complete("language", |v| starting_with(["rust", "python", "go"], v));
/// assert_eq!(p.descriptor().arguments.len(), 2);
/// ```
pub fn prompt<F>(name: impl Into<String>, description: impl Into<String>, handler: F) -> Prompt
where
    F: Fn(&Params, &Context) -> Result<PromptResult, ToolError> + Send + Sync + 'static,
{
    Prompt {
        descriptor: PromptDescriptor {
            name: name.into(),
            description: Some(description.into()),
            ..PromptDescriptor::default()
        },
        handler: Box::new(handler),
        completers: Completers::default(),
    }
}

/// A prompt: its [`PromptDescriptor`], the function that fills it in, and argument completers.
pub struct Prompt {
    descriptor: PromptDescriptor,
    handler: PromptHandler,
    completers: Completers,
}

impl fmt::Debug for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prompt")
            .field("descriptor", &self.descriptor)
            .field("completers", &self.completers)
            .finish_non_exhaustive()
    }
}

impl Prompt {
    display_setters!();
    completion_setters!();

    /// Declares an argument: its name, what it is for, and whether the prompt needs it.
    #[must_use]
    pub fn argument(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        required: bool,
    ) -> Self {
        self.descriptor.arguments.push(PromptArgument {
            name: name.into(),
            title: None,
            description: Some(description.into()),
            required,
        });
        self
    }

    /// The descriptor.
    pub fn descriptor(&self) -> &PromptDescriptor {
        &self.descriptor
    }

    /// Fills the prompt in; a missing required argument is an
    /// [`invalid_input`](ToolError::invalid_input) error naming it.
    pub fn get(&self, args: &Params, ctx: &Context) -> Result<PromptResult, ToolError> {
        let missing = self.descriptor.arguments.iter().find(|a| a.required && !args.contains_key(&a.name));
        if let Some(arg) = missing {
            return Err(ToolError::invalid_input(format!(
                "prompt `{}` needs the argument `{}`",
                self.descriptor.name, arg.name
            )));
        }
        (self.handler)(args, ctx)
    }

    /// Suggests values for `argument` from the partial `value`.
    pub fn completion(&self, argument: &str, value: &str, context: &Params) -> Completion {
        self.completers.complete(argument, value, context)
    }

    /// The argument names that have a completer.
    pub(crate) fn completed_arguments(&self) -> impl Iterator<Item = &str> {
        self.completers.names()
    }
}

impl From<&PromptDescriptor> for wit::PromptDescriptor {
    fn from(d: &PromptDescriptor) -> Self {
        let arguments = d.arguments.iter().map(|a| wit::PromptArgument {
            name: a.name.clone(),
            title: a.title.clone(),
            description: a.description.clone(),
            required: a.required,
        });
        wit::PromptDescriptor {
            name: d.name.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            arguments: arguments.collect(),
            icons: wit_icons(&d.icons),
        }
    }
}

impl From<PromptResult> for wit::PromptResult {
    fn from(r: PromptResult) -> Self {
        wit::PromptResult {
            description: r.description,
            messages: r.messages.into_iter().map(Into::into).collect(),
        }
    }
}
