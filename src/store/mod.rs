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
//! [`channels`], [`tasks`], [`events`], [`audit`], plus [`retention`] and
//! the schema in [`schema`]. Dependencies between them point one way:
//! [`inbox`] (views over several aggregates) uses [`messages`] and
//! [`tasks`]; [`agents`] uses [`tasks`] (queued work finds a new agent);
//! every aggregate uses `access` (who may call), [`events`] (the outbox),
//! [`audit`] and [`words`] (the typed words they store); those four use
//! none of the aggregates. Business rules (validation, capability checks, read
//! state) live here, next to the data they guard, so every transport
//! enforces them the same way.

mod access;
pub mod acks;
pub mod agents;
pub mod audit;
pub mod backup;
pub mod channels;
mod create;
pub mod dashboard;
pub mod delivery;
pub mod events;
pub mod executor;
pub mod inbox;
pub mod liveness;
pub mod lock;
pub mod messages;
pub mod reencrypt;
pub mod reservations;
pub mod retention;
pub mod schema;
pub mod search;
pub mod snapshot;
pub mod task_pages;
pub mod tasks;
pub mod tokens;
pub mod validate;
pub mod webhooks;
pub mod words;

use std::cell::{Cell, RefCell};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::ReentrantMutex;
use rusqlite::{Connection, OpenFlags};

use crate::clock::{Clock, Millis};
use crate::crypto::{self, Codec};
use crate::error::{Error, ErrorCode, Result};

pub use agents::{Agent, Registered, Registration};
pub use channels::{Channel, ChannelMessage};
pub use executor::Executor;
pub use messages::{Message, Priority};
pub use words::{AuthState, Capability, Presence, Status, Transport};

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
    /// The transport the call came over.
    pub transport: Transport,
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
    /// The writer lock of the batch's transaction, which its first write
    /// begins (`Some` once begun).
    batch_writer: RefCell<Option<lock::WriterGuard>>,
    /// The batch's transaction is lost (SQLite rolled it back, e.g. on a
    /// full disk, or a savepoint could not be cleaned up): every later
    /// call of the batch fails with this error and nothing commits.
    aborted: RefCell<Option<Error>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish()
    }
}

/// How long a call may wait for other processes' write transactions
/// before it fails with [`ErrorCode::Timeout`](crate::ErrorCode::Timeout),
/// in milliseconds. One budget per call, counted from when the call was
/// made: time queued behind this process's other calls
/// ([`Executor`]), waiting for `<db>.writer.lock` and waiting in SQLite's
/// busy handler all count against it.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

/// How long a best-effort write ([`Store::best_effort`]) waits for other
/// processes' locks, in milliseconds: enough for another process's
/// commit (about one fsync) to finish.
pub const BEST_EFFORT_WAIT_MS: u64 = 100;

