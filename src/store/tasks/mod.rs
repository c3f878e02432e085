//! Tasks: one durable work-item state machine (SPEC §4).
//!
//! States: `queued` (no assignee yet), `posted` (assigned), `accepted`
//! (claimed under a lease), terminal `completed`, `failed`, `rejected`,
//! `cancelled`, `expired`, and `needs_recovery` (a write task whose lease or
//! TTL ran out mid-run: parked, never re-run silently).
//!
//! The table itself is the pure [`machine::transition`]; `apply` writes
//! what it decides as one compare-and-set (`UPDATE … WHERE id = ? AND
//! state = ? AND fencing_token = ?`) in the caller's transaction, with its
//! `task_events` row and its outbox event. `update_task`, parking, routing
//! and the lease and TTL sweeps all go through it (`post_task` inserts
//! the row instead, in the state [`machine::posted_state`] gives).
//!
//! Leases and TTLs are swept at the start of every call that touches tasks
//! (and by a background tick in `serve`), so a task never stays stranded
//! because nobody looked. Time comes from the store's clock.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod machine;
pub mod session;

pub use machine::{Action, OperatorAction, TaskState};
use machine::{Attempts, Claim, Facts, Lease, Move, Party, Text, Transition, Trigger, not_party, transition};

use super::access::authorize;
use super::words::{Capability, Status, is_offline};
use super::{Caller, Store, audit, events, validate};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};

/// Default lease for `accept`, in seconds (SPEC §4).
pub const DEFAULT_LEASE_SECONDS: u32 = 1800;
/// Longest lease, in seconds (one day).
pub const MAX_LEASE_SECONDS: u32 = 86_400;
/// Default `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Largest `max_attempts`.
pub const MAX_ATTEMPTS: u32 = 100;
/// Longest `ttl_seconds` (30 days).
pub const MAX_TTL_SECONDS: u32 = 30 * 86_400;
/// Longest `request_id`, in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// The actor task history records for the hub's operator (the dashboard
/// with the hub secret), who is no agent.
pub const OPERATOR_ACTOR: &str = "operator";

/// Task priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskPriority {
    /// Can wait.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before normal work.
    High,
    /// Before everything else.
    Critical,
}

impl TaskPriority {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// What `post_task` asks for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewTask {
    /// The assignee; `None` routes by `required_capabilities`.
    pub to: Option<String>,
    /// Capabilities the assignee must hold (for routing).
    pub required_capabilities: Vec<String>,
    /// Short title, at most 256 characters (configurable).
    pub title: String,
    /// What to do; at most the content limit (64 KiB by default).
    pub description: String,
    /// Priority.
    pub priority: TaskPriority,
    /// Idempotency key, unique per requester; at most 128 characters.
    pub request_id: Option<String>,
    /// Seconds from posting until a non-terminal task expires; 1 to 30 days.
    pub ttl_seconds: Option<u32>,
    /// Attempts before the task fails for good; 1-100, default 3.
    pub max_attempts: Option<u32>,
    /// Whether the task changes files (workers refuse it without `--allow-writes`).
    pub write: bool,
    /// The executor session (Codex thread, Claude Code session) this task
    /// continues: a previous task's `session`; `None` starts a new
    /// conversation. 1-128 characters, see [`session::validate`].
    pub session: Option<String>,
}

/// A task as tools show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Task id.
    pub id: i64,
    /// Who posted it.
    pub requester: String,
    /// Who it is assigned to (`None` while queued).
    pub assignee: Option<String>,
    /// Current state.
    pub state: TaskState,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Priority.
    pub priority: TaskPriority,
    /// Capabilities the assignee must hold.
    pub required_capabilities: Vec<String>,
    /// Whether it was routed by capability rather than addressed.
    pub auto_routed: bool,
    /// Whether it changes files.
    pub write: bool,
    /// The requester's idempotency key.
    pub request_id: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The current fencing token (0 before the first accept).
    pub fencing_token: i64,
    /// Who holds the current lease.
    pub claimant: Option<String>,
    /// RFC 3339 end of the current lease.
    pub lease_expires_at: Option<String>,
    /// RFC 3339 time the task expires (from `ttl_seconds`).
    pub expires_at: Option<String>,
    /// The result, once completed.
    pub result: Option<String>,
    /// The last error reported or recorded.
    pub error: Option<String>,
    /// RFC 3339 post time.
    pub created_at: String,
    /// RFC 3339 time of the last transition.
    pub updated_at: String,
    /// The executor session the task runs in: the one it continues (from
    /// `post_task`), then the one the executor reported at `complete` or
    /// `fail`. Post a follow-up with this as its `session` to continue the
    /// conversation. `None`: a new conversation, not reported (yet).
    pub session: Option<String>,
}

/// One entry of a task's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskEvent {
    /// post, accept, heartbeat, complete, fail, release, reject, cancel,
    /// recover, park, route, lease_expired, ttl_expired (see
    /// [`machine::Step`]).
    pub action: String,
    /// State before (`None` for post).
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Who did it (`None`: the relay's sweep).
    pub actor: Option<String>,
    /// The fencing token involved, if any.
    pub fencing_token: Option<i64>,
    /// A short note (e.g. the error).
    pub note: Option<String>,
    /// RFC 3339 time.
    pub at: String,
}

/// The result of `post_task`.
#[derive(Debug, Clone, Serialize)]
pub struct Posted {
    /// The task (the existing one when deduplicated).
    pub task: Task,
    /// Whether an earlier post with the same `request_id` was returned.
    pub deduped: bool,
}

