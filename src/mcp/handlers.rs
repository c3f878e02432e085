//! The tool handlers: each parses its arguments (a bad one is
//! `VALIDATION`), takes the caller from the [`Call`], and calls one store
//! method on the store thread. Transport-neutral: stdio and HTTP sessions
//! run the same code.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use rmcp::model::JsonObject;

use super::args;
use super::catalog::Tool;
use super::session::{Call, RelayServer, Transport};
use crate::error::{Error, ErrorCode, Result};
use crate::store::Registration;
use crate::store::acks::AckRequest;
use crate::store::agents::Credential;
use crate::store::messages::{Mailbox, page_limit};
use crate::store::tasks::{NewTask, TaskState, Update};

fn parse<T: DeserializeOwned>(args: Option<JsonObject>) -> Result<T> {
    serde_json::from_value(Value::Object(args.unwrap_or_default()))
        .map_err(|e| Error::validation(format!("invalid arguments: {e}")))
}

/// Longest `wait_seconds`, in seconds (SPEC §3.1).
pub const MAX_WAIT_SECONDS: u32 = 3600;

fn wait_limit(seconds: u32) -> Result<u32> {
    if seconds > MAX_WAIT_SECONDS {
        return Err(Error::validation(format!(
            "wait_seconds must be 0-{MAX_WAIT_SECONDS}, got {seconds}"
        )));
    }
    Ok(seconds)
}

fn to_value<T: Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))
}

