//! The plugin registry under hostile edits of the plugin folder: duplicates
//! dropped beside a serving plugin, broken files that must not cause a reload
//! storm, and the failure lists operators read (`/readyz`, `toolhost list`).

use crate::common::*;
use crate::fixtures;
use toolhost::{ErrorCode, Host, PluginState, PluginStatus};

fn status(host: &Host, name: &str) -> Option<PluginStatus> {
    host.catalog().plugins().iter().find(|p| p.name == name).cloned()
}

fn served_by(host: &Host, tool: &str) -> Option<String> {
    host.registry().lookup("default", tool).map(|e| e.plugin.name.clone())
}

// ---------------------------------------------------------------------------
// Item 3: a duplicate must not take the incumbent offline
// ---------------------------------------------------------------------------

/// A copy of a serving plugin dropped into the folder: the incumbent keeps
/// serving every tool, the copy is refused with an error naming both files,
/// and once the incumbent's file is gone the copy takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_duplicate_is_refused_and_the_incumbent_keeps_serving() {
    let (host, f) = hostile_host(None).await;
    f.wasm("h_copy", &hostile());
    host.registry().reload_files(vec!["h_copy.wasm".into()]).await;

    assert_eq!(served_by(&host, "ok").as_deref(), Some("h"), "the incumbent keeps its tools");
    bystander_ok(&host).await;
    assert_loaded(&host, "h");
    let copy = status(&host, "h_copy").expect("the copy is listed");
    assert_eq!(copy.state, PluginState::Failed, "{:?}", copy.errors);
    assert!(copy.tools.is_empty());
    let e = &copy.errors[0];
    assert_eq!(e.code(), ErrorCode::PluginLoadFailed);
    let msg = e.to_string();
    assert!(msg.contains("h_copy.wasm") && msg.contains("h.wasm") && msg.contains("ok"), "{msg}");

    // Re-announcing the unchanged copy changes nothing.
    host.registry().reload_files(vec!["h_copy.wasm".into()]).await;
    assert_eq!(served_by(&host, "ok").as_deref(), Some("h"));

    // The incumbent's file goes away: the refused copy takes its tools over.
    std::fs::remove_file(f.path().join("h.wasm")).unwrap();
    host.registry().reload_files(vec!["h.wasm".into()]).await;
    assert_eq!(served_by(&host, "ok").as_deref(), Some("h_copy"));
    assert_loaded(&host, "h_copy");
    bystander_ok(&host).await;
}

/// A new version of a plugin that starts claiming another plugin's tool is
/// refused as a whole: its last good version keeps serving (stale), the other
/// plugin keeps the contested tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_claims_a_served_tool_keeps_the_last_good_version() {
    let f = Folder::new();
    f.wasm("alpha", &fixtures::describe_tools(&["a1"])).wasm("beta", &fixtures::describe_tools(&["b1"]));
    let host = f.host().await;
    f.wasm("beta", &fixtures::describe_tools(&["b1", "b2", "a1"]));
    host.registry().reload_files(vec!["beta.wasm".into()]).await;
    assert_eq!(served_by(&host, "a1").as_deref(), Some("alpha"));
    assert_eq!(served_by(&host, "b1").as_deref(), Some("beta"));
    assert_eq!(served_by(&host, "b2"), None, "the refused version serves nothing");
    let beta = status(&host, "beta").unwrap();
    assert_eq!(beta.state, PluginState::Stale);
    let msg = beta.errors[0].to_string();
    assert!(msg.contains("beta.wasm") && msg.contains("alpha.wasm") && msg.contains("a1"), "{msg}");
    assert_loaded(&host, "alpha");
}

/// At startup nothing is incumbent: a name claimed by two files is refused for
/// both (every other tool serves), and the verdict does not depend on timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_startup_an_ambiguous_name_is_refused_for_every_claimant() {
    let f = Folder::new();
    f.wasm("h", &hostile()).wasm("h_copy", &hostile()).wasm("m", &fixtures::minimal_plugin());
    for _ in 0..2 {
        let host = f.host().await;
        assert_eq!(served_by(&host, "ok"), None);
        assert_eq!(served_by(&host, "echo").as_deref(), Some("m"));
        for p in ["h", "h_copy"] {
            let st = status(&host, p).unwrap();
            assert!(st.tools.is_empty(), "{p}: {:?}", st.tools);
            let msg = st.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
            assert!(msg.contains("'ok'") && msg.contains("h_copy"), "{msg}");
        }
    }
}
