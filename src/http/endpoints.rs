//! Endpoints for people and scripts (SPEC §7): `GET /health`,
//! `GET /api/snapshot` and `GET /api/events`.
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
//! - `GET /api/events[?agent=NAME][&last=N]` passes the same layers as
//!   the snapshot and streams the outbox as server-sent events (WHATWG
//!   HTML, "Server-sent events"; `Content-Type: text/event-stream`), for
//!   `relay tail --hub` and the dashboard:
//!   - one SSE event per outbox event, in id order: `id:` = the outbox
//!     event id, `data:` = the event as JSON (`{"id", "kind", "target",
//!     "actor", "subject_id", "channel", "created_at"}`: ids and names,
//!     never content), no `event:` field (browsers' `onmessage`);
//!   - where it starts: after the `Last-Event-ID` request header when
//!     there is one (what a reconnecting `EventSource` sends: nothing is
//!     missed or repeated), else with the `last` N (default 0, at most
//!     1,000) events already stored, else from now. Events purged by
//!     retention (7 days by default) before a client came back are gone;
//!   - `agent=NAME`: only events to or from NAME (`target` or `actor`);
//!   - the stream opens with a comment, `retry: 1000` (reconnect after
//!     1 s) and `id:` = the event id it starts after (no `data:`, so no
//!     event is dispatched, but a reconnect resumes from there), sends a
//!     `:` keep-alive comment every
//!     [`SSE_KEEP_ALIVE_SECONDS`](super::SSE_KEEP_ALIVE_SECONDS) and ends
//!     when the hub shuts down (clients reconnect);
//!   - bounded: at most [`MAX_EVENT_STREAMS`] streams per hub, this one's
//!     and the dashboard's (`/api/dashboard/events`, [`super::dashboard`],
//!     the same machinery in another [`Shape`]) together (then 503
//!     `RATE_LIMITED` with `Retry-After`), events read [`EVENTS_BATCH`]
//!     at a time and only as fast as the client takes them;
//!   - followed like the MCP change feed ([`crate::mcp::runtime`]): one
//!     follower per hub, woken by the store's WAL file watch (any
//!     process's commit, this one's too) and then the outbox head, with a
//!     1 s fallback; no stream polls the store while nothing happens.
//!   - 400 `VALIDATION` for a bad `agent`, `last` or `Last-Event-ID`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::middleware::from_fn_with_state;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use rmcp::model::ProtocolVersion;
use serde::Deserialize;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::access::{Access, INTERNAL_ERROR, INVALID_REQUEST, REFUSED, Refusal, guard, require_secret};
use crate::error::{Error, ErrorCode, Result};
use crate::store::Store;
use crate::store::dashboard::Viewer;
use crate::store::executor::blocking;
use crate::store::snapshot::{DEFAULT_SNAPSHOT_EVENTS, MAX_SNAPSHOT_ROWS};

/// The path of the event stream.
pub const EVENTS_PATH: &str = crate::remote::EVENTS_PATH;
/// Event streams one hub serves at a time, `/api/events` and
/// `/api/dashboard/events` together.
pub const MAX_EVENT_STREAMS: usize = 256;
/// Outbox events read per store read of one stream.
pub const EVENTS_BATCH: usize = 256;
/// The reconnect delay the stream asks clients for, in milliseconds.
pub const EVENTS_RETRY_MS: u64 = 1000;

/// `/health`, `/api/snapshot` and `/api/events`, with their access layers
/// applied, whose event streams end only with the process; the hub uses
/// [`routes_until`].
pub fn routes(access: Arc<Access>) -> Router {
    routes_until(access, CancellationToken::new())
}

/// [`routes`] whose event streams end when `stop` is cancelled (the
/// hub's graceful shutdown waits for open connections to close).
pub fn routes_until(access: Arc<Access>, stop: CancellationToken) -> Router {
    let feed = Arc::new(EventFeed::new(access.store().clone(), stop));
    routes_with(access, feed)
}

