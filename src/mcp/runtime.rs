//! One runtime per `relay serve` process (SPEC §7), shared by every
//! session of every transport: the store executor (group commit), the
//! change feed, presence, the lease/TTL sweep and retention.
//!
//! The change feed follows the `events` outbox from one cursor for the
//! whole process and routes each event to the sessions it concerns:
//! events targeted at a session's agent (mail, broadcasts, its tasks), and
//! posts by others in channels the agent has joined. Each session gets its
//! events through a queue of its own ([`SESSION_QUEUE`] deep), pushed by a
//! task of its own, so a slow client delays nobody else; when its queue is
//! full, newer events for it are dropped (notifications are hints, the
//! mail itself is durable) and a warning is logged.
//!
//! Change detection costs nothing while idle: one watch on the store's WAL
//! file for the process (inotify, through the `notify` crate), held only
//! while some session has something to push. A file event arrives a
//! moment before SQLite publishes another process's commit, so the feed
//! then polls SQLite's `data_version` (about a microsecond) on a short
//! backoff ([`crate::watch::commit_visible`]). This process's own commits
//! wake the feed directly ([`Executor::changed`]). A 1 s fallback catches
//! a missed file event.
//!
//! Token revocations (SPEC §2): a `token_revoked` event, from whichever
//! process revoked (a tool call, the operator's `relay token revoke`), is
//! announced on [`Runtime::revocations`], so the HTTP hub can end that
//! agent's sessions and streams. The feed therefore also follows the
//! outbox while an HTTP session is attached or a transport holds
//! [`Runtime::hold_feed`], even when nobody has anything to push.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::delivery::Deliveries;
use super::session::SessionState;
use crate::config::Settings;
use crate::store::events::Event;
use crate::store::{Executor, Store};
use crate::watch::{FALLBACK_POLL, commit_visible};

/// How often the runtime refreshes the `last_seen` of its sessions'
/// agents, in seconds.
pub const PRESENCE_TICK_SECONDS: u64 = 60;
/// How often the runtime sweeps task leases and TTLs, and writes back
/// passed token grace and recovery deadlines, in seconds (every call that
/// touches tasks sweeps too; token lookups apply deadlines themselves).
pub const TASK_SWEEP_TICK_SECONDS: u64 = 5;
/// How often retention runs, in seconds.
pub const RETENTION_TICK_SECONDS: u64 = 3600;
/// Events waiting for one session's pusher before newer ones are dropped.
pub const SESSION_QUEUE: usize = 1024;
/// The shortest time between two outbox reads.
pub const MIN_SPACING: Duration = Duration::from_millis(2);
/// Events read per outbox read (more are read on the next turn).
const BATCH: usize = 512;

/// The process's runtime. Cheap to clone; [`Runtime::shutdown`] stops its
/// background tasks.
#[derive(Debug, Clone)]
pub struct Runtime(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    exec: Executor,
    sessions: Mutex<Vec<Attached>>,
    /// Rung by file events and by sessions that attach or subscribe.
    wake: Arc<tokio::sync::Notify>,
    stop: CancellationToken,
    /// Tool calls running now (see [`Runtime::begin_call`]).
    calls: tokio::sync::watch::Sender<usize>,
    /// Per agent, the read receipts of its HTTP requests until they are
    /// settled ([`Runtime::earlier_reads`]).
    reads: Mutex<HashMap<String, Vec<std::sync::Weak<Deliveries>>>>,
    /// The process's webhook dispatcher.
    webhooks: crate::webhook::Handle,
    /// Agents whose token the outbox says was revoked.
    revoked: tokio::sync::broadcast::Sender<String>,
    /// Live [`FeedHold`]s.
    holds: Arc<std::sync::atomic::AtomicUsize>,
    /// `[retention] tasks_days`: how long a finished task is kept (the
    /// TTL MCP Tasks report, [`super::protocol_tasks::ttl_ms`]).
    task_retention_days: u32,
}

