//! The task state machine of SPEC §4 as a pure function: [`transition`]
//! takes what the machine needs to know about a task ([`Facts`]), what
//! asks it to move ([`Trigger`]: an `update_task` action by some party, a
//! worker parking it, routing, or the sweep's lease and TTL expiry) and
//! answers with the [`Transition`] to make, or the error the caller gets.
//! No database, no clock: every row of the table is a unit test here.
//! [`apply`](super::apply) writes a [`Move`] as one compare-and-set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Update;
use crate::error::{Error, ErrorCode, Result};

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for an agent with the required capabilities to register.
    Queued,
    /// Assigned, not yet accepted.
    Posted,
    /// Accepted under a lease.
    Accepted,
    /// Done, with a result.
    Completed,
    /// Failed for good.
    Failed,
    /// Refused by the assignee (or withdrawn by the requester).
    Rejected,
    /// Cancelled by the requester.
    Cancelled,
    /// Its TTL ran out before it finished.
    Expired,
    /// A write task whose lease or TTL ran out mid-run; the requester decides.
    NeedsRecovery,
}

impl TaskState {
    /// Every state, in declaration order.
    pub const ALL: [Self; 9] = [
        Self::Queued,
        Self::Posted,
        Self::Accepted,
        Self::Completed,
        Self::Failed,
        Self::Rejected,
        Self::Cancelled,
        Self::Expired,
        Self::NeedsRecovery,
    ];

    /// The stored form, e.g. `needs_recovery`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Posted => "posted",
            Self::Accepted => "accepted",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::NeedsRecovery => "needs_recovery",
        }
    }

    /// Whether nothing more will happen to the task (`needs_recovery` is
    /// not terminal: the requester may recover it).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Rejected | Self::Cancelled | Self::Expired
        )
    }

    /// Whether a waiter is done waiting: terminal, or parked where only
    /// the requester can move it.
    pub fn is_settled(self) -> bool {
        self.is_terminal() || self == Self::NeedsRecovery
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            Error::validation(format!(
                "invalid task state {s:?}: use one of {}",
                Self::ALL.map(Self::as_str).join(", ")
            ))
        })
    }
}

impl rusqlite::types::ToSql for TaskState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for TaskState {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map_err(|e: Error| rusqlite::types::FromSqlError::Other(e.message.into()))
    }
}

/// An `update_task` action (SPEC §4 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// posted → accepted, by the assignee; returns the new fencing token.
    Accept,
    /// Renews the lease, by the claimant; reports a cancellation.
    Heartbeat,
    /// accepted → completed, by the claimant, with `result`.
    Complete,
    /// accepted → failed, or back to posted when `retry` and attempts remain.
    Fail,
    /// accepted → posted, by the claimant.
    Release,
    /// posted/accepted → rejected, by the assignee (or the requester while posted).
    Reject,
    /// Any non-terminal state → cancelled, by the requester.
    Cancel,
    /// needs_recovery → posted with attempts = 0, by the requester.
    Recover,
}

impl Action {
    /// The wire and history form, e.g. `accept`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Heartbeat => "heartbeat",
            Self::Complete => "complete",
            Self::Fail => "fail",
            Self::Release => "release",
            Self::Reject => "reject",
            Self::Cancel => "cancel",
            Self::Recover => "recover",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the machine reads of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Task id (for error messages).
    pub id: i64,
    /// Current state.
    pub state: TaskState,
    /// Whether it changes files (never re-run silently).
    pub write: bool,
    /// Whether it was routed by capability (the sweep may re-route it).
    pub auto_routed: bool,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The current fencing token (0 before the first accept).
    pub fencing_token: i64,
    /// Another accepted task holding this task's executor session (the
    /// per-session lease, [`super::session`]); looked up only for
    /// `accept`, `None` otherwise.
    pub session_holder: Option<i64>,
}

/// Who the acting agent is to the task; any combination (an agent may
/// post a task to itself).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Party {
    /// It posted the task.
    pub requester: bool,
    /// The task is assigned to it.
    pub assignee: bool,
    /// It holds (or last held) the lease.
    pub claimant: bool,
}

/// What asks a task to move.
#[derive(Debug, Clone, Copy)]
pub enum Trigger<'a> {
    /// `update_task` by an agent.
    Act {
        /// The action.
        action: Action,
        /// Who acts.
        by: Party,
        /// Its arguments (fencing token, retry, result, error).
        update: &'a Update,
    },
    /// A worker abandons a task it holds (SIGTERM on a write task): parked
    /// in `needs_recovery`, never re-run silently.
    Park {
        /// Who parks it.
        by: Party,
        /// The fencing token of the worker's claim.
        fencing_token: i64,
        /// Why (kept as the task's error).
        reason: &'a str,
    },
    /// Routing found an agent for a queued task.
    Route {
        /// The agent it goes to.
        to: &'a str,
    },
    /// The sweep: the lease of an accepted task ran out.
    LeaseExpired,
    /// The sweep: the task's TTL ran out.
    TtlExpired,
    /// The hub's operator (the dashboard, with the hub secret) acts on any
    /// task, whoever posted it: the requester's cancel and recover rules,
    /// without the party check.
    Operator {
        /// What the operator does.
        action: OperatorAction,
        /// Why (kept as the history row's note).
        reason: Option<&'a str>,
    },
}

