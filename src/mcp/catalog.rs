//! The tool catalog (SPEC §3.1): each tool's name, description, argument
//! schema and hints, written once. `tools/list` is built from it, calls
//! are dispatched on [`Tool`], and the output schemas in [`super::output`]
//! are keyed by the same names.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use rmcp::model::{JsonObject, ProtocolVersion, ToolAnnotations};

use super::args;

/// A relay tool. Its wire name is [`Tool::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// `register_agent`.
    RegisterAgent,
    /// `unregister_agent`.
    UnregisterAgent,
    /// `discover_agents`.
    DiscoverAgents,
    /// `set_status`.
    SetStatus,
    /// `health_check`.
    HealthCheck,
    /// `send_message`.
    SendMessage,
    /// `broadcast`.
    Broadcast,
    /// `get_messages`.
    GetMessages,
    /// `post_task`.
    PostTask,
    /// `update_task`.
    UpdateTask,
    /// `get_task`.
    GetTask,
    /// `get_tasks`.
    GetTasks,
    /// `spawn_agent`.
    SpawnAgent,
    /// `create_channel`.
    CreateChannel,
    /// `join_channel`.
    JoinChannel,
    /// `leave_channel`.
    LeaveChannel,
    /// `post_to_channel`.
    PostToChannel,
    /// `get_channel_messages`.
    GetChannelMessages,
    /// `list_channels`.
    ListChannels,
    /// `register_webhook`.
    RegisterWebhook,
    /// `list_webhooks`.
    ListWebhooks,
    /// `delete_webhook`.
    DeleteWebhook,
    /// `rotate_token`.
    RotateToken,
    /// `revoke_token`.
    RevokeToken,
    /// `acknowledge_message`.
    AcknowledgeMessage,
    /// `get_outstanding`.
    GetOutstanding,
    /// `search_messages`.
    SearchMessages,
    /// `reserve_paths`.
    ReservePaths,
    /// `renew_reservations`.
    RenewReservations,
    /// `release_paths`.
    ReleasePaths,
    /// `list_reservations`.
    ListReservations,
}

impl Tool {
    /// Every tool.
    pub const ALL: [Self; 31] = [
        Self::RegisterAgent,
        Self::UnregisterAgent,
        Self::DiscoverAgents,
        Self::SetStatus,
        Self::HealthCheck,
        Self::SendMessage,
        Self::Broadcast,
        Self::GetMessages,
        Self::PostTask,
        Self::UpdateTask,
        Self::GetTask,
        Self::GetTasks,
        Self::SpawnAgent,
        Self::CreateChannel,
        Self::JoinChannel,
        Self::LeaveChannel,
        Self::PostToChannel,
        Self::GetChannelMessages,
        Self::ListChannels,
        Self::RegisterWebhook,
        Self::ListWebhooks,
        Self::DeleteWebhook,
        Self::RotateToken,
        Self::RevokeToken,
        Self::AcknowledgeMessage,
        Self::GetOutstanding,
        Self::SearchMessages,
        Self::ReservePaths,
        Self::RenewReservations,
        Self::ReleasePaths,
        Self::ListReservations,
    ];

    /// The name clients call it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegisterAgent => "register_agent",
            Self::UnregisterAgent => "unregister_agent",
            Self::DiscoverAgents => "discover_agents",
            Self::SetStatus => "set_status",
            Self::HealthCheck => "health_check",
            Self::SendMessage => "send_message",
            Self::Broadcast => "broadcast",
            Self::GetMessages => "get_messages",
            Self::PostTask => "post_task",
            Self::UpdateTask => "update_task",
            Self::GetTask => "get_task",
            Self::GetTasks => "get_tasks",
            Self::SpawnAgent => "spawn_agent",
            Self::CreateChannel => "create_channel",
            Self::JoinChannel => "join_channel",
            Self::LeaveChannel => "leave_channel",
            Self::PostToChannel => "post_to_channel",
            Self::GetChannelMessages => "get_channel_messages",
            Self::ListChannels => "list_channels",
            Self::RegisterWebhook => "register_webhook",
            Self::ListWebhooks => "list_webhooks",
            Self::DeleteWebhook => "delete_webhook",
            Self::RotateToken => "rotate_token",
            Self::RevokeToken => "revoke_token",
            Self::AcknowledgeMessage => "acknowledge_message",
            Self::GetOutstanding => "get_outstanding",
            Self::SearchMessages => "search_messages",
            Self::ReservePaths => "reserve_paths",
            Self::RenewReservations => "renew_reservations",
            Self::ReleasePaths => "release_paths",
            Self::ListReservations => "list_reservations",
        }
    }

    /// Its catalog entry.
    pub fn def(self) -> &'static ToolDef {
        TOOLS
            .iter()
            .find(|t| t.name == self)
            .expect("every tool is in the catalog")
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a relay tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTool;

