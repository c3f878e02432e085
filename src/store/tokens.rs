//! Who holds an agent token, for the HTTP hub's `X-Agent-Token` (SPEC
//! §2, §7), found without touching the store's writer connection.
//!
//! [`Store`](super::Store) serialises every call on one connection, which
//! a group commit holds for a whole batch; a request's authentication
//! must not wait behind that. [`TokenLookup`] keeps a few read-only
//! connections of its own on the same file: in WAL mode readers never
//! wait for the writer, and each sees every committed change, so a
//! revoked token stops working with the commit that revoked it. A lookup
//! is one indexed query (`agents_token_hash`) on the token's SHA-256 plus a
//! constant-time comparison of the digest: a few microseconds.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorCode, Result};
use crate::token;

/// How many read-only connections a [`TokenLookup`] keeps.
pub const CONNECTIONS: usize = 4;

/// Read-only token lookups on a store file.
pub struct TokenLookup {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for TokenLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenLookup")
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl TokenLookup {
    /// Opens [`CONNECTIONS`] read-only connections on the store at `path`,
    /// which must exist and be migrated (open it with
    /// [`Store::open`](super::Store::open) first).
    ///
    /// Errors: [`ErrorCode::Internal`] or [`ErrorCode::CorruptStore`] when
    /// the file cannot be opened or read.
    pub fn open(path: &Path) -> Result<Self> {
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
        })
    }

    /// The name of the agent `token` belongs to.
    ///
    /// Errors: [`ErrorCode::AuthFailed`] for a malformed or unknown token,
    /// or an agent whose token is revoked (`revoked`, `recovery_pending`);
    /// [`ErrorCode::Timeout`] or [`ErrorCode::Internal`] when the store
    /// cannot be read.
    pub fn agent_for(&self, token: &str) -> Result<String> {
        let unknown = || {
            Error::new(
                ErrorCode::AuthFailed,
                "X-Agent-Token matches no agent; use the token register_agent returned (a lost token: the \
                 operator runs `relay recover NAME`)",
            )
        };
        if !token.starts_with(token::PREFIX) || token.len() != token::PREFIX.len() + 43 {
            return Err(unknown());
        }
        let digest = token::hash(token);
        let row: Option<(String, Vec<u8>, String)> = self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT name, token_hash, auth_state FROM agents WHERE token_hash = ?1")?
                    .query_row([&digest], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?,
            )
        })?;
        let Some((name, stored, auth_state)) = row else {
            return Err(unknown());
        };
        if !bool::from(stored.ct_eq(&digest)) {
            return Err(unknown());
        }
        if matches!(auth_state.as_str(), "revoked" | "recovery_pending") {
            return Err(Error::new(
                ErrorCode::AuthFailed,
                format!(
                    "agent {name:?} has its token revoked ({auth_state}); re-register with its recovery token, \
                     or ask the operator to run `relay recover {name}`"
                ),
            ));
        }
        Ok(name)
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
        let lookup = TokenLookup::open(store.path()).unwrap();
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
        let lookup = TokenLookup::open(store.path()).unwrap();
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
