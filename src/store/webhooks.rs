//! Webhook subscriptions and deliveries (SPEC §3.1, §7).
//!
//! A webhook is an owner's subscription: a URL, the event kinds it wants
//! (or `*`), an optional agent filter and an optional secret (sealed under
//! the keyring, SPEC §6). Deliveries come from the outbox, never from the
//! calls that made the events, so `send_message` and friends do no extra
//! work for webhooks:
//!
//! 1. **Fan-out.** Any relay process turns outbox events past the shared
//!    cursor (`store_meta.webhook_cursor`) into one `webhook_deliveries`
//!    row per matching (webhook, event), and moves the cursor by
//!    compare-and-set, in one `BEGIN IMMEDIATE` transaction; the unique
//!    (webhook_id, event_id) key makes a second fan-out of the same
//!    events a no-op.
//! 2. **Claim.** A process claims due rows with a compare-and-set
//!    (`state` pending, or in flight with an expired claim, and
//!    `next_attempt_at <= now`), which counts the attempt and records the
//!    claimer and when its claim expires: each attempt is made by exactly
//!    one process, and a crashed claimer's row comes due again.
//! 3. **Outcome.** The claimer records the result, again as a
//!    compare-and-set on (state, claimer, attempt): delivered; or pending
//!    again at +60 s, +300 s, +900 s after the 1st, 2nd and 3rd failure
//!    ([`RETRY_DELAYS_SECONDS`]); or, after the 4th, dead — a dead letter
//!    that `list_webhooks` and `relay doctor` show — with a
//!    `webhook.delivery_failed` event for the owner.
//!
//! Times come from the store clock. Steps 1–3 for a batch share one
//! transaction ([`Store::webhook_step`]).

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use zeroize::Zeroizing;

use super::access::{authorize, check_caller};
use super::events::{Event, Kind};
use super::words::Capability;
use super::{Caller, Store, audit, events, validate};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};

super::words::words! {
    /// Where one (webhook, event) delivery stands (`webhook_deliveries.state`).
    pub enum DeliveryState("delivery state") {
        /// Waiting for its next attempt (`next_attempt_at`).
        Pending = "pending",
        /// Claimed by a process that is making an attempt now.
        InFlight = "in_flight",
        /// A 2xx answer came back. Final.
        Delivered = "delivered",
        /// Every attempt failed: a dead letter. Final.
        Dead = "dead",
    }
}

/// Attempts per delivery: the first and three retries.
pub const MAX_ATTEMPTS: i64 = 4;
/// Seconds from the 1st, 2nd and 3rd failed attempt to the next attempt
/// (SPEC §7), on the store clock.
pub const RETRY_DELAYS_SECONDS: [i64; 3] = [60, 300, 900];
/// Longest webhook URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Shortest webhook secret, in characters.
pub const MIN_SECRET_CHARS: usize = 16;
/// Longest webhook secret, in characters.
pub const MAX_SECRET_CHARS: usize = 256;
/// Most webhooks one agent may have.
pub const MAX_WEBHOOKS_PER_AGENT: i64 = 100;
/// Dead letters `list_webhooks` shows per webhook, newest first.
pub const DEAD_LETTERS_SHOWN: usize = 20;
/// Outbox events one fan-out reads.
pub const FAN_OUT_BATCH: usize = 512;
/// Outbox events [`Store::webhook_work`] looks at before it calls for a
/// fan-out anyway (the fan-out reads them all in its transaction).
pub const WORK_PEEK: usize = 64;
/// The `store_meta` key of the shared fan-out cursor: the id of the last
/// outbox event turned into deliveries.
pub const CURSOR_KEY: &str = "webhook_cursor";
/// The event pattern that subscribes to every kind.
pub const ALL_EVENTS: &str = "*";

/// What a webhook subscribed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// `["*"]`: every kind.
    All,
    /// These kinds.
    Kinds(Vec<Kind>),
}

impl Subscription {
    /// Parses `register_webhook`'s `events`: event kinds
    /// ([`Kind`]) or `*`, at least one.
    ///
    /// Errors: [`ErrorCode::Validation`] for an empty list or an unknown kind.
    pub fn parse(events: &[String]) -> Result<Self> {
        if events.is_empty() {
            return Err(Error::validation(format!(
                "events is empty; name the event kinds to send (e.g. [\"message\", \"task_finished\"]) or \
                 [\"{ALL_EVENTS}\"] for all"
            )));
        }
        if events.len() > Kind::ALL.len() + 1 {
            return Err(Error::validation(format!(
                "events lists {} entries; there are only {} kinds",
                events.len(),
                Kind::ALL.len()
            )));
        }
        if events.iter().any(|e| e == ALL_EVENTS) {
            return Ok(Self::All);
        }
        let mut kinds = Vec::new();
        for e in events {
            let kind: Kind = e.parse()?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Self::Kinds(kinds))
    }