impl FromStr for Tool {
    type Err = UnknownTool;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == name).ok_or(UnknownTool)
    }
}

/// One tool's catalog entry.
pub struct ToolDef {
    /// Its name.
    pub name: Tool,
    /// What the model reads in `tools/list`.
    pub description: &'static str,
    /// The JSON Schema of its arguments.
    pub schema: fn() -> Arc<JsonObject>,
    /// Changes nothing (MCP `readOnlyHint`); a failed call of a tool that
    /// is not read-only is audited.
    pub read_only: bool,
    /// May be called by an HTTP request without `X-Agent-Token` (SPEC §7).
    pub anonymous: bool,
}

fn schema<T: schemars::JsonSchema + 'static>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_input::<T>().expect("tool argument types are JSON objects")
}

/// Every tool, in `tools/list` order.
pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: Tool::RegisterAgent,
        description: "Register yourself on the relay under a name so other agents can reach you, or re-bind this \
session to a name registered before (pass its token). Usually unnecessary: when your MCP config starts relay \
with --agent you are registered already; call health_check to see who you are. A new name returns a token \
(rly_...) shown only once: keep it to re-bind later. Errors: NAME_TAKEN (another agent holds the name), \
AUTH_FAILED (wrong token), VALIDATION.",
        schema: schema::<args::RegisterAgent>,
        read_only: false,
        anonymous: true,
    },
    ToolDef {
        name: Tool::UnregisterAgent,
        description: "Remove your own registration. Messages addressed to your name are kept and wait for whoever \
registers it next. Afterwards, tools that need an identity fail until you call register_agent again.",
        schema: schema::<args::NoArgs>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::DiscoverAgents,
        description: "List agents on this relay with role, capabilities, declared status and presence (online: \
active in the last 10 minutes; stale: last hour; offline: longer). Use it to find whom to message. Offline \
agents are left out unless include_offline is true.",
        schema: schema::<args::DiscoverAgents>,
        read_only: true,
        anonymous: false,
    },
    ToolDef {
        name: Tool::SetStatus,
        description: "Tell other agents whether you are online, busy, away or offline, with an optional short note \
(e.g. \"running the test suite\").",
        schema: schema::<args::SetStatus>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::HealthCheck,
        description: "Check that the relay works and see which agent this session is bound to (name, role, \
capabilities) and how many unread messages wait for you. Needs no registration.",
        schema: schema::<args::NoArgs>,
        read_only: true,
        anonymous: true,
    },
    ToolDef {
        name: Tool::SendMessage,
        description: "Send a direct message to another agent by name. It is stored durably and delivered when \
they read their messages, even if they are offline or have not registered yet. To answer a message, pass its id \
as reply_to: the reply joins that thread. Set ack_required: true when you need to know the recipient handled it: \
they are asked to call acknowledge_message, and you follow it with get_outstanding (optionally with \
ack_deadline_seconds, after which it counts as overdue). Returns message_id and thread_id. Errors: VALIDATION (bad \
name, empty content, ack_deadline_seconds without ack_required or outside 1-2592000), PAYLOAD_TOO_LARGE (over \
64 KiB), NOT_FOUND / NOT_PARTY (bad reply_to).",
        schema: schema::<args::SendMessage>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::Broadcast,
        description: "Send one message to every registered agent except yourself, or only to agents with a given \
role. With ack_required: true every recipient is asked to acknowledge it (acknowledge_message); get_outstanding \
shows who has not yet. Needs the broadcast capability. Errors: CAP_DENIED, VALIDATION (empty content, \
ack_deadline_seconds without ack_required or outside 1-2592000), PAYLOAD_TOO_LARGE.",
        schema: schema::<args::Broadcast>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::GetMessages,
        description: "Read messages sent to you (direct and broadcast), oldest first. By default returns unread \
messages and marks them read; pass peek: true to look without marking. Pass thread_id to follow one \
conversation. unread_remaining says how many unread messages are still waiting. Each message shows ack_required \
(the sender asked you to call acknowledge_message once handled), ack_deadline, and acknowledged_at (null until \
you did); status \"unacknowledged\" lists those still waiting for your acknowledgement. box \"sent\" lists the \
messages you sent instead, newest first, each with receipts[]: per recipient its state (sent, delivered, read, \
acknowledged), delivered_at (its text first reached them: a get_messages page, peek or not, or their inbox \
resource), read_at, acknowledged_at and ack_note. Errors: VALIDATION (bad limit or status; status or peek with \
box \"sent\").",
        schema: schema::<args::GetMessages>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::PostTask,
        description: "Hand a piece of work to another agent (or a headless worker) and get the result back, exactly \
once. Give `to` (an agent name) or `required_capabilities` (relay picks the least-busy capable agent, or queues the \
task until one registers). Pass a request_id to make retries safe. Set write: true if the work changes files. With \
wait_seconds the call blocks until the task finishes (the task keeps running if you time out). Needs the tasks \
capability. Returns the task with its id and state.",
        schema: schema::<args::PostTask>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::UpdateTask,
        description: "Move a task along. As its assignee: \"accept\" it (you get a fencing_token and a lease; \
send \"heartbeat\" before the lease ends), then \"complete\" with a result or \"fail\" with an error; \"release\" \
gives it back, \"reject\" refuses it. As its requester: \"cancel\", or \"recover\" a parked (needs_recovery) task. \
Errors: STALE_LEASE (your claim was superseded), INVALID_STATE, NOT_PARTY, NOT_FOUND.",
        schema: schema::<args::UpdateTask>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::GetTask,
        description: "Read one task you posted or were given: its state, result or error, attempts, lease, and full \
history of transitions. With wait_seconds, waits for it to finish (timed_out: true if it has not).",
        schema: schema::<args::GetTask>,
        read_only: true,
        anonymous: false,
    },
    ToolDef {
        name: Tool::GetTasks,
        description: "List tasks assigned to you (role \"assigned\", the default: your to-do list; accept the posted \
ones with update_task) or tasks you posted (role \"posted\"), newest first, optionally by state.",
        schema: schema::<args::GetTasks>,
        read_only: true,
        anonymous: false,
    },
    ToolDef {
        name: Tool::SpawnAgent,
        description: "Open a new agent terminal (Claude Code by default) already connected to relay as a new agent, \
e.g. to get a reviewer or a helper for a sub-task. It starts in tmux or a terminal window; the operator may \
configure relay to only return the command. initial_message waits in the new agent's inbox. You can only grant \
capabilities you hold. Needs the spawn capability.",
        schema: schema::<args::SpawnAgent>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::CreateChannel,
        description: "Create a channel (a named group conversation) and join it. Needs the channels capability. \
Errors: ALREADY_EXISTS, VALIDATION (names are lowercase a-z 0-9 _ -).",
        schema: schema::<args::CreateChannel>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::JoinChannel,
        description: "Join a channel to read and post in it. Posts made before you joined count as read; \
get_channel_messages with status \"all\" still shows them. Joining twice is harmless.",
        schema: schema::<args::ChannelRef>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::LeaveChannel,
        description: "Leave a channel you joined. Errors: NOT_FOUND, NOT_MEMBER.",
        schema: schema::<args::ChannelRef>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::PostToChannel,
        description: "Post a message to a channel you have joined; every member can read it. Needs the channels \
capability. Errors: NOT_FOUND, NOT_MEMBER, CAP_DENIED, PAYLOAD_TOO_LARGE.",
        schema: schema::<args::PostToChannel>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::GetChannelMessages,
        description: "Read posts in a channel you have joined, oldest first. status \"unread\" (default) returns \
posts after your read cursor and moves the cursor past them; \"all\" returns the newest posts and leaves the \
cursor alone. Errors: NOT_FOUND, NOT_MEMBER.",
        schema: schema::<args::GetChannelMessages>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::ListChannels,
        description: "List every channel with its description, member count, whether you joined it, and how many \
of its posts you have not read.",
        schema: schema::<args::NoArgs>,
        read_only: true,
        anonymous: false,
    },
    ToolDef {
        name: Tool::RegisterWebhook,
        description: "Have relay POST events (messages, channel posts, task changes, token changes) to an HTTPS \
URL, e.g. an n8n, Zapier or Slack-bridge endpoint. Each POST carries a versioned JSON body with ids and names \
(never message text) and, with a secret, an X-Relay-Signature HMAC-SHA256 header the receiver can verify. \
Failed deliveries are retried after 1, 5 and 15 minutes. Needs the webhooks capability. Errors: VALIDATION (bad \
URL or event kind), SSRF_REFUSED (the URL points at a private, loopback or metadata address), CAP_DENIED.",
        schema: schema::<args::RegisterWebhook>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::ListWebhooks,
        description: "List the webhooks you registered (an agent with admin: every webhook), with each one's \
delivery health: delivered, pending and failed counts, the last error, and dead letters (events that could \
not be delivered after every retry). Secrets are never shown.",
        schema: schema::<args::NoArgs>,
        read_only: true,
        anonymous: false,
    },
    ToolDef {
        name: Tool::DeleteWebhook,
        description: "Delete a webhook you registered (an agent with admin: any webhook); deliveries not yet made \
are dropped. Errors: NOT_FOUND, NOT_PARTY.",
        schema: schema::<args::DeleteWebhook>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::RotateToken,
        description: "Replace your agent token (rly_...) with a new one, returned once: store it where your HTTP \
client reads its X-Agent-Token. The old token keeps working for grace_seconds (default 300) so running clients \
can switch without downtime. An agent with the admin capability may rotate another agent's token (target). \
Errors: CAP_DENIED, NOT_FOUND, VALIDATION, INVALID_STATE (the agent is revoked or waits for recovery).",
        schema: schema::<args::RotateToken>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::RevokeToken,
        description: "Revoke an agent's token at once (needs admin): its next call on any transport fails with \
AUTH_FAILED and its HTTP sessions are closed. Its mail and tasks stay. By default a one-time recovery token is \
returned to you: hand it to the agent's operator, and register_agent with it re-registers the name with a fresh \
token. Errors: CAP_DENIED, NOT_FOUND, INVALID_STATE (already revoked), VALIDATION (your own token: rotate it \
with grace_seconds 0 instead).",
        schema: schema::<args::RevokeToken>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::AcknowledgeMessage,
        description: "Tell the sender you have seen and handled a message they sent you with ack_required \
(get_messages shows ack_required and acknowledged_at; status \"unacknowledged\" lists what still waits for you). \
Optionally add a short note for the sender (max 256 characters), e.g. \"fixed in commit abc123\". The sender is \
notified at once. Acknowledging also marks the message read; acknowledged mail stops showing as waiting in your \
inbox and hooks. Returns message_id, sender and acknowledged_at. Errors: NOT_FOUND (no such message), NOT_PARTY \
(you are not one of its recipients), INVALID_STATE (you already acknowledged it, or it did not ask for an \
acknowledgement: answer with send_message instead), VALIDATION (note too long).",
        schema: schema::<args::AcknowledgeMessage>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::GetOutstanding,
        description: "List messages you sent with ack_required that some recipient has not acknowledged yet: overdue \
ones (past their ack_deadline) first, the longest overdue first, then the oldest. Each has overdue, ack_deadline, \
acks_pending (recipients still to acknowledge) and receipts[]: per recipient its state (sent, delivered, read, \
acknowledged) with delivered_at, read_at, acknowledged_at and ack_note. total and overdue count everything \
outstanding beyond this page. A message leaves the list once every recipient acknowledged it. Errors: VALIDATION \
(limit outside 1-100).",
        schema: schema::<args::GetOutstanding>,
        read_only: true,
        anonymous: false,
    },
    ToolDef {
        name: Tool::SearchMessages,
        description: "Full-text search over the messages you may read: direct mail to or from you, broadcasts you \
received, and every post of the channels you are a member of. Every word must appear (case-insensitive, whole words); \
put words in double quotes to find them as a phrase; nothing else is syntax (OR, NOT, * are ordinary words). Best \
matches first (bm25), each with kind (direct, broadcast, channel), id (the message id, or the channel post id), \
from, to, channel, thread_id, created_at, a snippet with the matched words in [brackets], and a score. Narrow it \
with from (a sender), thread_id, channel or since (RFC 3339, e.g. \"2026-11-30T00:00:00Z\"); limit 1-100, default \
20. capped: true means more than 5,000 messages matched and the newest were ranked: add words or since to reach \
older ones. partial: true means messages from before an upgrade are still being indexed. Errors: VALIDATION \
(empty query, over 256 characters or 16 words, no letters or digits, bad since, limit or from, thread_id with \
channel), NOT_FOUND (no such channel), NOT_MEMBER (a channel you have not joined).",
        schema: schema::<args::SearchMessages>,
        read_only: true,
        anonymous: false,
    },
    ToolDef {
        name: Tool::ReservePaths,
        description: "Reserve files before you edit them so other agents do not edit the same files at once. Give the \
project root (the repository's absolute path, as `git rev-parse --show-toplevel` prints it, or its remote URL such as \
\"git@github.com:owner/repo.git\"; agents in separate clones should use the remote URL), 1-100 paths or globs relative \
to that root, a reason and ttl_seconds (1-604800). Glob syntax: `*` matches within one directory level, `**` any \
number of levels (\"src/**\" is everything under src), `?` one character, [abc] one of a set; a plain path is that one \
file; \"dir/\" means everything under dir. Exclusive reservations (the default) clash with any overlapping reservation \
of another agent; shared ones (exclusive: false) only with exclusive ones. Your own reservations never clash with you: \
reserving a glob you already hold updates it. The result lists what was granted and, under conflicts, each refused \
path with every holder (agent, its glob, exclusive, reason, expires_at); the free paths are granted anyway, and each \
holder is told you are waiting. A conflict is a normal result, not an error: work on what you got, ask the holder \
(send_message), or retry later. Renew before the TTL ends (renew_reservations); release when done (release_paths). \
With request_id, a retry returns the first result (deduped: true). Errors: VALIDATION (a path that escapes the project \
such as \"/etc/x\" or \"../x\", an empty or over-long list or path, a relative project, bad ttl_seconds, an empty \
reason), PAYLOAD_TOO_LARGE (reason over 256 characters), IDEMPOTENCY_CONFLICT (request_id reused with other arguments).",
        schema: schema::<args::ReservePaths>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::RenewReservations,
        description: "Extend your live file reservations in a project before they expire: all of yours there, or those \
whose glob you name in paths (as reserve_paths returned it). Each then ends ttl_seconds from now (default: its own \
ttl_seconds). Returns the renewed reservations with their new expires_at, and not_found for named paths you do not \
hold. An expired reservation cannot be renewed (someone else may hold the files now): call reserve_paths again. \
Errors: NOT_FOUND (nothing of yours to renew), VALIDATION (bad project or paths, an empty paths list, bad \
ttl_seconds).",
        schema: schema::<args::RenewReservations>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::ReleasePaths,
        description: "Release your file reservations in a project so others may edit those files: all of yours there, \
or those whose glob you name in paths (the glob as reserved; a part of a glob cannot be released). Returns what was \
released. Releasing what you do not hold releases nothing and is no error. Errors: VALIDATION (bad project or paths, \
an empty paths list).",
        schema: schema::<args::ReleasePaths>,
        read_only: false,
        anonymous: false,
    },
    ToolDef {
        name: Tool::ListReservations,
        description: "List live file reservations (expired ones are gone): who holds which paths or globs in which \
project, exclusive or shared, why, and until when. Filter by project (path or remote URL, any spelling) or by the \
holding agent; at most limit (1-1000, default 200). Errors: VALIDATION (bad project, agent name or limit).",
        schema: schema::<args::ListReservations>,
        read_only: true,
        anonymous: false,
    },
];

