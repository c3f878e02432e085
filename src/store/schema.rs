//! The schema and its migrations (rusqlite_migration; the version is kept
//! in `PRAGMA user_version`). Migrations are append-only: never edit one
//! that has shipped.
//!
//! Times are INTEGER milliseconds since the Unix epoch. Every index costs
//! a page write on the hot path (`send_message` commits with an fsync), so
//! only indexes that serve a frequent read exist; retention, which runs
//! hourly, scans instead. Agent names are
//! stored as text, not foreign keys: mail and tasks may be addressed to a
//! name that registers later (SPEC §2).

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::error::{Error, ErrorCode, Result};

const V1: &str = r#"
CREATE TABLE agents (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL DEFAULT '',
    capabilities TEXT    NOT NULL DEFAULT '[]',   -- JSON array of strings
    description  TEXT,
    status       TEXT    NOT NULL DEFAULT 'online'
                 CHECK (status IN ('online', 'busy', 'away', 'offline')),
    status_note  TEXT,
    token_hash   BLOB,                            -- SHA-256; NULL after `relay recover`
    recovery_token_hash BLOB,                     -- SHA-256 of a one-time recovery token
    auth_state   TEXT    NOT NULL DEFAULT 'active'
                 CHECK (auth_state IN ('active', 'rotation_grace', 'recovery_pending', 'revoked')),
    created_at   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL
);
CREATE INDEX agents_role ON agents (role);

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    sender     TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('direct', 'broadcast')),
    content    TEXT    NOT NULL,
    priority   TEXT    NOT NULL CHECK (priority IN ('low', 'normal', 'high')),
    reply_to   INTEGER,                           -- checked on insert; may outlive a purged parent
    thread_id  INTEGER,                           -- first message of the thread; NULL: this one
    created_at INTEGER NOT NULL
);

-- One row per (message, recipient): per-recipient read state.
CREATE TABLE message_recipients (
    recipient  TEXT    NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    read_at    INTEGER,
    PRIMARY KEY (recipient, message_id)
) WITHOUT ROWID;
CREATE INDEX message_recipients_unread ON message_recipients (recipient, message_id) WHERE read_at IS NULL;
CREATE INDEX message_recipients_message ON message_recipients (message_id);

CREATE TABLE channels (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- read_cursor: id of the last channel message the member has read.
CREATE TABLE channel_members (
    channel_id  INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    agent       TEXT    NOT NULL,
    joined_at   INTEGER NOT NULL,
    read_cursor INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, agent)
) WITHOUT ROWID;
CREATE INDEX channel_members_agent ON channel_members (agent);

CREATE TABLE channel_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    sender     TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    priority   TEXT    NOT NULL CHECK (priority IN ('low', 'normal', 'high')),
    created_at INTEGER NOT NULL
);
CREATE INDEX channel_messages_channel ON channel_messages (channel_id, id);

-- The outbox: ids only, never payloads. AUTOINCREMENT keeps ids monotonic
-- even after retention empties the table, so consumer cursors stay valid. `target` is the agent the event
-- is for (NULL: everyone concerned, e.g. channel members).
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    target     TEXT,
    actor      TEXT,
    subject_id INTEGER,
    channel    TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_target ON events (target, id);

