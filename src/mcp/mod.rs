//! The MCP server (`relay serve`): tools over the store, spoken on stdio.

pub mod args;
pub mod delivery;
pub mod desktop;
pub mod feed;
pub mod output;
pub mod resource;
pub mod revision;
pub mod server;
pub mod spawn;
pub mod stdio;

use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::service::ServerInitializeError;

pub use server::RelayServer;

use crate::config::Settings;
use crate::store::{Executor, Store};

/// How often an idle session refreshes its agent's `last_seen`, in seconds.
pub const PRESENCE_TICK_SECONDS: u64 = 60;
/// How often each serve process sweeps task leases and TTLs, in seconds
/// (every call that touches tasks sweeps too).
pub const TASK_SWEEP_TICK_SECONDS: u64 = 5;
/// How often retention runs in each serve process, in seconds.
pub const RETENTION_TICK_SECONDS: u64 = 3600;

/// Serves one MCP session on stdin/stdout until the client closes stdin.
///
/// `agent` is the name bound by `--agent` (already registered). Errors
/// only for failures of the session itself; a client that disconnects
/// before `initialize` is a clean exit.
pub async fn serve_stdio(
    store: Arc<Store>,
    agent: Option<String>,
    settings: Settings,
    channel: bool,
    notify: bool,
    spawn_mode: spawn::SpawnMode,
) -> anyhow::Result<()> {
    let server = RelayServer::new(Executor::start(store.clone()), agent, crate::store::Transport::Stdio)
        .with_channel(channel)
        .with_spawn_mode(spawn_mode)
        .with_deliveries();
    let deliveries = server.deliveries().expect("turned on above");
    let (transport, pipes) = stdio::start(settings.max_line_bytes);
    let transport = transport.with_deliveries(deliveries.clone());
    let db = settings.db.clone();
    // Where the change feed starts: read before the handshake, so an event
    // committed while the client initializes is still delivered.
    let cursor = store.latest_event_id()?;
    let ticker = tokio::spawn(background(store, server.clone(), settings));
    let outcome = match server.clone().serve(transport).await {
        Ok(running) => {
            let feed = tokio::spawn(feed::follow(
                server,
                running.peer().clone(),
                db,
                channel,
                notify,
                cursor,
            ));
            let done = running.waiting().await.map(|_| ()).map_err(anyhow::Error::from);
            feed.abort();
            done
        }
        Err(ServerInitializeError::ConnectionClosed(_)) => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context("MCP initialization failed")),
    };
    ticker.abort();
    // Flush what is queued for stdout (the writer ends once all senders
    // are gone), then record the deliveries of what it wrote: a client that
    // reads its mail and closes stdin at once must not get it again.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tokio::task::spawn_blocking(move || pipes.writer.join()).await;
        deliveries.settled().await;
    })
    .await;
    outcome
}

/// Keeps the bound agent's presence fresh and runs retention.
async fn background(store: Arc<Store>, server: RelayServer, settings: Settings) {
    let mut presence = tokio::time::interval(Duration::from_secs(PRESENCE_TICK_SECONDS));
    // The first purge waits a minute: startup stays quick and quiet.
    let mut retention = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(60),
        Duration::from_secs(RETENTION_TICK_SECONDS),
    );
    let mut sweep = tokio::time::interval(Duration::from_secs(TASK_SWEEP_TICK_SECONDS));
    presence.tick().await;
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                // Cheap unless something is due: two index probes, then a
                // write only when a lease, a TTL or a queued task needs it.
                let store = store.clone();
                // Best-effort: the next tick retries, and a stopped writer
                // elsewhere must not hold this process's connection.
                let swept = tokio::task::spawn_blocking(move || {
                    store.best_effort(|| {
                        store.sweep_if_due()?;
                        store.route_queued()
                    })
                })
                .await;
                if let Ok(Err(e)) = swept {
                    tracing::warn!("task sweep failed: {e}");
                }
            }
            _ = presence.tick() => {
                if let Some(name) = server.bound_agent() {
                    let store = store.clone();
                    let _ = tokio::task::spawn_blocking(move || store.touch_agent(&name)).await;
                }
            }
            _ = retention.tick() => {
                let store = store.clone();
                let policy = settings.retention;
                match tokio::task::spawn_blocking(move || store.purge(policy)).await {
                    Ok(Err(e)) => tracing::warn!("retention failed: {e}"),
                    Ok(Ok(purged)) => tracing::debug!(?purged, "retention ran"),
                    Err(_) => {}
                }
            }
        }
    }
}
