//! File reservations (SPEC §9): leases on globs within a project root,
//! exclusive or shared, with a TTL on the injectable clock.
//!
//! - **Project.** Every reservation belongs to one project root, in the
//!   normal form of [`project::normalize`] (an absolute path, or a git
//!   remote as `host/owner/repo`): reservations of two projects never
//!   meet.
//! - **Paths.** Globs relative to the root, in the dialect of [`glob`]
//!   (`*` within a segment, `**` across, `?`, classes; a plain path is
//!   one file; `dir/` is `dir/**`). Two reservations clash when their
//!   globs overlap (some path matches both, decided in both directions),
//!   they belong to different agents, and at least one is exclusive. An
//!   agent never clashes with itself: reserving a glob it already holds
//!   updates that reservation (exclusive, reason, TTL) and keeps its id.
//! - **Partial grants.** [`Store::reserve_paths`] grants every path that
//!   clashes with nobody and refuses the others, naming for each its
//!   holders (agent, glob, exclusive, reason, expiry). A clash is a
//!   normal result, not an error: the caller keeps what it was granted
//!   and decides about the rest (wait, ask the holder, narrow the glob).
//! - **Leases.** A reservation lives until `expires_at` (`ttl_seconds`
//!   from the grant or the last renewal); expiry is lazy: an expired row
//!   never clashes, is never listed, and is deleted by the next write in
//!   its project.
//! - **Idempotency.** `(agent, request_id)` is unique: a retry with the
//!   same arguments returns the first call's result with `deduped: true`
//!   (and changes nothing); other arguments get
//!   [`ErrorCode::IdempotencyConflict`]. Keys are kept for
//!   [`MAX_TTL_SECONDS`].
//! - **Outbox.** `reservation_granted` per grant and `reservation_released`
//!   per release (actor: the holder, no target); `reservation_conflict`
//!   to each holder a refused agent waits on (target: the holder, actor:
//!   the refused agent, subject: the held reservation), at most once per
//!   [`NOTIFY_INTERVAL_MS`] for the same waiter, so a retry loop does not
//!   flood the holder. Each with its audit row, in the change's
//!   transaction.
//!
//! Finding clashes is cheap with many live reservations: rows carry the
//! directory part of their glob's literal prefix ([`glob::Pattern::dir`]),
//! indexed with the project, so only reservations whose prefix can meet
//! the new glob's are read and tested.

pub mod glob;
pub mod project;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::glob::{Pattern, prefixes_comparable};
use super::access::authorize;
use super::{Caller, Store, audit, events, validate};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};

/// Schema migration 8: the `reservations` table and the idempotency keys
/// of `reserve_paths`.
pub(crate) const MIGRATION: &str = r#"
-- schema 8: file reservations (SPEC §9)
CREATE TABLE reservations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: events name it
    project        TEXT    NOT NULL,                    -- normalised project root
    agent          TEXT    NOT NULL,                    -- the holder
    path           TEXT    NOT NULL,                    -- normalised glob
    dir            TEXT    NOT NULL,                    -- the glob's literal prefix up to its last '/'
    exclusive      INTEGER NOT NULL CHECK (exclusive IN (0, 1)),
    reason         TEXT    NOT NULL,
    ttl_seconds    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    notified_agent TEXT,                                -- the last waiter told (reservation_conflict)
    notified_at    INTEGER
);
CREATE UNIQUE INDEX reservations_holder ON reservations (project, agent, path);
CREATE INDEX reservations_dir ON reservations (project, dir);
CREATE INDEX reservations_expiry ON reservations (project, expires_at);

-- reserve_paths idempotency keys: the first call's result, replayed.
CREATE TABLE reservation_requests (
    agent      TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    args_hash  BLOB    NOT NULL,
    result     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (agent, request_id)
) WITHOUT ROWID;
"#;

