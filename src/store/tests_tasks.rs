//! Task state machine tests (SPEC §4), driven by a [`ManualClock`]: leases
//! and TTLs run out by moving the clock, never by sleeping.

use super::events;
use super::tasks::{Action, NewTask, TaskRole, TaskState, Update};
use super::tests::{T, caller, store};
use crate::ErrorCode;

const SECOND: i64 = 1000;

fn to(agent: &str, title: &str) -> NewTask {
    NewTask {
        to: Some(agent.into()),
        title: title.into(),
        description: format!("do {title}"),
        ..Default::default()
    }
}

fn caps(names: &[&str]) -> Vec<String> {
    names.iter().map(|c| c.to_string()).collect()
}

fn setup() -> (
    tempfile::TempDir,
    super::Store,
    std::sync::Arc<crate::clock::ManualClock>,
) {
    let (d, s, c) = store();
    s.bind_agent("boss", None, Some(&caps(&["tasks"])), T).unwrap();
    s.bind_agent("w1", None, Some(&caps(&["tasks", "rust"])), T).unwrap();
    (d, s, c)
}

fn accept(s: &super::Store, who: &str, id: i64, lease: u32) -> i64 {
    let u = Update {
        lease_seconds: Some(lease),
        ..Default::default()
    };
    s.update_task(caller(who), id, Action::Accept, &u)
        .unwrap()
        .fencing_token
}

fn with_token(token: i64) -> Update {
    Update {
        fencing_token: Some(token),
        ..Default::default()
    }
}

#[test]
fn post_accept_complete_with_fencing_and_idempotent_complete() {
    let (_d, s, _c) = setup();
    let posted = s.post_task(caller("boss"), &to("w1", "build")).unwrap();
    assert_eq!(posted.task.state, TaskState::Posted);
    let id = posted.task.id;
    let token = accept(&s, "w1", id, 60);
    assert_eq!(token, 1);
    let done = Update {
        result: Some("ok".into()),
        fencing_token: Some(token),
        ..Default::default()
    };
    let t = s.update_task(caller("w1"), id, Action::Complete, &done).unwrap();
    assert_eq!(t.state, TaskState::Completed);
    assert_eq!(t.result.as_deref(), Some("ok"));
    // The same complete again (a retry after a lost reply) is idempotent.
    assert_eq!(
        s.update_task(caller("w1"), id, Action::Complete, &done).unwrap().state,
        TaskState::Completed
    );
    let (_, history) = s.get_task(caller("boss"), id).unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["post", "accept", "complete"]);
    assert_eq!(history[1].fencing_token, Some(1));
}

#[test]
fn lease_expiry_requeues_with_an_attempt_and_the_old_token_goes_stale() {
    let (_d, s, clock) = setup();
    let id = s.post_task(caller("boss"), &to("w1", "t")).unwrap().task.id;
    let old = accept(&s, "w1", id, 30);
    clock.advance(31 * SECOND);
    let (task, _) = s.get_task(caller("boss"), id).unwrap();
    assert_eq!(task.state, TaskState::Posted);
    assert_eq!(task.attempts, 1);
    let new = accept(&s, "w1", id, 30);
    assert_eq!(new, old + 1);
    let e = s
        .update_task(caller("w1"), id, Action::Complete, &with_token(old))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::StaleLease);
    assert_eq!(s.get_task(caller("boss"), id).unwrap().0.state, TaskState::Accepted);
    s.update_task(caller("w1"), id, Action::Complete, &with_token(new))
        .unwrap();
}

#[test]
fn heartbeat_renews_the_lease() {
    let (_d, s, clock) = setup();
    let id = s.post_task(caller("boss"), &to("w1", "t")).unwrap().task.id;
    let token = accept(&s, "w1", id, 30);
    for _ in 0..5 {
        clock.advance(20 * SECOND);
        let hb = Update {
            lease_seconds: Some(30),
            fencing_token: Some(token),
            ..Default::default()
        };
        assert_eq!(
            s.update_task(caller("w1"), id, Action::Heartbeat, &hb).unwrap().state,
            TaskState::Accepted
        );
    }
    assert_eq!(s.get_task(caller("boss"), id).unwrap().0.attempts, 0);
}

