//! The `events` outbox (SPEC §6): an append-only log of changes someone
//! may want to hear about, written in the same transaction as the change.
//! Rows carry ids only, never payloads, so a consumer that forwards them
//! (a notification, a hook) cannot leak or inject content.

use rusqlite::{OptionalExtension, params};
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
    /// SQLite's `PRAGMA data_version` on this process's connection: it
    /// changes when another connection commits. A follower woken by a file
    /// event polls this (about a microsecond) instead of the outbox, and
    /// reads the outbox once it has changed.
    pub fn data_version(&self) -> Result<i64> {
        self.read(|c, _| Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?))
    }

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

    /// The cursor `count` events back from the newest (the newest id for
    /// 0, i.e. only what happens next): where `relay tail --last N` starts.
    pub fn event_id_back(&self, count: usize) -> Result<i64> {
        if count == 0 {
            return self.latest_event_id();
        }
        self.read(|c, _| {
            Ok(c.prepare_cached(
                "SELECT COALESCE(MIN(id) - 1, 0) FROM (SELECT id FROM events ORDER BY id DESC LIMIT ?1)",
            )?
            .query_row([count as i64], |r| r.get(0))?)
        })
    }

    /// Where `agent`'s hook last delivered (`None`: never).
    pub fn hook_cursor(&self, agent: &str) -> Result<Option<i64>> {
        self.read(|c, _| {
            Ok(c.prepare_cached("SELECT event_id FROM hook_cursors WHERE agent = ?1")?
                .query_row([agent], |r| r.get(0))
                .optional()?)
        })
    }

    /// Records that `agent`'s hook delivered up to event `event_id`.
    pub fn set_hook_cursor(&self, agent: &str, event_id: i64) -> Result<()> {
        self.write(|tx, _| {
            tx.prepare_cached(
                "INSERT INTO hook_cursors (agent, event_id) VALUES (?1, ?2)
                 ON CONFLICT (agent) DO UPDATE SET event_id = MAX(event_id, excluded.event_id)",
            )?
            .execute(params![agent, event_id])?;
            Ok(())
        })
    }

    /// What waits for `agent` now: unread messages (count and up to five
    /// senders) and open tasks assigned to it (count and up to five ids).
    pub fn pending(&self, agent: &str) -> Result<Pending> {
        self.read(|c, _| {
            let unread = super::messages::unread(c, agent)?;
            let senders: Vec<String> = c
                .prepare_cached(
                    "SELECT DISTINCT m.sender FROM message_recipients r JOIN messages m ON m.id = r.message_id
                     WHERE r.recipient = ?1 AND r.read_at IS NULL LIMIT 5",
                )?
                .query_map([agent], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let tasks: Vec<i64> = c
                .prepare_cached(
                    "SELECT id FROM tasks WHERE assignee = ?1 AND state IN ('posted', 'accepted') ORDER BY id",
                )?
                .query_map([agent], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Pending {
                unread,
                senders,
                open_tasks: tasks,
            })
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
