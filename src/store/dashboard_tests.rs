//! The dashboard's reads and the operator's actions, on a store driven by
//! a [`ManualClock`](crate::clock::ManualClock).

use super::*;
use crate::ErrorCode;
use crate::store::delivery::ReadReceipt;
use crate::store::tasks::{Action, NewTask, Update};
use crate::store::tests::{T, caller, store};

const SECOND: i64 = 1000;

fn setup() -> (tempfile::TempDir, Store, std::sync::Arc<crate::clock::ManualClock>) {
    let (d, s, c) = store();
    let caps = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    s.bind_agent("boss", None, Some(&caps(&["tasks", "channels"])), T)
        .unwrap();
    s.bind_agent("w1", None, Some(&caps(&["tasks", "channels"])), T)
        .unwrap();
    (d, s, c)
}

fn post(s: &Store, title: &str, write: bool) -> i64 {
    let new = NewTask {
        to: Some("w1".into()),
        title: title.into(),
        description: format!("confidential {title}"),
        write,
        ..Default::default()
    };
    s.post_task(caller("boss"), &new).unwrap().task.id
}

fn accept(s: &Store, id: i64, lease: u32) -> i64 {
    let u = Update {
        lease_seconds: Some(lease),
        ..Default::default()
    };
    s.update_task(caller("w1"), id, Action::Accept, &u)
        .unwrap()
        .fencing_token
}

/// The newest audit row: agent, tool, outcome, transport, params.
fn last_audit(s: &Store) -> (Option<String>, String, String, String, serde_json::Value) {
    s.read(|c, _| {
        Ok(c.query_row(
            "SELECT agent, tool, outcome, transport, relay_open('audit.params', params) FROM audit ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                let params: String = r.get(4)?;
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    serde_json::from_str(&params).unwrap(),
                ))
            },
        )?)
    })
    .unwrap()
}

fn audit_rows(s: &Store) -> i64 {
    s.read(|c, _| Ok(c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?))
        .unwrap()
}

#[test]
fn overview_counts_and_charts_name_nobody_and_show_no_content() {
    let (_d, s, clock) = setup();
    s.create_channel(caller("boss"), "general", None).unwrap();
    let sent = s
        .send_message(caller("boss"), "w1", "zebra-body", Default::default(), None)
        .unwrap();
    s.post_to_channel(caller("boss"), "general", "quokka-post", Default::default())
        .unwrap();
    let done = post(&s, "platypus-title", false);
    clock.advance(3 * SECOND);
    let token = accept(&s, done, 60);
    let complete = Update {
        result: Some("ok".into()),
        fencing_token: Some(token),
        ..Default::default()
    };
    s.update_task(caller("w1"), done, Action::Complete, &complete).unwrap();
    post(&s, "open-one", false);
    clock.advance(SECOND / 4);
    s.confirm_delivery(&ReadReceipt::Messages {
        agent: "w1".into(),
        message_ids: vec![sent.message_id],
    })
    .unwrap();

    let o = s.dashboard_overview(Viewer::Counts, true).unwrap();
    assert_eq!((o.agents.total, o.agents.online, o.agents.offline), (2, 2, 0));
    assert_eq!((o.tasks.posted, o.tasks.completed), (1, 1));
    assert_eq!((o.messages.total, o.messages.unread), (1, 0));
    assert_eq!((o.channels.total, o.channels.posts), (1, 1));
    assert_eq!(o.latest_event_id, s.latest_event_id().unwrap());
    assert_eq!(o.charts.minute_start_ms % 60_000, 0);
    assert_eq!(o.charts.messages_per_minute.len(), CHART_MINUTES);
    // The message and the post, all in the current minute or the one
    // before (the clock moved 3 s).
    assert_eq!(o.charts.messages_per_minute.iter().sum::<i64>(), 2);
    assert_eq!(o.charts.completions_per_minute.iter().sum::<i64>(), 1);
    assert_eq!(o.charts.post_to_completed, [0, 1, 0, 0, 0, 0, 0]);
    assert_eq!(o.charts.delivery_ms.count, 1);
    assert_eq!(o.charts.delivery_ms.p50, Some(3250));
    let json = serde_json::to_string(&o).unwrap();
    for secret in ["boss", "w1", "zebra", "quokka", "platypus", "general", "confidential"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }

    // An hour later the charts are empty again; the counts stay.
    clock.advance(61 * 60 * SECOND);
    let o = s.dashboard_overview(Viewer::Operator, true).unwrap();
    assert_eq!(o.viewer, Viewer::Operator);
    assert_eq!(o.charts.messages_per_minute.iter().sum::<i64>(), 0);
    assert_eq!(o.charts.delivery_ms, DeliveryLatency::default());
    assert_eq!((o.agents.online, o.agents.stale, o.agents.offline), (0, 0, 2));
    assert_eq!(o.messages.total, 1);
}

