//! One MCP session's state, whatever its transport: who the caller is,
//! what it subscribed to, its read receipts, the revision it speaks.
//!
//! The caller of a request is resolved per request ([`RelayServer::caller_of`]):
//! on stdio it is the agent the session is bound to (`serve --agent`, or
//! a `register_agent` call, SPEC §2); over HTTP it is the agent of the
//! request's `X-Agent-Token`, which the hub's access layer resolved and
//! put in the request's extensions (SPEC §7). The change feed reaches a
//! session through [`SessionState`], which the process's
//! [`Runtime`](super::runtime::Runtime) holds weakly: a session that ends
//! is forgotten with its last handle.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rmcp::model::{Extensions, ProtocolVersion, RequestId};
use rmcp::service::{Peer, RequestContext, SubscriptionSink};
use rmcp::{ErrorData, RoleServer};
use tokio_util::sync::CancellationToken;

use super::resource::{ResourceUri, resource_error, resource_json};
use super::runtime::Runtime;
use crate::error::{Error, ErrorCode, Result};
use crate::store::{Caller, Executor, Store};

/// The transport a session came in on (recorded in the audit log).
pub use crate::store::words::Transport;

/// Who sent an HTTP request, as the hub's access layer resolved it from
/// `X-Agent-Token` (SPEC §7). The MCP handler reads it from the request
/// extensions rmcp copies into every request context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAgent(pub Option<String>);

tokio::task_local! {
    /// The agent of the HTTP request being handled, set by the hub's
    /// access layer around the MCP service ([`with_request_agent`]).
    static REQUEST_AGENT: Option<String>;
}

/// Runs `f` (the MCP service handling one HTTP request) with `agent` as the
/// request's agent: rmcp creates a session's [`RelayServer`] inside it
/// (each 2025 `initialize`, each 2026 stateless request), which binds to
/// [`request_agent`].
pub async fn with_request_agent<F: std::future::Future>(agent: Option<String>, f: F) -> F::Output {
    REQUEST_AGENT.scope(agent, f).await
}

/// The agent of the HTTP request being handled on this task, if any.
pub fn request_agent() -> Option<String> {
    REQUEST_AGENT.try_with(Clone::clone).ok().flatten()
}

/// The read receipts of one HTTP request, held until its response body
/// has been written to the connection (the hub's receipts layer puts it in
/// the request's extensions and confirms them when the body ends).
#[derive(Debug, Clone)]
pub struct HttpReceipts(pub Arc<super::delivery::Deliveries>);

/// What the change feed needs of a session: shared with the process's
/// runtime, which holds it weakly.
#[derive(Debug)]
pub struct SessionState {
    /// The agent whose events this session is told about.
    pub(crate) bound: Mutex<Option<String>>,
    /// Resource URIs the client subscribed to (`resources/subscribe`).
    pub(crate) subscriptions: Mutex<HashSet<String>>,
    /// Live 2026-style subscriptions (`subscriptions/listen`); each sink
    /// only passes the URIs its client asked for.
    pub(crate) listeners: Mutex<Vec<SubscriptionSink>>,
    /// The peer that 2025 notifications go to, once the session is up.
    pub(crate) peer: Mutex<Option<Peer<RoleServer>>>,
    /// Becomes true on the client's `notifications/initialized` (or a
    /// 2026 `subscriptions/listen`): nothing is pushed before.
    pub(crate) initialized: tokio::sync::watch::Sender<bool>,
    /// Push `notifications/claude/channel` envelopes.
    pub(crate) channel_mode: std::sync::atomic::AtomicBool,
    /// Show desktop notifications (`serve --notify`, stdio only).
    pub(crate) desktop: bool,
    /// An HTTP session: the hub ends it when its agent's token is revoked
    /// (a stdio session is refused at its next call instead).
    pub(crate) revocable: bool,
    /// The transport the session came in on.
    pub(crate) transport: Transport,
    /// Relay task ids whose status changes are pushed as 2025-11-25
    /// `notifications/tasks/status` (the tasks this session created by a
    /// task-augmented call or asked about with `tasks/*`).
    pub(crate) followed: Mutex<HashSet<i64>>,
    /// Live 2026 `subscriptions/listen` streams that asked for
    /// `notifications/tasks` ([`super::protocol_tasks`]).
    pub(crate) task_listeners: Mutex<Vec<TaskListener>>,
}

