//! The dashboard's reads and the operator's actions (SPEC §7, issue 12).
//!
//! Two viewers ([`Viewer`]): anyone gets the [`Overview`] (numbers only:
//! no agent names, titles, content or ids other than outbox event ids)
//! and the event stream as kinds and times; the operator (the request
//! carries the hub secret) gets the [`Board`], [`TaskDetail`] and the
//! stream with content ([`DashEvent`]), decrypted under the keyring as
//! every other read is (`relay_open`).
//!
//! The reads run on the store's read path without a write transaction,
//! like [`super::snapshot`], so they keep working on a full disk or while
//! another process holds the write lock; they do not sweep leases first
//! (the runtime's tick does). Costs are bounded by what happened in the
//! last hour, not by the size of the store: the per-minute charts and
//! the latencies walk `messages`, `channel_messages` and `task_events`
//! newest first by id (ids follow time) and stop at the window's start;
//! the unread count uses the partial unread index; only the task counts
//! and the open and recent task lists scan `tasks` (which retention keeps
//! to 30 days of finished ones).
//!
//! The operator's actions ([`Store::operator_task`],
//! [`Store::operator_revoke`]) go through the task state machine
//! ([`super::tasks::machine::Trigger::Operator`]) and the credentials
//! transition table ([`Actor::Dashboard`]) and write one audit row each,
//! success or failure: no agent, transport `http`, tool
//! `dashboard.cancel_task`, `dashboard.recover_task` or
//! `dashboard.revoke_token`, params with the task id or agent and the
//! client address (never the secret).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::agents::credentials::{Actor, Revoked, effective_state};
use super::agents::{ONLINE_WITHIN_MS, Presence, STALE_WITHIN_MS};
use super::events::Kind;
use super::tasks::{OperatorAction, TaskState};
use super::webhooks::Health;
use super::words::{AuthState, Transport};
use super::{Store, audit, tasks, webhooks};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, Result};

/// Who looks at the dashboard, decided once per request from the hub
/// secret it carries (the HTTP access layer decides; the store shapes
/// what it answers by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Viewer {
    /// No secret (or a hub without one): numbers, kinds and times only.
    Counts,
    /// The hub secret: names, titles and content.
    Operator,
}

/// Most agents or channels the board lists.
pub const MAX_BOARD_ROWS: usize = 1000;
/// Most open tasks the board lists (needs_recovery first, then oldest);
/// [`Board::open_tasks_total`] counts them all.
pub const MAX_OPEN_TASKS: usize = 200;
/// The overview's unread count stops counting here
/// ([`MessageCounts::unread_capped`]).
pub const MAX_UNREAD_COUNT: i64 = 10_000;
/// Each board agent's unread count stops counting here
/// ([`BoardAgent::unread_capped`]).
pub const MAX_AGENT_UNREAD_COUNT: i64 = 1_000;
/// Finished tasks the board lists, newest first.
pub const RECENT_TASKS: usize = 50;
/// Outbox events the board lists, newest first.
pub const RECENT_EVENTS: usize = 100;
/// One-minute buckets of the overview's charts (the last is the current
/// minute).
pub const CHART_MINUTES: usize = 60;
/// Upper bounds, in seconds, of the post-to-completed latency buckets;
/// one more bucket counts the rest.
pub const LATENCY_BUCKETS_SECONDS: [i64; 6] = [1, 5, 30, 120, 600, 3600];
/// Characters of content a [`DashEvent`] carries; longer text is cut
/// there and ends with `…`.
pub const MAX_EVENT_TEXT_CHARS: usize = 500;
/// Longest operator cancel reason, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

const MINUTE_MS: Millis = 60_000;
const HOUR_MS: Millis = 60 * MINUTE_MS;
/// How far past a window's start a newest-first walk goes before it
/// stops: ids follow time only as closely as the clocks of the processes
/// sharing the store agree.
const WALK_SLACK_MS: Millis = 5_000;

/// Agents by presence (SPEC §2: online < 10 min, stale < 60 min).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    /// Registered agents.
    pub total: i64,
    /// Seen within 10 minutes.
    pub online: i64,
    /// Seen within 60 minutes, not online.
    pub stale: i64,
    /// Not seen for 60 minutes or more.
    pub offline: i64,
}

/// Tasks by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskCounts {
    /// Waiting for a capable agent.
    pub queued: i64,
    /// Assigned, not accepted.
    pub posted: i64,
    /// Accepted under a lease.
    pub accepted: i64,
    /// Parked write tasks waiting for a decision.
    pub needs_recovery: i64,
    /// Completed.
    pub completed: i64,
    /// Failed.
    pub failed: i64,
    /// Rejected.
    pub rejected: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Expired.
    pub expired: i64,
}

