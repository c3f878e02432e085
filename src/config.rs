//! Settings resolved once, in one place: flags > environment > defaults.

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::store::Limits;
use crate::store::retention::Retention;

/// Largest JSON-RPC line `relay serve` accepts on stdio, in bytes (SPEC §8).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Everything a subcommand needs to know about where and how to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The SQLite store.
    pub db: PathBuf,
    /// Write limits.
    pub limits: Limits,
    /// Retention periods.
    pub retention: Retention,
    /// Largest JSON-RPC line accepted, in bytes.
    pub max_line_bytes: usize,
}

impl Settings {
    /// Resolves settings from the global flags (which already include the
    /// `RELAY_DB` environment variable) and platform defaults.
    ///
    /// Errors: [`crate::ErrorCode::Internal`] when no home directory is
    /// known and no `--db` was given.
    pub fn resolve(global: &GlobalArgs) -> Result<Self> {
        let db = match &global.db {
            Some(p) => p.clone(),
            None => default_db_path()?,
        };
        Ok(Self {
            db,
            limits: Limits::default(),
            retention: Retention::default(),
            max_line_bytes: MAX_LINE_BYTES,
        })
    }
}

/// The platform data directory's `relay.db` (Linux:
/// `~/.local/share/relay/relay.db`), from the `directories` crate.
pub fn default_db_path() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "relay")
        .map(|d| d.data_dir().join("relay.db"))
        .ok_or_else(|| Error::internal("cannot find a home directory; pass --db PATH or set RELAY_DB"))
}