#[test]
fn board_lists_open_tasks_parked_first_and_events_with_content_cut_to_500_chars() {
    let (_d, s, clock) = setup();
    let long = "é".repeat(MAX_EVENT_TEXT_CHARS + 10);
    s.send_message(caller("boss"), "w1", &long, Default::default(), None)
        .unwrap();
    let first = post(&s, "first", false);
    clock.advance(SECOND);
    let parked = post(&s, "parked", true);
    accept(&s, parked, 10);
    clock.advance(11 * SECOND);
    s.sweep_tasks().unwrap();

    let board = s.dashboard_board().unwrap();
    let names: Vec<_> = board.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["boss", "w1"]);
    assert_eq!(board.agents[1].unread, 1);
    let open: Vec<_> = board.open_tasks.iter().map(|t| (t.id, t.state)).collect();
    assert_eq!(open, [(parked, TaskState::NeedsRecovery), (first, TaskState::Posted)]);
    assert_eq!(board.open_tasks[1].age_seconds, 12);
    let message = board.recent_events.iter().find(|e| e.kind == Kind::Message).unwrap();
    let text = message.detail.as_ref().unwrap().text.as_deref().unwrap();
    assert_eq!(text.chars().count(), MAX_EVENT_TEXT_CHARS + 1);
    assert!(text.ends_with('…'));
    let posted = board
        .recent_events
        .iter()
        .find(|e| e.kind == Kind::TaskPosted && e.detail.as_ref().unwrap().subject_id == Some(first))
        .unwrap();
    let detail = posted.detail.as_ref().unwrap();
    assert_eq!(
        (detail.text.as_deref(), detail.task_state),
        (Some("first"), Some(TaskState::Posted))
    );

    let counts = s.dashboard_events_after(0, 100, Viewer::Counts).unwrap();
    assert!(counts.iter().all(|e| e.detail.is_none()));
    let json = serde_json::to_value(&counts[0]).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 3, "{json}");
    let ops = s.dashboard_events_after(0, 100, Viewer::Operator).unwrap();
    assert_eq!(
        ops.iter().map(|e| e.id).collect::<Vec<_>>(),
        counts.iter().map(|e| e.id).collect::<Vec<_>>()
    );

    let detail = s.dashboard_task(parked).unwrap();
    assert_eq!(detail.task.description, "confidential parked");
    assert!(detail.task.write);
    let actions: Vec<_> = detail.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["post", "accept", "lease_expired"]);
    assert_eq!(s.dashboard_task(999).unwrap_err().code, ErrorCode::NotFound);
}

#[test]
fn unread_counts_stop_at_their_caps_and_say_so() {
    let (_d, s, _clock) = setup();
    let o = s.dashboard_overview(Viewer::Counts, true).unwrap();
    assert_eq!((o.messages.unread, o.messages.unread_capped), (0, false));
    // `w1` gets exactly the agent cap, `boss` one more; then the overview
    // cap exactly, then one more.
    let seed = |to: &str, n: i64| {
        s.write(|tx, now| {
            let mut m = tx.prepare(
                "INSERT INTO messages (sender, kind, content, priority, created_at) VALUES ('x', 'direct', 'c', 'normal', ?1)",
            )?;
            let mut r = tx.prepare("INSERT INTO message_recipients (recipient, message_id) VALUES (?1, ?2)")?;
            for _ in 0..n {
                m.execute([now])?;
                r.execute(params![to, tx.last_insert_rowid()])?;
            }
            Ok(())
        })
        .unwrap();
    };
    seed("w1", MAX_AGENT_UNREAD_COUNT);
    seed("boss", MAX_AGENT_UNREAD_COUNT + 1);
    let board = s.dashboard_board().unwrap();
    let unread: Vec<_> = board
        .agents
        .iter()
        .map(|a| (a.name.as_str(), a.unread, a.unread_capped))
        .collect();
    assert_eq!(
        unread,
        [
            ("boss", MAX_AGENT_UNREAD_COUNT, true),
            ("w1", MAX_AGENT_UNREAD_COUNT, false)
        ]
    );
    let json = serde_json::to_value(&board.agents[0]).unwrap();
    assert_eq!(json["unread_capped"], true);

    seed("nobody", MAX_UNREAD_COUNT - 2 * MAX_AGENT_UNREAD_COUNT - 1);
    let o = s.dashboard_overview(Viewer::Counts, true).unwrap();
    assert_eq!((o.messages.unread, o.messages.unread_capped), (MAX_UNREAD_COUNT, false));
    assert_eq!(o.messages.total, MAX_UNREAD_COUNT);
    seed("nobody", 1);
    let o = s.dashboard_overview(Viewer::Counts, true).unwrap();
    assert_eq!((o.messages.unread, o.messages.unread_capped), (MAX_UNREAD_COUNT, true));
    assert_eq!(o.messages.total, MAX_UNREAD_COUNT + 1, "the total is exact");
    let json = serde_json::to_value(o).unwrap();
    assert_eq!(json["messages"]["unread_capped"], true);
}