/// Direct and broadcast messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MessageCounts {
    /// Messages stored (a broadcast is one). Exact: a count of the
    /// table (a b-tree walk, ~1–2 ms per 100,000 messages in a release
    /// build; retention keeps 30 days).
    pub total: i64,
    /// (message, recipient) pairs not read yet, counted up to
    /// [`MAX_UNREAD_COUNT`] (the walk of the unread index stops there):
    /// with `unread_capped` it is "10,000 or more".
    pub unread: i64,
    /// Whether there are more than [`MAX_UNREAD_COUNT`] unread pairs
    /// (`unread` is then [`MAX_UNREAD_COUNT`]).
    pub unread_capped: bool,
}

/// Channels and their posts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChannelCounts {
    /// Channels.
    pub total: i64,
    /// Posts stored, in all channels.
    pub posts: i64,
}

/// Webhooks and their deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WebhookCounts {
    /// Registered webhooks.
    pub total: i64,
    /// Webhooks with a delivery waiting for a retry after a failed attempt.
    pub failing: i64,
    /// Deliveries that failed every attempt.
    pub dead_letters: i64,
}

/// Delivery latency of direct and broadcast messages: `read_at -
/// created_at` of the messages created in the last hour that their
/// recipients have taken, in milliseconds (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryLatency {
    /// (message, recipient) pairs read.
    pub count: i64,
    /// Median; `None` when `count` is 0.
    pub p50: Option<i64>,
    /// 99th percentile; `None` when `count` is 0.
    pub p99: Option<i64>,
}

/// The overview's time series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Charts {
    /// Epoch ms of the first of [`CHART_MINUTES`] one-minute buckets,
    /// aligned to the minute; the last bucket is the current minute.
    pub minute_start_ms: Millis,
    /// Direct and broadcast messages and channel posts created in each
    /// minute.
    pub messages_per_minute: Vec<i64>,
    /// Tasks that reached `completed` in each minute.
    pub completions_per_minute: Vec<i64>,
    /// [`LATENCY_BUCKETS_SECONDS`].
    pub latency_buckets_seconds: Vec<i64>,
    /// Tasks completed in the last hour by completion time minus post
    /// time: one count per bucket (≤ 1 s, ≤ 5 s, …, ≤ 3600 s, more).
    pub post_to_completed: Vec<i64>,
    /// Message delivery latency.
    pub delivery_ms: DeliveryLatency,
}

/// The dashboard's overview: numbers only, for any viewer
/// (`GET /api/dashboard/overview`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// RFC 3339 time it was read.
    pub generated_at: String,
    /// The same time in epoch milliseconds (store clock).
    pub now_ms: Millis,
    /// Who asked.
    pub viewer: Viewer,
    /// Whether the hub has a secret (without one nobody sees content).
    pub hub_has_secret: bool,
    /// The newest outbox event id (0: none).
    pub latest_event_id: i64,
    /// Agents by presence.
    pub agents: AgentCounts,
    /// Tasks by state.
    pub tasks: TaskCounts,
    /// Messages.
    pub messages: MessageCounts,
    /// Channels.
    pub channels: ChannelCounts,
    /// Webhooks.
    pub webhooks: WebhookCounts,
    /// The last hour, per minute.
    pub charts: Charts,
}

/// An agent on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardAgent {
    /// Its name.
    pub name: String,
    /// Its role (may be empty).
    pub role: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Declared status: online, busy, away, offline.
    pub status: String,
    /// The note set with the status.
    pub status_note: Option<String>,
    /// Computed from `last_seen`.
    pub presence: Presence,
    /// Its token's state now (a passed grace or recovery window counts).
    pub auth_state: AuthState,
    /// RFC 3339 time of its last call.
    pub last_seen: String,
    /// Messages to it not read yet, counted up to
    /// [`MAX_AGENT_UNREAD_COUNT`]: with `unread_capped` it is "1,000 or
    /// more".
    pub unread: i64,
    /// Whether it has more than [`MAX_AGENT_UNREAD_COUNT`] unread
    /// messages (`unread` is then [`MAX_AGENT_UNREAD_COUNT`]).
    pub unread_capped: bool,
}

