//! The one source of time. Lease, TTL, presence and retention logic read
//! the time from a [`Clock`] so tests can move it by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, in milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// The real clock: [`SystemTime::now`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `start` milliseconds since the epoch.
    pub fn new(start: Millis) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(start)))
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// The environment variable naming a test clock file (see [`from_env`]).
pub const TEST_CLOCK_ENV: &str = "RELAY_TEST_CLOCK_FILE";

/// How often, in milliseconds of real time, an [`OffsetFileClock`]
/// re-reads its file.
pub const OFFSET_REFRESH_MS: Millis = 10;

/// The clock a process runs on: the [`SystemClock`], or, when
/// `RELAY_TEST_CLOCK_FILE` names a file, an [`OffsetFileClock`] on it.
/// The variable exists so tests that drive the real binaries can move the
/// time of leases, grace windows, recovery deadlines and webhook retries
/// without waiting; it only ever shifts the clock, so it grants nothing
/// an environment's owner could not do anyway.
pub fn from_env() -> Arc<dyn Clock> {
    match std::env::var_os(TEST_CLOCK_ENV).filter(|p| !p.is_empty()) {
        Some(path) => Arc::new(OffsetFileClock::new(path.into())),
        None => Arc::new(SystemClock),
    }
}

/// The system clock plus an offset in milliseconds read from a file (one
/// integer, possibly negative; a missing or unreadable file is offset 0).
/// The file is re-read at most every [`OFFSET_REFRESH_MS`], so a test
/// that writes a new offset sees every relay process follow within a few
/// milliseconds. Time never runs backwards: a smaller offset holds the
/// clock until real time catches up.
#[derive(Debug)]
pub struct OffsetFileClock {
    path: std::path::PathBuf,
    offset: AtomicI64,
    read_at: AtomicI64,
    last: AtomicI64,
}

impl OffsetFileClock {
    /// A clock whose offset is read from `path`.
    pub fn new(path: std::path::PathBuf) -> Self {
        let clock = Self {
            path,
            offset: AtomicI64::new(0),
            read_at: AtomicI64::new(Millis::MIN),
            last: AtomicI64::new(0),
        };
        clock.refresh(SystemClock.now());
        clock
    }

    fn refresh(&self, real: Millis) {
        let offset = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse::<Millis>().ok())
            .unwrap_or(0);
        self.offset.store(offset, Ordering::SeqCst);
        self.read_at.store(real, Ordering::SeqCst);
    }
}

impl Clock for OffsetFileClock {
    fn now(&self) -> Millis {
        let real = SystemClock.now();
        if real.saturating_sub(self.read_at.load(Ordering::SeqCst)) >= OFFSET_REFRESH_MS {
            self.refresh(real);
        }
        let now = real.saturating_add(self.offset.load(Ordering::SeqCst));
        self.last.fetch_max(now, Ordering::SeqCst).max(now)
    }
}

/// The last millisecond RFC 3339 can write: 9999-12-31T23:59:59.999Z.
const MAX_RFC3339_MS: Millis = 253_402_300_799_999;

/// Formats `ms` (milliseconds since the epoch) as RFC 3339 UTC with
/// millisecond precision, e.g. `2026-11-21T05:28:06.123Z`. Values outside
/// years 1970-9999 are clamped (a corrupt row must not crash a reader).
pub fn rfc3339(ms: Millis) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_millis(ms.clamp(0, MAX_RFC3339_MS) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_clamps_instead_of_panicking() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_offset_file_moves_the_clock_and_time_never_runs_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let clock = OffsetFileClock::new(path.clone());
        let before = clock.now();
        assert!((before - SystemClock.now()).abs() < 1_000, "no file: the system time");
        std::fs::write(&path, "3600000\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2 * OFFSET_REFRESH_MS as u64));
        let later = clock.now();
        assert!(later - before >= 3_600_000, "moved an hour: {}", later - before);
        std::fs::write(&path, "0").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2 * OFFSET_REFRESH_MS as u64));
        assert!(clock.now() >= later, "never backwards");
    }
}