/// What the operator may do to a task (the dashboard's actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Any non-terminal state → cancelled, as the requester's `cancel`.
    Cancel,
    /// needs_recovery → posted with attempts = 0, as the requester's `recover`.
    Recover,
}

impl OperatorAction {
    /// The `update_task` action whose move it makes (and whose word the
    /// history row records).
    pub const fn action(self) -> Action {
        match self {
            Self::Cancel => Action::Cancel,
            Self::Recover => Action::Recover,
        }
    }
}

/// What a trigger does to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A state change, written by compare-and-set on `from`.
    Move(Move),
    /// `heartbeat`: the lease is renewed; the state stays `accepted`, with
    /// no history row, no event and no audit row.
    Renew,
    /// Nothing to write: the task is answered as it is (a heartbeat on a
    /// cancelled task tells the worker to stop; a repeated complete with
    /// the same fencing token is idempotent).
    Unchanged,
}

/// The history word of a move (`task_events.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An `update_task` action.
    Action(Action),
    /// A worker parked it.
    Park,
    /// Routing assigned it.
    Route,
    /// The sweep: its lease ran out.
    LeaseExpired,
    /// The sweep: its TTL ran out.
    TtlExpired,
}

impl Step {
    /// The stored form, e.g. `lease_expired`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Action(a) => a.as_str(),
            Self::Park => "park",
            Self::Route => "route",
            Self::LeaseExpired => "lease_expired",
            Self::TtlExpired => "ttl_expired",
        }
    }
}

/// What a move does to the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Leaves claimant and fencing token as they are.
    Keep,
    /// The actor claims the task under this new fencing token.
    Take(i64),
    /// Clears the claimant (the token stays, so older claims stay stale).
    Drop,
}

/// What a move does to the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Leaves it.
    Keep,
    /// Sets it to the end the caller asked for.
    Set,
    /// Clears it.
    Clear,
}

/// What a move does to the attempt count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempts {
    /// Leaves it.
    Keep,
    /// One more failed attempt.
    Increment,
    /// Back to 0 (`recover`).
    Reset,
}

/// What a move does to a text column (`error`, `result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// Leaves it.
    Keep,
    /// Sets it (`None`: NULL).
    Set(Option<String>),
}

/// A state change and everything it writes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The history word.
    pub step: Step,
    /// The state compared against (the compare of compare-and-set).
    pub from: TaskState,
    /// The new state.
    pub to: TaskState,
    /// Claimant and fencing token.
    pub claim: Claim,
    /// The lease.
    pub lease: Lease,
    /// The attempt count.
    pub attempts: Attempts,
    /// The `error` column.
    pub error: Text,
    /// The `result` column.
    pub result: Text,
    /// The `session` column (the executor session the task ran in).
    pub session: Text,
    /// Clears `expires_at` (a TTL that parked the task is spent).
    pub clear_expiry: bool,
    /// A new assignee.
    pub assign: Option<String>,
    /// The sweep may give the task to another capable agent when its
    /// assignee is gone (auto-routed tasks going back to `posted`).
    pub reroute: bool,
    /// The fencing token the history row records.
    pub fencing_token: Option<i64>,
    /// The history row's note.
    pub note: Option<String>,
}

impl Move {
    fn new(step: Step, from: TaskState, to: TaskState) -> Self {
        Self {
            step,
            from,
            to,
            claim: Claim::Keep,
            lease: Lease::Keep,
            attempts: Attempts::Keep,
            error: Text::Keep,
            result: Text::Keep,
            session: Text::Keep,
            clear_expiry: false,
            assign: None,
            reroute: false,
            fencing_token: None,
            note: None,
        }
    }
}

/// The state a new task starts in (SPEC §4 `post`): `posted` when it has
/// an assignee (named, or found by routing), else `queued` until one
/// registers.
pub fn posted_state(has_assignee: bool) -> TaskState {
    if has_assignee {
        TaskState::Posted
    } else {
        TaskState::Queued
    }
}