/// `update_task` arguments beyond the task id.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// The result text, for `complete` (at most the content limit).
    pub result: Option<String>,
    /// The error text, for `fail` and `reject`.
    pub error: Option<String>,
    /// For `fail`: go back to `posted` if attempts remain.
    pub retry: bool,
    /// For `accept` and `heartbeat`: lease length in seconds (default 1800).
    pub lease_seconds: Option<u32>,
    /// The token `accept` returned; a stale one gets `STALE_LEASE`.
    /// Required (else `VALIDATION`) for claimant actions once the task has
    /// been accepted more than once; see [`Store::update_task`].
    pub fencing_token: Option<i64>,
    /// For `complete` and `fail`: the executor session the work ran in, as
    /// the executor reported it; recorded as the task's `session` (a `fail`
    /// that re-posts the task for another attempt keeps the session it
    /// had). Refused (`VALIDATION`) with any other action.
    pub session: Option<String>,
}

/// Which side of tasks `get_tasks` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskRole {
    /// Tasks assigned to the caller (the default).
    #[default]
    Assigned,
    /// Tasks the caller posted.
    Posted,
}

const TASK_COLUMNS: &str = "id, requester, assignee, state, title, relay_open('tasks.description', description), \
     priority, required_capabilities, auto_routed, write, request_id, attempts, max_attempts, fencing_token, claimant, \
     lease_expires_at, expires_at, relay_open('tasks.result', result), error, created_at, updated_at, session";

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    let priority: String = r.get(6)?;
    let caps: String = r.get(7)?;
    Ok(Task {
        id: r.get(0)?,
        requester: r.get(1)?,
        assignee: r.get(2)?,
        state: r.get(3)?,
        title: r.get(4)?,
        description: r.get(5)?,
        priority: serde_json::from_value(serde_json::Value::String(priority)).unwrap_or_default(),
        required_capabilities: serde_json::from_str(&caps).unwrap_or_default(),
        auto_routed: r.get(8)?,
        write: r.get(9)?,
        request_id: r.get(10)?,
        attempts: r.get(11)?,
        max_attempts: r.get(12)?,
        fencing_token: r.get(13)?,
        claimant: r.get(14)?,
        lease_expires_at: r.get::<_, Option<Millis>>(15)?.map(rfc3339),
        expires_at: r.get::<_, Option<Millis>>(16)?.map(rfc3339),
        result: r.get(17)?,
        error: r.get(18)?,
        created_at: rfc3339(r.get(19)?),
        updated_at: rfc3339(r.get(20)?),
        session: r.get(21)?,
    })
}

fn load(tx: &rusqlite::Connection, id: i64) -> Result<Task> {
    tx.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id], task_from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(format!("no task with id {id}")))
}

#[allow(clippy::too_many_arguments)]
fn history(
    tx: &rusqlite::Connection,
    id: i64,
    action: &str,
    from: Option<TaskState>,
    to: TaskState,
    actor: Option<&str>,
    fencing_token: Option<i64>,
    note: Option<&str>,
    now: Millis,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO task_events (task_id, action, from_state, to_state, actor, fencing_token, note, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id,
        action,
        from.map(TaskState::as_str),
        to.as_str(),
        actor,
        fencing_token,
        note,
        now
    ])?;
    Ok(())
}

impl Facts {
    /// What the state machine reads of `task`.
    fn of(task: &Task) -> Self {
        Self {
            id: task.id,
            state: task.state,
            write: task.write,
            auto_routed: task.auto_routed,
            attempts: task.attempts,
            max_attempts: task.max_attempts,
            fencing_token: task.fencing_token,
            session_holder: None,
        }
    }
}

impl Party {
    /// Who `agent` is to `task`.
    fn of(task: &Task, agent: &str) -> Self {
        Self {
            requester: task.requester == agent,
            assignee: task.assignee.as_deref() == Some(agent),
            claimant: task.claimant.as_deref() == Some(agent),
        }
    }
}

/// Writes `transition` of `task` (as loaded in this transaction) by
/// `actor` (`None`: the relay's sweep or routing): one compare-and-set on
/// the task's id, state and fencing token, then its history row and its
/// outbox event. `lease_end` is the lease a [`Lease::Set`] or a renewal
/// writes, in epoch milliseconds. Returns the task as it is now, or
/// `None` when the row no longer matched (nothing was written). Writes
/// no audit row: that is the caller's, which knows the tool.
fn apply(
    tx: &rusqlite::Connection,
    task: &Task,
    transition: &Transition,
    actor: Option<&str>,
    now: Millis,
    lease_end: Millis,
) -> Result<Option<Task>> {
    apply_by(tx, task, transition, actor, actor, now, lease_end)
}

/// [`apply`] with the history row's actor (`recorded_as`) apart from the
/// outbox event's and the claim's (`actor`): the operator is recorded as
/// [`OPERATOR_ACTOR`] in the task's history but is no agent, so its
/// events carry no actor (as the sweep's and the CLI operator's).
fn apply_by(
    tx: &rusqlite::Connection,
    task: &Task,
    transition: &Transition,
    actor: Option<&str>,
    recorded_as: Option<&str>,
    now: Millis,
    lease_end: Millis,
) -> Result<Option<Task>> {
    let mv = match transition {
        Transition::Unchanged => return Ok(Some(task.clone())),
        Transition::Renew => {
            let renewed = tx
                .prepare_cached(
                    "UPDATE tasks SET lease_expires_at = ?3 WHERE id = ?1 AND state = 'accepted' AND fencing_token = ?2",
                )?
                .execute(params![task.id, task.fencing_token, lease_end])?;
            return if renewed == 1 {
                load(tx, task.id).map(Some)
            } else {
                Ok(None)
            };
        }
        Transition::Move(mv) => mv,
    };
    let (sql, values) = cas_statement(task, mv, &actor, &now, &lease_end);
    if tx.prepare_cached(&sql)?.execute(&*values)? != 1 {
        return Ok(None);
    }
    history(
        tx,
        task.id,
        mv.step.as_str(),
        Some(mv.from),
        mv.to,
        recorded_as,
        mv.fencing_token,
        mv.note.as_deref(),
        now,
    )?;
    let after = load(tx, task.id)?;
    announce(tx, &after, mv.to, actor, now)?;
    Ok(Some(after))
}

