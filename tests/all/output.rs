//! Malformed guest results (resilience.md §8 B6–B7): lifted safely into
//! typed errors; the host never allocates past the output cap.

use crate::common::*;
use crate::fixtures;
use serde_json::json;
use toolhost::ErrorCode;

async fn one(bytes: Vec<u8>, manifest: Option<&str>) -> (toolhost::Host, Folder) {
    let f = Folder::new();
    f.wasm("x", &bytes).wasm("good", &hostile());
    if let Some(m) = manifest {
        f.manifest("x", m);
    }
    let host = f.host().await;
    assert_loaded(&host, "x");
    (host, f)
}

#[tokio::test]
async fn a_string_pointing_outside_memory_is_invalid_output() {
    let (host, _f) = one(fixtures::huge_string_output(), None).await;
    let e = call(&host, "bad", json!({})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidOutput, "{e}");
    bystander_ok(&host).await;
}

#[tokio::test]
async fn a_big_string_inside_memory_hits_the_output_cap_during_lifting() {
    // Also pins wasmtime's (private) hostcall-fuel error text the host matches on.
    let (host, _f) = one(fixtures::big_string_output(4), Some("[limits]\noutput_bytes = 1048576\n")).await;
    let e = call(&host, "big", json!({})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::OutputTooLarge, "{e}");
    bystander_ok(&host).await;
}

#[tokio::test]
async fn malformed_values_are_invalid_output() {
    for bytes in [
        fixtures::bad_utf8_output(),
        fixtures::bad_discriminant_output(),
        fixtures::bad_enum_output(),
        fixtures::misaligned_list_output(),
    ] {
        let (host, _f) = one(bytes, None).await;
        let e = call(&host, "bad", json!({})).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidOutput, "{e}");
        bystander_ok(&host).await;
    }
}

#[tokio::test]
async fn refused_growth_is_seen_by_the_guest_as_a_failed_grow() {
    for (bytes, tool) in
        [(fixtures::table_grow_bomb(), "grow_table"), (fixtures::memory_grow_bomb(), "grow_memory")]
    {
        let (host, _f) = one(bytes, None).await;
        let r = call(&host, tool, json!({})).await.unwrap();
        assert_eq!(r.output.value, Some(json!({"grow_failed": true})));
    }
}

#[tokio::test]
async fn a_guest_error_with_details_is_preserved() {
    let (host, _f) = one(fixtures::error_output(), None).await;
    let e = call(&host, "fails", json!({})).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ToolExecutionFailed, "{e}");
    assert_eq!(e.to_json()["details"]["tool_details"], json!({"why": "test"}));
}