thread_local! {
    /// When the store call running on this thread must stop waiting for
    /// locks (see [`with_deadline`]).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with `deadline` as the moment every lock wait of the store
/// calls inside it gives up with [`ErrorCode::Timeout`](crate::ErrorCode::Timeout).
/// [`Executor`] sets it to the time a call was queued plus
/// [`BUSY_TIMEOUT_MS`]; without one, a write's budget starts when it is
/// called.
pub fn with_deadline<R>(deadline: Instant, f: impl FnOnce() -> R) -> R {
    let _scope = DeadlineScope::enter(deadline);
    f()
}

/// Sets this thread's deadline until dropped, then restores the previous one.
struct DeadlineScope(Option<Instant>);

impl DeadlineScope {
    fn enter(deadline: Instant) -> Self {
        Self(DEADLINE.replace(Some(deadline)))
    }
}

impl Drop for DeadlineScope {
    fn drop(&mut self) {
        DEADLINE.set(self.0);
    }
}

/// The deadline of the call on this thread, or a fresh budget from now.
fn call_deadline() -> Instant {
    DEADLINE
        .get()
        .unwrap_or_else(|| Instant::now() + Duration::from_millis(BUSY_TIMEOUT_MS))
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it to
    /// the current schema. Holds `<path>.lock` shared while open.
    ///
    /// A missing store is built under a temporary name in the same
    /// directory and linked into place only when complete, so no process
    /// ever sees a half-made store and an existing file is never replaced.
    /// Creates missing parent directories with mode 0700 and the file with
    /// mode 0600. Errors: [`ErrorCode::SchemaMismatch`](crate::ErrorCode::SchemaMismatch)
    /// when the file was written by a newer relay,
    /// [`ErrorCode::CorruptStore`](crate::ErrorCode::CorruptStore) when it
    /// is empty, not a SQLite database, or a SQLite database of another
    /// program (the file is left untouched),
    /// [`ErrorCode::DaemonRunning`](crate::ErrorCode::DaemonRunning)
    /// while a restore holds it, [`ErrorCode::StorageFull`](crate::ErrorCode::StorageFull)
    /// when there is no room to create it, [`ErrorCode::Internal`](crate::ErrorCode::Internal)
    /// for other I/O failures.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, limits: Limits) -> Result<Self> {
        Self::open_with(path, clock, limits, Codec::default())
    }

    /// [`Store::open`] with a [`Codec`]: the keyring that seals the
    /// encrypted columns (SPEC §6), or none for plain text. Values already
    /// stored under other keys of the keyring stay readable.
    pub fn open_with(path: &Path, clock: Arc<dyn Clock>, limits: Limits, codec: Codec) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_dir(dir)?;
        }
        // Before creating anything: a restore in progress is swapping the file.
        let process_lock = lock::ProcessLock::acquire(path)?;
        create::create_if_missing(path)?;
        create::check_header(path)?;
        if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
            tracing::warn!(path = %path.display(), "store file is readable by other users; run `chmod 600` on it");
        }
        // No SQLITE_OPEN_CREATE: a store removed since the check is an
        // error, never a new empty store in its place.
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| opening(path, "open", e))?;
        conn.busy_handler(Some(busy_handler))
            .map_err(|e| opening(path, "configure", e))?;
        conn.set_prepared_statement_cache_capacity(64);
        crypto::register(&conn, codec.clone()).map_err(|e| opening(path, "configure", e))?;
        // Before anything writes (switching to WAL does): a foreign
        // database stays byte for byte as it was.
        create::check_is_relay_store(&conn, path)?;
        set_wal(&conn).map_err(|e| opening(path, "switch to WAL", e))?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| opening(path, "configure", e))?;
        schema::migrate(&mut conn).map_err(|e| Error::new(e.code, format!("{}: {}", path.display(), e.message)))?;
        require_keyring_once_used(&conn, path, &codec)?;
        Ok(Self {
            conn: ReentrantMutex::new(Conn {
                conn,
                writer: lock::WriterLock::open(path)?,
                in_batch: Cell::new(false),
                batch_writer: RefCell::new(None),
                aborted: RefCell::new(None),
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

    /// The store's clock (for readers outside the store, such as
    /// [`tokens::TokenLookup`], that must agree with it on deadlines).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
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
    ///
    /// Waits for other writers until the call's deadline ([`with_deadline`],
    /// else [`BUSY_TIMEOUT_MS`] from now), then fails with
    /// [`ErrorCode::Timeout`](crate::ErrorCode::Timeout); a full disk is
    /// [`ErrorCode::StorageFull`](crate::ErrorCode::StorageFull).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Connection, Millis) -> Result<T>) -> Result<T> {
        // Taken before the connection: waiting for this process's other
        // calls counts against the budget too.
        let deadline = call_deadline();
        let guard = self.conn.lock();
        let c = &*guard;
        let _scope = DeadlineScope::enter(deadline);
        if c.in_batch.get() {
            c.begin_batch(self, deadline)?;
            let now = self.clock.now();
            return c.savepoint(|conn| f(conn, now)).map_err(|e| self.explain(e));
        }
        let _writer = c.writer.acquire(deadline);
        let tx = TxGuard::begin(&c.conn).map_err(|e| self.explain(e))?;
        // Read the clock only once the write lock is held: a wait for the
        // lock must not make leases or history timestamps stale.
        let now = self.clock.now();
        let value = f(&c.conn, now).map_err(|e| self.explain(e))?;
        tx.commit().map_err(|e| self.explain(e))?;
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
    /// one fsync. The transaction begins with the first write, within that
    /// call's deadline; a call that cannot begin it fails alone with
    /// [`ErrorCode::Timeout`](crate::ErrorCode::Timeout) and the next write
    /// tries again with its own. Each write is a SAVEPOINT: one failing
    /// call rolls back alone. `f` returns its output and whether the batch
    /// is healthy (no call panicked). Other threads wait for the batch.
    ///
    /// Returns `f`'s output and the commit outcome, which callers must
    /// check before reporting any write as done: the error every
    /// successful write of the batch shares when it could not commit
    /// (e.g. [`ErrorCode::StorageFull`](crate::ErrorCode::StorageFull)).
    pub fn batch<T>(&self, f: impl FnOnce() -> (T, bool)) -> (T, Result<()>) {
        let guard = self.conn.lock();
        let c = &*guard;
        c.in_batch.set(true);
        let end = EndBatch(c);
        let (out, healthy) = f();
        let outcome = end.finish(self, healthy);
        (out, outcome)
    }

    /// Whether this thread is inside a group commit ([`Store::batch`]).
    pub(crate) fn in_batch(&self) -> bool {
        self.conn.lock().in_batch.get()
    }

    /// Runs `f`, a write nobody waits for (a presence refresh, a sweep
    /// that the next tick repeats), with its lock waits bounded by
    /// [`BEST_EFFORT_WAIT_MS`] instead of the busy timeout: a stopped
    /// writer elsewhere must not make a read or a tick hold this
    /// process's connection for seconds.
    pub(crate) fn best_effort<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        with_deadline(Instant::now() + Duration::from_millis(BEST_EFFORT_WAIT_MS), f)
    }

    /// Whether the running batch has begun its transaction (a call of it
    /// wrote): a call's result is final before that, since it wrote
    /// nothing and read only committed data.
    pub(crate) fn batch_began(&self) -> bool {
        self.conn.lock().batch_writer.borrow().is_some()
    }

    /// Gives store-level errors the store's path and what to do.
    fn explain(&self, e: Error) -> Error {
        match e.code {
            ErrorCode::StorageFull => Error::new(
                ErrorCode::StorageFull,
                format!(
                    "the disk holding {} is full; nothing was stored. Reads keep working; free space \
                     (`relay doctor` shows how much is left) and retry",
                    self.path.display()
                ),
            ),
            ErrorCode::Timeout if e.message.starts_with(LOCKED_PREFIX) => Error::new(
                ErrorCode::Timeout,
                format!(
                    "the store {} stayed locked by another process for {} s, so nothing was stored; \
                     a process may be stopped inside a write (suspended, in a debugger). \
                     `relay doctor` shows who holds it; retry once it is free",
                    self.path.display(),
                    BUSY_TIMEOUT_MS / 1000
                ),
            ),
            _ => e,
        }
    }
}

/// How [`Error::from`] words a busy SQLite lock; [`Store::explain`] adds
/// the path and the advice.
const LOCKED_PREFIX: &str = "the store stayed locked";

impl Conn {
    /// Begins the batch's transaction if no call of it has yet.
    fn begin_batch(&self, store: &Store, deadline: Instant) -> Result<()> {
        if let Some(e) = &*self.aborted.borrow() {
            return Err(e.clone());
        }
        if self.batch_writer.borrow().is_some() {
            return Ok(());
        }
        let writer = self.writer.acquire(deadline);
        self.conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .map_err(|e| store.explain(Error::from(e)))?;
        *self.batch_writer.borrow_mut() = Some(writer);
        Ok(())
    }

    fn savepoint<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.conn.is_autocommit() {
            // SQLite rolled the batch back: nothing here may run outside it.
            let e = Error::internal("the batch transaction was aborted; retry the call");
            *self.aborted.borrow_mut() = Some(e.clone());
            return Err(e);
        }
        let poison = PoisonOnDrop(&self.aborted);
        self.conn.prepare_cached("SAVEPOINT call")?.execute([])?;
        let out = f(&self.conn);
        if let Err(e) = &out
            && self.conn.is_autocommit()
        {
            // SQLite rolled back the whole transaction (a full disk when
            // the cache spilled, say): the calls before this one are lost
            // too, and share its error.
            *self.aborted.borrow_mut() = Some(e.clone());
            std::mem::forget(poison);
            return out;
        }
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

/// Ends a batch: commits or rolls back its transaction, releases the
/// writer lock and leaves batch mode, also when `f` panicked.
struct EndBatch<'a>(&'a Conn);

impl EndBatch<'_> {
    fn finish(self, store: &Store, healthy: bool) -> Result<()> {
        let c = self.0;
        if c.batch_writer.borrow().is_none() {
            // Nothing was written (or nothing could begin): nothing to commit.
            return Ok(());
        }
        if let Some(e) = c.aborted.borrow().clone() {
            return Err(e);
        }
        if !healthy {
            return Err(Error::internal(
                "a call in this batch failed to clean up; the batch was rolled back, retry",
            ));
        }
        commit(&c.conn).map_err(|e| store.explain(e))
    }
}

impl Drop for EndBatch<'_> {
    fn drop(&mut self) {
        let c = self.0;
        if !c.conn.is_autocommit() {
            let _ = c.conn.execute_batch("ROLLBACK");
        }
        c.batch_writer.borrow_mut().take();
        c.aborted.borrow_mut().take();
        c.in_batch.set(false);
    }
}

