//! `toolhost pull`: fetch a plugin by digest, verify it, install and lock it.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use toolhost::oci::keyless::KeylessTrust;
use toolhost::oci::{OciRef, Trust, VerifyKey, install, lock::Lock, pull};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("trust").required(true).args(["verify_key", "identity", "insecure_unsigned"])))]
pub(crate) struct PullArgs {
    /// `oci://HOST[:PORT]/REPO:TAG` (resolved once to a digest) or `…@sha256:HEX`.
    #[arg(value_name = "REF")]
    reference: String,
    /// Plugins folder: `NAME.wasm`, `NAME.toml` and `toolhost.lock` go here.
    #[arg(long, value_name = "DIR")]
    plugins: PathBuf,
    /// Require a signature by this public key (PEM, from `toolhost keygen`).
    #[arg(long, value_name = "FILE")]
    verify_key: Option<PathBuf>,
    /// Require a keyless (Sigstore: Fulcio certificate + Rekor SET) signature
    /// whose certificate names SUBJECT (SAN email or URI), issued by the OIDC
    /// provider ISSUER; needs --trust-root.
    #[arg(long, value_name = "ISSUER=SUBJECT", requires = "trust_root")]
    identity: Option<String>,
    /// With --identity: the offline trust root (Sigstore `trusted_root.json`,
    /// or a PEM file of Fulcio CA certificates and Rekor public keys).
    #[arg(long, value_name = "FILE", requires = "identity")]
    trust_root: Option<PathBuf>,
    /// Accept an unsigned plugin.
    #[arg(long)]
    insecure_unsigned: bool,
}

pub(crate) async fn run(a: PullArgs) -> Result<ExitCode> {
    let r: OciRef = a.reference.parse()?;
    let trust = match (&a.verify_key, &a.identity, &a.trust_root) {
        (Some(k), _, _) => Trust::Key(VerifyKey::from_file(k)?),
        (None, Some(i), Some(root)) => Trust::Identity(KeylessTrust::new(i, &std::path::absolute(root)?)?),
        _ => Trust::InsecureUnsigned,
    };
    let before = Lock::read(&a.plugins)?.get(&a.reference).map(|e| e.digest.clone());
    let digest = pull::resolve(&r).await?;
    let pulled = pull::fetch(&r, &digest, &trust).await?;
    let entry = install::install(&a.plugins, &pulled, true)?;
    if let Some(old) = before.filter(|d| *d != digest) {
        eprintln!("toolhost: {} moved from {old} to {digest}; the lock now follows it", a.reference);
    }
    let toml = if entry.manifest.is_some() { format!(" + {}.toml", entry.name) } else { String::new() };
    eprintln!(
        "toolhost: installed {}.wasm{toml} into {} (signer {}); locked in {}",
        entry.name,
        a.plugins.display(),
        entry.signer,
        a.plugins.join(toolhost::oci::lock::LOCK_FILE).display()
    );
    println!("{}", r.with_digest(&digest));
    Ok(ExitCode::SUCCESS)
}