/// A 2026 listen stream that follows tasks: rmcp's subscription sink
/// refuses `notifications/tasks` (its filter has no `taskIds` yet), so
/// they go through the stream's peer with the subscription's id, as the
/// sink does for the notifications it knows.
#[derive(Debug, Clone)]
pub struct TaskListener {
    /// The `subscriptions/listen` request's id (the subscription id).
    pub id: RequestId,
    /// Where the stream's notifications go.
    pub peer: Peer<RoleServer>,
    /// The relay task ids it follows (the caller's own).
    pub tasks: HashSet<i64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SessionState {
    /// The agent the session is bound to, if any.
    pub fn bound_agent(&self) -> Option<String> {
        lock(&self.bound).clone()
    }

    /// The live `subscriptions/listen` sinks.
    pub fn listeners(&self) -> Vec<SubscriptionSink> {
        lock(&self.listeners).clone()
    }

    /// Whether the client subscribed to `uri` (2025 form).
    pub fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.subscriptions).contains(uri)
    }

    /// Whether `serve --channel` (or the HTTP session's request for it)
    /// turned channel envelopes on.
    pub fn channel_mode(&self) -> bool {
        self.channel_mode.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the hub ends this session when its agent's token is
    /// revoked (HTTP sessions): the feed then follows the outbox for it.
    pub fn revocable(&self) -> bool {
        self.revocable && self.bound_agent().is_some()
    }

    /// Whether the session has anything to push: the feed skips the
    /// others.
    pub fn interested(&self) -> bool {
        self.channel_mode()
            || self.desktop
            || !lock(&self.subscriptions).is_empty()
            || !lock(&self.listeners).is_empty()
            || !lock(&self.followed).is_empty()
            || !lock(&self.task_listeners).is_empty()
    }

    /// Pushes 2025-11-25 status notifications for task `id` from now on.
    pub fn follow(&self, id: i64) {
        lock(&self.followed).insert(id);
    }

    /// Whether the session pushes 2025-11-25 status notifications for
    /// task `id`.
    pub fn follows(&self, id: i64) -> bool {
        lock(&self.followed).contains(&id)
    }

    /// The 2026 listen streams that follow task `id`.
    pub fn task_listeners_of(&self, id: i64) -> Vec<TaskListener> {
        lock(&self.task_listeners)
            .iter()
            .filter(|l| l.tasks.contains(&id))
            .cloned()
            .collect()
    }

    /// The transport the session came in on.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The 2025 peer, once the session is up.
    pub fn peer(&self) -> Option<Peer<RoleServer>> {
        lock(&self.peer).clone()
    }

    /// Resolves once pushing may start (MCP lifecycle).
    pub async fn wait_until_initialized(&self) {
        let mut rx = self.initialized.subscribe();
        let _ = rx.wait_for(|ready| *ready).await;
    }
}

/// One MCP session's server: the store, the session state and the
/// transport. Cheap to clone; rmcp clones it per request.
#[derive(Debug, Clone)]
pub struct RelayServer {
    pub(crate) exec: Executor,
    pub(crate) transport: Transport,
    pub(crate) state: Arc<SessionState>,
    /// How `spawn_agent` opens terminals.
    pub(crate) spawn_mode: super::spawn::SpawnMode,
    /// Read receipts waiting for their responses to be written, when the
    /// transport takes them ([`RelayServer::with_deliveries`]).
    pub(crate) deliveries: Option<Arc<super::delivery::Deliveries>>,
    /// The revision agreed in `initialize` (2025 sessions).
    pub(crate) negotiated: Arc<Mutex<Option<ProtocolVersion>>>,
    /// The process's shared runtime, which the session joins for the
    /// change feed.
    pub(crate) runtime: Runtime,
    /// Cancelled when the last handle on the session is dropped.
    pub(crate) _alive: Arc<tokio_util::sync::DropGuard>,
    pub(crate) ended: CancellationToken,
}