/// Most paths in one call.
pub const MAX_PATHS: usize = 100;
/// Longest `ttl_seconds` (7 days).
pub const MAX_TTL_SECONDS: u32 = 7 * 86_400;
/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 256;
/// Longest `request_id`, in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// A holder hears about the same waiter on the same reservation at most
/// this often, in milliseconds.
pub const NOTIFY_INTERVAL_MS: Millis = 60_000;
/// Default number of reservations `list_reservations` returns.
pub const DEFAULT_LIST_LIMIT: u32 = 200;
/// Most reservations `list_reservations` returns.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// A live reservation as tools show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Reservation id.
    pub id: i64,
    /// The project root, normalised ([`project::normalize`]).
    pub project: String,
    /// The glob, normalised ([`glob::Pattern`]).
    pub path: String,
    /// The holder.
    pub agent: String,
    /// Exclusive (clashes with any overlapping reservation) or shared
    /// (clashes only with exclusive ones).
    pub exclusive: bool,
    /// Why it was reserved.
    pub reason: String,
    /// The lifetime a renewal without `ttl_seconds` gives, in seconds.
    pub ttl_seconds: u32,
    /// RFC 3339 time of the first grant.
    pub created_at: String,
    /// RFC 3339 end of the lease.
    pub expires_at: String,
}

/// A reservation that stands in the way of a requested path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The held reservation's id.
    pub reservation_id: i64,
    /// Who holds it.
    pub agent: String,
    /// Its glob.
    pub path: String,
    /// Whether it is exclusive.
    pub exclusive: bool,
    /// Why they hold it.
    pub reason: String,
    /// RFC 3339 end of its lease (unless renewed).
    pub expires_at: String,
}

/// A requested path that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The path as asked.
    pub path: String,
    /// Everyone whose reservation overlaps it, oldest reservation first.
    pub holders: Vec<Holder>,
}

/// What `reserve_paths` asks for.
#[derive(Debug, Clone, Default)]
pub struct ReserveRequest {
    /// The project root: an absolute path or a git remote URL.
    pub project: String,
    /// Paths or globs relative to the root; 1 to [`MAX_PATHS`].
    pub paths: Vec<String>,
    /// Exclusive (the tool's default) or shared.
    pub exclusive: bool,
    /// Lifetime in seconds, 1 to [`MAX_TTL_SECONDS`].
    pub ttl_seconds: u32,
    /// Why; 1 to [`MAX_REASON_CHARS`] characters.
    pub reason: String,
    /// Idempotency key, unique per agent; at most [`MAX_REQUEST_ID_CHARS`].
    pub request_id: Option<String>,
}

/// The result of `reserve_paths`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserved {
    /// The project root, normalised.
    pub project: String,
    /// The reservations granted (new, or the caller's own updated).
    pub granted: Vec<Reservation>,
    /// The paths refused, each with its holders.
    pub conflicts: Vec<Conflict>,
    /// Whether this replays an earlier call with the same `request_id`.
    pub deduped: bool,
}

/// The result of `renew_reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renewed {
    /// The project root, normalised.
    pub project: String,
    /// The renewed reservations, with their new expiry.
    pub reservations: Vec<Reservation>,
    /// Paths named that the caller holds no live reservation on (expired
    /// ones cannot be renewed: reserve them again).
    pub not_found: Vec<String>,
}

/// The result of `release_paths`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Released {
    /// The project root, normalised.
    pub project: String,
    /// The reservations released, as they were.
    pub released: Vec<Reservation>,
}

/// A path `relay guard check` refuses, with the exclusive reservations of
/// other agents that cover it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    /// The path, relative to the repository root.
    pub path: String,
    /// The reservations covering it.
    pub holders: Vec<Reservation>,
}

const COLUMNS: &str = "id, project, agent, path, exclusive, reason, ttl_seconds, created_at, expires_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Reservation> {
    Ok(Reservation {
        id: r.get(0)?,
        project: r.get(1)?,
        agent: r.get(2)?,
        path: r.get(3)?,
        exclusive: r.get(4)?,
        reason: r.get(5)?,
        ttl_seconds: r.get(6)?,
        created_at: rfc3339(r.get(7)?),
        expires_at: rfc3339(r.get(8)?),
    })
}

