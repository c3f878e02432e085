//! The store: the only module that runs SQL (SPEC §6).
//!
//! One SQLite file is the system of record, shared by every `relay`
//! process on the machine. It is opened in WAL mode with
//! `synchronous=FULL` (a completed call survives power loss), a busy
//! handler, and foreign keys on. Every change is one `BEGIN IMMEDIATE`
//! transaction that also appends to the `events` outbox and the audit log,
//! so a change, its notification and its audit row commit together.
//!
//! Submodules own one aggregate each: [`agents`], [`messages`],
//! [`channels`], [`events`], [`audit`], plus [`retention`] and the schema
//! in [`schema`]. Business rules (validation, capability checks, read
//! state) live here, next to the data they guard, so every transport
//! enforces them the same way.

pub mod agents;
pub mod audit;
pub mod channels;
pub mod events;
pub mod messages;
pub mod retention;
pub mod schema;
pub mod validate;

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::clock::{Clock, Millis};
use crate::error::{Error, Result};

pub use agents::{Agent, Presence, Registered, Registration};
pub use channels::{Channel, ChannelMessage};
pub use messages::{Message, Priority};

/// Size limits enforced on every write (SPEC §8). All configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message or channel-post content, in UTF-8 bytes. Default 65,536.
    pub max_content_bytes: usize,
    /// Longest task title, in characters. Default 256.
    pub max_title_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_content_bytes: 64 * 1024,
            max_title_chars: 256,
        }
    }
}

/// Who makes a mutating call, and over which transport: recorded in the
/// audit log.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The agent name bound to the session.
    pub agent: &'a str,
    /// `stdio`, `http` or `cli`.
    pub transport: &'a str,
}

/// A handle on the SQLite store. Cheap to share behind an [`Arc`]; calls
/// are serialised on one connection per process.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    path: PathBuf,
}

/// How long a writer waits for another process's transaction before giving
/// up with [`ErrorCode::Timeout`], in milliseconds.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it to
    /// the current schema.
    ///
    /// Creates missing parent directories with mode 0700 and the file with
    /// mode 0600. Errors: [`ErrorCode::SchemaMismatch`] when the file was
    /// written by a newer relay, [`ErrorCode::CorruptStore`] when it is not
    /// a SQLite database, [`ErrorCode::Internal`] for I/O failures.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, limits: Limits) -> Result<Self> {
        prepare_file(path)?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_handler(Some(busy_handler))?;
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;",
        )?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            clock,
            limits,
            path: path.to_owned(),
        })
    }

    /// The path of the SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The current time from the store's clock, in epoch milliseconds.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        self.read(|c, _| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable
        // (SQLite rolls back an unfinished transaction when it is dropped).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction; commits on `Ok`,
    /// rolls back on `Err`.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>, Millis) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx, self.clock.now())?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on the connection without a write transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection, Millis) -> Result<T>) -> Result<T> {
        let conn = self.lock();
        f(&conn, self.clock.now())
    }
}

/// Creates the parent directory (0700) and the file (0600) before SQLite
/// opens it, so the file is never world-readable, not even for an instant.
fn prepare_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io_error("create the store directory", dir, e))?;
        }
    }
    if !path.exists() {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error("create the store file", path, e))?;
    } else if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "store file is readable by other users; run `chmod 600` on it");
        }
    }
    Ok(())
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> Error {
    Error::internal(format!("cannot {what} {}: {err}", path.display()))
}

/// SQLite busy handler: short sleeps first (writers hold the lock for tens
/// of microseconds), then 1 ms steps, giving up after about
/// [`BUSY_TIMEOUT_MS`]. SQLite's own `busy_timeout` starts at 1 ms sleeps,
/// which caps many-process throughput far below what the disk allows.
fn busy_handler(attempt: i32) -> bool {
    const FAST: i32 = 200; // 200 × 25 µs = 5 ms
    let attempt = attempt.max(0);
    if attempt < FAST {
        std::thread::sleep(Duration::from_micros(25));
        true
    } else if ((attempt - FAST) as u64) < BUSY_TIMEOUT_MS {
        std::thread::sleep(Duration::from_millis(1));
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests;