/// [`routes`] whose event streams share `feed` (its follower and its
/// [`MAX_EVENT_STREAMS`]) with the dashboard's.
pub fn routes_with(access: Arc<Access>, feed: Arc<EventFeed>) -> Router {
    let api = Router::new()
        .route("/api/snapshot", get(snapshot))
        .with_state(access.clone())
        .merge(Router::new().route(EVENTS_PATH, get(events)).with_state(feed))
        .route_layer(from_fn_with_state(access.clone(), require_secret))
        .route_layer(from_fn_with_state(access.clone(), guard));
    Router::new()
        .route("/health", get(health))
        .with_state(access)
        .merge(api)
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

async fn health(State(access): State<Arc<Access>>) -> Response {
    let counts = blocking(access.store(), |s| s.counts()).await;
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
    match blocking(access.store(), move |s| s.snapshot(events)).await {
        Ok(snapshot) => axum::Json(snapshot).into_response(),
        Err(e) => Refusal::new(StatusCode::SERVICE_UNAVAILABLE, INTERNAL_ERROR, e).into_response(),
    }
}

/// The hub's one follower of the outbox head, shared by its event
/// streams: it publishes the newest event id whenever it moves.
#[derive(Debug)]
pub struct EventFeed {
    store: Arc<Store>,
    /// The newest event id seen.
    head: watch::Sender<i64>,
    /// Rung when a stream subscribes (the follower starts watching).
    subscribed: Arc<Notify>,
    started: std::sync::Once,
    streams: Arc<Semaphore>,
    stop: CancellationToken,
}

impl EventFeed {
    /// The feed of `store`'s outbox, whose streams end when `stop` is
    /// cancelled. Its follower starts with the first stream.
    pub fn new(store: Arc<Store>, stop: CancellationToken) -> Self {
        Self {
            store,
            head: watch::Sender::new(0),
            subscribed: Arc::default(),
            started: std::sync::Once::new(),
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            stop,
        }
    }

    /// A receiver of head changes; starts the follower on first use.
    fn subscribe(self: &Arc<Self>) -> watch::Receiver<i64> {
        let rx = self.head.subscribe();
        self.started.call_once(|| {
            tokio::spawn(follow_head(Arc::downgrade(self)));
        });
        self.subscribed.notify_one();
        rx
    }
}

/// Publishes the outbox head while some stream listens: a file watch on
/// the WAL (any process's commit), then the head read on the
/// [`crate::watch::commit_visible`] backoff; a fallback read every
/// [`crate::watch::FALLBACK_POLL`]. Idle (no watch, no reads) while no
/// stream is open; ends with the hub.
async fn follow_head(feed: std::sync::Weak<EventFeed>) {
    let latest = |store: Arc<Store>| async move {
        tokio::task::spawn_blocking(move || store.latest_event_id())
            .await
            .ok()
            .and_then(Result::ok)
    };
    let wake = Arc::new(Notify::new());
    let mut watcher: Option<notify::RecommendedWatcher> = None;
    let mut seen = 0;
    loop {
        let Some(f) = feed.upgrade() else { return };
        let (store, subscribed, stop) = (f.store.clone(), f.subscribed.clone(), f.stop.clone());
        if f.head.receiver_count() == 0 {
            drop(f);
            watcher = None;
            tokio::select! {
                () = subscribed.notified() => continue,
                () = stop.cancelled() => return,
            }
        }
        if watcher.is_none() {
            watcher = crate::watch::store_changes(store.path(), wake.clone());
            // A commit just before the watch began is looked for once.
            seen = latest(store.clone()).await.unwrap_or(seen);
            f.head.send_if_modified(|h| std::mem::replace(h, seen) != seen);
        }
        drop(f);
        let moved = tokio::select! {
            () = wake.notified() => {
                let s = store.clone();
                crate::watch::commit_visible(&mut seen, || latest(s.clone()), Some(&wake)).await
            }
            () = tokio::time::sleep(crate::watch::FALLBACK_POLL) => match latest(store.clone()).await {
                Some(id) if id != seen => {
                    seen = id;
                    true
                }
                _ => false,
            },
            () = subscribed.notified() => false,
            () = stop.cancelled() => return,
        };
        if moved && let Some(f) = feed.upgrade() {
            f.head.send_replace(seen);
        }
    }
}

/// `/api/events`' query.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// Only events to or from this agent.
    agent: Option<String>,
    /// Start with this many stored events (without `Last-Event-ID`).
    last: Option<usize>,
}

/// 400 `VALIDATION` with `message`.
pub fn bad_request(message: String) -> Response {
    Refusal::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, Error::validation(message)).into_response()
}

/// What a stream's `data:` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `/api/events`: the outbox row ([`crate::store::events::Event`]):
    /// ids and names.
    Outbox,
    /// `/api/dashboard/events`: a [`crate::store::dashboard::DashEvent`]
    /// as the viewer sees it.
    Dashboard(Viewer),
}

/// One event ready to send: what the `agent` filter looks at and the
/// `data:` JSON.
struct Item {
    id: i64,
    target: Option<String>,
    actor: Option<String>,
    data: String,
}

/// A page of up to [`EVENTS_BATCH`] events after `cursor` in `shape`.
fn read_page(store: &Store, cursor: i64, shape: Shape) -> Result<Vec<Item>> {
    match shape {
        Shape::Outbox => store
            .events_after(cursor, EVENTS_BATCH)?
            .into_iter()
            .map(|e| {
                Ok(Item {
                    id: e.id,
                    data: data(&e)?,
                    target: e.target,
                    actor: e.actor,
                })
            })
            .collect(),
        Shape::Dashboard(viewer) => store
            .dashboard_events_after(cursor, EVENTS_BATCH, viewer)?
            .into_iter()
            .map(|e| {
                let (target, actor) = e
                    .detail
                    .as_ref()
                    .map_or((None, None), |d| (d.target.clone(), d.actor.clone()));
                Ok(Item {
                    id: e.id,
                    data: data(&e)?,
                    target,
                    actor,
                })
            })
            .collect(),
    }
}

