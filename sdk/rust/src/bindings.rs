//! Raw bindings generated from `wit/plugin.wit` (`toolhost:plugin@0.2.0`, world `server`).
//!
//! Tool authors never use this module directly: [`plugin!`](crate::plugin) wires it up.
//! It is public only because the generated `export!` macro expands in the plugin crate.
//!
//! Every SDK plugin exports the whole `server` world (`tool`, `prompts`, `resources`,
//! `completion`); with no prompts or resources registered those return empty lists and
//! not-found errors.

#![allow(missing_docs, clippy::all, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "server",
    pub_export_macro: true,
    default_bindings_module: "toolhost_sdk::bindings",
    generate_all,
});
