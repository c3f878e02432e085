//! `relay serve`: the MCP server an agent's MCP config starts.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use tokio_util::sync::CancellationToken;

use crate::cli::{ServeArgs, Transport};
use crate::config::Settings;
use crate::http::{Hub, HubOptions};
use crate::mcp::Runtime;

/// Opens the store, binds `--agent` if given, and serves MCP on stdio
/// until the client closes stdin.
///
/// Errors (exit 2): the store cannot be opened, or `--agent` is not a
/// valid name or belongs to a revoked agent.
pub fn run(args: &ServeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = Arc::new(settings.open_store()?);
    // An empty `RELAY_AGENT=` (or role, or capability) in an MCP config
    // means "not set".
    let role = args.role.as_deref().filter(|r| !r.is_empty());
    let capabilities: Option<Vec<String>> = args.capabilities.as_ref().map(|caps| {
        caps.iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    });
    let agent = match args.agent.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => Some(
            store
                .bind_agent(name, role, capabilities.as_deref(), crate::store::Transport::Stdio)
                .with_context(|| format!("cannot bind this session to agent {name:?}"))?,
        ),
        None => None,
    };
    match args.transport {
        Transport::Stdio => serve_stdio(store, agent.map(|a| a.name), args, settings),
        Transport::Http | Transport::Both => serve_hub(store, agent.map(|a| a.name), args, settings),
    }
}

fn serve_stdio(
    store: Arc<crate::store::Store>,
    agent: Option<String>,
    args: &ServeArgs,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    if std::io::stdin().is_terminal() {
        eprintln!(
            "relay serve speaks MCP (JSON-RPC) on stdin/stdout and is meant to be started by an MCP \
             client; see `relay serve --help`. Press Ctrl-D to quit."
        );
    }
    // The runtime thread only routes messages: store calls run on the
    // store thread (group commit), stdin and stdout have threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let relay = Runtime::start(store.clone(), settings)?;
        let served = crate::mcp::serve_stdio(
            relay.clone(),
            agent,
            settings.max_line_bytes,
            args.channel,
            args.notify,
            args.spawn_mode,
        )
        .await;
        relay.shutdown();
        served
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    close(store);
    Ok(ExitCode::SUCCESS)
}

/// Closes the store once the store thread has let go of it (it does as
/// soon as its last handle drops), so SQLite checkpoints the WAL and
/// removes it before the process exits, as a clean close should.
fn close(store: Arc<crate::store::Store>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while Arc::strong_count(&store) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(store);
}

/// `--transport http|both`: the hub, and with `both` the `--agent`'s
/// session on stdio too. Runs until SIGTERM or SIGINT (with `both`, also
/// until stdin closes).
fn serve_hub(
    store: Arc<crate::store::Store>,
    agent: Option<String>,
    args: &ServeArgs,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let options = HubOptions {
        host: args.host.clone().unwrap_or_else(|| settings.http.host.clone()),
        port: args.port.unwrap_or(settings.http.port),
    };
    // A non-loopback bind needs the hub secret (SPEC §7): exit 2.
    settings.http.check_bind(&options.host)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let relay = Runtime::start(store.clone(), settings)?;
        let hub = Hub::bind(relay.clone(), settings, &options).await?;
        let addr = hub.local_addr()?;
        eprintln!("listening on http://{addr}{}", crate::http::MCP_PATH);
        eprintln!("dashboard at http://{addr}/");
        let shutdown = CancellationToken::new();
        tokio::spawn(on_signal(shutdown.clone()));
        let stdio = if args.transport == Transport::Both {
            let (relay, shutdown) = (relay.clone(), shutdown.clone());
            let (channel, notify, spawn_mode, max_line) =
                (args.channel, args.notify, args.spawn_mode, settings.max_line_bytes);
            Some(tokio::spawn(async move {
                let served = crate::mcp::serve_stdio(relay, agent, max_line, channel, notify, spawn_mode).await;
                // The client that started us closed stdin: we are done.
                shutdown.cancel();
                served
            }))
        } else {
            None
        };
        let served = hub.serve(shutdown).await;
        if let Some(stdio) = stdio {
            stdio.abort();
        }
        relay.shutdown();
        served
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    close(store);
    Ok(ExitCode::SUCCESS)
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
async fn on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing calls in flight"),
        _ = int.recv() => tracing::info!("SIGINT: finishing calls in flight"),
    }
    shutdown.cancel();
}
