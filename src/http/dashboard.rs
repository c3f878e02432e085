//! The dashboard (SPEC §7, issue 12): the page at `/`, its assets, and
//! its JSON and SSE API under `/api/dashboard/`.
//!
//! Every route passes [`guard_public`] (Host/Origin 403, per-IP rate
//! limit 429, body cap 413) but not the mandatory secret: the secret,
//! when sent, decides the [`Viewer`] once (none: counts; right: operator;
//! wrong: 401). Operator-only routes take the [`Operator`] extractor
//! (403 on a hub without a secret, 401 without it).
//!
//! | Route | Viewer | Answer |
//! |---|---|---|
//! | `GET /` | any | `index.html` |
//! | `GET /assets/{file}` | any | `app.js`, `app.css`, `favicon.svg`, `uPlot.iife.min.js`, `uPlot.min.css` (in the binary); 404 otherwise |
//! | `GET /api/dashboard/overview` | any | [`Overview`](crate::store::dashboard::Overview) |
//! | `GET /api/dashboard/board` | operator | [`Board`](crate::store::dashboard::Board) |
//! | `GET /api/dashboard/tasks/{id}` | operator | [`TaskDetail`](crate::store::dashboard::TaskDetail); 404 `NOT_FOUND` |
//! | `GET /api/dashboard/events[?agent=NAME][&last=N]` | any (`agent` operator only: else 400) | SSE of [`DashEvent`](crate::store::dashboard::DashEvent), as `/api/events` ([`super::endpoints`]) |
//! | `POST /api/dashboard/tasks/{id}/cancel` | operator | `{"reason"?}` → `{"task": TaskRow}`; 404, 409 `INVALID_STATE` |
//! | `POST /api/dashboard/tasks/{id}/recover` | operator | `{}` → `{"task": TaskRow}`; 404, 409 |
//! | `POST /api/dashboard/agents/{name}/revoke` | operator | `{"issue_recovery": bool}` → `{"agent", "auth_state", "recovery_token"}`; 404, 409 |
//!
//! POSTs need `Content-Type: application/json` (415 otherwise; with the
//! Origin check this stops cross-site form posts). Errors are
//! [`Refusal`] bodies. Every response carries [`CONTENT_SECURITY_POLICY`],
//! `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
//! `X-Frame-Options: DENY`. Assets are served with `Cache-Control:
//! no-cache` and a strong `ETag` (SHA-256 of the bytes); a matching
//! `If-None-Match` gets 304 (RFC 9110 §13.1.2).
//!
//! **Compression.** A client that accepts gzip (`Accept-Encoding`) gets
//! gzip: the page and its assets are compressed once, at first use, and
//! their gzip representation has its own strong ETag (the identity one
//! with `-gz`); the overview and the board are compressed once per
//! computation ([`super::dashboard_cache`]). Everything else (task
//! detail, action answers, errors) goes through tower-http's
//! [`CompressionLayer`], whose predicate leaves out event streams
//! (`text/event-stream`: each event must reach the page when it is
//! written, not when a compressor's buffer fills), small bodies, images
//! and any response with an `ETag` (those chose their representation
//! themselves). Every answer that can be compressed says `Vary:
//! Accept-Encoding`.
//!
//! **Cache.** The overview (per viewer) and the board are computed once
//! for all the dashboards that ask within a second while the outbox head
//! stands ([`super::dashboard_cache`]): changes that write no outbox
//! event (mail marked read, presence ageing) show up to 1 s late.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY as CSP, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};

use super::dashboard_cache::{Cache, Encoded, gzip};

use super::access::{Access, INTERNAL_ERROR, INVALID_REQUEST, Operator, REFUSED, Refusal, Visitor, guard_public};
use super::endpoints::{EventFeed, Shape, bad_request, stream};
use crate::error::{Error, ErrorCode};
use crate::store::Store;
use crate::store::dashboard::Viewer;
use crate::store::executor::blocking;
use crate::store::tasks::OperatorAction;

/// The `Content-Security-Policy` of every dashboard response: the page's
/// own scripts, styles and API only; no inline script or style, no
/// frames, no forms.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its name under `/assets/` (`index.html` is served at `/`).
    name: &'static str,
    /// `Content-Type`.
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 6] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../assets/dashboard/favicon.svg"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/vendor/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/vendor/uPlot.min.css"),
    },
];

/// An asset's two representations and their strong ETags.
struct Encodings {
    /// The first 16 bytes of the SHA-256 of the bytes, hex, quoted.
    etag: String,
    /// The gzip-compressed bytes (`None` if they are not smaller, or
    /// compression failed: then only the identity is served).
    gzip: Option<Bytes>,
    /// `etag` with `-gz` inside the quotes.
    gzip_etag: String,
}

/// Each asset's ETags and gzip bytes, compressed once.
static ENCODINGS: LazyLock<Vec<Encodings>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.bytes);
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            Encodings {
                etag: format!("\"{hex}\""),
                gzip: gzip(a.bytes).ok().filter(|z| z.len() < a.bytes.len()),
                gzip_etag: format!("\"{hex}-gz\""),
            }
        })
        .collect()
});