/// A task as the board lists it (no description, result or error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    /// Task id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its state.
    pub state: TaskState,
    /// low, normal, high or critical.
    pub priority: String,
    /// Who posted it.
    pub requester: String,
    /// Who it is assigned to (`None` while queued).
    pub assignee: Option<String>,
    /// Attempts so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// RFC 3339 end of the current lease.
    pub lease_expires_at: Option<String>,
    /// Seconds left on the lease (accepted tasks only; 0 once it passed).
    pub lease_left_seconds: Option<i64>,
    /// RFC 3339 end of its TTL.
    pub expires_at: Option<String>,
    /// RFC 3339 post time.
    pub created_at: String,
    /// RFC 3339 time it reached a terminal state.
    pub finished_at: Option<String>,
    /// Seconds since it was posted.
    pub age_seconds: i64,
}

/// A channel on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardChannel {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Posts stored.
    pub posts: i64,
    /// Its members, by name.
    pub members: Vec<BoardMember>,
}

/// A channel member and what it has not read there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardMember {
    /// The member.
    pub agent: String,
    /// Posts after its read cursor.
    pub unread: i64,
}

/// A webhook on the board: its URL as host only (a path may hold a
/// credential), never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardWebhook {
    /// Webhook id.
    pub id: i64,
    /// The agent that registered it.
    pub owner: String,
    /// The host of its URL.
    pub url_host: String,
    /// Event kinds it wants (`*`: all).
    pub events: Vec<String>,
    /// Only events to or from this agent.
    pub agent_filter: Option<String>,
    /// Its deliveries.
    pub health: Health,
}

/// The operator's board (`GET /api/dashboard/board`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    /// RFC 3339 time it was read.
    pub generated_at: String,
    /// The same time in epoch milliseconds.
    pub now_ms: Millis,
    /// Agents by name, at most [`MAX_BOARD_ROWS`].
    pub agents: Vec<BoardAgent>,
    /// Open tasks (queued, posted, accepted, needs_recovery):
    /// needs_recovery first, then oldest first; at most
    /// [`MAX_OPEN_TASKS`] ("200 of `open_tasks_total`").
    pub open_tasks: Vec<TaskRow>,
    /// All open tasks, listed or not.
    pub open_tasks_total: i64,
    /// The [`RECENT_TASKS`] most recently finished tasks, newest first.
    pub recent_tasks: Vec<TaskRow>,
    /// Channels by name, at most [`MAX_BOARD_ROWS`].
    pub channels: Vec<BoardChannel>,
    /// Webhooks, oldest first.
    pub webhooks: Vec<BoardWebhook>,
    /// The [`RECENT_EVENTS`] newest outbox events with content, newest
    /// first.
    pub recent_events: Vec<DashEvent>,
}

/// A task with its content, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskDetailRow {
    /// The board's columns.
    #[serde(flatten)]
    pub row: TaskRow,
    /// What to do (decrypted).
    pub description: String,
    /// The result, once completed (decrypted).
    pub result: Option<String>,
    /// The last error reported or recorded.
    pub error: Option<String>,
    /// Whether it changes files.
    pub write: bool,
}

/// One entry of a task's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// post, accept, complete, cancel, recover, lease_expired, …
    pub action: String,
    /// State before (`None` for post).
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Who did it (`None`: the relay's sweep; `operator`: the dashboard).
    pub actor: Option<String>,
    /// The fencing token involved.
    pub fencing_token: Option<i64>,
    /// RFC 3339 time.
    pub created_at: String,
}

/// A task and its history (`GET /api/dashboard/tasks/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskDetail {
    /// The task.
    pub task: TaskDetailRow,
    /// Its history, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// What an operator sees of an event beyond its kind and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventDetail {
    /// The agent it is for.
    pub target: Option<String>,
    /// The agent that caused it.
    pub actor: Option<String>,
    /// The message, channel message or task id.
    pub subject_id: Option<i64>,
    /// The channel, for channel events.
    pub channel: Option<String>,
    /// The message or post content, or the task title for `task_*`
    /// events, cut to [`MAX_EVENT_TEXT_CHARS`] characters (then ending
    /// with `…`); `None` for other kinds or a purged subject.
    pub text: Option<String>,
    /// The task's state now, for `task_*` events.
    pub task_state: Option<TaskState>,
}

/// An outbox event as the dashboard shows it: `{id, kind, created_at}`
/// for a counts viewer; with [`EventDetail`]'s fields (flattened) for
/// the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DashEvent {
    /// The outbox event id.
    pub id: i64,
    /// What happened.
    pub kind: Kind,
    /// RFC 3339 time.
    pub created_at: String,
    /// The operator's view (`None` for a counts viewer).
    #[serde(flatten)]
    pub detail: Option<EventDetail>,
}

