//! `relay agents`.

use std::process::ExitCode;

use crate::config::Settings;

/// Runs `relay agents`.
pub fn run(_args: &crate::cli::AgentsArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relay agents is not built yet")
}