/// What the dashboard caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// The overview for a viewer on a hub with a secret or not.
    Overview(Viewer, bool),
    /// The board.
    Board,
}

/// What the dashboard's handlers share.
#[derive(Clone)]
struct Dashboard {
    store: Arc<Store>,
    feed: Arc<EventFeed>,
    cache: Arc<Cache<Key>>,
}

/// What the [`CompressionLayer`] compresses: tower-http's default (not
/// `text/event-stream`, not images but SVG, not gRPC, not under 32
/// bytes), never an event stream (said again: the event stream must not
/// buffer), and nothing with an `ETag` (its handler chose the
/// representation and its tag).
fn compressible() -> impl Predicate {
    DefaultPredicate::new()
        .and(NotForContentType::SSE)
        .and(|_: StatusCode, _: http::Version, h: &HeaderMap, _: &http::Extensions| !h.contains_key(ETAG))
}

/// The dashboard's routes behind [`guard_public`] and the security
/// headers; event streams come from `feed` (shared with `/api/events`).
pub fn routes(access: Arc<Access>, feed: Arc<EventFeed>) -> Router {
    let store = access.store().clone();
    let state = Dashboard {
        cache: Arc::new(Cache::new(store.clock())),
        store,
        feed,
    };
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
        .route("/api/dashboard/overview", get(overview))
        .route("/api/dashboard/board", get(board))
        .route("/api/dashboard/tasks/{id}", get(task))
        .route("/api/dashboard/events", get(events))
        .route("/api/dashboard/tasks/{id}/cancel", post(cancel))
        .route("/api/dashboard/tasks/{id}/recover", post(recover))
        .route("/api/dashboard/agents/{name}/revoke", post(revoke))
        .with_state(state)
        .route_layer(from_fn_with_state(access, guard_public))
        .route_layer(map_response(security_headers))
        .layer(CompressionLayer::new().compress_when(compressible()))
}

/// Whether the request's `Accept-Encoding` takes gzip (`gzip`,
/// `x-gzip` or `*` with a q-value above 0; an explicit `gzip;q=0` wins
/// over `*`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut star = false;
    for item in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            return q > 0.0;
        }
        if name == "*" {
            star = q > 0.0;
        }
    }
    star
}

fn vary(h: &mut HeaderMap) {
    h.insert(VARY, HeaderValue::from_static("accept-encoding"));
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(CSP, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}

/// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2).
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

fn serve(headers: &HeaderMap, name: &str) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return failure(Error::not_found(format!(
            "no dashboard asset {name:?}; the page loads {}",
            ASSETS[1..].iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
        )));
    };
    let (asset, enc) = (&ASSETS[i], &ENCODINGS[i]);
    let gzipped = enc.gzip.as_ref().filter(|_| accepts_gzip(headers));
    let etag = if gzipped.is_some() { &enc.gzip_etag } else { &enc.etag };
    let mut response = if matches(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(body) = gzipped {
        (
            [(CONTENT_TYPE, asset.content_type), (CONTENT_ENCODING, "gzip")],
            body.clone(),
        )
            .into_response()
    } else {
        ([(CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    vary(h);
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(ETAG, v);
    }
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve(&headers, "index.html")
}

async fn asset(headers: HeaderMap, Path(file): Path<String>) -> Response {
    if file == "index.html" {
        return failure(Error::not_found("the page is served at /"));
    }
    serve(&headers, &file)
}

/// The HTTP answer to a store error: 404 `NOT_FOUND`, 409
/// `INVALID_STATE`/`CONFLICT`, 400 `VALIDATION`, 401 `AUTH_FAILED`, 413,
/// 503 for a locked or full store, 500 otherwise.
fn failure(error: Error) -> Response {
    let (status, code) = match error.code {
        ErrorCode::NotFound => (StatusCode::NOT_FOUND, INVALID_REQUEST),
        ErrorCode::InvalidState | ErrorCode::Conflict | ErrorCode::StaleLease => {
            (StatusCode::CONFLICT, INVALID_REQUEST)
        }
        ErrorCode::Validation | ErrorCode::NotParty => (StatusCode::BAD_REQUEST, INVALID_REQUEST),
        ErrorCode::AuthFailed | ErrorCode::CapDenied => (StatusCode::UNAUTHORIZED, REFUSED),
        ErrorCode::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, INVALID_REQUEST),
        ErrorCode::Timeout | ErrorCode::StorageFull => (StatusCode::SERVICE_UNAVAILABLE, INTERNAL_ERROR),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
    };
    Refusal::new(status, code, error).into_response()
}

fn json<T: serde::Serialize>(result: crate::error::Result<T>) -> Response {
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => failure(e),
    }
}

/// `key`'s JSON from the cache (computed when stale), gzip when the
/// client takes it.
async fn cached(d: Dashboard, headers: &HeaderMap, key: Key) -> Response {
    let head = match blocking(&d.store, |s| s.latest_event_id()).await {
        Ok(head) => head,
        Err(e) => return failure(e),
    };
    let store = d.store.clone();
    let compute = || async move {
        blocking(&store, move |s| {
            // The head first: a change during the read makes the entry
            // look older than its data, never newer.
            let head = s.latest_event_id()?;
            let body = match key {
                Key::Overview(viewer, secret) => Encoded::json(&s.dashboard_overview(viewer, secret)?)?,
                Key::Board => Encoded::json(&s.dashboard_board()?)?,
            };
            Ok((head, body))
        })
        .await
    };
    match d.cache.get(key, head, compute).await {
        Ok(body) => encoded(headers, body),
        Err(e) => failure(e),
    }
}

/// A JSON answer already encoded both ways.
fn encoded(headers: &HeaderMap, body: Encoded) -> Response {
    let mut response = if accepts_gzip(headers) {
        (
            [(CONTENT_TYPE, "application/json"), (CONTENT_ENCODING, "gzip")],
            body.gzip,
        )
            .into_response()
    } else {
        ([(CONTENT_TYPE, "application/json")], body.identity).into_response()
    };
    vary(response.headers_mut());
    response
}

async fn overview(State(d): State<Dashboard>, visitor: Visitor, headers: HeaderMap) -> Response {
    cached(d, &headers, Key::Overview(visitor.viewer, visitor.hub_has_secret)).await
}

async fn board(State(d): State<Dashboard>, _: Operator, headers: HeaderMap) -> Response {
    cached(d, &headers, Key::Board).await
}

/// A refusal the handler answers with instead of going on.
type Refused = Box<Refusal>;

/// 400 `VALIDATION` with `message`.
fn invalid(message: String) -> Refused {
    Box::new(Refusal::new(
        StatusCode::BAD_REQUEST,
        INVALID_REQUEST,
        Error::validation(message),
    ))
}

/// A task id from the path, or 400.
fn task_id(raw: &str) -> Result<i64, Refused> {
    raw.parse()
        .map_err(|_| invalid(format!("a task id is a number, got {raw:?}")))
}

async fn task(State(d): State<Dashboard>, _: Operator, Path(id): Path<String>) -> Response {
    match task_id(&id) {
        Ok(id) => json(blocking(&d.store, move |s| s.dashboard_task(id)).await),
        Err(r) => r.into_response(),
    }
}

/// `/api/dashboard/events`' query.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Only events to or from this agent (operator only).
    agent: Option<String>,
    /// Start with this many stored events (without `Last-Event-ID`).
    last: Option<usize>,
}

