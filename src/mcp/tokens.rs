//! `rotate_token` and `revoke_token` (SPEC §2 auth_state, §3.1): protocol
//! only. The rules (who may, which states, the grace and recovery
//! deadlines) are the store's ([`crate::store::agents::credentials`]).

use serde_json::{Value, json};

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};
use crate::store::agents::credentials::{Actor, DEFAULT_GRACE_SECONDS};

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))
}

impl RelayServer {
    /// `rotate_token {target?, grace_seconds? = 300}`: the caller's own
    /// token, or `target`'s with `admin`. Returns `{agent, token,
    /// auth_state, grace_until, note}`; the token is in this result only.
    ///
    /// Errors: those of [`crate::store::Store::rotate_token`].
    pub(crate) async fn rotate_token(&self, call: &Call, a: args::RotateToken) -> Result<Value> {
        let grace = a.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
        let rotated = self
            .with_caller(call, move |s, c| {
                s.rotate_token(Actor::Agent(c), a.target.as_deref(), grace)
            })
            .await?;
        let note = match &rotated.grace_until {
            Some(until) => format!(
                "This token is shown only once. The old token keeps working until {until}; switch every client \
                 of {:?} (its X-Agent-Token) before then.",
                rotated.agent
            ),
            None => format!(
                "This token is shown only once. The old token of {:?} stopped working now.",
                rotated.agent
            ),
        };
        let mut out = to_value(rotated)?;
        out["note"] = json!(note);
        Ok(out)
    }

    /// `revoke_token {target, issue_recovery? = true}` (needs `admin`).
    /// Returns `{agent, auth_state, recovery_token, recovery_expires_at,
    /// note}`; the recovery token is in this result only.
    ///
    /// Errors: those of [`crate::store::Store::revoke_token`].
    pub(crate) async fn revoke_token(&self, call: &Call, a: args::RevokeToken) -> Result<Value> {
        let revoked = self
            .with_caller(call, move |s, c| {
                s.revoke_token(Actor::Agent(c), &a.target, a.issue_recovery)
            })
            .await?;
        let note = match &revoked.recovery_expires_at {
            Some(until) => format!(
                "The token of {:?} is revoked. Hand this one-time recovery token to its operator (it is shown \
                 only once): register_agent with name {:?} and recovery_token re-registers it with a fresh token, \
                 until {until}.",
                revoked.agent, revoked.agent
            ),
            None => format!(
                "The token of {:?} is revoked for good; only the operator brings it back (`relay token issue {}`).",
                revoked.agent, revoked.agent
            ),
        };
        let mut out = to_value(revoked)?;
        out["note"] = json!(note);
        Ok(out)
    }
}
