//! The hub's access layer (SPEC §7): who may call, resolved once per
//! request before MCP sees it. Interim version: `X-Agent-Token` only;
//! the full layer (secret, Host/Origin, rate limits) replaces it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Settings;
use crate::error::{Error, ErrorCode};
use crate::mcp::session::{RequestAgent, with_request_agent};
use crate::store::Store;

/// The request header that carries an agent's token.
pub const AGENT_TOKEN_HEADER: &str = "x-agent-token";

/// The access layer's shared state.
#[derive(Debug)]
pub struct Access {
    store: Arc<Store>,
}

impl Access {
    /// The layer for a hub bound to `bound`.
    pub fn new(_settings: &Settings, store: Arc<Store>, _host: &str, _bound: SocketAddr) -> crate::error::Result<Self> {
        Ok(Self { store })
    }

    /// How long an idle 2025 session lives, for rmcp's session manager.
    pub fn idle_session(&self) -> Duration {
        Duration::from_secs(1800)
    }
}

/// The JSON-RPC error response for `err` with HTTP `status`.
pub fn error_response(status: axum::http::StatusCode, err: &Error) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32001, "message": err.message, "data": err.to_json() },
    });
    (status, axum::Json(body)).into_response()
}

/// Resolves `X-Agent-Token` and runs the request as that agent.
pub async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(AGENT_TOKEN_HEADER)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let agent = match token {
        None => None,
        Some(token) => {
            let store = access.store.clone();
            match tokio::task::spawn_blocking(move || store.agent_for_token(&token)).await {
                Ok(Ok(Some(name))) => Some(name),
                _ => {
                    let err = Error::new(ErrorCode::AuthFailed, "unknown or revoked X-Agent-Token");
                    return error_response(axum::http::StatusCode::UNAUTHORIZED, &err);
                }
            }
        }
    };
    req.extensions_mut().insert(RequestAgent(agent.clone()));
    with_request_agent(agent, next.run(req)).await
}