    /// The stored and shown form: `["*"]` or the kinds.
    pub fn words(&self) -> Vec<String> {
        match self {
            Self::All => vec![ALL_EVENTS.to_owned()],
            Self::Kinds(k) => k.iter().map(|k| k.as_str().to_owned()).collect(),
        }
    }

    fn wants(&self, kind: Kind) -> bool {
        match self {
            Self::All => true,
            Self::Kinds(k) => k.contains(&kind),
        }
    }

    fn from_stored(json: &str) -> Self {
        let words: Vec<String> = serde_json::from_str(json).unwrap_or_default();
        if words.iter().any(|w| w == ALL_EVENTS) {
            return Self::All;
        }
        // A kind this relay does not know (a newer relay wrote it) is skipped.
        Self::Kinds(words.iter().filter_map(|w| w.parse().ok()).collect())
    }
}

/// Parses and checks a webhook URL's shape: `http` or `https`, a host, no
/// user name or password (credentials belong in the secret), at most
/// [`MAX_URL_BYTES`]. Resolves nothing: the SSRF guard
/// ([`crate::webhook::guard`]) judges the host.
///
/// Errors: [`ErrorCode::Validation`] saying what is wrong.
pub fn parse_url(url: &str) -> Result<url::Url> {
    if url.len() > MAX_URL_BYTES {
        return Err(Error::validation(format!(
            "url is {} bytes; the limit is {MAX_URL_BYTES}",
            url.len()
        )));
    }
    let parsed = url::Url::parse(url.trim())
        .map_err(|e| Error::validation(format!("url {url:?} is not a valid URL ({e}); write https://host/path")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::validation(format!(
            "url scheme {:?} is not supported; use https:// (or http://)",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::validation(
            "url carries a user name or password; remove them and pass a secret, which signs every delivery",
        ));
    }
    if parsed.host().is_none() {
        return Err(Error::validation(format!("url {url:?} has no host")));
    }
    Ok(parsed)
}

/// `register_webhook`'s input.
#[derive(Debug, Clone)]
pub struct NewWebhook<'a> {
    /// Where to POST ([`parse_url`]).
    pub url: &'a str,
    /// Event kinds or `*` ([`Subscription::parse`]).
    pub events: &'a [String],
    /// The HMAC key, [`MIN_SECRET_CHARS`]–[`MAX_SECRET_CHARS`] characters.
    pub secret: Option<&'a str>,
    /// Only events whose actor or target is this agent.
    pub agent_filter: Option<&'a str>,
}

/// A webhook as its owner sees it. The secret is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Its id (for `delete_webhook`; `webhook_id` in every delivery).
    pub id: i64,
    /// The agent that registered it.
    pub owner: String,
    /// Where events are POSTed.
    pub url: String,
    /// Event kinds, or `["*"]`.
    pub events: Vec<String>,
    /// Only events whose actor or target is this agent.
    pub agent_filter: Option<String>,
    /// Whether deliveries are signed (`X-Relay-Signature`).
    pub has_secret: bool,
    /// RFC 3339 registration time.
    pub created_at: String,
}

/// A webhook's delivery health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Deliveries answered 2xx (kept as long as events, 7 days by default).
    pub delivered: i64,
    /// Deliveries waiting for an attempt or in flight.
    pub pending: i64,
    /// Dead letters: deliveries that failed every attempt.
    pub dead: i64,
    /// HTTP status of the most recent attempt, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the most recent attempt failed (`None` when it succeeded).
    pub last_error: Option<String>,
    /// RFC 3339 time of the most recent attempt.
    pub last_attempt_at: Option<String>,
    /// RFC 3339 time of the most recent successful delivery.
    pub last_delivered_at: Option<String>,
}

/// A delivery that failed every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The delivery id (`X-Relay-Delivery`).
    pub delivery_id: i64,
    /// The outbox event it carried.
    pub event_id: i64,
    /// That event's kind.
    pub event_kind: String,
    /// Attempts made.
    pub attempts: i64,
    /// HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// RFC 3339 time it was given up.
    pub failed_at: String,
}

/// One entry of `list_webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookStatus {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// How its deliveries went.
    pub health: Health,
    /// The newest [`DEAD_LETTERS_SHOWN`] dead letters.
    pub dead_letters: Vec<DeadLetter>,
}

/// A delivery claimed for one attempt, with what the POST needs.
#[derive(Clone)]
pub struct Claimed {
    /// The delivery id.
    pub delivery_id: i64,
    /// The webhook id.
    pub webhook_id: i64,
    /// This attempt's number, 1 to [`MAX_ATTEMPTS`].
    pub attempt: i64,
    /// Where to POST.
    pub url: String,
    /// The HMAC key, opened from the keyring; wiped on drop.
    pub secret: Option<Zeroizing<String>>,
    /// The event (ids and names only).
    pub event: Event,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("delivery_id", &self.delivery_id)
            .field("webhook_id", &self.webhook_id)
            .field("attempt", &self.attempt)
            .field("event", &self.event.id)
            .finish_non_exhaustive()
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx status came back.
    Delivered {
        /// The status.
        status: u16,
    },
    /// Anything else: a non-2xx status (3xx redirects are not followed),
    /// a timeout, a connection error, or an address the SSRF guard refused.
    Failed {
        /// The status, when an answer came back.
        status: Option<u16>,
        /// What went wrong, in words (never a secret).
        error: String,
    },
}

