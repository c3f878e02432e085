//! `relay worker`: claims tasks addressed to one agent and runs them
//! through an [`Executor`] (SPEC §4 Workers).
//!
//! Each task is accepted under a lease (`--lease-seconds`), heartbeated
//! every lease/4 and completed or failed with its fencing token, so a
//! worker that dies loses its claim when the lease runs out and another
//! worker takes over. Cancellation, a lost lease or `--timeout-seconds`
//! stop the child: SIGTERM to its process group, SIGKILL after a grace.
//! SIGTERM or Ctrl-C to the worker releases read-only tasks in flight and
//! parks write tasks (`needs_recovery`): nothing is re-run silently.
//!
//! A task with a `session` continues that executor conversation (codex
//! `exec resume`, claude `--resume`), and every run records the session
//! it ran in on the task ([`executor`]). The store lets one task per
//! session be accepted at a time; the claim loop skips a task whose
//! session is busy (it stays posted), so `--concurrency N` runs tasks of
//! different sessions side by side and those of one session in turn.
//!
//! The tasks live behind a [`Backend`]: the local store, or a hub reached
//! over MCP (`relay worker --hub`, SPEC §7); this loop is the same for
//! both.

pub mod backend;
pub mod executor;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use backend::Backend;
pub use executor::{Executor, Verdict};

use crate::error::{ErrorCode, Result};
use crate::store::Store;
use crate::store::tasks::{Action, Task, TaskState, Update};

/// How long a child gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
/// How often an idle worker looks for new tasks. The look is one indexed
/// read (no write transaction unless a lease or TTL is due), so polling
/// this often costs well under 1% of a core.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How much of stderr a failure reports, in bytes (the tail).
pub const STDERR_TAIL_BYTES: usize = 4096;
/// How often an idle worker refreshes its agent's presence (so routing
/// keeps choosing it) and offers queued tasks around, in seconds.
pub const PRESENCE_TICK: Duration = Duration::from_secs(60);
/// How long after the child exits its pipes may stay open (a background
/// process it left behind) before the worker stops its process group.
pub const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// What a worker runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The agent whose tasks to claim.
    pub agent: String,
    /// How tasks run.
    pub executor: Executor,
    /// Run write tasks (refused, without starting the executor, otherwise).
    pub allow_writes: bool,
    /// Drain what is claimable, then exit.
    pub once: bool,
    /// Tasks run at the same time.
    pub concurrency: usize,
    /// Lease per claim, in seconds; heartbeats every quarter of it.
    pub lease_seconds: u32,
    /// Kill a task's child after this long.
    pub timeout: Option<Duration>,
    /// Working directory for children.
    pub cwd: PathBuf,
}

/// How a task ended, from this worker's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The executor succeeded; the task is completed.
    Completed,
    /// The executor failed (non-zero exit, or it could not start).
    Failed,
    /// A write task refused because of no `--allow-writes`.
    Refused,
    /// It ran past `--timeout-seconds` and was killed; the task failed.
    TimedOut,
    /// The requester cancelled it; the child was stopped.
    Cancelled,
    /// The lease was lost (another claim took over); the child was stopped.
    LostLease,
    /// The worker is shutting down: a read-only task given back.
    Released,
    /// The worker is shutting down: a write task parked for recovery.
    Parked,
}

/// `text` with control characters (newlines, tabs, escapes) as spaces, so
/// a report stays one line whatever a task's title holds.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// One finished task, as the worker reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Task id.
    pub task_id: i64,
    /// Task title.
    pub title: String,
    /// What happened.
    pub outcome: Outcome,
    /// Time from claim to end, in milliseconds.
    pub duration_ms: u64,
    /// The child's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Why it did not complete.
    pub error: Option<String>,
    /// The executor session the task ran in, as the executor reported it
    /// (the task's `session` after it ended; continue the conversation by
    /// posting a task with it).
    pub session: Option<String>,
}

