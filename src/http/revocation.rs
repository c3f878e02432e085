//! Ending a revoked agent's HTTP sessions (SPEC §2 `revoke_token`: "its
//! HTTP sessions are closed").
//!
//! A revocation may be made by any process sharing the store (another
//! hub, a stdio session, the operator's `relay token revoke`); this hub
//! learns of it from the outbox, through the process runtime's change feed
//! ([`Runtime::revocations`]). Then, for that agent:
//!
//! - every 2025-11-25 session it used (noted from the `Mcp-Session-Id` of
//!   its requests and of the `initialize` answer) is closed in rmcp's
//!   session manager: the session's worker stops and its streams end, and
//!   the session id answers 404 from then on;
//! - every SSE response streaming to it (a GET stream, a 2026
//!   `subscriptions/listen`, a long `wait_seconds` call) ends at once.
//!
//! Its next request is refused by the access layer (401 `AUTH_FAILED`):
//! the token lookup reads the committed revocation. A stream that opens
//! while a revocation is on its way is registered first and its token
//! checked again after, so it cannot slip between the two.
//!
//! A token can also stop working without a revocation: a rotation's
//! grace ends, a rotation with grace 0, the operator's `relay token issue`
//! for an existing agent. Every open stream's token is therefore checked
//! again every [`STREAM_RECHECK`]; a stream whose token no longer names
//! its agent ends then (the agent's other streams, opened with its new
//! token, go on).
//!
//! [`layer`] sits inside [`super::access::guard`] (it reads the
//! [`Identity`] the guard resolved); the hub holds a
//! [`Runtime::hold_feed`] per stream so the feed follows the outbox
//! while there is something to end.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use parking_lot::Mutex;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio_util::sync::CancellationToken;

use super::access::{AGENT_TOKEN, Access, Identity};
use crate::mcp::Runtime;

/// How often the token of every open SSE response is checked again (see
/// the module docs): the longest a stream outlives a token that was
/// replaced rather than revoked.
pub const STREAM_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// An SSE response in flight: the token it was opened with, and how to
/// end it. `alive` is dead once the response body is dropped.
struct LiveStream {
    agent: String,
    token: zeroize::Zeroizing<String>,
    cut: CancellationToken,
    alive: std::sync::Weak<()>,
}

/// The MCP session header (MCP 2025-11-25 basic/transports §"Session
/// Management").
const SESSION_ID: &str = "mcp-session-id";

/// The hub's record of who uses which session and stream, to end them on
/// a revocation. Build one per hub ([`Revocation::new`]) and start it.
pub struct Revocation {
    manager: Arc<LocalSessionManager>,
    access: Arc<Access>,
    runtime: Runtime,
    /// Session id → the agent whose token used it.
    sessions: Mutex<HashMap<String, String>>,
    /// Agent → cancelled when its token is revoked (then replaced, so a
    /// recovered agent's new streams live).
    streams: Mutex<HashMap<String, CancellationToken>>,
    /// Sessions map size after the last prune.
    pruned_at: std::sync::atomic::AtomicUsize,
    /// Open SSE responses, for [`STREAM_RECHECK`].
    live: Mutex<Vec<LiveStream>>,
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocation")
            .field("sessions", &self.sessions.lock().len())
            .finish_non_exhaustive()
    }
}

impl Revocation {
    /// A record for the sessions of `manager`, whose tokens `access`
    /// checks, on `runtime`'s feed.
    pub fn new(manager: Arc<LocalSessionManager>, access: Arc<Access>, runtime: Runtime) -> Arc<Self> {
        Arc::new(Self {
            manager,
            access,
            runtime,
            sessions: Mutex::default(),
            streams: Mutex::default(),
            pruned_at: 0.into(),
            live: Mutex::default(),
        })
    }