#[test]
fn lease_expiry_parks_write_task_instead_of_requeue_and_recover_reposts_it() {
    let (_d, s, clock) = setup();
    let id = s
        .post_task(
            caller("boss"),
            &NewTask {
                write: true,
                ..to("w1", "migrate")
            },
        )
        .unwrap()
        .task
        .id;
    accept(&s, "w1", id, 10);
    clock.advance(11 * SECOND);
    assert_eq!(s.sweep_tasks().unwrap(), 1);
    let (task, _) = s.get_task(caller("boss"), id).unwrap();
    assert_eq!(task.state, TaskState::NeedsRecovery);
    let e = s
        .update_task(caller("w1"), id, Action::Recover, &Update::default())
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotParty);
    let t = s
        .update_task(caller("boss"), id, Action::Recover, &Update::default())
        .unwrap();
    assert_eq!((t.state, t.attempts), (TaskState::Posted, 0));
}

#[test]
fn exhausted_attempts_fail_the_task() {
    let (_d, s, clock) = setup();
    let id = s
        .post_task(
            caller("boss"),
            &NewTask {
                max_attempts: Some(2),
                ..to("w1", "t")
            },
        )
        .unwrap()
        .task
        .id;
    accept(&s, "w1", id, 5);
    clock.advance(6 * SECOND);
    s.sweep_tasks().unwrap();
    accept(&s, "w1", id, 5);
    clock.advance(6 * SECOND);
    s.sweep_tasks().unwrap();
    let task = s.get_task(caller("boss"), id).unwrap().0;
    assert_eq!((task.state, task.attempts), (TaskState::Failed, 2));
    // fail with retry also respects max_attempts.
    let id = s
        .post_task(
            caller("boss"),
            &NewTask {
                max_attempts: Some(2),
                ..to("w1", "u")
            },
        )
        .unwrap()
        .task
        .id;
    let retry = |t| Update {
        retry: true,
        error: Some("flaky".into()),
        fencing_token: Some(t),
        ..Default::default()
    };
    let t1 = accept(&s, "w1", id, 60);
    assert_eq!(
        s.update_task(caller("w1"), id, Action::Fail, &retry(t1)).unwrap().state,
        TaskState::Posted
    );
    let t2 = accept(&s, "w1", id, 60);
    let last = s.update_task(caller("w1"), id, Action::Fail, &retry(t2)).unwrap();
    assert_eq!(
        (last.state, last.attempts, last.error.as_deref()),
        (TaskState::Failed, 2, Some("flaky"))
    );
}

#[test]
fn ttl_expires_open_tasks_and_parks_an_accepted_write_task() {
    let (_d, s, clock) = setup();
    let open = s
        .post_task(
            caller("boss"),
            &NewTask {
                ttl_seconds: Some(60),
                ..to("w1", "a")
            },
        )
        .unwrap()
        .task
        .id;
    let write = NewTask {
        ttl_seconds: Some(60),
        write: true,
        ..to("w1", "b")
    };
    let running = s.post_task(caller("boss"), &write).unwrap().task.id;
    accept(&s, "w1", running, 3600);
    clock.advance(61 * SECOND);
    assert_eq!(s.get_task(caller("boss"), open).unwrap().0.state, TaskState::Expired);
    assert_eq!(
        s.get_task(caller("boss"), running).unwrap().0.state,
        TaskState::NeedsRecovery
    );
    let finished: Vec<_> = s
        .events_after(0, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == events::Kind::TaskFinished)
        .collect();
    assert_eq!(finished.len(), 2);
    assert!(finished.iter().all(|e| e.target.as_deref() == Some("boss")));
}

#[test]
fn idempotency_key_dedupes_and_conflicts() {
    let (_d, s, _c) = setup();
    let t = NewTask {
        request_id: Some("job-1".into()),
        ..to("w1", "once")
    };
    let first = s.post_task(caller("boss"), &t).unwrap();
    let again = s.post_task(caller("boss"), &t).unwrap();
    assert!(!first.deduped && again.deduped);
    assert_eq!(first.task.id, again.task.id);
    let changed = NewTask {
        description: "something else".into(),
        ..t.clone()
    };
    assert_eq!(
        s.post_task(caller("boss"), &changed).unwrap_err().code,
        ErrorCode::IdempotencyConflict
    );
    // A finished task comes back with its result.
    let token = accept(&s, "w1", first.task.id, 60);
    let done = Update {
        result: Some("42".into()),
        fencing_token: Some(token),
        ..Default::default()
    };
    s.update_task(caller("w1"), first.task.id, Action::Complete, &done)
        .unwrap();
    let replay = s.post_task(caller("boss"), &t).unwrap();
    assert_eq!((replay.deduped, replay.task.result.as_deref()), (true, Some("42")));
    assert_eq!(
        s.get_tasks(caller("boss"), TaskRole::Posted, None, 100).unwrap().len(),
        1
    );
}