/// An attempt's outcome, for [`Store::webhook_step`].
#[derive(Debug, Clone)]
pub struct Finished {
    /// The delivery.
    pub delivery_id: i64,
    /// The attempt number it was claimed with (the compare-and-set's guard).
    pub attempt: i64,
    /// How it went.
    pub outcome: Outcome,
}

/// What follows an attempt: the retry schedule as a pure function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done.
    Delivered,
    /// Pending again, due this many milliseconds from now.
    RetryIn(Millis),
    /// Given up: a dead letter.
    Dead,
}

/// The transition after attempt number `attempt` (1-based) ended with
/// `outcome`: [`RETRY_DELAYS_SECONDS`] after failures 1–3, dead after
/// failure [`MAX_ATTEMPTS`].
pub fn next_after(attempt: i64, outcome: &Outcome) -> Next {
    match outcome {
        Outcome::Delivered { .. } => Next::Delivered,
        Outcome::Failed { .. } if attempt >= MAX_ATTEMPTS => Next::Dead,
        Outcome::Failed { .. } => {
            let i = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
            Next::RetryIn(RETRY_DELAYS_SECONDS[i.min(RETRY_DELAYS_SECONDS.len() - 1)] * 1000)
        }
    }
}

/// What [`Store::webhook_step`] did.
#[derive(Debug, Default)]
pub struct Step {
    /// The deliveries this process claimed; it must attempt each and
    /// report the outcome.
    pub claimed: Vec<Claimed>,
    /// Work was left (more events past the cursor, or more due rows than
    /// were claimed): step again soon.
    pub more: bool,
}

/// What a dispatcher should do, from a read ([`Store::webhook_work`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Some webhook exists.
    pub webhooks: bool,
    /// Some event past the cursor matches a webhook.
    pub fan_out: bool,
    /// Some delivery is due.
    pub due: bool,
    /// The newest event examined: events up to here need no fan-out
    /// unless [`Work::fan_out`].
    pub scanned: i64,
}

/// A webhook as fan-out sees it.
struct Target {
    id: i64,
    subscription: Subscription,
    agent_filter: Option<String>,
    after_event_id: i64,
}

impl Target {
    /// Whether `event` goes to this webhook. A webhook never gets the
    /// `webhook.delivery_failed` events about itself (no failure loop).
    fn wants(&self, event: &Event) -> bool {
        event.id > self.after_event_id
            && self.subscription.wants(event.kind)
            && !(event.kind == Kind::WebhookDeliveryFailed && event.subject_id == Some(self.id))
            && self
                .agent_filter
                .as_deref()
                .is_none_or(|a| event.actor.as_deref() == Some(a) || event.target.as_deref() == Some(a))
    }
}

