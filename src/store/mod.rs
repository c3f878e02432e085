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
pub mod backup;
pub mod channels;
pub mod events;
pub mod executor;
pub mod liveness;
pub mod lock;
pub mod messages;
pub mod reencrypt;
pub mod retention;
pub mod schema;
pub mod tasks;
pub mod validate;

use std::cell::Cell;
use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::ReentrantMutex;
use rusqlite::{Connection, OpenFlags};

use crate::clock::{Clock, Millis};
use crate::crypto::{self, Codec};
use crate::error::{Error, Result};

pub use agents::{Agent, Presence, Registered, Registration};
pub use channels::{Channel, ChannelMessage};
pub use executor::Executor;
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
/// are serialised on one connection per process. [`Executor`] adds group
/// commit on top.
pub struct Store {
    conn: ReentrantMutex<Conn>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    path: PathBuf,
    _process_lock: lock::ProcessLock,
}

/// The connection and its transaction state. Only touched under the
/// re-entrant mutex, by one thread at a time.
struct Conn {
    conn: Connection,
    writer: lock::WriterLock,
    /// Inside [`Store::batch`]: each write is a SAVEPOINT of the batch's
    /// transaction instead of a transaction of its own.
    in_batch: Cell<bool>,
    /// A savepoint could not be cleaned up (or a call panicked): the batch
    /// must roll back as a whole.
    poisoned: Cell<bool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish()
    }
}