impl Reservation {
    fn holder(&self) -> Holder {
        Holder {
            reservation_id: self.id,
            agent: self.agent.clone(),
            path: self.path.clone(),
            exclusive: self.exclusive,
            reason: self.reason.clone(),
            expires_at: self.expires_at.clone(),
        }
    }
}

thread_local! {
    /// Compiled globs of stored reservations, by normalised text: the
    /// store thread tests the same globs call after call.
    static COMPILED: RefCell<HashMap<String, Rc<Pattern>>> = RefCell::new(HashMap::new());
}

/// Most globs kept compiled per thread.
const COMPILED_CAPACITY: usize = 4096;

/// The compiled form of a stored glob. One that no longer parses (written
/// by a newer relay with a wider dialect) is taken as `**`: it clashes
/// with everything rather than with nothing.
fn compiled(text: &str) -> Rc<Pattern> {
    COMPILED.with(|cache| {
        if let Some(p) = cache.borrow().get(text) {
            return p.clone();
        }
        let p = Rc::new(Pattern::parse(text).unwrap_or_else(|_| Pattern::parse("**").expect("** parses")));
        let mut cache = cache.borrow_mut();
        if cache.len() >= COMPILED_CAPACITY {
            cache.clear();
        }
        cache.insert(text.to_owned(), p.clone());
        p
    })
}

/// The requested paths, parsed, without repeats (by normal form; the
/// first spelling is kept).
fn parse_paths(paths: &[String]) -> Result<Vec<(String, Pattern)>> {
    if paths.is_empty() {
        return Err(Error::validation(
            "paths is empty: name at least one path or glob, e.g. \"src/lib.rs\" or \"src/**\"",
        ));
    }
    if paths.len() > MAX_PATHS {
        return Err(Error::validation(format!(
            "{} paths in one call; the limit is {MAX_PATHS}: use broader globs (\"src/**\") or several calls",
            paths.len()
        )));
    }
    let mut out: Vec<(String, Pattern)> = Vec::with_capacity(paths.len());
    for raw in paths {
        let pattern = Pattern::parse(raw)?;
        if !out.iter().any(|(_, p)| p == &pattern) {
            out.push((raw.clone(), pattern));
        }
    }
    Ok(out)
}

fn check_ttl(ttl: u32) -> Result<()> {
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(Error::validation(format!(
            "ttl_seconds must be 1-{MAX_TTL_SECONDS} (7 days), got {ttl}; renew_reservations extends a lease"
        )));
    }
    Ok(())
}

fn args_hash(project: &str, paths: &[(String, Pattern)], req: &ReserveRequest) -> Vec<u8> {
    let canonical = serde_json::json!([
        project,
        paths.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        req.exclusive,
        req.ttl_seconds,
        req.reason
    ]);
    Sha256::digest(canonical.to_string().as_bytes()).to_vec()
}

/// The first code point after `c` (skipping surrogates), if any.
fn next_char(c: char) -> Option<char> {
    match c as u32 {
        0xD7FF => char::from_u32(0xE000),
        n => char::from_u32(n + 1),
    }
}

/// The least string greater than every string that starts with `s` (for
/// a range scan), or `None` when there is none to write.
fn successor(s: &str) -> Option<String> {
    let last = s.chars().next_back()?;
    let next = next_char(last)?;
    let mut out = s[..s.len() - last.len_utf8()].to_owned();
    out.push(next);
    Some(out)
}

/// `prefix`'s own prefixes that end in `/`, and the empty one: the `dir`
/// values of every glob whose prefix is a prefix of `prefix`.
fn slash_prefixes(prefix: &str) -> Vec<&str> {
    std::iter::once("")
        .chain(prefix.match_indices('/').map(|(i, _)| &prefix[..=i]))
        .collect()
}