/// The SPEC §4 table: what `trigger` does to `task`.
///
/// Errors: [`ErrorCode::NotParty`] (the wrong party), [`ErrorCode::InvalidState`]
/// (not allowed from this state), [`ErrorCode::StaleLease`] (an older
/// fencing token: another claim took over) and [`ErrorCode::Validation`]
/// (a claimant action without a fencing token on a task accepted more
/// than once; see [`Store::update_task`](crate::store::Store::update_task)).
/// Nothing is written on an error.
pub fn transition(task: &Facts, trigger: &Trigger<'_>) -> Result<Transition> {
    match *trigger {
        Trigger::Act { action, by, update } => act(task, action, by, update),
        Trigger::Park {
            by,
            fencing_token,
            reason,
        } => park(task, by, fencing_token, reason),
        Trigger::Route { to } => {
            require(task, task.state == TaskState::Queued, "route")?;
            Ok(Transition::Move(Move {
                assign: Some(to.to_owned()),
                note: Some(to.to_owned()),
                ..Move::new(Step::Route, TaskState::Queued, TaskState::Posted)
            }))
        }
        Trigger::LeaseExpired => lease_expired(task),
        Trigger::Operator { action, reason } => {
            let none = Move {
                note: reason.map(str::to_owned),
                ..Move::new(Step::Action(action.action()), task.state, task.state)
            };
            Ok(Transition::Move(match action {
                OperatorAction::Cancel => cancel(task, none)?,
                OperatorAction::Recover => recover(task, none)?,
            }))
        }
        Trigger::TtlExpired => {
            let live = matches!(task.state, TaskState::Queued | TaskState::Posted | TaskState::Accepted);
            require(task, live, "expire")?;
            let to = if task.state == TaskState::Accepted && task.write {
                TaskState::NeedsRecovery
            } else {
                TaskState::Expired
            };
            Ok(Transition::Move(Move {
                lease: Lease::Clear,
                error: Text::Set(Some("ttl expired".to_owned())),
                ..Move::new(Step::TtlExpired, task.state, to)
            }))
        }
    }
}

fn act(task: &Facts, action: Action, by: Party, update: &Update) -> Result<Transition> {
    let check_token = || -> Result<()> {
        match update.fencing_token {
            Some(t) if t != task.fencing_token => Err(Error::new(
                ErrorCode::StaleLease,
                format!(
                    "fencing token {t} is stale: task {} is at token {} (another claim took over); \
                     nothing changed",
                    task.id, task.fencing_token
                ),
            )),
            // Accepted more than once: without a token the claimant name
            // cannot tell the current claim from an older one (two
            // sessions of one agent), so the token is required.
            None if task.fencing_token > 1 => Err(Error::validation(format!(
                "fencing_token is required: task {} has been accepted more than once (it is at token {}); \
                 pass the fencing_token your accept returned; nothing changed",
                task.id, task.fencing_token
            ))),
            _ => Ok(()),
        }
    };
    // A stale token is STALE_LEASE whoever holds the task now (the sweep
    // may have cleared the claimant or re-routed it).
    if action != Action::Accept
        && let Some(t) = update.fencing_token
        && t < task.fencing_token
    {
        check_token()?;
    }
    let claimant = || -> Result<()> {
        if !by.claimant {
            return Err(not_party(task.id, "claimant"));
        }
        check_token()
    };
    let state = task.state;
    let mv = |to| Move {
        fencing_token: update.fencing_token,
        ..Move::new(Step::Action(action), state, to)
    };
    let accepted = || require(task, state == TaskState::Accepted, action.as_str());
    // The executor session a complete or fail reports; none keeps the task's.
    let reported = || update.session.clone().map_or(Text::Keep, |s| Text::Set(Some(s)));
    let out = match action {
        Action::Accept => {
            if !by.assignee {
                return Err(not_party(task.id, "assignee"));
            }
            require(task, state == TaskState::Posted, action.as_str())?;
            if let Some(holder) = task.session_holder {
                return Err(super::session::busy(task.id, holder));
            }
            let token = task.fencing_token + 1;
            Move {
                claim: Claim::Take(token),
                lease: Lease::Set,
                fencing_token: Some(token),
                ..mv(TaskState::Accepted)
            }
        }
        Action::Heartbeat => {
            claimant()?;
            if state == TaskState::Cancelled {
                return Ok(Transition::Unchanged);
            }
            accepted()?;
            return Ok(Transition::Renew);
        }
        Action::Complete => {
            claimant()?;
            if state == TaskState::Completed && update.fencing_token == Some(task.fencing_token) {
                return Ok(Transition::Unchanged); // a retried complete: idempotent
            }
            accepted()?;
            Move {
                result: Text::Set(update.result.clone()),
                lease: Lease::Clear,
                error: Text::Set(None),
                session: reported(),
                ..mv(TaskState::Completed)
            }
        }
        Action::Fail => {
            claimant()?;
            accepted()?;
            let failed = Move {
                attempts: Attempts::Increment,
                error: Text::Set(update.error.clone()),
                lease: Lease::Clear,
                note: update.error.clone(),
                session: reported(),
                ..mv(TaskState::Failed)
            };
            if update.retry && task.attempts + 1 < task.max_attempts {
                // Another attempt runs the task as posted: in the session
                // it continues (or a new one), not the failed attempt's.
                Move {
                    to: TaskState::Posted,
                    claim: Claim::Drop,
                    session: Text::Keep,
                    ..failed
                }
            } else {
                failed
            }
        }
        Action::Release => {
            claimant()?;
            accepted()?;
            Move {
                claim: Claim::Drop,
                lease: Lease::Clear,
                ..mv(TaskState::Posted)
            }
        }
        Action::Reject => {
            let by_assignee = by.assignee && matches!(state, TaskState::Posted | TaskState::Accepted);
            let by_requester = by.requester && state == TaskState::Posted;
            if !by_assignee && !by_requester {
                if !by.assignee && !by.requester {
                    return Err(not_party(task.id, "assignee or requester"));
                }
                return Err(invalid_state(task, action.as_str()));
            }
            Move {
                error: Text::Set(update.error.clone()),
                lease: Lease::Clear,
                note: update.error.clone(),
                ..mv(TaskState::Rejected)
            }
        }
        Action::Cancel => {
            if !by.requester {
                return Err(not_party(task.id, "requester"));
            }
            cancel(task, mv(state))?
        }
        Action::Recover => {
            if !by.requester {
                return Err(not_party(task.id, "requester"));
            }
            recover(task, mv(state))?
        }
    };
    Ok(Transition::Move(out))
}

