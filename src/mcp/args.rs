//! Tool argument types. Their doc comments become the JSON Schema
//! descriptions a model reads, so they are written for a model that has
//! never seen relay. Unknown fields are refused (`VALIDATION`): in
//! particular no tool takes `from`, `agent_name` or `agent_token` — the
//! caller is the agent bound to the session (SPEC §2).

use schemars::JsonSchema;
use serde::Deserialize;

use crate::store::Priority;
use crate::store::messages::{Mailbox, ReadFilter};
use crate::store::tasks::{Action, TaskPriority, TaskRole, TaskState};

/// `register_agent` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// Your agent name: 1-64 characters from A-Z a-z 0-9 _ . - starting with a letter or digit, e.g. "backend-claude".
    pub name: String,
    /// Your role, e.g. "reviewer", "builder", "frontend". Others can find you by it. Omit it to keep the role you have.
    pub role: Option<String>,
    /// Capabilities for a new name: any of "tasks", "broadcast", "channels" (a session bound by the operator may grant what it holds itself). Fixed at first registration.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// One line on what you do, shown to other agents.
    pub description: Option<String>,
    /// The token you were given when this name was first registered (rly_...). Needed only to re-bind an existing name.
    pub token: Option<String>,
    /// A one-time recovery token issued by an operator after your token was revoked.
    pub recovery_token: Option<String>,
}

/// `discover_agents` arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverAgents {
    /// Only agents with exactly this role.
    pub role: Option<String>,
    /// Only agents holding this capability.
    pub capability: Option<String>,
    /// Also list agents not seen for an hour or more, or whose status is offline. Default false.
    #[serde(default)]
    pub include_offline: bool,
}

/// `set_status` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    /// One of "online", "busy", "away", "offline".
    pub status: String,
    /// A short note others see, e.g. "running the test suite" (max 256 characters).
    pub note: Option<String>,
}

/// `send_message` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The recipient's agent name. It may be a name that has not registered yet; the message waits for it.
    pub to: String,
    /// The message text (max 64 KiB of UTF-8).
    pub content: String,
    /// "low", "normal" (default) or "high".
    #[serde(default)]
    pub priority: Priority,
    /// The id of a message you received or sent, to reply in its thread.
    pub reply_to: Option<i64>,
    /// true: ask the recipient to confirm it handled the message (acknowledge_message). You then see its receipt and it stays in your get_outstanding list until acknowledged. Default false.
    #[serde(default)]
    pub ack_required: bool,
    /// With ack_required: seconds (1-2592000, i.e. up to 30 days) within which you want the acknowledgement; after that get_outstanding lists the message as overdue.
    pub ack_deadline_seconds: Option<u32>,
}

/// `broadcast` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Broadcast {
    /// The message text (max 64 KiB of UTF-8).
    pub content: String,
    /// Only agents with this role receive it.
    pub role: Option<String>,
    /// "low", "normal" (default) or "high".
    #[serde(default)]
    pub priority: Priority,
    /// true: ask every recipient to confirm it handled the message (acknowledge_message); it stays in your get_outstanding list until all have. Default false.
    #[serde(default)]
    pub ack_required: bool,
    /// With ack_required: seconds (1-2592000, i.e. up to 30 days) within which you want the acknowledgements; after that get_outstanding lists the message as overdue.
    pub ack_deadline_seconds: Option<u32>,
}

/// `get_messages` arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetMessages {
    /// "inbox" (default): messages sent to you. "sent": messages you sent, newest first, each with receipts[] saying per recipient whether it was delivered, read and acknowledged, and when (status and peek do not apply).
    #[serde(default, rename = "box")]
    pub mailbox: Mailbox,
    /// For your inbox: "unread" (default), "read", "all", or "unacknowledged" (messages that asked for your acknowledgement and have not got it, read or not).
    pub status: Option<ReadFilter>,
    /// Only messages of this thread (the id of its first message).
    pub thread_id: Option<i64>,
    /// How many messages, 1-100. Default 20.
    pub limit: Option<u32>,
    /// true: look without marking unread messages as read. Default false.
    #[serde(default)]
    pub peek: bool,
}

/// `create_channel` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    /// Channel name: 1-64 characters from a-z 0-9 _ - starting with a letter or digit, e.g. "backend".
    pub name: String,
    /// What the channel is for.
    pub description: Option<String>,
}

/// `join_channel` / `leave_channel` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRef {
    /// The channel name.
    pub channel: String,
}

/// `post_to_channel` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostToChannel {
    /// The channel name (you must have joined it).
    pub channel: String,
    /// The post text (max 64 KiB of UTF-8).
    pub content: String,
    /// "low", "normal" (default) or "high".
    #[serde(default)]
    pub priority: Priority,
}

/// Which channel posts to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelFilter {
    /// Posts after your read cursor; reading them moves the cursor.
    #[default]
    Unread,
    /// The newest posts, read or not; the cursor stays.
    All,
}