/// `COMMIT`; on failure rolls back whatever SQLite left open.
fn commit(conn: &Connection) -> Result<()> {
    let committed = conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([]));
    match committed {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = write_error(conn, e);
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}

/// A failed write as an [`Error`]: SQLite reports most out-of-space
/// failures as `SQLITE_FULL`, but one in an fsync or a truncate as a
/// generic I/O error whose errno tells.
fn write_error(conn: &Connection, e: rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::SystemIoFailure) {
        // SAFETY: the handle is only read, on the thread that owns the
        // connection, right after the failed call.
        let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
        if crate::error::is_storage_full(&std::io::Error::from_raw_os_error(errno)) {
            return Error::new(ErrorCode::StorageFull, "the disk holding the store is full");
        }
    }
    Error::from(e)
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
        commit(self.conn)
    }
}

impl Drop for TxGuard<'_> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Marks the batch aborted unless forgotten (a panic or an early return
/// inside a savepoint).
struct PoisonOnDrop<'a>(&'a RefCell<Option<Error>>);

impl Drop for PoisonOnDrop<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().get_or_insert_with(|| {
            Error::internal("a call in this batch failed to clean up; the batch was rolled back, retry")
        });
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

/// Creates `dir` (and its parents) with mode 0700 if it does not exist;
/// an existing directory is left as it is.
///
/// Errors: [`ErrorCode::StorageFull`](crate::ErrorCode::StorageFull) or
/// [`ErrorCode::Internal`](crate::ErrorCode::Internal) on I/O failure.
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