fn targets(c: &Connection) -> Result<Vec<Target>> {
    let mut stmt = c.prepare_cached("SELECT id, events, agent_filter, after_event_id FROM webhooks")?;
    let rows = stmt.query_map([], |r| {
        Ok(Target {
            id: r.get(0)?,
            subscription: Subscription::from_stored(&r.get::<_, String>(1)?),
            agent_filter: r.get(2)?,
            after_event_id: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn cursor(c: &Connection) -> Result<i64> {
    Ok(c.prepare_cached("SELECT value FROM store_meta WHERE key = ?1")?
        .query_row([CURSOR_KEY], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Up to `limit` outbox rows after `after`, oldest first: the events of
/// kinds this relay knows, the last id read, and whether the page was full.
fn events_after(c: &Connection, after: i64, limit: usize) -> Result<(Vec<Event>, Option<i64>, bool)> {
    let mut stmt = c.prepare_cached(
        "SELECT id, kind, target, actor, subject_id, channel, created_at FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut last = None;
    let mut read = 0;
    let mut out = Vec::new();
    let rows = stmt.query_map(params![after, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })?;
    for row in rows {
        let (id, kind, target, actor, subject_id, channel, created_at) = row?;
        last = Some(id);
        read += 1;
        let Ok(kind) = kind.parse::<Kind>() else { continue };
        out.push(Event {
            id,
            kind,
            target,
            actor,
            subject_id,
            channel,
            created_at: rfc3339(created_at),
        });
    }
    Ok((out, last, read == limit))
}

/// Whether the caller holds `admin` (without failing when it does not).
fn is_admin(c: &Connection, agent: &str, now: Millis) -> Result<bool> {
    match check_caller(c, agent, now, Some(Capability::Admin)) {
        Ok(_) => Ok(true),
        Err(e) if e.code == ErrorCode::CapDenied => Ok(false),
        Err(e) => Err(e),
    }
}

const WEBHOOK_COLUMNS: &str = "id, owner, url, events, agent_filter, secret IS NOT NULL, created_at";

fn webhook_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: r.get(0)?,
        owner: r.get(1)?,
        url: r.get(2)?,
        events: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
        agent_filter: r.get(4)?,
        has_secret: r.get(5)?,
        created_at: rfc3339(r.get(6)?),
    })
}

fn not_found(id: i64) -> Error {
    Error::not_found(format!(
        "no webhook with id {id}; list_webhooks shows the ones you registered"
    ))
}

impl Store {
    /// Registers a webhook for the caller, who needs the `webhooks`
    /// capability. Only events after this call are sent to it. The secret
    /// is sealed under the keyring (SPEC §6) and never shown again.
    /// Nothing is resolved or contacted here: once the caller is
    /// authorized, `check` judges the parsed URL (the SSRF guard's
    /// [`crate::webhook::Handle::check_url`] refuses a literal forbidden IP).
    ///
    /// Errors: [`ErrorCode::Validation`] (URL shape, event kinds, agent
    /// filter, secret length, more than [`MAX_WEBHOOKS_PER_AGENT`]),
    /// [`ErrorCode::CapDenied`], [`ErrorCode::AuthFailed`], and what
    /// `check` returns ([`ErrorCode::SsrfRefused`]).
    pub fn register_webhook(
        &self,
        caller: Caller<'_>,
        new: &NewWebhook<'_>,
        check: impl FnOnce(&url::Url) -> Result<()>,
    ) -> Result<Webhook> {
        let url = parse_url(new.url)?;
        let subscription = Subscription::parse(new.events)?;
        if let Some(agent) = new.agent_filter {
            validate::agent_name(agent)?;
        }
        if let Some(secret) = new.secret {
            let n = secret.chars().count();
            if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&n) {
                return Err(Error::validation(format!(
                    "secret is {n} characters; use {MIN_SECRET_CHARS}-{MAX_SECRET_CHARS} \
                     (e.g. `openssl rand -hex 32`)"
                )));
            }
        }
        let events = serde_json::to_string(&subscription.words()).map_err(|e| Error::internal(e.to_string()))?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, Some(Capability::Webhooks))?;
            check(&url)?;
            let count: i64 = tx
                .prepare_cached("SELECT count(*) FROM webhooks WHERE owner = ?1")?
                .query_row([caller.agent], |r| r.get(0))?;
            if count >= MAX_WEBHOOKS_PER_AGENT {
                return Err(Error::validation(format!(
                    "you have {count} webhooks, the most an agent may have; delete_webhook one first"
                )));
            }
            let head: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM events")?
                .query_row([], |r| r.get(0))?;
            let webhook = tx
                .prepare_cached(&format!(
                    "INSERT INTO webhooks (owner, url, events, secret, agent_filter, after_event_id, created_at)
                     VALUES (?1, ?2, ?3, relay_seal('webhooks.secret', ?4), ?5, ?6, ?7)
                     RETURNING {WEBHOOK_COLUMNS}"
                ))?
                .query_row(
                    params![
                        caller.agent,
                        url.as_str(),
                        events,
                        new.secret,
                        new.agent_filter,
                        head,
                        now
                    ],
                    webhook_from_row,
                )?;
            audit::record(
                tx,
                caller,
                "register_webhook",
                None,
                &serde_json::json!({
                    "webhook_id": webhook.id,
                    "host": url.host_str(),
                    "events": webhook.events.len(),
                    "signed": webhook.has_secret,
                }),
                now,
            )?;
            Ok(webhook)
        })
    }

    /// The caller's webhooks (an `admin`: every webhook), oldest first,
    /// each with its delivery health and newest dead letters. Secrets are
    /// never returned.
    ///
    /// Errors: [`ErrorCode::AuthFailed`].
    pub fn list_webhooks(&self, caller: Caller<'_>) -> Result<Vec<WebhookStatus>> {
        self.read_as(caller, |c, now| {
            let admin = is_admin(c, caller.agent, now)?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE ?1 OR owner = ?2 ORDER BY id"
            ))?;
            let hooks = stmt
                .query_map(params![admin, caller.agent], webhook_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            hooks
                .into_iter()
                .map(|webhook| {
                    Ok(WebhookStatus {
                        health: health(c, webhook.id)?,
                        dead_letters: dead_letters(c, webhook.id, DEAD_LETTERS_SHOWN)?,
                        webhook,
                    })
                })
                .collect()
        })
    }

    /// Deletes webhook `id`, with its deliveries (pending ones are never
    /// made). Its owner or an `admin` may.
    ///
    /// Errors: [`ErrorCode::NotFound`], [`ErrorCode::NotParty`] (another
    /// agent's webhook), [`ErrorCode::AuthFailed`].
    pub fn delete_webhook(&self, caller: Caller<'_>, id: i64) -> Result<()> {
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            let owner: String = tx
                .prepare_cached("SELECT owner FROM webhooks WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?
                .ok_or_else(|| not_found(id))?;
            if owner != caller.agent && !is_admin(tx, caller.agent, now)? {
                return Err(Error::new(
                    ErrorCode::NotParty,
                    format!("webhook {id} belongs to {owner:?}; only its owner or an admin may delete it"),
                ));
            }
            tx.prepare_cached("DELETE FROM webhooks WHERE id = ?1")?.execute([id])?;
            audit::record(
                tx,
                caller,
                "delete_webhook",
                None,
                &serde_json::json!({ "webhook_id": id }),
                now,
            )?;
            Ok(())
        })
    }

    /// What a dispatcher has to do, from reads only: whether any webhook
    /// exists, whether an event past the cursor (and past `scanned`, what
    /// this process already found needs nothing) matches one, and whether
    /// a delivery is due. A few index probes, plus reading at most
    /// [`WORK_PEEK`] new events when there are some.
    pub fn webhook_work(&self, scanned: i64) -> Result<Work> {
        self.read(|c, now| {
            let targets = targets(c)?;
            if targets.is_empty() {
                return Ok(Work::default());
            }
            let due = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM webhook_deliveries
                                    WHERE state IN ('pending', 'in_flight') AND next_attempt_at <= ?1)",
                )?
                .query_row([now], |r| r.get(0))?;
            let floor = targets.iter().map(|t| t.after_event_id).min().unwrap_or(0);
            let from = cursor(c)?.max(scanned).max(floor);
            let head: i64 = c
                .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM events")?
                .query_row([], |r| r.get(0))?;
            if head <= from {
                return Ok(Work {
                    webhooks: true,
                    fan_out: false,
                    due,
                    scanned: from,
                });
            }
            let (events, last, full) = events_after(c, from, WORK_PEEK)?;
            let fan_out = full || events.iter().any(|e| targets.iter().any(|t| t.wants(e)));
            Ok(Work {
                webhooks: true,
                fan_out,
                due,
                scanned: last.unwrap_or(from),
            })
        })
    }

    /// One dispatcher step in one `BEGIN IMMEDIATE` transaction: records
    /// `finished` attempts, fans new outbox events out into deliveries
    /// (moving the shared cursor by compare-and-set), and claims up to
    /// `claim` due deliveries for `claimer` until `claim_ms` from now,
    /// each by compare-and-set on its state, due time and attempt count
    /// (a due delivery whose last attempt's claimer vanished becomes a
    /// dead letter instead).
    ///
    /// An outcome whose claim was lost (it expired and another process
    /// claimed the delivery again, or the webhook was deleted) is dropped.
    ///
    /// Errors: [`ErrorCode::Timeout`] when the store stays locked;
    /// nothing is written then and `finished` must be reported again.
    pub fn webhook_step(&self, claimer: &str, finished: &[Finished], claim: usize, claim_ms: Millis) -> Result<Step> {
        self.write(|tx, now| {
            for f in finished {
                record(tx, claimer, f, now)?;
            }
            let fanned_all = fan_out(tx, now)?;
            let mut claimed = Vec::new();
            let mut full = false;
            if claim > 0 {
                let due = tx
                    .prepare_cached(
                        "SELECT id, attempts, event_kind FROM webhook_deliveries
                         WHERE state IN ('pending', 'in_flight') AND next_attempt_at <= ?1
                         ORDER BY next_attempt_at, id LIMIT ?2",
                    )?
                    .query_map(params![now, claim as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                full = due.len() == claim;
                for (id, attempts, kind) in due {
                    if kind.parse::<Kind>().is_err() {
                        // Fanned out by a newer relay sharing the store: it delivers it.
                        continue;
                    }
                    if attempts >= MAX_ATTEMPTS {
                        // Its last attempt's claimer stopped before reporting.
                        abandon(tx, id, now)?;
                        continue;
                    }
                    let won = tx
                        .prepare_cached(
                            "UPDATE webhook_deliveries
                             SET state = 'in_flight', attempts = attempts + 1, claimed_by = ?2,
                                 claim_expires_at = ?3, next_attempt_at = ?3
                             WHERE id = ?1 AND state IN ('pending', 'in_flight') AND next_attempt_at <= ?4
                               AND attempts = ?5",
                        )?
                        .execute(params![id, claimer, now + claim_ms, now, attempts])?;
                    if won == 1 {
                        claimed.push(claimed_row(tx, id)?);
                    }
                }
            }
            let more = !fanned_all || full;
            Ok(Step { claimed, more })
        })
    }

    /// Deletes finished deliveries: delivered ones finished before
    /// `delivered_before`, dead letters given up before `dead_before`, in
    /// transactions of at most `chunk` rows. Returns how many went.
    pub(crate) fn purge_webhook_deliveries(
        &self,
        delivered_before: Millis,
        dead_before: Millis,
        chunk: usize,
    ) -> Result<usize> {
        let mut total = 0;
        for (state, cutoff) in [
            (DeliveryState::Delivered, delivered_before),
            (DeliveryState::Dead, dead_before),
        ] {
            loop {
                let n = self.write(|tx, _| {
                    Ok(tx
                        .prepare_cached(
                            "DELETE FROM webhook_deliveries WHERE id IN (
                               SELECT id FROM webhook_deliveries WHERE state = ?1 AND finished_at < ?2 LIMIT ?3)",
                        )?
                        .execute(params![state, cutoff, chunk as i64])?)
                })?;
                total += n;
                if n < chunk {
                    break;
                }
            }
        }
        Ok(total)
    }
}

