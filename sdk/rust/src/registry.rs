//! The plugin's [`Registry`]: its tools, prompts, resources and resource templates.

use crate::tool::is_valid_tool_name;
use crate::{
    Completion, CompletionRef, Context, Output, Params, Prompt, PromptDescriptor, PromptResult, Resource,
    ResourceContents, ResourceDescriptor, ResourceTemplate, ResourceTemplateDescriptor, Tool, ToolDef,
    ToolDescriptor, ToolError,
};

/// One entry of [`plugin!`](crate::plugin): a tool, a prompt, a resource or a resource template.
///
/// Every builder converts into it with `From`, so `Entry::from(tool(..))`,
/// `Entry::from(prompt(..))` and so on.
#[derive(Debug)]
pub enum Entry {
    /// A tool.
    Tool(ToolDef),
    /// A prompt.
    Prompt(Prompt),
    /// A listed resource.
    Resource(Resource),
    /// A resource template.
    Template(ResourceTemplate),
}

impl From<ToolDef> for Entry {
    fn from(t: ToolDef) -> Self {
        Entry::Tool(t)
    }
}

impl<A, T, F> From<Tool<A, T, F>> for Entry
where
    ToolDef: From<Tool<A, T, F>>,
{
    fn from(t: Tool<A, T, F>) -> Self {
        Entry::Tool(t.into())
    }
}

impl From<Prompt> for Entry {
    fn from(p: Prompt) -> Self {
        Entry::Prompt(p)
    }
}

impl From<Resource> for Entry {
    fn from(r: Resource) -> Self {
        Entry::Resource(r)
    }
}

impl From<ResourceTemplate> for Entry {
    fn from(t: ResourceTemplate) -> Self {
        Entry::Template(t)
    }
}

/// Everything one plugin offers, looked up by name or URI. [`plugin!`](crate::plugin) builds
/// one; use it directly to test a plugin natively.
#[derive(Debug, Default)]
pub struct Registry {
    tools: Vec<ToolDef>,
    prompts: Vec<Prompt>,
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
}

impl Registry {
    /// A registry of `tools` only.
    ///
    /// # Panics
    ///
    /// As [`from_entries`](Self::from_entries).
    pub fn new(tools: impl IntoIterator<Item = ToolDef>) -> Self {
        Self::from_entries(tools.into_iter().map(Entry::Tool))
    }

