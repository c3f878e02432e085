//! Who holds an agent token, for the HTTP hub's `X-Agent-Token` (SPEC
//! §2, §7), found without touching the store's writer connection.
//!
//! [`Store`] serialises every call on one connection, which a group
//! commit holds for a whole batch; a request's authentication must not
//! wait behind that. [`TokenLookup`] keeps a few read-only connections of
//! its own on the same file: in WAL mode readers never wait for the
//! writer, and each sees every committed change, so a revoked token stops
//! working with the commit that revoked it. A lookup is one indexed query
//! (`agents_token_hash`) on the token's SHA-256 plus a constant-time
//! comparison of the digest: a few microseconds. A token that is not
//! current costs a second probe (`agents_previous_token_hash`): during a
//! rotation grace the previous token is accepted until `grace_until` on
//! the store's clock, and not a millisecond after
//! ([`Credentials::accepts`], the one rule the store's own checks use).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::Store;
use super::agents::credentials::Credentials;
use super::words::AuthState;
use crate::clock::{Clock, Millis};
use crate::error::{Error, ErrorCode, Result};
use crate::token;

/// How many read-only connections a [`TokenLookup`] keeps.
pub const CONNECTIONS: usize = 4;

/// Read-only token lookups on a store file.
pub struct TokenLookup {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TokenLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenLookup")
            .field("connections", &self.conns.len())
            .finish()
    }
}

/// The columns a lookup reads: the agent's name and its credentials.
const LOOKUP_COLUMNS: &str = "name, token_hash, previous_token_hash, grace_until, recovery_token_hash, \
                              recovery_expires_at, auth_state";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, Credentials)> {
    Ok((
        r.get(0)?,
        Credentials {
            token_hash: r.get(1)?,
            previous_token_hash: r.get(2)?,
            grace_until: r.get(3)?,
            recovery_token_hash: r.get(4)?,
            recovery_expires_at: r.get(5)?,
            auth_state: r.get(6)?,
        },
    ))
}

impl TokenLookup {
    /// Opens [`CONNECTIONS`] read-only connections on `store`'s file,
    /// which [`Store::open`] has migrated, and takes the store's clock for
    /// grace deadlines.
    ///
    /// Errors: [`ErrorCode::Internal`] or [`ErrorCode::CorruptStore`] when
    /// the file cannot be opened or read.
    pub fn open(store: &Store) -> Result<Self> {
        Self::open_path(store.path(), store.clock())
    }

    /// [`TokenLookup::open`] on the store file at `path` with `clock`.
    ///
    /// Errors: as [`TokenLookup::open`].
    pub fn open_path(path: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        let conns = (0..CONNECTIONS)
            .map(|_| {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_millis(super::BEST_EFFORT_WAIT_MS))?;
                c.set_prepared_statement_cache_capacity(4);
                // Fails now, not on the first request, if this is not a store.
                c.query_row("SELECT COUNT(*) FROM agents WHERE 0", [], |r| r.get::<_, i64>(0))?;
                Ok(Mutex::new(c))
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e: Error| {
                Error::new(
                    e.code,
                    format!("cannot open {} for token lookups: {}", path.display(), e.message),
                )
            })?;
        Ok(Self {
            conns,
            next: AtomicUsize::new(0),
            clock,
        })
    }

