//! What a session is told about an outbox event (SPEC §3.2). The process's
//! [`Runtime`](super::runtime::Runtime) follows the outbox and hands each
//! session only its agent's own events (its mail, its tasks, posts by
//! others in channels it joined), each once; this module turns one into
//! notifications.
//!
//! What is pushed:
//! - `notifications/resources/updated` for subscribed URIs
//!   (`relay://inbox/{agent}`, `relay://task/{id}`, `relay://channel/{name}`);
//! - with `serve --channel`, `notifications/claude/channel` with a fixed
//!   envelope `{content, meta: {event, id, from}}`. It never carries the
//!   message or task text: that is untrusted input from another agent, and
//!   the model must read it through a tool (prompt-injection safety).
//!
//! A `token_rotated` or `token_revoked` event about the session's agent
//! (SPEC §3.2 "token rotation") updates `relay://inbox/{agent}` for a
//! session subscribed to it (the nudge to look: `health_check` shows the
//! agent's `auth_state`) and, with `--channel`, sends an envelope saying
//! what happened and what to do. Neither ever carries a token: the new
//! one is only in the result of the call that rotated it.
//!
//! MCP Tasks ([`super::protocol_tasks`]): a `task_finished` event (the
//! requester hears that its task reached a terminal state, needs recovery
//! or was cancelled) for a task the session follows is pushed as the
//! task's new status, read from the store: 2025-11-25
//! `notifications/tasks/status` to a session that created or asked about
//! the task, 2026 `notifications/tasks` on each listen stream that named
//! it. Changes that move no protocol status (accept, release, a retry:
//! all `working`) send nothing; nor does `recover` (back to `working`),
//! whose event goes to the assignee (the specification makes these
//! notifications optional: clients keep polling `tasks/get`).
//!
//! Nothing is sent before the client's `notifications/initialized` (a 2026
//! session: before its first `subscriptions/listen`). The envelope goes
//! to 2025-11-25 sessions only: rmcp's 2026 listen streams carry only the
//! protocol's own notifications.

use rmcp::model::{CustomNotification, ResourceUpdatedNotificationParam, ServerNotification};
use serde_json::json;

use super::session::SessionState;
use crate::store::events::Event;
use crate::store::events::Kind;
use crate::store::{Caller, Store};

/// What the feed needs to push a task's protocol status: the store to
/// read the task from, and the retention that sets its TTL.
#[derive(Debug, Clone)]
pub struct TaskViews {
    /// The process's store.
    pub store: std::sync::Arc<Store>,
    /// `[retention] tasks_days`.
    pub retention_days: u32,
}

/// The notification method Claude Code's channels listen for.
pub const CLAUDE_CHANNEL_METHOD: &str = "notifications/claude/channel";

/// The URIs an event touches, for `resources/updated`.
pub fn uris_for(agent: &str, event: &Event) -> Vec<String> {
    let inbox = format!("relay://inbox/{agent}");
    let task = event.subject_id.map(|id| format!("relay://task/{id}"));
    match event.kind {
        Kind::Message | Kind::Broadcast => vec![inbox],
        Kind::TaskPosted | Kind::TaskCancelled => [Some(inbox), task].into_iter().flatten().collect(),
        Kind::TaskFinished => task.into_iter().collect(),
        Kind::ChannelPost => event.channel.iter().map(|c| format!("relay://channel/{c}")).collect(),
        _ => vec![inbox],
    }
}

/// The `notifications/claude/channel` envelope for an event: fixed text
/// and ids only, never content. `None` for events a channel does not wake
/// the model for.
pub fn channel_envelope(event: &Event) -> Option<serde_json::Value> {
    let content = match event.kind {
        Kind::Message => "You have a new relay message. Read it with the get_messages tool.",
        Kind::Broadcast => "You have a new relay broadcast. Read it with the get_messages tool.",
        Kind::ChannelPost => "There is a new post in a relay channel you joined. Read it with get_channel_messages.",
        Kind::TaskPosted => "A relay task was assigned to you. Read it with get_tasks and accept it with update_task.",
        Kind::TaskFinished => "A relay task you posted has finished. Read the result with get_task.",
        Kind::TaskCancelled => "A relay task you were working on was cancelled. Stop working on it.",
        Kind::MessageAcknowledged => {
            "An agent acknowledged a relay message you sent. See what still waits with get_outstanding."
        }
        Kind::ReservationConflict => {
            "Another relay agent is waiting on files you reserved. See list_reservations; release_paths when you \
             are done with them."
        }
        Kind::TokenRotated => {
            "Your relay agent token was rotated. The old token works only until the grace period ends: an HTTP \
             client that sends it as X-Agent-Token needs the new one from whoever rotated it. Call health_check \
             to see your auth_state."
        }
        Kind::TokenRevoked => {
            "Your relay agent token was revoked: your relay calls now fail with AUTH_FAILED. Ask the relay \
             operator or an admin for a recovery token."
        }
        _ => return None,
    };
    let mut meta = json!({
        "event": event.kind,
        "id": event.subject_id.map(|id| id.to_string()).unwrap_or_default(),
        "from": event.actor.clone().unwrap_or_default(),
    });
    if let Some(channel) = &event.channel {
        meta["channel"] = json!(channel);
    }
    Some(json!({ "content": content, "meta": meta }))
}