    /// A registry of tools, prompts, resources and resource templates.
    ///
    /// # Panics
    ///
    /// When a tool or prompt name is invalid (see [`is_valid_tool_name`]) or used twice, a
    /// resource URI or URI template is used twice, or a completer names an argument the prompt
    /// or template does not have: a plugin with such a bug traps at load, where the host
    /// reports it.
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut r = Registry::default();
        for entry in entries {
            match entry {
                Entry::Tool(t) => r.tools.push(t),
                Entry::Prompt(p) => r.prompts.push(p),
                Entry::Resource(res) => r.resources.push(res),
                Entry::Template(t) => r.templates.push(t),
            }
        }
        r.validate();
        r
    }

    fn validate(&self) {
        check_names("tool", self.descriptors().map(|d| d.name.as_str()));
        check_names("prompt", self.prompts().map(|d| d.name.as_str()));
        check_unique("resource URI", self.resources().map(|d| d.uri.as_str()));
        check_unique("URI template", self.templates().map(|d| d.uri_template.as_str()));
        for p in &self.prompts {
            let declared: Vec<&str> = p.descriptor().arguments.iter().map(|a| a.name.as_str()).collect();
            check_completers(&p.descriptor().name, &declared, p.completed_arguments());
        }
        for t in &self.templates {
            let declared: Vec<&str> = t.variables().collect();
            check_completers(&t.descriptor().uri_template, &declared, t.completed_arguments());
        }
    }

    /// The tool descriptors, in definition order.
    pub fn descriptors(&self) -> impl Iterator<Item = &ToolDescriptor> {
        self.tools.iter().map(ToolDef::descriptor)
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&ToolDef> {
        self.tools.iter().find(|t| t.descriptor().name == name)
    }

    /// Runs tool `name` with JSON `args`; an unknown name is a not-found error listing the tools.
    pub fn call(&self, name: &str, args: &str, ctx: &Context) -> Result<Output, ToolError> {
        match self.get(name) {
            Some(t) => t.call(args, ctx),
            None => Err(unknown("tool", name, self.descriptors().map(|d| d.name.as_str()))),
        }
    }

    /// The prompt descriptors, in definition order.
    pub fn prompts(&self) -> impl Iterator<Item = &PromptDescriptor> {
        self.prompts.iter().map(Prompt::descriptor)
    }

    /// The prompt called `name`.
    pub fn prompt(&self, name: &str) -> Option<&Prompt> {
        self.prompts.iter().find(|p| p.descriptor().name == name)
    }

    /// Fills in prompt `name` with `args`; an unknown name is a not-found error.
    pub fn get_prompt(&self, name: &str, args: &Params, ctx: &Context) -> Result<PromptResult, ToolError> {
        match self.prompt(name) {
            Some(p) => p.get(args, ctx),
            None => Err(unknown("prompt", name, self.prompts().map(|d| d.name.as_str()))),
        }
    }

    /// The listed resources' descriptors, in definition order.
    pub fn resources(&self) -> impl Iterator<Item = &ResourceDescriptor> {
        self.resources.iter().map(Resource::descriptor)
    }

    /// The resource templates' descriptors, in definition order.
    pub fn templates(&self) -> impl Iterator<Item = &ResourceTemplateDescriptor> {
        self.templates.iter().map(ResourceTemplate::descriptor)
    }

    /// Reads `uri`: a listed resource with that URI, else the first template it matches, else
    /// a not-found error.
    pub fn read_resource(&self, uri: &str, ctx: &Context) -> Result<Vec<ResourceContents>, ToolError> {
        if let Some(r) = self.resources.iter().find(|r| r.descriptor().uri == uri) {
            return r.read(ctx);
        }
        self.templates
            .iter()
            .find_map(|t| t.read(uri, ctx))
            .unwrap_or_else(|| Err(ToolError::not_found(format!("no resource `{uri}` in this plugin"))))
    }

    /// Whether `uri` is a listed resource or matches a template.
    pub fn serves(&self, uri: &str) -> bool {
        self.resources().any(|d| d.uri == uri) || self.templates.iter().any(|t| t.match_uri(uri).is_some())
    }

    /// Accepts a subscription to `uri` when this plugin [serves](Self::serves) it, else a
    /// not-found error. (The host keeps the subscribers; tools announce changes with
    /// [`resource_updated`](crate::resource_updated).)
    pub fn subscribe(&self, uri: &str) -> Result<(), ToolError> {
        if self.serves(uri) {
            Ok(())
        } else {
            Err(ToolError::not_found(format!("no resource `{uri}` in this plugin to subscribe to")))
        }
    }

    /// Suggests values for `argument` of the prompt or template `reference`, from the partial
    /// `value` and the arguments already filled in (`context`). An unknown prompt or template is
    /// a not-found error; an argument without a completer gets no values.
    pub fn complete(
        &self,
        reference: &CompletionRef,
        argument: &str,
        value: &str,
        context: &Params,
    ) -> Result<Completion, ToolError> {
        match reference {
            CompletionRef::Prompt(name) => self
                .prompt(name)
                .map(|p| p.completion(argument, value, context))
                .ok_or_else(|| unknown("prompt", name, self.prompts().map(|d| d.name.as_str()))),
            CompletionRef::ResourceTemplate(t) => self
                .templates
                .iter()
                .find(|x| x.descriptor().uri_template == *t)
                .map(|x| x.completion(argument, value, context))
                .ok_or_else(|| {
                    unknown("resource template", t, self.templates().map(|d| d.uri_template.as_str()))
                }),
        }
    }
}

/// A not-found error for `name` of `kind`, listing the `known` ones.
fn unknown<'a>(kind: &str, name: &str, known: impl Iterator<Item = &'a str>) -> ToolError {
    let known: Vec<&str> = known.collect();
    let list = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
    ToolError::not_found(format!("unknown {kind} `{name}`; this plugin provides: {list}"))
}

fn check_names<'a>(kind: &str, names: impl Iterator<Item = &'a str>) {
    let names: Vec<&str> = names.collect();
    for name in &names {
        assert!(
            is_valid_tool_name(name),
            "toolhost-sdk: invalid {kind} name {name:?} (want ^[A-Za-z0-9_.-]{{1,64}}$)"
        );
    }
    check_unique(&format!("{kind} name"), names.into_iter());
}

fn check_unique<'a>(kind: &str, items: impl Iterator<Item = &'a str>) {
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        assert!(seen.insert(item), "toolhost-sdk: {kind} {item:?} is defined twice");
    }
}

fn check_completers<'a>(owner: &str, declared: &[&str], completed: impl Iterator<Item = &'a str>) {
    for arg in completed {
        assert!(
            declared.contains(&arg),
            "toolhost-sdk: {owner:?} completes `{arg}`, which is not one of its arguments ({})",
            declared.join(", ")
        );
    }
}
