//! The compile cache: a warm restart loads without compiling; a corrupt
//! entry is discarded and recompiled.

use crate::common::*;
use toolhost::runtime::CompileSource;

async fn source(f: &Folder, cache: &std::path::Path) -> CompileSource {
    let mut cfg = f.config();
    cfg.cache_dir = Some(cache.to_path_buf());
    let host = toolhost::Host::builder().config(cfg).build().await.unwrap();
    assert_loaded(&host, "h");
    let e = host.registry().lookup("default", "ok").unwrap();
    e.plugin.source
}

#[tokio::test]
async fn warm_restart_does_not_recompile() {
    let f = Folder::new();
    f.wasm("h", &hostile());
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(source(&f, cache.path()).await, CompileSource::Compiled);
    assert_eq!(source(&f, cache.path()).await, CompileSource::Cache);
    // Corrupt every entry: the host notices, recompiles and still serves.
    for e in std::fs::read_dir(cache.path()).unwrap() {
        std::fs::write(e.unwrap().path(), b"garbage").unwrap();
    }
    assert_eq!(source(&f, cache.path()).await, CompileSource::Compiled);
    assert_eq!(source(&f, cache.path()).await, CompileSource::Cache);
}

#[tokio::test]
async fn a_cache_inside_the_plugin_folder_is_refused() {
    let f = Folder::new();
    let mut cfg = f.config();
    cfg.cache_dir = Some(f.path().join("cache"));
    let err = toolhost::Host::builder().config(cfg).build().await.unwrap_err();
    assert_eq!(err.code(), toolhost::ErrorCode::ConfigurationError);
}