impl Report {
    /// The one-line human form, e.g. `task 12 completed in 0.3s: build`.
    pub fn line(&self) -> String {
        let secs = self.duration_ms as f64 / 1000.0;
        let outcome = serde_json::to_value(self.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        let mut line = format!(
            "task {} {} in {secs:.1}s: {}",
            self.task_id,
            outcome.unwrap_or_default().replace('_', " "),
            one_line(&self.title)
        );
        if let Some(session) = &self.session {
            line.push_str(&format!(" (session {})", one_line(session)));
        }
        if let Some(err) = &self.error {
            line.push_str(" — ");
            line.push_str(&one_line(err.lines().next().unwrap_or("")));
        }
        line
    }
}

/// Errors a worker cannot recover from by waiting: its agent lost its
/// rights, or the store is unusable.
fn is_fatal(e: &crate::Error) -> bool {
    matches!(
        e.code,
        ErrorCode::AuthFailed | ErrorCode::CapDenied | ErrorCode::CorruptStore | ErrorCode::SchemaMismatch
    )
}

/// Consecutive transient failures `--once` tolerates before giving up.
const ONCE_MAX_FAILURES: u32 = 10;

/// Runs the worker until `--once` has drained its tasks or `shutdown` fires
/// (SIGTERM/Ctrl-C in the CLI), calling `report` for every finished task.
///
/// A transient store error (a lock timeout) backs off and retries; a fatal
/// one (the agent revoked, the store corrupt) stops claiming, lets running
/// tasks release or park, and is returned.
///
/// Errors: the worker's agent cannot be bound (revoked, bad name), or a
/// fatal store error.
pub async fn run(
    store: Arc<Store>,
    cfg: Config,
    shutdown: CancellationToken,
    report: impl FnMut(&Report),
) -> Result<()> {
    run_on(Backend::Local(store), cfg, shutdown, report).await
}

/// [`run`] against any [`Backend`]: the local store or a hub. At a hub,
/// an unreachable hub is transient like a locked store: claiming backs
/// off and retries, and the worker keeps running through a hub restart.
///
/// Errors: the agent cannot be bound (at a hub: the token is refused or
/// names another agent, or the hub cannot be reached at start), or a
/// fatal error.
pub async fn run_on(
    backend: Backend,
    cfg: Config,
    shutdown: CancellationToken,
    mut report: impl FnMut(&Report),
) -> Result<()> {
    backend.bind(&cfg.agent).await?;
    let store = backend;
    let cfg = Arc::new(cfg);
    let mut running: JoinSet<Report> = JoinSet::new();
    let mut presence = tokio::time::interval_at(tokio::time::Instant::now() + PRESENCE_TICK, PRESENCE_TICK);
    let mut fatal: Option<crate::Error> = None;
    let mut failures = 0u32;
    let mut backoff = false;
    loop {
        while !backoff && running.len() < cfg.concurrency && !shutdown.is_cancelled() {
            match claim(&store, &cfg).await {
                Ok(Some((task, token))) => {
                    failures = 0;
                    running.spawn(run_task(
                        store.clone(),
                        cfg.clone(),
                        task,
                        token,
                        shutdown.child_token(),
                    ));
                }
                Ok(None) => break,
                Err(e) if is_fatal(&e) => {
                    tracing::error!("stopping: {e}");
                    fatal = Some(e);
                    shutdown.cancel();
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!("claiming failed, retrying: {e}");
                    if cfg.once && failures >= ONCE_MAX_FAILURES {
                        fatal = Some(e);
                        shutdown.cancel();
                    }
                    backoff = true;
                }
            }
        }
        if running.is_empty() && ((cfg.once && !backoff) || shutdown.is_cancelled()) {
            return fatal.map_or(Ok(()), Err);
        }
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                match done {
                    Ok(r) => report(&r),
                    Err(e) => tracing::error!("a task runner failed: {e}"),
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)), if backoff => backoff = false,
            () = store.idle(), if !cfg.once && !backoff => {}
            _ = presence.tick() => {
                if let Err(e) = store.presence(&cfg.agent).await {
                    tracing::warn!("presence tick failed: {e}");
                }
            }
            _ = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
        }
    }
}