/// `cancel` (the requester's or the operator's): any non-terminal state →
/// cancelled. `base` carries the step and history fields.
fn cancel(task: &Facts, base: Move) -> Result<Move> {
    require(task, !task.state.is_terminal(), "cancel")?;
    Ok(Move {
        to: TaskState::Cancelled,
        lease: Lease::Clear,
        ..base
    })
}

/// `recover` (the requester's or the operator's): needs_recovery → posted
/// with attempts = 0 and the claim dropped. `base` carries the step and
/// history fields.
fn recover(task: &Facts, base: Move) -> Result<Move> {
    require(task, task.state == TaskState::NeedsRecovery, "recover")?;
    Ok(Move {
        to: TaskState::Posted,
        attempts: Attempts::Reset,
        claim: Claim::Drop,
        lease: Lease::Clear,
        // A TTL that parked the task is spent: clear it, or the next
        // sweep would expire the task the moment it is posted.
        clear_expiry: true,
        ..base
    })
}

fn park(task: &Facts, by: Party, fencing_token: i64, reason: &str) -> Result<Transition> {
    if !by.claimant {
        return Err(not_party(task.id, "claimant"));
    }
    if task.fencing_token != fencing_token {
        return Err(Error::new(
            ErrorCode::StaleLease,
            format!("fencing token {fencing_token} is stale"),
        ));
    }
    if task.state != TaskState::Accepted {
        return Err(Error::new(
            ErrorCode::InvalidState,
            format!("task {} is {}", task.id, task.state),
        ));
    }
    Ok(Transition::Move(Move {
        lease: Lease::Clear,
        error: Text::Set(Some(reason.to_owned())),
        fencing_token: Some(fencing_token),
        note: Some(reason.to_owned()),
        ..Move::new(Step::Park, TaskState::Accepted, TaskState::NeedsRecovery)
    }))
}

/// Lease expiry (SPEC §4): a write task parks; a task out of attempts
/// fails; any other goes back to `posted` (re-routable when auto-routed)
/// with one more attempt.
fn lease_expired(task: &Facts) -> Result<Transition> {
    require(task, task.state == TaskState::Accepted, "expire the lease of")?;
    let attempts = task.attempts + 1;
    let note = format!("lease expired (attempt {attempts} of {})", task.max_attempts);
    let base = Move {
        lease: Lease::Clear,
        error: Text::Set(Some(note.clone())),
        note: Some(note),
        ..Move::new(Step::LeaseExpired, TaskState::Accepted, TaskState::NeedsRecovery)
    };
    Ok(Transition::Move(if task.write {
        base
    } else if attempts >= task.max_attempts {
        Move {
            to: TaskState::Failed,
            attempts: Attempts::Increment,
            ..base
        }
    } else {
        Move {
            to: TaskState::Posted,
            claim: Claim::Drop,
            attempts: Attempts::Increment,
            reroute: task.auto_routed,
            ..base
        }
    }))
}

fn require(task: &Facts, allowed: bool, what: &str) -> Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(invalid_state(task, what))
    }
}

pub(super) fn not_party(id: i64, who: &str) -> Error {
    Error::new(
        ErrorCode::NotParty,
        format!("task {id} is not yours: only its {who} may do that"),
    )
}

fn invalid_state(task: &Facts, what: &str) -> Error {
    Error::new(
        ErrorCode::InvalidState,
        format!("cannot {what} task {}: it is {}", task.id, task.state),
    )
}

#[cfg(test)]
mod tests {
    //! One test per row of the SPEC §4 table (and per sweep rule), each a
    //! table of (state, party, arguments) → expected outcome.

    use super::*;

    const ALL: [TaskState; 9] = TaskState::ALL;

    fn facts(state: TaskState) -> Facts {
        Facts {
            id: 7,
            state,
            write: false,
            auto_routed: false,
            attempts: 0,
            max_attempts: 3,
            fencing_token: 1,
            session_holder: None,
        }
    }

