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

pub use executor::Executor;

use crate::error::{ErrorCode, Result};
use crate::store::tasks::{Action, Task, TaskState, Update};
use crate::store::{Caller, Store};

/// How long a child gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);
/// How often an idle worker looks for new tasks. The look is one indexed
/// read (no write transaction unless a lease or TTL is due), so polling
/// this often costs well under 1% of a core.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How much of stderr a failure reports, in bytes (the tail).
pub const STDERR_TAIL_BYTES: usize = 4096;

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
            self.title
        );
        if let Some(err) = &self.error {
            line.push_str(" — ");
            line.push_str(err.lines().next().unwrap_or(""));
        }
        line
    }
}

fn caller(cfg: &Config) -> Caller<'_> {
    Caller {
        agent: &cfg.agent,
        transport: "worker",
    }
}

async fn store_call<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| crate::Error::internal(format!("store task failed: {e}")))?
}

/// Runs the worker until `--once` has drained its tasks or `shutdown` fires
/// (SIGTERM/Ctrl-C in the CLI), calling `report` for every finished task.
///
/// Errors: the worker's agent cannot be bound (revoked, bad name), or the
/// store fails.
pub async fn run(
    store: Arc<Store>,
    cfg: Config,
    shutdown: CancellationToken,
    mut report: impl FnMut(&Report),
) -> Result<()> {
    let agent = cfg.agent.clone();
    store_call(&store, move |s| s.bind_worker(&agent, "worker")).await?;
    let cfg = Arc::new(cfg);
    let mut running: JoinSet<Report> = JoinSet::new();
    loop {
        while running.len() < cfg.concurrency && !shutdown.is_cancelled() {
            match claim(&store, &cfg).await? {
                Some((task, token)) => {
                    running.spawn(run_task(
                        store.clone(),
                        cfg.clone(),
                        task,
                        token,
                        shutdown.child_token(),
                    ));
                }
                None => break,
            }
        }
        if running.is_empty() && (cfg.once || shutdown.is_cancelled()) {
            return Ok(());
        }
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                match done {
                    Ok(r) => report(&r),
                    Err(e) => tracing::error!("a task runner failed: {e}"),
                }
            }
            _ = tokio::time::sleep(POLL_INTERVAL), if !cfg.once => {}
            _ = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
        }
    }
}

