//! Moving the encrypted columns to another key (`relay re-encrypt`, SPEC
//! §5–§6), batch by batch, while agents keep working.
//!
//! Each batch reads up to `batch_size` rows of one column past a recorded
//! cursor (`reencrypt_progress`, one row per column), re-seals the values
//! that need it outside any lock, then writes them in one short
//! transaction, each as a compare-and-set on the old value (`UPDATE …
//! WHERE rowid = ? AND col = old`). A row a live agent changed in between
//! loses the race and is read again by the next batch; the cursor and the
//! batch's writes commit together, so an interrupted run resumes where it
//! stopped. The connection runs with `secure_delete` on, so replaced
//! plain text and old ciphertext are zeroed in the file rather than left
//! in free space.
//!
//! The search index ([`super::search`]) moves with the content: each
//! batch of `messages.content` or `channel_messages.content` re-indexes
//! every row it read (moved or not) with its words hashed under the
//! target key, in the same transaction, and the end of a run rewrites the
//! index (FTS5 `optimize`), so terms under the old key, and words indexed
//! in clear before the store had a keyring, leave the file too.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Store;
use super::search::{self, Doc};
use crate::crypto::{self, Codec, Field, Keyring};
use crate::error::Result;

/// Which values a run moves: those not already under `to`, and, with
/// `from`, only those under `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The key every moved value ends under.
    pub to: String,
    /// Only values under this key (`None`: plain values and every other key).
    pub from: Option<String>,
}

impl Plan {
    /// Whether a value under `key` (`None`: plain) moves.
    pub fn moves(&self, key: Option<&str>) -> bool {
        key != Some(self.to.as_str()) && self.from.as_deref().is_none_or(|from| key == Some(from))
    }
}

/// How many values of one column are under each key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyCounts {
    /// `table.column`.
    pub field: String,
    /// Plain (unencrypted) values.
    pub plain: u64,
    /// Sealed values by key id.
    pub by_key: BTreeMap<String, u64>,
}

impl KeyCounts {
    /// How many of these values `plan` moves.
    pub fn to_move(&self, plan: &Plan) -> u64 {
        let sealed: u64 = self
            .by_key
            .iter()
            .filter(|(k, _)| plan.moves(Some(k)))
            .map(|(_, n)| n)
            .sum();
        sealed + if plan.moves(None) { self.plain } else { 0 }
    }
}

/// One batch's outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batch {
    /// Rows read.
    pub scanned: u64,
    /// Values re-sealed and written.
    pub moved: u64,
    /// Values a concurrent write changed first; they are read again.
    pub conflicts: u64,
    /// No rows were left past the cursor: the column is done.
    pub done: bool,
}

/// A batch read and re-sealed, not yet written.
#[derive(Debug, Clone)]
pub struct Prepared {
    field: Field,
    /// The last rowid read; `None`: the column is done.
    last: Option<i64>,
    scanned: u64,
    /// (rowid, the value read, its replacement).
    updates: Vec<(i64, String, String)>,
    /// For message and post content: (rowid, its words) of every row read
    /// that opened, to re-index under the target key.
    reindex: Vec<(i64, String)>,
}

impl Prepared {
    /// How many values the batch would change.
    pub fn len(&self) -> usize {
        self.updates.len()
    }

    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }
}

/// A column's recorded progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// `table.column`.
    pub field: String,
    /// The run's plan.
    #[serde(flatten)]
    pub plan: Plan,
    /// The last rowid handled.
    pub cursor: i64,
    /// Values moved so far by this run.
    pub moved: u64,
}

