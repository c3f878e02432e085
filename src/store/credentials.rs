//! The token lifecycle (SPEC §2 auth_state): rotation with a grace
//! window, revocation with an optional one-time recovery token, recovery,
//! and the operator's `relay token issue`.
//!
//! ```text
//!   active ──rotate(grace>0)──▶ rotation_grace ──grace_until passes──▶ active
//!     ▲  ◀──rotate(grace=0)──────────┘ (rotate again: the new previous replaces the old)
//!     │
//!     ├──revoke(recovery)──▶ recovery_pending ──register_agent(recovery token)──▶ active
//!     │                          │ recovery_expires_at passes
//!     └──revoke(no recovery)──▶ revoked ◀┘      (terminal until the operator acts)
//!   operator `relay token issue` / `relay recover`: any state ──▶ active
//! ```
//!
//! The rules are one pure function, [`transition`] (state, action) →
//! new credential columns, with a table-driven test per row; every store
//! call that changes a credential loads the row, asks [`transition`] and
//! writes the answer with one compare-and-set ([`apply`]) in the same
//! transaction as its `token_rotated` / `token_revoked` event and its audit
//! row. Deadlines are read from the store's clock; a passed deadline
//! counts at once, wherever the row is read ([`effective_state`]: the
//! hub's token lookup, these calls, `relay agents`), and the runtime's
//! sweep ([`Store::expire_credentials`]) writes it back so the stored
//! state catches up.
//!
//! Tokens are returned once and stored as SHA-256 digests only
//! ([`crate::token`]); neither tokens nor digests reach a log, an event or
//! an audit row.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};
use crate::store::access::authorize;
use crate::store::words::{AuthState, Capability, Transport};
use crate::store::{Agent, Caller, Registration, Store, audit, events, tasks, validate};
use crate::token;

/// The longest grace a rotation may give the old token, in seconds
/// (SPEC §3.1 `rotate_token`: 0–3600).
pub const MAX_GRACE_SECONDS: u32 = 3600;

/// The grace `rotate_token` gives the old token when none is asked for,
/// in seconds.
pub const DEFAULT_GRACE_SECONDS: u32 = 300;

/// How long a recovery token issued by `revoke_token` stays valid, in
/// seconds: 7 days, so that a revocation on a Friday can still be
/// recovered on the Monday. After it the agent is `revoked` and only the
/// operator (`relay token issue`, `relay recover`) brings it back.
pub const RECOVERY_WINDOW_SECONDS: i64 = 7 * 24 * 60 * 60;

/// Who changes a credential: an agent through a tool call (audited as
/// itself), the operator through the CLI (audited with the OS user,
/// transport `cli`) or through the hub's dashboard (audited with no
/// agent, transport `http`).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// An agent's tool call (`rotate_token`, `revoke_token`).
    Agent(Caller<'a>),
    /// `relay token …` run by the OS user `os_user`.
    Operator {
        /// Who ran the command (see [`crate::commands::recover::os_user`]).
        os_user: &'a str,
    },
    /// The hub's dashboard with the hub secret: audited with no agent,
    /// transport `http`, tool `dashboard.<tool>` and the client address.
    Dashboard {
        /// The client's address, as the access layer saw it.
        client_ip: &'a str,
    },
}

/// The credential columns of one agent, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// SHA-256 of the current token; `None` after a revocation or
    /// `relay recover`.
    pub token_hash: Option<Vec<u8>>,
    /// SHA-256 of the previous token, valid until `grace_until`.
    pub previous_token_hash: Option<Vec<u8>>,
    /// End of the rotation grace, epoch ms (exclusive).
    pub grace_until: Option<Millis>,
    /// SHA-256 of the one-time recovery token.
    pub recovery_token_hash: Option<Vec<u8>>,
    /// End of the recovery window, epoch ms (exclusive).
    pub recovery_expires_at: Option<Millis>,
    /// The stored state (see [`effective_state`] for the state at a time).
    pub auth_state: AuthState,
}

impl std::fmt::Debug for Credentials {
    /// Digests are not printed: a debug log must not help a guesser.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &self.token_hash.is_some())
            .field("previous_token", &self.previous_token_hash.is_some())
            .field("grace_until", &self.grace_until)
            .field("recovery_token", &self.recovery_token_hash.is_some())
            .field("recovery_expires_at", &self.recovery_expires_at)
            .field("auth_state", &self.auth_state)
            .finish()
    }
}