/// `get_channel_messages` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetChannelMessages {
    /// The channel name (you must have joined it).
    pub channel: String,
    /// "unread" (default) or "all".
    #[serde(default)]
    pub status: ChannelFilter,
    /// How many posts, 1-100. Default 20.
    pub limit: Option<u32>,
}

/// Arguments of tools that take none.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// `post_task` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostTask {
    /// The agent to do it. Omit it and give required_capabilities to let relay pick the least-busy capable agent.
    pub to: Option<String>,
    /// Capabilities the doer must have, e.g. ["rust"]; used when `to` is omitted. With no such agent online the task waits (state "queued").
    #[serde(default)]
    pub required_capabilities: Vec<String>,
    /// A short title (max 256 characters).
    pub title: String,
    /// What to do, in full: the doer sees only this (max 64 KiB).
    pub description: String,
    /// "low", "normal" (default), "high" or "critical".
    #[serde(default)]
    pub priority: TaskPriority,
    /// Your idempotency key: posting again with the same request_id returns the same task (deduped: true) instead of a duplicate.
    pub request_id: Option<String>,
    /// Seconds until an unfinished task expires (1 to 2592000).
    pub ttl_seconds: Option<u32>,
    /// How many attempts before it fails for good (1-100, default 3).
    pub max_attempts: Option<u32>,
    /// true if the task changes files or state. A write task whose worker dies is parked (needs_recovery), never re-run silently. Default false.
    #[serde(default)]
    pub write: bool,
    /// Wait up to this many seconds (0-3600, default 0) for the task to finish and return its result; on timeout you get timed_out: true and the task keeps running.
    #[serde(default)]
    pub wait_seconds: u32,
    /// To continue a conversation: the `session` of an earlier task (every finished task done by a codex or claude worker carries the executor session it ran in). The worker resumes that Codex thread or Claude Code session, so the doer keeps the earlier context. Omit it to start a new conversation. Tasks on one session run one at a time (a second waits, posted, until the first finishes). If the session no longer exists the task fails saying so; post again without session. 1-128 characters from A-Z a-z 0-9 . _ : - (VALIDATION otherwise).
    pub session: Option<String>,
}

/// `update_task` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    /// The task id.
    pub task_id: i64,
    /// "accept" (claim a task posted to you; returns fencing_token), "heartbeat" (renew your lease), "complete" (with result), "fail" (with error; retry: true to let it be tried again), "release" (give it back), "reject" (refuse it), "cancel" (your own task), "recover" (re-post your parked task).
    pub action: Action,
    /// The result, for "complete" (max 64 KiB).
    pub result: Option<String>,
    /// What went wrong, for "fail" or "reject".
    pub error: Option<String>,
    /// For "fail": put the task back for another attempt if attempts remain. Default false.
    #[serde(default)]
    pub retry: bool,
    /// For "accept" and "heartbeat": how long your claim lasts without a heartbeat, in seconds (default 1800).
    pub lease_seconds: Option<u32>,
    /// The fencing_token "accept" gave you; pass it on heartbeat/complete/fail/release so a stale claim cannot overwrite a newer one. Required (VALIDATION without it) once the task has been accepted more than once.
    pub fencing_token: Option<i64>,
    /// For "complete" or "fail" only: the id of the executor session (Codex thread, Claude Code session) the work ran in; it is recorded as the task's session so the requester can continue that conversation with a follow-up post_task. Same characters as post_task's session; VALIDATION with any other action. An "accept" of a task whose session another accepted task is running gets CONFLICT: accept it after that task finishes.
    pub session: Option<String>,
}

/// `get_task` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetTask {
    /// The task id.
    pub task_id: i64,
    /// Wait up to this many seconds (0-3600, default 0) for the task to finish.
    #[serde(default)]
    pub wait_seconds: u32,
}

/// `get_tasks` arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetTasks {
    /// "assigned" (tasks for you to do, default) or "posted" (tasks you asked for).
    #[serde(default)]
    pub role: TaskRole,
    /// Only tasks in this state: queued, posted, accepted, completed, failed, rejected, cancelled, expired, needs_recovery.
    pub status: Option<TaskState>,
    /// How many, 1-100 (default 20), newest first.
    pub limit: Option<u32>,
}

/// `spawn_agent` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnAgent {
    /// The new agent's name (1-64 characters from A-Z a-z 0-9 _ . -).
    pub name: String,
    /// Its role, e.g. "reviewer".
    #[serde(default)]
    pub role: String,
    /// Its capabilities; you can only grant ones you hold.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The directory the new terminal starts in (default: this server's).
    pub cwd: Option<String>,
    /// A first message for the new agent; it waits in its relay inbox.
    pub initial_message: Option<String>,
}