/// Records one attempt's outcome as a compare-and-set on the claim.
fn record(tx: &Connection, claimer: &str, f: &Finished, now: Millis) -> Result<()> {
    let (status, error) = match &f.outcome {
        Outcome::Delivered { status } => (Some(*status), None),
        Outcome::Failed { status, error } => (*status, Some(error.as_str())),
    };
    let guard = "WHERE id = ?1 AND state = 'in_flight' AND claimed_by = ?2 AND attempts = ?3";
    match next_after(f.attempt, &f.outcome) {
        Next::Delivered => {
            tx.prepare_cached(&format!(
                "UPDATE webhook_deliveries
                 SET state = 'delivered', last_status = ?4, last_error = NULL, last_attempt_at = ?5,
                     finished_at = ?5, claimed_by = NULL, claim_expires_at = NULL {guard}"
            ))?
            .execute(params![f.delivery_id, claimer, f.attempt, status, now])?;
        }
        Next::RetryIn(delay) => {
            tx.prepare_cached(&format!(
                "UPDATE webhook_deliveries
                 SET state = 'pending', next_attempt_at = ?6, last_status = ?4, last_error = ?7,
                     last_attempt_at = ?5, claimed_by = NULL, claim_expires_at = NULL {guard}"
            ))?
            .execute(params![
                f.delivery_id,
                claimer,
                f.attempt,
                status,
                now,
                now + delay,
                error
            ])?;
        }
        Next::Dead => {
            let dead: Option<(i64, String)> = tx
                .prepare_cached(&format!(
                    "UPDATE webhook_deliveries
                     SET state = 'dead', last_status = ?4, last_error = ?6, last_attempt_at = ?5,
                         finished_at = ?5, claimed_by = NULL, claim_expires_at = NULL {guard}
                     RETURNING webhook_id, event_kind"
                ))?
                .query_row(params![f.delivery_id, claimer, f.attempt, status, now, error], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((webhook_id, kind)) = dead {
                announce_dead(tx, webhook_id, &kind, now)?;
            }
        }
    }
    Ok(())
}

/// Makes delivery `id`, whose last attempt's claimer never reported (its
/// claim expired), a dead letter.
fn abandon(tx: &Connection, id: i64, now: Millis) -> Result<()> {
    let lost: Option<(i64, String)> = tx
        .prepare_cached(
            "UPDATE webhook_deliveries
             SET state = 'dead', finished_at = ?2, last_attempt_at = COALESCE(last_attempt_at, ?2),
                 last_error = 'the process making the last attempt stopped before it reported',
                 claimed_by = NULL, claim_expires_at = NULL
             WHERE id = ?1 AND state IN ('pending', 'in_flight')
             RETURNING webhook_id, event_kind",
        )?
        .query_row(params![id, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((webhook_id, kind)) = lost {
        announce_dead(tx, webhook_id, &kind, now)?;
    }
    Ok(())
}

/// Appends `webhook.delivery_failed` for the webhook's owner, unless the
/// dead delivery carried such an event itself: two failing webhooks that
/// subscribe to failures must not notify each other forever.
fn announce_dead(tx: &Connection, webhook_id: i64, event_kind: &str, now: Millis) -> Result<()> {
    if event_kind == Kind::WebhookDeliveryFailed.as_str() {
        return Ok(());
    }
    let owner: Option<String> = tx
        .prepare_cached("SELECT owner FROM webhooks WHERE id = ?1")?
        .query_row([webhook_id], |r| r.get(0))
        .optional()?;
    if let Some(owner) = owner {
        events::append(
            tx,
            Kind::WebhookDeliveryFailed,
            Some(&owner),
            None,
            Some(webhook_id),
            None,
            now,
        )?;
    }
    Ok(())
}

/// Turns up to [`FAN_OUT_BATCH`] events past the shared cursor into
/// deliveries and moves the cursor past them. Returns whether it reached
/// the newest event.
fn fan_out(tx: &Connection, now: Millis) -> Result<bool> {
    let targets = targets(tx)?;
    if targets.is_empty() {
        return Ok(true);
    }
    let old = cursor(tx)?;
    let floor = targets.iter().map(|t| t.after_event_id).min().unwrap_or(0);
    let (events, last, full) = events_after(tx, old.max(floor), FAN_OUT_BATCH)?;
    let Some(last) = last else {
        return Ok(true);
    };
    let mut insert = tx.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, event_kind, state, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, 'pending', ?4, ?4) ON CONFLICT (webhook_id, event_id) DO NOTHING",
    )?;
    for event in &events {
        for target in targets.iter().filter(|t| t.wants(event)) {
            insert.execute(params![target.id, event.id, event.kind, now])?;
        }
    }
    // The compare-and-set: inside this transaction nobody else can have
    // moved it, and a cursor never moves back.
    let moved = tx
        .prepare_cached("UPDATE store_meta SET value = ?2 WHERE key = ?1 AND value = ?3")?
        .execute(params![CURSOR_KEY, last.to_string(), old.to_string()])?;
    if moved == 0 {
        tx.prepare_cached("INSERT INTO store_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING")?
            .execute(params![CURSOR_KEY, last.to_string()])?;
    }
    Ok(!full)
}

/// A claimed delivery with its webhook and event.
fn claimed_row(tx: &Connection, id: i64) -> Result<Claimed> {
    type Row = (i64, i64, String, Option<String>, String, i64, Millis);
    let (webhook_id, attempt, url, secret, event_kind, event_id, created_at): Row = tx
        .prepare_cached(
            "SELECT d.webhook_id, d.attempts, w.url, relay_open('webhooks.secret', w.secret), d.event_kind,
                    d.event_id, d.created_at
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
    let event = tx
        .prepare_cached("SELECT target, actor, subject_id, channel, created_at FROM events WHERE id = ?1")?
        .query_row([event_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, Millis>(4)?))
        })
        .optional()?;
    let kind: Kind = event_kind.parse()?;
    // An event purged by retention before its delivery (a relay stopped
    // for longer than the events are kept) still goes out with its id and kind.
    let (target, actor, subject_id, channel, at) = event.unwrap_or((None, None, None, None, created_at));
    Ok(Claimed {
        delivery_id: id,
        webhook_id,
        attempt,
        url,
        secret: secret.map(Zeroizing::new),
        event: Event {
            id: event_id,
            kind,
            target,
            actor,
            subject_id,
            channel,
            created_at: rfc3339(at),
        },
    })
}

