//! Webhook delivery (SPEC §7): from the outbox, by whichever relay
//! process claims each delivery first.
//!
//! Every `relay serve` process (stdio or HTTP) runs one dispatcher. It
//! costs one small read a second while no webhook exists: no file watch,
//! no writes. Once one does, it watches the store's WAL like the change
//! feed ([`crate::watch`]) and, when a commit shows (by any process,
//! this one included), reads whether work is waiting
//! ([`Store::webhook_work`]) and if so takes one step
//! ([`Store::webhook_step`]): record the outcomes of its finished
//! attempts, fan new events out into deliveries, and claim due
//! deliveries by compare-and-set, up to `[webhooks] max_in_flight`
//! attempts at once. Attempts run as tasks of their own ([`send`]), each
//! checked by the SSRF guard ([`guard`]) and pinned to the address it
//! checked. Retries come due on the store clock, which a 1 s tick looks
//! at. See [`crate::store::webhooks`] for the states and the schedule.
//!
//! Deliveries are at least once if a process dies mid-attempt (its claim
//! expires and another process tries again), exactly once otherwise;
//! `X-Relay-Delivery` lets a receiver drop a repeat. Order is not
//! guaranteed: order by `event.id`.

pub mod guard;
pub mod send;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::{Settings, WebhookSettings};
use crate::error::{Error, ErrorCode, Result};
use crate::store::Store;
use crate::store::executor::blocking;
use crate::store::webhooks::{Claimed, Finished, Work};
use crate::watch::RECHECK_MS;

/// How often a dispatcher looks for webhooks, due retries and expired
/// claims without being woken.
pub const TICK: Duration = Duration::from_secs(1);
/// How long a claim outlives the longest attempt ([`claim_ms`]), in
/// milliseconds: a process that stopped mid-attempt leaves its delivery
/// due again then.
pub const CLAIM_MARGIN_MS: i64 = 30_000;
/// How long a dispatcher waits before retrying a step the store refused
/// (locked by others).
const STEP_RETRY: Duration = Duration::from_millis(50);
/// The least time between two looks for work woken by file events: a
/// burst of commits is looked at every few milliseconds, not per commit.
const MIN_SPACING: Duration = Duration::from_millis(3);
/// How long finished attempts may wait for company before their outcomes
/// are written: one transaction then records many.
const LINGER: Duration = Duration::from_millis(10);

/// This process's handle on its dispatcher: the SSRF policy for
/// registrations and a way to wake it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Handle {
    policy: Arc<guard::Policy>,
    kick: Arc<Notify>,
}

impl Handle {
    /// Refuses, before anything is stored or contacted, a webhook URL
    /// whose host is a literal IP address in a forbidden class (unless
    /// allowlisted) or a cloud-metadata host name. Names are only
    /// resolved at delivery.
    ///
    /// Errors: [`ErrorCode::SsrfRefused`].
    pub fn check_url(&self, url: &url::Url) -> Result<()> {
        let refused = |what: String| {
            Error::new(
                ErrorCode::SsrfRefused,
                format!(
                    "{what}: relay does not deliver webhooks to loopback, private, link-local, multicast, \
                     reserved or cloud-metadata addresses unless the operator lists them in [webhooks] allow"
                ),
            )
        };
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
            Some(url::Host::Domain(name)) if guard::is_metadata_name(name) => {
                return Err(refused(format!("{name} is a cloud metadata service")));
            }
            _ => return Ok(()),
        };
        self.policy
            .check(ip)
            .map_err(|r| refused(format!("the url points at {r}")))
    }

    /// Wakes the dispatcher (a webhook was registered here).
    pub fn kick(&self) {
        self.kick.notify_one();
    }
}

/// Starts this process's webhook dispatcher on the current tokio runtime;
/// it stops when `stop` is cancelled.
pub fn start(store: Arc<Store>, settings: &Settings, stop: CancellationToken) -> Handle {
    let policy = Arc::new(guard::Policy::new(settings.webhooks.allow.clone()));
    let kick = Arc::new(Notify::new());
    let dispatcher = Dispatcher {
        store,
        db: settings.db.clone(),
        settings: settings.webhooks.clone(),
        policy: policy.clone(),
        clients: Arc::default(),
        kick: kick.clone(),
        stop,
        claimer: claimer_id(),
    };
    tokio::spawn(dispatcher.run());
    Handle { policy, kick }
}