impl Credentials {
    /// The state at `now`: [`effective_state`] of these columns.
    pub fn state_at(&self, now: Millis) -> AuthState {
        effective_state(self.auth_state, self.grace_until, self.recovery_expires_at, now)
    }

    /// Whether `digest` (a presented token's SHA-256) is the current
    /// token, or the previous one inside its grace at `now`; compared in
    /// constant time, and never for an agent that may not act.
    pub fn accepts(&self, digest: &[u8], now: Millis) -> bool {
        let state = self.state_at(now);
        if !state.may_act() {
            return false;
        }
        let current = self.token_hash.as_deref().is_some_and(|h| ct_eq(h, digest));
        let previous =
            state == AuthState::RotationGrace && self.previous_token_hash.as_deref().is_some_and(|h| ct_eq(h, digest));
        current | previous
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The state of an agent stored as `stored` at time `now` (epoch ms): a
/// `rotation_grace` whose `grace_until` has come is `active` (the previous
/// token stops working exactly at `grace_until`); a `recovery_pending`
/// whose `recovery_expires_at` has come is `revoked`.
pub fn effective_state(
    stored: AuthState,
    grace_until: Option<Millis>,
    recovery_expires_at: Option<Millis>,
    now: Millis,
) -> AuthState {
    match stored {
        AuthState::RotationGrace if grace_until.is_none_or(|g| now >= g) => AuthState::Active,
        AuthState::RecoveryPending if recovery_expires_at.is_none_or(|e| now >= e) => AuthState::Revoked,
        s => s,
    }
}

/// What is done to a credential, with the digests of any new secret
/// (generated by the caller, so [`transition`] stays pure).
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// A new token; the current one stays valid for `grace_ms` (0: not at all).
    Rotate {
        /// SHA-256 of the new token.
        new_hash: &'a [u8],
        /// Grace for the old token, in milliseconds.
        grace_ms: Millis,
    },
    /// Token and previous token cleared; with a recovery digest the
    /// agent waits for recovery, without one it is revoked.
    Revoke {
        /// SHA-256 of the one-time recovery token, if one is issued.
        recovery_hash: Option<&'a [u8]>,
    },
    /// `register_agent` with a valid recovery token: a fresh token.
    Recover {
        /// SHA-256 of the new token.
        new_hash: &'a [u8],
    },
    /// The operator's `relay token issue`: a fresh token whatever the state.
    Issue {
        /// SHA-256 of the new token.
        new_hash: &'a [u8],
    },
    /// The sweep: passed deadlines are written back.
    Expire,
}

/// The credential columns after `action` on `from` at time `now` (epoch
/// ms): the transition table of the module doc.
///
/// Errors: [`ErrorCode::InvalidState`] for a rotation or revocation of an
/// agent that is `recovery_pending` or `revoked` (at `now`);
/// [`ErrorCode::AuthFailed`] for a recovery of an agent that is not
/// `recovery_pending` (the token was used, or its window passed).
pub fn transition(from: &Credentials, action: Action<'_>, now: Millis) -> Result<Credentials> {
    let state = from.state_at(now);
    let cleared = Credentials {
        token_hash: None,
        previous_token_hash: None,
        grace_until: None,
        recovery_token_hash: None,
        recovery_expires_at: None,
        auth_state: AuthState::Active,
    };
    let fresh = |hash: &[u8]| Credentials {
        token_hash: Some(hash.to_vec()),
        ..cleared.clone()
    };
    Ok(match (state, action) {
        (AuthState::Active | AuthState::RotationGrace, Action::Rotate { new_hash, grace_ms }) => {
            match (&from.token_hash, grace_ms > 0) {
                // The token in use now stays valid beside the new one; a
                // previous token of an earlier rotation is dropped.
                (Some(current), true) => Credentials {
                    previous_token_hash: Some(current.clone()),
                    grace_until: Some(now.saturating_add(grace_ms)),
                    auth_state: AuthState::RotationGrace,
                    ..fresh(new_hash)
                },
                _ => fresh(new_hash),
            }
        }
        (AuthState::Active | AuthState::RotationGrace, Action::Revoke { recovery_hash }) => match recovery_hash {
            Some(hash) => Credentials {
                recovery_token_hash: Some(hash.to_vec()),
                recovery_expires_at: Some(now.saturating_add(RECOVERY_WINDOW_SECONDS * 1000)),
                auth_state: AuthState::RecoveryPending,
                ..cleared
            },
            None => Credentials {
                auth_state: AuthState::Revoked,
                ..cleared
            },
        },
        (AuthState::RecoveryPending | AuthState::Revoked, Action::Rotate { .. } | Action::Revoke { .. }) => {
            return Err(Error::new(
                ErrorCode::InvalidState,
                format!(
                    "the token is revoked already ({state}); it has no token to rotate or revoke. A recovery \
                     token re-registers it (register_agent with recovery_token); the operator can run `relay \
                     token issue NAME`"
                ),
            ));
        }
        (AuthState::RecoveryPending, Action::Recover { new_hash }) => fresh(new_hash),
        (_, Action::Recover { .. }) => {
            return Err(Error::new(
                ErrorCode::AuthFailed,
                "the recovery token is not valid (used already, expired, or never issued); ask an admin or the \
                 operator for a new one",
            ));
        }
        (_, Action::Issue { new_hash }) => fresh(new_hash),
        (AuthState::Active, Action::Expire) if from.auth_state == AuthState::RotationGrace => Credentials {
            previous_token_hash: None,
            grace_until: None,
            auth_state: AuthState::Active,
            ..from.clone()
        },
        (AuthState::Revoked, Action::Expire) if from.auth_state == AuthState::RecoveryPending => Credentials {
            recovery_token_hash: None,
            recovery_expires_at: None,
            auth_state: AuthState::Revoked,
            ..from.clone()
        },
        (_, Action::Expire) => from.clone(),
    })
}

/// The credential columns of agent `name`, if registered.
pub(crate) fn load(c: &rusqlite::Connection, name: &str) -> Result<Option<Credentials>> {
    Ok(c.prepare_cached(
        "SELECT token_hash, previous_token_hash, grace_until, recovery_token_hash, recovery_expires_at,
                    auth_state
             FROM agents WHERE name = ?1",
    )?
    .query_row([name], |r| {
        Ok(Credentials {
            token_hash: r.get(0)?,
            previous_token_hash: r.get(1)?,
            grace_until: r.get(2)?,
            recovery_token_hash: r.get(3)?,
            recovery_expires_at: r.get(4)?,
            auth_state: r.get(5)?,
        })
    })
    .optional()?)
}

/// Writes `to` over agent `name`'s credentials if they are still `from`
/// (compare-and-set on the state and the current token's digest).
///
/// Errors: [`ErrorCode::Conflict`] when another call changed them first.
pub(crate) fn apply(tx: &rusqlite::Connection, name: &str, from: &Credentials, to: &Credentials) -> Result<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE agents SET token_hash = ?3, previous_token_hash = ?4, grace_until = ?5,
                    recovery_token_hash = ?6, recovery_expires_at = ?7, auth_state = ?8
             WHERE name = ?1 AND auth_state = ?2 AND token_hash IS ?9",
        )?
        .execute(params![
            name,
            from.auth_state,
            to.token_hash,
            to.previous_token_hash,
            to.grace_until,
            to.recovery_token_hash,
            to.recovery_expires_at,
            to.auth_state,
            from.token_hash,
        ])?;
    if changed == 0 {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!("the credentials of agent {name:?} changed meanwhile; nothing changed, retry"),
        ));
    }
    Ok(())
}

