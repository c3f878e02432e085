//! Snapshots for `relay backup` / `relay restore` (SPEC §5, §6): a
//! consistent copy with `VACUUM INTO` (safe while agents write), its
//! manifest, and the integrity check a restore runs before it touches
//! anything. These work on paths, not on an open [`super::Store`], so a
//! restore can hold the store's lock exclusively throughout.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::reencrypt::Plan;
use super::schema;
use crate::crypto::Field;
use crate::error::{Error, ErrorCode, Result};

/// Tables counted in a manifest.
pub const TABLES: [&str; 9] = [
    "agents",
    "messages",
    "message_recipients",
    "channels",
    "channel_members",
    "channel_messages",
    "tasks",
    "events",
    "audit",
];

/// `manifest.json` in a backup archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The snapshot's schema version (`PRAGMA user_version`).
    pub schema_version: i64,
    /// The relay that wrote the backup.
    pub relay_version: String,
    /// RFC 3339 time of the snapshot.
    pub created_at: String,
    /// Rows per table in the snapshot.
    pub row_counts: BTreeMap<String, i64>,
}

/// Writes a consistent snapshot of the store at `db` to `dest` (which must
/// not exist) with `VACUUM INTO`; readers and writers carry on meanwhile.
///
/// Errors: [`ErrorCode::CorruptStore`], [`ErrorCode::Timeout`],
/// [`ErrorCode::Internal`] (I/O).
pub fn snapshot(db: &Path, dest: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_millis(super::BUSY_TIMEOUT_MS))?;
    conn.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
    Ok(())
}

/// The manifest of the snapshot at `path` (opened read-only).
pub fn manifest(path: &Path, created_at: String) -> Result<Manifest> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let schema_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut row_counts = BTreeMap::new();
    for table in TABLES {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap_or(0);
        row_counts.insert(table.to_owned(), n);
    }
    Ok(Manifest {
        schema_version,
        relay_version: env!("CARGO_PKG_VERSION").into(),
        created_at,
        row_counts,
    })
}

/// Runs `PRAGMA integrity_check` on the database at `path`.
///
/// Errors: [`ErrorCode::CorruptStore`] unless it reports `ok`.
pub fn integrity_check(path: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| Error::new(ErrorCode::CorruptStore, format!("cannot open {}: {e}", path.display())))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| {
            Error::new(
                ErrorCode::CorruptStore,
                format!("{} is not a relay database: {e}", path.display()),
            )
        })?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::CorruptStore,
            format!("{} fails its integrity check: {verdict}", path.display()),
        ))
    }
}

/// Whether a manifest's schema can be restored by this relay: newer is
/// refused; older needs `force` (it is migrated when next opened).
///
/// Errors: [`ErrorCode::SchemaMismatch`].
pub fn check_schema(m: &Manifest, force: bool) -> Result<()> {
    if m.schema_version > schema::CURRENT_VERSION {
        return Err(Error::new(
            ErrorCode::SchemaMismatch,
            format!(
                "the backup has schema {}, newer than this relay's {}; restore it with a newer relay",
                m.schema_version,
                schema::CURRENT_VERSION
            ),
        ));
    }
    if m.schema_version < schema::CURRENT_VERSION && !force {
        return Err(Error::new(
            ErrorCode::SchemaMismatch,
            format!(
                "the backup has the older schema {} (this relay writes {}); pass --force to restore it, it is \
                 migrated when next opened",
                m.schema_version,
                schema::CURRENT_VERSION
            ),
        ));
    }
    Ok(())
}

/// What `relay doctor` reads from a store file, opened read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `PRAGMA user_version`.
    pub schema_version: i64,
    /// `PRAGMA journal_mode`.
    pub journal_mode: String,
    /// `PRAGMA quick_check`'s first line (`ok` when healthy).
    pub quick_check: String,
    /// The newest and oldest stored value of each encrypted column, for
    /// checking that the keyring opens them (two index lookups per column,
    /// no scan).
    pub samples: Vec<(Field, String)>,
    /// The plan of an unfinished `relay re-encrypt`, if one is recorded.
    pub reencrypt_pending: Option<Plan>,
    /// The store was opened with a keyring and requires one from now on.
    pub encryption_required: bool,
}

/// Reads [`Health`] from the store at `path` without writing to it.
///
/// Errors: [`ErrorCode::CorruptStore`] when it is not a SQLite database.
pub fn health(path: &Path) -> Result<Health> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_millis(super::BUSY_TIMEOUT_MS))?;
    let schema_version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let journal_mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let quick_check = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    let mut samples = Vec::new();
    for field in Field::ALL {
        let (table, column) = (field.table(), field.column());
        for order in ["DESC", "ASC"] {
            let sql = format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY rowid {order} LIMIT 1");
            // A store too old or too new to have the column has no sample.
            if let Ok(Some(value)) = conn.query_row(&sql, [], |r| r.get::<_, String>(0)).optional()
                && !samples.contains(&(field, value.clone()))
            {
                samples.push((field, value));
            }
        }
    }
    let reencrypt_pending = conn
        .query_row("SELECT to_key, from_key FROM reencrypt_progress LIMIT 1", [], |r| {
            Ok(Plan {
                to: r.get(0)?,
                from: r.get(1)?,
            })
        })
        .ok();
    // A store from before schema 2 has no store_meta: not encrypted.
    let encryption_required = super::encryption_required(&conn).unwrap_or(false);
    Ok(Health {
        encryption_required,
        schema_version,
        journal_mode,
        quick_check,
        samples,
        reencrypt_pending,
    })
}

/// What a bounded attempt to start a write transaction found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteProbe {
    /// `BEGIN IMMEDIATE` succeeded (and was rolled back): writes go through.
    Free,
    /// Another connection held the write lock for the whole wait.
    Busy,
}

/// Tries `BEGIN IMMEDIATE` on a connection of its own to the store at
/// `path`, waiting at most `wait`, and rolls it back: nothing is written,
/// and closing does not checkpoint.
/// The connection is closed before this returns (so
/// [`super::liveness`] can probe afterwards).
///
/// Errors: the store cannot be opened read-write ([`ErrorCode::Internal`],
/// [`ErrorCode::CorruptStore`]).
pub fn write_probe(path: &Path, wait: std::time::Duration) -> Result<WriteProbe> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(wait)?;
    // Closing the last connection would checkpoint the whole WAL.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    let outcome = match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => Ok(WriteProbe::Free),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy => {
            Ok(WriteProbe::Busy)
        }
        Err(e) => Err(e.into()),
    };
    drop(conn);
    outcome
}