/// The compare-and-set `UPDATE` for `mv` and its parameters: `?1` id,
/// `?2` the state compared, `?3` the new state, `?4` now, `?5` the
/// fencing token compared, then one per value the move sets. Few distinct
/// statements come out of it, so the statement cache keeps them all.
fn cas_statement<'a>(
    task: &'a Task,
    mv: &'a Move,
    actor: &'a Option<&'a str>,
    now: &'a Millis,
    lease_end: &'a Millis,
) -> (String, Vec<&'a dyn rusqlite::ToSql>) {
    let mut sql = String::from("UPDATE tasks SET state = ?3, updated_at = ?4");
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&task.id, &mv.from, &mv.to, now, &task.fencing_token];
    // `assignment` as SQL, with `{}` where `value`'s parameter goes.
    let mut set = |assignment: &str, value: Option<&'a dyn rusqlite::ToSql>| {
        sql.push_str(", ");
        match value {
            Some(value) => {
                values.push(value);
                sql.push_str(&assignment.replace("{}", &format!("?{}", values.len())));
            }
            None => sql.push_str(assignment),
        }
    };
    if mv.to.is_terminal() {
        set("finished_at = ?4", None);
    }
    match &mv.claim {
        Claim::Keep => {}
        Claim::Take(token) => {
            set("claimant = {}", Some(actor));
            set("fencing_token = {}", Some(token));
        }
        Claim::Drop => set("claimant = NULL", None),
    }
    match mv.lease {
        Lease::Keep => {}
        Lease::Set => set("lease_expires_at = {}", Some(lease_end)),
        Lease::Clear => set("lease_expires_at = NULL", None),
    }
    match mv.attempts {
        Attempts::Keep => {}
        Attempts::Increment => set("attempts = attempts + 1", None),
        Attempts::Reset => set("attempts = 0", None),
    }
    if let Text::Set(error) = &mv.error {
        set("error = {}", Some(error));
    }
    if let Text::Set(result) = &mv.result {
        set("result = relay_seal('tasks.result', {})", Some(result));
    }
    if let Text::Set(session) = &mv.session {
        set("session = {}", Some(session));
    }
    if mv.clear_expiry {
        set("expires_at = NULL", None);
    }
    if let Some(assignee) = &mv.assign {
        set("assignee = {}", Some(assignee));
    }
    sql.push_str(" WHERE id = ?1 AND state = ?2 AND fencing_token = ?5");
    (sql, values)
}

