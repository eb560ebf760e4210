//! `toolhost config`: the configuration reference and a check of a file.

use crate::host_args::HostArgs;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Print every `toolhost.toml` key with its default and meaning (the
    /// README's configuration reference is this table).
    Reference,
    /// Read and check the configuration (`--config FILE` or ./toolhost.toml):
    /// exit 0 when valid, 2 with every problem (key path and rule) otherwise.
    Check {
        #[command(flatten)]
        host: HostArgs,
    },
}

pub(crate) fn run(a: ConfigArgs) -> Result<ExitCode> {
    match a.what {
        What::Reference => print!("{}", toolhost::config::reference::table()),
        What::Check { host } => {
            let cfg = host.load_config()?;
            cfg.validate()?;
            println!("ok");
        }
    }
    Ok(ExitCode::SUCCESS)
}