/// Live reservations in `project` of agents other than `me` that may
/// overlap `pattern` (a superset: the caller tests each), exclusive ones
/// only when `exclusive_only`.
fn candidates(
    c: &rusqlite::Connection,
    project: &str,
    me: Option<&str>,
    pattern: &Pattern,
    exclusive_only: bool,
    now: Millis,
) -> Result<Vec<Reservation>> {
    let prefix = pattern.prefix();
    // `+expires_at`: keep the planner on reservations_dir (the expiry
    // index would read every live reservation of the project).
    let filter = "+expires_at > ?2 AND agent IS NOT ?3 AND (exclusive = 1 OR NOT ?4)";
    let rows = match successor(prefix) {
        Some(upper) => {
            let dirs = serde_json::to_string(&slash_prefixes(prefix)).expect("strings serialise");
            let sql = format!(
                "SELECT {COLUMNS} FROM reservations
                 WHERE project = ?1 AND dir IN (SELECT value FROM json_each(?5)) AND {filter}
                 UNION ALL
                 SELECT {COLUMNS} FROM reservations
                 WHERE project = ?1 AND dir > ?6 AND dir < ?7 AND {filter}"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![project, now, me, exclusive_only, dirs, prefix, upper], row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        }
        None => {
            // A glob that starts with a wildcard may meet any reservation.
            let sql = format!("SELECT {COLUMNS} FROM reservations WHERE project = ?1 AND {filter}");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![project, now, me, exclusive_only], row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok(rows)
}

/// The reservations in `project` of agents other than `me` that clash
/// with `pattern` (reserved exclusively or not), oldest first.
fn clashing(
    c: &rusqlite::Connection,
    project: &str,
    me: &str,
    pattern: &Pattern,
    exclusive: bool,
    now: Millis,
) -> Result<Vec<Reservation>> {
    let mut out: Vec<Reservation> = candidates(c, project, Some(me), pattern, !exclusive, now)?
        .into_iter()
        .filter(|r| {
            let held = compiled(&r.path);
            prefixes_comparable(held.prefix(), pattern.prefix()) && held.overlaps(pattern)
        })
        .collect();
    out.sort_by_key(|r| r.id);
    Ok(out)
}

/// Deletes the expired reservations of `project`.
fn purge_expired(tx: &rusqlite::Connection, project: &str, now: Millis) -> Result<()> {
    tx.prepare_cached("DELETE FROM reservations WHERE project = ?1 AND expires_at <= ?2")?
        .execute(params![project, now])?;
    Ok(())
}

/// Tells the holder of `held` that `waiter` was refused on it, unless it
/// was told about this waiter within [`NOTIFY_INTERVAL_MS`].
fn notify_holder(tx: &rusqlite::Connection, held: &Reservation, waiter: &str, now: Millis) -> Result<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE reservations SET notified_agent = ?2, notified_at = ?3
             WHERE id = ?1 AND NOT (notified_agent IS ?2 AND notified_at > ?4)",
        )?
        .execute(params![held.id, waiter, now, now - NOTIFY_INTERVAL_MS])?;
    if changed == 1 {
        events::append(
            tx,
            events::Kind::ReservationConflict,
            Some(&held.agent),
            Some(waiter),
            Some(held.id),
            None,
            now,
        )?;
    }
    Ok(())
}

/// The caller's live reservations in `project`, by glob.
fn own(tx: &rusqlite::Connection, project: &str, agent: &str, now: Millis) -> Result<Vec<Reservation>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM reservations WHERE project = ?1 AND agent = ?2 AND +expires_at > ?3 ORDER BY path"
    ))?;
    let rows = stmt.query_map(params![project, agent, now], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn load(c: &rusqlite::Connection, id: i64) -> Result<Reservation> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLUMNS} FROM reservations WHERE id = ?1"))?
            .query_row([id], row)?,
    )
}