/// How long a writer waits for another process's transaction before giving
/// up with [`ErrorCode::Timeout`](crate::ErrorCode::Timeout), in
/// milliseconds (applies to the writer queue and to SQLite's lock each).
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it to
    /// the current schema. Holds `<path>.lock` shared while open.
    ///
    /// Creates missing parent directories with mode 0700 and the file with
    /// mode 0600. Errors: [`ErrorCode::SchemaMismatch`](crate::ErrorCode::SchemaMismatch)
    /// when the file was written by a newer relay,
    /// [`ErrorCode::CorruptStore`](crate::ErrorCode::CorruptStore) when it
    /// is not a SQLite database, [`ErrorCode::DaemonRunning`](crate::ErrorCode::DaemonRunning)
    /// while a restore holds it, [`ErrorCode::Internal`](crate::ErrorCode::Internal)
    /// for I/O failures.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, limits: Limits) -> Result<Self> {
        Self::open_with(path, clock, limits, Codec::default())
    }

    /// [`Store::open`] with a [`Codec`]: the keyring that seals the
    /// encrypted columns (SPEC §6), or none for plain text. Values already
    /// stored under other keys of the keyring stay readable.
    pub fn open_with(path: &Path, clock: Arc<dyn Clock>, limits: Limits, codec: Codec) -> Result<Self> {
        prepare_file(path)?;
        let process_lock = lock::ProcessLock::acquire(path)?;
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| opening(path, "open", e))?;
        conn.busy_handler(Some(busy_handler))
            .map_err(|e| opening(path, "configure", e))?;
        conn.set_prepared_statement_cache_capacity(64);
        crypto::register(&conn, codec.clone()).map_err(|e| opening(path, "configure", e))?;
        set_wal(&conn).map_err(|e| opening(path, "switch to WAL", e))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| opening(path, "configure", e))?;
        schema::migrate(&mut conn).map_err(|e| Error::new(e.code, format!("{}: {}", path.display(), e.message)))?;
        require_keyring_once_used(&conn, path, &codec)?;
        Ok(Self {
            conn: ReentrantMutex::new(Conn {
                conn,
                writer: lock::WriterLock::open(path, Duration::from_millis(BUSY_TIMEOUT_MS))?,
                in_batch: Cell::new(false),
                poisoned: Cell::new(false),
            }),
            clock,
            limits,
            path: path.to_owned(),
            _process_lock: process_lock,
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

    /// Rows changed through this connection since it opened (SQLite's
    /// `total_changes`): a cheap way to tell whether a call wrote anything.
    pub fn total_changes(&self) -> u64 {
        let guard = self.conn.lock();
        guard.conn.total_changes()
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        self.read(|c, _| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    }

    /// Runs `f` as one atomic write: its own `BEGIN IMMEDIATE` transaction,
    /// or a SAVEPOINT when inside [`Store::batch`]. Commits (or releases)
    /// on `Ok`; on `Err` — or a panic — rolls back, so a failed call
    /// stores nothing and leaves no transaction open.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Connection, Millis) -> Result<T>) -> Result<T> {
        let guard = self.conn.lock();
        let c = &*guard;
        if c.in_batch.get() {
            let now = self.clock.now();
            return c.savepoint(|conn| f(conn, now));
        }
        let _writer = c.writer.acquire();
        let tx = TxGuard::begin(&c.conn)?;
        // Read the clock only once the write lock is held: a wait for the
        // lock must not make leases or history timestamps stale.
        let now = self.clock.now();
        let value = f(&c.conn, now)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` on the connection without starting a transaction (inside a
    /// batch it reads the batch's own uncommitted writes).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection, Millis) -> Result<T>) -> Result<T> {
        let guard = self.conn.lock();
        f(&guard.conn, self.clock.now())
    }

    /// Group commit: runs `f` (which makes store calls on this thread)
    /// inside one `BEGIN IMMEDIATE` transaction, so all its writes share
    /// one fsync. Each write is a SAVEPOINT: one failing call rolls back
    /// alone. `f` returns its output and whether the batch is healthy (no
    /// call panicked). Other threads wait for the batch.
    ///
    /// Returns `Err` without running `f` when the transaction cannot begin
    /// (the store stayed locked: [`ErrorCode::Timeout`](crate::ErrorCode::Timeout)).
    /// Otherwise returns `f`'s output and the commit outcome, which callers
    /// must check before reporting any write as done.
    pub fn batch<T>(&self, f: impl FnOnce() -> (T, bool)) -> Result<(T, Result<()>)> {
        let guard = self.conn.lock();
        let c = &*guard;
        let _writer = c.writer.acquire();
        let tx = TxGuard::begin(&c.conn)?;
        c.poisoned.set(false);
        c.in_batch.set(true);
        let reset = ResetOnDrop(&c.in_batch);
        let (out, healthy) = f();
        drop(reset);
        let outcome = if healthy && !c.poisoned.get() {
            tx.commit()
        } else {
            Err(Error::internal(
                "a call in this batch failed to clean up; the batch was rolled back, retry",
            ))
        };
        Ok((out, outcome))
    }
}

impl Conn {
    fn savepoint<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let aborted = || Error::internal("the batch transaction was aborted; retry the call");
        if self.poisoned.get() || self.conn.is_autocommit() {
            // SQLite rolled the batch back (e.g. disk full): nothing here
            // may run outside it.
            self.poisoned.set(true);
            return Err(aborted());
        }
        let poison = PoisonOnDrop(&self.poisoned);
        self.conn.prepare_cached("SAVEPOINT call")?.execute([])?;
        let out = f(&self.conn);
        let cleanup = (|| -> Result<()> {
            if out.is_err() {
                self.conn.prepare_cached("ROLLBACK TO call")?.execute([])?;
            }
            self.conn.prepare_cached("RELEASE call")?.execute([])?;
            Ok(())
        })();
        cleanup?;
        std::mem::forget(poison);
        out
    }
}

/// An open `BEGIN IMMEDIATE` transaction; rolls back on drop unless
/// committed (an error or a panic in between).
struct TxGuard<'a> {
    conn: &'a Connection,
    done: bool,
}

impl<'a> TxGuard<'a> {
    fn begin(conn: &'a Connection) -> Result<Self> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Self { conn, done: false })
    }

    fn commit(mut self) -> Result<()> {
        self.done = true;
        let committed = self.conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]));
        if committed.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        committed.map(|_| ()).map_err(Error::from)
    }
}

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Marks the batch poisoned unless forgotten (a panic or an early return
/// inside a savepoint).
struct PoisonOnDrop<'a>(&'a Cell<bool>);

impl Drop for PoisonOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

struct ResetOnDrop<'a>(&'a Cell<bool>);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// An error while opening the store, naming the step and the file.
/// A store once opened with a keyring stays encrypted: it records that
/// (`store_meta.encryption`), and a process without a keyring refuses to
/// open it ([`ErrorCode::Validation`](crate::ErrorCode::Validation), exit
/// 2) instead of writing plain text next to sealed values, which would
/// happen when an MCP client does not pass the keyring's environment on.
fn require_keyring_once_used(conn: &Connection, path: &Path, codec: &Codec) -> Result<()> {
    let required = encryption_required(conn).map_err(|e| opening(path, "read", e))?;
    match (required, codec.keyring().is_some()) {
        (true, false) => Err(Error::validation(format!(
            "the store {} is encrypted at rest and no keyring is configured; set {} to its keyring file \
             (or {}, or [encryption] keyring_path in the config file)",
            path.display(),
            crypto::ENV_KEYRING_PATH,
            crypto::ENV_KEYRING
        ))),
        (false, true) => {
            conn.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('encryption', 'required')",
                [],
            )
            .map_err(|e| opening(path, "mark", e))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether the store records that it requires a keyring
/// (`store_meta.encryption = 'required'`).
pub(crate) fn encryption_required(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM store_meta WHERE key = 'encryption' AND value = 'required')",
        [],
        |r| r.get(0),
    )
}

fn opening(path: &Path, step: &str, err: rusqlite::Error) -> Error {
    let e = Error::from(err);
    Error::new(
        e.code,
        format!("cannot {step} the store {}: {}", path.display(), e.message),
    )
}

/// Puts the store in WAL mode. Switching a new file's journal mode needs
/// an exclusive lock, and SQLite reports contention for it as an
/// immediate `SQLITE_BUSY` without calling the busy handler, so processes
/// opening a fresh store at the same moment retry here (for up to the busy
/// timeout) instead of failing.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_millis(BUSY_TIMEOUT_MS);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Err(e)
                if std::time::Instant::now() < deadline
                    && matches!(
                        e.sqlite_error_code(),
                        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    ) =>
            {
                std::thread::sleep(Duration::from_millis(2))
            }
            Ok(mode) => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some(format!("journal mode stayed {mode}")),
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates the parent directory (0700) and the file (0600) before SQLite
/// opens it, so the file is never world-readable, not even for an instant.
/// Creates `dir` (and its parents) with mode 0700 if it does not exist;
/// an existing directory is left as it is.
///
/// Errors: [`ErrorCode::Internal`](crate::ErrorCode::Internal) on I/O failure.
pub fn private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error("create the directory", dir, e))?;
    }
    Ok(())
}

fn prepare_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    if !path.exists() {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error("create the store file", path, e))?;
    } else if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        tracing::warn!(path = %path.display(), "store file is readable by other users; run `chmod 600` on it");
    }
    Ok(())
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> Error {
    Error::internal(format!("cannot {what} {}: {err}", path.display()))
}

/// SQLite busy handler: while another process holds the write lock, poll
/// every ~10 µs for the first 50 ms (a writer holds the lock for about one
/// fsync, a few hundred microseconds), then every millisecond, and give up
/// after [`BUSY_TIMEOUT_MS`]. SQLite's own `busy_timeout` sleeps in
/// millisecond steps from the start, which leaves the disk idle between
/// writers and caps many-process throughput far below the disk's rate.
fn busy_handler(attempt: i32) -> bool {
    thread_local! {
        static WAITING_SINCE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    let since = WAITING_SINCE.with(|w| {
        if attempt == 0 || w.get().is_none() {
            w.set(Some(now));
        }
        w.get().unwrap_or(now)
    });
    let waited = now.duration_since(since);
    if waited >= Duration::from_millis(BUSY_TIMEOUT_MS) {
        return false;
    }
    if waited < Duration::from_millis(50) {
        std::thread::sleep(Duration::from_micros(10));
    } else {
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_tasks;
