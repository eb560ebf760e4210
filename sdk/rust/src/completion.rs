//! Argument completion for prompts and resource templates (MCP `completion/complete`).

use crate::Params;
use crate::bindings::toolhost::plugin::types as wit;

/// Most values one completion returns (an MCP limit).
pub const MAX_COMPLETION_VALUES: usize = 100;

/// What a completion request refers to (the WIT `completion-ref`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionRef {
    /// A prompt, by name.
    Prompt(String),
    /// A resource template, by URI template.
    ResourceTemplate(String),
}

/// Suggested values for an argument (the WIT `completion`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Completion {
    /// At most [`MAX_COMPLETION_VALUES`] values, best first.
    pub values: Vec<String>,
    /// How many values there are in all, when known.
    pub total: Option<u32>,
    /// Whether there are more values than returned.
    pub has_more: bool,
}

impl Completion {
    /// A completion of `values`, cut to [`MAX_COMPLETION_VALUES`] (with `total` and
    /// `has_more` saying so).
    pub fn from_values(mut values: Vec<String>) -> Self {
        let total = u32::try_from(values.len()).unwrap_or(u32::MAX);
        let has_more = values.len() > MAX_COMPLETION_VALUES;
        values.truncate(MAX_COMPLETION_VALUES);
        Completion { values, total: Some(total), has_more }
    }
}

/// The `candidates` that start with `prefix`, ignoring ASCII case: the usual completer.
///
/// ```
/// use toolhost_sdk::starting_with;
/// assert_eq!(starting_with(["paris", "park", "rome"], "PA"), ["paris", "park"]);
/// ```
pub fn starting_with<'a>(candidates: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<String> {
    let prefix = prefix.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.to_ascii_lowercase().starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

/// A completer: the partial value and the arguments already filled in, to suggestions.
pub(crate) type Completer = Box<dyn Fn(&str, &Params) -> Vec<String> + Send + Sync>;

/// The completers of one prompt or template, by argument name.
#[derive(Default)]
pub(crate) struct Completers(Vec<(String, Completer)>);

impl Completers {
    /// Adds (or replaces) the completer of `argument`.
    pub(crate) fn set(&mut self, argument: String, completer: Completer) {
        self.0.retain(|(name, _)| *name != argument);
        self.0.push((argument, completer));
    }

    /// The argument names that have a completer.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(name, _)| name.as_str())
    }

    /// Completes `argument` from `value`; an argument without a completer gets no values.
    pub(crate) fn complete(&self, argument: &str, value: &str, context: &Params) -> Completion {
        match self.0.iter().find(|(name, _)| name == argument) {
            Some((_, completer)) => Completion::from_values(completer(value, context)),
            None => Completion::default(),
        }
    }
}

impl std::fmt::Debug for Completers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Builder methods for things with completable arguments (prompts and resource templates).
macro_rules! completion_setters {
    () => {
        /// Suggests values for `argument`: `completer` maps the partial value typed so far to
        /// suggestions (see [`starting_with`](crate::starting_with)).
        #[must_use]
        pub fn complete<C>(self, argument: impl Into<String>, completer: C) -> Self
        where
            C: Fn(&str) -> Vec<String> + Send + Sync + 'static,
        {
            self.complete_with_context(argument, move |value, _| completer(value))
        }

        /// Like [`complete`](Self::complete), with the other arguments the client already
        /// filled in.
        #[must_use]
        pub fn complete_with_context<C>(mut self, argument: impl Into<String>, completer: C) -> Self
        where
            C: Fn(&str, &crate::Params) -> Vec<String> + Send + Sync + 'static,
        {
            self.completers.set(argument.into(), Box::new(completer));
            self
        }
    };
}
pub(crate) use completion_setters;

impl From<wit::CompletionRef> for CompletionRef {
    fn from(r: wit::CompletionRef) -> Self {
        match r {
            wit::CompletionRef::Prompt(name) => CompletionRef::Prompt(name),
            wit::CompletionRef::ResourceTemplate(t) => CompletionRef::ResourceTemplate(t),
        }
    }
}

impl From<Completion> for wit::Completion {
    fn from(c: Completion) -> Self {
        wit::Completion { values: c.values, total: c.total, has_more: c.has_more }
    }
}
