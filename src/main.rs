//! The `relay` binary: parse arguments, run the subcommand, map the
//! outcome to an exit code (0 success, 1 failure, 2 usage or store error).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = relay::cli::Cli::parse();
    relay::logging::init(&cli.global);
    match relay::commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("relay: error: {err:#}");
            relay::commands::exit_code_for(&err)
        }
    }
}
