//! The `automl` binary: parse the command line, run it, map errors to the
//! documented exit codes (see the book's reference).

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = automl::cli::Cli::parse();
    match automl::cli::run(cli, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
