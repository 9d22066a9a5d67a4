//! The `pktsample` command: parses arguments, runs, and reports an error once.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("pktsample: {err:#}");
            ExitCode::FAILURE
        }
    }
}
