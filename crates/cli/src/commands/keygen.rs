//! `toolhost keygen`: a signing key pair for `toolhost push --sign-key`.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Folder for `toolhost.key` (private, PKCS#8 PEM, ECDSA P-256; mode
    /// 0600) and `toolhost.pub` (public, PEM). Existing keys are not replaced.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub(crate) fn run(a: KeygenArgs) -> Result<ExitCode> {
    let (key, public) = (a.out.join("toolhost.key"), a.out.join("toolhost.pub"));
    if key.exists() || public.exists() {
        bail!("{} or {} already exists; not replacing a key", key.display(), public.display());
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let (private_pem, public_pem) = toolhost::oci::sign::generate()?;
    write_private(&key, private_pem.as_bytes())?;
    std::fs::write(&public, &public_pem).with_context(|| format!("writing {}", public.display()))?;
    let fp = toolhost::oci::VerifyKey::from_pem(&public_pem, "new key")?.fingerprint;
    println!("{}", public.display());
    eprintln!(
        "toolhost: wrote {} (private: keep it secret) and {} (public key {fp})",
        key.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
