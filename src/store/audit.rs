//! The audit log (SPEC §6): one row per mutating call with the agent, the
//! tool, the outcome (`ok` or an `error_code`), the transport and the time.
//! Parameters are a small JSON summary (ids, sizes), never message content.

use rusqlite::params;
use serde::Serialize;

use super::words::Transport;
use super::{Caller, Store};
use crate::clock::{Millis, rfc3339};
use crate::error::{ErrorCode, Result};

/// Appends an audit row inside the caller's transaction. `outcome` is
/// `None` for success.
pub(crate) fn record(
    tx: &rusqlite::Connection,
    caller: Caller<'_>,
    tool: &str,
    outcome: Option<ErrorCode>,
    params: &serde_json::Value,
    now: Millis,
) -> Result<()> {
    insert(tx, Some(caller.agent), caller.transport, tool, outcome, params, now)
}

/// Appends an audit row of the hub's operator (the dashboard with the hub
/// secret) inside the caller's transaction: no agent (the operator is
/// none), transport `http`. `outcome` is `None` for success; `params`
/// never holds the secret.
pub(crate) fn record_operator(
    tx: &rusqlite::Connection,
    tool: &str,
    outcome: Option<ErrorCode>,
    params: &serde_json::Value,
    now: Millis,
) -> Result<()> {
    insert(tx, None, Transport::Http, tool, outcome, params, now)
}

fn insert(
    tx: &rusqlite::Connection,
    agent: Option<&str>,
    transport: Transport,
    tool: &str,
    outcome: Option<ErrorCode>,
    params: &serde_json::Value,
    now: Millis,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit (agent, tool, outcome, transport, params, created_at)
         VALUES (?1, ?2, ?3, ?4, relay_seal('audit.params', ?5), ?6)",
    )?
    .execute(params![
        agent,
        tool,
        outcome.map_or("ok", ErrorCode::as_str),
        transport,
        params.to_string(),
        now
    ])?;
    Ok(())
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// The calling agent, if bound.
    pub agent: Option<String>,
    /// The tool or command.
    pub tool: String,
    /// `ok` or an error code.
    pub outcome: String,
    /// The transport's stored word (see [`Transport`]), as written: rows
    /// are history and are shown as stored.
    pub transport: String,
    /// RFC 3339 time.
    pub created_at: String,
}

impl Store {
    /// Records a failed mutating call in its own transaction (the failed
    /// call's own transaction was rolled back, storing nothing else).
    /// `agent` is `None` for a session not bound to an agent; `params` is
    /// a small summary, never content.
    ///
    /// For a call that failed because the store stayed locked, the row is
    /// written only if the lock is free right now: waiting again would
    /// hold the caller's answer for a second busy timeout.
    pub fn audit_failure(
        &self,
        agent: Option<&str>,
        transport: Transport,
        tool: &str,
        code: ErrorCode,
        params: &serde_json::Value,
    ) -> Result<()> {
        let write = || self.write(|tx, now| insert(tx, agent, transport, tool, Some(code), params, now));
        if code == ErrorCode::Timeout {
            super::with_deadline(std::time::Instant::now(), write)
        } else {
            write()
        }
    }

    /// The newest `limit` audit rows, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT id, agent, tool, outcome, transport, created_at FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    agent: r.get(1)?,
                    tool: r.get(2)?,
                    outcome: r.get(3)?,
                    transport: r.get(4)?,
                    created_at: rfc3339(r.get(5)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
