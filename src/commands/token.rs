//! `relay token`.

use std::process::ExitCode;

use crate::config::Settings;

/// Runs `relay token`.
pub fn run(_args: &crate::cli::TokenArgs, _settings: &Settings) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relay token is not built yet")
}
