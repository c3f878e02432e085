//! An MCP session with a hub, through rmcp's client (MCP 2025-11-25
//! Streamable HTTP: `initialize`, `Mcp-Session-Id`, the GET stream for
//! server notifications), for clients that stay connected: the remote
//! worker and `relay pair`.
//!
//! - Every request carries `X-Agent-Token` (when the session has a token)
//!   and `Authorization: Bearer SECRET` (when it has the hub secret); the
//!   hub decides what they allow.
//! - A tool call's result is its `structuredContent`; a failed call
//!   (`isError`) becomes a [`crate::Error`] with the hub's `error_code`,
//!   so callers treat remote and local failures alike.
//! - When the hub cannot be reached (refused, reset, restarted, a request
//!   past [`REQUEST_TIMEOUT`]) the call fails with
//!   [`ErrorCode::Timeout`] (transient: callers retry) and the session is
//!   dropped; the next call opens a new one, subscribes again and rings
//!   [`HubSession::wake`] (something may have arrived meanwhile). A 401
//!   from the hub is [`ErrorCode::AuthFailed`].
//! - `notifications/resources/updated` for the subscribed URI rings
//!   [`HubSession::wake`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, SubscribeRequestParams};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

use super::{Credential, Endpoints};
use crate::error::{Error, ErrorCode, Result};

/// How long opening a session may take (TCP connect + `initialize`), in
/// seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take before the session is dropped as dead,
/// in seconds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait after a failed connect before trying again, in
/// milliseconds: callers may call in a loop.
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(250);

/// The client side's handler: rings `wake` on every resources/updated.
#[derive(Debug, Clone)]
struct Waker(Arc<tokio::sync::Notify>);

impl rmcp::ClientHandler for Waker {
    async fn on_resource_updated(
        &self,
        _params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.notify_one();
    }
}

struct Open {
    service: RunningService<RoleClient, Waker>,
    generation: u64,
}

/// A reconnecting MCP session with one hub, as one agent (or anonymous).
pub struct HubSession {
    hub: Endpoints,
    http: reqwest::Client,
    token: Option<Credential>,
    secret: Option<Credential>,
    subscribe: Option<String>,
    wake: Arc<tokio::sync::Notify>,
    open: tokio::sync::Mutex<Option<Open>>,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for HubSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSession")
            .field("hub", &self.hub.mcp.as_str())
            .field("subscribe", &self.subscribe)
            .finish_non_exhaustive()
    }
}

impl HubSession {
    /// A session with `hub` sending `token` and `secret`, subscribed to
    /// `subscribe` (e.g. `relay://inbox/NAME`) on every (re)connect.
    /// Nothing is sent until the first call.
    ///
    /// Errors: the HTTP client cannot be built.
    pub fn new(
        hub: Endpoints,
        token: Option<Credential>,
        secret: Option<Credential>,
        subscribe: Option<String>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            http: super::hub_client(&hub, CONNECT_TIMEOUT, None, "relay")?,
            hub,
            token,
            secret,
            subscribe,
            wake: Arc::default(),
            open: tokio::sync::Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The hub's endpoints.
    pub fn hub(&self) -> &Endpoints {
        &self.hub
    }

    /// Rung (one stored permit, like [`tokio::sync::Notify::notify_one`])
    /// when the subscribed resource changed or the session reconnected.
    pub fn wake(&self) -> &tokio::sync::Notify {
        &self.wake
    }

    fn unreachable(&self, why: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorCode::Timeout,
            format!("the hub at {} did not answer: {why}", self.hub.base),
        )
    }

