//! Advisory file locks shared by relay processes (`flock`, via
//! `std::fs::File::lock*`).
//!
//! - `<db>.lock`: every process that opens the store holds it shared for
//!   as long as the store is open; `restore` (later) takes it exclusively
//!   or refuses (SPEC §6).
//! - `<db>.writer.lock`: taken exclusively around every write transaction
//!   so writers queue in the kernel instead of polling SQLite's lock (see
//!   [`WriterLock`]). Purely a throughput device: SQLite's own lock guards
//!   the data, so failing to take it is never an error.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::error::{Error, ErrorCode, Result};

/// `<db><suffix>`, e.g. `relay.db.lock`.
pub fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("cannot open the lock file {}", path.display()), e))
}

/// The shared lock on `<db>.lock` a running process holds.
#[derive(Debug)]
pub struct ProcessLock(#[allow(dead_code)] File);

impl ProcessLock {
    /// Takes `<db>.lock` shared.
    ///
    /// Errors: [`ErrorCode::DaemonRunning`] when another process holds it
    /// exclusively (a restore is swapping the store).
    pub fn acquire(db: &Path) -> Result<Self> {
        let path = sidecar(db, ".lock");
        let file = open(&path)?;
        let taken = file.try_lock_shared();
        try_taken(taken, &path, || {
            Error::new(
                ErrorCode::DaemonRunning,
                format!(
                    "{} is locked exclusively (a restore is running); try again when it ends",
                    path.display()
                ),
            )
        })?;
        Ok(Self(file))
    }
}

/// An exclusive lock on `<db>.reencrypt.lock`, held by a running `relay
/// re-encrypt`: two runs at once would share one recorded cursor.
#[derive(Debug)]
pub struct ReencryptLock(#[allow(dead_code)] File);

impl ReencryptLock {
    /// Takes `<db>.reencrypt.lock` exclusively, without waiting.
    ///
    /// Errors: [`ErrorCode::Conflict`] while another run holds it.
    pub fn acquire(db: &Path) -> Result<Self> {
        let path = sidecar(db, ".reencrypt.lock");
        let file = open(&path)?;
        let taken = file.try_lock();
        try_taken(taken, &path, || {
            Error::new(
                ErrorCode::Conflict,
                "another relay re-encrypt is running on this store; let it finish (or stop it and run again)",
            )
        })?;
        Ok(Self(file))
    }
}

/// The outcome of a non-blocking `flock` on `path`: `busy()` when another
/// process holds it, [`ErrorCode::Internal`] for any other failure.
fn try_taken(
    taken: std::result::Result<(), std::fs::TryLockError>,
    path: &Path,
    busy: impl FnOnce() -> Error,
) -> Result<()> {
    match taken {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(busy()),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::internal(format!("cannot lock {}: {e}", path.display()))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nobody in this process holds or waits for the lock.
    Idle,
    /// This process holds it.
    Held,
    /// The waiter thread is blocked in `lock()` for a caller.
    Waiting,
    /// The waiter got it for a caller that is still waiting.
    Granted,
    /// The caller gave up; the waiter releases the lock when it gets it.
    Abandoned,
}

#[derive(Debug)]
struct Shared {
    file: File,
    state: Mutex<State>,
    granted: Condvar,
}

/// The cross-process writer queue on `<db>.writer.lock`.
///
/// A blocked `flock` sleeps in the kernel and wakes as soon as the holder
/// releases, so the disk is never idle between two processes' commits —
/// with eight processes writing, several times the throughput of polling
/// SQLite's lock. The wait is bounded: a waiter thread makes the blocking
/// call, and a caller whose deadline passes goes on without the lock
/// (SQLite's busy handler then decides, within the same deadline), so a
/// stopped process can never hang the others.
#[derive(Debug)]
pub struct WriterLock {
    shared: Arc<Shared>,
    waiter: mpsc::Sender<()>,
}

impl WriterLock {
    /// Opens `<db>.writer.lock` and starts its waiter thread.
    pub fn open(db: &Path) -> Result<Self> {
        let file = open(&sidecar(db, ".writer.lock"))?;
        let shared = Arc::new(Shared {
            file,
            state: Mutex::new(State::Idle),
            granted: Condvar::new(),
        });
        let (waiter, requests) = mpsc::channel::<()>();
        let for_thread = shared.clone();
        std::thread::Builder::new()
            .name("relay-writer-lock".into())
            .spawn(move || {
                for () in requests {
                    let locked = for_thread.file.lock().is_ok();
                    let mut state = for_thread.state.lock().unwrap_or_else(|p| p.into_inner());
                    match *state {
                        State::Waiting if locked => {
                            *state = State::Granted;
                            for_thread.granted.notify_all();
                        }
                        _ => {
                            if locked {
                                let _ = for_thread.file.unlock();
                            }
                            *state = State::Idle;
                            for_thread.granted.notify_all();
                        }
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the writer-lock thread: {e}")))?;
        Ok(Self { shared, waiter })
    }

    /// Takes the lock for the life of the guard. Re-entrant within the
    /// process (an inner call gets a guard that releases nothing). Waits
    /// until `deadline` at most (a deadline already past still takes a
    /// free lock), then returns a guard that holds nothing.
    pub fn acquire(&self, deadline: Instant) -> WriterGuard {
        let mut state = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            State::Idle => {}
            // Held: re-entrant. Waiting/Abandoned: the waiter thread is
            // stuck behind a holder that is not moving; do not queue.
            _ => return WriterGuard(None),
        }
        if self.shared.file.try_lock().is_ok() {
            *state = State::Held;
            return WriterGuard(Some(self.shared.clone()));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return WriterGuard(None);
        }
        *state = State::Waiting;
        if self.waiter.send(()).is_err() {
            *state = State::Idle;
            return WriterGuard(None);
        }
        let (mut state, _) = self
            .shared
            .granted
            .wait_timeout_while(state, wait, |s| *s == State::Waiting)
            .unwrap_or_else(|p| p.into_inner());
        if *state == State::Granted {
            *state = State::Held;
            WriterGuard(Some(self.shared.clone()))
        } else {
            if *state == State::Waiting {
                *state = State::Abandoned;
            }
            WriterGuard(None)
        }
    }
}

/// Releases the writer lock on drop, if this guard took it.
#[derive(Debug)]
pub struct WriterGuard(Option<Arc<Shared>>);

impl WriterGuard {
    /// Whether this guard holds the lock (an inner, re-entrant or timed
    /// out acquire holds nothing).
    pub fn holds(&self) -> bool {
        self.0.is_some()
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(shared) = &self.0 {
            let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
            let _ = shared.file.unlock();
            *state = State::Idle;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn a_holder_that_never_releases_delays_others_only_until_their_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        // Another "process": a separate open file description holding the lock.
        let stuck = open(&sidecar(&db, ".writer.lock")).unwrap();
        stuck.lock().unwrap();
        let lock = WriterLock::open(&db).unwrap();
        let start = Instant::now();
        let guard = lock.acquire(start + Duration::from_millis(50));
        assert!(!guard.holds());
        assert!(start.elapsed() >= Duration::from_millis(50));
        drop(guard);
        // While the waiter is stuck, later writers do not queue behind it:
        // they give up at once instead of spending their 10 s.
        let start = Instant::now();
        assert!(!lock.acquire(soon(10_000)).holds());
        assert!(start.elapsed() < Duration::from_secs(5));
        // Once the holder lets go, the waiter frees it and writers queue again.
        stuck.unlock().unwrap();
        let deadline = soon(5_000);
        loop {
            if lock.acquire(soon(50)).holds() {
                break;
            }
            assert!(Instant::now() < deadline, "lock never came back");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_passed_deadline_takes_a_free_lock_and_never_waits_for_a_held_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let lock = WriterLock::open(&db).unwrap();
        assert!(lock.acquire(Instant::now()).holds());
        let stuck = open(&sidecar(&db, ".writer.lock")).unwrap();
        stuck.lock().unwrap();
        assert!(!lock.acquire(Instant::now()).holds());
        // It did not leave the waiter queued: once free, the lock is taken at once.
        stuck.unlock().unwrap();
        assert!(lock.acquire(Instant::now()).holds());
    }

    #[test]
    fn the_lock_is_reentrant_within_a_process() {
        let dir = tempfile::tempdir().unwrap();
        let lock = WriterLock::open(&dir.path().join("r.db")).unwrap();
        let outer = lock.acquire(soon(50));
        assert!(outer.holds());
        let inner = lock.acquire(soon(50));
        assert!(!inner.holds());
        drop(inner); // must not release the outer hold
        let other = open(&sidecar(&dir.path().join("r.db"), ".writer.lock")).unwrap();
        assert!(other.try_lock().is_err());
        drop(outer);
        assert!(other.try_lock().is_ok());
    }
}
