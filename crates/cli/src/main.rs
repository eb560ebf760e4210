//! The `toolhost` binary.

mod commands;

fn main() -> std::process::ExitCode {
    commands::main()
}