/// What a tool call needs to know about its JSON-RPC request.
pub(crate) struct Call {
    /// The request id: its response carries any read receipt.
    pub id: RequestId,
    /// Cancelled when the client cancels the request or the session ends.
    pub ct: CancellationToken,
    /// The calling agent (see the module docs), if any.
    pub agent: Option<String>,
    /// Where an HTTP request's read receipts wait for its response body.
    pub receipts: Option<Arc<super::delivery::Deliveries>>,
}

impl Call {
    /// The caller, or `AUTH_FAILED` when the request has none.
    pub fn agent(&self) -> Result<String> {
        self.agent.clone().ok_or_else(not_bound)
    }
}

pub(crate) fn not_bound() -> Error {
    Error::new(
        ErrorCode::AuthFailed,
        "this session is not bound to an agent: call register_agent first \
         (stdio: or start relay with `serve --agent NAME`; HTTP: send the agent's token as X-Agent-Token)",
    )
}

impl RelayServer {
    /// A server for one session on `transport` on the process's `runtime`
    /// (its executor, its change feed), bound to `agent` if given.
    pub fn new(runtime: Runtime, agent: Option<String>, transport: Transport) -> Self {
        let ended = CancellationToken::new();
        Self {
            state: Arc::new(SessionState {
                bound: Mutex::new(agent),
                subscriptions: Mutex::default(),
                listeners: Mutex::default(),
                peer: Mutex::default(),
                initialized: tokio::sync::watch::Sender::new(false),
                channel_mode: false.into(),
                desktop: false,
                revocable: transport == Transport::Http,
                transport,
                followed: Mutex::default(),
                task_listeners: Mutex::default(),
            }),
            deliveries: None,
            negotiated: Arc::default(),
            exec: runtime.executor().clone(),
            transport,
            spawn_mode: super::spawn::SpawnMode::Auto,
            runtime,
            _alive: Arc::new(ended.clone().drop_guard()),
            ended,
        }
    }

    /// How `spawn_agent` opens terminals (`serve --spawn-mode`).
    pub fn with_spawn_mode(mut self, mode: super::spawn::SpawnMode) -> Self {
        self.spawn_mode = mode;
        self
    }

    /// Pushes `notifications/claude/channel` envelopes (`serve --channel`)
    /// and advertises the experimental `claude/channel` capability.
    pub fn with_channel(self, on: bool) -> Self {
        self.state.channel_mode.store(on, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// Shows desktop notifications (`serve --notify`). Only before the
    /// session is shared.
    pub fn with_desktop(mut self, on: bool) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.desktop = on;
        }
        self
    }

    /// Holds read receipts for a transport that confirms them once it has
    /// written each reply ([`super::delivery`]; it takes them with
    /// [`super::delivery::Deliveries::take`]). Without this, a page's
    /// receipt is applied before the reply leaves, as for an in-process
    /// caller. Must be called inside a tokio runtime.
    pub fn with_deliveries(mut self) -> Self {
        self.deliveries = Some(Arc::new(super::delivery::Deliveries::new(self.exec.clone())));
        self
    }

    /// The session's read receipts, when [`RelayServer::with_deliveries`]
    /// turned them on.
    pub fn deliveries(&self) -> Option<Arc<super::delivery::Deliveries>> {
        self.deliveries.clone()
    }

    /// The agent this session is bound to, if any.
    pub fn bound_agent(&self) -> Option<String> {
        self.state.bound_agent()
    }

    pub(crate) fn bind(&self, name: Option<String>) {
        *lock(&self.state.bound) = name;
    }

