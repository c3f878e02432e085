//! Who is using the store, told by the kernel rather than by files
//! someone can delete.
//!
//! `<db>.lock` (see [`super::lock`]) says a relay process has the store
//! open only while nobody deletes it, and people delete stray lock files.
//! SQLite keeps locks of its own that nobody can delete while they are
//! held, and this module reads them:
//!
//! - **The dead-man switch.** Every connection to a WAL database holds a
//!   shared POSIX (`fcntl`) read lock on one byte of `<db>-shm` for its
//!   whole life: the `DMS` byte at offset 128 (`UNIX_SHM_BASE` 120 plus
//!   `SQLITE_SHM_NLOCK` 8 lock slots; SQLite's `src/os_unix.c`,
//!   `unixLockSharedMemory`, and "WAL-mode File Format", §2.2 "The
//!   WAL-Index File Format", <https://sqlite.org/walformat.html>).
//!   `F_GETLK` asking for a write lock on that byte names a holder and its
//!   pid; on Linux `/proc/locks` lists all of them.
//! - **The WAL write lock.** A connection inside a write transaction holds
//!   an exclusive POSIX lock on byte 120 of `<db>-shm` (`WAL_WRITE_LOCK`,
//!   slot 0; same sources). [`writer_holders`] reads it, and relay's own
//!   writer queue, the `flock` on `<db>.writer.lock`, from `/proc/locks`.
//! - **Open descriptors.** On Linux, `/proc/PID/fd` lists the files every
//!   process has open; [`open_users`] also counts any process with the
//!   database, its WAL or its shared memory open (a connection opened but
//!   not yet used holds no lock).
//!
//! POSIX locks belong to a process, and closing *any* descriptor of a file
//! drops all of the process's locks on it. The probes here open and close
//! `<db>-shm`, so call them only while this process has no SQLite
//! connection to the store open. A process cannot see its own locks or
//! descriptors as other users: the probes skip this process.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

use super::lock::sidecar;

/// Offset in `<db>-shm` of the first WAL lock slot, `WAL_WRITE_LOCK`
/// (`UNIX_SHM_BASE` in SQLite's `os_unix.c`).
pub const SHM_WRITE_LOCK: i64 = 120;

/// Offset in `<db>-shm` of the dead-man-switch byte every connection holds
/// shared (`UNIX_SHM_DMS` = `UNIX_SHM_BASE` + `SQLITE_SHM_NLOCK` in
/// SQLite's `os_unix.c`).
pub const SHM_DMS: i64 = 128;

/// A process that uses the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its process id.
    pub pid: i32,
    /// Its command line (`/proc/PID/cmdline`, arguments joined by spaces,
    /// at most 160 characters), or empty where `/proc` is unavailable.
    pub command: String,
    /// It is stopped (`T` or `t` in `/proc/PID/stat`: SIGSTOP, a debugger,
    /// a suspended job).
    pub stopped: bool,
    /// How it was found: `"sqlite lock"`, `"relay lock"`, `"writer lock"`, `"open file"`.
    pub evidence: &'static str,
}

impl User {
    fn new(pid: i32, evidence: &'static str) -> Self {
        Self {
            pid,
            command: command_line(pid),
            stopped: is_stopped(pid),
            evidence,
        }
    }

    /// `pid 1234 (relay serve --agent a)`, with `, stopped` when it is.
    pub fn describe(&self) -> String {
        let mut s = format!("pid {}", self.pid);
        match (self.command.is_empty(), self.stopped) {
            (true, false) => {}
            (true, true) => s.push_str(" (stopped)"),
            (false, false) => s.push_str(&format!(" ({})", self.command)),
            (false, true) => s.push_str(&format!(" ({}, stopped)", self.command)),
        }
        s
    }
}

/// Every other process that holds a lock on the store at `db`: the
/// dead-man-switch lock on `<db>-shm` (any SQLite connection) and, on
/// Linux, the `flock` on `<db>.lock` (any open relay store). Cheap (no
/// scan of other processes' descriptors). Sorted by pid, one per pid.
///
/// Never fails; call it with no SQLite connection to the store open in
/// this process (see the module doc).
pub fn lock_holders(db: &Path) -> Vec<User> {
    let mut found: BTreeMap<i32, User> = BTreeMap::new();
    for pid in shm_lock_holders(db, SHM_DMS, 1) {
        found.entry(pid).or_insert_with(|| User::new(pid, "sqlite lock"));
    }
    for pid in flock_holders(&sidecar(db, ".lock")) {
        found.entry(pid).or_insert_with(|| User::new(pid, "relay lock"));
    }
    found.into_values().collect()
}

/// Every other process that has the store at `db` open: the
/// [`lock_holders`] and, on Linux, any process with the database, `-wal`
/// or `-shm` open (a scan of `/proc/*/fd`: a connection opened but not yet
/// used holds no lock). Sorted by pid, one entry per pid.
///
/// Never fails: a probe that cannot run (no `-shm` file, no `/proc`, a
/// process of another user) finds nothing. Call it with no SQLite
/// connection to the store open in this process (see the module doc).
pub fn open_users(db: &Path) -> Vec<User> {
    let mut found: BTreeMap<i32, User> = lock_holders(db).into_iter().map(|u| (u.pid, u)).collect();
    let inodes: Vec<(u64, u64)> = [db.to_owned(), sidecar(db, "-wal"), sidecar(db, "-shm")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino())))
        .collect();
    if !inodes.is_empty() {
        for pid in processes() {
            if !found.contains_key(&pid) && has_open(pid, &inodes) {
                found.insert(pid, User::new(pid, "open file"));
            }
        }
    }
    found.into_values().collect()
}