    const NOBODY: Party = Party {
        requester: false,
        assignee: false,
        claimant: false,
    };
    const REQUESTER: Party = Party {
        requester: true,
        ..NOBODY
    };
    const ASSIGNEE: Party = Party {
        assignee: true,
        ..NOBODY
    };
    const CLAIMANT: Party = Party {
        assignee: true,
        claimant: true,
        ..NOBODY
    };

    fn act(task: &Facts, action: Action, by: Party, update: &Update) -> Result<Transition> {
        transition(task, &Trigger::Act { action, by, update })
    }

    /// The target state of a move, or the error code.
    fn outcome(t: Result<Transition>) -> std::result::Result<Option<TaskState>, ErrorCode> {
        match t {
            Ok(Transition::Move(m)) => Ok(Some(m.to)),
            Ok(_) => Ok(None),
            Err(e) => Err(e.code),
        }
    }

    fn moved(t: Result<Transition>) -> Move {
        match t {
            Ok(Transition::Move(m)) => m,
            other => panic!("expected a move, got {other:?}"),
        }
    }

    #[test]
    fn post_starts_posted_with_an_assignee_and_queued_without() {
        assert_eq!(posted_state(true), TaskState::Posted);
        assert_eq!(posted_state(false), TaskState::Queued);
    }

    #[test]
    fn accept_moves_posted_to_accepted_for_the_assignee_with_the_next_fencing_token() {
        let update = Update::default();
        for state in ALL {
            for (by, name) in [(ASSIGNEE, "assignee"), (REQUESTER, "requester"), (NOBODY, "stranger")] {
                let got = outcome(act(&facts(state), Action::Accept, by, &update));
                let want = match (name, state) {
                    ("assignee", TaskState::Posted) => Ok(Some(TaskState::Accepted)),
                    ("assignee", _) => Err(ErrorCode::InvalidState),
                    _ => Err(ErrorCode::NotParty),
                };
                assert_eq!(got, want, "{name} accepting a {state} task");
            }
        }
        let m = moved(act(
            &Facts {
                fencing_token: 4,
                ..facts(TaskState::Posted)
            },
            Action::Accept,
            ASSIGNEE,
            &update,
        ));
        assert_eq!(m.claim, Claim::Take(5));
        assert_eq!(m.lease, Lease::Set);
        assert_eq!(m.fencing_token, Some(5));
    }

    #[test]
    fn heartbeat_renews_an_accepted_lease_for_the_claimant_and_reports_a_cancel() {
        let token = Update {
            fencing_token: Some(1),
            ..Update::default()
        };
        for state in ALL {
            let got = act(&facts(state), Action::Heartbeat, CLAIMANT, &token);
            match state {
                TaskState::Accepted => assert_eq!(got.unwrap(), Transition::Renew),
                TaskState::Cancelled => assert_eq!(got.unwrap(), Transition::Unchanged),
                _ => assert_eq!(got.unwrap_err().code, ErrorCode::InvalidState, "{state}"),
            }
        }
        let not_claimant = act(&facts(TaskState::Accepted), Action::Heartbeat, ASSIGNEE, &token);
        assert_eq!(not_claimant.unwrap_err().code, ErrorCode::NotParty);
    }

    #[test]
    fn complete_finishes_an_accepted_task_and_repeats_idempotently_with_the_same_token() {
        let update = Update {
            result: Some("done".into()),
            fencing_token: Some(1),
            ..Update::default()
        };
        for state in ALL {
            let got = act(&facts(state), Action::Complete, CLAIMANT, &update);
            match state {
                TaskState::Accepted => {
                    let m = moved(got);
                    assert_eq!(m.to, TaskState::Completed);
                    assert_eq!(m.result, Text::Set(Some("done".into())));
                    assert_eq!((m.lease, m.error), (Lease::Clear, Text::Set(None)));
                }
                TaskState::Completed => assert_eq!(got.unwrap(), Transition::Unchanged),
                _ => assert_eq!(got.unwrap_err().code, ErrorCode::InvalidState, "{state}"),
            }
        }
        // Without the token a repeat is not recognised as one.
        let tokenless = act(
            &facts(TaskState::Completed),
            Action::Complete,
            CLAIMANT,
            &Update::default(),
        );
        assert_eq!(tokenless.unwrap_err().code, ErrorCode::InvalidState);
        let by_other = act(&facts(TaskState::Accepted), Action::Complete, REQUESTER, &update);
        assert_eq!(by_other.unwrap_err().code, ErrorCode::NotParty);
    }

