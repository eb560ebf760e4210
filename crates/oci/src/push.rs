//! `toolhost push`: upload a plugin's artifact under a tag, sign its digest.

use crate::artifact::{self, Blob, PluginFiles};
use crate::client::{OCI_MANIFEST, Registry};
use crate::reference::OciRef;
use crate::sign::{self, SigningKey};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use std::collections::BTreeMap;
use std::path::Path;
use toolhost_core::error::Error;

/// Reads `NAME.wasm` and its sibling `NAME.toml` (if present).
pub fn read_plugin(wasm: &Path) -> Result<PluginFiles, Error> {
    let load = |reason: String| Error::PluginLoad { path: wasm.to_path_buf(), reason };
    let name = wasm.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    if wasm.extension().and_then(|x| x.to_str()) != Some("wasm") || !artifact::valid_name(&name) {
        return Err(load("expected NAME.wasm with NAME of [A-Za-z0-9_-]".into()));
    }
    let bytes = std::fs::read(wasm).map_err(|e| load(format!("cannot read: {e}")))?;
    let manifest = match std::fs::read(wasm.with_extension("toml")) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(load(format!("cannot read its manifest: {e}"))),
    };
    Ok(PluginFiles { name, wasm: bytes, manifest })
}

/// Uploads `files` to `dest` (a tag reference) and, with `key`, its cosign
/// signature. Returns the pinned reference `dest@sha256:…`.
pub async fn push(files: &PluginFiles, dest: &OciRef, key: Option<&SigningKey>) -> Result<OciRef, Error> {
    let art = artifact::build(files);
    let digest = crate::digest::sha256_digest(&art.manifest);
    let reg = Registry::for_ref(dest);
    upload(&reg, dest, &art.blobs, art.manifest.clone(), "artifact").await?;
    tracing::info!(reference = %dest, %digest, "pushed plugin artifact");
    if let Some(key) = key {
        sign_digest(&reg, dest, &digest, key).await?;
    }
    Ok(dest.with_digest(&digest))
}

/// Pushes the cosign signature of `digest` as the tag `sha256-<hex>.sig`.
pub async fn sign_digest(reg: &Registry, dest: &OciRef, digest: &str, key: &SigningKey) -> Result<(), Error> {
    let payload = sign::payload(&dest.docker_reference(), digest);
    let signature = key.sign(&payload)?;
    let config = blob(b"{}".to_vec(), "application/vnd.oci.image.config.v1+json", None);
    let layer = blob(
        payload,
        sign::SIMPLE_SIGNING_MEDIA_TYPE,
        Some(BTreeMap::from([(sign::SIGNATURE_ANNOTATION.to_string(), signature)])),
    );
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: config.descriptor.clone(),
        layers: vec![layer.descriptor.clone()],
        ..Default::default()
    };
    let bytes = serde_json::to_vec(&manifest).expect("manifest serializes");
    let sig_ref = dest.signature_ref(digest);
    upload(reg, &sig_ref, &[config, layer], bytes, "signature").await?;
    tracing::info!(reference = %sig_ref, signer = %key.public().fingerprint, "pushed signature");
    Ok(())
}

fn blob(data: Vec<u8>, media_type: &str, annotations: Option<BTreeMap<String, String>>) -> Blob {
    let descriptor = OciDescriptor {
        media_type: media_type.to_string(),
        digest: crate::digest::sha256_digest(&data),
        size: data.len() as i64,
        annotations,
        ..Default::default()
    };
    Blob { descriptor, data }
}

/// Uploads the `blobs` the repository lacks, then `manifest` under `to`'s tag.
async fn upload(
    reg: &Registry,
    to: &OciRef,
    blobs: &[Blob],
    manifest: Vec<u8>,
    what: &str,
) -> Result<(), Error> {
    let r = to.client_ref();
    reg.client.store_auth_if_needed(r.resolve_registry(), &reg.auth).await;
    for b in blobs {
        // A blob the repository already has (same digest) is not sent again.
        if reg.client.blob_exists(&r, &b.descriptor.digest).await.unwrap_or(false) {
            continue;
        }
        reg.client
            .push_blob(&r, b.data.clone(), &b.descriptor.digest)
            .await
            .map_err(|e| reg.error(to, &format!("{what} blob {}", b.descriptor.digest), e))?;
    }
    let content_type = http::HeaderValue::from_static(OCI_MANIFEST);
    reg.client
        .push_manifest_raw(&r, manifest, content_type)
        .await
        .map_err(|e| reg.error(to, &format!("{what} manifest"), e))?;
    Ok(())
}
