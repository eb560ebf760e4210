//! Glue used by [`plugin!`](crate::plugin): WIT exports implemented on a [`Registry`].
//! Not a public API.

pub use crate::bindings::export;
pub use crate::bindings::exports::toolhost::plugin::completion::Guest as CompletionGuest;
pub use crate::bindings::exports::toolhost::plugin::prompts::Guest as PromptsGuest;
pub use crate::bindings::exports::toolhost::plugin::resources::Guest as ResourcesGuest;
pub use crate::bindings::exports::toolhost::plugin::tool::Guest;
pub use crate::bindings::toolhost::plugin::types::{
    CallContext as WitCallContext, Completion as WitCompletion, CompletionRef as WitCompletionRef,
    PromptDescriptor as WitPromptDescriptor, PromptResult as WitPromptResult,
    ResourceContents as WitResourceContents, ResourceDescriptor as WitResourceDescriptor,
    ResourceTemplate as WitResourceTemplate, ToolDescriptor as WitToolDescriptor, ToolError as WitToolError,
    ToolOutput as WitToolOutput,
};

use crate::{Context, Params, Registry};

/// Named string pairs as the WIT passes them.
pub type WitPairs = Vec<(String, String)>;

/// `tool.describe()`.
pub fn describe(registry: &Registry) -> Vec<WitToolDescriptor> {
    registry.descriptors().map(Into::into).collect()
}

/// `tool.call()`.
pub fn call(
    registry: &Registry,
    name: &str,
    args: &str,
    ctx: WitCallContext,
) -> Result<WitToolOutput, WitToolError> {
    let ctx = Context::from(ctx);
    registry.call(name, args, &ctx).map(Into::into).map_err(Into::into)
}

/// `prompts.list-prompts()`.
pub fn list_prompts(registry: &Registry) -> Vec<WitPromptDescriptor> {
    registry.prompts().map(Into::into).collect()
}

/// `prompts.get-prompt()`.
pub fn get_prompt(
    registry: &Registry,
    name: &str,
    arguments: WitPairs,
    ctx: WitCallContext,
) -> Result<WitPromptResult, WitToolError> {
    let args = Params::from_iter(arguments);
    registry.get_prompt(name, &args, &Context::from(ctx)).map(Into::into).map_err(Into::into)
}

/// `resources.list-resources()`.
pub fn list_resources(registry: &Registry) -> Result<Vec<WitResourceDescriptor>, WitToolError> {
    Ok(registry.resources().map(Into::into).collect())
}

/// `resources.list-templates()`.
pub fn list_templates(registry: &Registry) -> Vec<WitResourceTemplate> {
    registry.templates().map(Into::into).collect()
}

/// `resources.read-resource()`.
pub fn read_resource(
    registry: &Registry,
    uri: &str,
    ctx: WitCallContext,
) -> Result<Vec<WitResourceContents>, WitToolError> {
    let contents = registry.read_resource(uri, &Context::from(ctx)).map_err(WitToolError::from)?;
    Ok(contents.into_iter().map(Into::into).collect())
}

/// `resources.subscribe()`.
pub fn subscribe(registry: &Registry, uri: &str) -> Result<(), WitToolError> {
    registry.subscribe(uri).map_err(Into::into)
}

/// `resources.unsubscribe()`: always succeeds (the host owns the subscriber list).
pub fn unsubscribe(_registry: &Registry, _uri: &str) -> Result<(), WitToolError> {
    Ok(())
}

/// `completion.complete()`.
pub fn complete(
    registry: &Registry,
    reference: WitCompletionRef,
    argument: &str,
    value: &str,
    context: WitPairs,
) -> Result<WitCompletion, WitToolError> {
    let context = Params::from_iter(context);
    registry.complete(&reference.into(), argument, value, &context).map(Into::into).map_err(Into::into)
}