async fn events(
    State(d): State<Dashboard>,
    visitor: Visitor,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    if visitor.viewer == Viewer::Counts && query.agent.is_some() {
        return bad_request(
            "agent= filters by name, which needs the hub secret; leave it out or send the secret".into(),
        );
    }
    stream(
        d.feed,
        &headers,
        query.agent,
        query.last,
        Shape::Dashboard(visitor.viewer),
    )
    .await
}

/// A POST body: `T` from JSON (an empty body is `{}`), or 415 without
/// `Content-Type: application/json`, 400 for JSON that does not fit.
fn body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, bytes: &Bytes) -> Result<T, Refused> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Box::new(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            INVALID_REQUEST,
            Error::validation("send the body as JSON with `Content-Type: application/json`"),
        )));
    }
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| invalid(format!("the body does not fit: {e}")))
}

/// `POST /api/dashboard/tasks/{id}/cancel`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    /// Why (kept in the task's history).
    reason: Option<String>,
}

/// `POST /api/dashboard/tasks/{id}/recover`'s body (empty).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoverBody {}

/// `POST /api/dashboard/agents/{name}/revoke`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    /// Issue a one-time recovery token (default false).
    #[serde(default)]
    issue_recovery: bool,
}

async fn act(d: Dashboard, op: Operator, id: &str, action: OperatorAction, reason: Option<String>) -> Response {
    let id = match task_id(id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let ip = op.0.client_ip.to_string();
    let done = blocking(&d.store, move |s| s.operator_task(id, action, reason.as_deref(), &ip)).await;
    json(done.map(|task| serde_json::json!({ "task": task })))
}

async fn cancel(
    State(d): State<Dashboard>,
    op: Operator,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    match body::<CancelBody>(&headers, &bytes) {
        Ok(b) => act(d, op, &id, OperatorAction::Cancel, b.reason).await,
        Err(r) => r.into_response(),
    }
}

async fn recover(
    State(d): State<Dashboard>,
    op: Operator,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    match body::<RecoverBody>(&headers, &bytes) {
        Ok(RecoverBody {}) => act(d, op, &id, OperatorAction::Recover, None).await,
        Err(r) => r.into_response(),
    }
}

async fn revoke(
    State(d): State<Dashboard>,
    op: Operator,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let b = match body::<RevokeBody>(&headers, &bytes) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let ip = op.0.client_ip.to_string();
    let done = blocking(&d.store, move |s| s.operator_revoke(&name, b.issue_recovery, &ip)).await;
    json(done.map(|r| {
        serde_json::json!({
            "agent": r.agent,
            "auth_state": r.auth_state,
            "recovery_token": r.recovery_token,
        })
    }))
}
