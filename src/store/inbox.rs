//! What waits for an agent, across aggregates: its unread mail, the mail
//! it still owes an acknowledgement, what it waits for from others, and the
//! tasks it should work on. Two views: [`Pending`] (counts and ids, for
//! `relay hook`) and [`InboxView`] (the `relay://inbox/{agent}` resource,
//! SPEC §3.2). Uses [`messages`](super::messages), [`acks`](super::acks)
//! and [`tasks`](super::tasks); none of them uses it.

use serde::Serialize;

use super::acks::{self, Owed, Waiting};
use super::messages::{self, Message, ReadFilter};
use super::tasks::{self, Task};
use super::{Caller, Store};
use crate::error::Result;

/// How many unread messages, messages waiting for an acknowledgement and
/// open tasks the inbox resource shows.
pub const INBOX_PAGE: u32 = 100;

/// How many ids of messages waiting for an acknowledgement [`Pending`] names.
pub const PENDING_IDS: u32 = 10;

/// What waits for an agent (for `relay hook`): counts and ids, never content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// Unread messages.
    pub unread: i64,
    /// Up to five of their senders.
    pub senders: Vec<String>,
    /// Messages that asked the agent for an acknowledgement it has not
    /// given, read or not: how many, and the oldest [`PENDING_IDS`] ids.
    pub awaiting_ack: Owed,
    /// The agent's own messages still waiting for someone's acknowledgement.
    pub outstanding: Waiting,
    /// Ids of tasks assigned to the agent and not finished.
    pub open_tasks: Vec<i64>,
}

/// The `relay://inbox/{agent}` resource: the caller's unread messages
/// (oldest first, up to [`INBOX_PAGE`], not marked read), the messages it
/// has read but still owes an acknowledgement (oldest first, up to
/// [`INBOX_PAGE`]; acknowledged mail never shows), how many of its own
/// messages wait for others' acknowledgements, and its open tasks
/// (assigned to it and `posted` or `accepted`, newest first, up to
/// [`INBOX_PAGE`]). Each message says whether it asks for an
/// acknowledgement (`ack_required`) and whether the caller gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxView {
    /// Unread messages, oldest first.
    pub messages: Vec<Message>,
    /// Unread messages beyond this page.
    pub unread_remaining: i64,
    /// Messages already read that still wait for your acknowledgement
    /// (`acknowledge_message`), oldest first. Unread ones are in
    /// `messages`, with `ack_required: true`.
    pub awaiting_ack: Vec<Message>,
    /// All messages that wait for your acknowledgement, read or not.
    pub awaiting_ack_count: i64,
    /// Your messages still waiting for someone's acknowledgement
    /// (`get_outstanding` lists them).
    pub outstanding: Waiting,
    /// Tasks assigned to the caller that are posted or accepted.
    pub open_tasks: Vec<Task>,
}

impl Store {
    /// What waits for `agent` now: unread messages (count and up to five
    /// senders), what it owes and waits for in acknowledgements, and open
    /// tasks assigned to it.
    pub fn pending(&self, agent: &str) -> Result<Pending> {
        self.read(|c, now| {
            let unread = messages::unread(c, agent)?;
            let senders: Vec<String> = c
                .prepare_cached(
                    "SELECT DISTINCT m.sender FROM message_recipients r JOIN messages m ON m.id = r.message_id
                     WHERE r.recipient = ?1 AND r.read_at IS NULL LIMIT 5",
                )?
                .query_map([agent], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Pending {
                unread,
                senders,
                awaiting_ack: acks::owed(c, agent, PENDING_IDS)?,
                outstanding: acks::waiting(c, agent, now)?,
                open_tasks: tasks::open_task_ids(c, agent)?,
            })
        })
    }

    /// The caller's inbox resource (a peek: reading it marks nothing
    /// read, but records the unread messages it shows for the first time
    /// as delivered, see [`super::acks`]). Sweeps due leases and TTLs
    /// first, like every task read.
    ///
    /// Errors: [`ErrorCode::AuthFailed`](crate::ErrorCode::AuthFailed).
    pub fn inbox(&self, caller: Caller<'_>) -> Result<InboxView> {
        self.sweep_before_read();
        let (view, undelivered) = self.read_as(caller, |c, now| {
            let page = messages::page(c, caller.agent, ReadFilter::Unread, None, INBOX_PAGE, true)?;
            let owed = messages::page(c, caller.agent, ReadFilter::Unacknowledged, None, INBOX_PAGE, true)?;
            let view = InboxView {
                messages: page.messages,
                unread_remaining: page.unread_remaining,
                awaiting_ack: owed.messages.into_iter().filter(|m| m.read).collect(),
                awaiting_ack_count: acks::owed(c, caller.agent, 0)?.count,
                outstanding: acks::waiting(c, caller.agent, now)?,
                open_tasks: tasks::open_tasks(c, caller.agent, INBOX_PAGE)?,
            };
            Ok((view, page.undelivered))
        })?;
        self.record_delivered(caller.agent, &undelivered);
        Ok(view)
    }
}
