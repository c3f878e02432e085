//! Where a worker's tasks live: the local store, or a hub over MCP (SPEC
//! §4 Workers, §7). The claim loop, executors, leases, cancellation and
//! shutdown in [`super`] are the same for both; only these calls differ.
//!
//! | call | local store | hub (MCP tools, 2025-11-25 session) |
//! |---|---|---|
//! | bind | `bind_worker` (registers NAME with `tasks` if new) | `health_check`: the token must name NAME (registering is `relay pair`'s job) |
//! | next task | `next_task` (priority, then id) | `get_tasks` role assigned, status posted, in the same order; the page is kept for [`HUB_PAGE_TTL`] and tried in turn (a task another worker took fails `accept` with `INVALID_STATE`, one whose executor session another task is running fails it with `CONFLICT`, and the next is tried) |
//! | accept, heartbeat, complete, fail, release | `update_task` | `update_task` with the same arguments and fencing token (complete and fail with the executor's `session`) |
//! | park (shutdown, write task) | `park_task` → `needs_recovery` now | no tool parks: heartbeats stop and the hub parks the task when its lease ends (`needs_recovery`, never re-run) |
//! | idle wait | [`super::POLL_INTERVAL`] | `notifications/resources/updated` for `relay://inbox/NAME`, or [`HUB_POLL`] |
//! | presence | `touch_agent` + `route_queued` every [`super::PRESENCE_TICK`] | the hub keeps its sessions' agents present |
//!
//! A hub that cannot be reached gives [`ErrorCode::Timeout`]: the loop
//! backs off and retries, and results are retried until the lease would
//! end (`complete` with the same fencing token is idempotent).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, ErrorCode, Result};
use crate::remote::session::HubSession;
use crate::store::executor::blocking;
use crate::store::tasks::{Action, Task, TaskPriority, TaskState, Update};
use crate::store::{Caller, Limits, Store, Transport};

/// How often an idle remote worker asks the hub for tasks when no
/// notification came (a missed one, or a hub without subscriptions), in
/// seconds.
pub const HUB_POLL: Duration = Duration::from_secs(2);
/// Posted tasks one `get_tasks` looks at (the tool's maximum).
pub const HUB_PAGE: u32 = 100;
/// How long a page of posted tasks is tried before the hub is asked
/// again, in milliseconds: a busy worker does one `get_tasks` per page,
/// not per task, and a newer critical task waits at most this long.
pub const HUB_PAGE_TTL: Duration = Duration::from_millis(1000);

/// A worker's hub: its MCP session and the page of posted tasks it is
/// working through.
#[derive(Debug)]
pub struct HubTasks {
    session: HubSession,
    page: tokio::sync::Mutex<(std::collections::VecDeque<Task>, Option<tokio::time::Instant>)>,
}

impl HubTasks {
    /// Tasks at the hub `session` reaches.
    pub fn new(session: HubSession) -> Self {
        Self {
            session,
            page: tokio::sync::Mutex::default(),
        }
    }

    /// The session.
    pub fn session(&self) -> &HubSession {
        &self.session
    }
}

/// A worker's backend.
#[derive(Debug, Clone)]
pub enum Backend {
    /// This machine's store.
    Local(Arc<Store>),
    /// A hub, through one MCP session as the worker's agent.
    Hub(Arc<HubTasks>),
}

fn caller(agent: &str) -> Caller<'_> {
    Caller {
        agent,
        transport: Transport::Worker,
    }
}

impl Backend {
    /// Makes sure `agent` can work here: registers it on the local store
    /// (with `tasks`) if new; at a hub, checks that the token names it.
    ///
    /// Errors: [`ErrorCode::AuthFailed`] (revoked; a token of another
    /// agent or of none), [`ErrorCode::Timeout`] (hub unreachable), store
    /// errors.
    pub async fn bind(&self, agent: &str) -> Result<()> {
        match self {
            Self::Local(store) => {
                let agent = agent.to_owned();
                blocking(store, move |s| s.bind_worker(&agent, Transport::Worker))
                    .await
                    .map(drop)
            }
            Self::Hub(tasks) => {
                let hub = tasks.session();
                let out = hub.call("health_check", json!({})).await?;
                match out["agent"]["name"].as_str() {
                    Some(name) if name == agent => Ok(()),
                    Some(name) => Err(Error::new(
                        ErrorCode::AuthFailed,
                        format!("the token names agent {name}, not {agent}: give this worker {agent}'s token"),
                    )),
                    None => Err(Error::new(
                        ErrorCode::AuthFailed,
                        format!(
                            "the hub does not know the token as any agent: run `relay pair {} --name {agent}`",
                            hub.hub().base
                        ),
                    )),
                }
            }
        }
    }