/// A rotation's outcome (`rotate_token`'s result, SPEC §3.1).
#[derive(Clone, Serialize)]
pub struct Rotated {
    /// The agent whose token was rotated.
    pub agent: String,
    /// The new token (`rly_…`), shown once.
    pub token: String,
    /// `rotation_grace`, or `active` when the old token stopped at once.
    pub auth_state: AuthState,
    /// RFC 3339 time the old token stops working; `None` with no grace.
    pub grace_until: Option<String>,
}

/// A revocation's outcome (`revoke_token`'s result, SPEC §3.1).
#[derive(Clone, Serialize)]
pub struct Revoked {
    /// The agent whose token was revoked.
    pub agent: String,
    /// `recovery_pending`, or `revoked` without a recovery token.
    pub auth_state: AuthState,
    /// The one-time recovery token (`rly_…`), shown once; `None` without one.
    pub recovery_token: Option<String>,
    /// RFC 3339 end of the recovery window ([`RECOVERY_WINDOW_SECONDS`]).
    pub recovery_expires_at: Option<String>,
}

/// `relay token issue`'s outcome.
#[derive(Clone, Serialize)]
pub struct Issued {
    /// The agent as it is now.
    pub agent: Agent,
    /// The new token (`rly_…`), shown once.
    pub token: String,
    /// Whether the name was new.
    pub created: bool,
}