/// Accepts the next task for the worker's agent; `None` when there is none.
async fn claim(store: &Arc<Store>, cfg: &Arc<Config>) -> Result<Option<(Task, i64)>> {
    loop {
        let c = cfg.clone();
        let Some(task) = store_call(store, move |s| s.next_task(caller(&c))).await? else {
            return Ok(None);
        };
        let c = cfg.clone();
        let id = task.id;
        let accepted = store_call(store, move |s| {
            let update = Update {
                lease_seconds: Some(c.lease_seconds),
                ..Default::default()
            };
            s.update_task(caller(&c), id, Action::Accept, &update)
        })
        .await;
        match accepted {
            Ok(task) => {
                let token = task.fencing_token;
                return Ok(Some((task, token)));
            }
            // Another worker of the same agent won the race: try the next.
            Err(e) if matches!(e.code, ErrorCode::InvalidState | ErrorCode::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn finish(store: &Arc<Store>, cfg: &Arc<Config>, id: i64, action: Action, update: Update) -> Result<Task> {
    let c = cfg.clone();
    store_call(store, move |s| s.update_task(caller(&c), id, action, &update)).await
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

fn tail(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).trim().to_owned()
}

/// Signals the child's process group: SIGTERM, then SIGKILL after
/// [`KILL_GRACE`] if it is still running.
async fn stop(child: &mut tokio::process::Child) {
    let Some(pid) = child.id() else { return };
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    } else {
        // The leader exited; make sure nothing it started lingers.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

enum Ending {
    Exited(std::process::ExitStatus),
    Cancelled,
    LostLease(String),
    TimedOut,
    Shutdown,
}

async fn run_task(store: Arc<Store>, cfg: Arc<Config>, task: Task, token: i64, shutdown: CancellationToken) -> Report {
    let started = Instant::now();
    let mut report = Report {
        task_id: task.id,
        title: task.title.clone(),
        outcome: Outcome::Failed,
        duration_ms: 0,
        exit_code: None,
        error: None,
    };
    let fail = |error: String| Update {
        error: Some(error),
        fencing_token: Some(token),
        ..Default::default()
    };
    if task.write && !cfg.allow_writes {
        let why = "write task refused: this worker runs without --allow-writes".to_owned();
        let _ = finish(&store, &cfg, task.id, Action::Fail, fail(why.clone())).await;
        report.outcome = Outcome::Refused;
        report.error = Some(why);
        report.duration_ms = started.elapsed().as_millis() as u64;
        return report;
    }

    let prepared = cfg.executor.prepare(&task, &cfg.cwd);
    let mut command = prepared.command;
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let why = format!("cannot start the {} executor: {e}", cfg.executor.name());
            let _ = finish(&store, &cfg, task.id, Action::Fail, fail(why.clone())).await;
            report.error = Some(why);
            report.duration_ms = started.elapsed().as_millis() as u64;
            return report;
        }
    };
    if let (Some(text), Some(mut stdin)) = (prepared.stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
        });
    }
    let limit = store.limits().max_content_bytes;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf).await;
        buf
    });
    let err_reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });

    let beat = Duration::from_millis(u64::from(cfg.lease_seconds) * 250).max(Duration::from_millis(100));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    let deadline = cfg.timeout.map(|t| tokio::time::Instant::now() + t);
    let ending = loop {
        tokio::select! {
            status = child.wait() => break match status {
                Ok(status) => Ending::Exited(status),
                Err(e) => Ending::LostLease(format!("waiting for the child failed: {e}")),
            },
            _ = heartbeat.tick() => {
                let hb = Update { lease_seconds: Some(cfg.lease_seconds), fencing_token: Some(token), ..Default::default() };
                match finish(&store, &cfg, task.id, Action::Heartbeat, hb).await {
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
    if !matches!(ending, Ending::Exited(_)) {
        stop(&mut child).await;
    }
    let out = out_reader.await.unwrap_or_default();
    let err = err_reader.await.unwrap_or_default();
    let result_text = match &prepared.output_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).ok().filter(|t| !t.trim().is_empty());
            let _ = std::fs::remove_file(file);
            text.unwrap_or_else(|| String::from_utf8_lossy(&out).into_owned())
        }
        None => String::from_utf8_lossy(&out).into_owned(),
    };

    let outcome = match ending {
        Ending::Exited(status) if status.success() => {
            report.exit_code = status.code();
            let done = Update {
                result: Some(truncate(result_text, limit)),
                fencing_token: Some(token),
                ..Default::default()
            };
            match finish(&store, &cfg, task.id, Action::Complete, done).await {
                Ok(_) => Outcome::Completed,
                Err(e) => {
                    report.error = Some(format!("could not record the result: {e}"));
                    Outcome::LostLease
                }
            }
        }
        Ending::Exited(status) => {
            report.exit_code = status.code();
            let why = match status.code() {
                Some(code) => format!("exit code {code}: {}", tail(&err, STDERR_TAIL_BYTES)),
                None => format!("killed by a signal: {}", tail(&err, STDERR_TAIL_BYTES)),
            };
            report.error = Some(why.clone());
            let _ = finish(&store, &cfg, task.id, Action::Fail, fail(truncate(why, limit))).await;
            Outcome::Failed
        }
        Ending::TimedOut => {
            let why = format!("timed out after {}s", cfg.timeout.unwrap_or_default().as_secs());
            report.error = Some(why.clone());
            let _ = finish(&store, &cfg, task.id, Action::Fail, fail(why)).await;
            Outcome::TimedOut
        }
        Ending::Cancelled => Outcome::Cancelled,
        Ending::LostLease(why) => {
            report.error = Some(why);
            Outcome::LostLease
        }
        Ending::Shutdown if task.write => {
            let c = cfg.clone();
            let id = task.id;
            let parked = store_call(&store, move |s| {
                s.park_task(caller(&c), id, token, "the worker shut down mid-run")
            })
            .await;
            report.error = parked.err().map(|e| e.message);
            Outcome::Parked
        }
        Ending::Shutdown => {
            let release = Update {
                fencing_token: Some(token),
                ..Default::default()
            };
            report.error = finish(&store, &cfg, task.id, Action::Release, release)
                .await
                .err()
                .map(|e| e.message);
            Outcome::Released
        }
    };
    report.outcome = outcome;
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}
