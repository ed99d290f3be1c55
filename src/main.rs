//! `rctl`: the command line over the rctl library. It parses arguments, calls the library,
//! prints, and maps errors to exit codes: 2 for bad input, 1 for a refused or failed operation.

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
            // One line, whatever the error: scripts read the first line of stderr.
            let msg = e.to_string().replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