    /// The next posted task for `agent` (critical first, then oldest).
    ///
    /// Errors: store or hub errors.
    pub async fn next_task(&self, agent: &str) -> Result<Option<Task>> {
        match self {
            Self::Local(store) => {
                let agent = agent.to_owned();
                blocking(store, move |s| s.next_task(caller(&agent))).await
            }
            Self::Hub(hub) => {
                let mut page = hub.page.lock().await;
                let fresh = page.1.is_some_and(|at| at.elapsed() < HUB_PAGE_TTL);
                if !fresh || page.0.is_empty() {
                    let out = hub
                        .session
                        .call(
                            "get_tasks",
                            json!({ "role": "assigned", "status": "posted", "limit": HUB_PAGE }),
                        )
                        .await?;
                    let mut tasks = out["tasks"]
                        .as_array()
                        .map(|a| a.iter().map(task_from_json).collect::<Result<Vec<_>>>())
                        .transpose()?
                        .unwrap_or_default();
                    tasks.retain(|t| t.state == TaskState::Posted);
                    tasks.sort_by_key(|t| (priority_rank(t.priority), t.id));
                    *page = (tasks.into(), Some(tokio::time::Instant::now()));
                }
                Ok(page.0.pop_front())
            }
        }
    }

    /// `update_task` as `agent`: the task after the transition.
    ///
    /// Errors: the transition's errors (SPEC §4: `STALE_LEASE`,
    /// `INVALID_STATE`, …), store or hub errors.
    pub async fn update(&self, agent: &str, id: i64, action: Action, update: Update) -> Result<Task> {
        match self {
            Self::Local(store) => {
                let agent = agent.to_owned();
                blocking(store, move |s| s.update_task(caller(&agent), id, action, &update)).await
            }
            Self::Hub(hub) => {
                let mut args = json!({ "task_id": id, "action": action });
                let Update {
                    result,
                    error,
                    retry,
                    lease_seconds,
                    fencing_token,
                    session,
                } = update;
                if let Some(r) = result {
                    args["result"] = r.into();
                }
                if let Some(e) = error {
                    args["error"] = e.into();
                }
                if retry {
                    args["retry"] = true.into();
                }
                if let Some(l) = lease_seconds {
                    args["lease_seconds"] = l.into();
                }
                if let Some(f) = fencing_token {
                    args["fencing_token"] = f.into();
                }
                if let Some(s) = session {
                    args["session"] = s.into();
                }
                let out = hub.session.call("update_task", args).await?;
                task_from_json(&out["task"])
            }
        }
    }

    /// Parks a write task `agent` claimed (`needs_recovery`) because the
    /// worker stops mid-run. `Ok(None)` at a hub: no tool parks, so the
    /// claim is left to lapse and the hub parks the task when its lease
    /// ends.
    ///
    /// Errors: the transition's errors, store errors.
    pub async fn park(&self, agent: &str, id: i64, fencing_token: i64, reason: &'static str) -> Result<Option<Task>> {
        match self {
            Self::Local(store) => {
                let agent = agent.to_owned();
                blocking(store, move |s| s.park_task(caller(&agent), id, fencing_token, reason))
                    .await
                    .map(Some)
            }
            Self::Hub(_) => Ok(None),
        }
    }

    /// Keeps `agent` present for routing and offers queued tasks around
    /// (local store); nothing at a hub, whose runtime does both.
    ///
    /// Errors: store errors.
    pub async fn presence(&self, agent: &str) -> Result<()> {
        match self {
            Self::Local(store) => {
                let agent = agent.to_owned();
                blocking(store, move |s| {
                    s.touch_agent(&agent)?;
                    s.route_queued().map(drop)
                })
                .await
            }
            Self::Hub(_) => Ok(()),
        }
    }