    #[test]
    fn accept_is_refused_while_another_task_runs_the_same_session() {
        let busy = Facts {
            session_holder: Some(5),
            ..facts(TaskState::Posted)
        };
        let got = act(&busy, Action::Accept, ASSIGNEE, &Update::default()).unwrap_err();
        assert_eq!(got.code, ErrorCode::Conflict);
        assert!(got.message.contains("task 5 is running now"), "{}", got.message);
        // The party and state rules come first: a busy session does not
        // hide who may act or from which state.
        let not_mine = act(&busy, Action::Accept, REQUESTER, &Update::default());
        assert_eq!(not_mine.unwrap_err().code, ErrorCode::NotParty);
        let accepted = Facts {
            session_holder: Some(5),
            ..facts(TaskState::Accepted)
        };
        let again = act(&accepted, Action::Accept, ASSIGNEE, &Update::default());
        assert_eq!(again.unwrap_err().code, ErrorCode::InvalidState);
        let free = moved(act(
            &facts(TaskState::Posted),
            Action::Accept,
            ASSIGNEE,
            &Update::default(),
        ));
        assert_eq!(free.to, TaskState::Accepted);
    }

    #[test]
    fn complete_and_a_final_fail_record_the_reported_session_and_a_retry_keeps_the_tasks() {
        let reported = |retry| Update {
            session: Some("thread-2".into()),
            fencing_token: Some(1),
            retry,
            ..Update::default()
        };
        let set = Text::Set(Some("thread-2".into()));
        let m = moved(act(
            &facts(TaskState::Accepted),
            Action::Complete,
            CLAIMANT,
            &reported(false),
        ));
        assert_eq!(m.session, set);
        let m = moved(act(
            &facts(TaskState::Accepted),
            Action::Fail,
            CLAIMANT,
            &reported(false),
        ));
        assert_eq!((m.to, m.session), (TaskState::Failed, set));
        let m = moved(act(
            &facts(TaskState::Accepted),
            Action::Fail,
            CLAIMANT,
            &reported(true),
        ));
        assert_eq!((m.to, m.session), (TaskState::Posted, Text::Keep));
        // Nothing reported: the task keeps the session it continues.
        let m = moved(act(
            &facts(TaskState::Accepted),
            Action::Complete,
            CLAIMANT,
            &Update::default(),
        ));
        assert_eq!(m.session, Text::Keep);
    }

    #[test]
    fn fail_fails_or_with_retry_reposts_while_attempts_remain() {
        // (attempts, max, retry) → state after
        let rows = [
            (0, 3, false, TaskState::Failed),
            (0, 3, true, TaskState::Posted),
            (1, 3, true, TaskState::Posted),
            (2, 3, true, TaskState::Failed),
            (0, 1, true, TaskState::Failed),
        ];
        for (attempts, max_attempts, retry, want) in rows {
            let task = Facts {
                attempts,
                max_attempts,
                ..facts(TaskState::Accepted)
            };
            let update = Update {
                retry,
                error: Some("boom".into()),
                ..Update::default()
            };
            let m = moved(act(&task, Action::Fail, CLAIMANT, &update));
            assert_eq!(m.to, want, "attempts {attempts}/{max_attempts}, retry {retry}");
            assert_eq!(m.attempts, Attempts::Increment);
            assert_eq!(m.error, Text::Set(Some("boom".into())));
            assert_eq!(m.note.as_deref(), Some("boom"));
            assert_eq!(
                m.claim,
                if want == TaskState::Posted {
                    Claim::Drop
                } else {
                    Claim::Keep
                }
            );
        }
        for state in ALL.into_iter().filter(|s| *s != TaskState::Accepted) {
            let got = act(&facts(state), Action::Fail, CLAIMANT, &Update::default());
            assert_eq!(got.unwrap_err().code, ErrorCode::InvalidState, "{state}");
        }
    }

    #[test]
    fn release_reposts_an_accepted_task_for_the_claimant() {
        for state in ALL {
            let got = outcome(act(&facts(state), Action::Release, CLAIMANT, &Update::default()));
            let want = if state == TaskState::Accepted {
                Ok(Some(TaskState::Posted))
            } else {
                Err(ErrorCode::InvalidState)
            };
            assert_eq!(got, want, "{state}");
        }
        let m = moved(act(
            &facts(TaskState::Accepted),
            Action::Release,
            CLAIMANT,
            &Update::default(),
        ));
        assert_eq!((m.claim, m.lease), (Claim::Drop, Lease::Clear));
    }

    #[test]
    fn reject_is_for_the_assignee_while_posted_or_accepted_and_the_requester_while_posted() {
        use TaskState::*;
        let rows: [(Party, TaskState, std::result::Result<Option<TaskState>, ErrorCode>); 8] = [
            (ASSIGNEE, Posted, Ok(Some(Rejected))),
            (ASSIGNEE, Accepted, Ok(Some(Rejected))),
            (ASSIGNEE, Completed, Err(ErrorCode::InvalidState)),
            (REQUESTER, Posted, Ok(Some(Rejected))),
            (REQUESTER, Accepted, Err(ErrorCode::InvalidState)),
            (REQUESTER, Queued, Err(ErrorCode::InvalidState)),
            (NOBODY, Posted, Err(ErrorCode::NotParty)),
            (NOBODY, Accepted, Err(ErrorCode::NotParty)),
        ];
        for (by, state, want) in rows {
            assert_eq!(
                outcome(act(&facts(state), Action::Reject, by, &Update::default())),
                want,
                "{by:?} rejecting a {state} task"
            );
        }
    }

