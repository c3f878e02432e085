//! Read-only overviews of the whole store for the hub's operator
//! endpoints (SPEC §7): [`Counts`] for `GET /health` (numbers only, no
//! names or content) and [`Snapshot`] for `GET /api/snapshot` (names,
//! states and titles; never message, post or task bodies).
//!
//! Both read without a write transaction, so they keep working while the
//! disk is full or another process holds the write lock.

use rusqlite::params;
use serde::Serialize;

use super::Store;
use super::agents::{ONLINE_WITHIN_MS, Presence};
use crate::clock::{Millis, rfc3339};
use crate::error::Result;

/// Task states that are not final: a snapshot lists these as open.
const OPEN_STATES: &str = "('queued', 'posted', 'accepted', 'needs_recovery')";

/// Most agents, open tasks or channels one snapshot lists; the counts
/// say how many there are in all.
pub const MAX_SNAPSHOT_ROWS: usize = 1000;

/// How many outbox events a snapshot shows by default.
pub const DEFAULT_SNAPSHOT_EVENTS: usize = 50;

/// How much is in the store: numbers only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Registered agents.
    pub agents: i64,
    /// Agents whose presence is online (seen within 10 minutes).
    pub online_agents: i64,
    /// Tasks not in a final state (queued, posted, accepted,
    /// needs_recovery).
    pub open_tasks: i64,
    /// Channels.
    pub channels: i64,
    /// The newest outbox event id (0: none yet).
    pub latest_event_id: i64,
}

/// An agent as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotAgent {
    /// Its name.
    pub name: String,
    /// Its role (may be empty).
    pub role: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// Declared status: online, busy, away, offline.
    pub status: String,
    /// The note set with the status.
    pub status_note: Option<String>,
    /// Computed from `last_seen` (SPEC §2).
    pub presence: Presence,
    /// RFC 3339 time of its last call.
    pub last_seen: String,
    /// active, rotation_grace, recovery_pending or revoked.
    pub auth_state: String,
}

/// A task that is not finished, without its description or result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotTask {
    /// Task id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// queued, posted, accepted or needs_recovery.
    pub state: String,
    /// low, normal, high or critical.
    pub priority: String,
    /// Who posted it.
    pub requester: String,
    /// Who it is assigned to (`None` while queued).
    pub assignee: Option<String>,
    /// Accepts so far.
    pub attempts: i64,
    /// Most accepts allowed.
    pub max_attempts: i64,
    /// RFC 3339 end of the current lease (accepted tasks).
    pub lease_expires_at: Option<String>,
    /// RFC 3339 end of its TTL, if it has one.
    pub expires_at: Option<String>,
    /// RFC 3339 time it was posted.
    pub created_at: String,
}

/// A channel with its member count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotChannel {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Agents that have joined.
    pub member_count: i64,
}

/// One outbox event (ids and names only, like the outbox itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotEvent {
    /// Monotonic id.
    pub id: i64,
    /// e.g. `message`, `task_posted`.
    pub kind: String,
    /// The agent it is for; `None` for everyone concerned.
    pub target: Option<String>,
    /// The agent that caused it.
    pub actor: Option<String>,
    /// The message, channel message or task id.
    pub subject_id: Option<i64>,
    /// The channel, for channel events.
    pub channel: Option<String>,
    /// RFC 3339 time.
    pub created_at: String,
}

/// The whole store at a glance, for `GET /api/snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// RFC 3339 time the snapshot was taken.
    pub generated_at: String,
    /// Totals (the lists below stop at [`MAX_SNAPSHOT_ROWS`]).
    pub counts: Counts,
    /// Agents, by name.
    pub agents: Vec<SnapshotAgent>,
    /// Open tasks, oldest first.
    pub open_tasks: Vec<SnapshotTask>,
    /// Channels, by name.
    pub channels: Vec<SnapshotChannel>,
    /// The most recent outbox events, newest first.
    pub recent_events: Vec<SnapshotEvent>,
}

fn counts(c: &rusqlite::Connection, now: Millis) -> Result<Counts> {
    Ok(c.prepare_cached(&format!(
        "SELECT (SELECT COUNT(*) FROM agents),
                    (SELECT COUNT(*) FROM agents WHERE last_seen > ?1),
                    (SELECT COUNT(*) FROM tasks WHERE state IN {OPEN_STATES}),
                    (SELECT COUNT(*) FROM channels),
                    (SELECT COALESCE(MAX(id), 0) FROM events)"
    ))?
    .query_row([now - ONLINE_WITHIN_MS], |r| {
        Ok(Counts {
            agents: r.get(0)?,
            online_agents: r.get(1)?,
            open_tasks: r.get(2)?,
            channels: r.get(3)?,
            latest_event_id: r.get(4)?,
        })
    })?)
}

impl Store {
    /// How many agents, online agents, open tasks and channels there are,
    /// and the newest event id. No names, no content.
    pub fn counts(&self) -> Result<Counts> {
        self.read(counts)
    }

