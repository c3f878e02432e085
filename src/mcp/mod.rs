//! The MCP server (`relay serve`): tools over the store, spoken on stdio
//! and over the HTTP hub ([`crate::http`]). The core (catalog, handlers,
//! resources, session state, the process runtime) is transport-neutral;
//! `stdio` and the hub hold only protocol code.

pub mod acks;
pub mod args;
pub mod catalog;
pub mod delivery;
pub mod desktop;
pub mod feed;
pub mod handlers;
pub mod output;
pub mod protocol_tasks;
pub mod reservations;
pub mod resource;
pub mod revision;
pub mod runtime;
pub mod search;
pub mod server;
pub mod session;
pub mod spawn;
pub mod stdio;
pub mod tokens;
pub mod webhooks;

use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::service::ServerInitializeError;

pub use runtime::Runtime;
pub use server::RelayServer;
pub use session::Transport;

/// Serves one MCP session on stdin/stdout until the client closes stdin,
/// on the process's `runtime`.
///
/// `agent` is the name bound by `--agent` (already registered). Errors
/// only for failures of the session itself; a client that disconnects
/// before `initialize` is a clean exit.
pub async fn serve_stdio(
    runtime: Runtime,
    agent: Option<String>,
    max_line_bytes: usize,
    channel: bool,
    notify: bool,
    spawn_mode: spawn::SpawnMode,
) -> anyhow::Result<()> {
    let server = RelayServer::new(runtime, agent, Transport::Stdio)
        .with_desktop(notify)
        .with_channel(channel)
        .with_spawn_mode(spawn_mode)
        .with_deliveries();
    let deliveries = server.deliveries().expect("turned on above");
    let (transport, pipes) = stdio::start(max_line_bytes);
    let transport = transport.with_deliveries(deliveries.clone());
    let outcome = match server.clone().serve(transport).await {
        Ok(running) => {
            server.join_feed(Some(running.peer().clone()));
            running.waiting().await.map(|_| ()).map_err(anyhow::Error::from)
        }
        Err(ServerInitializeError::ConnectionClosed(_)) => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context("MCP initialization failed")),
    };
    drop(server);
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
