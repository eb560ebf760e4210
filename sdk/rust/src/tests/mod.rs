//! Unit tests, one module per area.

mod interact;
mod prompts;
mod resources;
mod tools;
mod uri_template;