#[test]
fn the_board_lists_at_most_200_open_tasks_parked_first_and_counts_them_all() {
    let (_d, s, clock) = setup();
    let first = post(&s, "first", false);
    for i in 0..MAX_OPEN_TASKS + 9 {
        clock.advance(1);
        post(&s, &format!("task {i}"), false);
    }
    clock.advance(SECOND);
    let parked = post(&s, "parked", true);
    accept(&s, parked, 10);
    clock.advance(11 * SECOND);
    s.sweep_tasks().unwrap();
    let board = s.dashboard_board().unwrap();
    assert_eq!(board.open_tasks.len(), MAX_OPEN_TASKS);
    assert_eq!(board.open_tasks_total, MAX_OPEN_TASKS as i64 + 11);
    assert_eq!((board.open_tasks[0].id, board.open_tasks[1].id), (parked, first));
    let json = serde_json::to_value(&board).unwrap();
    assert_eq!(json["open_tasks_total"], MAX_OPEN_TASKS as i64 + 11);
}

#[test]
fn the_operator_cancels_any_open_task_with_history_events_and_an_audit_row() {
    let (_d, s, _clock) = setup();
    let id = post(&s, "build", false);
    accept(&s, id, 60);
    let before = s.latest_event_id().unwrap();
    let row = s
        .operator_task(id, OperatorAction::Cancel, Some("stuck"), "127.0.0.1")
        .unwrap();
    assert_eq!(row.state, TaskState::Cancelled);
    assert!(row.finished_at.is_some());
    let history = s.dashboard_task(id).unwrap().history;
    let last = history.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_deref(), last.to_state.as_str()),
        ("cancel", Some(tasks::OPERATOR_ACTOR), "cancelled")
    );
    let events = s.events_after(before, 10).unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.kind, e.target.as_deref(), e.actor.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::TaskCancelled, Some("w1"), None),
            (Kind::TaskFinished, Some("boss"), None)
        ]
    );
    let (agent, tool, outcome, transport, params) = last_audit(&s);
    assert_eq!(
        (agent, tool.as_str(), outcome.as_str(), transport.as_str()),
        (None, "dashboard.cancel_task", "ok", "http")
    );
    assert_eq!(params, serde_json::json!({"task_id": id, "client_ip": "127.0.0.1"}));

    // A terminal task: INVALID_STATE, nothing changes but a failure row.
    let events = s.latest_event_id().unwrap();
    let rows = audit_rows(&s);
    let e = s
        .operator_task(id, OperatorAction::Cancel, None, "127.0.0.1")
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert_eq!(s.latest_event_id().unwrap(), events);
    assert_eq!(s.dashboard_task(id).unwrap().history.len(), history.len());
    assert_eq!(audit_rows(&s), rows + 1);
    let (agent, tool, outcome, transport, _) = last_audit(&s);
    assert_eq!(
        (agent, tool.as_str(), outcome.as_str(), transport.as_str()),
        (None, "dashboard.cancel_task", "INVALID_STATE", "http")
    );
    let e = s
        .operator_task(404, OperatorAction::Cancel, None, "127.0.0.1")
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(last_audit(&s).2, "NOT_FOUND");
    let e = s
        .operator_task(
            id,
            OperatorAction::Cancel,
            Some(&"x".repeat(MAX_REASON_CHARS + 1)),
            "::1",
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation);
}