/// The outbox event for a state change: the requester hears about terminal
/// states and parking; the assignee hears about new work and cancellation.
fn announce(tx: &rusqlite::Connection, task: &Task, to: TaskState, actor: Option<&str>, now: Millis) -> Result<()> {
    match to {
        TaskState::Posted => {
            if let Some(assignee) = &task.assignee {
                events::append(
                    tx,
                    events::Kind::TaskPosted,
                    Some(assignee),
                    actor,
                    Some(task.id),
                    None,
                    now,
                )?;
            }
        }
        TaskState::Cancelled => {
            if let Some(worker) = task.claimant.as_ref().or(task.assignee.as_ref()) {
                events::append(
                    tx,
                    events::Kind::TaskCancelled,
                    Some(worker),
                    actor,
                    Some(task.id),
                    None,
                    now,
                )?;
            }
            events::append(
                tx,
                events::Kind::TaskFinished,
                Some(&task.requester),
                actor,
                Some(task.id),
                None,
                now,
            )?;
        }
        s if s.is_terminal() || s == TaskState::NeedsRecovery => {
            events::append(
                tx,
                events::Kind::TaskFinished,
                Some(&task.requester),
                actor,
                Some(task.id),
                None,
                now,
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// What `request_id` idempotency compares: a hash of everything posted.
/// `session` joins the list only when given, so tasks posted before it
/// existed (schema 8) keep their hashes and re-posting them still dedupes.
fn content_hash(t: &NewTask) -> Vec<u8> {
    let mut canonical = serde_json::json!([
        t.to,
        t.required_capabilities,
        t.title,
        t.description,
        t.priority.as_str(),
        t.ttl_seconds,
        t.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
        t.write
    ]);
    if let (Some(session), Some(list)) = (&t.session, canonical.as_array_mut()) {
        list.push(serde_json::json!({ "session": session }));
    }
    Sha256::digest(canonical.to_string().as_bytes()).to_vec()
}

/// The least-loaded agent holding every capability in `caps` (ties: most
/// recently seen), leaving out `exclude`, revoked agents and agents that
/// are offline (by presence or declared status).
fn route(tx: &rusqlite::Connection, caps: &[String], exclude: &[&str], now: Millis) -> Result<Option<String>> {
    let mut stmt = tx.prepare_cached(
        "SELECT a.name, a.capabilities, a.last_seen, a.status,
                (SELECT count(*) FROM tasks t WHERE t.assignee = a.name AND t.state IN ('posted', 'accepted'))
         FROM agents a WHERE a.auth_state IN ('active', 'rotation_grace')",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Millis>(2)?,
            r.get::<_, Status>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut best: Option<(i64, Millis, String)> = None;
    for row in rows {
        let (name, agent_caps, last_seen, status, load) = row?;
        if exclude.contains(&name.as_str()) || is_offline(status, last_seen, now) {
            continue;
        }
        let agent_caps: Vec<String> = serde_json::from_str(&agent_caps).unwrap_or_default();
        if !can_take(&agent_caps, caps) {
            continue;
        }
        let better = match &best {
            None => true,
            Some((l, seen, _)) => load < *l || (load == *l && last_seen > *seen),
        };
        if better {
            best = Some((load, last_seen, name));
        }
    }
    Ok(best.map(|(_, _, name)| name))
}

/// Whether an agent holding `held` may be given a task requiring
/// `required`: it holds them all, and `tasks` (accepting a task needs it:
/// never route to an agent without it).
fn can_take(held: &[String], required: &[String]) -> bool {
    Capability::Tasks.held_in(held) && required.iter().all(|c| held.contains(c))
}

/// Sweeps expired leases and TTLs (SPEC §4). Runs inside the caller's
/// transaction; cheap when nothing is due (two partial-index probes — the
/// queries order by the indexed column, or SQLite would scan by rowid).
pub(crate) fn sweep(tx: &rusqlite::Connection, now: Millis) -> Result<usize> {
    let mut moved = 0;
    // TTL first: a task past its TTL expires even if its lease also ran out.
    let due: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM tasks WHERE state IN ('queued', 'posted', 'accepted') AND expires_at <= ?1 ORDER BY expires_at",
        )?
        .query_map([now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in due {
        let task = load(tx, id)?;
        let expired = transition(&Facts::of(&task), &Trigger::TtlExpired)?;
        if apply(tx, &task, &expired, None, now, now)?.is_some() {
            moved += 1;
        }
    }
    let due: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM tasks WHERE state = 'accepted' AND lease_expires_at <= ?1 ORDER BY lease_expires_at",
        )?
        .query_map([now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in due {
        let task = load(tx, id)?;
        let mut expired = transition(&Facts::of(&task), &Trigger::LeaseExpired)?;
        // Back to posted; an auto-routed task whose assignee went offline
        // (and is not merely busy) goes to another capable agent.
        if let Transition::Move(mv) = &mut expired
            && mv.reroute
            && let Some(current) = &task.assignee
            && assignee_is_gone(tx, current, now)?
        {
            mv.assign = route(tx, &task.required_capabilities, &[current, &task.requester], now)?;
        }
        if apply(tx, &task, &expired, None, now, now)?.is_some() {
            moved += 1;
        }
    }
    Ok(moved)
}

/// Whether an assignee counts as gone for re-routing: offline by presence
/// or declared status, and not declared busy or away (issue #3).
fn assignee_is_gone(tx: &rusqlite::Connection, name: &str, now: Millis) -> Result<bool> {
    let row: Option<(Millis, Status)> = tx
        .prepare_cached("SELECT last_seen, status FROM agents WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        None => true,
        // Declared busy or away: the agent means to come back; keep its task.
        Some((_, status)) if status.is_coming_back() => false,
        Some((last_seen, status)) => is_offline(status, last_seen, now),
    })
}

/// Queued tasks, oldest first: `(id, required_capabilities, requester)`.
fn queued(tx: &rusqlite::Connection) -> Result<Vec<(i64, Vec<String>, String)>> {
    let rows: Vec<(i64, String, String)> = tx
        .prepare_cached(
            "SELECT id, required_capabilities, requester FROM tasks WHERE state = 'queued' ORDER BY created_at, id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .map(|(id, caps, requester)| (id, serde_json::from_str(&caps).unwrap_or_default(), requester))
        .collect())
}

/// Moves queued task `id` to `agent` (compare-and-set), with its history
/// and outbox event. Returns whether it moved.
fn assign(tx: &rusqlite::Connection, id: i64, agent: &str, now: Millis) -> Result<bool> {
    let task = load(tx, id)?;
    let Ok(routed) = transition(&Facts::of(&task), &Trigger::Route { to: agent }) else {
        return Ok(false); // no longer queued
    };
    Ok(apply(tx, &task, &routed, None, now, now)?.is_some())
}

/// Assigns queued tasks that `agent` (holding `caps`) can take; called when
/// an agent registers or is bound.
pub(crate) fn assign_queued(tx: &rusqlite::Connection, agent: &str, caps: &[String], now: Millis) -> Result<usize> {
    let mut assigned = 0;
    for (id, required, requester) in queued(tx)? {
        if requester == agent || !can_take(caps, &required) {
            continue;
        }
        if assign(tx, id, agent, now)? {
            assigned += 1;
        }
    }
    Ok(assigned)
}

/// Ids of the tasks assigned to `agent` that are open (`posted` or
/// `accepted`), oldest first.
/// The operator's `action` on task `id` inside the caller's transaction
/// (SPEC §4 rules through [`Trigger::Operator`]): sweeps first, then one
/// compare-and-set with its history row (actor [`OPERATOR_ACTOR`], note
/// `reason`) and
/// the same outbox events as the requester's cancel or recover (with no
/// actor). Writes no audit row: that is the caller's.
///
/// Errors: [`ErrorCode::NotFound`], [`ErrorCode::InvalidState`] (cancel
/// of a terminal task, recover of one not in `needs_recovery`),
/// [`ErrorCode::Conflict`].
pub(crate) fn operate(
    tx: &rusqlite::Connection,
    id: i64,
    action: OperatorAction,
    reason: Option<&str>,
    now: Millis,
) -> Result<Task> {
    sweep(tx, now)?;
    let task = load(tx, id)?;
    let change = transition(&Facts::of(&task), &Trigger::Operator { action, reason })?;
    apply_by(tx, &task, &change, None, Some(OPERATOR_ACTOR), now, now)?.ok_or_else(|| {
        Error::new(
            ErrorCode::Conflict,
            format!("task {id} changed concurrently; read it and retry"),
        )
    })
}

pub(crate) fn open_task_ids(c: &rusqlite::Connection, agent: &str) -> Result<Vec<i64>> {
    Ok(
        c.prepare_cached("SELECT id FROM tasks WHERE assignee = ?1 AND state IN ('posted', 'accepted') ORDER BY id")?
            .query_map([agent], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
    )
}

/// Up to `limit` open tasks assigned to `agent` (`posted` or `accepted`),
/// newest first.
pub(crate) fn open_tasks(c: &rusqlite::Connection, agent: &str, limit: u32) -> Result<Vec<Task>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE assignee = ?1 AND state IN ('posted', 'accepted')
             ORDER BY id DESC LIMIT ?2"
    ))?
    .query_map(params![agent, limit], task_from_row)?
    .collect::<rusqlite::Result<_>>()?)
}

fn validate_new(t: &NewTask, limits: super::Limits) -> Result<()> {
    if t.title.trim().is_empty() {
        return Err(Error::validation("title is empty; give the task a short title"));
    }
    validate::text("title", &t.title, limits.max_title_chars)?;
    if t.description.len() > limits.max_content_bytes {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "description is {} bytes; the limit is {} bytes (UTF-8)",
                t.description.len(),
                limits.max_content_bytes
            ),
        ));
    }
    match (&t.to, t.required_capabilities.is_empty()) {
        (Some(to), _) => validate::agent_name(to)?,
        (None, true) => {
            return Err(Error::validation(
                "say who should do the task: `to` (an agent name) or `required_capabilities`",
            ));
        }
        (None, false) => {}
    }
    validate::capabilities(&t.required_capabilities)?;
    if let Some(id) = &t.request_id {
        if id.is_empty() {
            return Err(Error::validation("request_id is empty"));
        }
        validate::text("request_id", id, MAX_REQUEST_ID_CHARS)?;
    }
    if let Some(ttl) = t.ttl_seconds
        && !(1..=MAX_TTL_SECONDS).contains(&ttl)
    {
        return Err(Error::validation(format!(
            "ttl_seconds must be 1-{MAX_TTL_SECONDS}, got {ttl}"
        )));
    }
    if let Some(n) = t.max_attempts
        && !(1..=MAX_ATTEMPTS).contains(&n)
    {
        return Err(Error::validation(format!(
            "max_attempts must be 1-{MAX_ATTEMPTS}, got {n}"
        )));
    }
    if let Some(s) = &t.session {
        session::validate(s)?;
    }
    Ok(())
}

