//! The `toolhost` binary.

mod commands;
mod host_args;

fn main() -> std::process::ExitCode {
    commands::main()
}