/// A private file being replaced: a temporary file (mode 0600) in the
/// target's directory, written, synced and renamed over the target by
/// [`PrivateFile::commit`], so a reader never sees a partial file and no
/// other user can read it at any moment. Dropped uncommitted, the
/// temporary file is removed and the target left as it was.
#[derive(Debug)]
pub struct PrivateFile {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl PrivateFile {
    /// Stages a replacement of `path`, creating its missing parent
    /// directories with mode 0700 ([`private_dir`]). Staging first lets a
    /// caller learn that `path` cannot be written before it makes a
    /// secret that would be lost.
    ///
    /// Errors: I/O failures, naming the directory.
    pub fn stage(path: &Path) -> Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        private_dir(dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(".relay-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| io_error("create a file in", dir, e))?;
        Ok(Self {
            tmp,
            path: path.to_owned(),
        })
    }

    /// Writes `bytes`, syncs them and renames the file over the target.
    ///
    /// Errors: I/O failures, naming the target.
    pub fn commit(mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let path = self.path;
        self.tmp
            .write_all(bytes)
            .and_then(|()| self.tmp.as_file().sync_all())
            .map_err(|e| io_error("write", &path, e))?;
        self.tmp.persist(&path).map_err(|e| io_error("write", &path, e.error))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` with mode 0600, atomically
/// ([`PrivateFile`]), creating missing parent directories with mode 0700.
///
/// Errors: I/O failures, naming the path.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    PrivateFile::stage(path)?.commit(bytes)
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> Error {
    Error::io(format!("cannot {what} {}", path.display()), err)
}

/// SQLite busy handler: while another process holds the write lock, poll
/// every ~10 µs for the first 50 ms (a writer holds the lock for about one
/// fsync, a few hundred microseconds), then every millisecond, and give up
/// at the call's deadline ([`with_deadline`]; outside a call,
/// [`BUSY_TIMEOUT_MS`] after the first attempt). SQLite's own
/// `busy_timeout` sleeps in millisecond steps from the start, which leaves
/// the disk idle between writers and caps many-process throughput far
/// below the disk's rate.
fn busy_handler(attempt: i32) -> bool {
    thread_local! {
        static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    let since = WAITING_SINCE.with(|w| {
        if attempt == 0 || w.get().is_none() {
            w.set(Some(now));
        }
        w.get().unwrap_or(now)
    });
    let deadline = DEADLINE
        .get()
        .unwrap_or_else(|| since + Duration::from_millis(BUSY_TIMEOUT_MS));
    if now >= deadline {
        return false;
    }
    let step = if now.duration_since(since) < Duration::from_millis(50) {
        Duration::from_micros(10)
    } else {
        Duration::from_millis(1)
    };
    std::thread::sleep(step.min(deadline - now));
    true
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_tasks;
