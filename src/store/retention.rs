//! Retention (SPEC §6): old rows are purged, but unread mail never is.
//! Webhook deliveries that succeeded go with the events they carried
//! (`events_days`); dead letters stay [`DEAD_LETTER_DAYS`] so that
//! `list_webhooks` and `relay doctor` can show them well after the event
//! itself is gone.

use rusqlite::params;
use serde::Serialize;

use super::Store;
use crate::clock::Millis;
use crate::error::Result;

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// How long a dead webhook delivery (a dead letter) is kept, in days
/// (or `events_days`, when that is longer).
pub const DEAD_LETTER_DAYS: u32 = 30;

/// How long each kind of row is kept, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages read by every recipient, and channel posts read by every
    /// member. Default 30.
    pub read_messages_days: u32,
    /// Outbox events. Default 7.
    pub events_days: u32,
    /// Audit rows. Default 90.
    pub audit_days: u32,
    /// Finished tasks (completed, failed, rejected, cancelled, expired).
    /// Default 30. `needs_recovery` tasks are never purged.
    pub tasks_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            read_messages_days: 30,
            events_days: 7,
            audit_days: 90,
            tasks_days: 30,
        }
    }
}

/// Rows removed by one [`Store::purge`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Direct messages and broadcasts.
    pub messages: usize,
    /// Channel posts.
    pub channel_messages: usize,
    /// Outbox events.
    pub events: usize,
    /// Audit rows.
    pub audit: usize,
    /// Finished tasks (with their history).
    pub tasks: usize,
    /// Webhook deliveries: delivered ones older than the events, dead
    /// letters older than [`DEAD_LETTER_DAYS`].
    pub webhook_deliveries: usize,
}

/// Rows deleted per transaction, so a large purge never holds the write
/// lock for long.
pub const PURGE_CHUNK: usize = 1_000;

impl Store {
    /// Deletes rows older than `retention` allows, in transactions of at
    /// most [`PURGE_CHUNK`] rows. A message is purged once every recipient
    /// has read it and the last read is older than the period; a message
    /// with any unread recipient is kept whatever its age. A channel post
    /// is kept until every member's cursor has passed it. Runs hourly, so
    /// it scans rather than keeping `created_at` indexes that every
    /// hot-path commit would have to write. Search index entries go with
    /// their messages; then the search backfill, if one is pending, runs to
    /// the end (in transactions of [`super::search::BACKFILL_BATCH`]), and
    /// the index's segments are merged ([`Store::search_compact`]).
    pub fn purge(&self, retention: Retention) -> Result<Purged> {
        let now = self.now();
        let cutoff = |days: u32| now - Millis::from(days) * DAY_MS;
        let msg_cutoff = cutoff(retention.read_messages_days);
        let purged = Purged {
            messages: self.purge_chunks(
                "DELETE FROM messages WHERE id IN (
                   SELECT m.id FROM messages m
                   WHERE m.created_at < ?1
                     AND NOT EXISTS (SELECT 1 FROM message_recipients r
                                     WHERE r.message_id = m.id AND r.read_at IS NULL)
                     AND COALESCE((SELECT MAX(r.read_at) FROM message_recipients r
                                   WHERE r.message_id = m.id), m.created_at) < ?1
                   LIMIT ?2)",
                msg_cutoff,
            )?,
            channel_messages: self.purge_chunks(
                "DELETE FROM channel_messages WHERE id IN (
                   SELECT p.id FROM channel_messages p
                   WHERE p.created_at < ?1
                     AND p.id <= COALESCE((SELECT MIN(read_cursor) FROM channel_members m
                                           WHERE m.channel_id = p.channel_id), p.id)
                   LIMIT ?2)",
                msg_cutoff,
            )?,
            events: self.purge_chunks(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE created_at < ?1 LIMIT ?2)",
                cutoff(retention.events_days),
            )?,
            audit: self.purge_chunks(
                "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE created_at < ?1 LIMIT ?2)",
                cutoff(retention.audit_days),
            )?,
            tasks: self.purge_chunks(
                "DELETE FROM tasks WHERE id IN (
                   SELECT id FROM tasks
                   WHERE state IN ('completed', 'failed', 'rejected', 'cancelled', 'expired') AND finished_at < ?1
                   LIMIT ?2)",
                cutoff(retention.tasks_days),
            )?,
            webhook_deliveries: self.purge_webhook_deliveries(
                cutoff(retention.events_days),
                cutoff(retention.events_days.max(DEAD_LETTER_DAYS)),
                PURGE_CHUNK,
            )?,
        };
        if self.search_backfill_pending()? {
            self.search_backfill(usize::MAX)?;
        }
        self.search_compact()?;
        Ok(purged)
    }

    fn purge_chunks(&self, sql: &str, cutoff: Millis) -> Result<usize> {
        let mut total = 0;
        loop {
            let n = self.write(|tx, _| Ok(tx.execute(sql, params![cutoff, PURGE_CHUNK as i64])?))?;
            total += n;
            if n < PURGE_CHUNK {
                return Ok(total);
            }
        }
    }
}
