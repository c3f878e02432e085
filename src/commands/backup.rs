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

/// The name prefix of a backup's scratch directory, `<prefix><pid>-<random>`,
/// made beside the store (and beside the archive when that is on another
/// filesystem).
pub const BACKUP_PREFIX: &str = ".relay-backup-tmp-";

/// The name prefix of a restore's scratch directory, beside the store.
pub const RESTORE_PREFIX: &str = ".relay-restore-tmp-";

/// The files a scratch directory can hold: the snapshot (and any journal
/// SQLite makes for it), the archive being written, the owner's lock.
/// The signal handler removes exactly these, so keep every file a scratch
/// user makes in this list.
const SCRATCH_FILES: [&str; 6] = [
    "relay.db",
    "relay.db-journal",
    "relay.db-wal",
    "relay.db-shm",
    "archive.tar.gz",
    "owner.lock",
];

/// A private scratch directory (0700, files 0600) for copies of the store,
/// removed on every way out: dropped on return, error or panic, and
/// removed by a handler for SIGINT, SIGTERM and SIGHUP, which then ends the
/// process with the signal's default action (so the exit status is the
/// conventional "killed by signal"). A SIGKILL cannot be caught: its
/// directory is left behind, recognisable by its prefix and by
/// `owner.lock`, which the owner holds (`flock`) while it lives — see
/// [`leftovers`] and [`remove_stale`].
pub struct Scratch {
    dir: tempfile::TempDir,
    _owner: std::fs::File,
    slot: Option<usize>,
}

impl Scratch {
    /// Makes `<parent>/<prefix><pid>-<random>` (0700) and takes its
    /// `owner.lock`.
    ///
    /// Errors: the directory or its lock cannot be made.
    pub fn new(parent: &Path, prefix: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        signals::install();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
            .with_context(|| format!("cannot make a private scratch directory in {}", parent.display()))?;
        let slot = signals::register(dir.path());
        let owner = private_file(&dir.path().join("owner.lock"))?;
        owner
            .try_lock()
            .with_context(|| format!("cannot lock {}", dir.path().display()))?;
        Ok(Self {
            dir,
            _owner: owner,
            slot,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            signals::unregister(slot);
        }
        // The TempDir removes the directory when it drops, next.
    }
}

/// Creates `path` empty, 0600; it must not exist.
pub fn private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Removes scratch directories on SIGINT, SIGTERM and SIGHUP. The handler
/// uses only async-signal-safe calls (`unlink`, `rmdir`, `signal`,
/// `raise`) on paths prepared beforehand.
mod signals {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::Once;
    use std::sync::atomic::{AtomicPtr, Ordering};

    use nix::libc;
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

    /// A directory to remove and the files in it.
    struct Cleanup {
        dir: CString,
        files: Vec<CString>,
    }

    const SLOTS: usize = 8;
    static REGISTERED: [AtomicPtr<Cleanup>; SLOTS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
    const CAUGHT: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

    extern "C" fn on_signal(signal: libc::c_int) {
        for slot in &REGISTERED {
            let cleanup = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
            if cleanup.is_null() {
                continue;
            }
            // SAFETY: registered entries are leaked, never freed; unlink
            // and rmdir are async-signal-safe.
            let cleanup = unsafe { &*cleanup };
            for file in &cleanup.files {
                unsafe { libc::unlink(file.as_ptr()) };
            }
            unsafe { libc::rmdir(cleanup.dir.as_ptr()) };
        }
        // SAFETY: signal and raise are async-signal-safe; the signal is
        // blocked while this handler runs, so it is delivered, with its
        // default action, as the handler returns.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }

    /// Installs the handler once per process; a signal the process was
    /// started with ignored (`nohup`, a background job) stays ignored.
    pub fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
            for signal in CAUGHT {
                // SAFETY: the handler is async-signal-safe (see above).
                if let Ok(old) = unsafe { sigaction(signal, &action) }
                    && matches!(old.handler(), SigHandler::SigIgn)
                {
                    let _ = unsafe { sigaction(signal, &old) };
                }
            }
        });
    }

    /// Registers `dir` for removal on a signal; `None` when every slot is
    /// taken (the directory is then only removed on drop).
    pub fn register(dir: &Path) -> Option<usize> {
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).ok();
        let cleanup = Box::new(Cleanup {
            dir: c(dir)?,
            files: super::SCRATCH_FILES.iter().filter_map(|f| c(&dir.join(f))).collect(),
        });
        let ptr = Box::into_raw(cleanup);
        for (i, slot) in REGISTERED.iter().enumerate() {
            if slot
                .compare_exchange(std::ptr::null_mut(), ptr, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Some(i);
            }
        }
        // SAFETY: never published, so nobody else sees it.
        drop(unsafe { Box::from_raw(ptr) });
        None
    }

    /// Forgets slot `i`. The entry is leaked, not freed: a handler running
    /// on another thread may still be reading it (a few bytes per backup).
    pub fn unregister(i: usize) {
        REGISTERED[i].store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

/// A scratch directory (or file) left in a directory by a backup or
/// restore, found by its name prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leftover {
    /// Its path.
    pub path: PathBuf,
    /// The pid in its name.
    pub pid: Option<i32>,
    /// Its owner may still run: the pid in its name is alive (pids are
    /// reused, so a live pid only delays the cleanup), or someone holds its
    /// `owner.lock`.
    pub live: bool,
    /// Bytes of the files in it.
    pub bytes: u64,
}