/// The tool catalog as `tools/list` returns it to the newest revision;
/// built once. Every tool declares its `outputSchema` ([`super::output`]).
pub fn tools() -> &'static [rmcp::model::Tool] {
    static TOOL_LIST: OnceLock<Vec<rmcp::model::Tool>> = OnceLock::new();
    TOOL_LIST.get_or_init(|| {
        TOOLS
            .iter()
            .map(|t| {
                let output = super::output::schema(t.name.as_str()).expect("every tool has an output schema");
                rmcp::model::Tool::new(t.name.as_str(), t.description, (t.schema)())
                    .with_raw_output_schema(Arc::new(output))
                    .with_annotations(
                        ToolAnnotations::new()
                            .read_only(t.read_only)
                            .destructive(false)
                            .open_world(false),
                    )
            })
            .collect()
    })
}

/// The tool catalog as revision `v` knows it (see [`super::revision`]).
pub fn tools_for(v: &ProtocolVersion) -> &'static [rmcp::model::Tool] {
    static BY_REVISION: [OnceLock<Vec<rmcp::model::Tool>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match (
        super::revision::has_annotations(v),
        super::revision::has_structured_output(v),
    ) {
        (_, true) => return tools(),
        (true, false) => &BY_REVISION[1],
        (false, _) => &BY_REVISION[0],
    };
    slot.get_or_init(|| tools().iter().map(|t| super::revision::tool(t.clone(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_listed_once_in_order_and_parses_back() {
        assert_eq!(TOOLS.len(), Tool::ALL.len());
        for (def, tool) in TOOLS.iter().zip(Tool::ALL) {
            assert_eq!(def.name, tool);
            assert_eq!(tool.as_str().parse::<Tool>(), Ok(tool));
        }
        assert_eq!("nope".parse::<Tool>(), Err(UnknownTool));
    }
}
