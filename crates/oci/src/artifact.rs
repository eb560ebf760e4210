//! The artifact layout: CNCF Wasm OCI artifact plus the plugin manifest layer.

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use std::collections::BTreeMap;
use toolhost_core::error::Error;

/// Config blob media type of the CNCF Wasm OCI artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The component layer.
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
/// The plugin manifest (`NAME.toml`: limits, config, grants) layer.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.toolhost.manifest.v1+toml";
/// The OCI annotation naming a layer's file.
pub const TITLE: &str = "org.opencontainers.image.title";

/// A plugin's files: `NAME.wasm` and its optional `NAME.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFiles {
    /// The plugin name (file stem).
    pub name: String,
    /// The component bytes.
    pub wasm: Vec<u8>,
    /// The manifest bytes, if the plugin has one.
    pub manifest: Option<Vec<u8>>,
}

/// One blob to upload.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Its descriptor in the manifest.
    pub descriptor: OciDescriptor,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A built artifact: manifest bytes (what the digest covers) and blobs.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The serialized OCI image manifest.
    pub manifest: Vec<u8>,
    /// Config first, then the layers.
    pub blobs: Vec<Blob>,
}

fn blob(data: Vec<u8>, media_type: &str, title: Option<String>) -> Blob {
    let descriptor = OciDescriptor {
        media_type: media_type.to_string(),
        digest: crate::digest::sha256_digest(&data),
        size: data.len() as i64,
        annotations: title.map(|t| BTreeMap::from([(TITLE.to_string(), t)])),
        ..Default::default()
    };
    Blob { descriptor, data }
}

/// Lays out `files` as an artifact. Deterministic: the same files give the
/// same manifest digest (no timestamps).
pub fn build(files: &PluginFiles) -> Artifact {
    let wasm = blob(files.wasm.clone(), WASM_MEDIA_TYPE, Some(format!("{}.wasm", files.name)));
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [wasm.descriptor.digest],
    });
    let config = blob(serde_json::to_vec(&config).expect("config serializes"), CONFIG_MEDIA_TYPE, None);
    let mut blobs = vec![config, wasm];
    if let Some(m) = &files.manifest {
        blobs.push(blob(m.clone(), MANIFEST_MEDIA_TYPE, Some(format!("{}.toml", files.name))));
    }
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(crate::client::OCI_MANIFEST.to_string()),
        config: blobs[0].descriptor.clone(),
        layers: blobs[1..].iter().map(|b| b.descriptor.clone()).collect(),
        annotations: Some(BTreeMap::from([("dev.toolhost.plugin".to_string(), files.name.clone())])),
        ..Default::default()
    };
    Artifact { manifest: serde_json::to_vec(&manifest).expect("manifest serializes"), blobs }
}

/// What a pulled manifest says: plugin name and the two layers.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The plugin name (checked: safe as a file name).
    pub name: String,
    /// The component layer.
    pub wasm: OciDescriptor,
    /// The manifest layer, if any.
    pub manifest: Option<OciDescriptor>,
}

/// Reads the layout of a pulled manifest (`reference` is for messages).
pub fn layout(reference: &str, manifest_bytes: &[u8]) -> Result<Layout, Error> {
    let bad = |reason: String| Error::PluginLoad { path: reference.into(), reason };
    let m: OciImageManifest =
        serde_json::from_slice(manifest_bytes).map_err(|e| bad(format!("not an OCI image manifest: {e}")))?;
    if m.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(bad(format!(
            "not a Wasm plugin artifact: config media type {} (expected {CONFIG_MEDIA_TYPE})",
            m.config.media_type
        )));
    }
    let of = |t: &str| m.layers.iter().filter(|l| l.media_type == t).cloned().collect::<Vec<_>>();
    let (wasm, toml) = (of(WASM_MEDIA_TYPE), of(MANIFEST_MEDIA_TYPE));
    if wasm.len() != 1 || toml.len() > 1 {
        return Err(bad(format!(
            "expected one {WASM_MEDIA_TYPE} layer and at most one {MANIFEST_MEDIA_TYPE} layer, found {} and {}",
            wasm.len(),
            toml.len()
        )));
    }
    let wasm = wasm.into_iter().next().expect("one wasm layer");
    let name =
        plugin_name(&m, &wasm).ok_or_else(|| bad("the artifact names no usable plugin name".into()))?;
    Ok(Layout { name, wasm, manifest: toml.into_iter().next() })
}

fn plugin_name(m: &OciImageManifest, wasm: &OciDescriptor) -> Option<String> {
    let from_title = wasm
        .annotations
        .as_ref()
        .and_then(|a| a.get(TITLE))
        .and_then(|t| t.strip_suffix(".wasm"))
        .map(str::to_string);
    let from_manifest = m.annotations.as_ref().and_then(|a| a.get("dev.toolhost.plugin")).cloned();
    from_manifest.or(from_title).filter(|n| valid_name(n))
}

/// A plugin name usable as a file stem: `[A-Za-z0-9_-]`, 1–64 characters.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips_and_is_deterministic() {
        let files = PluginFiles {
            name: "text".into(),
            wasm: b"\0asm".to_vec(),
            manifest: Some(b"[limits]\n".to_vec()),
        };
        let a = build(&files);
        assert_eq!(
            crate::digest::sha256_digest(&a.manifest),
            crate::digest::sha256_digest(&build(&files).manifest)
        );
        let l = layout("r", &a.manifest).unwrap();
        assert_eq!(l.name, "text");
        assert_eq!(l.wasm.digest, crate::digest::sha256_digest(b"\0asm"));
        assert_eq!(l.manifest.unwrap().digest, crate::digest::sha256_digest(b"[limits]\n"));
        let doc: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(doc["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(doc["layers"][0]["mediaType"], WASM_MEDIA_TYPE);
        assert_eq!(doc["layers"][1]["mediaType"], MANIFEST_MEDIA_TYPE);
    }

    #[test]
    fn hostile_names_are_refused() {
        for n in ["../x", "a/b", "", ".hidden", "x.wasm"] {
            assert!(!valid_name(n), "{n}");
        }
    }
}
