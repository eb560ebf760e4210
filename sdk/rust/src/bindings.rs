//! Raw bindings generated from `wit/plugin.wit` (`toolhost:plugin@0.1.0`, world `plugin`).
//!
//! Tool authors never use this module directly: [`plugin!`](crate::plugin) wires it up.
//! It is public only because the generated `export!` macro expands in the plugin crate.

#![allow(missing_docs, clippy::all, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "plugin",
    pub_export_macro: true,
    default_bindings_module: "toolhost_sdk::bindings",
    generate_all,
});
