//! Creating a store, and refusing files that are not one.
//!
//! A new store is built whole under a temporary name in its directory
//! (mode 0600, migrated, checkpointed so no `-wal`/`-shm` is left) and then
//! linked into place without replacing anything: a process never sees a
//! half-made store, and an existing file at the path — even an empty one —
//! is never overwritten. Processes creating the same store at once all end
//! up on the one that was linked first.
//!
//! An existing file is checked before SQLite may write to it: an empty
//! file, a file without the SQLite header, or a SQLite database with
//! tables of its own and no relay schema is
//! [`ErrorCode::CorruptStore`], with the file left byte for byte as it was.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OpenFlags};

use super::{io_error, opening, schema, set_wal};
use crate::error::{Error, ErrorCode, Result};

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Builds the store at `path` if there is no file there. Losing a race
/// to another process creating it is success: that process's store is
/// the store.
pub(super) fn create_if_missing(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    let temp = temp_name(path);
    let outcome = build(&temp).and_then(|()| link_into_place(&temp, path));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(super::lock::sidecar(&temp, suffix));
    }
    outcome
}

/// `<dir>/.<name>.new-<pid>-<n>-<random>`: unique per process and
/// attempt, and random so that a file left by a killed run with the same
/// pid (pid 1 in a container) never collides; hidden, and in the store's
/// directory so linking it is atomic.
fn temp_name(path: &Path) -> PathBuf {
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let attempt = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    let random: u32 = rand::random();
    path.with_file_name(format!(".{name}.new-{}-{attempt}-{random:08x}", std::process::id()))
}

/// Creates `temp` (0600), migrates it in WAL mode and closes it, which
/// checkpoints the WAL into the file and removes `-wal` and `-shm`.
fn build(temp: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(|e| io_error("create the store file", temp, e))?;
    let mut conn = Connection::open_with_flags(
        temp,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| opening(temp, "create", e))?;
    set_wal(&conn).map_err(|e| opening(temp, "switch to WAL", e))?;
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(|e| opening(temp, "configure", e))?;
    schema::migrate(&mut conn).map_err(|e| Error::new(e.code, format!("{}: {}", temp.display(), e.message)))?;
    conn.close().map_err(|(_, e)| opening(temp, "finish", e))?;
    Ok(())
}

/// Links the finished `temp` to `path` unless something is there already
/// (`link(2)` never replaces), then makes the new name durable.
fn link_into_place(temp: &Path, path: &Path) -> Result<()> {
    match std::fs::hard_link(temp, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => rename_no_replace(temp, path, e)?,
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync the directory", dir, e))?;
    }
    Ok(())
}

/// For file systems without hard links: `renameat2(RENAME_NOREPLACE)`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn rename_no_replace(temp: &Path, path: &Path, link_error: std::io::Error) -> Result<()> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    match renameat2(AT_FDCWD, temp, AT_FDCWD, path, RenameFlags::RENAME_NOREPLACE) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(_) => Err(io_error("create the store file", path, link_error)),
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn rename_no_replace(_temp: &Path, path: &Path, link_error: std::io::Error) -> Result<()> {
    Err(io_error("create the store file", path, link_error))
}

/// Refuses a file SQLite would silently turn into a new database (an
/// empty one) or cannot read (no SQLite header), before it opens it.
pub(super) fn check_header(path: &Path) -> Result<()> {
    let mut file = File::open(path).map_err(|e| io_error("open the store", path, e))?;
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("read the store", path, e)),
        }
    }
    if read == 0 {
        return Err(corrupt(
            path,
            "is an empty file (0 bytes), not a relay store. relay does not overwrite it: if it should \
             hold your history, restore a backup with `relay restore BACKUP`; if not, move it away (or \
             delete it) and relay creates a fresh store there",
        ));
    }
    if read < header.len() || &header != SQLITE_HEADER {
        return Err(corrupt(
            path,
            "is not a SQLite database (it lacks the SQLite header), so it is not a relay store; relay \
             left it untouched. Check that --db or RELAY_DB names your store; to recover one, restore a \
             backup with `relay restore BACKUP`, or move this file away to start a fresh store",
        ));
    }
    Ok(())
}

/// Refuses a SQLite database that belongs to another program: it has
/// tables but no relay schema version. A SQLite file with no tables at
/// all holds nothing to lose and becomes a store.
pub(super) fn check_is_relay_store(conn: &Connection, path: &Path) -> Result<()> {
    let (version, tables, relay_tables): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'),
                    (SELECT count(*) FROM sqlite_schema
                      WHERE type = 'table' AND name IN ('agents', 'messages', 'events'))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| opening(path, "read", e))?;
    let foreign = if version == 0 { tables > 0 } else { relay_tables < 3 };
    if foreign {
        return Err(corrupt(
            path,
            "is a SQLite database of another program, not a relay store (it has no relay schema); relay \
             left it untouched. Check that --db or RELAY_DB names your store; to recover one, restore a \
             backup with `relay restore BACKUP`, or move this file away to start a fresh store",
        ));
    }
    Ok(())
}

fn corrupt(path: &Path, what: &str) -> Error {
    Error::new(ErrorCode::CorruptStore, format!("the store {} {what}", path.display()))
}
