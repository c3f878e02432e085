//! `relay restore PATH`: replace the store with a backup (SPEC §5, §6).
//!
//! Refuses while any process uses the store: `relay.db.lock` (shared by
//! every open store) is taken exclusively here, and since a lock file can
//! be deleted under a running process, SQLite's own locks and open
//! descriptors are probed too ([`crate::store::liveness`]). Verifies the
//! archive, its manifest and the database's integrity before touching
//! anything, writes a safety backup of the current store, then swaps the
//! file in atomically. A truncated or foreign archive changes nothing.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::RestoreArgs;
use crate::config::Settings;
use crate::error::{Error, ErrorCode};
use crate::store::backup::{self, Manifest};
use crate::store::lock::sidecar;

/// Runs `relay restore`.
///
/// Exit codes: 0 restored; 1 refused (`DAEMON_RUNNING`, declined); 2 a bad
/// archive (`CORRUPT_STORE`, `SCHEMA_MISMATCH`) or a usage error.
pub fn run(args: &RestoreArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let db = &settings.db;
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // 1. Nobody may hold the store.
    let lock_path = sidecar(db, ".lock");
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)?;
    if lock.try_lock().is_err() {
        bail!(Error::new(
            ErrorCode::DaemonRunning,
            "a relay process (serve, worker, tail…) has the store open; stop them all, then restore"
        ));
    }
    // The lock file may have been deleted under a running process: ask
    // the kernel who holds SQLite's locks or has the files open.
    let users = crate::store::liveness::open_users(db);
    if !users.is_empty() {
        let pids: Vec<String> = users.iter().map(|u| u.pid.to_string()).collect();
        bail!(Error::new(
            ErrorCode::DaemonRunning,
            format!(
                "{} {} the store open ({} is missing or was recreated, so it cannot tell): {}; stop {} (end the \
                 session, or kill {}), then restore",
                if users.len() == 1 { "a process" } else { "processes" },
                if users.len() == 1 { "has" } else { "have" },
                lock_path.display(),
                users.iter().map(|u| u.describe()).collect::<Vec<_>>().join(", "),
                if users.len() == 1 { "it" } else { "them" },
                pids.join(" ")
            )
        ));
    }
    // 2. Unpack and verify, in the store's directory (for the atomic swap).
    super::backup::remove_stale(&dir);
    let work = super::backup::Scratch::new(&dir, super::backup::RESTORE_PREFIX)?;
    let (manifest, candidate) = unpack(&args.path, work.path())?;
    backup::integrity_check(&candidate)?;
    backup::check_schema(&manifest, args.force)?;
    // 3. Confirm.
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "not on a terminal: pass --yes to replace {} with {}",
                db.display(),
                args.path.display()
            );
        }
        let prompt = format!(
            "Replace {} with the backup of {} ({} messages, {} tasks)? A safety backup is written first.",
            db.display(),
            manifest.created_at,
            manifest.row_counts.get("messages").unwrap_or(&0),
            manifest.row_counts.get("tasks").unwrap_or(&0)
        );
        if !dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(false)
            .interact()?
        {
            eprintln!("relay: nothing changed");
            return Ok(ExitCode::from(1));
        }
    }
    // 4. Safety backup of what is there now.
    let safety = if db.exists() {
        let path = super::backup::default_dir(db).join(format!("pre-restore-{}", super::backup::file_name()));
        super::backup::write_archive(db, &path, settings.config_file.as_deref())
            .context("cannot write the safety backup; nothing changed")?;
        Some(path)
    } else {
        None
    };
    // 5. Swap: the old WAL and shared memory belong to the old file.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(sidecar(db, suffix));
    }
    std::fs::rename(&candidate, db).with_context(|| format!("cannot move the restored store into {}", db.display()))?;
    drop(lock);
    let report = serde_json::json!({ "restored": args.path, "manifest": manifest, "safety_backup": safety });
    if args.json {
        super::write_stdout(format!("{report}\n").as_bytes())?;
    } else {
        eprintln!(
            "restored {} from {}{}",
            db.display(),
            args.path.display(),
            safety
                .map(|p| format!("; the previous store is in {}", p.display()))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Extracts `relay.db` and `manifest.json` from the archive into `dir`.
///
/// Errors: [`ErrorCode::CorruptStore`] for a truncated, foreign or
/// incomplete archive.
fn unpack(archive: &Path, dir: &Path) -> anyhow::Result<(Manifest, std::path::PathBuf)> {
    let bad = |why: String| {
        Error::new(
            ErrorCode::CorruptStore,
            format!("{} is not a usable relay backup: {why}", archive.display()),
        )
    };
    let file = std::fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let (mut manifest, mut db) = (None, None);
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        match name.as_str() {
            "manifest.json" => {
                let mut text = String::new();
                entry.read_to_string(&mut text).map_err(|e| bad(e.to_string()))?;
                manifest = Some(serde_json::from_str::<Manifest>(&text).map_err(|e| bad(format!("manifest: {e}")))?);
            }
            "relay.db" => {
                let path = dir.join("relay.db");
                if db.is_some() {
                    return Err(bad("two relay.db entries".into()).into());
                }
                let mut out = super::backup::private_file(&path)?;
                std::io::copy(&mut entry, &mut out).map_err(|e| bad(e.to_string()))?;
                out.sync_all()?;
                db = Some(path);
            }
            _ => {}
        }
    }
    match (manifest, db) {
        (Some(m), Some(db)) => Ok((m, db)),
        (None, _) => Err(bad("no manifest.json".into()).into()),
        (_, None) => Err(bad("no relay.db".into()).into()),
    }
}
