//! `rctl`: the command line over the rctl library. It parses arguments, calls the library,
//! prints, and maps errors to exit codes: 2 for bad input, 1 for a refused or failed operation.

// No function over 80 lines, none with more than 6 parameters (clippy.toml sets both floors).
#![warn(clippy::too_many_lines)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return cli::report_clap_error(e),
    };
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stderr (`2>&1 | head`) must not turn a refusal into a panic.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {}", cli::error::message(&e));
            cli::error::exit_code(&e)
        }
    }
}
