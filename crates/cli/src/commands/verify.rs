//! `toolhost verify`: re-check every locked plugin of a folder, offline.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use toolhost::oci::VerifyKey;
use toolhost::oci::keyless::{KeylessTrust, TrustRoot};
use toolhost::oci::verify::{Require, verify_dir};

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Plugins folder holding `toolhost.lock`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Also require every plugin to be signed by this public key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["identity", "trust_root"])]
    verify_key: Option<PathBuf>,
    /// Also require every plugin to be signed keyless by this identity
    /// (needs --trust-root).
    #[arg(long, value_name = "ISSUER=SUBJECT", requires = "trust_root")]
    identity: Option<String>,
    /// Check keyless signatures under this trust root instead of the one
    /// recorded in the lock.
    #[arg(long, value_name = "FILE")]
    trust_root: Option<PathBuf>,
}

/// Exit 0 when every locked plugin verifies, 1 on any mismatch.
pub(crate) fn run(a: VerifyArgs) -> Result<ExitCode> {
    let key = a.verify_key.as_deref().map(VerifyKey::from_file).transpose()?;
    let root = a.trust_root.as_deref().map(TrustRoot::from_file).transpose()?;
    let keyless = match (&a.identity, &root) {
        (Some(i), Some(r)) => {
            let (issuer, subject) = toolhost::oci::keyless::parse_identity(i)?;
            Some(KeylessTrust { issuer, subject, root: r.clone() })
        }
        _ => None,
    };
    let require = match (&key, &keyless, &root) {
        (Some(k), _, _) => Require::Key(k),
        (None, Some(t), _) => Require::Identity(t),
        (None, None, Some(r)) => Require::Root(r),
        _ => Require::Recorded,
    };
    let checked = verify_dir(&a.dir, require)?;
    if checked.is_empty() {
        eprintln!("toolhost: no locked plugins in {}", a.dir.display());
    }
    let mut failed = 0;
    for (e, verdict) in &checked {
        match verdict {
            Ok(()) => println!("ok      {}  {}@{}  signer {}", e.name, e.reference, e.digest, e.signer),
            Err(err) => {
                failed += 1;
                println!("FAILED  {}  {}: {err}", e.name, err.code());
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
