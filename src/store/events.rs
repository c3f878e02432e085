//! The `events` outbox (SPEC §6): an append-only log of changes someone
//! may want to hear about, written in the same transaction as the change.
//! Rows carry ids only, never payloads, so a consumer that forwards them
//! (a notification, a hook) cannot leak or inject content.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Store;
use crate::clock::{Millis, rfc3339};
use crate::error::Result;

super::words::words! {
    /// What happened. Stored, printed and serialised in snake_case
    /// (`channel_post`).
    pub enum Kind("event kind") {
        /// A direct message to `target`; `subject_id` is the message id.
        Message = "message",
        /// A broadcast delivered to `target`; `subject_id` is the message id.
        Broadcast = "broadcast",
        /// A post in `channel`; `subject_id` is the channel message id.
        ChannelPost = "channel_post",
        /// A channel was created.
        ChannelCreated = "channel_created",
        /// `actor` registered or re-bound.
        AgentRegistered = "agent_registered",
        /// `actor` unregistered.
        AgentUnregistered = "agent_unregistered",
        /// `actor` changed its declared status.
        StatusChanged = "status_changed",
        /// A task was posted (or routed) to `target`; `subject_id` is the task id.
        TaskPosted = "task_posted",
        /// A task `target` posted reached a terminal state (or needs recovery).
        TaskFinished = "task_finished",
        /// A task `target` works on was cancelled by its requester.
        TaskCancelled = "task_cancelled",
        /// `target`'s token was rotated by `actor` (itself, an admin, or
        /// the operator); the old one stays valid through the grace window.
        TokenRotated = "token_rotated",
        /// `target`'s token was revoked by `actor`; its sessions end.
        TokenRevoked = "token_revoked",
        /// A webhook delivery gave up after its last retry; `subject_id`
        /// is the webhook id, `target` its owner.
        WebhookDeliveryFailed = "webhook.delivery_failed",
        /// `actor` acknowledged a message `target` sent with
        /// `ack_required` (SPEC §9); `subject_id` is the message id.
        MessageAcknowledged = "message_acknowledged",
        /// `actor` was granted a file reservation (SPEC §9); `subject_id`
        /// is the reservation id.
        ReservationGranted = "reservation_granted",
        /// `actor` released a file reservation; `subject_id` is the
        /// reservation id.
        ReservationReleased = "reservation_released",
        /// `actor` asked for paths `target` holds (SPEC §9: holders are
        /// told when someone waits on their paths); `subject_id` is the
        /// held reservation's id.
        ReservationConflict = "reservation_conflict",
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Monotonic id; consumers keep the last one they handled as a cursor.
    pub id: i64,
    /// What happened; serialised as [`Kind::as_str`].
    pub kind: Kind,
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
    .execute(params![kind, target, actor, subject_id, channel, now])?;
    Ok(())
}

/// Appends an event about agent `name` itself (registered, unregistered,
/// status changed): no target, no subject.
pub(crate) fn append_for_agent(tx: &rusqlite::Connection, kind: Kind, name: &str, now: Millis) -> Result<()> {
    append(tx, kind, None, Some(name), None, None, now)
}

/// An outbox row, or `None` for a kind this relay does not know (written
/// by a newer relay sharing the store): nothing here could act on it.
fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Event>> {
    let Ok(kind) = r.get::<_, Kind>(1) else {
        tracing::debug!(id = r.get::<_, i64>(0)?, "skipping an event of an unknown kind");
        return Ok(None);
    };
    Ok(Some(Event {
        id: r.get(0)?,
        kind,
        target: r.get(2)?,
        actor: r.get(3)?,
        subject_id: r.get(4)?,
        channel: r.get(5)?,
        created_at: rfc3339(r.get(6)?),
    }))
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
            Ok(known(rows)?)
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

    /// Up to `limit` events with id greater than `after`, oldest first.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>> {
        self.read(|c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, target, actor, subject_id, channel, created_at
                 FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit as i64], event_from_row)?;
            Ok(known(rows)?)
        })
    }
}

/// The events of known kinds among `rows`.
fn known(rows: impl Iterator<Item = rusqlite::Result<Option<Event>>>) -> rusqlite::Result<Vec<Event>> {
    rows.filter_map(Result::transpose).collect()
}