/// Accepts the next task for the worker's agent; `None` when there is
/// none it may take now. A task refused once in this round (another
/// worker took it, or another task is running its executor session: the
/// per-session lease) is not tried again: it comes back as the next task
/// only at a hub, whose listing cannot leave it out, and the worker then
/// waits for the next round instead of spinning on it.
async fn claim(store: &Backend, cfg: &Arc<Config>) -> Result<Option<(Task, i64)>> {
    let mut refused = std::collections::HashSet::new();
    loop {
        let Some(task) = store.next_task(&cfg.agent).await? else {
            return Ok(None);
        };
        if !refused.insert(task.id) {
            return Ok(None);
        }
        let update = Update {
            lease_seconds: Some(cfg.lease_seconds),
            ..Default::default()
        };
        let accepted = store.update(&cfg.agent, task.id, Action::Accept, update).await;
        match accepted {
            Ok(task) => {
                let token = task.fencing_token;
                return Ok(Some((task, token)));
            }
            // Another worker of the same agent won the race, or the task's
            // executor session is busy: try the next.
            Err(e) if matches!(e.code, ErrorCode::InvalidState | ErrorCode::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Records the end of a task, retrying transient failures (a lock timeout)
/// until `deadline`: a result must not be lost to a busy store. Repeating
/// `complete` with the same fencing token is idempotent, so retrying is
/// safe. Final answers (a stale lease, a task no longer accepted) return.
async fn finish(
    store: &Backend,
    cfg: &Arc<Config>,
    id: i64,
    action: Action,
    update: Update,
    deadline: Instant,
) -> Result<Task> {
    let mut pause = Duration::from_millis(50);
    loop {
        match store.update(&cfg.agent, id, action, update.clone()).await {
            Ok(task) => return Ok(task),
            Err(e)
                if matches!(
                    e.code,
                    ErrorCode::Timeout | ErrorCode::StorageFull | ErrorCode::Internal | ErrorCode::Conflict
                ) && Instant::now() + pause < deadline =>
            {
                tracing::warn!(task = id, "recording the outcome failed, retrying: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

fn truncate(mut text: String, max_bytes: usize) -> String {
    if text.len() > max_bytes {
        let mut cut = max_bytes.saturating_sub(16);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n…(truncated)");
    }
    text
}

/// Reads a pipe to its end, keeping the first `head` bytes and the last
/// `tail` bytes (memory stays bounded whatever the child prints).
async fn read_bounded(mut pipe: impl tokio::io::AsyncRead + Unpin, head: usize, tail: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut first, mut last) = (Vec::new(), std::collections::VecDeque::new());
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        let room = head.saturating_sub(first.len());
        first.extend_from_slice(&chunk[..room.min(n)]);
        last.extend(chunk.iter().copied());
        while last.len() > tail {
            last.pop_front();
        }
    }
    (first, last.into_iter().collect())
}

fn group_exists(group: Option<Pid>) -> bool {
    group.is_some_and(|g| killpg(g, None).is_ok())
}

fn signal_group(group: Option<Pid>, signal: Signal) {
    if let Some(g) = group {
        let _ = killpg(g, signal);
    }
}

/// Stops the child's whole process group: SIGTERM, then SIGKILL after
/// [`KILL_GRACE`] for whatever is left (the leader or anything it started).
async fn stop_group(child: &mut tokio::process::Child, group: Option<Pid>) {
    if !group_exists(group) {
        let _ = child.start_kill();
        let _ = child.wait().await;
        return;
    }
    signal_group(group, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + KILL_GRACE;
    let _ = tokio::time::timeout_at(deadline, child.wait()).await;
    while group_exists(group) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if group_exists(group) {
        signal_group(group, Signal::SIGKILL);
    }
    let _ = child.wait().await;
}

enum Ending {
    Exited(std::process::ExitStatus),
    Cancelled,
    LostLease(String),
    TimedOut,
    Shutdown,
}

/// Gives a claimed task back because the worker is stopping: release a
/// read-only task, park a write task.
async fn hand_back(store: &Backend, cfg: &Arc<Config>, task: &Task, token: i64, report: &mut Report) {
    let deadline = Instant::now() + Duration::from_secs(u64::from(cfg.lease_seconds));
    if task.write {
        report.error = match store
            .park(&cfg.agent, task.id, token, "the worker shut down mid-run")
            .await
        {
            Ok(Some(_)) => None,
            Ok(None) => Some(format!(
                "left claimed: the hub parks it (needs_recovery) when its lease ends, within {} s",
                cfg.lease_seconds
            )),
            Err(e) => Some(e.message),
        };
        report.outcome = Outcome::Parked;
    } else {
        let release = Update {
            fencing_token: Some(token),
            ..Default::default()
        };
        report.error = finish(store, cfg, task.id, Action::Release, release, deadline)
            .await
            .err()
            .map(|e| e.message);
        report.outcome = Outcome::Released;
    }
}

async fn run_task(store: Backend, cfg: Arc<Config>, task: Task, token: i64, shutdown: CancellationToken) -> Report {
    let started = Instant::now();
    let lease_end = || Instant::now() + Duration::from_secs(u64::from(cfg.lease_seconds));
    let mut report = Report {
        task_id: task.id,
        title: task.title.clone(),
        outcome: Outcome::Failed,
        duration_ms: 0,
        exit_code: None,
        error: None,
        session: None,
    };
    let fail = |error: String| Update {
        error: Some(error),
        fencing_token: Some(token),
        ..Default::default()
    };
    let done = |mut report: Report| {
        report.duration_ms = started.elapsed().as_millis() as u64;
        report
    };
    if shutdown.is_cancelled() {
        // Stopping before the executor started: nothing ran, give it back.
        hand_back(&store, &cfg, &task, token, &mut report).await;
        return done(report);
    }
    if task.write && !cfg.allow_writes {
        let why = "write task refused: this worker runs without --allow-writes".to_owned();
        let _ = finish(&store, &cfg, task.id, Action::Fail, fail(why.clone()), lease_end()).await;
        report.outcome = Outcome::Refused;
        report.error = Some(why);
        return done(report);
    }

    let spawned = cfg
        .executor
        .prepare(&task, &cfg.cwd)
        .and_then(|mut p| p.command.spawn().map(|child| (p, child)));
    let (prepared, mut child) = match spawned {
        Ok(ok) => ok,
        Err(e) => {
            let why = format!("cannot start the {} executor: {e}", cfg.executor.name());
            let _ = finish(&store, &cfg, task.id, Action::Fail, fail(why.clone()), lease_end()).await;
            report.error = Some(why);
            return done(report);
        }
    };
    // The child leads its own group (pid = pgid). Never 0: killpg(0) would
    // signal the worker's own group.
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .filter(|pid| *pid > 0)
        .map(Pid::from_raw);
    if let (Some(text), Some(mut stdin)) = (prepared.stdin.clone(), child.stdin.take()) {
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
        });
    }
    let limit = store.max_content_bytes();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut out_reader = tokio::spawn(read_bounded(stdout, prepared.stdout_bytes(limit), 0));
    let mut err_reader = tokio::spawn(read_bounded(stderr, 0, STDERR_TAIL_BYTES));

    let beat = Duration::from_millis(u64::from(cfg.lease_seconds) * 250).max(Duration::from_millis(100));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    let deadline = cfg.timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    let ending = loop {
        tokio::select! {
            status = child.wait() => break match status {
                Ok(status) => Ending::Exited(status),
                Err(e) => Ending::LostLease(format!("waiting for the child failed: {e}")),
            },
            _ = heartbeat.tick() => {
                let hb = Update { lease_seconds: Some(cfg.lease_seconds), fencing_token: Some(token), ..Default::default() };
                match store.update(&cfg.agent, task.id, Action::Heartbeat, hb).await {
                    Ok(t) if t.state == TaskState::Cancelled => break Ending::Cancelled,
                    Ok(_) => {}
                    Err(e) if matches!(e.code, ErrorCode::StaleLease | ErrorCode::InvalidState | ErrorCode::NotParty) => {
                        break Ending::LostLease(e.message);
                    }
                    Err(e) => tracing::warn!(task = task.id, "heartbeat failed, will retry: {e}"),
                }
            }
            _ = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                break Ending::TimedOut;
            }
            _ = shutdown.cancelled() => break Ending::Shutdown,
        }
    };
    // Whatever happened, nothing the task started may outlive it: after a
    // normal exit, give open pipes a moment (a background process holding
    // them), then stop the group; otherwise stop it now.
    let (mut out, mut err) = (None, None);
    if matches!(ending, Ending::Exited(_)) {
        let _ = tokio::time::timeout(DRAIN_GRACE, async {
            out = Some((&mut out_reader).await.unwrap_or_default());
            err = Some((&mut err_reader).await.unwrap_or_default());
        })
        .await;
    }
    if out.is_none() || err.is_none() {
        stop_group(&mut child, group).await;
        let read_deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        if out.is_none() {
            out = tokio::time::timeout_at(read_deadline, &mut out_reader)
                .await
                .ok()
                .and_then(Result::ok);
        }
        if err.is_none() {
            err = tokio::time::timeout_at(read_deadline, &mut err_reader)
                .await
                .ok()
                .and_then(Result::ok);
        }
        out_reader.abort();
        err_reader.abort();
    }
    let (out, _) = out.unwrap_or_default();
    let (_, err) = err.unwrap_or_default();
    match ending {
        Ending::Exited(status) => {
            report.exit_code = status.code();
            // Read while `prepared` (its result and session files) lives.
            match prepared.verdict(status, &out, &err) {
                Verdict::Complete { result, session } => {
                    report.session = session.clone().or_else(|| task.session.clone());
                    let update = Update {
                        result: Some(truncate(result, limit)),
                        fencing_token: Some(token),
                        session,
                        ..Default::default()
                    };
                    report.outcome = match finish(&store, &cfg, task.id, Action::Complete, update, lease_end()).await {
                        Ok(_) => Outcome::Completed,
                        Err(e) => {
                            report.error = Some(format!("could not record the result: {e}"));
                            Outcome::LostLease
                        }
                    };
                }
                Verdict::Fail { error, session } => {
                    report.error = Some(error.clone());
                    report.session = session.clone().or_else(|| task.session.clone());
                    // Final, never retried (a missing session above all).
                    let update = Update {
                        session,
                        ..fail(truncate(error, limit))
                    };
                    let _ = finish(&store, &cfg, task.id, Action::Fail, update, lease_end()).await;
                    report.outcome = Outcome::Failed;
                }
            }
        }
        Ending::TimedOut => {
            let why = format!("timed out after {}s", cfg.timeout.unwrap_or_default().as_secs());
            report.error = Some(why.clone());
            let _ = finish(&store, &cfg, task.id, Action::Fail, fail(why), lease_end()).await;
            report.outcome = Outcome::TimedOut;
        }
        Ending::Cancelled => report.outcome = Outcome::Cancelled,
        Ending::LostLease(why) => {
            report.error = Some(why);
            report.outcome = Outcome::LostLease;
        }
        Ending::Shutdown => hand_back(&store, &cfg, &task, token, &mut report).await,
    }
    drop(prepared);
    done(report)
}
