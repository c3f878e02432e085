//! Who may call: the check every store call makes on its caller (a
//! registered agent, not revoked, holding the capability the call needs)
//! and the presence refresh that comes with it (SPEC §2). Agents, tasks,
//! messages and channels all depend on this module; it depends on none
//! of them.

use rusqlite::{OptionalExtension, params};

use super::words::{AuthState, Capability};
use super::{Caller, Store};
use crate::clock::Millis;
use crate::error::{Error, ErrorCode, Result};

/// `last_seen` is written at most this often per agent, in milliseconds:
/// presence has minute resolution, and skipping the write keeps a page out
/// of most commits.
pub const LAST_SEEN_RESOLUTION_MS: Millis = 5_000;

/// Checks that `caller` is a registered, non-revoked agent holding `cap`
/// (if any), without writing. Returns whether its `last_seen` is due for
/// a refresh (older than [`LAST_SEEN_RESOLUTION_MS`]).
///
/// Errors: [`ErrorCode::AuthFailed`], [`ErrorCode::CapDenied`].
pub(crate) fn check_caller(
    c: &rusqlite::Connection,
    caller: &str,
    now: Millis,
    cap: Option<Capability>,
) -> Result<bool> {
    let row: Option<(String, AuthState, Millis)> = c
        .prepare_cached("SELECT capabilities, auth_state, last_seen FROM agents WHERE name = ?1")?
        .query_row([caller], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((caps, auth_state, last_seen)) = row else {
        return Err(Error::new(
            ErrorCode::AuthFailed,
            format!("agent {caller:?} is not registered; call register_agent first"),
        ));
    };
    if !auth_state.may_act() {
        return Err(Error::new(
            ErrorCode::AuthFailed,
            format!(
                "agent {caller:?} has its token revoked ({auth_state}); ask the operator to run `relay recover {caller}`"
            ),
        ));
    }
    if let Some(cap) = cap {
        let caps: Vec<String> = serde_json::from_str(&caps).unwrap_or_default();
        if !cap.held_in(&caps) {
            return Err(Error::new(
                ErrorCode::CapDenied,
                format!(
                    "agent {caller:?} lacks the {cap:?} capability; the operator grants it with \
                     `relay serve --capabilities {cap},...`",
                    cap = cap.as_str()
                ),
            ));
        }
    }
    Ok(now - last_seen >= LAST_SEEN_RESOLUTION_MS)
}

/// [`check_caller`], then records that the caller was seen now (to
/// [`LAST_SEEN_RESOLUTION_MS`]), inside the caller's write transaction.
///
/// Errors: [`ErrorCode::AuthFailed`], [`ErrorCode::CapDenied`].
pub(crate) fn authorize(tx: &rusqlite::Connection, caller: &str, now: Millis, cap: Option<Capability>) -> Result<()> {
    if check_caller(tx, caller, now, cap)? {
        touch(tx, caller, now)?;
    }
    Ok(())
}

fn touch(tx: &rusqlite::Connection, caller: &str, now: Millis) -> Result<()> {
    tx.prepare_cached("UPDATE agents SET last_seen = ?1 WHERE name = ?2")?
        .execute(params![now, caller])?;
    Ok(())
}

impl Store {
    /// Runs the read `f` for `caller` (registered, not revoked) and writes
    /// nothing, not even presence: for access checks that must not wait
    /// for any lock (a subscription filter).
    ///
    /// Errors: [`ErrorCode::AuthFailed`], and whatever `f` returns.
    pub(crate) fn check_as<T>(
        &self,
        caller: Caller<'_>,
        f: impl FnOnce(&rusqlite::Connection, Millis) -> Result<T>,
    ) -> Result<T> {
        self.read(|c, now| {
            check_caller(c, caller.agent, now, None)?;
            f(c, now)
        })
    }

    /// Runs the read `f` for `caller` (registered, not revoked) without a
    /// write transaction, so reads keep working while the disk is full or
    /// another process holds the write lock. The caller's presence is then
    /// refreshed best-effort: only if the write lock is free at once, and
    /// a failure is ignored.
    ///
    /// Errors: [`ErrorCode::AuthFailed`], and whatever `f` returns.
    pub(crate) fn read_as<T>(
        &self,
        caller: Caller<'_>,
        f: impl FnOnce(&rusqlite::Connection, Millis) -> Result<T>,
    ) -> Result<T> {
        let (out, due) = self.read(|c, now| {
            let due = check_caller(c, caller.agent, now, None)?;
            Ok((f(c, now)?, due))
        })?;
        // Inside a group commit a touch would hold this read's answer
        // until the batch commits (and fail it with the batch on a full
        // disk): the presence tick and the next write refresh it instead.
        if due && !self.in_batch() {
            let touched = super::with_deadline(std::time::Instant::now(), || {
                self.write(|tx, now| touch(tx, caller.agent, now))
            });
            if let Err(e) = touched {
                tracing::debug!(code = %e.code, "presence not refreshed");
            }
        }
        Ok(out)
    }
}