    /// The caller of a request with these extensions: the session's
    /// binding on stdio, the request's `X-Agent-Token` agent over HTTP.
    pub(crate) fn caller_of(&self, extensions: &Extensions) -> Option<String> {
        match self.transport {
            Transport::Stdio => self.bound_agent(),
            _ => extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<RequestAgent>())
                .and_then(|agent| agent.0.clone()),
        }
    }

    /// The request's HTTP header `name`, if it came over HTTP.
    pub(crate) fn header(extensions: &Extensions, name: &str) -> Option<String> {
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The [`Call`] for a request.
    pub(crate) fn call_for(&self, context: &RequestContext<RoleServer>) -> Call {
        Call {
            id: context.id.clone(),
            ct: context.ct.clone(),
            agent: self.caller_of(&context.extensions),
            receipts: context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<HttpReceipts>())
                .map(|r| r.0.clone()),
        }
    }

    /// The protocol revision a request speaks: its own `_meta` revision
    /// (2026-07-28 requests), else the one negotiated in `initialize`.
    pub(crate) fn revision(&self, context: &RequestContext<RoleServer>) -> ProtocolVersion {
        context
            .meta
            .protocol_version()
            .unwrap_or_else(|| lock(&self.negotiated).clone().unwrap_or(ProtocolVersion::LATEST))
    }

    /// Checks that `agent` may watch `uri`: exactly when it may read it
    /// (its own inbox, a task it is party to, a channel it joined). Runs
    /// the store check on the calling thread (the 2026 subscription filter
    /// is synchronous); it is one indexed lookup.
    pub(crate) fn subscribable(&self, agent: Option<&str>, uri: &str) -> std::result::Result<(), ErrorData> {
        let parsed: ResourceUri = uri.parse().map_err(|_| resource_error(uri, None))?;
        let agent = agent.ok_or_else(|| resource_error(uri, Some(not_bound())))?;
        let caller = Caller {
            agent,
            transport: self.transport,
        };
        resource_json(self.exec.store(), caller, &parsed, true)
            .map(drop)
            .map_err(|e| resource_error(uri, Some(e)))
    }

    /// Runs `f` with the store and `call`'s caller on the store thread.
    pub(crate) async fn with_caller<T: Send + 'static>(
        &self,
        call: &Call,
        f: impl FnOnce(&Store, Caller<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let agent = call.agent()?;
        let transport = self.transport;
        self.blocking(move |s| {
            f(
                s,
                Caller {
                    agent: &agent,
                    transport,
                },
            )
        })
        .await
    }

    /// Runs `f` on the store thread (group commit); see [`Executor::call`].
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.exec.call(f).await
    }

    /// Holds `receipt` until the response to `call` is written (dropping
    /// it when the request was cancelled: that reply will not go out), or
    /// applies it now when the transport takes no receipts.
    pub(crate) async fn hold(&self, call: &Call, receipt: Option<crate::store::delivery::ReadReceipt>) -> Result<()> {
        let Some(receipt) = receipt else {
            return Ok(());
        };
        match self.deliveries.as_ref().or(call.receipts.as_ref()) {
            Some(_) if call.ct.is_cancelled() => Ok(()),
            Some(d) => {
                let ticket = d.hold(call.id.clone(), receipt);
                d.forget_when(call.id.clone(), ticket, call.ct.clone().cancelled_owned());
                Ok(())
            }
            None => self.blocking(move |s| s.confirm_delivery(&receipt)).await,
        }
    }

    /// Waits until this session's earlier pages are settled, so that
    /// reading page after page never hands out the same mail twice.
    pub(crate) async fn settle(&self, call: &Call) -> Result<()> {
        let earlier: Vec<Arc<super::delivery::Deliveries>> = match (&self.deliveries, &call.receipts) {
            (Some(d), _) => vec![d.clone()],
            // Over HTTP each request has its own receipts (and a 2026
            // request its own session): wait for the agent's earlier reads.
            (None, Some(mine)) => match &call.agent {
                Some(agent) => self.runtime.earlier_reads(agent, mine),
                None => Vec::new(),
            },
            (None, None) => Vec::new(),
        };
        for d in earlier {
            tokio::select! {
                () = d.settled() => {}
                () = call.ct.cancelled() => {
                    return Err(Error::new(ErrorCode::Conflict, "the request was cancelled"));
                }
            }
        }
        Ok(())
    }

    /// Joins the runtime's change feed, once (later calls only refresh
    /// the peer).
    pub(crate) fn join_feed(&self, peer: Option<Peer<RoleServer>>) {
        if let Some(peer) = peer {
            *lock(&self.state.peer) = Some(peer);
        }
        self.runtime.attach(&self.state, self.ended.clone());
    }
}
