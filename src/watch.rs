//! Cheap change detection for the store: a file watch on its WAL (inotify
//! on Linux, through the `notify` crate). Every commit by any process
//! writes the WAL, so a watcher wakes within microseconds and costs
//! nothing while idle. Used by `relay serve`'s feed and `relay tail`.
//!
//! A file event comes a moment before SQLite publishes the commit (fsync,
//! then the shared-memory index, which no file event reports): readers
//! re-check on a short backoff after a wake-up ([`RECHECK_MS`]).

use std::path::Path;
use std::sync::Arc;

/// After a wake-up, when to look for new rows, in milliseconds from the
/// previous look.
pub const RECHECK_MS: [u64; 7] = [0, 1, 2, 4, 8, 16, 32];

/// Watches the directory of `db` and pings `wake` whenever the WAL (or the
/// database) file changes. Returns the watcher, which must be kept alive;
/// `None` if the platform watcher cannot start (callers keep a fallback
/// poll for that case).
pub fn store_changes(db: &Path, wake: Arc<tokio::sync::Notify>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let name = db.file_name()?.to_owned();
    let mut wal = name.clone();
    wal.push("-wal");
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event
                .paths
                .iter()
                .any(|p| p.file_name().is_some_and(|f| f == wal || f == name))
        {
            wake.notify_one();
        }
    })
    .map_err(|e| tracing::warn!("cannot watch the store for changes ({e}); polling once a second"))
    .ok()?;
    watcher
        .watch(&dir, notify::RecursiveMode::NonRecursive)
        .map_err(|e| tracing::warn!("cannot watch {} ({e}); polling once a second", dir.display()))
        .ok()?;
    Some(watcher)
}