/// Keeps the change feed following the outbox while held (see
/// [`Runtime::hold_feed`]); dropping it lets the feed idle again.
#[derive(Debug)]
pub struct FeedHold(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for FeedHold {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How many revocations [`Runtime::revocations`] buffers per receiver
/// before a slow one lags (it then sees `RecvError::Lagged`).
pub const REVOCATION_QUEUE: usize = 256;

/// A tool call in flight; dropping it ends it.
#[derive(Debug)]
pub struct CallGuard(tokio::sync::watch::Sender<usize>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

#[derive(Debug)]
struct Attached {
    state: Arc<SessionState>,
    queue: mpsc::Sender<Arc<Event>>,
}

impl Runtime {
    /// Starts the runtime's background tasks on the current tokio runtime.
    /// The feed starts at the newest event now: an event committed while a
    /// client is still initializing is delivered once it subscribes.
    ///
    /// Errors: the store cannot be read.
    pub fn start(store: Arc<Store>, settings: &Settings) -> crate::error::Result<Self> {
        let cursor = store.latest_event_id()?;
        let stop = CancellationToken::new();
        let webhooks = crate::webhook::start(store.clone(), settings, stop.clone());
        let exec = Executor::start(store);
        let rt = Self(Arc::new(Inner {
            exec,
            sessions: Mutex::default(),
            wake: Arc::default(),
            stop,
            calls: tokio::sync::watch::Sender::new(0),
            reads: Mutex::default(),
            webhooks,
            revoked: tokio::sync::broadcast::Sender::new(REVOCATION_QUEUE),
            holds: Arc::default(),
            task_retention_days: settings.retention.tasks_days,
        }));
        tokio::spawn(feed(rt.clone(), settings.db.clone(), cursor));
        tokio::spawn(background(rt.clone(), settings.clone()));
        Ok(rt)
    }

    /// The store executor every session of the process shares.
    pub fn executor(&self) -> &Executor {
        &self.0.exec
    }

    /// How many days a finished task is kept (`[retention] tasks_days`).
    pub fn task_retention_days(&self) -> u32 {
        self.0.task_retention_days
    }

    /// The process's webhook dispatcher (SSRF policy, wake-up).
    pub fn webhooks(&self) -> &crate::webhook::Handle {
        &self.0.webhooks
    }

    /// Counts a tool call as in flight until the guard drops: shutdown
    /// waits for them ([`Runtime::calls_finished`]).
    pub fn begin_call(&self) -> CallGuard {
        self.0.calls.send_modify(|n| *n += 1);
        CallGuard(self.0.calls.clone())
    }

    /// Resolves once no tool call is in flight.
    pub async fn calls_finished(&self) {
        let mut rx = self.0.calls.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// The receipts of `agent`'s earlier HTTP reads that are not settled
    /// yet, and records `mine` as its newest: a read waits for these, so
    /// an agent reading page after page, on one session or in stateless
    /// requests, never gets the same mail twice.
    pub fn earlier_reads(&self, agent: &str, mine: &Arc<Deliveries>) -> Vec<Arc<Deliveries>> {
        let mut reads = lock(&self.0.reads);
        reads.retain(|_, held| {
            held.retain(|w| w.strong_count() > 0);
            !held.is_empty()
        });
        let held = reads.entry(agent.to_owned()).or_default();
        let earlier = held.iter().filter_map(std::sync::Weak::upgrade).collect();
        held.push(Arc::downgrade(mine));
        earlier
    }

    /// The names of agents whose token is revoked from now on, each as the
    /// change feed reads its `token_revoked` event (within about
    /// [`MIN_SPACING`] of the commit in this process, a file event for
    /// others'). Only while the feed follows the outbox: hold
    /// [`Runtime::hold_feed`] while there is something to end.
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.0.revoked.subscribe()
    }

    /// Makes the feed follow the outbox until the hold is dropped (for a
    /// transport with live connections that [`Runtime::revocations`] may
    /// have to end).
    pub fn hold_feed(&self) -> FeedHold {
        if self.0.holds.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            self.0.wake.notify_one();
        }
        FeedHold(self.0.holds.clone())
    }

    /// Announces the `token_revoked` events among `events`.
    fn announce_revocations(&self, events: &[Event]) {
        for event in events {
            if event.kind == crate::store::events::Kind::TokenRevoked
                && let Some(agent) = &event.target
            {
                // No receiver: no transport here has anything to end.
                let _ = self.0.revoked.send(agent.clone());
            }
        }
    }

    /// Stops the background tasks (the feed, presence, sweeps, retention).
    pub fn shutdown(&self) {
        self.0.stop.cancel();
    }

    /// Routes the session's events to it from now until `ended` is
    /// cancelled (the session's last handle is dropped). Attaching twice
    /// only wakes the feed (a new subscription may need the file watch).
    pub fn attach(&self, state: &Arc<SessionState>, ended: CancellationToken) {
        let mut sessions = lock(&self.0.sessions);
        if !sessions.iter().any(|s| Arc::ptr_eq(&s.state, state)) {
            let (queue, events) = mpsc::channel(SESSION_QUEUE);
            sessions.push(Attached {
                state: state.clone(),
                queue,
            });
            let tasks = super::feed::TaskViews {
                store: self.0.exec.store().clone(),
                retention_days: self.0.task_retention_days,
            };
            tokio::spawn(push(state.clone(), events, ended, self.0.stop.clone(), tasks));
        }
        drop(sessions);
        self.0.wake.notify_one();
    }

    /// The agents of the attached sessions (for presence).
    fn agents(&self) -> Vec<String> {
        let mut agents: Vec<String> = lock(&self.0.sessions)
            .iter()
            .filter(|s| !s.queue.is_closed())
            .filter_map(|s| s.state.bound_agent())
            .collect();
        agents.sort();
        agents.dedup();
        agents
    }

    /// Whether the feed must follow the outbox: some session has
    /// something to push, or something may have to end on a revocation
    /// (an attached HTTP session, a [`FeedHold`]).
    fn interested(&self) -> bool {
        if self.0.holds.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            return true;
        }
        let mut sessions = lock(&self.0.sessions);
        sessions.retain(|s| !s.queue.is_closed());
        sessions.iter().any(|s| s.state.interested() || s.state.revocable())
    }

    /// Hands each event to the sessions it concerns; `members` holds the
    /// members of the channels posted to.
    fn route(&self, events: Vec<Event>, members: &Members) {
        let targets: Vec<(String, mpsc::Sender<Arc<Event>>)> = lock(&self.0.sessions)
            .iter()
            .filter(|s| s.state.interested())
            .filter_map(|s| Some((s.state.bound_agent()?, s.queue.clone())))
            .collect();
        if targets.is_empty() {
            return;
        }
        for event in events {
            let event = Arc::new(event);
            let channel_members = match (&event.kind, &event.channel) {
                (k, Some(channel)) if is_channel_post(k) => members.get(channel),
                _ => None,
            };
            for (agent, queue) in &targets {
                let concerns = event.target.as_deref() == Some(agent.as_str())
                    || channel_members.as_ref().is_some_and(|m| {
                        event.actor.as_deref() != Some(agent.as_str()) && m.iter().any(|a| a == agent)
                    });
                if concerns && let Err(mpsc::error::TrySendError::Full(_)) = queue.try_send(event.clone()) {
                    tracing::warn!(event = event.id, "a session's notification queue is full; dropping");
                }
            }
        }
    }
}

/// Channel name → its members' names.
type Members = HashMap<String, Vec<String>>;

fn is_channel_post(kind: &crate::store::events::Kind) -> bool {
    *kind == crate::store::events::Kind::ChannelPost
}

/// Up to [`BATCH`] events after `cursor`, and the members of each channel
/// they post to (one lookup per channel).
fn read_outbox(store: &Store, cursor: i64) -> crate::error::Result<(Vec<Event>, Members)> {
    let events = store.events_after(cursor, BATCH)?;
    let mut members = HashMap::new();
    for event in &events {
        if let Some(channel) = &event.channel
            && is_channel_post(&event.kind)
            && !members.contains_key(channel)
        {
            members.insert(channel.clone(), store.channel_members(channel)?);
        }
    }
    Ok((events, members))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One session's pusher: sends its events' notifications once the
/// session is initialized, until it ends.
async fn push(
    state: Arc<SessionState>,
    mut events: mpsc::Receiver<Arc<Event>>,
    ended: CancellationToken,
    stop: CancellationToken,
    tasks: super::feed::TaskViews,
) {
    tokio::select! {
        () = state.wait_until_initialized() => {}
        () = ended.cancelled() => return,
        () = stop.cancelled() => return,
    }
    let mut desktop = super::desktop::Desktop::default();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = ended.cancelled() => None,
            () = stop.cancelled() => None,
        };
        let Some(event) = event else { return };
        let Some(agent) = state.bound_agent() else { continue };
        if !super::feed::deliver(&state, &agent, &event, state.desktop.then_some(&mut desktop), &tasks).await {
            return; // the client is gone
        }
    }
}

