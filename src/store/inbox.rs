//! What waits for an agent, across aggregates: its unread mail and the
//! tasks it should work on. Two views: [`Pending`] (counts and ids, for
//! `relay hook`) and [`InboxView`] (the `relay://inbox/{agent}` resource,
//! SPEC §3.2). Uses [`messages`](super::messages) and
//! [`tasks`](super::tasks); neither uses it.

use serde::Serialize;

use super::messages::{self, Message, ReadFilter};
use super::tasks::{self, Task};
use super::{Caller, Store};
use crate::error::Result;

/// How many unread messages and open tasks the inbox resource shows.
pub const INBOX_PAGE: u32 = 100;

/// What waits for an agent (for `relay hook`): counts and ids, never content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// Unread messages.
    pub unread: i64,
    /// Up to five of their senders.
    pub senders: Vec<String>,
    /// Ids of tasks assigned to the agent and not finished.
    pub open_tasks: Vec<i64>,
}

/// The `relay://inbox/{agent}` resource: the caller's unread messages
/// (oldest first, up to [`INBOX_PAGE`], not marked read) and its open
/// tasks (assigned to it and `posted` or `accepted`, newest first, up to
/// [`INBOX_PAGE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxView {
    /// Unread messages, oldest first.
    pub messages: Vec<Message>,
    /// Unread messages beyond this page.
    pub unread_remaining: i64,
    /// Tasks assigned to the caller that are posted or accepted.
    pub open_tasks: Vec<Task>,
}

impl Store {
    /// What waits for `agent` now: unread messages (count and up to five
    /// senders) and open tasks assigned to it (count and up to five ids).
    pub fn pending(&self, agent: &str) -> Result<Pending> {
        self.read(|c, _| {
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
                open_tasks: tasks::open_task_ids(c, agent)?,
            })
        })
    }

    /// The caller's inbox resource (a peek: reading it marks nothing
    /// read). Sweeps due leases and TTLs first, like every task read.
    ///
    /// Errors: [`ErrorCode::AuthFailed`](crate::ErrorCode::AuthFailed).
    pub fn inbox(&self, caller: Caller<'_>) -> Result<InboxView> {
        self.sweep_before_read();
        self.read_as(caller, |c, _| {
            let page = messages::page(c, caller.agent, ReadFilter::Unread, None, INBOX_PAGE, true)?;
            Ok(InboxView {
                messages: page.messages,
                unread_remaining: page.unread_remaining,
                open_tasks: tasks::open_tasks(c, caller.agent, INBOX_PAGE)?,
            })
        })
    }
}
