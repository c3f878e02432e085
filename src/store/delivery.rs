//! At-least-once delivery: what a read hands out becomes read only once
//! the reader has it.
//!
//! `get_messages` (unless `peek`) and `get_channel_messages` with status
//! `unread` do not change read state in the transaction that reads. They
//! return a [`ReadReceipt`] next to the page, and the transport confirms
//! it with [`Store::confirm_delivery`] once the response has been written
//! to the client. A crash, a killed process or a client that vanished
//! before that leaves the mail unread, to be delivered again under the
//! same ids: delivery is at-least-once, and readers dedupe by id.

use rusqlite::params;

use super::Store;
use crate::error::Result;

/// The read-state change that a page of mail causes once it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadReceipt {
    /// Direct messages and broadcasts `agent` was handed unread: they
    /// become read (`message_recipients.read_at`).
    Messages {
        /// The recipient.
        agent: String,
        /// The message ids handed out, oldest first.
        message_ids: Vec<i64>,
    },
    /// A channel page read with status `unread`: the member's read cursor
    /// moves to the last post handed out (never backwards).
    ChannelCursor {
        /// The member.
        agent: String,
        /// The channel's row id.
        channel_id: i64,
        /// The id of the last post handed out.
        through: i64,
    },
}

impl Store {
    /// Applies `receipt`: the mail it names was delivered. Idempotent and
    /// monotonic (a message already read keeps its first read time; a
    /// cursor never moves back), so a receipt applied twice, or after a
    /// newer one, changes nothing.
    ///
    /// Errors: store errors only (e.g. [`crate::ErrorCode::Timeout`]); the
    /// mail then stays unread and is delivered again.
    pub fn confirm_delivery(&self, receipt: &ReadReceipt) -> Result<()> {
        self.write(|tx, now| {
            match receipt {
                ReadReceipt::Messages { agent, message_ids } => {
                    let mut mark = tx.prepare_cached(
                        "UPDATE message_recipients SET read_at = ?3
                         WHERE recipient = ?1 AND message_id = ?2 AND read_at IS NULL",
                    )?;
                    for id in message_ids {
                        mark.execute(params![agent, id, now])?;
                    }
                }
                ReadReceipt::ChannelCursor {
                    agent,
                    channel_id,
                    through,
                } => {
                    tx.prepare_cached(
                        "UPDATE channel_members SET read_cursor = ?3
                         WHERE channel_id = ?1 AND agent = ?2 AND read_cursor < ?3",
                    )?
                    .execute(params![channel_id, agent, through])?;
                }
            }
            Ok(())
        })
    }
}