impl RelayServer {
    /// Runs one tool call; `Err(None)` for an unknown tool name.
    pub(crate) async fn dispatch(&self, tool: Tool, args: Option<JsonObject>, call: &Call) -> Result<Value> {
        match tool {
            Tool::RegisterAgent => self.register_agent(call, parse(args)?).await,
            Tool::RegisterWebhook => self.register_webhook(call, parse(args)?).await,
            Tool::ListWebhooks => {
                parse::<args::NoArgs>(args)?;
                self.list_webhooks(call).await
            }
            Tool::DeleteWebhook => self.delete_webhook(call, parse(args)?).await,
            Tool::RotateToken => self.rotate_token(call, parse(args)?).await,
            Tool::RevokeToken => self.revoke_token(call, parse(args)?).await,
            Tool::AcknowledgeMessage => self.acknowledge_message(call, parse(args)?).await,
            Tool::GetOutstanding => self.get_outstanding(call, parse(args)?).await,
            Tool::SearchMessages => self.search_messages(call, parse(args)?).await,
            Tool::ReservePaths => self.reserve_paths(call, parse(args)?).await,
            Tool::RenewReservations => self.renew_reservations(call, parse(args)?).await,
            Tool::ReleasePaths => self.release_paths(call, parse(args)?).await,
            Tool::ListReservations => self.list_reservations(call, parse(args)?).await,
            Tool::UnregisterAgent => {
                parse::<args::NoArgs>(args)?;
                let agent = self
                    .with_caller(call, |s, c| s.unregister_agent(c).map(|()| c.agent.to_owned()))
                    .await?;
                if self.transport == Transport::Stdio {
                    self.bind(None);
                }
                Ok(json!({ "unregistered": agent }))
            }
            Tool::DiscoverAgents => {
                let a: args::DiscoverAgents = parse(args)?;
                if let Some(me) = call.agent.clone() {
                    self.blocking(move |s| s.touch_agent(&me)).await?;
                }
                let agents = self
                    .blocking(move |s| s.discover_agents(a.role.as_deref(), a.capability.as_deref(), a.include_offline))
                    .await?;
                Ok(json!({ "count": agents.len(), "agents": agents }))
            }
            Tool::SetStatus => {
                let a: args::SetStatus = parse(args)?;
                let agent = self
                    .with_caller(call, move |s, c| s.set_status(c, &a.status, a.note.as_deref()))
                    .await?;
                Ok(json!({ "agent": agent }))
            }
            Tool::HealthCheck => {
                parse::<args::NoArgs>(args)?;
                self.health_check(call).await
            }
            Tool::SendMessage => {
                let a: args::SendMessage = parse(args)?;
                let ack = AckRequest::from_args(a.ack_required, a.ack_deadline_seconds)?;
                to_value(
                    self.with_caller(call, move |s, c| {
                        s.send_message_with(c, &a.to, &a.content, a.priority, a.reply_to, ack)
                    })
                    .await?,
                )
            }
            Tool::Broadcast => {
                let a: args::Broadcast = parse(args)?;
                let ack = AckRequest::from_args(a.ack_required, a.ack_deadline_seconds)?;
                let b = self
                    .with_caller(call, move |s, c| {
                        s.broadcast_with(c, &a.content, a.role.as_deref(), a.priority, ack)
                    })
                    .await?;
                Ok(json!({
                    "message_id": b.message_id,
                    "recipient_count": b.recipients.len(),
                    "recipients": b.recipients,
                    "ack_required": b.ack_required,
                    "ack_deadline": b.ack_deadline,
                }))
            }
            Tool::GetMessages => {
                let a: args::GetMessages = parse(args)?;
                let limit = page_limit(a.limit)?;
                if a.mailbox == Mailbox::Sent {
                    if a.status.is_some() || a.peek {
                        return Err(Error::validation(
                            "status and peek apply to your inbox; box \"sent\" lists the messages you sent, \
                             newest first (use thread_id and limit to narrow it)",
                        ));
                    }
                    let (messages, unread) = self
                        .with_caller(call, move |s, c| {
                            Ok((s.sent_messages(c, a.thread_id, limit)?, s.unread_count(c.agent)?))
                        })
                        .await?;
                    return Ok(json!({ "box": a.mailbox, "messages": messages, "unread_remaining": unread }));
                }
                self.settle(call).await?;
                let status = a.status.unwrap_or_default();
                let mut inbox = self
                    .with_caller(call, move |s, c| s.get_messages(c, status, a.thread_id, limit, a.peek))
                    .await?;
                self.hold(call, inbox.receipt.take()).await?;
                let mut out = to_value(inbox)?;
                out["box"] = json!(a.mailbox);
                Ok(out)
            }
            Tool::PostTask => {
                let a: args::PostTask = parse(args)?;
                let wait = wait_limit(a.wait_seconds)?;
                let new = NewTask {
                    to: a.to,
                    required_capabilities: a.required_capabilities,
                    title: a.title,
                    description: a.description,
                    priority: a.priority,
                    request_id: a.request_id,
                    ttl_seconds: a.ttl_seconds,
                    max_attempts: a.max_attempts,
                    write: a.write,
                    session: a.session,
                };
                let posted = self.with_caller(call, move |s, c| s.post_task(c, &new)).await?;
                let mut out = json!({ "task": posted.task, "deduped": posted.deduped });
                if wait > 0 {
                    let (task, timed_out) = self.wait_for_task(call, posted.task.id, wait).await?;
                    out["task"] = to_value(task)?;
                    out["timed_out"] = json!(timed_out);
                }
                Ok(out)
            }
            Tool::UpdateTask => {
                let a: args::UpdateTask = parse(args)?;
                let update = Update {
                    result: a.result,
                    error: a.error,
                    retry: a.retry,
                    lease_seconds: a.lease_seconds,
                    fencing_token: a.fencing_token,
                    session: a.session,
                };
                let task = self
                    .with_caller(call, move |s, c| s.update_task(c, a.task_id, a.action, &update))
                    .await?;
                let cancelled = task.state == TaskState::Cancelled;
                Ok(json!({ "task": task, "cancelled": cancelled }))
            }
            Tool::GetTask => {
                let a: args::GetTask = parse(args)?;
                let wait = wait_limit(a.wait_seconds)?;
                let id = a.task_id;
                let (mut task, mut events) = self.with_caller(call, move |s, c| s.get_task(c, id)).await?;
                let mut out = json!({});
                if wait > 0 {
                    let (_, timed_out) = self.wait_for_task(call, id, wait).await?;
                    (task, events) = self.with_caller(call, move |s, c| s.get_task(c, id)).await?;
                    out["timed_out"] = json!(timed_out);
                }
                out["task"] = to_value(task)?;
                out["events"] = to_value(events)?;
                Ok(out)
            }
            Tool::GetTasks => {
                let a: args::GetTasks = parse(args)?;
                let limit = page_limit(a.limit)?;
                let tasks = self
                    .with_caller(call, move |s, c| s.get_tasks(c, a.role, a.status, limit))
                    .await?;
                Ok(json!({ "count": tasks.len(), "tasks": tasks }))
            }
            Tool::SpawnAgent => {
                let a: args::SpawnAgent = parse(args)?;
                self.spawn_agent(call, a).await
            }
            Tool::CreateChannel => {
                let a: args::CreateChannel = parse(args)?;
                let ch = self
                    .with_caller(call, move |s, c| s.create_channel(c, &a.name, a.description.as_deref()))
                    .await?;
                Ok(json!({ "channel": ch }))
            }
            Tool::JoinChannel => {
                let a: args::ChannelRef = parse(args)?;
                let name = a.channel.clone();
                let newly = self
                    .with_caller(call, move |s, c| s.join_channel(c, &a.channel))
                    .await?;
                Ok(json!({ "channel": name, "joined": true, "already_member": !newly }))
            }
            Tool::LeaveChannel => {
                let a: args::ChannelRef = parse(args)?;
                let name = a.channel.clone();
                self.with_caller(call, move |s, c| s.leave_channel(c, &a.channel))
                    .await?;
                Ok(json!({ "channel": name, "left": true }))
            }
            Tool::PostToChannel => {
                let a: args::PostToChannel = parse(args)?;
                let m = self
                    .with_caller(call, move |s, c| {
                        s.post_to_channel(c, &a.channel, &a.content, a.priority)
                    })
                    .await?;
                Ok(json!({ "channel_message_id": m.id, "channel": m.channel, "created_at": m.created_at }))
            }
            Tool::GetChannelMessages => {
                let a: args::GetChannelMessages = parse(args)?;
                let limit = page_limit(a.limit)?;
                let unread = a.status == args::ChannelFilter::Unread;
                self.settle(call).await?;
                let mut page = self
                    .with_caller(call, move |s, c| s.get_channel_messages(c, &a.channel, unread, limit))
                    .await?;
                self.hold(call, page.receipt.take()).await?;
                to_value(page)
            }
            Tool::ListChannels => {
                parse::<args::NoArgs>(args)?;
                let channels = self.with_caller(call, |s, c| s.list_channels(c)).await?;
                Ok(json!({ "count": channels.len(), "channels": channels }))
            }
        }
    }