#[test]
fn the_operator_recovers_a_parked_task_with_attempts_reset_and_nothing_else() {
    let (_d, s, clock) = setup();
    let id = post(&s, "migrate", true);
    accept(&s, id, 10);
    clock.advance(11 * SECOND);
    s.sweep_tasks().unwrap();
    assert_eq!(s.task_state(id).unwrap(), TaskState::NeedsRecovery);
    let before = s.latest_event_id().unwrap();
    let row = s.operator_task(id, OperatorAction::Recover, None, "10.0.0.7").unwrap();
    assert_eq!((row.state, row.attempts), (TaskState::Posted, 0));
    let events = s.events_after(before, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].target.as_deref()),
        (Kind::TaskPosted, Some("w1"))
    );
    let last = s.dashboard_task(id).unwrap().history.pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_deref()),
        ("recover", Some("operator"))
    );
    let (agent, tool, outcome, transport, params) = last_audit(&s);
    assert_eq!(
        (agent, tool.as_str(), outcome.as_str(), transport.as_str()),
        (None, "dashboard.recover_task", "ok", "http")
    );
    assert_eq!(params["client_ip"], "10.0.0.7");

    // Posted now: recover is INVALID_STATE and changes nothing.
    let e = s
        .operator_task(id, OperatorAction::Recover, None, "10.0.0.7")
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert_eq!(s.task_state(id).unwrap(), TaskState::Posted);
    assert_eq!(last_audit(&s).2, "INVALID_STATE");
}

#[test]
fn the_operator_revokes_through_the_credentials_table_audited_as_http_without_an_agent() {
    let (_d, s, _clock) = setup();
    let before = s.latest_event_id().unwrap();
    let revoked = s.operator_revoke("w1", true, "127.0.0.1").unwrap();
    assert_eq!(revoked.auth_state, AuthState::RecoveryPending);
    assert!(revoked.recovery_token.as_deref().is_some_and(|t| t.starts_with("rly_")));
    let events = s.events_after(before, 10).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| (e.kind, e.target.as_deref(), e.actor.as_deref()))
            .collect::<Vec<_>>(),
        [(Kind::TokenRevoked, Some("w1"), None)]
    );
    let (agent, tool, outcome, transport, params) = last_audit(&s);
    assert_eq!(
        (agent, tool.as_str(), outcome.as_str(), transport.as_str()),
        (None, "dashboard.revoke_token", "ok", "http")
    );
    assert_eq!(
        params,
        serde_json::json!({"agent": "w1", "client_ip": "127.0.0.1", "issue_recovery": true})
    );
    let rows = audit_rows(&s);
    let e = s.operator_revoke("w1", false, "127.0.0.1").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    let e = s.operator_revoke("nobody", false, "127.0.0.1").unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(audit_rows(&s), rows + 2);
    let (agent, tool, outcome, _, params) = last_audit(&s);
    assert_eq!(
        (agent, tool.as_str(), outcome.as_str()),
        (None, "dashboard.revoke_token", "NOT_FOUND")
    );
    assert_eq!(params["agent"], "nobody");
    assert_eq!(s.latest_event_id().unwrap(), before + 1);
}

