//! Hostile edges: every fault a hands-on review found in a production path
//! (issue "Production trust"), one file per area, so none comes back.
//! Each test failed before its fix.
mod config;
mod exec;
mod ops;
mod registry;
