//! Cheap change detection for the store: a file watch on its WAL (inotify
//! on Linux, through the `notify` crate). Every commit by any process
//! writes the WAL, so a watcher wakes within microseconds and costs
//! nothing while idle. Used by `relay serve`'s feed and `relay tail`.
//!
//! A file event comes a moment before SQLite publishes the commit (fsync,
//! then the shared-memory index, which no file event reports), and most
//! commits are not for the reader: after a wake-up, [`commit_visible`]
//! polls SQLite's cheap `data_version` on a short backoff, and the reader
//! reads its rows once that has moved.

use std::path::Path;
use std::sync::Arc;

/// After a wake-up, when to look at `data_version`, in milliseconds from
/// the previous look: quick at first (most commits publish within a
/// millisecond of their file event), then sparser for a commit whose fsync
/// is slow on a busy disk, about half a second in all.
pub const RECHECK_MS: [u64; 10] = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256];

/// The longest a missed file event delays a reader.
pub const FALLBACK_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Polls `version` (SQLite's `PRAGMA data_version`, which moves when
/// another connection commits) on the [`RECHECK_MS`] backoff. Returns
/// true, with `seen` updated, once it differs from `seen`; false if it
/// never did (the file event was not a visible commit). A further wake on
/// `wake` (another file event) meanwhile starts the backoff again, so a
/// commit that follows is seen as quickly as the first.
pub async fn commit_visible<F, Fut>(seen: &mut i64, mut version: F, wake: Option<&tokio::sync::Notify>) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<i64>>,
{
    let mut step = 0;
    while let Some(&delay_ms) = RECHECK_MS.get(step) {
        step += 1;
        if delay_ms > 0 {
            let pause = tokio::time::sleep(std::time::Duration::from_millis(delay_ms));
            match wake {
                Some(wake) => tokio::select! {
                    () = pause => {}
                    () = wake.notified() => step = 0,
                },
                None => pause.await,
            }
        }
        if let Some(v) = version().await
            && v != *seen
        {
            *seen = v;
            return true;
        }
    }
    false
}

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