/// The caller's reservations among `own` that `names` selects (all when
/// `None`), and the names that selected none.
fn select(own: Vec<Reservation>, names: Option<&[(String, Pattern)]>) -> (Vec<Reservation>, Vec<String>) {
    match names {
        None => (own, Vec::new()),
        Some(names) => {
            let missing = names
                .iter()
                .filter(|(_, p)| !own.iter().any(|r| r.path == p.as_str()))
                .map(|(raw, _)| raw.clone())
                .collect();
            let chosen = own
                .into_iter()
                .filter(|r| names.iter().any(|(_, p)| r.path == p.as_str()))
                .collect();
            (chosen, missing)
        }
    }
}

fn optional_paths(paths: Option<&[String]>) -> Result<Option<Vec<(String, Pattern)>>> {
    match paths {
        None => Ok(None),
        Some([]) => Err(Error::validation(
            "paths is empty: leave it out to mean all of your reservations in the project, or name some",
        )),
        Some(paths) => parse_paths(paths).map(Some),
    }
}

impl Store {
    /// Reserves `req.paths` in `req.project` for the caller (SPEC §9
    /// `reserve_paths`). Grants each path that clashes with no other
    /// agent's live reservation (an exclusive request clashes with any
    /// overlapping one, a shared request only with exclusive ones) and
    /// refuses the rest, naming their holders; each holder is told with
    /// a `reservation_conflict` event. A glob the caller already holds is
    /// updated in place (same id, new exclusivity, reason and expiry).
    ///
    /// Errors: [`ErrorCode::Validation`] (bad project, empty, over-long,
    /// escaping or unreadable paths, more than [`MAX_PATHS`], ttl_seconds
    /// outside 1-[`MAX_TTL_SECONDS`], empty reason or request_id),
    /// [`ErrorCode::PayloadTooLarge`] (reason or request_id over its
    /// limit), [`ErrorCode::IdempotencyConflict`] (request_id reused with
    /// other arguments), [`ErrorCode::AuthFailed`].
    pub fn reserve_paths(&self, caller: Caller<'_>, req: &ReserveRequest) -> Result<Reserved> {
        let project = project::normalize(&req.project)?;
        let paths = parse_paths(&req.paths)?;
        check_ttl(req.ttl_seconds)?;
        if req.reason.trim().is_empty() {
            return Err(Error::validation(
                "reason is empty: say why you reserve these paths (others see it when they clash)",
            ));
        }
        validate::text("reason", &req.reason, MAX_REASON_CHARS)?;
        if let Some(id) = &req.request_id {
            if id.is_empty() {
                return Err(Error::validation("request_id is empty"));
            }
            validate::text("request_id", id, MAX_REQUEST_ID_CHARS)?;
        }
        let hash = args_hash(&project, &paths, req);
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            if let Some(request_id) = &req.request_id {
                let earlier: Option<(Vec<u8>, String)> = tx
                    .prepare_cached(
                        "SELECT args_hash, result FROM reservation_requests WHERE agent = ?1 AND request_id = ?2",
                    )?
                    .query_row(params![caller.agent, request_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((earlier_hash, result)) = earlier {
                    if earlier_hash != hash {
                        return Err(Error::new(
                            ErrorCode::IdempotencyConflict,
                            format!(
                                "request_id {request_id:?} was used for a reserve_paths call with other arguments; \
                                 use a new request_id for a new reservation"
                            ),
                        ));
                    }
                    let mut replay: Reserved = serde_json::from_str(&result)
                        .map_err(|e| Error::internal(format!("a stored reserve_paths result is unreadable: {e}")))?;
                    replay.deduped = true;
                    return Ok(replay);
                }
            }
            purge_expired(tx, &project, now)?;
            let expires_at = now + Millis::from(req.ttl_seconds) * 1000;
            let mut granted = Vec::new();
            let mut conflicts = Vec::new();
            for (raw, pattern) in &paths {
                let holders = clashing(tx, &project, caller.agent, pattern, req.exclusive, now)?;
                if holders.is_empty() {
                    let id: i64 = tx
                        .prepare_cached(
                            "INSERT INTO reservations (project, agent, path, dir, exclusive, reason, ttl_seconds,
                                                       created_at, updated_at, expires_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)
                             ON CONFLICT (project, agent, path) DO UPDATE SET
                                 exclusive = excluded.exclusive, reason = excluded.reason,
                                 ttl_seconds = excluded.ttl_seconds, updated_at = excluded.updated_at,
                                 expires_at = excluded.expires_at
                             RETURNING id",
                        )?
                        .query_row(
                            params![
                                project,
                                caller.agent,
                                pattern.as_str(),
                                pattern.dir(),
                                req.exclusive,
                                req.reason,
                                req.ttl_seconds,
                                now,
                                expires_at
                            ],
                            |r| r.get(0),
                        )?;
                    events::append(
                        tx,
                        events::Kind::ReservationGranted,
                        None,
                        Some(caller.agent),
                        Some(id),
                        None,
                        now,
                    )?;
                    granted.push(load(tx, id)?);
                } else {
                    for held in &holders {
                        notify_holder(tx, held, caller.agent, now)?;
                    }
                    conflicts.push(Conflict {
                        path: raw.clone(),
                        holders: holders.iter().map(Reservation::holder).collect(),
                    });
                }
            }
            let out = Reserved {
                project: project.clone(),
                granted,
                conflicts,
                deduped: false,
            };
            audit::record(
                tx,
                caller,
                "reserve_paths",
                None,
                &serde_json::json!({
                    "project": project,
                    "paths": paths.len(),
                    "exclusive": req.exclusive,
                    "granted": out.granted.iter().map(|r| r.id).collect::<Vec<_>>(),
                    "conflicts": out.conflicts.len(),
                }),
                now,
            )?;
            if let Some(request_id) = &req.request_id {
                tx.prepare_cached("DELETE FROM reservation_requests WHERE agent = ?1 AND created_at < ?2")?
                    .execute(params![caller.agent, now - Millis::from(MAX_TTL_SECONDS) * 1000])?;
                let result = serde_json::to_string(&out).expect("a result serialises");
                tx.prepare_cached(
                    "INSERT INTO reservation_requests (agent, request_id, args_hash, result, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![caller.agent, request_id, hash, result, now])?;
            }
            Ok(out)
        })
    }