impl Store {
    /// How many values of `field` are plain and under each key: a full
    /// scan of the column (about 1 s per million rows).
    pub fn key_counts(&self, field: Field) -> Result<KeyCounts> {
        let (table, column) = (field.table(), field.column());
        self.read(|c, _| {
            let mut stmt = c.prepare(&format!(
                "SELECT CASE WHEN substr({column}, 1, 4) = 'enc:'
                             THEN substr({column}, 5, instr(substr({column}, 5), ':') - 1) END AS key,
                        count(*)
                 FROM {table} WHERE {column} IS NOT NULL GROUP BY key"
            ))?;
            let mut counts = KeyCounts {
                field: field.name().to_owned(),
                ..KeyCounts::default()
            };
            for row in stmt.query_map([], |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)? as u64)))? {
                match row? {
                    (Some(key), n) => *counts.by_key.entry(key).or_default() += n,
                    (None, n) => counts.plain += n,
                }
            }
            Ok(counts)
        })
    }

    /// The recorded progress of an unfinished run, one entry per column it
    /// has started.
    pub fn reencrypt_progress(&self) -> Result<Vec<Progress>> {
        self.read(|c, _| {
            let mut stmt = c.prepare(
                "SELECT field, to_key, from_key, cursor, moved FROM reencrypt_progress ORDER BY started_at, field",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Progress {
                    field: r.get(0)?,
                    plan: Plan {
                        to: r.get(1)?,
                        from: r.get(2)?,
                    },
                    cursor: r.get(3)?,
                    moved: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Starts a run of `plan`, or resumes the recorded one when its plan is
    /// the same; a recorded run of another plan is discarded (its moved
    /// values stay moved). Turns `secure_delete` on for this connection.
    /// Returns whether an earlier run was resumed.
    pub fn reencrypt_begin(&self, plan: &Plan) -> Result<bool> {
        self.read(|c, _| Ok(c.execute_batch("PRAGMA secure_delete = ON")?))?;
        self.write(|tx, _| {
            let other: i64 = tx.query_row(
                "SELECT count(*) FROM reencrypt_progress WHERE to_key IS NOT ?1 OR from_key IS NOT ?2",
                params![plan.to, plan.from],
                |r| r.get(0),
            )?;
            if other > 0 {
                tx.execute("DELETE FROM reencrypt_progress", [])?;
            }
            let same: i64 = tx.query_row("SELECT count(*) FROM reencrypt_progress", [], |r| r.get(0))?;
            Ok(same > 0)
        })
    }

    /// Moves the next batch of `field` under `plan.to`:
    /// [`Store::reencrypt_prepare`] then [`Store::reencrypt_apply`].
    ///
    /// Errors: those two's.
    pub fn reencrypt_batch(&self, keyring: &Keyring, plan: &Plan, field: Field, batch_size: usize) -> Result<Batch> {
        let prepared = self.reencrypt_prepare(keyring, plan, field, batch_size)?;
        self.reencrypt_apply(plan, prepared)
    }

    /// Reads the next batch of `field` past its recorded cursor and
    /// re-seals, without holding the write lock, the values `plan` moves.
    ///
    /// Errors: [`ErrorCode::CorruptStore`](crate::ErrorCode::CorruptStore)
    /// when a value to move does not open (its key is missing from the
    /// keyring, or it was altered); [`ErrorCode::Validation`](crate::ErrorCode::Validation)
    /// when the keyring lacks `plan.to`. Nothing is written.
    pub fn reencrypt_prepare(
        &self,
        keyring: &Keyring,
        plan: &Plan,
        field: Field,
        batch_size: usize,
    ) -> Result<Prepared> {
        let (table, column) = (field.table(), field.column());
        let rows: Vec<(i64, Option<String>)> = self.read(|c, _| {
            let cursor: i64 = c
                .query_row(
                    "SELECT cursor FROM reencrypt_progress WHERE field = ?1",
                    [field.name()],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let mut stmt = c.prepare_cached(&format!(
                "SELECT rowid, {column} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![cursor, batch_size as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        let plain = Codec::default();
        let indexed = matches!(field, Field::MessageContent | Field::ChannelMessageContent);
        let mut updates = Vec::new();
        let mut reindex = Vec::new();
        for (rowid, value) in &rows {
            let Some(old) = value else { continue };
            let key = crypto::key_id(old);
            if !plan.moves(key) {
                // Its index entry may still be under another key (or in
                // clear): re-index it if it opens; one that does not is
                // left as it is, like its content.
                if indexed {
                    let text = match key {
                        Some(_) => keyring.open(field, old).ok(),
                        None => plain.decode(field, old).ok().map(|t| t.into_owned()),
                    };
                    if let Some(text) = text {
                        reindex.push((*rowid, search::index_words(&text)));
                    }
                }
                continue;
            }
            let text = match key {
                Some(_) => keyring.open(field, old)?,
                None => plain.decode(field, old)?.into_owned(),
            };
            let new = keyring.seal_with(&plan.to, field, &text)?;
            if indexed {
                reindex.push((*rowid, search::index_words(&text)));
            }
            updates.push((*rowid, old.clone(), new));
        }
        Ok(Prepared {
            field,
            last: rows.last().map(|(rowid, _)| *rowid),
            scanned: rows.len() as u64,
            updates,
            reindex,
        })
    }

    /// Writes a prepared batch in one transaction, each value as a
    /// compare-and-set on the value that was read, and records the cursor
    /// with it: past the batch, or just before the first row that a
    /// concurrent write changed (read again next time).
    ///
    /// Errors: [`ErrorCode::Timeout`](crate::ErrorCode::Timeout) when the
    /// store stays locked; nothing is written then.
    pub fn reencrypt_apply(&self, plan: &Plan, prepared: Prepared) -> Result<Batch> {
        let Some(last) = prepared.last else {
            return Ok(Batch {
                done: true,
                ..Batch::default()
            });
        };
        let field = prepared.field;
        let (table, column) = (field.table(), field.column());
        self.write(|tx, now| {
            let mut stmt = tx.prepare_cached(&format!(
                "UPDATE {table} SET {column} = ?3 WHERE rowid = ?1 AND {column} = ?2"
            ))?;
            let mut moved = 0u64;
            let mut first_conflict = None;
            for (rowid, old, new) in &prepared.updates {
                if stmt.execute(params![rowid, old, new])? == 1 {
                    moved += 1;
                } else {
                    first_conflict.get_or_insert(*rowid);
                }
            }
            let doc = match field {
                Field::ChannelMessageContent => Doc::ChannelPost,
                _ => Doc::Message,
            };
            for (rowid, words) in &prepared.reindex {
                search::reindex(tx, doc(*rowid), words, Some(&plan.to))?;
            }
            let next = first_conflict.map_or(last, |rowid| rowid - 1);
            tx.execute(
                "INSERT INTO reencrypt_progress (field, to_key, from_key, cursor, moved, started_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT (field) DO UPDATE SET cursor = ?4, moved = moved + ?5, updated_at = ?6",
                params![field.name(), plan.to, plan.from, next, moved as i64, now],
            )?;
            Ok(Batch {
                scanned: prepared.scanned,
                moved,
                conflicts: prepared.updates.len() as u64 - moved,
                done: false,
            })
        })
    }

    /// Forgets the recorded cursors, so the next batches start again from
    /// the first row of every column (values already moved are skipped).
    pub fn reencrypt_rewind(&self) -> Result<()> {
        self.write(|tx, _| Ok(tx.execute("DELETE FROM reencrypt_progress", []).map(drop)?))
    }

    /// Ends a finished run: rewrites the search index as one segment
    /// (FTS5 `optimize`: every document was re-indexed under the target
    /// key, and this drops the old terms; with `secure_delete` on their
    /// pages are zeroed; it holds the write lock for about a second per
    /// 300,000 messages), forgets the run's progress and any pending
    /// search backfill (everything was just indexed), and checkpoints
    /// the WAL (`TRUNCATE`), so the pages that held the old values leave
    /// the log. The checkpoint is best effort while other processes read.
    pub fn reencrypt_finish(&self) -> Result<()> {
        self.write(|tx, _| {
            search::backfill_done(tx)?;
            search::optimize(tx)
        })?;
        self.reencrypt_rewind()?;
        self.read(|c, _| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }
}