#[test]
fn routing_picks_the_least_loaded_capable_agent_or_queues_until_one_registers() {
    let (_d, s, clock) = setup();
    clock.advance(SECOND);
    s.bind_agent("w2", None, Some(&caps(&["tasks", "rust"])), T).unwrap();
    s.bind_agent("py", None, Some(&caps(&["tasks", "python"])), T).unwrap();
    let route = |title: &str, need: &[&str]| NewTask {
        required_capabilities: caps(need),
        title: title.into(),
        description: "x".into(),
        ..Default::default()
    };
    // Equal load: the most recently seen wins (w2 was bound last).
    let a = s.post_task(caller("boss"), &route("a", &["rust"])).unwrap().task;
    assert_eq!(a.assignee.as_deref(), Some("w2"));
    assert!(a.auto_routed);
    let b = s.post_task(caller("boss"), &route("b", &["rust"])).unwrap().task;
    assert_eq!(b.assignee.as_deref(), Some("w1"));
    let queued = s.post_task(caller("boss"), &route("c", &["go"])).unwrap().task;
    assert_eq!((queued.state, queued.assignee), (TaskState::Queued, None));
    clock.advance(SECOND);
    s.bind_agent("gopher", None, Some(&caps(&["tasks", "go"])), T).unwrap();
    let c = s.get_task(caller("boss"), queued.id).unwrap().0;
    assert_eq!((c.state, c.assignee.as_deref()), (TaskState::Posted, Some("gopher")));
}

#[test]
fn an_expired_lease_reroutes_an_auto_routed_task_away_from_an_offline_assignee() {
    let (_d, s, clock) = setup();
    let t = NewTask {
        required_capabilities: caps(&["rust"]),
        title: "r".into(),
        ..Default::default()
    };
    let id = s.post_task(caller("boss"), &t).unwrap().task.id;
    accept(&s, "w1", id, 60);
    // w1 vanishes for two hours; w2 appears meanwhile.
    clock.advance(2 * 3600 * SECOND);
    s.bind_agent("w2", None, Some(&caps(&["tasks", "rust"])), T).unwrap();
    s.bind_agent("boss", None, None, T).unwrap();
    let task = s.get_task(caller("boss"), id).unwrap().0;
    assert_eq!(
        (task.state, task.assignee.as_deref(), task.attempts),
        (TaskState::Posted, Some("w2"), 1)
    );
}

#[test]
fn cancel_is_seen_at_the_next_heartbeat_and_parties_are_checked() {
    let (_d, s, _c) = setup();
    s.bind_agent("stranger", None, Some(&caps(&["tasks"])), T).unwrap();
    let id = s.post_task(caller("boss"), &to("w1", "long")).unwrap().task.id;
    let token = accept(&s, "w1", id, 60);
    let e = s
        .update_task(caller("stranger"), id, Action::Cancel, &Update::default())
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotParty);
    assert_eq!(
        s.get_task(caller("stranger"), id).unwrap_err().code,
        ErrorCode::NotParty
    );
    s.update_task(caller("boss"), id, Action::Cancel, &Update::default())
        .unwrap();
    let hb = s
        .update_task(caller("w1"), id, Action::Heartbeat, &with_token(token))
        .unwrap();
    assert_eq!(hb.state, TaskState::Cancelled);
    let e = s
        .update_task(caller("w1"), id, Action::Complete, &with_token(token))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert!(
        s.events_after(0, 100)
            .unwrap()
            .iter()
            .any(|e| e.kind == events::Kind::TaskCancelled && e.target.as_deref() == Some("w1"))
    );
}