/// `register_webhook` arguments. `Debug` leaves the secret out.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterWebhook {
    /// Where to POST events: an https:// (or http://) URL reachable from the relay. Private, loopback and cloud-metadata addresses are refused unless the operator allowlisted them.
    pub url: String,
    /// Event kinds to send, e.g. ["message", "task_finished"]; ["*"] for all. Kinds: message, broadcast, channel_post, channel_created, agent_registered, agent_unregistered, status_changed, task_posted, task_finished, task_cancelled, token_rotated, token_revoked, webhook.delivery_failed.
    pub events: Vec<String>,
    /// A shared secret (16-256 characters) for the X-Relay-Signature HMAC; strongly recommended.
    pub secret: Option<String>,
    /// Only events sent by or addressed to this agent.
    pub agent_filter: Option<String>,
}

impl std::fmt::Debug for RegisterWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterWebhook")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("agent_filter", &self.agent_filter)
            .finish()
    }
}

/// `delete_webhook` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteWebhook {
    /// The id register_webhook or list_webhooks gave.
    pub webhook_id: i64,
}

/// `rotate_token` arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateToken {
    /// Another agent whose token to rotate (needs the admin capability). Omit it to rotate your own.
    pub target: Option<String>,
    /// Seconds (0-3600, default 300) during which the old token keeps working beside the new one.
    pub grace_seconds: Option<u32>,
}

/// `revoke_token` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeToken {
    /// The agent whose token to revoke.
    pub target: String,
    /// Return a one-time recovery token that lets the agent register its name again (default true).
    #[serde(default = "yes")]
    pub issue_recovery: bool,
}

/// `acknowledge_message` arguments (SPEC §9).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeMessage {
    /// The id of a message you received (from get_messages).
    pub message_id: i64,
    /// A short note for the sender, e.g. "done in commit abc123" (max 256 characters).
    pub note: Option<String>,
}

/// `get_outstanding` arguments (SPEC §9).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetOutstanding {
    /// How many messages to return (1-100, default 20).
    pub limit: Option<u32>,
}

/// `search_messages` arguments (SPEC §9).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchMessages {
    /// Words to look for, e.g. "migration rollback". All words must appear; put a phrase in double quotes. At most 256 characters and 16 words.
    pub query: String,
    /// Only messages sent by this agent.
    pub from: Option<String>,
    /// Only messages in this thread: the id of its first message (thread_id in get_messages). Channel posts have no thread.
    pub thread_id: Option<i64>,
    /// Only posts in this channel (you must be a member).
    pub channel: Option<String>,
    /// Only messages sent at or after this time (RFC 3339, e.g. "2026-11-30T00:00:00Z").
    pub since: Option<String>,
    /// How many results to return, best match first (1-100, default 20).
    pub limit: Option<u32>,
}

/// `reserve_paths` arguments (SPEC §9).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservePaths {
    /// The project root the paths are in: the repository's absolute path or its remote URL. Reservations in different projects never clash.
    pub project: String,
    /// 1-100 paths or globs relative to the project root, e.g. "src/store/tasks.rs", "src/**" or "docs/*.md": `*` stays within one directory, `**` spans any depth, `?` and [abc] match one character, "dir/" means everything under dir.
    pub paths: Vec<String>,
    /// Exclusive (default true): no one else may reserve overlapping paths. Shared reservations only clash with exclusive ones.
    #[serde(default = "yes")]
    pub exclusive: bool,
    /// How long the reservation lasts, in seconds (1-604800, i.e. up to 7 days), unless renewed.
    pub ttl_seconds: u32,
    /// Why you reserve them (1-256 characters), shown to anyone who clashes, e.g. "refactoring the task store".
    pub reason: String,
    /// A key (at most 128 characters) that makes retrying this call safe: the same request_id with the same arguments returns the first call's result with deduped true.
    pub request_id: Option<String>,
}

/// `renew_reservations` arguments (SPEC §9).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewReservations {
    /// The project root the reservations are in.
    pub project: String,
    /// Which of your reservations to renew, by the path or glob you reserved; omit to renew all of yours in the project.
    pub paths: Option<Vec<String>>,
    /// The new lifetime from now, in seconds (1-604800); omit to reuse each reservation's own ttl_seconds.
    pub ttl_seconds: Option<u32>,
}

/// `release_paths` arguments (SPEC §9).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasePaths {
    /// The project root the reservations are in.
    pub project: String,
    /// Which of your reservations to release, by the path or glob you reserved; omit to release all of yours in the project.
    pub paths: Option<Vec<String>>,
}

/// `list_reservations` arguments (SPEC §9).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListReservations {
    /// Only reservations in this project root (the repository's absolute path or its remote URL).
    pub project: Option<String>,
    /// Only reservations held by this agent.
    pub agent: Option<String>,
    /// At most this many reservations (1-1000, default 200).
    pub limit: Option<u32>,
}

fn yes() -> bool {
    true
}