macro_rules! redacted_debug {
    ($ty:ty, $secret:ident, $($field:ident),+) => {
        impl std::fmt::Debug for $ty {
            /// The secret is not printed.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))+
                    .field(stringify!($secret), &"<redacted>")
                    .finish()
            }
        }
    };
}
redacted_debug!(Rotated, token, agent, auth_state, grace_until);
redacted_debug!(Revoked, recovery_token, agent, auth_state, recovery_expires_at);
redacted_debug!(Issued, token, agent, created);

/// One agent as `relay agents` lists it: the agent and its credential
/// deadlines (RFC 3339; `None` when not in that state).
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The agent (its `auth_state` is the state now, deadlines applied).
    #[serde(flatten)]
    pub agent: Agent,
    /// Whether the agent holds a token (false after a revocation or
    /// `relay recover`).
    pub has_token: bool,
    /// When the previous token stops working, during `rotation_grace`.
    pub grace_until: Option<String>,
    /// When the recovery token expires, during `recovery_pending`.
    pub recovery_expires_at: Option<String>,
}

fn not_found(name: &str) -> Error {
    Error::not_found(format!(
        "no agent named {name:?}; `relay agents` (or discover_agents with include_offline) lists them"
    ))
}

/// The event actor for `by` (`None`: the operator, who is no agent).
fn event_actor<'a>(by: Actor<'a>) -> Option<&'a str> {
    match by {
        Actor::Agent(c) => Some(c.agent),
        Actor::Operator { .. } | Actor::Dashboard { .. } => None,
    }
}

/// Records `by`'s `verb` (`rotate`, `revoke`) of `target`'s token in
/// the change's transaction: the outbox event `kind` for `target` (actor
/// [`event_actor`]), then the audit row, with `extra` (an object) merged
/// into its params: an agent's `{verb}_token` as itself; the CLI
/// operator's `token_{verb}` with the OS user, transport `cli`; the
/// dashboard's `dashboard.{verb}_token` with no agent, transport `http`,
/// the client address.
fn record_change(
    tx: &rusqlite::Connection,
    by: Actor<'_>,
    target: &str,
    kind: events::Kind,
    verb: &str,
    extra: serde_json::Value,
    now: Millis,
) -> Result<()> {
    events::append(tx, kind, Some(target), event_actor(by), None, None, now)?;
    let mut params = extra;
    let (caller, tool) = match by {
        Actor::Agent(c) => {
            params["target"] = target.into();
            params["os_user"] = serde_json::Value::Null;
            (c, format!("{verb}_token"))
        }
        Actor::Operator { os_user } => {
            params["target"] = target.into();
            params["os_user"] = os_user.into();
            let caller = Caller {
                agent: target,
                transport: Transport::Cli,
            };
            (caller, format!("token_{verb}"))
        }
        Actor::Dashboard { client_ip } => {
            params["agent"] = target.into();
            params["client_ip"] = client_ip.into();
            return audit::record_operator(tx, &format!("dashboard.{verb}_token"), None, &params, now);
        }
    };
    audit::record(tx, caller, &tool, None, &params, now)
}