/// The process's one change feed.
async fn feed(rt: Runtime, db: std::path::PathBuf, mut cursor: i64) {
    let exec = rt.0.exec.clone();
    let wake = rt.0.wake.clone();
    let stop = rt.0.stop.clone();
    let version = |exec: &Executor| {
        let store = exec.store().clone();
        async move {
            tokio::task::spawn_blocking(move || store.data_version())
                .await
                .ok()
                .and_then(Result::ok)
        }
    };
    // The file watch exists only while a session has something to push:
    // otherwise every commit by any process would wake this one for nothing.
    let mut watcher: Option<notify::RecommendedWatcher> = None;
    let mut seen = version(&exec).await.unwrap_or(0);
    let mut fallback = false;
    let mut watch_started = false;
    let mut last_read = tokio::time::Instant::now();
    loop {
        // Armed before the outbox is read, so a commit of this process
        // during the read still wakes the wait below.
        let own = exec.changed().notified();
        tokio::pin!(own);
        own.as_mut().enable();
        let interested = rt.interested();
        match (interested, watcher.is_some()) {
            (true, false) => {
                watcher = crate::watch::store_changes(&db, wake.clone());
                // Re-take the baseline now that the watch runs, before the
                // outbox is read (see `relay tail` for the same dance): a
                // commit that wrote the WAL just before the watch began is
                // looked for once as if woken.
                seen = version(&exec).await.unwrap_or(seen);
                watch_started = watcher.is_some();
            }
            (false, true) => watcher = None,
            _ => {}
        }
        if interested {
            tokio::time::sleep_until(last_read + MIN_SPACING).await;
            last_read = tokio::time::Instant::now();
            loop {
                let store = exec.store().clone();
                let (events, members) = match tokio::task::spawn_blocking(move || read_outbox(&store, cursor)).await {
                    Ok(Ok(read)) => read,
                    Ok(Err(e)) => {
                        tracing::warn!("reading the outbox failed: {e}");
                        break;
                    }
                    Err(_) => return,
                };
                let full = events.len() == BATCH;
                if let Some(last) = events.last() {
                    cursor = last.id;
                }
                rt.announce_revocations(&events);
                rt.route(events, &members);
                if !full {
                    break;
                }
            }
        } else if fallback {
            // Nobody listens: skip what happened meanwhile.
            let store = exec.store().clone();
            if let Ok(Ok(latest)) = tokio::task::spawn_blocking(move || store.latest_event_id()).await {
                cursor = latest;
            }
        }
        // Wait for a commit: this process's own (the executor says so),
        // another process's (file event, then data_version), or the
        // fallback.
        loop {
            fallback = if std::mem::take(&mut watch_started) {
                false
            } else {
                tokio::select! {
                    // Nobody listening: this process's commits need no look.
                    () = &mut own, if interested => break,
                    () = wake.notified() => false,
                    () = tokio::time::sleep(FALLBACK_POLL) => true,
                    () = stop.cancelled() => return,
                }
            };
            if fallback {
                seen = version(&exec).await.unwrap_or(seen);
                break;
            }
            if rt.interested() != watcher.is_some() {
                break; // something subscribed or went away: start or stop watching
            }
            if !rt.interested() {
                continue;
            }
            // A file event may be this process's own commit, which never
            // moves data_version here: the executor's signal ends the wait.
            let visible = tokio::select! {
                () = &mut own => true,
                visible = commit_visible(&mut seen, || version(&exec), Some(&wake)) => visible,
            };
            if visible {
                break;
            }
        }
    }
}