    #[test]
    fn cancel_is_for_the_requester_from_any_non_terminal_state() {
        for state in ALL {
            let got = outcome(act(&facts(state), Action::Cancel, REQUESTER, &Update::default()));
            let want = if state.is_terminal() {
                Err(ErrorCode::InvalidState)
            } else {
                Ok(Some(TaskState::Cancelled))
            };
            assert_eq!(got, want, "{state}");
            let by_assignee = act(&facts(state), Action::Cancel, CLAIMANT, &Update::default());
            assert_eq!(by_assignee.unwrap_err().code, ErrorCode::NotParty);
        }
    }

    #[test]
    fn recover_reposts_a_parked_task_for_the_requester_with_attempts_reset() {
        for state in ALL {
            let got = outcome(act(&facts(state), Action::Recover, REQUESTER, &Update::default()));
            let want = if state == TaskState::NeedsRecovery {
                Ok(Some(TaskState::Posted))
            } else {
                Err(ErrorCode::InvalidState)
            };
            assert_eq!(got, want, "{state}");
        }
        let m = moved(act(
            &facts(TaskState::NeedsRecovery),
            Action::Recover,
            REQUESTER,
            &Update::default(),
        ));
        assert_eq!(
            (m.attempts, m.claim, m.clear_expiry),
            (Attempts::Reset, Claim::Drop, true)
        );
        let by_assignee = act(
            &facts(TaskState::NeedsRecovery),
            Action::Recover,
            ASSIGNEE,
            &Update::default(),
        );
        assert_eq!(by_assignee.unwrap_err().code, ErrorCode::NotParty);
    }

    #[test]
    fn the_operator_cancels_any_open_task_and_recovers_a_parked_one_as_the_requester_would() {
        for state in ALL {
            let trigger = Trigger::Operator {
                action: OperatorAction::Cancel,
                reason: None,
            };
            let want = if state.is_terminal() {
                Err(ErrorCode::InvalidState)
            } else {
                Ok(Some(TaskState::Cancelled))
            };
            assert_eq!(outcome(transition(&facts(state), &trigger)), want, "cancel {state}");
            let trigger = Trigger::Operator {
                action: OperatorAction::Recover,
                reason: None,
            };
            let want = if state == TaskState::NeedsRecovery {
                Ok(Some(TaskState::Posted))
            } else {
                Err(ErrorCode::InvalidState)
            };
            assert_eq!(outcome(transition(&facts(state), &trigger)), want, "recover {state}");
        }
        let by_operator = moved(transition(
            &facts(TaskState::NeedsRecovery),
            &Trigger::Operator {
                action: OperatorAction::Recover,
                reason: None,
            },
        ));
        let by_requester = moved(act(
            &facts(TaskState::NeedsRecovery),
            Action::Recover,
            REQUESTER,
            &Update::default(),
        ));
        assert_eq!(by_operator, by_requester);
        let by_operator = moved(transition(
            &facts(TaskState::Accepted),
            &Trigger::Operator {
                action: OperatorAction::Cancel,
                reason: Some("stuck"),
            },
        ));
        let by_requester = moved(act(
            &facts(TaskState::Accepted),
            Action::Cancel,
            REQUESTER,
            &Update::default(),
        ));
        assert_eq!(by_operator.note.as_deref(), Some("stuck"));
        assert_eq!(
            Move {
                note: None,
                ..by_operator
            },
            by_requester
        );
    }

    #[test]
    fn a_stale_fencing_token_is_stale_lease_whoever_acts_and_changes_nothing() {
        let task = Facts {
            fencing_token: 3,
            ..facts(TaskState::Accepted)
        };
        let stale = Update {
            fencing_token: Some(2),
            ..Update::default()
        };
        for action in [
            Action::Heartbeat,
            Action::Complete,
            Action::Fail,
            Action::Release,
            Action::Reject,
            Action::Cancel,
            Action::Recover,
        ] {
            for by in [CLAIMANT, REQUESTER, NOBODY] {
                let got = act(&task, action, by, &stale);
                assert_eq!(got.unwrap_err().code, ErrorCode::StaleLease, "{action} by {by:?}");
            }
        }
        // A newer (unknown) token is stale for the claimant too.
        let ahead = Update {
            fencing_token: Some(9),
            ..Update::default()
        };
        assert_eq!(
            act(&task, Action::Complete, CLAIMANT, &ahead).unwrap_err().code,
            ErrorCode::StaleLease
        );
    }

