//! Agents: registration, session binding, presence and status (SPEC §2).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::access::authorize;
use super::words::{AuthState, Capability, SELF_SERVICE_CAPABILITIES, Status, Transport};
use super::{Caller, Store, audit, events, tasks, validate};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};
use crate::token;

#[path = "credentials.rs"]
pub mod credentials;

pub use super::access::LAST_SEEN_RESOLUTION_MS;
pub use super::words::{ONLINE_WITHIN_MS, Presence, STALE_WITHIN_MS};

/// A registered agent as tools and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// The unique name.
    pub name: String,
    /// Free-form role, e.g. `reviewer`.
    pub role: String,
    /// Capabilities, fixed at first registration.
    pub capabilities: Vec<String>,
    /// What the agent does.
    pub description: Option<String>,
    /// Declared status: online, busy, away, offline.
    pub status: Status,
    /// A note set with the status.
    pub status_note: Option<String>,
    /// Computed from `last_seen`.
    pub presence: Presence,
    /// RFC 3339 time of the agent's last call.
    pub last_seen: String,
    /// RFC 3339 time of first registration.
    pub registered_at: String,
    /// active, rotation_grace, recovery_pending or revoked.
    pub auth_state: AuthState,
}

/// What an agent registers with.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Agent name; see [`validate::agent_name`].
    pub name: String,
    /// Role; at most 64 characters. `None` keeps the stored role on a
    /// re-bind (and means no role for a new agent).
    pub role: Option<String>,
    /// Capabilities; kept from the first registration on re-binds.
    pub capabilities: Vec<String>,
    /// Description; at most 1,024 characters.
    pub description: Option<String>,
}

/// How a `register_agent` call proves it may take an existing name.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// Nothing: only new names (or names cleared by `relay recover`).
    None,
    /// The session is bound to this name already (it may update itself).
    BoundSession,
    /// The agent's token.
    Token(&'a str),
    /// A one-time recovery token issued by `revoke_token`.
    RecoveryToken(&'a str),
}

/// The outcome of a registration.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    /// The agent as stored.
    pub agent: Agent,
    /// A new token, shown once; `None` when the caller already holds one.
    pub token: Option<String>,
    /// Whether the name was new.
    pub created: bool,
}

const AGENT_COLUMNS: &str = "name, role, capabilities, description, status, status_note, \
                             last_seen, created_at, auth_state, grace_until, recovery_expires_at";

fn agent_from_row(row: &rusqlite::Row<'_>, now: Millis) -> rusqlite::Result<Agent> {
    let caps: String = row.get(2)?;
    let last_seen: Millis = row.get(6)?;
    Ok(Agent {
        name: row.get(0)?,
        role: row.get(1)?,
        capabilities: serde_json::from_str(&caps).unwrap_or_default(),
        description: row.get(3)?,
        status: row.get(4)?,
        status_note: row.get(5)?,
        presence: Presence::at(last_seen, now),
        last_seen: rfc3339(last_seen),
        registered_at: rfc3339(row.get(7)?),
        // The state now: a passed grace or recovery deadline counts at
        // once, before the sweep writes it back.
        auth_state: credentials::effective_state(row.get(8)?, row.get(9)?, row.get(10)?, now),
    })
}

fn load(tx: &rusqlite::Connection, name: &str, now: Millis) -> Result<Option<Agent>> {
    Ok(tx
        .prepare_cached(&format!("SELECT {AGENT_COLUMNS} FROM agents WHERE name = ?1"))?
        .query_row([name], |r| agent_from_row(r, now))
        .optional()?)
}

/// The agent a write in this transaction just stored.
fn load_written(tx: &rusqlite::Connection, name: &str, now: Millis) -> Result<Agent> {
    load(tx, name, now)?.ok_or_else(|| Error::internal(format!("agent {name:?} vanished inside its own transaction")))
}

/// [`authorize`] with `cap`, and checks that the caller holds every
/// capability in `grants` (an agent may not hand out more than it has).
fn require_grants(
    tx: &rusqlite::Connection,
    caller: Caller<'_>,
    cap: Capability,
    grants: &[String],
    now: Millis,
) -> Result<()> {
    authorize(tx, caller.agent, now, Some(cap))?;
    let caps: Vec<String> = load(tx, caller.agent, now)?.map(|a| a.capabilities).unwrap_or_default();
    match grants.iter().find(|g| !caps.contains(g)) {
        Some(g) => Err(Error::new(
            ErrorCode::CapDenied,
            format!("you cannot grant the {g:?} capability: you do not hold it"),
        )),
        None => Ok(()),
    }
}