    /// Ends the sessions and streams of each agent the runtime reports
    /// revoked, until `stop` is cancelled. Must be called inside a tokio
    /// runtime.
    pub fn start(self: &Arc<Self>, stop: CancellationToken) {
        let me = self.clone();
        let recheck_stop = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(STREAM_RECHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = recheck_stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let me = me.clone();
                let _ = tokio::task::spawn_blocking(move || me.recheck_streams()).await;
            }
        });
        let me = self.clone();
        let mut revoked = self.runtime.revocations();
        tokio::spawn(async move {
            loop {
                let agent = tokio::select! {
                    () = stop.cancelled() => return,
                    agent = revoked.recv() => agent,
                };
                match agent {
                    Ok(agent) => me.end(&agent).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        // Some names were missed: check every agent with something open.
                        tracing::warn!(missed, "revocations lagged; re-checking every open session");
                        me.end_all_refused().await;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Ends `agent`'s streams and closes its sessions.
    async fn end(&self, agent: &str) {
        if let Some(token) = self.streams.lock().remove(agent) {
            token.cancel();
        }
        let ids: Vec<String> = {
            let mut sessions = self.sessions.lock();
            let ids = sessions
                .iter()
                .filter(|(_, a)| a.as_str() == agent)
                .map(|(id, _)| id.clone())
                .collect::<Vec<_>>();
            for id in &ids {
                sessions.remove(id);
            }
            ids
        };
        for id in &ids {
            if let Err(e) = self.manager.close_session(&id.as_str().into()).await {
                tracing::warn!("closing a revoked agent's session failed: {e}");
            }
        }
        if !ids.is_empty() {
            tracing::info!(
                sessions = ids.len(),
                "closed the HTTP sessions of an agent whose token was revoked"
            );
        }
    }

    /// After a lag: ends everything of every agent that may no longer act.
    async fn end_all_refused(&self) {
        let mut agents: Vec<String> = self.sessions.lock().values().cloned().collect();
        agents.extend(self.streams.lock().keys().cloned());
        agents.sort();
        agents.dedup();
        for agent in agents {
            let store = self.access.store().clone();
            let name = agent.clone();
            let may_act = tokio::task::spawn_blocking(move || store.agent(&name))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
                .is_some_and(|a| a.auth_state.may_act());
            if !may_act {
                self.end(&agent).await;
            }
        }
    }

    /// Notes that `agent` uses session `id` (forgetting sessions rmcp has
    /// closed meanwhile, now and then).
    fn note_session(&self, id: &str, agent: &str) {
        let mut sessions = self.sessions.lock();
        if sessions.get(id).is_some_and(|a| a == agent) {
            return;
        }
        sessions.insert(id.to_owned(), agent.to_owned());
        let len = sessions.len();
        if len > 2 * self.pruned_at.load(std::sync::atomic::Ordering::Relaxed) + 64
            && let Ok(live) = self.manager.sessions.try_read()
        {
            sessions.retain(|id, _| live.contains_key(id.as_str()));
            self.pruned_at
                .store(sessions.len(), std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Ends every open stream whose token no longer names its agent, and
    /// forgets the streams that have ended. Blocking (token lookups): run
    /// it off the async workers.
    fn recheck_streams(&self) {
        let open: Vec<(String, zeroize::Zeroizing<String>, CancellationToken)> = {
            let mut live = self.live.lock();
            live.retain(|s| s.alive.strong_count() > 0 && !s.cut.is_cancelled());
            live.iter()
                .map(|s| (s.agent.clone(), s.token.clone(), s.cut.clone()))
                .collect()
        };
        let mut ended = 0;
        for (agent, token, cut) in open {
            if !self.access.token_agent(&token).is_ok_and(|a| a == agent) {
                cut.cancel();
                ended += 1;
            }
        }
        if ended > 0 {
            tracing::info!(streams = ended, "ended HTTP streams whose token was replaced");
        }
    }

    /// Records an open SSE response of `agent`, opened with `token`.
    fn note_stream(&self, agent: &str, token: &str, cut: &CancellationToken, alive: &Arc<()>) {
        self.live.lock().push(LiveStream {
            agent: agent.to_owned(),
            token: zeroize::Zeroizing::new(token.to_owned()),
            cut: cut.clone(),
            alive: Arc::downgrade(alive),
        });
    }

    /// Cancelled when `agent`'s token is revoked from now on.
    fn stream_token(&self, agent: &str) -> CancellationToken {
        self.streams.lock().entry(agent.to_owned()).or_default().clone()
    }
}

/// The revocation middleware for `/mcp` (inside [`super::access::guard`]):
/// notes the session an agent's request uses or opens, and makes an SSE
/// answer to an agent end when that agent's token is revoked.
pub async fn layer(State(rev): State<Arc<Revocation>>, req: Request, next: Next) -> Response {
    let Some(agent) = req.extensions().get::<Identity>().and_then(|i| i.agent.clone()) else {
        return next.run(req).await;
    };
    let token = req.headers().get(AGENT_TOKEN).cloned();
    let asked = header(req.headers(), SESSION_ID);
    // Before the answer: a revocation from now on cancels it.
    let revoked = rev.stream_token(&agent).child_token();
    let response = next.run(req).await;
    if let Some(id) = header(response.headers(), SESSION_ID).or(asked) {
        rev.note_session(&id, &agent);
    }
    let streaming = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !streaming {
        return response;
    }
    // The feed follows the outbox while the stream lives. Registered
    // above, checked again now: a revocation committed while this request
    // ran is either seen here or announced to `revoked`.
    let hold = rev.runtime.hold_feed();
    let token = token.and_then(|t| t.to_str().ok().map(str::trim).map(str::to_owned));
    let still_valid = token
        .as_deref()
        .is_some_and(|t| rev.access.token_agent(t).is_ok_and(|a| a == agent));
    if !still_valid {
        // This stream only: a token past its grace is no revocation.
        revoked.cancel();
    }
    let alive = Arc::new(());
    if let Some(t) = token.as_deref().filter(|_| still_valid) {
        rev.note_stream(&agent, t, &revoked, &alive);
    }
    let (parts, body) = response.into_parts();
    let stream = body
        .into_data_stream()
        .take_until(revoked.cancelled_owned())
        // The hold lives as long as the stream.
        .map(move |frame| {
            let _ = (&hold, &alive);
            frame
        });
    Response::from_parts(parts, Body::from_stream(stream))
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}