    #[test]
    fn a_tokenless_claimant_action_needs_the_token_once_accepted_twice() {
        for (token, want) in [(1, Ok(Some(TaskState::Completed))), (2, Err(ErrorCode::Validation))] {
            let task = Facts {
                fencing_token: token,
                ..facts(TaskState::Accepted)
            };
            assert_eq!(
                outcome(act(&task, Action::Complete, CLAIMANT, &Update::default())),
                want,
                "token {token}"
            );
        }
    }

    #[test]
    fn park_moves_an_accepted_task_to_needs_recovery_for_its_claimant() {
        let park = |state, by, token| {
            transition(
                &facts(state),
                &Trigger::Park {
                    by,
                    fencing_token: token,
                    reason: "worker stopped",
                },
            )
        };
        let m = moved(park(TaskState::Accepted, CLAIMANT, 1));
        assert_eq!((m.to, m.step), (TaskState::NeedsRecovery, Step::Park));
        assert_eq!(m.error, Text::Set(Some("worker stopped".into())));
        assert_eq!(m.fencing_token, Some(1));
        assert_eq!(
            park(TaskState::Accepted, ASSIGNEE, 1).unwrap_err().code,
            ErrorCode::NotParty
        );
        assert_eq!(
            park(TaskState::Accepted, CLAIMANT, 0).unwrap_err().code,
            ErrorCode::StaleLease
        );
        assert_eq!(
            park(TaskState::Posted, CLAIMANT, 1).unwrap_err().code,
            ErrorCode::InvalidState
        );
    }

    #[test]
    fn routing_assigns_a_queued_task_and_nothing_else() {
        for state in ALL {
            let got = transition(&facts(state), &Trigger::Route { to: "w1" });
            if state == TaskState::Queued {
                let m = moved(got);
                assert_eq!((m.to, m.assign.as_deref()), (TaskState::Posted, Some("w1")));
            } else {
                assert_eq!(got.unwrap_err().code, ErrorCode::InvalidState, "{state}");
            }
        }
    }

    #[test]
    fn lease_expiry_parks_write_task_instead_of_requeue() {
        let task = Facts {
            write: true,
            ..facts(TaskState::Accepted)
        };
        let m = moved(transition(&task, &Trigger::LeaseExpired));
        assert_eq!(m.to, TaskState::NeedsRecovery);
        assert_eq!(m.attempts, Attempts::Keep);
        assert_eq!(m.error, Text::Set(Some("lease expired (attempt 1 of 3)".into())));
    }

    #[test]
    fn lease_expiry_requeues_with_one_more_attempt_until_attempts_are_exhausted() {
        // (attempts before, max, auto_routed) → (state after, re-routable)
        let rows = [
            (0, 3, false, TaskState::Posted, false),
            (1, 3, true, TaskState::Posted, true),
            (2, 3, true, TaskState::Failed, false),
            (0, 1, false, TaskState::Failed, false),
        ];
        for (attempts, max_attempts, auto_routed, want, reroute) in rows {
            let task = Facts {
                attempts,
                max_attempts,
                auto_routed,
                ..facts(TaskState::Accepted)
            };
            let m = moved(transition(&task, &Trigger::LeaseExpired));
            assert_eq!(
                (m.to, m.reroute),
                (want, reroute),
                "attempt {attempts} of {max_attempts}"
            );
            assert_eq!(m.attempts, Attempts::Increment);
            assert_eq!(m.lease, Lease::Clear);
            assert_eq!(
                m.claim,
                if want == TaskState::Posted {
                    Claim::Drop
                } else {
                    Claim::Keep
                }
            );
        }
        for state in ALL.into_iter().filter(|s| *s != TaskState::Accepted) {
            let got = transition(&facts(state), &Trigger::LeaseExpired);
            assert_eq!(got.unwrap_err().code, ErrorCode::InvalidState, "{state}");
        }
    }

    #[test]
    fn ttl_expiry_expires_live_tasks_and_parks_an_accepted_write_task() {
        use TaskState::*;
        // (state, write) → state after, or refused
        let rows = [
            (Queued, false, Some(Expired)),
            (Posted, true, Some(Expired)),
            (Accepted, false, Some(Expired)),
            (Accepted, true, Some(NeedsRecovery)),
            (NeedsRecovery, true, None),
            (Completed, false, None),
        ];
        for (state, write, want) in rows {
            let task = Facts { write, ..facts(state) };
            let got = transition(&task, &Trigger::TtlExpired);
            match want {
                Some(to) => {
                    let m = moved(got);
                    assert_eq!(m.to, to, "{state}, write {write}");
                    assert_eq!(m.error, Text::Set(Some("ttl expired".into())));
                }
                None => assert_eq!(got.unwrap_err().code, ErrorCode::InvalidState),
            }
        }
    }

    #[test]
    fn task_states_print_and_parse_as_their_stored_words() {
        for s in ALL {
            assert_eq!(s.to_string().parse::<TaskState>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!("lost".parse::<TaskState>().unwrap_err().code, ErrorCode::Validation);
    }
}