-- Tasks (SPEC §4): one row per work item; every transition is a
-- compare-and-set on `state` and is appended to task_events.
CREATE TABLE tasks (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    requester             TEXT    NOT NULL,
    assignee              TEXT,                   -- NULL while queued
    auto_routed           INTEGER NOT NULL DEFAULT 0,
    required_capabilities TEXT    NOT NULL DEFAULT '[]',
    title                 TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    priority              TEXT    NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'critical')),
    state                 TEXT    NOT NULL CHECK (state IN ('queued', 'posted', 'accepted', 'completed',
                                  'failed', 'rejected', 'cancelled', 'expired', 'needs_recovery')),
    write                 INTEGER NOT NULL DEFAULT 0,
    request_id            TEXT,                   -- idempotency key, unique per requester
    content_hash          BLOB    NOT NULL,       -- SHA-256 of what was posted, for IDEMPOTENCY_CONFLICT
    max_attempts          INTEGER NOT NULL,
    attempts              INTEGER NOT NULL DEFAULT 0,
    fencing_token         INTEGER NOT NULL DEFAULT 0,
    claimant              TEXT,                   -- who accepted under the current lease
    lease_expires_at      INTEGER,
    expires_at            INTEGER,                -- created_at + ttl
    result                TEXT,
    error                 TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    finished_at           INTEGER
);
CREATE UNIQUE INDEX tasks_idempotency ON tasks (requester, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX tasks_assignee ON tasks (assignee, state);
CREATE INDEX tasks_requester ON tasks (requester, state);
CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE state = 'accepted';
CREATE INDEX tasks_ttl ON tasks (expires_at) WHERE state IN ('queued', 'posted', 'accepted');
CREATE INDEX tasks_queued ON tasks (created_at) WHERE state = 'queued';

CREATE TABLE task_events (
    id            INTEGER PRIMARY KEY,
    task_id       INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    action        TEXT    NOT NULL,
    from_state    TEXT,
    to_state      TEXT    NOT NULL,
    actor         TEXT,                           -- NULL: the relay itself (lease or TTL sweep)
    fencing_token INTEGER,
    note          TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX task_events_task ON task_events (task_id, id);

-- Where each agent's Claude Code hook last delivered (`relay hook`).
CREATE TABLE hook_cursors (
    agent    TEXT    PRIMARY KEY,
    event_id INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per mutating call; `outcome` is 'ok' or an error_code.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    agent      TEXT,
    tool       TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    transport  TEXT    NOT NULL,
    params     TEXT,
    created_at INTEGER NOT NULL
);
"#;

/// `relay re-encrypt`'s recorded progress: one row per encrypted column
/// (`table.column`) of the unfinished run; empty when none is. And
/// `store_meta`: facts about the store itself; `encryption = 'required'`
/// once a process has opened it with a keyring (SPEC §6), after which a
/// process without one refuses to open it rather than write plain text.
const V2: &str = r#"
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE reencrypt_progress (
    field      TEXT    PRIMARY KEY,
    to_key     TEXT    NOT NULL,
    from_key   TEXT,                              -- NULL: plain values and every other key
    cursor     INTEGER NOT NULL,                  -- last rowid handled
    moved      INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// The HTTP hub finds the agent of every request by its token's digest
/// (`X-Agent-Token`, SPEC §7): without an index each request would scan
/// `agents`. Only registrations and token changes write it.
const V3: &str = r#"
CREATE INDEX agents_token_hash ON agents (token_hash) WHERE token_hash IS NOT NULL;
"#;

/// Token lifecycle (SPEC §2 auth_state): during `rotation_grace` the
/// previous token stays valid until `grace_until`; a revoked agent with a
/// recovery token is `recovery_pending` until `recovery_expires_at`. The
/// hub finds an agent by its previous token during a grace (one probe of
/// `agents_previous_token_hash`); the runtime's sweep finds passed
/// deadlines through the two partial deadline indexes, which only token
/// changes write.
const V4: &str = r#"
ALTER TABLE agents ADD COLUMN previous_token_hash BLOB;     -- SHA-256; valid until grace_until
ALTER TABLE agents ADD COLUMN grace_until INTEGER;
ALTER TABLE agents ADD COLUMN recovery_expires_at INTEGER;
CREATE INDEX agents_previous_token_hash ON agents (previous_token_hash) WHERE previous_token_hash IS NOT NULL;
CREATE INDEX agents_grace_until ON agents (grace_until) WHERE grace_until IS NOT NULL;
CREATE INDEX agents_recovery_expires_at ON agents (recovery_expires_at) WHERE recovery_expires_at IS NOT NULL;
"#;

/// Webhooks (SPEC §7): subscriptions, and one delivery row per (webhook,
/// event), claimed by compare-and-set so exactly one process delivers it.
/// Event ids only, as in the outbox; `event_kind` is copied so a dead
/// letter still says what it was after its event is purged. Deliveries
/// are found by the partial `due` index (pending rows by their next
/// attempt, in-flight rows by when their claim expires) and per webhook
/// by the unique key's prefix. Only webhook processes write these tables:
/// nothing here is touched by `send_message`.
const V5: &str = r#"
CREATE TABLE webhooks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    owner          TEXT    NOT NULL,              -- the agent that registered it
    url            TEXT    NOT NULL,
    events         TEXT    NOT NULL,              -- JSON array of event kinds, or ["*"]
    secret         TEXT,                          -- sealed under the keyring (SPEC §6)
    agent_filter   TEXT,                          -- only events whose actor or target is this agent
    after_event_id INTEGER NOT NULL,              -- the newest event at registration: only later ones are sent
    created_at     INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- X-Relay-Delivery; never reused
    webhook_id       INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL,
    event_kind       TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,  -- attempts begun (counted when claimed)
    next_attempt_at  INTEGER NOT NULL,            -- pending: when due; in_flight: when the claim expires
    claimed_by       TEXT,                        -- the delivering process while in_flight
    claim_expires_at INTEGER,
    last_status      INTEGER,                     -- HTTP status of the last attempt, if one came back
    last_error       TEXT,                        -- why the last attempt failed (never a secret)
    last_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,                     -- delivered or dead
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state IN ('pending', 'in_flight');
"#;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(super::acks::MIGRATION),
        M::up(super::search::MIGRATION),
        M::up(super::reservations::MIGRATION),
        M::up(super::tasks::session::MIGRATION),
    ])
}

/// The schema version this binary writes.
pub const CURRENT_VERSION: i64 = 9;

/// Brings the store to [`CURRENT_VERSION`].
///
/// Errors: [`ErrorCode::SchemaMismatch`] when the file is newer than this
/// binary; [`ErrorCode::CorruptStore`] when it is not a SQLite database.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version = version_of(conn)?;
    if version == CURRENT_VERSION {
        return Ok(());
    }
    if version > CURRENT_VERSION {
        return Err(newer(version));
    }
    match migrations().to_latest(conn) {
        Ok(()) => Ok(()),
        // rusqlite_migration reads the version before its transaction takes
        // the write lock, so two processes opening a fresh store both try
        // to migrate. The loser waited (busy handler) until the winner
        // committed; if the store is now current, there is nothing to do.
        Err(_) if version_of(conn)? == CURRENT_VERSION => Ok(()),
        Err(rusqlite_migration::Error::RusqliteError { err, .. }) => Err(Error::from(err)),
        Err(other) => Err(Error::new(
            ErrorCode::SchemaMismatch,
            format!("cannot migrate the store: {other}"),
        )),
    }
}

fn version_of(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

fn newer(version: i64) -> Error {
    Error::new(
        ErrorCode::SchemaMismatch,
        format!(
            "the store has schema version {version}, newer than this relay understands \
             ({CURRENT_VERSION}); upgrade relay"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
        assert_eq!(migrations_len(), CURRENT_VERSION);
    }

    fn migrations_len() -> i64 {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
        assert_eq!(migrate(&mut c).unwrap_err().code, ErrorCode::SchemaMismatch);
    }
}