impl Store {
    /// Replaces the token of `target` (the caller itself when `None`) with
    /// a new one, returned once (SPEC §2, §3.1 `rotate_token`). With
    /// `grace_seconds` > 0 (at most [`MAX_GRACE_SECONDS`]) the token in use
    /// until now keeps working until now + grace (store clock) and the
    /// state is `rotation_grace`; rotating again during a grace replaces
    /// that previous token. With 0 the old token stops at once. Appends
    /// `token_rotated` (target: the agent; actor: the calling agent, none
    /// for the operator) and an audit row, in one transaction.
    ///
    /// An agent may rotate its own token; another agent's needs `admin`.
    /// The operator ([`Actor::Operator`]) must name the target.
    ///
    /// Errors: [`ErrorCode::Validation`] (grace over the limit, a bad
    /// name, the operator without a target), [`ErrorCode::AuthFailed`]
    /// (the caller is not registered or is revoked), [`ErrorCode::CapDenied`]
    /// (another agent without `admin`), [`ErrorCode::NotFound`],
    /// [`ErrorCode::InvalidState`] (the target is `recovery_pending` or
    /// `revoked`), [`ErrorCode::Conflict`].
    pub fn rotate_token(&self, by: Actor<'_>, target: Option<&str>, grace_seconds: u32) -> Result<Rotated> {
        if grace_seconds > MAX_GRACE_SECONDS {
            return Err(Error::validation(format!(
                "grace_seconds must be 0-{MAX_GRACE_SECONDS}, got {grace_seconds}"
            )));
        }
        let target = match (target, by) {
            (Some(t), _) => t,
            (None, Actor::Agent(c)) => c.agent,
            (None, Actor::Operator { .. } | Actor::Dashboard { .. }) => {
                return Err(Error::validation("name the agent whose token to rotate"));
            }
        };
        validate::agent_name(target)?;
        self.write(|tx, now| {
            if let Actor::Agent(c) = by {
                let cap = (c.agent != target).then_some(Capability::Admin);
                authorize(tx, c.agent, now, cap)?;
            }
            let from = load(tx, target)?.ok_or_else(|| not_found(target))?;
            let token = token::generate();
            let digest = token::hash(&token);
            let grace_ms = Millis::from(grace_seconds) * 1000;
            let to = transition(
                &from,
                Action::Rotate {
                    new_hash: &digest,
                    grace_ms,
                },
                now,
            )?;
            apply(tx, target, &from, &to)?;
            record_change(
                tx,
                by,
                target,
                events::Kind::TokenRotated,
                "rotate",
                serde_json::json!({"grace_seconds": grace_seconds}),
                now,
            )?;
            Ok(Rotated {
                agent: target.to_owned(),
                token,
                auth_state: to.auth_state,
                grace_until: to.grace_until.map(rfc3339),
            })
        })
    }

    /// Revokes the token of `target` at once (SPEC §2, §3.1
    /// `revoke_token`): its token and any previous token stop working, so
    /// its next call on any transport gets `AUTH_FAILED` (the hub also
    /// closes its HTTP sessions on the `token_revoked` event this
    /// appends). With `issue_recovery` a one-time recovery token is
    /// returned, valid for [`RECOVERY_WINDOW_SECONDS`] (store clock), and
    /// the state is `recovery_pending`: `register_agent` with it
    /// re-registers the name with a fresh token. Without it the state is
    /// `revoked` until the operator acts. Messages and tasks stay.
    ///
    /// Needs `admin` (or the operator). An agent cannot revoke its own
    /// token: the recovery token would go to the same hands; it rotates
    /// with `grace_seconds: 0` instead, which ends the old token at once.
    ///
    /// Errors: [`ErrorCode::Validation`] (a bad name, or the caller
    /// itself), [`ErrorCode::AuthFailed`], [`ErrorCode::CapDenied`]
    /// (no `admin`), [`ErrorCode::NotFound`], [`ErrorCode::InvalidState`]
    /// (already `recovery_pending` or `revoked`), [`ErrorCode::Conflict`].
    pub fn revoke_token(&self, by: Actor<'_>, target: &str, issue_recovery: bool) -> Result<Revoked> {
        validate::agent_name(target)?;
        self.write(|tx, now| {
            if let Actor::Agent(c) = by {
                authorize(tx, c.agent, now, Some(Capability::Admin))?;
                if c.agent == target {
                    return Err(Error::validation(
                        "you cannot revoke your own token; rotate it with rotate_token {\"grace_seconds\": 0} to \
                         end the old one at once, or ask another admin or the operator",
                    ));
                }
            }
            let from = load(tx, target)?.ok_or_else(|| not_found(target))?;
            let recovery = issue_recovery.then(token::generate);
            let digest = recovery.as_deref().map(token::hash);
            let to = transition(
                &from,
                Action::Revoke {
                    recovery_hash: digest.as_deref(),
                },
                now,
            )?;
            apply(tx, target, &from, &to)?;
            record_change(
                tx,
                by,
                target,
                events::Kind::TokenRevoked,
                "revoke",
                serde_json::json!({"issue_recovery": issue_recovery}),
                now,
            )?;
            Ok(Revoked {
                agent: target.to_owned(),
                auth_state: to.auth_state,
                recovery_token: recovery,
                recovery_expires_at: to.recovery_expires_at.map(rfc3339),
            })
        })
    }