    /// Agents, open tasks and channels (each up to [`MAX_SNAPSHOT_ROWS`])
    /// and the `events` most recent outbox events (at most
    /// [`MAX_SNAPSHOT_ROWS`]). Titles and names, never bodies: message
    /// and task content stay out even without encryption.
    pub fn snapshot(&self, events: usize) -> Result<Snapshot> {
        let cap = MAX_SNAPSHOT_ROWS as i64;
        self.read(|c, now| {
            let counts = counts(c, now)?;
            let agents = c
                .prepare_cached(
                    "SELECT name, role, capabilities, status, status_note, last_seen, auth_state
                     FROM agents ORDER BY name LIMIT ?1",
                )?
                .query_map([cap], |r| {
                    let caps: String = r.get(2)?;
                    let last_seen: Millis = r.get(5)?;
                    Ok(SnapshotAgent {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        capabilities: serde_json::from_str(&caps).unwrap_or_default(),
                        status: r.get(3)?,
                        status_note: r.get(4)?,
                        presence: Presence::at(last_seen, now),
                        last_seen: rfc3339(last_seen),
                        auth_state: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let open_tasks = c
                .prepare_cached(&format!(
                    "SELECT id, title, state, priority, requester, assignee, attempts, max_attempts,
                            lease_expires_at, expires_at, created_at
                     FROM tasks WHERE state IN {OPEN_STATES} ORDER BY id LIMIT ?1"
                ))?
                .query_map([cap], |r| {
                    Ok(SnapshotTask {
                        id: r.get(0)?,
                        title: r.get(1)?,
                        state: r.get(2)?,
                        priority: r.get(3)?,
                        requester: r.get(4)?,
                        assignee: r.get(5)?,
                        attempts: r.get(6)?,
                        max_attempts: r.get(7)?,
                        lease_expires_at: r.get::<_, Option<Millis>>(8)?.map(rfc3339),
                        expires_at: r.get::<_, Option<Millis>>(9)?.map(rfc3339),
                        created_at: rfc3339(r.get(10)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let channels = c
                .prepare_cached(
                    "SELECT ch.name, ch.description, ch.created_by, ch.created_at,
                            (SELECT COUNT(*) FROM channel_members m WHERE m.channel_id = ch.id)
                     FROM channels ch ORDER BY ch.name LIMIT ?1",
                )?
                .query_map([cap], |r| {
                    Ok(SnapshotChannel {
                        name: r.get(0)?,
                        description: r.get(1)?,
                        created_by: r.get(2)?,
                        created_at: rfc3339(r.get(3)?),
                        member_count: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let recent_events = c
                .prepare_cached(
                    "SELECT id, kind, target, actor, subject_id, channel, created_at
                     FROM events ORDER BY id DESC LIMIT ?1",
                )?
                .query_map(params![events.min(MAX_SNAPSHOT_ROWS) as i64], |r| {
                    Ok(SnapshotEvent {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        target: r.get(2)?,
                        actor: r.get(3)?,
                        subject_id: r.get(4)?,
                        channel: r.get(5)?,
                        created_at: rfc3339(r.get(6)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Snapshot {
                generated_at: rfc3339(now),
                counts,
                agents,
                open_tasks,
                channels,
                recent_events,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::agents::Credential;
    use crate::store::tasks::NewTask;
    use crate::store::{Caller, Limits, Registration};

    #[test]
    fn snapshot_lists_agents_open_tasks_channels_and_events_without_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_700_000_000_000);
        let store = Store::open(&dir.path().join("relay.db"), clock.clone(), Limits::default()).unwrap();
        assert_eq!(store.counts().unwrap(), Counts::default());
        let caps = vec!["tasks".to_owned(), "channels".to_owned()];
        for name in ["alice", "bob"] {
            let reg = Registration {
                name: name.into(),
                capabilities: caps.clone(),
                ..Default::default()
            };
            store
                .register_agent(
                    &reg,
                    Credential::None,
                    &[
                        crate::store::words::Capability::Tasks,
                        crate::store::words::Capability::Channels,
                    ],
                    crate::store::words::Transport::Http,
                )
                .unwrap();
        }
        let alice = Caller {
            agent: "alice",
            transport: crate::store::words::Transport::Http,
        };
        store.create_channel(alice, "general", Some("all hands")).unwrap();
        store
            .send_message(alice, "bob", "secret body", Default::default(), None)
            .unwrap();
        let task = NewTask {
            to: Some("bob".into()),
            title: "review the patch".into(),
            description: "confidential description".into(),
            ..Default::default()
        };
        store.post_task(alice, &task).unwrap();
        clock.advance(11 * 60 * 1000);

        let counts = store.counts().unwrap();
        assert_eq!(
            (counts.agents, counts.online_agents, counts.open_tasks, counts.channels),
            (2, 0, 1, 1)
        );
        let snap = store.snapshot(DEFAULT_SNAPSHOT_EVENTS).unwrap();
        assert_eq!(snap.counts, counts);
        let names: Vec<_> = snap.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(snap.agents[0].presence, Presence::Stale);
        assert_eq!(snap.open_tasks.len(), 1);
        assert_eq!(snap.open_tasks[0].title, "review the patch");
        assert_eq!(snap.open_tasks[0].assignee.as_deref(), Some("bob"));
        assert_eq!(snap.channels[0].member_count, 1);
        assert!(snap.recent_events.windows(2).all(|w| w[0].id > w[1].id));
        assert_eq!(snap.recent_events[0].id, counts.latest_event_id);
        let json = serde_json::to_string(&snap).unwrap();
        assert!(
            !json.contains("secret body") && !json.contains("confidential"),
            "{json}"
        );
        assert_eq!(store.snapshot(1).unwrap().recent_events.len(), 1);
    }
}