/// The scratch directories of backups and restores in `dir` (not
/// recursive; an unreadable `dir` has none).
pub fn leftovers(dir: &Path) -> Vec<Leftover> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<Leftover> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name
                .strip_prefix(BACKUP_PREFIX)
                .or_else(|| name.strip_prefix(RESTORE_PREFIX))?;
            let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
            let path = e.path();
            let bytes = std::fs::read_dir(&path)
                .map(|d| d.filter_map(|f| f.ok()?.metadata().ok()).map(|m| m.len()).sum())
                .unwrap_or_else(|_| e.metadata().map(|m| m.len()).unwrap_or(0));
            let live = owner_alive(&path, pid);
            Some(Leftover { path, pid, live, bytes })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// Whether the scratch directory's owner runs: the pid in its name is
/// alive (a run between making the directory and locking `owner.lock`
/// counts too), or someone holds its `owner.lock`.
fn owner_alive(path: &Path, pid: Option<i32>) -> bool {
    if pid.is_some_and(pid_alive) {
        return true;
    }
    match std::fs::File::open(path.join("owner.lock")) {
        Ok(lock) => match lock.try_lock() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(_)) => pid.is_some_and(pid_alive),
        },
        Err(_) => pid.is_some_and(pid_alive),
    }
}

fn pid_alive(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Removes the leftovers in `dir` whose owner is gone (a killed backup or
/// restore); returns what it removed. Failures to remove are skipped:
/// `relay doctor` reports what is left.
pub fn remove_stale(dir: &Path) -> Vec<PathBuf> {
    leftovers(dir)
        .into_iter()
        .filter(|l| !l.live)
        .filter(|l| {
            if l.path.is_dir() {
                std::fs::remove_dir_all(&l.path).is_ok()
            } else {
                std::fs::remove_file(&l.path).is_ok()
            }
        })
        .map(|l| l.path)
        .collect()
}

/// The directory holding `path` (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes a backup of the store at `db` (and the config file, if any) to
/// `out` (0600, atomically). The snapshot and the archive are made in a
/// [`Scratch`] directory beside the store (no one else can read them, and
/// they go away however the run ends); the archive is then renamed into
/// place, or copied through a second scratch directory beside `out` when
/// that is on another filesystem.
///
/// Errors: the store cannot be snapshot, or `out` cannot be written.
pub fn write_archive(db: &Path, out: &Path, config: Option<&Path>) -> anyhow::Result<Manifest> {
    let dir = parent_dir(out);
    crate::store::private_dir(dir)?;
    let work = Scratch::new(parent_dir(db), BACKUP_PREFIX)?;
    let snapshot = work.path().join("relay.db");
    // VACUUM INTO accepts an empty file; made here it is 0600 from the start.
    drop(private_file(&snapshot)?);
    backup::snapshot(db, &snapshot)?;
    let manifest = backup::manifest(
        &snapshot,
        crate::clock::rfc3339(crate::clock::Clock::now(&crate::clock::SystemClock)),
    )?;
    let partial = work.path().join("archive.tar.gz");
    let file = private_file(&partial)?;
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
    drop(file);
    std::fs::remove_file(&snapshot)?;
    match std::fs::rename(&partial, out) {
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            let hop = Scratch::new(dir, BACKUP_PREFIX)?;
            let staged = hop.path().join("archive.tar.gz");
            let mut to = private_file(&staged)?;
            std::io::copy(&mut std::fs::File::open(&partial)?, &mut to)?;
            to.sync_all()?;
            std::fs::rename(&staged, out).with_context(|| format!("cannot write {}", out.display()))?;
        }
        other => other.with_context(|| format!("cannot write {}", out.display()))?,
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
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
    // Leftovers of killed runs beside the store and in the output directory.
    let mut removed = remove_stale(parent_dir(&settings.db));
    if parent_dir(&out) != parent_dir(&settings.db) {
        removed.extend(remove_stale(parent_dir(&out)));
    }
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
        let report = serde_json::json!({
            "path": out,
            "manifest": manifest,
            "pruned": pruned,
            "removed_leftovers": removed,
        });
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
        for p in &removed {
            let _ = writeln!(err, "removed {}, left by a killed backup or restore", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_directory_is_private_and_gone_after_a_panic() {
        let parent = tempfile::tempdir().unwrap();
        let seen = std::panic::catch_unwind(|| {
            let work = Scratch::new(parent.path(), BACKUP_PREFIX).unwrap();
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(work.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
            let leftover = leftovers(parent.path());
            assert_eq!(leftover.len(), 1);
            assert!(leftover[0].live, "its owner runs");
            assert_eq!(leftover[0].pid, Some(std::process::id() as i32));
            panic!("mid-backup");
        });
        assert!(seen.is_err());
        assert!(
            leftovers(parent.path()).is_empty(),
            "the scratch directory survived a panic"
        );
    }

    #[test]
    fn a_failed_backup_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("relay.db");
        std::fs::write(&db, b"not a database, but long enough to be looked at by sqlite").unwrap();
        let out = dir.path().join("out/b.tar.gz");
        assert!(write_archive(&db, &out, None).is_err());
        assert!(leftovers(dir.path()).is_empty());
        assert!(!out.exists());
    }
}