    /// Extends the caller's live reservations in `project` (those whose
    /// glob is among `paths`, or all): each now ends `ttl_seconds` from
    /// now (or its own `ttl_seconds` when `None`). An expired reservation
    /// is gone and cannot be renewed: reserve it again.
    ///
    /// Errors: [`ErrorCode::NotFound`] (nothing of the caller's to renew),
    /// [`ErrorCode::Validation`] (bad project or paths, an empty paths
    /// list, ttl_seconds outside 1-[`MAX_TTL_SECONDS`]),
    /// [`ErrorCode::AuthFailed`].
    pub fn renew_reservations(
        &self,
        caller: Caller<'_>,
        project: &str,
        paths: Option<&[String]>,
        ttl_seconds: Option<u32>,
    ) -> Result<Renewed> {
        let project = project::normalize(project)?;
        let names = optional_paths(paths)?;
        if let Some(ttl) = ttl_seconds {
            check_ttl(ttl)?;
        }
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            purge_expired(tx, &project, now)?;
            let (chosen, not_found) = select(own(tx, &project, caller.agent, now)?, names.as_deref());
            if chosen.is_empty() {
                return Err(Error::not_found(format!(
                    "you hold no live reservation{} in project {project:?}; reserve_paths to reserve again",
                    if names.is_some() { " on those paths" } else { "" }
                )));
            }
            let mut renewed = Vec::with_capacity(chosen.len());
            for r in chosen {
                let ttl = ttl_seconds.unwrap_or(r.ttl_seconds);
                tx.prepare_cached(
                    "UPDATE reservations SET ttl_seconds = ?2, expires_at = ?3, updated_at = ?4 WHERE id = ?1",
                )?
                .execute(params![r.id, ttl, now + Millis::from(ttl) * 1000, now])?;
                renewed.push(load(tx, r.id)?);
            }
            audit::record(
                tx,
                caller,
                "renew_reservations",
                None,
                &serde_json::json!({
                    "project": project,
                    "renewed": renewed.iter().map(|r| r.id).collect::<Vec<_>>(),
                    "ttl_seconds": ttl_seconds,
                }),
                now,
            )?;
            Ok(Renewed {
                project: project.clone(),
                reservations: renewed,
                not_found,
            })
        })
    }

    /// Releases the caller's reservations in `project` (those whose glob
    /// is among `paths`, or all), each with a `reservation_released`
    /// event. Releasing what the caller does not hold releases nothing
    /// and is no error.
    ///
    /// Errors: [`ErrorCode::Validation`] (bad project or paths, an empty
    /// paths list), [`ErrorCode::AuthFailed`].
    pub fn release_paths(&self, caller: Caller<'_>, project: &str, paths: Option<&[String]>) -> Result<Released> {
        let project = project::normalize(project)?;
        let names = optional_paths(paths)?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            purge_expired(tx, &project, now)?;
            let (chosen, _) = select(own(tx, &project, caller.agent, now)?, names.as_deref());
            for r in &chosen {
                tx.prepare_cached("DELETE FROM reservations WHERE id = ?1")?
                    .execute([r.id])?;
                events::append(
                    tx,
                    events::Kind::ReservationReleased,
                    None,
                    Some(caller.agent),
                    Some(r.id),
                    None,
                    now,
                )?;
            }
            audit::record(
                tx,
                caller,
                "release_paths",
                None,
                &serde_json::json!({
                    "project": project,
                    "released": chosen.iter().map(|r| r.id).collect::<Vec<_>>(),
                }),
                now,
            )?;
            Ok(Released {
                project: project.clone(),
                released: chosen,
            })
        })
    }

    /// Live reservations, by project, glob and holder, at most `limit`
    /// (1-[`MAX_LIST_LIMIT`]); filtered by project root and holder. Any
    /// registered agent may list everyone's: reservations are there to
    /// be seen.
    ///
    /// Errors: [`ErrorCode::Validation`] (bad project, agent name or
    /// limit), [`ErrorCode::AuthFailed`].
    pub fn list_reservations(
        &self,
        caller: Caller<'_>,
        project: Option<&str>,
        agent: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Reservation>> {
        let project = project.map(project::normalize).transpose()?;
        if let Some(agent) = agent {
            validate::agent_name(agent)?;
        }
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(Error::validation(format!(
                "limit must be 1-{MAX_LIST_LIMIT}, got {limit}"
            )));
        }
        self.read_as(caller, |c, now| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM reservations
                 WHERE expires_at > ?1 AND (?2 IS NULL OR project = ?2) AND (?3 IS NULL OR agent = ?3)
                 ORDER BY project, path, agent, id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![now, project, agent, limit], row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The `paths` (relative to a repository root) covered by a live
    /// exclusive reservation of an agent other than `agent` (of anyone
    /// when `None`) in any of `projects` (normalised project roots: the
    /// repository's path and its remotes): what `relay guard check`
    /// refuses to commit. A read; needs no caller.
    pub fn reservations_blocking(
        &self,
        projects: &[String],
        agent: Option<&str>,
        paths: &[String],
    ) -> Result<Vec<Blocked>> {
        let held: Vec<Reservation> = self.read(|c, now| {
            let projects = serde_json::to_string(projects).expect("strings serialise");
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM reservations
                 WHERE project IN (SELECT value FROM json_each(?1)) AND exclusive = 1
                   AND expires_at > ?2 AND agent IS NOT ?3
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![projects, now, agent], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let compiled: Vec<(Rc<Pattern>, &Reservation)> = held.iter().map(|r| (compiled(&r.path), r)).collect();
        Ok(paths
            .iter()
            .filter_map(|path| {
                let holders: Vec<Reservation> = compiled
                    .iter()
                    .filter(|(p, _)| p.matches(path))
                    .map(|(_, r)| (*r).clone())
                    .collect();
                (!holders.is_empty()).then(|| Blocked {
                    path: path.clone(),
                    holders,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