fn validate_registration(reg: &Registration) -> Result<()> {
    validate::agent_name(&reg.name)?;
    if let Some(role) = &reg.role {
        validate::text("role", role, validate::MAX_ROLE_CHARS)?;
    }
    validate::capabilities(&reg.capabilities)?;
    if let Some(d) = &reg.description {
        validate::text("description", d, validate::MAX_DESCRIPTION_CHARS)?;
    }
    Ok(())
}

/// Refuses a name that differs from an existing agent's only in case: two
/// agents called `alice` and `Alice` invite impersonation.
fn refuse_case_twin(tx: &rusqlite::Connection, name: &str) -> Result<()> {
    let twin: Option<String> = tx
        .prepare_cached("SELECT name FROM agents WHERE name = ?1 COLLATE NOCASE AND name <> ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match twin {
        Some(twin) => Err(Error::new(
            ErrorCode::NameTaken,
            format!("agent {twin:?} exists; names that differ only in case are refused"),
        )),
        None => Ok(()),
    }
}

/// Creates agent `reg.name` (checked new by the caller): refuses a case
/// twin, stores a fresh token's digest, appends `agent_registered` and
/// audits `tool` for `caller` (with the operator's `os_user` for a CLI
/// act). Returns the token (shown once, if at all).
fn create(
    tx: &rusqlite::Connection,
    reg: &Registration,
    caller: Caller<'_>,
    tool: &str,
    os_user: Option<&str>,
    now: Millis,
) -> Result<String> {
    refuse_case_twin(tx, &reg.name)?;
    let token = token::generate();
    insert(tx, reg, &token, now)?;
    events::append_for_agent(tx, events::Kind::AgentRegistered, &reg.name, now)?;
    let mut params = serde_json::json!({"created": true, "name": reg.name, "capabilities": reg.capabilities});
    if let Some(user) = os_user {
        params["os_user"] = serde_json::json!(user);
    }
    audit::record(tx, caller, tool, None, &params, now)?;
    Ok(token)
}

impl Store {
    /// The capabilities a `register_agent` call may grant a new name
    /// (SPEC §2): a session bound to agent `current` may grant what that
    /// agent holds (gates and routing labels alike; nothing when it is no
    /// longer registered); an unbound session (`None`) only
    /// [`SELF_SERVICE_CAPABILITIES`]. The rest only the operator grants,
    /// with `relay serve --capabilities`.
    pub fn grantable_capabilities(&self, current: Option<&str>) -> Result<Vec<Capability>> {
        Ok(match current {
            Some(me) => self
                .agent(me)?
                .map(|agent| agent.capabilities.into_iter().map(Capability::from).collect())
                .unwrap_or_default(),
            None => SELF_SERVICE_CAPABILITIES.to_vec(),
        })
    }