    /// A peer of the open session, opening one if needed.
    async fn peer(&self) -> Result<(Peer<RoleClient>, u64)> {
        let mut open = self.open.lock().await;
        if let Some(o) = open.as_ref().filter(|o| !o.service.is_transport_closed()) {
            return Ok((o.service.peer().clone(), o.generation));
        }
        *open = None;
        let mut headers = HashMap::new();
        if let Some(token) = &self.token {
            let mut value = http::HeaderValue::from_str(token.expose())
                .map_err(|_| Error::validation(format!("the token from {} is not a valid header value", token.from)))?;
            value.set_sensitive(true);
            headers.insert(http::HeaderName::from_static("x-agent-token"), value);
        }
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.hub.mcp.as_str()).custom_headers(headers);
        if let Some(secret) = &self.secret {
            config = config.auth_header(secret.expose());
        }
        let transport = StreamableHttpClientTransport::with_client(self.http.clone(), config);
        let started = tokio::time::timeout(CONNECT_TIMEOUT, Waker(self.wake.clone()).serve(transport)).await;
        let service = match started {
            Ok(Ok(service)) => service,
            Ok(Err(e)) => {
                let text = format!("{e:?}");
                tokio::time::sleep(RECONNECT_PAUSE).await;
                return Err(if text.contains("AuthRequired") || text.contains("401") {
                    let what = match (&self.secret, &self.token) {
                        (None, _) => {
                            "the hub requires its secret: set RELAY_HTTP_SECRET or pass --secret-file FILE".to_owned()
                        }
                        (Some(s), Some(t)) => format!(
                            "the hub refused the secret from {} or the token from {} (revoked or rotated? run `relay pair` again)",
                            s.from, t.from
                        ),
                        (Some(s), None) => format!("the hub refused the secret from {}", s.from),
                    };
                    Error::new(ErrorCode::AuthFailed, what)
                } else {
                    self.unreachable(e)
                });
            }
            Err(_) => {
                return Err(self.unreachable(format!("no session within {} s", CONNECT_TIMEOUT.as_secs())));
            }
        };
        let generation = self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Some(uri) = &self.subscribe {
            #[allow(deprecated)] // resources/subscribe is the 2025-11-25 form, which this session speaks
            let subscribed = tokio::time::timeout(
                REQUEST_TIMEOUT,
                service.subscribe(SubscribeRequestParams::new(uri.clone())),
            )
            .await;
            match subscribed {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("subscribing to {uri} failed (falling back to polling): {e}"),
                Err(_) => tracing::warn!("subscribing to {uri} timed out (falling back to polling)"),
            }
        }
        if generation > 1 {
            tracing::info!(hub = %self.hub.base, "reconnected to the hub");
        }
        // Whatever changed while there was no session, look now.
        self.wake.notify_one();
        let peer = service.peer().clone();
        *open = Some(Open { service, generation });
        Ok((peer, generation))
    }

    /// Drops the session `generation` (if it is still the open one).
    async fn drop_session(&self, generation: u64) {
        let mut open = self.open.lock().await;
        if open.as_ref().is_some_and(|o| o.generation == generation)
            && let Some(o) = open.take()
        {
            tokio::spawn(async move {
                let _ = o.service.cancel().await;
            });
        }
    }

    /// Calls `tool` with `arguments` (a JSON object) and returns its
    /// `structuredContent`.
    ///
    /// Errors: the hub's `error_code` and message for a failed call;
    /// [`ErrorCode::Timeout`] when the hub cannot be reached or does not
    /// answer within [`REQUEST_TIMEOUT`]; [`ErrorCode::AuthFailed`] when it
    /// refuses the secret or token.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value> {
        let (peer, generation) = self.peer().await?;
        let args = arguments.as_object().cloned().unwrap_or_default();
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, peer.call_tool(params)).await {
            Ok(Ok(result)) => result,
            Ok(Err(rmcp::ServiceError::McpError(e))) => {
                return Err(Error::new(
                    ErrorCode::Internal,
                    format!("the hub answered {tool} with a JSON-RPC error: {}", e.message),
                ));
            }
            Ok(Err(e)) => {
                self.drop_session(generation).await;
                return Err(self.unreachable(e));
            }
            Err(_) => {
                self.drop_session(generation).await;
                return Err(self.unreachable(format!("{tool} took over {} s", REQUEST_TIMEOUT.as_secs())));
            }
        };
        let body = result
            .structured_content
            .clone()
            .or_else(|| {
                result
                    .content
                    .first()
                    .and_then(|c| c.as_text())
                    .and_then(|t| serde_json::from_str(&t.text).ok())
            })
            .unwrap_or(Value::Null);
        if result.is_error == Some(true) {
            return Err(tool_error(&body));
        }
        Ok(body)
    }

    /// Ends the session (HTTP DELETE), if one is open.
    pub async fn close(&self) {
        if let Some(o) = self.open.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), o.service.cancel()).await;
        }
    }
}

/// A failed tool call's body (`{"error_code", "error"}`, SPEC §3) as an
/// [`Error`]; an unknown code is [`ErrorCode::Internal`].
pub fn tool_error(body: &Value) -> Error {
    let code = body["error_code"].as_str().unwrap_or("INTERNAL");
    let message = body["error"].as_str().unwrap_or("the hub gave no reason").to_owned();
    match ErrorCode::ALL.into_iter().find(|c| c.as_str() == code) {
        Some(code) => Error::new(code, message),
        None => Error::internal(format!("{code}: {message}")),
    }
}
