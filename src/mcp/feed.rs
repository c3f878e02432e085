//! The change feed of one `relay serve` session (SPEC §3.2): follows the
//! `events` outbox from its own cursor and pushes MCP notifications for
//! events that concern the session's agent.
//!
//! Change detection costs nothing while idle: the process watches the
//! store's WAL file (inotify on Linux, through the `notify` crate; every
//! commit by any process writes it). A file event arrives a moment before
//! SQLite publishes the commit, and most commits are not for this agent,
//! so the feed then polls SQLite's `data_version` (about a microsecond)
//! on a short backoff and reads the outbox once it has moved. A 1 s
//! fallback catches a missed file event and this process's own commits.
//! Each read takes only events after the cursor, so no event is delivered
//! twice, and only the agent's own events (its mail, its tasks, posts by
//! others in channels it joined), so there is no cross-talk.
//!
//! What is pushed:
//! - `notifications/resources/updated` for subscribed URIs
//!   (`relay://inbox/{agent}`, `relay://task/{id}`, `relay://channel/{name}`);
//! - with `serve --channel`, `notifications/claude/channel` with a fixed
//!   envelope `{content, meta: {event, id, from}}`. It never carries the
//!   message or task text: that is untrusted input from another agent, and
//!   the model must read it through a tool (prompt-injection safety).
//!
//! Nothing is sent before the client's `notifications/initialized`.

use std::path::PathBuf;
use std::time::Duration;

use rmcp::model::{CustomNotification, ResourceUpdatedNotificationParam, ServerNotification};
use rmcp::{Peer, RoleServer};
use serde_json::json;

use super::server::RelayServer;
use crate::store::events::Event;
use crate::watch::{FALLBACK_POLL, commit_visible};

/// The shortest time between two outbox checks of one session.
pub const MIN_SPACING: Duration = Duration::from_millis(5);
/// Events read per wake-up (more are read on the next turn of the loop).
const BATCH: usize = 256;

/// The notification method Claude Code's channels listen for.
pub const CLAUDE_CHANNEL_METHOD: &str = "notifications/claude/channel";

/// The URIs an event touches, for `resources/updated`.
pub fn uris_for(agent: &str, event: &Event) -> Vec<String> {
    let inbox = format!("relay://inbox/{agent}");
    let task = event.subject_id.map(|id| format!("relay://task/{id}"));
    match event.kind.as_str() {
        "message" | "broadcast" => vec![inbox],
        "task_posted" | "task_cancelled" => [Some(inbox), task].into_iter().flatten().collect(),
        "task_finished" => task.into_iter().collect(),
        "channel_post" => event.channel.iter().map(|c| format!("relay://channel/{c}")).collect(),
        _ => vec![inbox],
    }
}

