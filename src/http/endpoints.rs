//! Endpoints for people and scripts (SPEC §7): `GET /health` and
//! `GET /api/snapshot`.
//!
//! - `GET /health` needs nothing (no secret, no token, no Host check) and
//!   says nothing private: `{"status": "ok", "relay_version",
//!   "protocol_revisions": [newest first], "uptime_seconds",
//!   "counts": {"agents", "online_agents", "open_tasks", "channels",
//!   "latest_event_id"}}`. 503 with `"status": "error"` and the
//!   `error_code` when the store cannot be read.
//! - `GET /api/snapshot[?events=N]` passes [`guard`] and then
//!   [`require_secret`]: the hub secret is required even on loopback, and
//!   a hub without a secret serves no snapshot (403). The body is a
//!   [`Snapshot`](crate::store::snapshot::Snapshot): agents with
//!   presence, status, role, capabilities and last seen; open tasks (id,
//!   title, state, requester, assignee, attempts, lease expiry); channels
//!   with member counts; the `N` (default 50, at most 1,000) most recent
//!   outbox events, newest first. Never message or task bodies.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use rmcp::model::ProtocolVersion;
use serde::Deserialize;

use super::access::{Access, INTERNAL_ERROR, Refusal, guard, require_secret};
use crate::error::{Error, Result};
use crate::store::snapshot::{DEFAULT_SNAPSHOT_EVENTS, MAX_SNAPSHOT_ROWS};

/// `/health` and `/api/snapshot`, with their access layers applied;
/// merge into the hub's router.
pub fn routes(access: Arc<Access>) -> Router {
    let api = Router::new()
        .route("/api/snapshot", get(snapshot))
        .route_layer(from_fn_with_state(access.clone(), require_secret))
        .route_layer(from_fn_with_state(access.clone(), guard));
    Router::new()
        .route("/health", get(health))
        .merge(api)
        .with_state(access)
}

/// The protocol revisions the hub speaks, newest first.
pub fn protocol_revisions() -> Vec<String> {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .rev()
        .filter_map(|v| serde_json::to_value(v).ok())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Runs the blocking store read `f` off the async workers.
async fn blocking<T: Send + 'static>(
    access: &Access,
    f: impl FnOnce(&crate::store::Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = access.store().clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("the store read failed: {e}"))))
}

async fn health(State(access): State<Arc<Access>>) -> Response {
    let counts = blocking(&access, |s| s.counts()).await;
    let base = serde_json::json!({
        "relay_version": env!("CARGO_PKG_VERSION"),
        "protocol_revisions": protocol_revisions(),
        "uptime_seconds": access.uptime().as_secs(),
    });
    let mut body = base;
    match counts {
        Ok(counts) => {
            body["status"] = "ok".into();
            body["counts"] = serde_json::to_value(counts).unwrap_or_default();
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => {
            body["status"] = "error".into();
            body["error_code"] = e.code.as_str().into();
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

/// `/api/snapshot`'s query.
#[derive(Debug, Deserialize)]
struct SnapshotQuery {
    /// How many recent events to include.
    events: Option<usize>,
}

async fn snapshot(State(access): State<Arc<Access>>, Query(query): Query<SnapshotQuery>) -> Response {
    let events = query.events.unwrap_or(DEFAULT_SNAPSHOT_EVENTS).min(MAX_SNAPSHOT_ROWS);
    match blocking(&access, move |s| s.snapshot(events)).await {
        Ok(snapshot) => axum::Json(snapshot).into_response(),
        Err(e) => Refusal::new(StatusCode::SERVICE_UNAVAILABLE, INTERNAL_ERROR, e).into_response(),
    }
}