/// `v` as one line of JSON.
fn data<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal(e.to_string()))
}

/// One stream's state between two items.
struct Stream {
    feed: Arc<EventFeed>,
    head: watch::Receiver<i64>,
    cursor: i64,
    agent: Option<String>,
    shape: Shape,
    ready: VecDeque<Item>,
    opened: bool,
    _permit: OwnedSemaphorePermit,
}

impl Stream {
    /// The next SSE item, or `None` to end the stream (the hub stops, the
    /// store cannot be read: the client reconnects with Last-Event-ID).
    async fn next(&mut self) -> Option<SseEvent> {
        if !self.opened {
            self.opened = true;
            // The opening carries the id the stream starts after: a client
            // that reconnects before any event reached it (none yet, or
            // none its `agent` filter passed) resumes there instead of
            // starting from a later "now" and missing what came between.
            return Some(
                SseEvent::default()
                    .comment("relay events")
                    .retry(Duration::from_millis(EVENTS_RETRY_MS))
                    .id(self.cursor.to_string()),
            );
        }
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(SseEvent::default().id(item.id.to_string()).data(item.data));
            }
            // Marked seen before the read: a head change during the read
            // ends the wait below at once.
            self.head.borrow_and_update();
            let (store, cursor, shape) = (self.feed.store.clone(), self.cursor, self.shape);
            let read = tokio::task::spawn_blocking(move || read_page(&store, cursor, shape)).await;
            let events = match read {
                Ok(Ok(events)) => events,
                Ok(Err(e)) => {
                    tracing::warn!("an event stream cannot read the outbox: {e}");
                    return None;
                }
                Err(_) => return None,
            };
            if let Some(last) = events.last() {
                self.cursor = last.id;
                let agent = self.agent.as_deref();
                self.ready.extend(
                    events.into_iter().filter(|e| {
                        agent.is_none_or(|a| e.target.as_deref() == Some(a) || e.actor.as_deref() == Some(a))
                    }),
                );
                continue;
            }
            tokio::select! {
                changed = self.head.changed() => changed.ok()?,
                () = self.feed.stop.cancelled() => return None,
            }
        }
    }
}

async fn events(State(feed): State<Arc<EventFeed>>, headers: HeaderMap, Query(query): Query<EventsQuery>) -> Response {
    stream(feed, &headers, query.agent, query.last, Shape::Outbox).await
}

/// An event stream in `shape` for a request with `headers` (its
/// `Last-Event-ID`), only events to or from `agent`, starting `last`
/// events back when there is no `Last-Event-ID`: the behaviour of the
/// module doc, for `/api/events` and `/api/dashboard/events`.
pub async fn stream(
    feed: Arc<EventFeed>,
    headers: &HeaderMap,
    agent: Option<String>,
    last: Option<usize>,
    shape: Shape,
) -> Response {
    if let Some(agent) = &agent
        && let Err(e) = crate::store::validate::agent_name(agent)
    {
        return bad_request(format!("agent: {}", e.message));
    }
    let resume = match headers.get("last-event-id").map(|v| v.to_str().map(str::trim)) {
        None | Some(Ok("")) => None,
        Some(Ok(v)) => match v.parse::<i64>() {
            Ok(id) if id >= 0 => Some(id),
            _ => return bad_request(format!("Last-Event-ID must be an event id (a number), got {v:?}")),
        },
        Some(Err(_)) => return bad_request("Last-Event-ID must be an event id (a number)".into()),
    };
    let Ok(permit) = feed.streams.clone().try_acquire_owned() else {
        let mut refusal = Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            REFUSED,
            Error::new(
                ErrorCode::RateLimited,
                format!("this hub already serves {MAX_EVENT_STREAMS} event streams; retry later"),
            ),
        );
        refusal.retry_after = Some(5);
        return refusal.into_response();
    };
    let cursor = match resume {
        Some(id) => id,
        None => {
            let last = last.unwrap_or(0).min(MAX_SNAPSHOT_ROWS);
            let store = feed.store.clone();
            match tokio::task::spawn_blocking(move || store.event_id_back(last)).await {
                Ok(Ok(id)) => id,
                Ok(Err(e)) => return Refusal::new(StatusCode::SERVICE_UNAVAILABLE, INTERNAL_ERROR, e).into_response(),
                Err(e) => {
                    return Refusal::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        INTERNAL_ERROR,
                        Error::internal(e.to_string()),
                    )
                    .into_response();
                }
            }
        }
    };
    let stream = Stream {
        head: feed.subscribe(),
        feed,
        cursor,
        agent,
        shape,
        ready: VecDeque::new(),
        opened: false,
        _permit: permit,
    };
    let items = futures::stream::unfold(stream, |mut s| async move {
        let item = s.next().await?;
        Some((Ok::<_, Infallible>(item), s))
    });
    Sse::new(items)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(super::SSE_KEEP_ALIVE_SECONDS)))
        .into_response()
}