/// `text` cut to [`MAX_EVENT_TEXT_CHARS`] characters, with `…` when cut.
fn cut(text: String) -> String {
    match text.char_indices().nth(MAX_EVENT_TEXT_CHARS) {
        Some((at, _)) => {
            let mut cut = text[..at].to_owned();
            cut.push('…');
            cut
        }
        None => text,
    }
}

const TASK_ROW_COLUMNS: &str = "id, title, state, priority, requester, assignee, attempts, max_attempts, \
     lease_expires_at, expires_at, created_at, finished_at";

fn task_row(r: &rusqlite::Row<'_>, now: Millis) -> rusqlite::Result<TaskRow> {
    let state: TaskState = r.get(2)?;
    let lease: Option<Millis> = r.get(8)?;
    let created: Millis = r.get(10)?;
    Ok(TaskRow {
        id: r.get(0)?,
        title: r.get(1)?,
        state,
        priority: r.get(3)?,
        requester: r.get(4)?,
        assignee: r.get(5)?,
        attempts: r.get(6)?,
        max_attempts: r.get(7)?,
        lease_expires_at: lease.map(rfc3339),
        lease_left_seconds: lease
            .filter(|_| state == TaskState::Accepted)
            .map(|l| (l - now).max(0) / 1000),
        expires_at: r.get::<_, Option<Millis>>(9)?.map(rfc3339),
        created_at: rfc3339(created),
        finished_at: r.get::<_, Option<Millis>>(11)?.map(rfc3339),
        age_seconds: (now - created).max(0) / 1000,
    })
}

fn load_row(c: &rusqlite::Connection, id: i64, now: Millis) -> Result<TaskRow> {
    c.prepare_cached(&format!("SELECT {TASK_ROW_COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id], |r| task_row(r, now))
        .optional()?
        .ok_or_else(|| Error::not_found(format!("no task with id {id}")))
}

/// The bucket of `at` among [`CHART_MINUTES`] minutes from `start`.
fn minute(at: Millis, start: Millis) -> Option<usize> {
    let i = (at - start).div_euclid(MINUTE_MS);
    (0..CHART_MINUTES as i64).contains(&i).then_some(i as usize)
}

/// Nearest-rank percentile `p` (0–100) of sorted `values`.
fn percentile(values: &[i64], p: usize) -> Option<i64> {
    let n = values.len();
    (n > 0).then(|| values[(n * p).div_ceil(100).clamp(1, n) - 1])
}

/// Counts per minute of `created_at` of the rows `sql` (`SELECT
/// created_at … ORDER BY id DESC`) yields, stopping at the window.
fn walk_minutes(c: &rusqlite::Connection, sql: &str, start: Millis, buckets: &mut [i64]) -> Result<()> {
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let at: Millis = r.get(0)?;
        if at < start - WALK_SLACK_MS {
            break;
        }
        if let Some(i) = minute(at, start) {
            buckets[i] += 1;
        }
    }
    Ok(())
}

fn charts(c: &rusqlite::Connection, now: Millis) -> Result<Charts> {
    let start = (now.div_euclid(MINUTE_MS) - (CHART_MINUTES as i64 - 1)) * MINUTE_MS;
    let hour = now - HOUR_MS;
    let mut messages = vec![0; CHART_MINUTES];
    // Direct and broadcast messages, with their recipients' read times
    // (the unique index on message_id keeps the walk in id order).
    let mut delivery = Vec::new();
    {
        let mut stmt = c.prepare_cached(
            "SELECT m.id, m.created_at, r.read_at FROM messages m
             LEFT JOIN message_recipients r ON r.message_id = m.id
             ORDER BY m.id DESC",
        )?;
        let mut rows = stmt.query([])?;
        let mut last = None;
        while let Some(r) = rows.next()? {
            let (id, at, read): (i64, Millis, Option<Millis>) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if at < hour.min(start) - WALK_SLACK_MS {
                break;
            }
            if last != Some(id) {
                last = Some(id);
                if let Some(i) = minute(at, start) {
                    messages[i] += 1;
                }
            }
            if at >= hour
                && let Some(read) = read
            {
                delivery.push((read - at).max(0));
            }
        }
    }
    walk_minutes(
        c,
        "SELECT created_at FROM channel_messages ORDER BY id DESC",
        start,
        &mut messages,
    )?;
    let mut completions = vec![0; CHART_MINUTES];
    let mut latency = vec![0; LATENCY_BUCKETS_SECONDS.len() + 1];
    {
        let mut stmt = c.prepare_cached(
            "SELECT te.created_at,
                    CASE WHEN te.to_state = 'completed' THEN (SELECT t.created_at FROM tasks t WHERE t.id = te.task_id) END,
                    te.to_state = 'completed'
             FROM task_events te ORDER BY te.id DESC",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let at: Millis = r.get(0)?;
            if at < hour.min(start) - WALK_SLACK_MS {
                break;
            }
            if !r.get::<_, bool>(2)? {
                continue;
            }
            if let Some(i) = minute(at, start) {
                completions[i] += 1;
            }
            if at >= hour
                && let Some(posted) = r.get::<_, Option<Millis>>(1)?
            {
                let seconds = (at - posted).max(0) as f64 / 1000.0;
                let b = LATENCY_BUCKETS_SECONDS
                    .iter()
                    .position(|&max| seconds <= max as f64)
                    .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
                latency[b] += 1;
            }
        }
    }
    delivery.sort_unstable();
    Ok(Charts {
        minute_start_ms: start,
        messages_per_minute: messages,
        completions_per_minute: completions,
        latency_buckets_seconds: LATENCY_BUCKETS_SECONDS.to_vec(),
        post_to_completed: latency,
        delivery_ms: DeliveryLatency {
            count: delivery.len() as i64,
            p50: percentile(&delivery, 50),
            p99: percentile(&delivery, 99),
        },
    })
}

fn task_counts(c: &rusqlite::Connection) -> Result<TaskCounts> {
    let mut t = TaskCounts::default();
    let mut stmt = c.prepare_cached("SELECT state, COUNT(*) FROM tasks GROUP BY state")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, TaskState>(0)?, r.get::<_, i64>(1)?)))? {
        let (state, n) = row?;
        *match state {
            TaskState::Queued => &mut t.queued,
            TaskState::Posted => &mut t.posted,
            TaskState::Accepted => &mut t.accepted,
            TaskState::NeedsRecovery => &mut t.needs_recovery,
            TaskState::Completed => &mut t.completed,
            TaskState::Failed => &mut t.failed,
            TaskState::Rejected => &mut t.rejected,
            TaskState::Cancelled => &mut t.cancelled,
            TaskState::Expired => &mut t.expired,
        } = n;
    }
    Ok(t)
}

