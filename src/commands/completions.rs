//! `relay completions`: shell completions from the clap definitions
//! (clap_complete). The committed `completions/` directory is this
//! command's `--out-dir` output, checked by a test.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, ValueEnum};
use clap_complete::{Generator, Shell};

use crate::cli::{Cli, CompletionsArgs};

/// Prints completions for one shell, or writes every shell's file.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    match (&args.out_dir, args.shell) {
        (Some(dir), _) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            for shell in Shell::value_variants() {
                write_file(dir, *shell)?;
            }
        }
        (None, Some(shell)) => super::write_stdout(&render(shell))?,
        (None, None) => unreachable!("clap requires SHELL or --out-dir"),
    }
    Ok(ExitCode::SUCCESS)
}

fn write_file(dir: &Path, shell: Shell) -> anyhow::Result<()> {
    let path = dir.join(shell.file_name("relay"));
    std::fs::write(&path, render(shell)).with_context(|| format!("cannot write {}", path.display()))
}

fn render(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "relay", &mut buf);
    buf
}
