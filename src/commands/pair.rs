//! `relay pair`.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, PairArgs};

/// Runs `relay pair`.
pub fn run(_args: &PairArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relay pair is not built yet")
}
