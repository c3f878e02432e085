//! `relay man`: man pages from the clap definitions (clap_mangen). The
//! committed `man/` directory is this command's `--out-dir` output,
//! checked by a test.

use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};

/// Prints relay.1, or writes relay.1 and relay-SUBCOMMAND.1 into a directory.
pub fn run(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let root = Cli::command();
    let Some(dir) = &args.out_dir else {
        let mut buf = Vec::new();
        clap_mangen::Man::new(root).render(&mut buf)?;
        super::write_stdout(&buf)?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![("relay.1".to_owned(), root.clone())];
    for sub in root.get_subcommands() {
        let name = format!("relay-{}", sub.get_name());
        pages.push((format!("{name}.1"), sub.clone().name(name)));
    }
    for (file, cmd) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut buf)?;
        let path = dir.join(file);
        std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
