//! `relay backup`: a consistent snapshot packed as tar.gz (SPEC §5): the
//! database (`VACUUM INTO`, safe while agents run) and `manifest.json`.
//! Silent under cron (no terminal, no `--json`); a progress spinner on a
//! terminal.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::BackupArgs;
use crate::config::Settings;
use crate::store::backup::{self, Manifest};

/// The default backup directory: `backups/` beside the store.
pub fn default_dir(db: &Path) -> PathBuf {
    db.parent().unwrap_or(Path::new(".")).join("backups")
}

/// `relay-20261121T071203123Z.tar.gz` for now (sortable by name).
pub fn file_name() -> String {
    let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let compact: String = stamp.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("relay-{compact}.tar.gz")
}

/// Writes a backup of the store at `db` (and the config file, if any) to
/// `out` (0600, atomically).
///
/// Errors: the store cannot be snapshot, or `out` cannot be written.
pub fn write_archive(db: &Path, out: &Path, config: Option<&Path>) -> anyhow::Result<Manifest> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::store::private_dir(dir)?;
    let work = tempfile::Builder::new().prefix(".relay-backup-").tempdir_in(dir)?;
    let snapshot = work.path().join("relay.db");
    backup::snapshot(db, &snapshot)?;
    let manifest = backup::manifest(
        &snapshot,
        crate::clock::rfc3339(crate::clock::Clock::now(&crate::clock::SystemClock)),
    )?;
    let partial = work.path().join("archive.tar.gz");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    tar.append_path_with_name(&snapshot, "relay.db")?;
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, "manifest.json", json.as_slice())?;
    if let Some(config) = config.filter(|c| c.exists()) {
        tar.append_path_with_name(config, "config.toml")?;
    }
    let gz = tar.into_inner()?;
    let file = gz.finish()?;
    file.sync_all()?;
    std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(manifest)
}

/// Deletes the oldest `relay-*.tar.gz` in `dir` beyond the newest `keep`.
pub fn prune(dir: &Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("relay-") && n.ends_with(".tar.gz"))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for path in &removed {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(removed)
}

/// Runs `relay backup`.
///
/// Exit codes: 0 written, 2 the store is missing or unreadable, 1 the
/// archive could not be written.
pub fn run(args: &BackupArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    if !settings.db.exists() {
        bail!(crate::Error::not_found(format!(
            "no store at {}; nothing to back up",
            settings.db.display()
        )));
    }
    let out = match &args.output {
        Some(p) if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') => p.join(file_name()),
        Some(p) => p.clone(),
        None => default_dir(&settings.db).join(file_name()),
    };
    let tty = std::io::stderr().is_terminal();
    let spinner = tty.then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!("snapshotting {}", settings.db.display()));
        s.enable_steady_tick(std::time::Duration::from_millis(100));
        s
    });
    let manifest = write_archive(&settings.db, &out, settings.config_file.as_deref());
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    let manifest = manifest?;
    let pruned = match args.keep {
        Some(keep) => prune(out.parent().unwrap_or(Path::new(".")), keep)?,
        None => Vec::new(),
    };
    if args.json {
        let report = serde_json::json!({ "path": out, "manifest": manifest, "pruned": pruned });
        super::write_stdout(format!("{report}\n").as_bytes())?;
    } else if tty {
        let mut err = std::io::stderr().lock();
        let rows: i64 = manifest.row_counts.values().sum();
        let _ = writeln!(
            err,
            "backup written to {} ({rows} rows, schema {})",
            out.display(),
            manifest.schema_version
        );
        for p in &pruned {
            let _ = writeln!(err, "pruned {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