/// Keeps the sessions' agents present, sweeps task leases and TTLs, and
/// runs retention.
async fn background(rt: Runtime, settings: Settings) {
    let store = rt.0.exec.store().clone();
    let mut presence = tokio::time::interval(Duration::from_secs(PRESENCE_TICK_SECONDS));
    // The first purge waits a minute: startup stays quick and quiet.
    let mut retention = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(60),
        Duration::from_secs(RETENTION_TICK_SECONDS),
    );
    let mut sweep = tokio::time::interval(Duration::from_secs(TASK_SWEEP_TICK_SECONDS));
    presence.tick().await;
    loop {
        tokio::select! {
            () = rt.0.stop.cancelled() => return,
            _ = sweep.tick() => {
                // Cheap unless something is due: two index probes, then a
                // write only when a lease, a TTL or a queued task needs it.
                let store = store.clone();
                // Best-effort: the next tick retries, and a stopped writer
                // elsewhere must not hold this process's connection.
                let swept = tokio::task::spawn_blocking(move || {
                    let tasks = store.best_effort(|| {
                        store.sweep_if_due()?;
                        store.route_queued()
                    });
                    // Grace and recovery deadlines that passed (lookups
                    // honour them already; this writes them back).
                    let credentials = store.best_effort(|| store.expire_credentials());
                    (tasks, credentials)
                })
                .await;
                if let Ok((tasks, credentials)) = swept {
                    if let Err(e) = tasks {
                        tracing::warn!("task sweep failed: {e}");
                    }
                    if let Err(e) = credentials {
                        tracing::warn!("credential sweep failed: {e}");
                    }
                }
            }
            _ = presence.tick() => {
                let agents = rt.agents();
                let store = store.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for name in agents {
                        let _ = store.touch_agent(&name);
                    }
                })
                .await;
            }
            _ = retention.tick() => {
                let store = store.clone();
                let policy = settings.retention;
                match tokio::task::spawn_blocking(move || store.purge(policy)).await {
                    Ok(Err(e)) => tracing::warn!("retention failed: {e}"),
                    Ok(Ok(purged)) => tracing::debug!(?purged, "retention ran"),
                    Err(_) => {}
                }
            }
        }
    }
}
