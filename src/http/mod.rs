//! The HTTP hub (`relay serve --transport http|both`, SPEC §7): MCP
//! Streamable HTTP at `/mcp` (rmcp's server on axum), many sessions in one
//! process, each request bound to the agent of its `X-Agent-Token`.
//!
//! Both protocol revisions clients speak are served by the same handler:
//! 2025-11-25 sessions (`initialize`, `Mcp-Session-Id`, the GET stream,
//! DELETE) and 2026-07-28 stateless requests (`_meta`, `server/discover`,
//! `subscriptions/listen`, `Mcp-Method`/`Mcp-Name`), as rmcp implements
//! them. Everything relay-specific (tools, resources, rules) is the same
//! core the stdio transport runs ([`crate::mcp`]); this module holds only
//! HTTP: the listener, the access layer ([`access`]), ending a revoked
//! agent's sessions ([`revocation`]), the endpoints for people and
//! scripts ([`endpoints`]), the dashboard ([`dashboard`]) and shutdown.

pub mod access;
pub mod dashboard;
pub mod dashboard_cache;
pub mod endpoints;
pub mod proxy;
pub mod ratelimit;
pub mod receipts;
pub mod revocation;
pub mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::mcp::session::request_agent;
use crate::mcp::{RelayServer, Runtime, Transport};

/// The MCP endpoint's path.
pub const MCP_PATH: &str = "/mcp";
/// The default hub port.
pub const DEFAULT_PORT: u16 = 3777;
/// How long SIGTERM waits for tool calls in flight before it closes the
/// sessions' streams, in seconds.
pub const SHUTDOWN_GRACE_SECONDS: u64 = 10;
/// SSE keep-alive comment interval on open streams, in seconds.
pub const SSE_KEEP_ALIVE_SECONDS: u64 = 15;

/// Where and how the hub listens.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The address to bind (`--host`).
    pub host: String,
    /// The port (`--port`; 0 lets the OS choose).
    pub port: u16,
}

/// A bound hub, not yet serving: [`Hub::serve`] runs it.
pub struct Hub {
    listener: tokio::net::TcpListener,
    app: axum::Router,
    rmcp_stop: CancellationToken,
    runtime: Runtime,
}

impl Hub {
    /// Binds the listener and builds the routes on `runtime`.
    ///
    /// Errors: the address cannot be bound (in use, not local, no
    /// permission), or the access settings are invalid.
    pub async fn bind(runtime: Runtime, settings: &Settings, options: &HubOptions) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", options.host, options.port))?;
        let http = crate::config::HttpSettings {
            host: options.host.clone(),
            ..settings.http.clone()
        };
        let access = Arc::new(
            access::Access::new(&http, runtime.executor().store().clone()).context("invalid [http] settings")?,
        );
        let rmcp_stop = CancellationToken::new();
        let rt = runtime.clone();
        // rmcp calls this for each 2025 session's `initialize` and each
        // 2026 stateless request, inside the request's task: the access
        // layer's identity is there for it to bind.
        let factory = move || Ok(RelayServer::new(rt.clone(), request_agent(), Transport::Http));
        let mut sessions = LocalSessionManager::default();
        sessions.session_config.keep_alive = Some(access.idle_session());
        let sessions = Arc::new(sessions);
        // A revoked agent's sessions and streams end (SPEC §2).
        let revocation = revocation::Revocation::new(sessions.clone(), access.clone(), runtime.clone());
        revocation.start(rmcp_stop.clone());
        let config = StreamableHttpServerConfig::default()
            // Host and Origin are checked by the access layer, which
            // answers with relay's error bodies.
            .disable_allowed_hosts()
            .disable_allowed_origins()
            // A 2026 stateless request that only gets its answer is
            // answered with plain JSON (SSE when it streams more).
            .with_json_response(true)
            .with_max_request_body_bytes(settings.max_line_bytes)
            .with_sse_keep_alive(Some(Duration::from_secs(SSE_KEEP_ALIVE_SECONDS)))
            .with_cancellation_token(rmcp_stop.clone());
        let mcp = StreamableHttpService::new(factory, Arc::new(tasks::Sessions::new(sessions.clone())), config);
        // One outbox follower and one stream limit for `/api/events` and
        // the dashboard's stream.
        let feed = Arc::new(endpoints::EventFeed::new(
            runtime.executor().store().clone(),
            rmcp_stop.clone(),
        ));
        let app = axum::Router::new()
            .nest_service(MCP_PATH, mcp)
            // Innermost: reads bodies the access layer capped.
            .layer(axum::middleware::from_fn(tasks::layer))
            .layer(axum::middleware::from_fn_with_state(
                runtime.executor().clone(),
                receipts::layer,
            ))
            .layer(axum::middleware::from_fn_with_state(revocation, revocation::layer))
            .layer(axum::middleware::from_fn_with_state(access.clone(), access::guard))
            .merge(endpoints::routes_with(access.clone(), feed.clone()))
            // The dashboard passes the public guard, not the one above.
            .merge(dashboard::routes(access.clone(), feed));
        Ok(Self {
            listener,
            app,
            rmcp_stop,
            runtime,
        })
    }

    /// The bound address (the OS's choice for `--port 0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled; then stops accepting, lets
    /// tool calls in flight finish (up to [`SHUTDOWN_GRACE_SECONDS`]) and
    /// closes the sessions and their streams.
    pub async fn serve(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            app,
            rmcp_stop,
            runtime,
        } = self;
        let closing = {
            let shutdown = shutdown.clone();
            let rmcp_stop = rmcp_stop.clone();
            async move {
                shutdown.cancelled().await;
                let grace = Duration::from_secs(SHUTDOWN_GRACE_SECONDS);
                if tokio::time::timeout(grace, runtime.calls_finished()).await.is_err() {
                    tracing::warn!("tool calls still running after {grace:?}; closing anyway");
                }
                // The last answers are queued on their streams; give them a
                // moment to be written before the streams close.
                tokio::time::sleep(Duration::from_millis(100)).await;
                rmcp_stop.cancel();
            }
        };
        tokio::spawn(closing);
        // Answers go out as several small writes (SSE events): without
        // TCP_NODELAY each waits for the client's delayed ACK (~40 ms).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("the HTTP server failed")?;
        rmcp_stop.cancel();
        Ok(())
    }
}
