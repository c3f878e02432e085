//! One module per subcommand; each exposes `run(args, settings) -> Result<ExitCode>`.

pub mod agents;
pub mod backup;
pub mod completions;
pub mod doctor;
pub mod generate_hooks;
pub mod guard;
pub mod hook;
pub mod init;
pub mod man;
pub mod pair;
pub mod recover;
pub mod reencrypt;
pub mod restore;
pub mod self_test;
pub mod serve;
pub mod tail;
pub mod token;
pub mod worker;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::Settings;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&args, &Settings::resolve(&cli.global)?),
        Command::Hook(args) => Ok(hook::run(&args, &cli.global)),
        Command::GenerateHooks(args) => generate_hooks::run(&args, &cli.global),
        Command::Init(args) => init::run(&args, &cli.global),
        Command::Test(args) => self_test::run(&args),
        Command::Doctor(args) => doctor::run(&args, &cli.global),
        Command::Backup(args) => backup::run(&args, &Settings::resolve(&cli.global)?),
        Command::Restore(args) => restore::run(&args, &Settings::resolve(&cli.global)?),
        Command::Agents(args) => agents::run(&args, &Settings::resolve(&cli.global)?),
        Command::Token(args) => token::run(&args, &Settings::resolve(&cli.global)?),
        Command::Pair(args) => pair::run(&args, &cli.global),
        Command::Recover(args) => recover::run(&args, &Settings::resolve(&cli.global)?),
        Command::ReEncrypt(args) => reencrypt::run(&args, &Settings::resolve(&cli.global)?),
        Command::Tail(args) => tail::run(&args, &Settings::resolve(&cli.global)?),
        Command::Guard(args) => guard::run(&args, &cli.global),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
        Command::Worker(args) => worker::run(&args, &Settings::resolve(&cli.global)?),
    }
}

/// Writes `bytes` to stdout. A closed pipe (`relay man | head`) is not an
/// error: the reader has what it wanted.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The exit code for a failed command (SPEC §5): 2 for store, schema and
/// configuration errors, 1 for everything else.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    use crate::ErrorCode as C;
    match err.downcast_ref::<crate::Error>().map(|e| e.code) {
        Some(C::CorruptStore | C::SchemaMismatch | C::Validation | C::Timeout | C::StorageFull | C::NotFound)
        | None => ExitCode::from(2),
        Some(_) => ExitCode::from(1),
    }
}