    async fn register_agent(&self, call: &Call, a: args::RegisterAgent) -> Result<Value> {
        let current = call.agent.clone();
        let transport = self.transport;
        let registered = self
            .blocking(move |s| {
                let credential = match (&a.token, &a.recovery_token) {
                    (Some(t), _) => Credential::Token(t),
                    (None, Some(t)) => Credential::RecoveryToken(t),
                    (None, None) if current.as_deref() == Some(a.name.as_str()) => Credential::BoundSession,
                    (None, None) => Credential::None,
                };
                let grantable = s.grantable_capabilities(current.as_deref())?;
                let reg = Registration {
                    name: a.name.clone(),
                    role: a.role.clone(),
                    capabilities: a.capabilities.clone(),
                    description: a.description.clone(),
                };
                s.register_agent(&reg, credential, &grantable, transport)
            })
            .await?;
        if self.transport == Transport::Stdio {
            self.bind(Some(registered.agent.name.clone()));
        }
        let mut out = to_value(&registered)?;
        // Over HTTP each request names its agent by token: nothing binds.
        out["bound"] = json!(self.transport == Transport::Stdio);
        match (registered.token.is_some(), self.transport) {
            (true, Transport::Stdio | Transport::Cli | Transport::Worker) => {
                out["note"] = json!(
                    "This token is shown only once. Keep it to re-bind this name later (register_agent with token)."
                );
            }
            (true, Transport::Http) => {
                out["note"] = json!(
                    "This token is shown only once. Send it as the X-Agent-Token header on every request to act \
                     as this agent."
                );
            }
            (false, _) => {}
        }
        Ok(out)
    }

    async fn health_check(&self, call: &Call) -> Result<Value> {
        let me = call.agent.clone();
        let (schema_version, agent, unread) = self
            .blocking(move |s| {
                let agent = match &me {
                    Some(name) => s.agent(name)?,
                    None => None,
                };
                let unread = match &me {
                    Some(name) => Some(s.unread_count(name)?),
                    None => None,
                };
                Ok((s.schema_version()?, agent, unread))
            })
            .await?;
        let mut out = json!({
            "status": "ok",
            "relay_version": env!("CARGO_PKG_VERSION"),
            "schema_version": schema_version,
            "transport": self.transport.as_str(),
            "agent": agent,
            "unread_messages": unread,
        });
        if agent.is_none() {
            out["hint"] = json!("this session is not bound to an agent; call register_agent");
        }
        Ok(out)
    }