    /// The largest result, in UTF-8 bytes: the store's limit, or the
    /// default limit for a hub (which enforces its own).
    pub fn max_content_bytes(&self) -> usize {
        match self {
            Self::Local(store) => store.limits().max_content_bytes,
            Self::Hub(_) => Limits::default().max_content_bytes,
        }
    }

    /// Waits until it is worth looking for tasks again: [`super::POLL_INTERVAL`]
    /// on the store; at a hub, a resources/updated notification (or a
    /// reconnect), at most [`HUB_POLL`].
    pub async fn idle(&self) {
        match self {
            Self::Local(_) => tokio::time::sleep(super::POLL_INTERVAL).await,
            Self::Hub(hub) => {
                let _ = tokio::time::timeout(HUB_POLL, hub.session.wake().notified()).await;
            }
        }
    }

    /// Ends the hub session (nothing for the store).
    pub async fn close(&self) {
        if let Self::Hub(hub) = self {
            hub.session.close().await;
        }
    }
}

fn priority_rank(p: TaskPriority) -> u8 {
    match p {
        TaskPriority::Critical => 0,
        TaskPriority::High => 1,
        TaskPriority::Normal => 2,
        TaskPriority::Low => 3,
    }
}

/// A task from the JSON the task tools return (SPEC §3.1; `Task`'s
/// `Serialize` shape).
///
/// Errors: [`ErrorCode::Internal`] when a required field is missing or of
/// the wrong type (not a relay hub's answer).
pub fn task_from_json(v: &Value) -> Result<Task> {
    let bad = |field: &str| Error::internal(format!("the hub's task has no valid {field:?}: {v}"));
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    Ok(Task {
        id: v["id"].as_i64().ok_or_else(|| bad("id"))?,
        requester: text("requester").ok_or_else(|| bad("requester"))?,
        assignee: text("assignee"),
        state: serde_json::from_value(v["state"].clone()).map_err(|_| bad("state"))?,
        title: text("title").unwrap_or_default(),
        description: text("description").unwrap_or_default(),
        priority: serde_json::from_value(v["priority"].clone()).map_err(|_| bad("priority"))?,
        required_capabilities: serde_json::from_value(v["required_capabilities"].clone()).unwrap_or_default(),
        auto_routed: v["auto_routed"].as_bool().unwrap_or(false),
        write: v["write"].as_bool().ok_or_else(|| bad("write"))?,
        request_id: text("request_id"),
        attempts: v["attempts"].as_u64().unwrap_or(0) as u32,
        max_attempts: v["max_attempts"].as_u64().unwrap_or(0) as u32,
        fencing_token: v["fencing_token"].as_i64().ok_or_else(|| bad("fencing_token"))?,
        claimant: text("claimant"),
        lease_expires_at: text("lease_expires_at"),
        expires_at: text("expires_at"),
        result: text("result"),
        error: text("error"),
        created_at: text("created_at").unwrap_or_default(),
        updated_at: text("updated_at").unwrap_or_default(),
        session: text("session"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_read_back_from_the_json_tools_return() {
        let task = Task {
            id: 4,
            requester: "alice".into(),
            assignee: Some("bob".into()),
            state: TaskState::Accepted,
            title: "t".into(),
            description: "d".into(),
            priority: TaskPriority::High,
            required_capabilities: vec!["rust".into()],
            auto_routed: false,
            write: true,
            request_id: Some("r".into()),
            attempts: 1,
            max_attempts: 3,
            fencing_token: 2,
            claimant: Some("bob".into()),
            lease_expires_at: Some("2026-01-01T00:00:00.000Z".into()),
            expires_at: None,
            result: None,
            error: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            session: Some("0199a213-81c0-7800-8aa1-bbab2a035a53".into()),
        };
        assert_eq!(task_from_json(&serde_json::to_value(&task).unwrap()).unwrap(), task);
        assert!(task_from_json(&json!({"id": 1})).is_err());
    }
}
