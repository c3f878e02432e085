//! `relay tail`: a live stream of relay events for the operator. Reads the
//! `events` outbox from its own cursor, woken by the store's file watch.
//!
//! With `--hub URL` (or, with `--agent`, that agent's pairing) it follows
//! the hub's `GET /api/events` instead ([`crate::remote::events`]; the
//! hub secret from `--secret-file` or `RELAY_HTTP_SECRET`), reconnecting
//! with `Last-Event-ID` after the hub restarts: no event is missed or
//! printed twice. The lines are the same.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::TailArgs;
use crate::config::Settings;
use crate::store::Store;
use crate::store::events::Event;
use crate::store::events::Kind;
use crate::watch::{FALLBACK_POLL, commit_visible};

/// Follows the outbox until interrupted (or stdout closes).
///
/// Errors (exit 2): the store cannot be opened; remote: a bad URL, an
/// unreadable secret file; the hub refuses the secret or is not a relay
/// hub (exit 1).
pub fn run(args: &TailArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(agent) = &args.agent {
        crate::store::validate::agent_name(agent)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let dir = crate::remote::pairing::config_dir(settings.config_file.as_deref())?;
    if let Some(target) = crate::remote::Target::resolve(&args.remote, args.agent.as_deref(), &dir)? {
        return runtime.block_on(follow_hub(target, args.clone()));
    }
    let store = Arc::new(settings.open_store()?);
    runtime.block_on(follow(store, settings.db.clone(), args.clone()))?;
    Ok(ExitCode::SUCCESS)
}

async fn follow_hub(target: crate::remote::Target, args: TailArgs) -> anyhow::Result<ExitCode> {
    use crate::remote::events::{Follow, Refused, Start, follow};
    let spec = Follow {
        hub: target.hub,
        secret: target.secret,
        agent: args.agent.clone(),
        start: Start::Last(args.last),
    };
    let followed = follow(spec, |event| {
        let text = if args.json {
            serde_json::to_string(&event).unwrap_or_default()
        } else {
            line(&event)
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
    })
    .await;
    match followed {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.downcast_ref::<Refused>().is_some() => {
            eprintln!("relay: error: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e),
    }
}

async fn follow(store: Arc<Store>, db: std::path::PathBuf, args: TailArgs) -> anyhow::Result<()> {
    let mut cursor = store.event_id_back(args.last)?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let _watcher = crate::watch::store_changes(&db, wake.clone());
    let mut seen = store.data_version()?;
    loop {
        let events = store.events_after(cursor, 512)?;
        let mut out = std::io::stdout().lock();
        for event in &events {
            cursor = event.id;
            if args
                .agent
                .as_deref()
                .is_some_and(|a| event.target.as_deref() != Some(a) && event.actor.as_deref() != Some(a))
            {
                continue;
            }
            let line = if args.json {
                serde_json::to_string(event)?
            } else {
                line(event)
            };
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e.into());
            }
        }
        drop(out);
        if events.len() == 512 {
            continue;
        }
        // Read again after the fallback, or once another process's commit
        // is visible after a file event.
        loop {
            let fallback = tokio::select! {
                _ = wake.notified() => false,
                _ = tokio::time::sleep(FALLBACK_POLL) => true,
            };
            if fallback
                || commit_visible(&mut seen, || std::future::ready(store.data_version().ok()), Some(&wake)).await
            {
                break;
            }
        }
    }
}

/// One event as a line: time, kind, who → whom, and the id involved.
pub fn line(e: &Event) -> String {
    let time = e.created_at.get(11..23).unwrap_or(&e.created_at);
    let actor = e.actor.as_deref().unwrap_or("relay");
    let target = e.target.as_deref().unwrap_or("");
    let id = e.subject_id.map(|i| i.to_string()).unwrap_or_default();
    let what = match e.kind {
        Kind::Message => format!("{actor} → {target}  message {id}"),
        Kind::Broadcast => format!("{actor} → {target}  broadcast {id}"),
        Kind::ChannelPost => format!("{actor} → #{}  post {id}", e.channel.as_deref().unwrap_or("?")),
        Kind::ChannelCreated => format!("{actor} created #{}", e.channel.as_deref().unwrap_or("?")),
        Kind::TaskPosted => format!("{actor} → {target}  task {id} posted"),
        Kind::TaskFinished => format!("{actor} → {target}  task {id} finished"),
        Kind::TaskCancelled => format!("{actor} → {target}  task {id} cancelled"),
        Kind::AgentRegistered => format!("{actor} registered"),
        Kind::AgentUnregistered => format!("{actor} unregistered"),
        Kind::StatusChanged => format!("{actor} changed status"),
        Kind::TokenRotated => format!("{actor} rotated the token of {target}"),
        Kind::TokenRevoked => format!("{actor} revoked the token of {target}"),
        Kind::WebhookDeliveryFailed => format!("webhook {id} of {target}: delivery failed"),
        Kind::MessageAcknowledged => format!("{actor} → {target}  acknowledged message {id}"),
        Kind::ReservationGranted => format!("{actor} reserved paths (reservation {id})"),
        Kind::ReservationReleased => format!("{actor} released reservation {id}"),
        Kind::ReservationConflict => format!("{actor} → {target}  waits on reservation {id}"),
    };
    format!("{time}  {:<16} {what}", e.kind)
}