/// Not a test of behaviour: seeds 100,000 messages (each to `w1`, 90 %
/// read, and unread to one of 36 more agents: ~110,000 unread rows, like
/// the bench's store) and 10,000 tasks over two days and prints how long the overview and the board take
/// (`cargo test --lib dashboard_reads_on_a_large_store -- --ignored
/// --nocapture`). Timings are not asserted.
#[test]
#[ignore]
fn dashboard_reads_on_a_large_store() {
    const AGENTS: i64 = 36;
    let (_d, s, clock) = setup();
    let start = s.now();
    let span = 2 * 24 * 60 * 60 * SECOND;
    let t0 = std::time::Instant::now();
    s.write(|tx, _| {
        let mut m = tx.prepare(
            "INSERT INTO messages (sender, kind, content, priority, created_at) VALUES ('boss', 'direct', relay_seal('messages.content', ?1), 'normal', ?2)",
        )?;
        let mut r =
            tx.prepare("INSERT INTO message_recipients (recipient, message_id, read_at) VALUES ('w1', ?1, ?2)")?;
        let mut e = tx.prepare(
            "INSERT INTO events (kind, target, actor, subject_id, created_at) VALUES ('message', 'w1', 'boss', ?1, ?2)",
        )?;
        let mut a = tx.prepare(
            "INSERT INTO agents (name, capabilities, created_at, last_seen) VALUES (?1, '[\"tasks\"]', ?2, ?2)",
        )?;
        for i in 0..AGENTS {
            a.execute(params![format!("a{i:02}"), start])?;
        }
        let mut u = tx.prepare("INSERT INTO message_recipients (recipient, message_id) VALUES (?1, ?2)")?;
        for i in 0..100_000i64 {
            let at = start + span * i / 100_000;
            m.execute(params![format!("message body {i}"), at])?;
            let id = tx.last_insert_rowid();
            r.execute(params![id, (i % 10 != 0).then_some(at + 40)])?;
            // ~100,000 unread (message, recipient) rows, as the bench's store has.
            u.execute(params![format!("a{:02}", i % AGENTS), id])?;
            e.execute(params![id, at])?;
        }
        let mut t = tx.prepare(
            "INSERT INTO tasks (requester, assignee, title, description, priority, state, content_hash, max_attempts,
                                created_at, updated_at, finished_at)
             VALUES ('boss', 'w1', ?1, relay_seal('tasks.description', 'd'), 'normal', ?2, x'00', 3, ?3, ?3, ?4)",
        )?;
        let mut h = tx.prepare(
            "INSERT INTO task_events (task_id, action, from_state, to_state, actor, created_at) VALUES (?1, 'complete', 'accepted', ?2, 'w1', ?3)",
        )?;
        for i in 0..10_000i64 {
            let at = start + span * i / 10_000;
            let state = if i % 20 == 0 { "posted" } else { "completed" };
            let finished = (state == "completed").then_some(at + 30 * SECOND);
            t.execute(params![format!("task {i}"), state, at, finished])?;
            h.execute(params![tx.last_insert_rowid(), state, at + 30 * SECOND])?;
        }
        Ok(())
    })
    .unwrap();
    eprintln!("seeded in {:?}", t0.elapsed());
    clock.advance(span);
    for round in 0..3 {
        let t = std::time::Instant::now();
        let o = s.dashboard_overview(Viewer::Counts, true).unwrap();
        let overview = t.elapsed();
        let t = std::time::Instant::now();
        let b = s.dashboard_board().unwrap();
        let board = t.elapsed();
        let t = std::time::Instant::now();
        let json = serde_json::to_vec(&b).unwrap();
        let gzip = crate::http::dashboard_cache::gzip(&json).unwrap();
        let encode = t.elapsed();
        let t = std::time::Instant::now();
        let total: i64 = s
            .read(|c, _| Ok(c.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?))
            .unwrap();
        let count_messages = t.elapsed();
        eprintln!(
            "round {round}: board JSON {} B, gzip {} B, encoded in {encode:?}; COUNT(*) of {total} messages {count_messages:?}; \
             unread {} (capped {}), open {} of {}",
            json.len(),
            gzip.len(),
            o.messages.unread,
            o.messages.unread_capped,
            b.open_tasks.len(),
            b.open_tasks_total
        );
        let cache = crate::http::dashboard_cache::Cache::new(s.clock());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let compute = || async {
            Ok((
                s.latest_event_id()?,
                crate::http::dashboard_cache::Encoded::json(&s.dashboard_board()?)?,
            ))
        };
        let t = std::time::Instant::now();
        rt.block_on(cache.get("board", o.latest_event_id, compute)).unwrap();
        let miss = t.elapsed();
        let t = std::time::Instant::now();
        let hit = rt.block_on(async {
            let head = s.latest_event_id()?;
            cache.get("board", head, compute).await
        });
        let hit_time = t.elapsed();
        eprintln!(
            "round {round}: board through the cache: miss {miss:?}, hit (head read + kept bytes) {hit_time:?} ({} B gzip)",
            hit.unwrap().gzip.len()
        );
        let t = std::time::Instant::now();
        let ev = s
            .dashboard_events_after(o.latest_event_id - 1000, 256, Viewer::Operator)
            .unwrap();
        let events = t.elapsed();
        eprintln!(
            "round {round}: overview {overview:?} (messages {}, last hour {}, delivery {:?}), board {board:?} \
             ({} open, {} recent), 256 operator events {events:?} ({})",
            o.messages.total,
            o.charts.messages_per_minute.iter().sum::<i64>(),
            o.charts.delivery_ms,
            b.open_tasks.len(),
            b.recent_tasks.len(),
            ev.len()
        );
    }
}