    /// The name of the agent `token` belongs to: its current token, or its
    /// previous one while `rotation_grace` lasts (until `grace_until`,
    /// exclusive, on the store's clock).
    ///
    /// Errors: [`ErrorCode::AuthFailed`] for a malformed or unknown token,
    /// a previous token past its grace, or an agent whose token is revoked
    /// (`revoked`, `recovery_pending`); [`ErrorCode::Timeout`] or
    /// [`ErrorCode::Internal`] when the store cannot be read.
    pub fn agent_for(&self, token: &str) -> Result<String> {
        let unknown = || {
            Error::new(
                ErrorCode::AuthFailed,
                "X-Agent-Token matches no agent; use the token register_agent (or `relay token issue`) returned \
                 last: after a rotation the old one works only until its grace ends (a lost token: the operator \
                 runs `relay token issue NAME`)",
            )
        };
        if !token.starts_with(token::PREFIX) || token.len() != token::PREFIX.len() + 43 {
            return Err(unknown());
        }
        let digest = token::hash(token);
        let found = self.with_conn(|c| {
            let current = c
                .prepare_cached(&format!("SELECT {LOOKUP_COLUMNS} FROM agents WHERE token_hash = ?1"))?
                .query_row([&digest], row)
                .optional()?;
            if current.is_some() {
                return Ok(current);
            }
            Ok(c.prepare_cached(&format!(
                "SELECT {LOOKUP_COLUMNS} FROM agents WHERE previous_token_hash = ?1"
            ))?
            .query_row([&digest], row)
            .optional()?)
        })?;
        let Some((name, creds)) = found else {
            return Err(unknown());
        };
        // Only a grace (or a revocation the store wrote with the token
        // still in place) depends on the time: read the clock only then.
        let now: Millis = match creds.auth_state {
            AuthState::Active => Millis::MIN,
            _ => self.clock.now(),
        };
        if creds.accepts(&digest, now) {
            return Ok(name);
        }
        let state = creds.state_at(now);
        if state.may_act() {
            return Err(unknown()); // a previous token past its grace
        }
        Err(Error::new(
            ErrorCode::AuthFailed,
            format!(
                "agent {name:?} has its token revoked ({state}); re-register with its recovery token, \
                 or ask the operator to run `relay token issue {name}`"
            ),
        ))
    }

    /// Runs `f` on a free connection (or waits for the next in turn).
    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        for i in 0..n {
            if let Some(c) = self.conns[(start + i) % n].try_lock() {
                return f(&c);
            }
        }
        f(&self.conns[start % n].lock())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;
    use crate::store::{Limits, Registration, Store, agents::Credential};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("relay.db"), Arc::new(SystemClock), Limits::default()).unwrap();
        (dir, store)
    }

    fn register(store: &Store, name: &str) -> String {
        let reg = Registration {
            name: name.into(),
            ..Default::default()
        };
        store
            .register_agent(&reg, Credential::None, &[], crate::store::words::Transport::Http)
            .unwrap()
            .token
            .unwrap()
    }

    #[test]
    fn a_token_finds_its_agent_and_nothing_else_does() {
        let (_dir, store) = store();
        let alice = register(&store, "alice");
        let bob = register(&store, "bob");
        let lookup = TokenLookup::open(&store).unwrap();
        assert_eq!(lookup.agent_for(&alice).unwrap(), "alice");
        assert_eq!(lookup.agent_for(&bob).unwrap(), "bob");
        for bad in [
            token::generate(),
            "rly_short".into(),
            String::new(),
            format!("x{}", &alice[1..]),
        ] {
            assert_eq!(lookup.agent_for(&bad).unwrap_err().code, ErrorCode::AuthFailed, "{bad}");
        }
    }

    #[test]
    fn a_revoked_or_recovered_token_stops_working_at_once() {
        let (_dir, store) = store();
        let alice = register(&store, "alice");
        let lookup = TokenLookup::open(&store).unwrap();
        assert!(lookup.agent_for(&alice).is_ok());
        store
            .write(|tx, _| {
                tx.execute(
                    "UPDATE agents SET auth_state = 'recovery_pending' WHERE name = 'alice'",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        let e = lookup.agent_for(&alice).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthFailed);
        assert!(e.message.contains("revoked"), "{}", e.message);
        store.recover_agent("alice", "op").unwrap();
        assert_eq!(lookup.agent_for(&alice).unwrap_err().code, ErrorCode::AuthFailed);
    }

    #[test]
    fn the_lookup_uses_the_token_hash_index() {
        let (_dir, store) = store();
        let plan: String = store
            .read(|c, _| {
                Ok(c.query_row(
                    "EXPLAIN QUERY PLAN SELECT name FROM agents WHERE token_hash = x'00'",
                    [],
                    |r| r.get(3),
                )?)
            })
            .unwrap();
        assert!(plan.contains("agents_token_hash"), "{plan}");
    }
}