    /// Registers `reg.name`, or re-binds it when `credential` proves the
    /// caller may take it (SPEC §2).
    ///
    /// A new name gets a fresh token (returned once) and the capabilities
    /// asked for, which must all be in `grantable` (a model may not grant
    /// itself more than its session holds). An existing name needs its
    /// token (during a rotation grace the previous token too, until
    /// `grace_until`), a session already bound to it, or — while
    /// `recovery_pending` and before `recovery_expires_at` — its one-time
    /// recovery token, which re-registers the name with a fresh token
    /// (returned once) and makes it `active` ([`credentials`]). A name
    /// whose token the operator cleared with `relay recover` may be taken
    /// by anyone and gets a new token. An existing agent keeps its
    /// capabilities; its role and description change only when given.
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::PayloadTooLarge`],
    /// [`ErrorCode::CapDenied`] (capability not grantable),
    /// [`ErrorCode::NameTaken`] (no credential, or a name differing only in
    /// case from an existing one), [`ErrorCode::AuthFailed`] (wrong or
    /// used token or recovery token, or revoked; a recovery token used
    /// after its window also records the agent as `revoked`).
    pub fn register_agent(
        &self,
        reg: &Registration,
        credential: Credential<'_>,
        grantable: &[Capability],
        transport: Transport,
    ) -> Result<Registered> {
        validate_registration(reg)?;
        // A failed recovery may still commit (the expiry): the inner
        // result is the call's.
        self.write(|tx, now| {
            let caller = Caller {
                agent: &reg.name,
                transport,
            };
            let Some(creds) = credentials::load(tx, &reg.name)? else {
                if let Some(cap) = reg
                    .capabilities
                    .iter()
                    .find(|c| !grantable.iter().any(|g| g.as_str() == c.as_str()))
                {
                    return Err(Error::new(
                        ErrorCode::CapDenied,
                        format!(
                            "this session cannot grant the {cap:?} capability (it may grant: {}); the \
                             operator grants capabilities with `relay serve --agent NAME --capabilities ...`",
                            if grantable.is_empty() {
                                "none".to_owned()
                            } else {
                                grantable.iter().map(Capability::as_str).collect::<Vec<_>>().join(", ")
                            }
                        ),
                    ));
                }
                let token = create(tx, reg, caller, "register_agent", None, now)?;
                let agent = load_written(tx, &reg.name, now)?;
                tasks::assign_queued(tx, &reg.name, &agent.capabilities, now)?;
                return Ok(Ok(Registered {
                    agent,
                    token: Some(token),
                    created: true,
                }));
            };
            let state = creds.state_at(now);
            let revoked = || {
                Error::new(
                    ErrorCode::AuthFailed,
                    format!(
                        "agent {:?} has its token revoked ({state}); use its recovery token within its window, \
                         or ask the operator to run `relay token issue {}`",
                        reg.name, reg.name
                    ),
                )
            };
            let fresh = |action: fn(&[u8]) -> credentials::Action<'_>| -> Result<(String, credentials::Credentials)> {
                let token = token::generate();
                let to = credentials::transition(&creds, action(&token::hash(&token)), now)?;
                Ok((token, to))
            };
            let renewed = match credential {
                _ if state == AuthState::Revoked => {
                    if creds.auth_state != AuthState::Revoked {
                        // The recovery window passed: the agent is revoked
                        // from now on, whatever the sweep has done.
                        let to = credentials::transition(&creds, credentials::Action::Expire, now)?;
                        credentials::apply(tx, &reg.name, &creds, &to)?;
                    }
                    return Ok(Err(revoked()));
                }
                Credential::BoundSession if state == AuthState::RecoveryPending => return Err(revoked()),
                Credential::BoundSession => None,
                // Cleared by `relay recover`: the next registration takes it.
                _ if creds.token_hash.is_none() && creds.recovery_token_hash.is_none() => {
                    Some(fresh(|h| credentials::Action::Issue { new_hash: h })?)
                }
                Credential::Token(t) if creds.accepts(&token::hash(t), now) => None,
                Credential::Token(_) if state == AuthState::RecoveryPending => return Err(revoked()),
                Credential::Token(_) => return Err(auth_failed(&reg.name, "token")),
                Credential::RecoveryToken(t) => match &creds.recovery_token_hash {
                    Some(h) if state == AuthState::RecoveryPending && token::verify(t, h) => {
                        Some(fresh(|h| credentials::Action::Recover { new_hash: h })?)
                    }
                    _ => return Err(auth_failed(&reg.name, "recovery token")),
                },
                Credential::None => {
                    return Err(Error::new(
                        ErrorCode::NameTaken,
                        format!(
                            "the name {:?} belongs to another agent; pick another name, or pass its \
                             token to re-bind (a lost token: the operator runs `relay recover {}`)",
                            reg.name, reg.name
                        ),
                    ));
                }
            };
            if let Some((_, to)) = &renewed {
                credentials::apply(tx, &reg.name, &creds, to)?;
            }
            tx.prepare_cached(
                "UPDATE agents SET role = COALESCE(?2, role), description = COALESCE(?3, description),
                        last_seen = ?4
                 WHERE name = ?1",
            )?
            .execute(params![reg.name, reg.role, reg.description, now])?;
            events::append_for_agent(tx, events::Kind::AgentRegistered, &reg.name, now)?;
            audit::record(
                tx,
                caller,
                "register_agent",
                None,
                &serde_json::json!({"created": false, "recovered": matches!(credential, Credential::RecoveryToken(_))}),
                now,
            )?;
            let agent = load_written(tx, &reg.name, now)?;
            Ok(Ok(Registered {
                agent,
                token: renewed.map(|(token, _)| token),
                created: false,
            }))
        })?
    }

    /// Binds a `relay serve --agent NAME` process: registers NAME if new;
    /// otherwise trusts the operator's MCP config and updates role and
    /// capabilities when given (`None` keeps what is stored; a change is
    /// audited). Never reveals or replaces an existing token.
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::NameTaken`] (a name
    /// differing only in case from an existing one),
    /// [`ErrorCode::AuthFailed`] for a revoked agent.
    pub fn bind_agent(
        &self,
        name: &str,
        role: Option<&str>,
        capabilities: Option<&[String]>,
        transport: Transport,
    ) -> Result<Agent> {
        let reg = Registration {
            name: name.to_owned(),
            role: role.map(str::to_owned),
            capabilities: capabilities.map(<[String]>::to_vec).unwrap_or_default(),
            description: None,
        };
        validate_registration(&reg)?;
        self.write(|tx, now| {
            let caller = Caller { agent: name, transport };
            let before = load(tx, name, now)?;
            match &before {
                None => {
                    create(tx, &reg, caller, "serve_bind", None, now)?;
                }
                Some(agent) if !agent.auth_state.may_act() => {
                    return Err(Error::new(
                        ErrorCode::AuthFailed,
                        format!("agent {name:?} has its token revoked; run `relay recover {name}` first"),
                    ));
                }
                Some(agent) => {
                    tx.prepare_cached(
                        "UPDATE agents SET last_seen = ?2, role = COALESCE(?3, role),
                                capabilities = COALESCE(?4, capabilities)
                         WHERE name = ?1",
                    )?
                    .execute(params![
                        name,
                        now,
                        role,
                        capabilities.map(|c| serde_json::to_string(c).expect("strings serialise"))
                    ])?;
                    let changed_caps = capabilities.is_some_and(|c| c != agent.capabilities.as_slice());
                    let changed_role = role.is_some_and(|r| r != agent.role);
                    if changed_caps || changed_role {
                        events::append_for_agent(tx, events::Kind::AgentRegistered, name, now)?;
                        audit::record(
                            tx,
                            caller,
                            "serve_bind",
                            None,
                            &serde_json::json!({
                                "created": false,
                                "capabilities_before": agent.capabilities,
                                "capabilities": capabilities,
                                "role": role,
                            }),
                            now,
                        )?;
                    }
                }
            }
            let agent = load_written(tx, name, now)?;
            tasks::assign_queued(tx, name, &agent.capabilities, now)?;
            Ok(agent)
        })
    }

    /// Clears `name`'s credentials so it can register again (`relay
    /// recover`, after a lost token): token, previous token and recovery
    /// token removed with their deadlines, state back to active. Its
    /// messages, tasks and channels stay. Appends `token_revoked` (no
    /// actor), so a hub ends the HTTP sessions of the old token. Audited
    /// with the operator's OS user. Returns the agent as it is now.
    ///
    /// Errors: [`ErrorCode::NotFound`] for an unknown agent.
    pub fn recover_agent(&self, name: &str, os_user: &str) -> Result<Agent> {
        validate::agent_name(name)?;
        self.write(|tx, now| {
            let changed = tx
                .prepare_cached(
                    "UPDATE agents SET token_hash = NULL, recovery_token_hash = NULL, auth_state = 'active',
                            previous_token_hash = NULL, grace_until = NULL, recovery_expires_at = NULL
                     WHERE name = ?1",
                )?
                .execute([name])?;
            if changed == 0 {
                return Err(Error::not_found(format!(
                    "no agent named {name:?}; `relay` lists none by that name"
                )));
            }
            // Its tokens stopped working: a hub ends its HTTP sessions.
            events::append(tx, events::Kind::TokenRevoked, Some(name), None, None, None, now)?;
            audit::record(
                tx,
                Caller {
                    agent: name,
                    transport: Transport::Cli,
                },
                "recover",
                None,
                &serde_json::json!({"os_user": os_user}),
                now,
            )?;
            load_written(tx, name, now)
        })
    }

    /// Registers `name` for an agent terminal the caller opens
    /// (`spawn_agent`). The caller needs `spawn` and may grant only
    /// capabilities it holds, and only to a new name: spawning a terminal
    /// bound to an existing agent would let the caller act with that
    /// agent's capabilities.
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::CapDenied`],
    /// [`ErrorCode::NameTaken`] (the name, or one differing only in case,
    /// exists), [`ErrorCode::AuthFailed`].
    pub fn register_spawned(
        &self,
        caller: Caller<'_>,
        name: &str,
        role: Option<&str>,
        capabilities: &[String],
    ) -> Result<Agent> {
        let reg = Registration {
            name: name.to_owned(),
            role: role.map(str::to_owned),
            capabilities: capabilities.to_vec(),
            description: None,
        };
        validate_registration(&reg)?;
        self.write(|tx, now| {
            require_grants(tx, caller, Capability::Spawn, capabilities, now)?;
            if load(tx, name, now)?.is_some() {
                return Err(Error::new(
                    ErrorCode::NameTaken,
                    format!("an agent named {name:?} exists already; spawn_agent only creates new agents"),
                ));
            }
            create(tx, &reg, caller, "spawn_agent", None, now)?;
            load_written(tx, name, now)
        })
    }

    /// Binds a `relay worker --agent NAME`: registers NAME with the `tasks`
    /// capability (role `worker`) if it is new, otherwise keeps what is
    /// stored (SPEC §4 Workers).
    ///
    /// Errors: as [`Store::bind_agent`].
    pub fn bind_worker(&self, name: &str, transport: Transport) -> Result<Agent> {
        match self.agent(name)? {
            Some(_) => self.bind_agent(name, None, None, transport),
            None => self.bind_agent(
                name,
                Some("worker"),
                Some(&[Capability::Tasks.as_str().to_owned()]),
                transport,
            ),
        }
    }

    /// Removes the caller's registration. Mail addressed to the name is
    /// kept (it waits for whoever registers the name next); channel
    /// memberships are dropped.
    ///
    /// Errors: [`ErrorCode::AuthFailed`] when the caller is not registered.
    pub fn unregister_agent(&self, caller: Caller<'_>) -> Result<()> {
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            tx.prepare_cached("DELETE FROM channel_members WHERE agent = ?1")?
                .execute([caller.agent])?;
            tx.prepare_cached("DELETE FROM agents WHERE name = ?1")?
                .execute([caller.agent])?;
            events::append_for_agent(tx, events::Kind::AgentUnregistered, caller.agent, now)?;
            audit::record(tx, caller, "unregister_agent", None, &serde_json::json!({}), now)?;
            Ok(())
        })
    }

    /// Lists agents, optionally filtered by exact `role` and by holding
    /// `capability`. Agents whose presence or declared status is offline
    /// are left out unless `include_offline`. Ordered by name.
    pub fn discover_agents(
        &self,
        role: Option<&str>,
        capability: Option<&str>,
        include_offline: bool,
    ) -> Result<Vec<Agent>> {
        self.read(|c, now| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {AGENT_COLUMNS} FROM agents WHERE (?1 IS NULL OR role = ?1) ORDER BY name"
            ))?;
            let agents = stmt
                .query_map(params![role], |r| agent_from_row(r, now))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(agents
                .into_iter()
                .filter(|a| capability.is_none_or(|cap| a.capabilities.iter().any(|c| c == cap)))
                .filter(|a| include_offline || (a.presence != Presence::Offline && a.status != Status::Offline))
                .collect())
        })
    }

    /// The agent named `name`, if registered.
    pub fn agent(&self, name: &str) -> Result<Option<Agent>> {
        self.read(|c, now| load(c, name, now))
    }

    /// Sets the caller's declared status (`online`, `busy`, `away`,
    /// `offline`) and note (at most 256 characters; `None` clears it).
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::AuthFailed`].
    pub fn set_status(&self, caller: Caller<'_>, status: &str, note: Option<&str>) -> Result<Agent> {
        let status: Status = status.parse()?;
        if let Some(n) = note {
            validate::text("note", n, validate::MAX_NOTE_CHARS)?;
        }
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            tx.prepare_cached("UPDATE agents SET status = ?2, status_note = ?3 WHERE name = ?1")?
                .execute(params![caller.agent, status, note])?;
            events::append_for_agent(tx, events::Kind::StatusChanged, caller.agent, now)?;
            audit::record(
                tx,
                caller,
                "set_status",
                None,
                &serde_json::json!({"status": status}),
                now,
            )?;
            load_written(tx, caller.agent, now)
        })
    }

    /// Records that `name` is alive now (keeps presence `online` for an
    /// idle session). A no-op for unknown names.
    pub fn touch_agent(&self, name: &str) -> Result<()> {
        self.write(|tx, now| {
            tx.prepare_cached("UPDATE agents SET last_seen = ?2 WHERE name = ?1")?
                .execute(params![name, now])?;
            Ok(())
        })
    }
}

fn insert(tx: &rusqlite::Connection, reg: &Registration, token: &str, now: Millis) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO agents (name, role, capabilities, description, token_hash, created_at, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        reg.name,
        reg.role.as_deref().unwrap_or_default(),
        serde_json::to_string(&reg.capabilities).expect("strings serialise"),
        reg.description,
        token::hash(token),
        now
    ])?;
    Ok(())
}

fn auth_failed(name: &str, what: &str) -> Error {
    Error::new(
        ErrorCode::AuthFailed,
        format!("the {what} does not match agent {name:?}; nothing changed"),
    )
}
