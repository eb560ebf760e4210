//! One registry connection: `oci-client` with the protocol (plain HTTP only
//! for loopback registries), credentials and error mapping of toolhost.

use crate::reference::OciRef;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use std::time::Duration;
use toolhost_core::error::Error;

/// The OCI image manifest media type (what toolhost pushes).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A client for one registry.
pub struct Registry {
    /// The `oci-client` client.
    pub client: oci_client::Client,
    /// The credentials sent.
    pub auth: RegistryAuth,
    /// `host[:port]`.
    pub name: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Registry {
    /// A client for `r`'s registry: HTTPS, or plain HTTP for a loopback host.
    pub fn for_ref(r: &OciRef) -> Registry {
        // reqwest is built without a default TLS provider: rustls with ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let protocol = if r.is_loopback() { ClientProtocol::Http } else { ClientProtocol::Https };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(5)),
            read_timeout: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        Registry {
            client: oci_client::Client::new(config),
            auth: crate::auth::credentials(&r.registry),
            name: r.registry.clone(),
        }
    }

    /// Maps an `oci-client` error about `what` of `reference` to a host error.
    pub fn error(&self, reference: &OciRef, what: &str, e: OciDistributionError) -> Error {
        map_error(&self.name, reference, what, e)
    }
}

/// `e` and its causes (`error sending request: … : invalid peer certificate: UnknownIssuer`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Whether `e` says the thing asked for does not exist.
pub fn is_not_found(e: &OciDistributionError) -> bool {
    use oci_client::errors::OciErrorCode as C;
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|x| matches!(x.code, C::ManifestUnknown | C::NotFound | C::BlobUnknown | C::NameUnknown)),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

fn map_error(registry: &str, reference: &OciRef, what: &str, e: OciDistributionError) -> Error {
    let load = |reason: String| Error::PluginLoad { path: reference.to_string().into(), reason };
    match e {
        OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() || r.is_request() => {
            Error::RegistryUnavailable {
                registry: registry.to_string(),
                reason: format!("{what}: {}", chain(&r)),
            }
        }
        OciDistributionError::ServerError { code, message, .. } if code >= 500 => {
            Error::RegistryUnavailable {
                registry: registry.to_string(),
                reason: format!("{what}: HTTP {code} {message}"),
            }
        }
        OciDistributionError::DigestError(d) => {
            let (expected, found) = match &d {
                oci_client::errors::DigestError::VerificationError { expected, actual } => {
                    (expected.clone(), actual.clone())
                }
                other => ("?".to_string(), other.to_string()),
            };
            Error::DigestMismatch {
                reference: reference.to_string(),
                what: what.to_string(),
                expected,
                found,
            }
        }
        e if is_not_found(&e) => load(format!("{what} not found in {registry}")),
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::ServerError { code: 401 | 403, .. } => load(format!(
            "{what}: not authorized by {registry} (set TOOLHOST_REGISTRY_AUTH=user:pass or log in with docker)"
        )),
        e => load(format!("{what}: {e}")),
    }
}