    /// Waits up to `seconds` for task `id` to finish (a terminal state, or
    /// `needs_recovery`, where only its requester can move it). Returns the
    /// task and whether the wait timed out. Wakes on any commit in this
    /// process and polls every 100 ms for changes made by others. Other
    /// requests of the session run meanwhile (each has its own task).
    async fn wait_for_task(&self, call: &Call, id: i64, seconds: u32) -> Result<(crate::store::tasks::Task, bool)> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(u64::from(seconds));
        loop {
            let changed = self.exec.changed().notified();
            let state = self.blocking(move |s| s.task_state(id)).await?;
            let now = tokio::time::Instant::now();
            if state.is_terminal() || state == TaskState::NeedsRecovery || now >= deadline {
                let (task, _) = self.with_caller(call, move |s, c| s.get_task(c, id)).await?;
                return Ok((task, !(state.is_terminal() || state == TaskState::NeedsRecovery)));
            }
            let nap = (deadline - now).min(std::time::Duration::from_millis(100));
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(nap) => {}
                // A cancelled request (or closed session) stops waiting.
                _ = call.ct.cancelled() => {
                    return Err(Error::new(ErrorCode::Conflict, "the request was cancelled"));
                }
            }
        }
    }

    async fn spawn_agent(&self, call: &Call, a: args::SpawnAgent) -> Result<Value> {
        // Name, role and grants are the store's to check (register_spawned);
        // the message is checked first so a refused one registers nothing.
        if let Some(m) = &a.initial_message {
            crate::store::validate::content(m, self.exec.store().limits().max_content_bytes)?;
        }
        let cwd = match &a.cwd {
            Some(dir) => std::path::PathBuf::from(dir),
            None => std::env::current_dir().map_err(|e| Error::internal(format!("no current directory: {e}")))?,
        };
        if !cwd.is_dir() {
            return Err(Error::validation(format!("cwd {} is not a directory", cwd.display())));
        }
        // The terminal is worked out before the name is taken, so a missing
        // terminal (no desktop, no tmux) leaves nothing registered.
        let db = self.exec.store().path().to_owned();
        let spawn = super::spawn::Spawn {
            name: &a.name,
            role: &a.role,
            capabilities: &a.capabilities,
            db: &db,
            cwd: &cwd,
            has_message: a.initial_message.is_some(),
        };
        let argv = super::spawn::agent_argv(&spawn);
        // A caller on another machine never starts processes on the hub's:
        // over HTTP the command is only returned.
        let mode = match self.transport {
            Transport::Http => super::spawn::SpawnMode::DryRun,
            _ => self.spawn_mode,
        };
        let launcher =
            super::spawn::launcher(mode, &a.name, &cwd, &argv).map_err(|e| Error::new(ErrorCode::InvalidState, e))?;
        let (name, role, caps) = (a.name.clone(), a.role.clone(), a.capabilities.clone());
        let agent = self
            .with_caller(call, move |s, c| {
                let role = (!role.is_empty()).then_some(role.as_str());
                s.register_spawned(c, &name, role, &caps)
            })
            .await?;
        if let Some(message) = a.initial_message.clone() {
            let to = a.name.clone();
            self.with_caller(call, move |s, c| {
                s.send_message(c, &to, &message, crate::store::Priority::High, None)
            })
            .await?;
        }
        if let Some(launcher) = &launcher {
            let child = std::process::Command::new(&launcher[0])
                .args(&launcher[1..])
                .current_dir(&cwd)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| {
                    Error::internal(format!(
                        "agent {:?} is registered, but its terminal did not start ({}: {e}); start it by hand: {}",
                        a.name,
                        launcher[0],
                        super::spawn::command_line(&argv)
                    ))
                })?;
            let mut child = child;
            std::thread::spawn(move || child.wait());
        }
        Ok(json!({
            "agent": agent,
            "mode": mode,
            "launched": launcher.is_some(),
            "launcher": launcher,
            "argv": argv,
            "command_line": super::spawn::command_line(&argv),
        }))
    }

    /// Audits a failed mutating call, including from a session that is
    /// not bound to an agent (e.g. a `register_agent` for a taken name).
    pub(crate) async fn audit_failure(&self, call: &Call, tool: Tool, err: &Error, attempted_name: Option<String>) {
        let agent = call.agent.clone();
        let (tool, code, transport) = (tool.as_str(), err.code, self.transport);
        let params = match attempted_name {
            Some(name) => json!({ "name": name }),
            None => json!({}),
        };
        let _ = self
            .blocking(move |s| s.audit_failure(agent.as_deref(), transport, tool, code, &params))
            .await;
    }
}
