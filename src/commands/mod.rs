//! One module per subcommand; each exposes `run(args, settings) -> Result<ExitCode>`.

pub mod serve;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::Settings;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&cli.global)?;
    match cli.command {
        Command::Serve(args) => serve::run(&args, &settings),
    }
}

/// The exit code for a failed command (SPEC §5): 2 for store, schema and
/// configuration errors, 1 for everything else.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    use crate::ErrorCode as C;
    match err.downcast_ref::<crate::Error>().map(|e| e.code) {
        Some(C::CorruptStore | C::SchemaMismatch | C::Validation | C::Timeout) | None => ExitCode::from(2),
        Some(_) => ExitCode::from(1),
    }
}