/// Pushes the notifications for one `event` of `agent` to the session
/// behind `state` (and to the desktop with `desktop`). Returns false when
/// the session is gone.
pub async fn deliver(
    state: &SessionState,
    agent: &str,
    event: &Event,
    desktop: Option<&mut super::desktop::Desktop>,
    tasks: &TaskViews,
) -> bool {
    let peer = state.peer();
    if !deliver_task_status(state, agent, event, peer.as_ref(), tasks).await {
        return false;
    }
    let listeners = state.listeners();
    for uri in uris_for(agent, event) {
        // 2026 subscriptions: each sink passes only its own URIs.
        for sink in &listeners {
            let _ = sink.notify_resource_updated(uri.clone()).await;
        }
        if let Some(peer) = &peer
            && state.is_subscribed(&uri)
            && peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await
                .is_err()
        {
            return false;
        }
    }
    if let Some(d) = desktop
        && let Some(text) = super::desktop::text(event)
    {
        d.show(&text);
    }
    if state.channel_mode()
        && let Some(params) = channel_envelope(event)
    {
        let note = CustomNotification::new(CLAUDE_CHANNEL_METHOD, Some(params));
        // A 2026 session has no peer to send it to: rmcp's listen
        // streams carry only the protocol's own notifications.
        let sent = match &peer {
            Some(peer) => peer
                .send_notification(ServerNotification::CustomNotification(note))
                .await
                .is_ok(),
            None => true,
        };
        if !sent {
            return false;
        }
    }
    true
}

/// Pushes the MCP Tasks status of a `task_finished` event's task to the
/// session, where it follows the task. Returns false when the session's
/// 2025 peer is gone (a closed 2026 stream only ends that stream).
async fn deliver_task_status(
    state: &SessionState,
    agent: &str,
    event: &Event,
    peer: Option<&rmcp::service::Peer<rmcp::RoleServer>>,
    tasks: &TaskViews,
) -> bool {
    let Some(id) = event.subject_id.filter(|_| event.kind == Kind::TaskFinished) else {
        return true;
    };
    let legacy = state.follows(id).then_some(peer).flatten();
    let listeners = state.task_listeners_of(id);
    if legacy.is_none() && listeners.is_empty() {
        return true;
    }
    let store = tasks.store.clone();
    let (agent, transport) = (agent.to_owned(), state.transport());
    let read = tokio::task::spawn_blocking(move || {
        store.get_task(
            Caller {
                agent: &agent,
                transport,
            },
            id,
        )
    })
    .await;
    let task = match read {
        Ok(Ok((task, _))) => task,
        // Purged, or the agent lost access: nothing to tell.
        Ok(Err(e)) => {
            tracing::debug!(task = id, code = %e.code, "no task status to push");
            return true;
        }
        Err(_) => return true,
    };
    let days = tasks.retention_days;
    if let Some(peer) = legacy
        && peer
            .send_notification(super::protocol_tasks::legacy_notification(&task, days))
            .await
            .is_err()
    {
        return false;
    }
    for listener in listeners {
        let note = super::protocol_tasks::extension_notification(&task, days, listener.id.clone());
        let _ = listener.peer.send_notification(note).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str) -> Event {
        Event {
            id: 7,
            kind: kind.parse().unwrap(),
            target: Some("bob".into()),
            actor: Some("alice".into()),
            subject_id: Some(42),
            channel: (kind == "channel_post").then(|| "ops".into()),
            created_at: String::new(),
        }
    }

    #[test]
    fn envelopes_carry_ids_and_fixed_text_only() {
        for kind in [
            "message",
            "broadcast",
            "channel_post",
            "task_posted",
            "task_finished",
            "task_cancelled",
            "token_rotated",
            "token_revoked",
        ] {
            let env = channel_envelope(&event(kind)).unwrap();
            assert!(
                !env["content"].as_str().unwrap().contains("rly_"),
                "{kind}: never a token"
            );
            assert_eq!(env["meta"]["id"], "42");
            assert_eq!(env["meta"]["from"], "alice");
            assert_eq!(env["meta"]["event"], kind);
            assert_eq!(env.as_object().unwrap().len(), 2);
        }
        assert!(channel_envelope(&event("agent_registered")).is_none());
    }

    #[test]
    fn events_map_to_the_resources_they_change() {
        assert_eq!(uris_for("bob", &event("message")), ["relay://inbox/bob"]);
        assert_eq!(
            uris_for("bob", &event("task_posted")),
            ["relay://inbox/bob", "relay://task/42"]
        );
        assert_eq!(uris_for("bob", &event("task_finished")), ["relay://task/42"]);
        assert_eq!(uris_for("bob", &event("channel_post")), ["relay://channel/ops"]);
        assert_eq!(uris_for("bob", &event("token_rotated")), ["relay://inbox/bob"]);
    }
}
