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
            let mut msg = e.to_string().replace('\n', " ");
            // An error may quote input: one short line, whatever was given.
            if msg.len() > 1000 {
                let mut end = 1000;
                while !msg.is_char_boundary(end) {
                    end -= 1;
                }
                let full = msg.len();
                msg.truncate(end);
                msg.push_str(&format!("... ({full} bytes)"));
            }
            eprintln!("error: {msg}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