    /// The operator's `relay token issue NAME`: registers `reg.name` with
    /// a fresh token if it is new, or gives the existing agent a fresh
    /// token at once, whatever its state (any previous, old or recovery
    /// token stops working; a revoked agent is active again). A role or
    /// capabilities given replace the stored ones (an operator act, like
    /// `relay serve --capabilities`). Appends `agent_registered` for a new
    /// name, `token_rotated` for an existing one, and an audit row
    /// (`token_issue`, transport `cli`, the OS user).
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::NameTaken`] (a name
    /// differing only in case from an existing one), [`ErrorCode::Conflict`].
    pub fn issue_token(&self, reg: &Registration, os_user: &str) -> Result<Issued> {
        super::validate_registration(reg)?;
        let caller = Caller {
            agent: &reg.name,
            transport: Transport::Cli,
        };
        self.write(|tx, now| {
            let Some(from) = load(tx, &reg.name)? else {
                let token = super::create(tx, reg, caller, "token_issue", Some(os_user), now)?;
                let agent = super::load_written(tx, &reg.name, now)?;
                tasks::assign_queued(tx, &reg.name, &agent.capabilities, now)?;
                return Ok(Issued {
                    agent,
                    token,
                    created: true,
                });
            };
            let token = token::generate();
            let digest = token::hash(&token);
            let to = transition(&from, Action::Issue { new_hash: &digest }, now)?;
            apply(tx, &reg.name, &from, &to)?;
            let capabilities = (!reg.capabilities.is_empty())
                .then(|| serde_json::to_string(&reg.capabilities).expect("strings serialise"));
            tx.prepare_cached(
                "UPDATE agents SET role = COALESCE(?2, role), capabilities = COALESCE(?3, capabilities)
                 WHERE name = ?1",
            )?
            .execute(params![reg.name, reg.role, capabilities])?;
            events::append(tx, events::Kind::TokenRotated, Some(&reg.name), None, None, None, now)?;
            audit::record(
                tx,
                caller,
                "token_issue",
                None,
                &serde_json::json!({
                    "created": false,
                    "state_before": from.state_at(now),
                    "role": reg.role,
                    "capabilities": capabilities.is_some().then_some(&reg.capabilities),
                    "os_user": os_user,
                }),
                now,
            )?;
            let agent = super::load_written(tx, &reg.name, now)?;
            tasks::assign_queued(tx, &reg.name, &agent.capabilities, now)?;
            Ok(Issued {
                agent,
                token,
                created: false,
            })
        })
    }

    /// Writes passed credential deadlines back (the runtime's sweep tick):
    /// grace windows that ended become `active` (previous token dropped),
    /// recovery windows that ended become `revoked` (recovery token
    /// dropped). Reads first (two probes of the deadline indexes) and
    /// writes only when something is due. Correctness does not wait for
    /// it: every lookup applies a passed deadline itself. Returns how many
    /// agents changed.
    pub fn expire_credentials(&self) -> Result<usize> {
        // Each arm is a range probe of a partial deadline index.
        const DUE: &str = "SELECT name FROM agents WHERE grace_until <= ?1 AND auth_state = 'rotation_grace'
             UNION SELECT name FROM agents WHERE recovery_expires_at <= ?1 AND auth_state = 'recovery_pending'";
        let due = |c: &rusqlite::Connection, now: Millis| -> Result<Vec<String>> {
            Ok(c.prepare_cached(DUE)?
                .query_map([now], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        };
        if self.read(due)?.is_empty() {
            return Ok(0);
        }
        self.write(|tx, now| {
            let names = due(tx, now)?;
            for name in &names {
                if let Some(from) = load(tx, name)? {
                    let to = transition(&from, Action::Expire, now)?;
                    if to != from {
                        apply(tx, name, &from, &to)?;
                    }
                }
            }
            Ok(names.len())
        })
    }

    /// Every agent with its credential deadlines, ordered by name
    /// (`relay agents`). States are as of now (deadlines applied).
    pub fn list_agents(&self) -> Result<Vec<Listed>> {
        self.read(|c, now| {
            let mut stmt = c.prepare_cached(
                "SELECT name, token_hash IS NOT NULL, grace_until, recovery_expires_at FROM agents ORDER BY name",
            )?;
            let rows: Vec<(String, bool, Option<Millis>, Option<Millis>)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut listed = Vec::with_capacity(rows.len());
            for (name, has_token, grace_until, recovery_expires_at) in rows {
                let Some(agent) = super::load(c, &name, now)? else {
                    continue;
                };
                listed.push(Listed {
                    grace_until: (agent.auth_state == AuthState::RotationGrace)
                        .then_some(grace_until)
                        .flatten()
                        .map(rfc3339),
                    recovery_expires_at: (agent.auth_state == AuthState::RecoveryPending)
                        .then_some(recovery_expires_at)
                        .flatten()
                        .map(rfc3339),
                    has_token,
                    agent,
                });
            }
            Ok(listed)
        })
    }
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