impl Store {
    /// Posts a task (SPEC §4 `post`). Needs the `tasks` capability.
    ///
    /// With `to`, the task is `posted` to that agent (registered or not
    /// yet). Without, it goes to the least-loaded online agent holding all
    /// `required_capabilities` (ties: most recently seen), or stays
    /// `queued` until one registers. A repeated `request_id` returns the
    /// existing task with `deduped: true` (the comparison includes
    /// `session`). With `session` the task continues that executor
    /// conversation, one task per session at a time (see [`session`]).
    ///
    /// Errors: [`ErrorCode::Validation`] (also a malformed `session`), [`ErrorCode::PayloadTooLarge`],
    /// [`ErrorCode::IdempotencyConflict`] (same `request_id`, different
    /// content), [`ErrorCode::CapDenied`], [`ErrorCode::AuthFailed`].
    pub fn post_task(&self, caller: Caller<'_>, new: &NewTask) -> Result<Posted> {
        validate_new(new, self.limits())?;
        let hash = content_hash(new);
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, Some(Capability::Tasks))?;
            sweep(tx, now)?;
            if let Some(request_id) = &new.request_id {
                let existing: Option<(i64, Vec<u8>)> = tx
                    .prepare_cached("SELECT id, content_hash FROM tasks WHERE requester = ?1 AND request_id = ?2")?
                    .query_row(params![caller.agent, request_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((id, existing_hash)) = existing {
                    if existing_hash != hash {
                        return Err(Error::new(
                            ErrorCode::IdempotencyConflict,
                            format!(
                                "request_id {request_id:?} was used for task {id} with different content; \
                                 use a new request_id for a new task"
                            ),
                        ));
                    }
                    return Ok(Posted { task: load(tx, id)?, deduped: true });
                }
            }
            let assignee = match &new.to {
                Some(to) => Some(to.clone()),
                None => route(tx, &new.required_capabilities, &[caller.agent], now)?,
            };
            let state = machine::posted_state(assignee.is_some());
            let expires_at = new.ttl_seconds.map(|s| now + Millis::from(s) * 1000);
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO tasks (requester, assignee, auto_routed, required_capabilities, title, description,
                                        priority, state, write, request_id, content_hash, max_attempts, expires_at,
                                        created_at, updated_at, session)
                     VALUES (?1, ?2, ?3, ?4, ?5, relay_seal('tasks.description', ?6), ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14,
                             ?15)
                     RETURNING id",
                )?
                .query_row(
                    params![
                        caller.agent,
                        assignee,
                        new.to.is_none(),
                        serde_json::to_string(&new.required_capabilities).expect("strings serialise"),
                        new.title,
                        new.description,
                        new.priority.as_str(),
                        state.as_str(),
                        new.write,
                        new.request_id,
                        hash,
                        new.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
                        expires_at,
                        now,
                        new.session
                    ],
                    |r| r.get(0),
                )?;
            history(tx, id, "post", None, state, Some(caller.agent), None, assignee.as_deref(), now)?;
            let task = load(tx, id)?;
            announce(tx, &task, state, Some(caller.agent), now)?;
            audit::record(
                tx,
                caller,
                "post_task",
                None,
                &serde_json::json!({"task_id": id, "to": assignee, "state": state.as_str(), "bytes": new.description.len(),
                                    "session": new.session}),
                now,
            )?;
            Ok(Posted { task, deduped: false })
        })
    }

    /// Applies `action` to task `id` for the caller (SPEC §4 table), as one
    /// compare-and-set. Needs the `tasks` capability.
    ///
    /// `accept` returns the task with its new `fencing_token`; `heartbeat`,
    /// `complete`, `fail` and `release` check a given `fencing_token`
    /// against the current one. `complete` with the same token again is
    /// idempotent.
    ///
    /// The fencing rule: a claimant action may leave out `fencing_token`
    /// only while the task has been accepted once (token 1), so
    /// interactive agents that accept and complete by hand keep working.
    /// Once a task has been accepted more than once (a lease ran out, a
    /// release, a retry), the claimant's name no longer tells the current
    /// claim from an older one — two sessions of the same agent share it —
    /// so a tokenless claimant action is refused with
    /// [`ErrorCode::Validation`] and changes nothing. `VALIDATION`, not
    /// `STALE_LEASE`: the relay cannot know whether the caller's claim is
    /// stale, and `STALE_LEASE` tells a worker to abandon its work, which
    /// would be wrong for the current claimant that merely forgot the
    /// token. The fix is in the request: pass the token from your `accept`,
    /// and the answer is then definite (success, or `STALE_LEASE`). A `heartbeat` on a cancelled task returns it (state
    /// `cancelled`) rather than failing, so a worker learns to stop.
    ///
    /// The per-session lease: `accept` of a task whose `session` another
    /// accepted task holds is refused with [`ErrorCode::Conflict`] (naming
    /// that task) and changes nothing. `complete` and `fail` take the
    /// executor's `session` and record it on the task.
    ///
    /// Errors: [`ErrorCode::NotFound`], [`ErrorCode::NotParty`],
    /// [`ErrorCode::InvalidState`], [`ErrorCode::StaleLease`],
    /// [`ErrorCode::Conflict`] (the session is busy, or the task changed
    /// concurrently), [`ErrorCode::Validation`], [`ErrorCode::PayloadTooLarge`],
    /// [`ErrorCode::CapDenied`], [`ErrorCode::AuthFailed`].
    pub fn update_task(&self, caller: Caller<'_>, id: i64, action: Action, update: &Update) -> Result<Task> {
        for (field, text) in [("result", &update.result), ("error", &update.error)] {
            if let Some(text) = text
                && text.len() > self.limits().max_content_bytes
            {
                return Err(Error::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "{field} is {} bytes; the limit is {} bytes",
                        text.len(),
                        self.limits().max_content_bytes
                    ),
                ));
            }
        }
        if let Some(s) = &update.session {
            if !matches!(action, Action::Complete | Action::Fail) {
                return Err(Error::validation(format!(
                    "session goes with complete or fail (the executor session the work ran in), not {action}; \
                     to continue a session, post_task with session"
                )));
            }
            session::validate(s)?;
        }
        let lease_seconds = update.lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
        if !(1..=MAX_LEASE_SECONDS).contains(&lease_seconds) {
            return Err(Error::validation(format!(
                "lease_seconds must be 1-{MAX_LEASE_SECONDS}, got {lease_seconds}"
            )));
        }
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, Some(Capability::Tasks))?;
            sweep(tx, now)?;
            let task = load(tx, id)?;
            let trigger = Trigger::Act {
                action,
                by: Party::of(&task, caller.agent),
                update,
            };
            let mut facts = Facts::of(&task);
            if action == Action::Accept
                && let Some(s) = &task.session
            {
                facts.session_holder = session::holder(tx, s, id)?;
            }
            let change = transition(&facts, &trigger)?;
            let lease_end = now + Millis::from(lease_seconds) * 1000;
            let after = apply(tx, &task, &change, Some(caller.agent), now, lease_end)?.ok_or_else(|| {
                Error::new(
                    ErrorCode::Conflict,
                    format!("task {id} changed concurrently; read it and retry"),
                )
            })?;
            if let Transition::Move(mv) = &change {
                audit::record(
                    tx,
                    caller,
                    "update_task",
                    None,
                    &serde_json::json!({"task_id": id, "action": action.as_str(), "to": mv.to.as_str()}),
                    now,
                )?;
            }
            Ok(after)
        })
    }

    /// Whether `caller` may read task `id` (its requester, assignee or
    /// claimant): `get_task`'s check, with no sweep and no write.
    ///
    /// Errors: [`ErrorCode::NotFound`], [`ErrorCode::NotParty`],
    /// [`ErrorCode::AuthFailed`].
    pub fn may_read_task(&self, caller: Caller<'_>, id: i64) -> Result<()> {
        self.check_as(caller, |c, _| require_reader(&load(c, id)?, caller))
    }

    /// Task `id` and its history, for its requester, assignee or claimant.
    ///
    /// Errors: [`ErrorCode::NotFound`], [`ErrorCode::NotParty`],
    /// [`ErrorCode::AuthFailed`].
    pub fn get_task(&self, caller: Caller<'_>, id: i64) -> Result<(Task, Vec<TaskEvent>)> {
        self.sweep_before_read();
        self.read_as(caller, |tx, _| {
            let task = load(tx, id)?;
            require_reader(&task, caller)?;
            let events = tx
                .prepare_cached(
                    "SELECT action, from_state, to_state, actor, fencing_token, note, created_at
                     FROM task_events WHERE task_id = ?1 ORDER BY id",
                )?
                .query_map([id], |r| {
                    Ok(TaskEvent {
                        action: r.get(0)?,
                        from_state: r.get(1)?,
                        to_state: r.get(2)?,
                        actor: r.get(3)?,
                        fencing_token: r.get(4)?,
                        note: r.get(5)?,
                        at: rfc3339(r.get(6)?),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok((task, events))
        })
    }

    /// The state of task `id` without party checks or history: for waiters
    /// that already passed [`Store::get_task`]. A plain read unless a lease
    /// or TTL of that task is due, in which case the sweep runs first.
    ///
    /// Errors: [`ErrorCode::NotFound`].
    pub fn task_state(&self, id: i64) -> Result<TaskState> {
        let (state, due) = self.read(|c, now| {
            let (state, lease, expires): (TaskState, Option<Millis>, Option<Millis>) = c
                .prepare_cached("SELECT state, lease_expires_at, expires_at FROM tasks WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?
                .ok_or_else(|| Error::not_found(format!("no task with id {id}")))?;
            let due = !state.is_terminal() && (lease.is_some_and(|l| l <= now) || expires.is_some_and(|e| e <= now));
            Ok((state, due))
        })?;
        if !due {
            return Ok(state);
        }
        self.write(|tx, now| {
            sweep(tx, now)?;
            Ok(load(tx, id)?.state)
        })
    }

    /// Tasks assigned to or posted by the caller, newest first, optionally
    /// in one state; `limit` 1-100.
    ///
    /// Errors: [`ErrorCode::AuthFailed`].
    pub fn get_tasks(
        &self,
        caller: Caller<'_>,
        role: TaskRole,
        state: Option<TaskState>,
        limit: u32,
    ) -> Result<Vec<Task>> {
        self.sweep_before_read();
        self.read_as(caller, |tx, _| {
            let column = match role {
                TaskRole::Assigned => "assignee",
                TaskRole::Posted => "requester",
            };
            let sql = format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE {column} = ?1 AND (?2 IS NULL OR state = ?2)
                 ORDER BY id DESC LIMIT ?3"
            );
            let tasks = tx
                .prepare_cached(&sql)?
                .query_map(
                    params![caller.agent, state.map(TaskState::as_str), limit],
                    task_from_row,
                )?
                .collect::<rusqlite::Result<_>>()?;
            Ok(tasks)
        })
    }

    /// The next `posted` task assigned to the caller, highest priority
    /// first, then oldest; `None` when there is none. Does not accept it.
    /// Skips a task whose executor session another accepted task holds
    /// (the per-session lease, see [`session`]): it waits, posted, until
    /// that task is done. A plain read unless a lease or TTL is due
    /// somewhere (then it sweeps first), so idle workers can poll it
    /// cheaply.
    pub fn next_task(&self, caller: Caller<'_>) -> Result<Option<Task>> {
        self.sweep_if_due()?;
        self.read(|c, _| {
            let id: Option<i64> = c
                .prepare_cached(
                    "SELECT id FROM tasks t WHERE assignee = ?1 AND state = 'posted'
                       AND (session IS NULL OR NOT EXISTS (
                            SELECT 1 FROM tasks h WHERE h.session = t.session AND h.state = 'accepted'))
                     ORDER BY CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, id
                     LIMIT 1",
                )?
                .query_row([caller.agent], |r| r.get(0))
                .optional()?;
            id.map(|id| load(c, id)).transpose()
        })
    }

    /// Sweeps what is due before a read, best-effort: a read shows the
    /// tasks as they are stored when the sweep cannot write (a full disk,
    /// a store locked past the busy timeout), instead of failing.
    /// Inside a group commit it is left to the tick and the next write,
    /// which sweep too (see [`Store::read_as`]).
    pub(crate) fn sweep_before_read(&self) {
        if self.in_batch() {
            return;
        }
        if let Err(e) = self.best_effort(|| self.sweep_if_due()) {
            tracing::debug!(code = %e.code, "sweep before a read failed");
        }
    }

    /// Sweeps only when some lease or TTL is due (two partial-index probes).
    pub fn sweep_if_due(&self) -> Result<usize> {
        let due = self.read(|c, now| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM tasks WHERE state = 'accepted' AND lease_expires_at <= ?1)
                     OR EXISTS (SELECT 1 FROM tasks WHERE state IN ('queued', 'posted', 'accepted')
                                AND expires_at <= ?1)",
            )?
            .query_row([now], |r| r.get::<_, bool>(0))?)
        })?;
        if due { self.sweep_tasks() } else { Ok(0) }
    }

    /// Parks an accepted task the caller holds (`needs_recovery`): what a
    /// worker does with a write task it must abandon (SIGTERM), so it is
    /// never re-run silently. Not an MCP action.
    ///
    /// Errors: [`ErrorCode::NotParty`], [`ErrorCode::InvalidState`],
    /// [`ErrorCode::StaleLease`].
    pub fn park_task(&self, caller: Caller<'_>, id: i64, fencing_token: i64, reason: &str) -> Result<Task> {
        self.write(|tx, now| {
            let task = load(tx, id)?;
            let trigger = Trigger::Park {
                by: Party::of(&task, caller.agent),
                fencing_token,
                reason,
            };
            let parked = transition(&Facts::of(&task), &trigger)?;
            let after = apply(tx, &task, &parked, Some(caller.agent), now, now)?
                .ok_or_else(|| Error::new(ErrorCode::Conflict, format!("task {id} changed concurrently")))?;
            audit::record(tx, caller, "park_task", None, &serde_json::json!({"task_id": id}), now)?;
            Ok(after)
        })
    }

    /// Offers every queued task to the agents online now (least loaded
    /// first), so queued tasks also find an agent that came back online
    /// without registering anew. Run by the background ticks of `serve`
    /// and `worker`. Returns how many were assigned.
    pub fn route_queued(&self) -> Result<usize> {
        let any = self.read(|c, _| {
            Ok(
                c.prepare_cached("SELECT EXISTS (SELECT 1 FROM tasks WHERE state = 'queued')")?
                    .query_row([], |r| r.get::<_, bool>(0))?,
            )
        })?;
        if !any {
            return Ok(0);
        }
        self.write(|tx, now| {
            let mut assigned = 0;
            for (id, required, requester) in queued(tx)? {
                let Some(agent) = route(tx, &required, &[&requester], now)? else {
                    continue;
                };
                if assign(tx, id, &agent, now)? {
                    assigned += 1;
                }
            }
            Ok(assigned)
        })
    }

    /// Runs the lease and TTL sweep now; returns how many tasks moved.
    pub fn sweep_tasks(&self) -> Result<usize> {
        self.write(sweep)
    }
}