/// The event columns and, for the operator, the content of its subject.
const DASH_EVENT_SELECT: &str = "SELECT e.id, e.kind, e.target, e.actor, e.subject_id, e.channel, e.created_at,
        CASE WHEN e.kind IN ('message', 'broadcast')
               THEN (SELECT relay_open('messages.content', content) FROM messages WHERE id = e.subject_id)
             WHEN e.kind = 'channel_post'
               THEN (SELECT relay_open('channel_messages.content', content) FROM channel_messages WHERE id = e.subject_id)
             WHEN e.kind LIKE 'task\\_%' ESCAPE '\\'
               THEN (SELECT title FROM tasks WHERE id = e.subject_id) END,
        CASE WHEN e.kind LIKE 'task\\_%' ESCAPE '\\' THEN (SELECT state FROM tasks WHERE id = e.subject_id) END
     FROM events e";

/// A [`DashEvent`] with detail from a [`DASH_EVENT_SELECT`] row; `None`
/// for a kind this relay does not know (written by a newer relay).
fn operator_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<DashEvent>> {
    let Ok(kind) = r.get::<_, Kind>(1) else {
        return Ok(None);
    };
    Ok(Some(DashEvent {
        id: r.get(0)?,
        kind,
        created_at: rfc3339(r.get(6)?),
        detail: Some(EventDetail {
            target: r.get(2)?,
            actor: r.get(3)?,
            subject_id: r.get(4)?,
            channel: r.get(5)?,
            text: r.get::<_, Option<String>>(7)?.map(cut),
            task_state: r.get(8)?,
        }),
    }))
}

fn counts_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<DashEvent>> {
    let Ok(kind) = r.get::<_, Kind>(1) else {
        return Ok(None);
    };
    Ok(Some(DashEvent {
        id: r.get(0)?,
        kind,
        created_at: rfc3339(r.get(2)?),
        detail: None,
    }))
}

fn known(rows: impl Iterator<Item = rusqlite::Result<Option<DashEvent>>>) -> rusqlite::Result<Vec<DashEvent>> {
    rows.filter_map(Result::transpose).collect()
}

/// The host of a webhook URL (`?` when it does not parse).
fn url_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

