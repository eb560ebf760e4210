//! `toolhost push`: publish `NAME.wasm` (+ `NAME.toml`) as an OCI artifact.

use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use toolhost::oci::{OciRef, SigningKey, push};

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// The plugin component; its sibling `NAME.toml` (limits, config, grants)
    /// travels with it as a second layer under the same digest.
    #[arg(value_name = "NAME.wasm")]
    wasm: PathBuf,
    /// Destination `oci://HOST[:PORT]/REPO:TAG` (plain HTTP only for loopback hosts).
    #[arg(value_name = "REF")]
    dest: String,
    /// Sign the artifact digest with this private key (from `toolhost keygen`);
    /// the cosign signature is pushed as the tag `sha256-<hex>.sig`.
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
}

pub(crate) async fn run(a: PushArgs) -> Result<ExitCode> {
    let dest: OciRef = a.dest.parse()?;
    if dest.tag.is_none() || dest.digest.is_some() {
        bail!("push needs a tag reference (oci://HOST/REPO:TAG), got {dest}");
    }
    let key = a.sign_key.as_deref().map(SigningKey::from_file).transpose()?;
    let files = push::read_plugin(&a.wasm)?;
    let pinned = push::push(&files, &dest, key.as_ref()).await?;
    match &key {
        Some(k) => {
            eprintln!("toolhost: pushed {} to {dest}, signed by {}", files.name, k.public().fingerprint)
        }
        None => eprintln!(
            "toolhost: pushed {} to {dest} (unsigned: pulls will refuse it unless insecure_unsigned)",
            files.name
        ),
    }
    println!("{pinned}");
    Ok(ExitCode::SUCCESS)
}