/// The processes that hold the store's write lock: the POSIX lock on
/// `<db>-shm` byte 120 (SQLite's WAL write lock, held through a write
/// transaction) and the `flock` on `<db>.writer.lock` (relay's writer
/// queue, held around each write). Sorted by pid, one entry per pid.
///
/// Never fails; call it with no SQLite connection to the store open in
/// this process (see the module doc).
pub fn writer_holders(db: &Path) -> Vec<User> {
    let mut found: BTreeMap<i32, User> = BTreeMap::new();
    for pid in shm_lock_holders(db, SHM_WRITE_LOCK, 1) {
        found.entry(pid).or_insert_with(|| User::new(pid, "sqlite lock"));
    }
    for pid in flock_holders(&sidecar(db, ".writer.lock")) {
        found.entry(pid).or_insert_with(|| User::new(pid, "writer lock"));
    }
    found.into_values().collect()
}

/// Pids holding a POSIX lock that overlaps `len` bytes at `start` of
/// `<db>-shm`: the one `F_GETLK` (asking for a write lock) reports, plus,
/// on Linux, every holder listed in `/proc/locks` (several processes can
/// share a read lock; `F_GETLK` names only one). Locks of this process
/// and OFD locks (pid -1) are not seen.
fn shm_lock_holders(db: &Path, start: i64, len: i64) -> Vec<i32> {
    let Ok(shm) = File::open(sidecar(db, "-shm")) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    // SAFETY: flock is plain data; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = start as _;
    fl.l_len = len as _;
    if fcntl(&shm, FcntlArg::F_GETLK(&mut fl)).is_ok() && i32::from(fl.l_type) != libc::F_UNLCK && fl.l_pid > 0 {
        pids.push(fl.l_pid);
    }
    let ino = shm.metadata().map(|m| m.ino()).unwrap_or(0);
    pids.extend(proc_locks(ino, Some((start, start + len - 1))));
    let me = std::process::id() as i32;
    pids.retain(|&p| p != me);
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Pids holding a `flock` on `path` (from `/proc/locks`; Linux only).
fn flock_holders(path: &Path) -> Vec<i32> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    let mut pids: Vec<i32> = proc_locks(meta.ino(), None)
        .into_iter()
        .filter(|&p| p != me && has_open(p, &[(meta.dev(), meta.ino())]))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Pids of `/proc/locks` entries on inode `ino`: POSIX locks overlapping
/// the byte range `range` (inclusive) when it is given, else `FLOCK`
/// locks. Lines look like `1: POSIX  ADVISORY  READ 1234 fd:01:5678 128
/// 128` (proc(5)); the device is not compared (overlay filesystems report
/// another one than `stat`), the caller confirms by open descriptors
/// where it matters.
fn proc_locks(ino: u64, range: Option<(i64, i64)>) -> Vec<i32> {
    let Ok(text) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace().skip(1);
        if f.clone().next() == Some("->") {
            continue; // a waiter, not a holder
        }
        let (Some(kind), Some(_), Some(_), Some(pid), Some(dev_ino), Some(from), Some(to)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if dev_ino.rsplit(':').next().and_then(|i| i.parse::<u64>().ok()) != Some(ino) {
            continue;
        }
        let Ok(pid) = pid.parse::<i32>() else { continue };
        let wanted = match range {
            None => kind == "FLOCK",
            Some((lo, hi)) => {
                let from: i64 = from.parse().unwrap_or(i64::MAX);
                let to: i64 = if to == "EOF" {
                    i64::MAX
                } else {
                    to.parse().unwrap_or(-1)
                };
                kind == "POSIX" && from <= hi && to >= lo
            }
        };
        if wanted && pid > 0 {
            pids.push(pid);
        }
    }
    pids
}

/// Every pid in `/proc` but this one (empty where there is no `/proc`).
fn processes() -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&p| p != me)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether process `pid` has a descriptor open on one of `inodes`
/// (device, inode). False when its `/proc/PID/fd` cannot be read.
fn has_open(pid: i32, inodes: &[(u64, u64)]) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .any(|m| inodes.contains(&(m.dev(), m.ino())))
}

/// `/proc/PID/cmdline` with NULs as spaces, at most 160 characters.
fn command_line(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text: String = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if text.chars().count() > 160 {
        text.chars().take(159).chain(['…']).collect()
    } else {
        text
    }
}

/// Whether `/proc/PID/stat` gives state `T` (stopped) or `t` (traced).
fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // `pid (comm) S ...`; comm may hold spaces and parentheses.
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|st| st == "T" || st == "t")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_in_this_process_is_not_another_user() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("PRAGMA journal_mode=wal", [], |_| Ok(())).unwrap();
        conn.execute_batch("CREATE TABLE t(x)").unwrap();
        drop(conn);
        assert!(open_users(&db).is_empty());
        assert!(writer_holders(&db).is_empty());
    }

    #[test]
    fn proc_stat_state_is_read_past_the_command_name() {
        assert!(!is_stopped(std::process::id() as i32));
        assert!(!command_line(std::process::id() as i32).is_empty());
    }
}