#[test]
fn reject_and_release_follow_the_table() {
    let (_d, s, _c) = setup();
    let id = s.post_task(caller("boss"), &to("w1", "a")).unwrap().task.id;
    // The requester may withdraw while posted.
    assert_eq!(
        s.update_task(caller("boss"), id, Action::Reject, &Update::default())
            .unwrap()
            .state,
        TaskState::Rejected
    );
    let id = s.post_task(caller("boss"), &to("w1", "b")).unwrap().task.id;
    let token = accept(&s, "w1", id, 60);
    let e = s
        .update_task(caller("boss"), id, Action::Reject, &Update::default())
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert_eq!(
        s.update_task(caller("w1"), id, Action::Release, &with_token(token))
            .unwrap()
            .state,
        TaskState::Posted
    );
    assert_eq!(accept(&s, "w1", id, 60), token + 1);
    let no = Update {
        error: Some("not mine".into()),
        ..Default::default()
    };
    assert_eq!(
        s.update_task(caller("w1"), id, Action::Reject, &no).unwrap().state,
        TaskState::Rejected
    );
}

#[test]
fn bad_task_input_is_refused() {
    let (_d, s, _c) = setup();
    let long_title = NewTask {
        title: "t".repeat(257),
        ..to("w1", "x")
    };
    assert_eq!(
        s.post_task(caller("boss"), &long_title).unwrap_err().code,
        ErrorCode::PayloadTooLarge
    );
    let nobody = NewTask {
        to: None,
        ..to("w1", "x")
    };
    assert_eq!(
        s.post_task(caller("boss"), &nobody).unwrap_err().code,
        ErrorCode::Validation
    );
    let huge = NewTask {
        description: "d".repeat(64 * 1024 + 1),
        ..to("w1", "x")
    };
    assert_eq!(
        s.post_task(caller("boss"), &huge).unwrap_err().code,
        ErrorCode::PayloadTooLarge
    );
    let e = s
        .update_task(caller("w1"), 999, Action::Accept, &Update::default())
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    s.bind_agent("plain", None, None, T).unwrap();
    assert_eq!(
        s.post_task(caller("plain"), &to("w1", "x")).unwrap_err().code,
        ErrorCode::CapDenied
    );
    assert!(
        s.get_tasks(caller("boss"), TaskRole::Posted, None, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_assignee_declared_away_keeps_its_task_when_the_lease_runs_out() {
    let (_d, s, clock) = setup();
    let t = NewTask {
        required_capabilities: caps(&["rust"]),
        title: "r".into(),
        ..Default::default()
    };
    let id = s.post_task(caller("boss"), &t).unwrap().task.id;
    accept(&s, "w1", id, 60);
    s.set_status(caller("w1"), "away", Some("lunch")).unwrap();
    clock.advance(2 * 3600 * SECOND);
    s.bind_agent("w2", None, Some(&caps(&["tasks", "rust"])), T).unwrap();
    let task = s.get_task(caller("boss"), id).unwrap().0;
    assert_eq!((task.state, task.assignee.as_deref()), (TaskState::Posted, Some("w1")));
}

#[test]
fn a_write_task_parked_by_its_ttl_can_be_recovered_and_stays_posted() {
    let (_d, s, clock) = setup();
    let t = NewTask {
        ttl_seconds: Some(60),
        write: true,
        ..to("w1", "migrate")
    };
    let id = s.post_task(caller("boss"), &t).unwrap().task.id;
    accept(&s, "w1", id, 3600);
    clock.advance(61 * SECOND);
    assert_eq!(
        s.get_task(caller("boss"), id).unwrap().0.state,
        TaskState::NeedsRecovery
    );
    s.update_task(caller("boss"), id, Action::Recover, &Update::default())
        .unwrap();
    clock.advance(SECOND);
    s.sweep_tasks().unwrap();
    assert_eq!(s.get_task(caller("boss"), id).unwrap().0.state, TaskState::Posted);
}

#[test]
fn a_queued_task_reaches_an_agent_that_comes_back_online() {
    let (_d, s, clock) = setup();
    // w1 goes quiet for two hours: offline, so routing skips it.
    clock.advance(2 * 3600 * SECOND);
    s.bind_agent("boss", None, None, T).unwrap();
    let t = NewTask {
        required_capabilities: caps(&["rust"]),
        title: "r".into(),
        ..Default::default()
    };
    let id = s.post_task(caller("boss"), &t).unwrap().task.id;
    assert_eq!(s.get_task(caller("boss"), id).unwrap().0.state, TaskState::Queued);
    assert_eq!(s.route_queued().unwrap(), 0);
    // It comes back (a worker's presence tick) without registering anew.
    s.touch_agent("w1").unwrap();
    assert_eq!(s.route_queued().unwrap(), 1);
    let task = s.get_task(caller("boss"), id).unwrap().0;
    assert_eq!((task.state, task.assignee.as_deref()), (TaskState::Posted, Some("w1")));
}

const CLAIMANT_ACTIONS: [Action; 4] = [Action::Heartbeat, Action::Complete, Action::Fail, Action::Release];

/// Posts a task to `w1` and has `w1` accept it twice, the first lease
/// running out in between (as when another session of the same agent takes
/// over). Returns `(id, current token)`.
fn accepted_twice(s: &super::Store, clock: &crate::clock::ManualClock, title: &str) -> (i64, i64) {
    let id = s.post_task(caller("boss"), &to("w1", title)).unwrap().task.id;
    assert_eq!(accept(s, "w1", id, 30), 1);
    clock.advance(31 * SECOND);
    s.sweep_tasks().unwrap();
    (id, accept(s, "w1", id, 60))
}

fn claimant_update(action: Action, fencing_token: Option<i64>) -> Update {
    Update {
        result: (action == Action::Complete).then(|| "overwritten".into()),
        error: (action == Action::Fail).then(|| "overwritten".into()),
        lease_seconds: Some(60),
        fencing_token,
        ..Default::default()
    }
}

#[test]
fn a_tokenless_claimant_action_on_a_task_accepted_twice_is_refused_and_changes_nothing() {
    let (_d, s, clock) = setup();
    for action in CLAIMANT_ACTIONS {
        let (id, token) = accepted_twice(&s, &clock, &format!("{action:?}"));
        assert_eq!(token, 2);
        let before = s.get_task(caller("boss"), id).unwrap();
        let e = s
            .update_task(caller("w1"), id, action, &claimant_update(action, None))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation, "{action:?}");
        assert!(
            e.message.contains("pass the fencing_token"),
            "{action:?}: {}",
            e.message
        );
        assert_eq!(
            s.get_task(caller("boss"), id).unwrap(),
            before,
            "{action:?} changed the task"
        );
        // The first claim's token is stale; the current one works.
        let e = s
            .update_task(caller("w1"), id, action, &claimant_update(action, Some(1)))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::StaleLease, "{action:?}");
        s.update_task(caller("w1"), id, action, &claimant_update(action, Some(token)))
            .unwrap();
    }
}

#[test]
fn a_task_released_and_accepted_again_needs_the_token_too() {
    let (_d, s, _c) = setup();
    let id = s.post_task(caller("boss"), &to("w1", "t")).unwrap().task.id;
    accept(&s, "w1", id, 60);
    s.update_task(caller("w1"), id, Action::Release, &Update::default())
        .unwrap();
    let token = accept(&s, "w1", id, 60);
    let e = s
        .update_task(
            caller("w1"),
            id,
            Action::Complete,
            &claimant_update(Action::Complete, None),
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation);
    let done = s
        .update_task(
            caller("w1"),
            id,
            Action::Complete,
            &claimant_update(Action::Complete, Some(token)),
        )
        .unwrap();
    assert_eq!(done.state, TaskState::Completed);
}

#[test]
fn tokenless_claimant_actions_on_a_first_claim_keep_working() {
    let (_d, s, _c) = setup();
    for action in CLAIMANT_ACTIONS {
        let id = s
            .post_task(caller("boss"), &to("w1", &format!("{action:?}")))
            .unwrap()
            .task
            .id;
        assert_eq!(accept(&s, "w1", id, 60), 1);
        s.update_task(caller("w1"), id, action, &claimant_update(action, None))
            .unwrap_or_else(|e| panic!("{action:?}: {e:?}"));
    }
}

// ---- Executor sessions (issue 13): continue a conversation, one task per
// session at a time.

const THREAD: &str = "0199a213-81c0-7800-8aa1-bbab2a035a53";

fn on_session(agent: &str, title: &str, session: &str) -> NewTask {
    NewTask {
        session: Some(session.into()),
        ..to(agent, title)
    }
}

fn try_accept(s: &super::Store, who: &str, id: i64, lease: u32) -> crate::Result<super::tasks::Task> {
    let u = Update {
        lease_seconds: Some(lease),
        ..Default::default()
    };
    s.update_task(caller(who), id, Action::Accept, &u)
}

fn next_id(s: &super::Store, who: &str) -> Option<i64> {
    s.next_task(caller(who)).unwrap().map(|t| t.id)
}

#[test]
fn two_tasks_on_one_session_never_are_accepted_at_once_and_the_second_waits_posted() {
    let (_d, s, _c) = setup();
    let first = s
        .post_task(caller("boss"), &on_session("w1", "a", THREAD))
        .unwrap()
        .task;
    assert_eq!(first.session.as_deref(), Some(THREAD));
    let second = s
        .post_task(caller("boss"), &on_session("w1", "b", THREAD))
        .unwrap()
        .task
        .id;
    let other = s
        .post_task(caller("boss"), &on_session("w1", "c", "other-session"))
        .unwrap()
        .task
        .id;
    let fresh = s.post_task(caller("boss"), &to("w1", "d")).unwrap().task.id;
    let token = accept(&s, "w1", first.id, 60);

    let e = try_accept(&s, "w1", second, 60).unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    assert!(
        e.message.contains(&format!("task {} is running now", first.id)),
        "{}",
        e.message
    );
    assert_eq!(s.get_task(caller("boss"), second).unwrap().0.state, TaskState::Posted);
    // Workers are not offered it while the session is busy; other sessions
    // and new conversations go ahead, side by side.
    assert_eq!(next_id(&s, "w1"), Some(other));
    accept(&s, "w1", other, 60);
    assert_eq!(next_id(&s, "w1"), Some(fresh));
    accept(&s, "w1", fresh, 60);
    assert_eq!(next_id(&s, "w1"), None);

    // The first finishes: the session is free, and the second goes next.
    let done = Update {
        result: Some("ok".into()),
        fencing_token: Some(token),
        session: Some(THREAD.into()),
        ..Default::default()
    };
    s.update_task(caller("w1"), first.id, Action::Complete, &done).unwrap();
    assert_eq!(next_id(&s, "w1"), Some(second));
    assert_eq!(try_accept(&s, "w1", second, 60).unwrap().state, TaskState::Accepted);
}

#[test]
fn lease_expiry_frees_the_session_for_the_next_task() {
    let (_d, s, clock) = setup();
    let first = s
        .post_task(caller("boss"), &on_session("w1", "a", THREAD))
        .unwrap()
        .task
        .id;
    let second = s
        .post_task(caller("boss"), &on_session("w1", "b", THREAD))
        .unwrap()
        .task
        .id;
    accept(&s, "w1", first, 30);
    clock.advance(29 * SECOND);
    assert_eq!(try_accept(&s, "w1", second, 30).unwrap_err().code, ErrorCode::Conflict);
    assert_eq!(next_id(&s, "w1"), None);
    clock.advance(2 * SECOND);
    // The sweep gave the first task back (posted, one attempt more): the
    // session is free again, and either task may take it — but only one.
    let (t, _) = s.get_task(caller("boss"), first).unwrap();
    assert_eq!((t.state, t.attempts), (TaskState::Posted, 1));
    assert_eq!(try_accept(&s, "w1", second, 30).unwrap().state, TaskState::Accepted);
    assert_eq!(try_accept(&s, "w1", first, 30).unwrap_err().code, ErrorCode::Conflict);
}

#[test]
fn releasing_cancelling_or_failing_the_holder_frees_the_session() {
    let (_d, s, _c) = setup();
    let holder = s
        .post_task(caller("boss"), &on_session("w1", "a", THREAD))
        .unwrap()
        .task
        .id;
    let waiting = s
        .post_task(caller("boss"), &on_session("w1", "b", THREAD))
        .unwrap()
        .task
        .id;
    let token = accept(&s, "w1", holder, 60);
    s.update_task(caller("w1"), holder, Action::Release, &with_token(token))
        .unwrap();
    let token = accept(&s, "w1", waiting, 60);
    assert_eq!(try_accept(&s, "w1", holder, 60).unwrap_err().code, ErrorCode::Conflict);
    s.update_task(caller("boss"), waiting, Action::Cancel, &Update::default())
        .unwrap();
    let token2 = accept(&s, "w1", holder, 60);
    let failed = Update {
        error: Some("boom".into()),
        ..with_token(token2)
    };
    s.update_task(caller("w1"), holder, Action::Fail, &failed).unwrap();
    let third = s
        .post_task(caller("boss"), &on_session("w1", "c", THREAD))
        .unwrap()
        .task
        .id;
    assert_eq!(try_accept(&s, "w1", third, 60).unwrap().state, TaskState::Accepted);
    let _ = token;
}

#[test]
fn complete_and_fail_record_the_session_the_executor_reported() {
    let (_d, s, _c) = setup();
    // A new conversation learns its session at the end.
    let id = s.post_task(caller("boss"), &to("w1", "new")).unwrap().task.id;
    assert_eq!(s.get_task(caller("boss"), id).unwrap().0.session, None);
    let token = accept(&s, "w1", id, 60);
    let done = Update {
        result: Some("ok".into()),
        fencing_token: Some(token),
        session: Some(THREAD.into()),
        ..Default::default()
    };
    let t = s.update_task(caller("w1"), id, Action::Complete, &done).unwrap();
    assert_eq!(t.session.as_deref(), Some(THREAD));
    // A follow-up continues it; an executor that answers with a new id
    // (Claude Code may) is recorded as such.
    let follow = s
        .post_task(caller("boss"), &on_session("w1", "again", THREAD))
        .unwrap()
        .task
        .id;
    let token = accept(&s, "w1", follow, 60);
    let failed = Update {
        error: Some("model error".into()),
        fencing_token: Some(token),
        session: Some("next-id".into()),
        ..Default::default()
    };
    let t = s.update_task(caller("w1"), follow, Action::Fail, &failed).unwrap();
    assert_eq!((t.state, t.session.as_deref()), (TaskState::Failed, Some("next-id")));
    // Nothing reported: the task keeps the session it continued.
    let plain = s
        .post_task(caller("boss"), &on_session("w1", "plain", "shell-1"))
        .unwrap()
        .task
        .id;
    let token = accept(&s, "w1", plain, 60);
    let t = s
        .update_task(caller("w1"), plain, Action::Complete, &with_token(token))
        .unwrap();
    assert_eq!(t.session.as_deref(), Some("shell-1"));
}

#[test]
fn a_bad_session_is_refused_and_nothing_is_stored() {
    let (_d, s, _c) = setup();
    for bad in ["", "-p", "two words", &"x".repeat(129)] {
        let e = s.post_task(caller("boss"), &on_session("w1", "t", bad)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation, "{bad:?}");
    }
    assert!(
        s.get_tasks(caller("boss"), TaskRole::Posted, None, 100)
            .unwrap()
            .is_empty()
    );
    let id = s.post_task(caller("boss"), &to("w1", "t")).unwrap().task.id;
    // session is the executor's report: only with complete and fail.
    let on_accept = Update {
        session: Some(THREAD.into()),
        ..Default::default()
    };
    let e = s.update_task(caller("w1"), id, Action::Accept, &on_accept).unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation);
    assert_eq!(s.get_task(caller("boss"), id).unwrap().0.state, TaskState::Posted);
    let token = accept(&s, "w1", id, 60);
    let bad = Update {
        session: Some("-rf".into()),
        ..with_token(token)
    };
    let e = s.update_task(caller("w1"), id, Action::Complete, &bad).unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation);
    assert_eq!(s.get_task(caller("boss"), id).unwrap().0.state, TaskState::Accepted);
}

#[test]
fn request_id_idempotency_compares_the_session_too() {
    let (_d, s, _c) = setup();
    let first = NewTask {
        request_id: Some("r1".into()),
        ..on_session("w1", "t", THREAD)
    };
    let id = s.post_task(caller("boss"), &first).unwrap().task.id;
    let again = s.post_task(caller("boss"), &first).unwrap();
    assert_eq!((again.task.id, again.deduped), (id, true));
    for other in [None, Some("another-session".to_owned())] {
        let changed = NewTask {
            session: other,
            ..first.clone()
        };
        let e = s.post_task(caller("boss"), &changed).unwrap_err();
        assert_eq!(e.code, ErrorCode::IdempotencyConflict);
    }
}