/// The delivery health of webhook `webhook_id`.
pub(crate) fn health(c: &Connection, webhook_id: i64) -> Result<Health> {
    let mut h = Health::default();
    let mut stmt =
        c.prepare_cached("SELECT state, count(*) FROM webhook_deliveries WHERE webhook_id = ?1 GROUP BY state")?;
    for row in stmt.query_map([webhook_id], |r| {
        Ok((r.get::<_, DeliveryState>(0)?, r.get::<_, i64>(1)?))
    })? {
        match row? {
            (DeliveryState::Delivered, n) => h.delivered = n,
            (DeliveryState::Dead, n) => h.dead = n,
            (DeliveryState::Pending | DeliveryState::InFlight, n) => h.pending += n,
        }
    }
    let last: Option<(Option<i64>, Option<String>, Millis)> = c
        .prepare_cached(
            "SELECT last_status, last_error, last_attempt_at FROM webhook_deliveries
             WHERE webhook_id = ?1 AND last_attempt_at IS NOT NULL ORDER BY last_attempt_at DESC, id DESC LIMIT 1",
        )?
        .query_row([webhook_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((status, error, at)) = last {
        h.last_status = status;
        h.last_error = error;
        h.last_attempt_at = Some(rfc3339(at));
    }
    h.last_delivered_at = c
        .prepare_cached(
            "SELECT MAX(finished_at) FROM webhook_deliveries WHERE webhook_id = ?1 AND state = 'delivered'",
        )?
        .query_row([webhook_id], |r| r.get::<_, Option<Millis>>(0))?
        .map(rfc3339);
    Ok(h)
}

fn dead_letters(c: &Connection, webhook_id: i64, limit: usize) -> Result<Vec<DeadLetter>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, event_id, event_kind, attempts, last_status, last_error, finished_at FROM webhook_deliveries
         WHERE webhook_id = ?1 AND state = 'dead' ORDER BY finished_at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![webhook_id, limit as i64], |r| {
        Ok(DeadLetter {
            delivery_id: r.get(0)?,
            event_id: r.get(1)?,
            event_kind: r.get(2)?,
            attempts: r.get(3)?,
            last_status: r.get(4)?,
            last_error: r.get(5)?,
            failed_at: rfc3339(r.get::<_, Option<Millis>>(6)?.unwrap_or(0)),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Dead letters of one webhook, for `relay doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadSummary {
    /// The webhook id.
    pub webhook_id: i64,
    /// Its owner.
    pub owner: String,
    /// Scheme, host and port of its URL (the path may hold a token).
    pub origin: String,
    /// Dead letters given up since the report's cutoff.
    pub dead: i64,
    /// The newest one's error.
    pub last_error: Option<String>,
}

/// What `relay doctor` reports about webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookReport {
    /// Webhooks registered.
    pub webhooks: i64,
    /// Deliveries waiting for an attempt or in flight.
    pub pending: i64,
    /// Per webhook with dead letters since the cutoff.
    pub dead: Vec<DeadSummary>,
}

/// Reads [`WebhookReport`] from the store at `path` on a read-only
/// connection (writes nothing): dead letters given up at or after
/// `since` (epoch milliseconds). A store from before schema 5 has no
/// webhooks.
///
/// Errors: [`ErrorCode::CorruptStore`] when it is not a SQLite database.
pub fn report(path: &Path, since: Millis) -> Result<WebhookReport> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    c.busy_timeout(std::time::Duration::from_millis(super::BUSY_TIMEOUT_MS))?;
    let exists: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'webhook_deliveries')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(WebhookReport::default());
    }
    let webhooks = c.query_row("SELECT count(*) FROM webhooks", [], |r| r.get(0))?;
    let pending = c.query_row(
        "SELECT count(*) FROM webhook_deliveries WHERE state IN ('pending', 'in_flight')",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = c.prepare(
        "SELECT w.id, w.owner, w.url, count(*),
                (SELECT d2.last_error FROM webhook_deliveries d2 WHERE d2.webhook_id = w.id AND d2.state = 'dead'
                 ORDER BY d2.finished_at DESC LIMIT 1)
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.state = 'dead' AND d.finished_at >= ?1
         GROUP BY w.id ORDER BY w.id",
    )?;
    let dead = stmt
        .query_map([since], |r| {
            let url: String = r.get(2)?;
            Ok(DeadSummary {
                webhook_id: r.get(0)?,
                owner: r.get(1)?,
                origin: url::Url::parse(&url)
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_else(|_| "?".into()),
                dead: r.get(3)?,
                last_error: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(WebhookReport {
        webhooks,
        pending,
        dead,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Outcome {
        Outcome::Failed {
            status: Some(500),
            error: "HTTP 500".into(),
        }
    }

    #[test]
    fn retry_schedule_is_60_300_900_then_dead() {
        let ok = Outcome::Delivered { status: 204 };
        for (attempt, outcome, want) in [
            (1, ok.clone(), Next::Delivered),
            (4, ok, Next::Delivered),
            (1, failed(), Next::RetryIn(60_000)),
            (2, failed(), Next::RetryIn(300_000)),
            (3, failed(), Next::RetryIn(900_000)),
            (4, failed(), Next::Dead),
            (9, failed(), Next::Dead),
        ] {
            assert_eq!(next_after(attempt, &outcome), want, "attempt {attempt}");
        }
    }

    #[test]
    fn subscriptions_parse_kinds_and_star() {
        let s = |v: &[&str]| Subscription::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["*"]).unwrap(), Subscription::All);
        assert_eq!(s(&["message", "*"]).unwrap(), Subscription::All);
        assert_eq!(
            s(&["message", "message", "webhook.delivery_failed"]).unwrap().words(),
            ["message", "webhook.delivery_failed"]
        );
        assert_eq!(s(&[]).unwrap_err().code, ErrorCode::Validation);
        assert!(
            s(&["mesage"]).unwrap_err().message.contains("message"),
            "names the kinds"
        );
    }

    #[test]
    fn urls_are_checked_for_shape_only() {
        for ok in [
            "https://hooks.example.com/relay",
            "http://127.0.0.1:8080/x?y=1",
            "https://[::1]/",
        ] {
            parse_url(ok).unwrap();
        }
        for (bad, needle) in [
            ("ftp://example.com/", "scheme"),
            ("https://user:pw@example.com/", "password"),
            ("not a url", "not a valid URL"),
            ("mailto:a@example.com", "scheme"),
        ] {
            let e = parse_url(bad).unwrap_err();
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
        }
        assert!(parse_url(&format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES))).is_err());
    }

    #[test]
    fn a_webhook_never_gets_its_own_failure_event() {
        let target = Target {
            id: 7,
            subscription: Subscription::All,
            agent_filter: None,
            after_event_id: 10,
        };
        let event = |id, kind, subject_id| Event {
            id,
            kind,
            target: Some("owner".into()),
            actor: None,
            subject_id,
            channel: None,
            created_at: String::new(),
        };
        assert!(target.wants(&event(11, Kind::Message, Some(1))));
        assert!(!target.wants(&event(10, Kind::Message, Some(1))), "before registration");
        assert!(!target.wants(&event(12, Kind::WebhookDeliveryFailed, Some(7))));
        assert!(target.wants(&event(12, Kind::WebhookDeliveryFailed, Some(8))));
        let filtered = Target {
            agent_filter: Some("bob".into()),
            ..target
        };
        assert!(!filtered.wants(&event(11, Kind::Message, Some(1))));
        let mut by_bob = event(11, Kind::Message, Some(1));
        by_bob.actor = Some("bob".into());
        assert!(filtered.wants(&by_bob));
    }
}
