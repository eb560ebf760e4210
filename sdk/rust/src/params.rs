//! [`Params`]: named string values, as prompts get their arguments and resource templates
//! their variables.

use std::collections::BTreeMap;
use std::ops::Deref;

use crate::ToolError;

/// Named string values: a prompt's arguments, or the variables a URI template matched.
///
/// Derefs to a `BTreeMap<String, String>`; [`get`](Self::get) and [`require`](Self::require)
/// read values as `&str`.
///
/// ```
/// use toolhost_sdk::Params;
/// let p = Params::from_iter([("day", "2025-01-31")]);
/// assert_eq!(p.get("day"), Some("2025-01-31"));
/// assert!(p.require("month").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// No values.
    pub fn new() -> Self {
        Params::default()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value of `name`, or an [`invalid_input`](ToolError::invalid_input) error naming it.
    pub fn require(&self, name: &str) -> Result<&str, ToolError> {
        self.get(name).ok_or_else(|| ToolError::invalid_input(format!("missing argument `{name}`")))
    }

    /// Sets `name` to `value`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The underlying map.
    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }
}

impl Deref for Params {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Params(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl From<BTreeMap<String, String>> for Params {
    fn from(map: BTreeMap<String, String>) -> Self {
        Params(map)
    }
}