/// `pid:<pid>:<random>`: who holds a claim (`claimed_by`).
fn claimer_id() -> String {
    format!("pid:{}:{:08x}", std::process::id(), rand::random::<u32>())
}

struct Dispatcher {
    store: Arc<Store>,
    db: std::path::PathBuf,
    settings: WebhookSettings,
    policy: Arc<guard::Policy>,
    clients: Arc<send::Clients>,
    kick: Arc<Notify>,
    stop: CancellationToken,
    claimer: String,
}

/// An attempt slot; dropping it frees the slot, even if the attempt panicked.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Dispatcher {
    async fn run(self) {
        let this = Arc::new(self);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let wake = Arc::new(Notify::new());
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut watcher: Option<notify::RecommendedWatcher> = None;
        let mut finished: Vec<Finished> = Vec::new();
        let mut scanned = 0i64;
        // After a file event: where we are in the RECHECK_MS backoff (the
        // commit becomes visible a moment after its WAL write).
        let mut recheck: Option<usize> = None;
        let mut retry_step = false;
        // When the oldest unrecorded outcome arrived.
        let mut waiting_since: Option<tokio::time::Instant> = None;
        let mut look = true;
        let mut last_look = tokio::time::Instant::now();
        loop {
            if look {
                look = false;
                tokio::time::sleep_until(last_look + MIN_SPACING).await;
                last_look = tokio::time::Instant::now();
                match blocking(&this.store, move |s| s.webhook_work(scanned)).await {
                    Ok(work) => {
                        if !work.fan_out {
                            scanned = scanned.max(work.scanned);
                        }
                        match (work.webhooks, watcher.is_some()) {
                            (true, false) => watcher = crate::watch::store_changes(&this.db, wake.clone()),
                            (false, true) => watcher = None,
                            _ => {}
                        }
                        let busy = in_flight.load(Ordering::SeqCst);
                        let max = this.settings.max_in_flight;
                        let free = max.saturating_sub(busy);
                        let lingered = waiting_since.is_some_and(|t| t.elapsed() >= LINGER);
                        if should_step(&work, !finished.is_empty(), lingered, busy, free, max) {
                            waiting_since = None;
                            let batch = std::mem::take(&mut finished);
                            match this.step(batch, free).await {
                                Ok((claimed, more)) => {
                                    for c in claimed {
                                        in_flight.fetch_add(1, Ordering::SeqCst);
                                        let slot = Slot(in_flight.clone());
                                        tokio::spawn(this.clone().attempt(c, done_tx.clone(), slot));
                                    }
                                    look = more;
                                }
                                Err((e, batch)) => {
                                    tracing::debug!(code = %e.code, "webhook step postponed: {}", e.message);
                                    finished = batch;
                                    if !finished.is_empty() {
                                        waiting_since = Some(tokio::time::Instant::now());
                                    }
                                    retry_step = true;
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!("reading webhook work failed: {e}");
                        retry_step = true;
                    }
                }
                if look {
                    continue;
                }
            }
            let pause = recheck.map_or(Duration::ZERO, |i| Duration::from_millis(RECHECK_MS[i]));
            let linger = waiting_since.map(|t| t + LINGER);
            tokio::select! {
                Some(f) = done_rx.recv() => {
                    waiting_since.get_or_insert_with(tokio::time::Instant::now);
                    finished.push(f);
                    while let Ok(f) = done_rx.try_recv() {
                        finished.push(f);
                    }
                    look = true;
                }
                () = wake.notified() => {
                    recheck = Some(0);
                    look = true;
                }
                () = this.kick.notified() => look = true,
                () = tokio::time::sleep(pause), if recheck.is_some() => {
                    recheck = recheck.map(|i| i + 1).filter(|i| *i < RECHECK_MS.len());
                    look = true;
                }
                () = tokio::time::sleep_until(linger.unwrap_or_else(tokio::time::Instant::now)), if linger.is_some() => {
                    look = true;
                }
                () = tokio::time::sleep(STEP_RETRY), if retry_step => {
                    retry_step = false;
                    look = true;
                }
                () = tokio::time::sleep(TICK) => look = true,
                () = this.stop.cancelled() => break,
            }
        }
        this.drain(done_rx, finished, &in_flight).await;
    }

    /// One [`Store::webhook_step`]; on failure hands the outcomes back.
    async fn step(
        &self,
        finished: Vec<Finished>,
        free: usize,
    ) -> std::result::Result<(Vec<Claimed>, bool), (Error, Vec<Finished>)> {
        let store = self.store.clone();
        let claimer = self.claimer.clone();
        let claim_ms = claim_ms(&self.settings);
        let (out, finished) = tokio::task::spawn_blocking(move || {
            let out = store.best_effort(|| store.webhook_step(&claimer, &finished, free, claim_ms));
            (out, finished)
        })
        .await
        .map_err(|e| (Error::internal(format!("a webhook step panicked: {e}")), Vec::new()))?;
        match out {
            Ok(step) => Ok((step.claimed, step.more)),
            Err(e) => Err((e, finished)),
        }
    }

    /// Makes one attempt and reports its outcome.
    async fn attempt(self: Arc<Self>, c: Claimed, done: mpsc::UnboundedSender<Finished>, _slot: Slot) {
        let timestamp = self.store.now().div_euclid(1000);
        let outcome = send::attempt(&c, &self.policy, &self.clients, &self.settings, timestamp).await;
        tracing::debug!(
            delivery = c.delivery_id,
            webhook = c.webhook_id,
            attempt = c.attempt,
            ?outcome,
            "webhook attempt"
        );
        let _ = done.send(Finished {
            delivery_id: c.delivery_id,
            attempt: c.attempt,
            outcome,
        });
    }

    /// On shutdown: waits briefly for attempts in flight and records what
    /// finished, so a clean exit leaves no claim to expire.
    async fn drain(
        &self,
        mut done_rx: mpsc::UnboundedReceiver<Finished>,
        mut finished: Vec<Finished>,
        in_flight: &AtomicUsize,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while in_flight.load(Ordering::SeqCst) > 0 {
            match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                Ok(Some(f)) => finished.push(f),
                _ => break,
            }
        }
        while let Ok(f) = done_rx.try_recv() {
            finished.push(f);
        }
        if !finished.is_empty()
            && let Err((e, _)) = self.step(finished, 0).await
        {
            tracing::warn!("webhook outcomes not recorded at shutdown: {e}");
        }
    }
}

/// How long a claim lasts, in milliseconds: the longest attempt — the
/// name lookup (up to the connect timeout, [`send::resolve`]) and then the
/// whole request (up to the request timeout) — plus [`CLAIM_MARGIN_MS`].
/// A claim that could lapse while its attempt still runs would let
/// another process deliver the same event again.
pub fn claim_ms(settings: &WebhookSettings) -> i64 {
    let longest = settings.connect_timeout + settings.timeout;
    i64::try_from(longest.as_millis()).unwrap_or(i64::MAX / 2) + CLAIM_MARGIN_MS
}

/// Whether a step is worth its write transaction: new events to fan out;
/// due deliveries and room for a good share of them (a quarter of
/// `max` slots, or any when idle); or outcomes that waited [`LINGER`] or
/// whose attempts are all done. Fewer, fuller transactions keep the
/// store's write lock (and its fsyncs) free for everyone else.
fn should_step(work: &Work, outcomes: bool, lingered: bool, busy: usize, free: usize, max: usize) -> bool {
    let claim_worthy = free > 0 && (busy == 0 || free >= (max / 4).max(1));
    work.fan_out || (work.due && claim_worthy) || (outcomes && (lingered || busy == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_outlives_the_name_lookup_and_the_request_together() {
        let longest = WebhookSettings {
            connect_timeout: Duration::from_secs(crate::config::MAX_WEBHOOK_TIMEOUT_SECONDS),
            timeout: Duration::from_secs(crate::config::MAX_WEBHOOK_TIMEOUT_SECONDS),
            ..WebhookSettings::default()
        };
        for s in [WebhookSettings::default(), longest] {
            let attempt = (s.connect_timeout + s.timeout).as_millis() as i64;
            assert!(
                claim_ms(&s) > attempt,
                "{s:?}: a claim must outlive a {attempt} ms attempt"
            );
        }
    }
}