/// The `notifications/claude/channel` envelope for an event: fixed text
/// and ids only, never content. `None` for events a channel does not wake
/// the model for.
pub fn channel_envelope(event: &Event) -> Option<serde_json::Value> {
    let content = match event.kind.as_str() {
        "message" => "You have a new relay message. Read it with the get_messages tool.",
        "broadcast" => "You have a new relay broadcast. Read it with the get_messages tool.",
        "channel_post" => "There is a new post in a relay channel you joined. Read it with get_channel_messages.",
        "task_posted" => "A relay task was assigned to you. Read it with get_tasks and accept it with update_task.",
        "task_finished" => "A relay task you posted has finished. Read the result with get_task.",
        "task_cancelled" => "A relay task you were working on was cancelled. Stop working on it.",
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

/// Follows the outbox for `server`'s session until the session ends,
/// pushing notifications through `peer` (and to the desktop with `notify`).
/// `cursor` is the newest event id when the process started (read before
/// the MCP handshake, so an event committed during it is not skipped).
pub async fn follow(
    server: RelayServer,
    peer: Peer<RoleServer>,
    db: PathBuf,
    channel_mode: bool,
    notify: bool,
    mut cursor: i64,
) {
    let mut desktop = super::desktop::Desktop::default();
    let exec = server.executor().clone();
    let wake = server.wake();
    // The file watch exists only while the session has something to push:
    // otherwise every commit by any process would wake this one for nothing.
    let mut watcher: Option<notify::RecommendedWatcher> = None;
    server.wait_until_initialized().await;
    let version = |exec: &crate::store::Executor| {
        let store = exec.store().clone();
        async move {
            tokio::task::spawn_blocking(move || store.data_version())
                .await
                .ok()
                .and_then(Result::ok)
        }
    };
    let mut seen = version(&exec).await.unwrap_or(0);
    let mut fallback = false;
    let mut watch_started = false;
    let mut last_check = tokio::time::Instant::now();
    // Pushes only matter to a session with a subscription, --channel or
    // --notify; the others let commits go by without looking.
    let interested = |server: &RelayServer| channel_mode || notify || server.has_subscriptions();
    loop {
        match (interested(&server), watcher.is_some()) {
            (true, false) => {
                watcher = crate::watch::store_changes(&db, wake.clone());
                // Re-take the baseline now that the watch runs, before the
                // outbox is read: commits by other processes since the last
                // look (while nothing watched) would otherwise make the first
                // file event compare against a stale value, "see" a commit
                // SQLite has not published yet, read nothing, and leave the
                // notification to the fallback poll. Everything visible now
                // is covered by the read below; anything later wakes the watch.
                seen = version(&exec).await.unwrap_or(seen);
                // A commit that wrote the WAL just before the watch began
                // may publish after that read: look once as if woken.
                watch_started = watcher.is_some();
            }
            (false, true) => watcher = None,
            _ => {}
        }
        let agent = server.bound_agent().filter(|_| interested(&server));
        if let Some(agent) = agent {
            // Read the outbox until it has nothing more for us.
            loop {
                let store = exec.store().clone();
                let me = agent.clone();
                let events = match tokio::task::spawn_blocking(move || store.events_for(&me, cursor, BATCH)).await {
                    Ok(Ok(events)) => events,
                    Ok(Err(e)) => {
                        tracing::warn!("reading the outbox failed: {e}");
                        Vec::new()
                    }
                    Err(_) => return,
                };
                if !deliver(
                    &server,
                    &peer,
                    &agent,
                    &events,
                    &mut cursor,
                    channel_mode,
                    notify.then_some(&mut desktop),
                )
                .await
                {
                    return; // the session is gone
                }
                if events.len() < BATCH {
                    break;
                }
            }
        } else if fallback {
            // Unbound or not listening: nothing to push; start from now.
            let store = exec.store().clone();
            if let Ok(Ok(latest)) = tokio::task::spawn_blocking(move || store.latest_event_id()).await {
                cursor = latest;
            }
        }
        // Wait for another process's commit (file event) or the fallback.
        // A file event comes a moment before SQLite publishes the commit,
        // and most commits are not for us: poll the cheap data_version
        // until it moves, then read the outbox once.
        loop {
            fallback = if std::mem::take(&mut watch_started) {
                false
            } else {
                tokio::select! {
                    _ = wake.notified() => false,
                    _ = tokio::time::sleep(FALLBACK_POLL) => true,
                }
            };
            if fallback {
                seen = version(&exec).await.unwrap_or(seen);
                break;
            }
            if interested(&server) != watcher.is_some() {
                break; // subscribed or unsubscribed: start or stop watching
            }
            if !interested(&server) {
                continue;
            }
            // At most one check per MIN_SPACING: a burst of commits by
            // other processes coalesces into one look.
            tokio::time::sleep_until(last_check + MIN_SPACING).await;
            last_check = tokio::time::Instant::now();
            if commit_visible(&mut seen, || version(&exec), Some(&wake)).await {
                break;
            }
        }
    }
}

/// Pushes the notifications for `events`, advancing `cursor`. Returns
/// false when the session is gone.
async fn deliver(
    server: &RelayServer,
    peer: &Peer<RoleServer>,
    agent: &str,
    events: &[Event],
    cursor: &mut i64,
    channel_mode: bool,
    mut desktop: Option<&mut super::desktop::Desktop>,
) -> bool {
    for event in events {
        *cursor = event.id;
        let listeners = server.listeners();
        for uri in uris_for(agent, event) {
            // 2026 subscriptions: each sink passes only its own URIs.
            for sink in &listeners {
                let _ = sink.notify_resource_updated(uri.clone()).await;
            }
            if server.is_subscribed(&uri)
                && peer
                    .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                    .await
                    .is_err()
            {
                return false;
            }
        }
        if let Some(d) = desktop.as_deref_mut()
            && let Some(text) = super::desktop::text(event)
        {
            d.show(&text);
        }
        if channel_mode && let Some(params) = channel_envelope(event) {
            let note = CustomNotification::new(CLAUDE_CHANNEL_METHOD, Some(params));
            if peer
                .send_notification(ServerNotification::CustomNotification(note))
                .await
                .is_err()
            {
                return false;
            }
        }
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
        ] {
            let env = channel_envelope(&event(kind)).unwrap();
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
    }
}