/// Who may read a task: its requester, assignee or claimant.
fn require_reader(task: &Task, caller: Caller<'_>) -> Result<()> {
    let me = Some(caller.agent);
    if task.requester != caller.agent && task.assignee.as_deref() != me && task.claimant.as_deref() != me {
        return Err(not_party(task.id, "requester, assignee or claimant"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{T, caller, store};

    fn history_len(s: &Store, id: i64) -> i64 {
        s.read(|c, _| {
            Ok(
                c.query_row("SELECT count(*) FROM task_events WHERE task_id = ?1", [id], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap()
    }

    #[test]
    fn a_task_without_session_hashes_as_before_schema_9_so_old_request_ids_still_dedupe() {
        let t = NewTask {
            to: Some("w1".into()),
            title: "t".into(),
            description: "d".into(),
            ..NewTask::default()
        };
        // The schema-8 canonical form, spelled out.
        let before = serde_json::json!([
            t.to,
            t.required_capabilities,
            t.title,
            t.description,
            "normal",
            null,
            3,
            false
        ]);
        assert_eq!(content_hash(&t), Sha256::digest(before.to_string().as_bytes()).to_vec());
        let with = NewTask {
            session: Some("s1".into()),
            ..t.clone()
        };
        assert_ne!(content_hash(&with), content_hash(&t));
    }

    #[test]
    fn apply_writes_nothing_when_the_task_moved_since_it_was_read() {
        let (_d, s, _c) = store();
        s.bind_agent("boss", None, Some(&["tasks".to_owned()]), T).unwrap();
        s.bind_agent("w1", None, Some(&["tasks".to_owned()]), T).unwrap();
        let new = NewTask {
            to: Some("w1".into()),
            title: "t".into(),
            description: "d".into(),
            ..NewTask::default()
        };
        let id = s.post_task(caller("boss"), &new).unwrap().task.id;
        let stale = s.read(|c, _| load(c, id)).unwrap();
        let update = Update::default();
        let accept = Trigger::Act {
            action: Action::Accept,
            by: Party::of(&stale, "w1"),
            update: &update,
        };
        let change = transition(&Facts::of(&stale), &accept).unwrap();
        s.update_task(caller("w1"), id, Action::Accept, &update).unwrap();
        let before = history_len(&s, id);
        // The same accept again, decided on the copy read before the first:
        // the compare-and-set finds the row moved on and writes nothing.
        let out = s
            .write(|tx, now| apply(tx, &stale, &change, Some("w1"), now, now))
            .unwrap();
        assert_eq!(out, None);
        assert_eq!(history_len(&s, id), before);
        assert_eq!(s.read(|c, _| load(c, id)).unwrap().fencing_token, 1);
    }

    #[test]
    fn apply_records_the_move_in_history_and_the_outbox() {
        let (_d, s, _c) = store();
        s.bind_agent("boss", None, Some(&["tasks".to_owned()]), T).unwrap();
        s.bind_agent("w1", None, Some(&["tasks".to_owned()]), T).unwrap();
        let new = NewTask {
            to: Some("w1".into()),
            title: "t".into(),
            description: "d".into(),
            ..NewTask::default()
        };
        let id = s.post_task(caller("boss"), &new).unwrap().task.id;
        let task = s
            .update_task(caller("boss"), id, Action::Cancel, &Update::default())
            .unwrap();
        assert_eq!(task.state, TaskState::Cancelled);
        let (_, history) = s.get_task(caller("boss"), id).unwrap();
        let last = history.last().unwrap();
        assert_eq!(
            (last.action.as_str(), last.from_state.as_deref(), last.to_state.as_str()),
            ("cancel", Some("posted"), "cancelled")
        );
        let kinds: Vec<_> = s
            .events_after(0, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.subject_id == Some(id))
            .map(|e| (e.kind, e.target))
            .collect();
        assert_eq!(
            kinds,
            [
                (events::Kind::TaskPosted, Some("w1".into())),
                (events::Kind::TaskCancelled, Some("w1".into())),
                (events::Kind::TaskFinished, Some("boss".into())),
            ]
        );
    }
}
