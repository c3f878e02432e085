//! The `events` outbox (SPEC §6): an append-only log of changes someone
//! may want to hear about, written in the same transaction as the change.
//! Rows carry ids only, never payloads, so a consumer that forwards them
//! (a notification, a hook) cannot leak or inject content.

use rusqlite::params;
use serde::Serialize;

use super::Store;
use crate::clock::{Millis, rfc3339};
use crate::error::Result;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A direct message to `target`; `subject_id` is the message id.
    Message,
    /// A broadcast delivered to `target`; `subject_id` is the message id.
    Broadcast,
    /// A post in `channel`; `subject_id` is the channel message id.
    ChannelPost,
    /// A channel was created.
    ChannelCreated,
    /// `actor` registered or re-bound.
    AgentRegistered,
    /// `actor` unregistered.
    AgentUnregistered,
    /// `actor` changed its declared status.
    StatusChanged,
    /// A task was posted (or routed) to `target`; `subject_id` is the task id.
    TaskPosted,
    /// A task `target` posted reached a terminal state (or needs recovery).
    TaskFinished,
    /// A task `target` works on was cancelled by its requester.
    TaskCancelled,
}

impl Kind {
    /// The stored form, e.g. `channel_post`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Broadcast => "broadcast",
            Self::ChannelPost => "channel_post",
            Self::ChannelCreated => "channel_created",
            Self::AgentRegistered => "agent_registered",
            Self::AgentUnregistered => "agent_unregistered",
            Self::StatusChanged => "status_changed",
            Self::TaskPosted => "task_posted",
            Self::TaskFinished => "task_finished",
            Self::TaskCancelled => "task_cancelled",
        }
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Monotonic id; consumers keep the last one they handled as a cursor.
    pub id: i64,
    /// See [`Kind::as_str`].
    pub kind: String,
    /// The agent the event is for; `None` for everyone concerned.
    pub target: Option<String>,
    /// The agent that caused it.
    pub actor: Option<String>,
    /// The message, channel message or task id.
    pub subject_id: Option<i64>,
    /// The channel, for channel events.
    pub channel: Option<String>,
    /// RFC 3339 time.
    pub created_at: String,
}

/// Appends one event inside the caller's transaction.
pub(crate) fn append(
    tx: &rusqlite::Connection,
    kind: Kind,
    target: Option<&str>,
    actor: Option<&str>,
    subject_id: Option<i64>,
    channel: Option<&str>,
    now: Millis,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (kind, target, actor, subject_id, channel, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![kind.as_str(), target, actor, subject_id, channel, now])?;
    Ok(())
}

/// Appends an event about agent `name` itself (registered, unregistered,
/// status changed): no target, no subject.
pub(crate) fn append_for_agent(tx: &rusqlite::Connection, kind: Kind, name: &str, now: Millis) -> Result<()> {
    append(tx, kind, None, Some(name), None, None, now)
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        kind: r.get(1)?,
        target: r.get(2)?,
        actor: r.get(3)?,
        subject_id: r.get(4)?,
        channel: r.get(5)?,
        created_at: rfc3339(r.get(6)?),
    })
}

impl Store {
    /// The newest event id (0 when there is none): where a new follower
    /// starts, so it delivers only what happens from now on.
    pub fn latest_event_id(&self) -> Result<i64> {
        self.read(|c, _| {
            Ok(c.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM events")?
                .query_row([], |r| r.get(0))?)
        })
    }

    /// Up to `limit` events after `after` that concern `agent`, oldest
    /// first: events targeted at it (mail, broadcasts, its tasks), and
    /// posts by others in channels it has joined. The wake-up feed of
    /// `relay serve` (SPEC §3.2).
    pub fn events_for(&self, agent: &str, after: i64, limit: usize) -> Result<Vec<Event>> {
        self.read(|c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT e.id, e.kind, e.target, e.actor, e.subject_id, e.channel, e.created_at
                 FROM events e
                 WHERE e.id > ?1
                   AND (e.target = ?2
                        OR (e.kind = 'channel_post' AND e.actor IS NOT ?2
                            AND e.channel IN (SELECT ch.name FROM channels ch
                                              JOIN channel_members m ON m.channel_id = ch.id
                                              WHERE m.agent = ?2)))
                 ORDER BY e.id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![after, agent, limit as i64], event_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Up to `limit` events with id greater than `after`, oldest first.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        self.read(|c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, target, actor, subject_id, channel, created_at
                 FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit as i64], event_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