impl Store {
    /// The overview for `viewer` on a hub that has a secret or not: counts
    /// and the last hour's charts, never a name, title or content.
    ///
    /// Errors: the store cannot be read.
    pub fn dashboard_overview(&self, viewer: Viewer, hub_has_secret: bool) -> Result<Overview> {
        self.read(|c, now| {
            let (agents, latest_event_id, messages, channels, webhooks) = c
                .prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM agents),
                            (SELECT COUNT(*) FROM agents WHERE last_seen > ?1),
                            (SELECT COUNT(*) FROM agents WHERE last_seen <= ?1 AND last_seen > ?2),
                            (SELECT COALESCE(MAX(id), 0) FROM events),
                            (SELECT COUNT(*) FROM messages),
                            (SELECT COUNT(*) FROM
                               (SELECT 1 FROM message_recipients INDEXED BY message_recipients_unread
                                WHERE read_at IS NULL LIMIT ?3)),
                            (SELECT COUNT(*) FROM channels),
                            (SELECT COUNT(*) FROM channel_messages),
                            (SELECT COUNT(*) FROM webhooks),
                            (SELECT COUNT(DISTINCT webhook_id) FROM webhook_deliveries
                             WHERE state IN ('pending', 'in_flight') AND last_error IS NOT NULL),
                            (SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'dead')",
                )?
                .query_row(
                    params![now - ONLINE_WITHIN_MS, now - STALE_WITHIN_MS, MAX_UNREAD_COUNT + 1],
                    |r| {
                        let total: i64 = r.get(0)?;
                        let (online, stale): (i64, i64) = (r.get(1)?, r.get(2)?);
                        Ok((
                            AgentCounts {
                                total,
                                online,
                                stale,
                                offline: total - online - stale,
                            },
                            r.get(3)?,
                            {
                                let unread: i64 = r.get(5)?;
                                MessageCounts {
                                    total: r.get(4)?,
                                    unread: unread.min(MAX_UNREAD_COUNT),
                                    unread_capped: unread > MAX_UNREAD_COUNT,
                                }
                            },
                            ChannelCounts {
                                total: r.get(6)?,
                                posts: r.get(7)?,
                            },
                            WebhookCounts {
                                total: r.get(8)?,
                                failing: r.get(9)?,
                                dead_letters: r.get(10)?,
                            },
                        ))
                    },
                )?;
            Ok(Overview {
                generated_at: rfc3339(now),
                now_ms: now,
                viewer,
                hub_has_secret,
                latest_event_id,
                agents,
                tasks: task_counts(c)?,
                messages,
                channels,
                webhooks,
                charts: charts(c, now)?,
            })
        })
    }

    /// The operator's board: agents, open and recent tasks, channels with
    /// members, webhooks and the newest events with content.
    ///
    /// Errors: the store cannot be read (or a sealed value cannot be
    /// opened with the keyring).
    pub fn dashboard_board(&self) -> Result<Board> {
        let cap = MAX_BOARD_ROWS as i64;
        self.read(|c, now| {
            let mut unread = c.prepare_cached(
                "SELECT COUNT(*) FROM
                   (SELECT 1 FROM message_recipients INDEXED BY message_recipients_unread
                    WHERE recipient = ?1 AND read_at IS NULL LIMIT ?2)",
            )?;
            let mut agents = c
                .prepare_cached(
                    "SELECT a.name, a.role, a.capabilities, a.status, a.status_note, a.last_seen,
                            a.auth_state, a.grace_until, a.recovery_expires_at
                     FROM agents a ORDER BY a.name LIMIT ?1",
                )?
                .query_map([cap], |r| {
                    let caps: String = r.get(2)?;
                    let last_seen: Millis = r.get(5)?;
                    Ok(BoardAgent {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        capabilities: serde_json::from_str(&caps).unwrap_or_default(),
                        status: r.get(3)?,
                        status_note: r.get(4)?,
                        presence: Presence::at(last_seen, now),
                        auth_state: effective_state(r.get(6)?, r.get(7)?, r.get(8)?, now),
                        last_seen: rfc3339(last_seen),
                        unread: 0,
                        unread_capped: false,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // Each agent's walk of the unread index stops after the cap.
            for a in &mut agents {
                let n: i64 = unread.query_row(params![a.name, MAX_AGENT_UNREAD_COUNT + 1], |r| r.get(0))?;
                a.unread = n.min(MAX_AGENT_UNREAD_COUNT);
                a.unread_capped = n > MAX_AGENT_UNREAD_COUNT;
            }
            let open_tasks = c
                .prepare_cached(&format!(
                    "SELECT {TASK_ROW_COLUMNS} FROM tasks
                     WHERE state IN ('queued', 'posted', 'accepted', 'needs_recovery')
                     ORDER BY state = 'needs_recovery' DESC, created_at, id LIMIT ?1"
                ))?
                .query_map([MAX_OPEN_TASKS as i64], |r| task_row(r, now))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let open_tasks_total = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM tasks WHERE state IN ('queued', 'posted', 'accepted', 'needs_recovery')",
                )?
                .query_row([], |r| r.get(0))?;
            let recent_tasks = c
                .prepare_cached(&format!(
                    "SELECT {TASK_ROW_COLUMNS} FROM tasks
                     WHERE state IN ('completed', 'failed', 'rejected', 'cancelled', 'expired')
                     ORDER BY finished_at DESC, id DESC LIMIT ?1"
                ))?
                .query_map([RECENT_TASKS as i64], |r| task_row(r, now))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut channels = c
                .prepare_cached(
                    "SELECT ch.id, ch.name, ch.description, ch.created_by, ch.created_at,
                            (SELECT COUNT(*) FROM channel_messages cm WHERE cm.channel_id = ch.id)
                     FROM channels ch ORDER BY ch.name LIMIT ?1",
                )?
                .query_map([cap], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        BoardChannel {
                            name: r.get(1)?,
                            description: r.get(2)?,
                            created_by: r.get(3)?,
                            created_at: rfc3339(r.get(4)?),
                            posts: r.get(5)?,
                            members: Vec::new(),
                        },
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut members = c.prepare_cached(
                "SELECT m.agent,
                        (SELECT COUNT(*) FROM channel_messages cm WHERE cm.channel_id = m.channel_id AND cm.id > m.read_cursor)
                 FROM channel_members m WHERE m.channel_id = ?1 ORDER BY m.agent",
            )?;
            for (id, channel) in &mut channels {
                channel.members = members
                    .query_map([*id], |r| {
                        Ok(BoardMember {
                            agent: r.get(0)?,
                            unread: r.get(1)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
            }
            let hooks = c
                .prepare_cached("SELECT id, owner, url, events, agent_filter FROM webhooks ORDER BY id")?
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let webhooks = hooks
                .into_iter()
                .map(|(id, owner, url, events, agent_filter)| {
                    Ok(BoardWebhook {
                        id,
                        owner,
                        url_host: url_host(&url),
                        events: serde_json::from_str(&events).unwrap_or_default(),
                        agent_filter,
                        health: webhooks::health(c, id)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let recent_events = {
                let mut stmt = c.prepare_cached(&format!("{DASH_EVENT_SELECT} ORDER BY e.id DESC LIMIT ?1"))?;
                known(stmt.query_map([RECENT_EVENTS as i64], operator_event)?)?
            };
            Ok(Board {
                generated_at: rfc3339(now),
                now_ms: now,
                agents,
                open_tasks,
                open_tasks_total,
                recent_tasks,
                channels: channels.into_iter().map(|(_, ch)| ch).collect(),
                webhooks,
                recent_events,
            })
        })
    }

    /// Task `id` with its content (decrypted) and its history, oldest
    /// first, for the operator.
    ///
    /// Errors: [`ErrorCode::NotFound`](crate::error::ErrorCode::NotFound).
    pub fn dashboard_task(&self, id: i64) -> Result<TaskDetail> {
        self.read(|c, now| {
            let row = load_row(c, id, now)?;
            let (description, result, error, write) = c
                .prepare_cached(
                    "SELECT relay_open('tasks.description', description), relay_open('tasks.result', result), error, write
                     FROM tasks WHERE id = ?1",
                )?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            let history = c
                .prepare_cached(
                    "SELECT action, from_state, to_state, actor, fencing_token, created_at
                     FROM task_events WHERE task_id = ?1 ORDER BY id",
                )?
                .query_map([id], |r| {
                    Ok(HistoryEntry {
                        action: r.get(0)?,
                        from_state: r.get(1)?,
                        to_state: r.get(2)?,
                        actor: r.get(3)?,
                        fencing_token: r.get(4)?,
                        created_at: rfc3339(r.get(5)?),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(TaskDetail {
                task: TaskDetailRow {
                    row,
                    description,
                    result,
                    error,
                    write,
                },
                history,
            })
        })
    }

    /// Up to `limit` outbox events after `after`, oldest first, as
    /// `viewer` sees them (content only for the operator). Kinds this
    /// relay does not know are left out.
    ///
    /// Errors: the store cannot be read.
    pub fn dashboard_events_after(&self, after: i64, limit: usize, viewer: Viewer) -> Result<Vec<DashEvent>> {
        self.read(|c, _| {
            let events = match viewer {
                Viewer::Counts => {
                    let mut stmt =
                        c.prepare_cached("SELECT id, kind, created_at FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
                    known(stmt.query_map(params![after, limit as i64], counts_event)?)?
                }
                Viewer::Operator => {
                    let mut stmt =
                        c.prepare_cached(&format!("{DASH_EVENT_SELECT} WHERE e.id > ?1 ORDER BY e.id LIMIT ?2"))?;
                    known(stmt.query_map(params![after, limit as i64], operator_event)?)?
                }
            };
            Ok(events)
        })
    }

    /// The operator cancels (any non-terminal task; `reason`, at most
    /// [`MAX_REASON_CHARS`], becomes the history note) or recovers (a
    /// `needs_recovery` task → `posted` with attempts 0) task `id`, whoever
    /// posted it: the state machine's [`Trigger::Operator`] rules, a
    /// history row with actor `operator`, the same outbox events as the
    /// requester's cancel or recover, and one audit row (success or
    /// failure) `dashboard.cancel_task` / `dashboard.recover_task` with no
    /// agent, transport `http`, params `{"task_id", "client_ip"}`.
    /// Returns the task as it is now.
    ///
    /// [`Trigger::Operator`]: super::tasks::machine::Trigger::Operator
    ///
    /// Errors: [`ErrorCode::NotFound`](crate::error::ErrorCode::NotFound),
    /// [`ErrorCode::InvalidState`](crate::error::ErrorCode::InvalidState),
    /// [`ErrorCode::Validation`](crate::error::ErrorCode::Validation) (a
    /// reason over the limit), [`ErrorCode::Conflict`](crate::error::ErrorCode::Conflict);
    /// nothing changes but the audit row.
    pub fn operator_task(
        &self,
        id: i64,
        action: OperatorAction,
        reason: Option<&str>,
        client_ip: &str,
    ) -> Result<TaskRow> {
        let tool = match action {
            OperatorAction::Cancel => "dashboard.cancel_task",
            OperatorAction::Recover => "dashboard.recover_task",
        };
        let params = serde_json::json!({"task_id": id, "client_ip": client_ip});
        let done = (|| {
            if let Some(reason) = reason
                && reason.chars().count() > MAX_REASON_CHARS
            {
                return Err(Error::validation(format!(
                    "reason is longer than {MAX_REASON_CHARS} characters"
                )));
            }
            self.write(|tx, now| {
                let task = tasks::operate(tx, id, action, reason, now)?;
                audit::record_operator(tx, tool, None, &params, now)?;
                load_row(tx, task.id, now)
            })
        })();
        self.audited(done, tool, &params)
    }

    /// The operator revokes `agent`'s token through the credentials
    /// transition table (as [`Store::revoke_token`] with
    /// [`Actor::Dashboard`]): with `issue_recovery` a one-time recovery
    /// token comes back (shown once). One audit row, success or failure:
    /// `dashboard.revoke_token`, no agent, transport `http`, params
    /// `{"agent", "client_ip", "issue_recovery"}`.
    ///
    /// Errors: as [`Store::revoke_token`] ([`ErrorCode::NotFound`](crate::error::ErrorCode::NotFound),
    /// [`ErrorCode::InvalidState`](crate::error::ErrorCode::InvalidState) when already revoked,
    /// [`ErrorCode::Validation`](crate::error::ErrorCode::Validation) for a bad name).
    pub fn operator_revoke(&self, agent: &str, issue_recovery: bool, client_ip: &str) -> Result<Revoked> {
        const TOOL: &str = "dashboard.revoke_token";
        let done = self.revoke_token(Actor::Dashboard { client_ip }, agent, issue_recovery);
        let params = serde_json::json!({"agent": agent, "client_ip": client_ip, "issue_recovery": issue_recovery});
        self.audited(done, TOOL, &params)
    }

    /// `done`, after recording its failure (if it failed) as the
    /// operator's audit row for `tool`.
    fn audited<T>(&self, done: Result<T>, tool: &str, params: &serde_json::Value) -> Result<T> {
        if let Err(e) = &done
            && let Err(audit) = self.audit_failure(None, Transport::Http, tool, e.code, params)
        {
            tracing::warn!(code = %audit.code, "the audit row of a failed {tool} could not be written");
        }
        done
    }
}

#[cfg(test)]
#[path = "dashboard_tests.rs"]
mod tests;
