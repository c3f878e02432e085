//! Retention (SPEC §6): old rows are purged, but unread mail never is.

use rusqlite::params;
use serde::Serialize;

use super::Store;
use crate::clock::Millis;
use crate::error::Result;

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

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
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            read_messages_days: 30,
            events_days: 7,
            audit_days: 90,
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
}

impl Store {
    /// Deletes rows older than `retention` allows, in one transaction.
    /// Runs hourly, so it scans rather than keeping `created_at` indexes
    /// that every hot-path commit would have to write.
    /// A message with any unread recipient is kept whatever its age; a
    /// channel post is kept until every member's cursor has passed it.
    pub fn purge(&self, retention: Retention) -> Result<Purged> {
        self.write(|tx, now| {
            let cutoff = |days: u32| now - Millis::from(days) * DAY_MS;
            let msg_cutoff = cutoff(retention.read_messages_days);
            let messages = tx.execute(
                "DELETE FROM messages WHERE created_at < ?1 AND NOT EXISTS
                   (SELECT 1 FROM message_recipients r WHERE r.message_id = messages.id AND r.read_at IS NULL)",
                [msg_cutoff],
            )?;
            let channel_messages = tx.execute(
                "DELETE FROM channel_messages WHERE created_at < ?1 AND id <= COALESCE(
                   (SELECT MIN(read_cursor) FROM channel_members m WHERE m.channel_id = channel_messages.channel_id),
                   id)",
                [msg_cutoff],
            )?;
            let events = tx.execute(
                "DELETE FROM events WHERE created_at < ?1",
                [cutoff(retention.events_days)],
            )?;
            let audit = tx.execute(
                "DELETE FROM audit WHERE created_at < ?1",
                params![cutoff(retention.audit_days)],
            )?;
            Ok(Purged {
                messages,
                channel_messages,
                events,
                audit,
            })
        })
    }
}
