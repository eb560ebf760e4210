//! Plugins as signed OCI artifacts: push, pull by digest, verify, lock.
//!
//! A plugin travels as one OCI artifact in the CNCF Wasm layout: the config
//! blob has media type [`artifact::CONFIG_MEDIA_TYPE`], the component is a
//! [`artifact::WASM_MEDIA_TYPE`] layer and the plugin's manifest (`NAME.toml`:
//! limits, config, grants) a second layer of [`artifact::MANIFEST_MEDIA_TYPE`],
//! so the grants are covered by the same manifest digest and signature as the
//! code.
//!
//! Signatures are cosign's keyed "simple signing" format: the signature
//! artifact is the tag `sha256-<hex>.sig` of the same repository, one layer of
//! media type `application/vnd.dev.cosign.simplesigning.v1+json` holding the
//! payload and the annotation `dev.cosignproject.cosign/signature` (base64
//! ECDSA P-256 SHA-256, DER), from RustCrypto `p256`; the registry protocol
//! from `oci-client`. Keyless signatures ([`keyless`]: a Fulcio certificate,
//! its chain and a Rekor SET in the layer's annotations) are verified offline
//! against a pinned `ISSUER=SUBJECT` and a local trust root.
//!
//! What was pulled is recorded in `toolhost.lock` beside the plugins
//! ([`lock`]): reference → digest, layer digests, signer, and the signature
//! itself, so [`verify::verify_dir`] re-checks files and signatures offline.
//! [`sources`] is the `[[sources]]` section of `toolhost.toml` and the sync a
//! host runs at start.
//!
//! Errors are the host's typed [`toolhost_core::Error`]: `DIGEST_MISMATCH`,
//! `SIGNATURE_INVALID`, `UNSIGNED_PLUGIN`, `REGISTRY_UNAVAILABLE`, plus
//! `PLUGIN_LOAD_FAILED` (not found, refused) and `CONFIGURATION_ERROR`.

pub mod artifact;
pub mod auth;
pub mod board;
pub mod client;
pub mod digest;
pub mod gate;
pub mod install;
pub mod keyless;
pub mod lock;
pub mod pull;
pub mod push;
pub mod reference;
pub mod sign;
pub mod sources;
pub mod verify;

pub use lock::{Lock, LockEntry};
pub use pull::{Pulled, Trust};
pub use reference::OciRef;
pub use sign::{SigningKey, VerifyKey};
pub use sources::SourceConfig;

pub use digest::sha256_digest;
