//! The token lifecycle on a [`ManualClock`]: the transition table row by
//! row, then the store calls that apply it.

use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::store::agents::Credential;
use crate::store::tokens::TokenLookup;
use crate::store::{Limits, Registration};

const T0: Millis = 1_700_000_000_000;

fn store() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = Store::open(&dir.path().join("relay.db"), clock.clone(), Limits::default()).unwrap();
    (dir, store, clock)
}

fn agent(name: &str) -> Caller<'_> {
    Caller {
        agent: name,
        transport: Transport::Stdio,
    }
}

fn register(s: &Store, name: &str, caps: &[&str]) -> String {
    let reg = Registration {
        name: name.into(),
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    };
    s.register_agent(&reg, Credential::None, &Capability::GATES, Transport::Stdio)
        .unwrap()
        .token
        .unwrap()
}

fn rebind(s: &Store, name: &str, credential: Credential<'_>) -> Result<crate::store::Registered> {
    let reg = Registration {
        name: name.into(),
        ..Default::default()
    };
    s.register_agent(&reg, credential, &[], Transport::Http)
}

fn creds(state: AuthState) -> Credentials {
    Credentials {
        token_hash: Some(vec![1]),
        previous_token_hash: None,
        grace_until: None,
        recovery_token_hash: None,
        recovery_expires_at: None,
        auth_state: state,
    }
}

#[test]
fn the_transition_table() {
    use AuthState::*;
    let now = T0;
    let new = [9u8];
    let rotate = |g| Action::Rotate {
        new_hash: &new,
        grace_ms: g,
    };
    let grace = Credentials {
        previous_token_hash: Some(vec![0]),
        grace_until: Some(now + 10),
        ..creds(RotationGrace)
    };
    let pending = Credentials {
        token_hash: None,
        recovery_token_hash: Some(vec![7]),
        recovery_expires_at: Some(now + 10),
        ..creds(RecoveryPending)
    };
    let revoked = Credentials {
        token_hash: None,
        ..creds(Revoked)
    };
    let active = creds(Active);
    let expired_pending = Credentials {
        recovery_expires_at: Some(now),
        ..pending.clone()
    };
    // (from, action, Ok(state) or Err(code))
    let rows: Vec<(&Credentials, Action<'_>, std::result::Result<AuthState, ErrorCode>)> = vec![
        (&active, rotate(1000), Ok(RotationGrace)),
        (&active, rotate(0), Ok(Active)),
        (&grace, rotate(1000), Ok(RotationGrace)),
        (&grace, rotate(0), Ok(Active)),
        (&pending, rotate(1000), Err(ErrorCode::InvalidState)),
        (&revoked, rotate(0), Err(ErrorCode::InvalidState)),
        (
            &active,
            Action::Revoke {
                recovery_hash: Some(&new),
            },
            Ok(RecoveryPending),
        ),
        (&grace, Action::Revoke { recovery_hash: None }, Ok(Revoked)),
        (
            &pending,
            Action::Revoke { recovery_hash: None },
            Err(ErrorCode::InvalidState),
        ),
        (
            &revoked,
            Action::Revoke {
                recovery_hash: Some(&new),
            },
            Err(ErrorCode::InvalidState),
        ),
        (&pending, Action::Recover { new_hash: &new }, Ok(Active)),
        (
            &expired_pending,
            Action::Recover { new_hash: &new },
            Err(ErrorCode::AuthFailed),
        ),
        (&revoked, Action::Recover { new_hash: &new }, Err(ErrorCode::AuthFailed)),
        (&active, Action::Recover { new_hash: &new }, Err(ErrorCode::AuthFailed)),
        (&revoked, Action::Issue { new_hash: &new }, Ok(Active)),
        (&pending, Action::Issue { new_hash: &new }, Ok(Active)),
        (&grace, Action::Expire, Ok(RotationGrace)),
        (&expired_pending, Action::Expire, Ok(Revoked)),
    ];
    for (i, (from, action, want)) in rows.into_iter().enumerate() {
        let got = transition(from, action, now).map(|c| c.auth_state).map_err(|e| e.code);
        assert_eq!(got, want, "row {i}: {from:?} {action:?}");
    }
    // Rotating during a grace keeps the token in use now, not the older one.
    let again = transition(&grace, rotate(1000), now).unwrap();
    assert_eq!(again.previous_token_hash, Some(vec![1]));
    assert_eq!(again.token_hash, Some(vec![9]));
    assert_eq!(again.grace_until, Some(now + 1000));
    // Revocation and recovery leave no old secret behind.
    let pending = transition(
        &grace,
        Action::Revoke {
            recovery_hash: Some(&new),
        },
        now,
    )
    .unwrap();
    assert_eq!(
        (pending.token_hash.clone(), pending.previous_token_hash.clone()),
        (None, None)
    );
    assert_eq!(pending.recovery_expires_at, Some(now + RECOVERY_WINDOW_SECONDS * 1000));
    let back = transition(&pending, Action::Recover { new_hash: &[5] }, now).unwrap();
    assert_eq!(back.recovery_token_hash, None);
    assert_eq!(back.recovery_expires_at, None);
    // The grace ends exactly at grace_until.
    let ends = grace.grace_until.unwrap();
    assert_eq!(grace.state_at(ends - 1), RotationGrace);
    assert_eq!(grace.state_at(ends), Active);
    assert!(grace.accepts(&[0], ends - 1) && !grace.accepts(&[0], ends));
    assert!(grace.accepts(&[1], ends));
}

#[test]
fn rotation_keeps_the_old_token_until_the_grace_ends_exactly() {
    let (_d, s, clock) = store();
    let old = register(&s, "bot", &[]);
    let lookup = TokenLookup::open(&s).unwrap();
    let rotated = s.rotate_token(Actor::Agent(agent("bot")), None, 60).unwrap();
    assert_eq!(rotated.auth_state, AuthState::RotationGrace);
    assert_eq!(rotated.grace_until.as_deref(), Some(rfc3339(T0 + 60_000).as_str()));
    assert_ne!(rotated.token, old);
    assert_eq!(lookup.agent_for(&old).unwrap(), "bot");
    assert_eq!(lookup.agent_for(&rotated.token).unwrap(), "bot");
    // register_agent accepts the previous token during the grace too.
    rebind(&s, "bot", Credential::Token(&old)).unwrap();

    clock.advance(60_000 - 1);
    assert_eq!(
        lookup.agent_for(&old).unwrap(),
        "bot",
        "the last millisecond of the grace"
    );
    clock.advance(1);
    assert_eq!(lookup.agent_for(&old).unwrap_err().code, ErrorCode::AuthFailed);
    assert_eq!(
        rebind(&s, "bot", Credential::Token(&old)).unwrap_err().code,
        ErrorCode::AuthFailed
    );
    assert_eq!(lookup.agent_for(&rotated.token).unwrap(), "bot");
    assert_eq!(
        s.agent("bot").unwrap().unwrap().auth_state,
        AuthState::Active,
        "before any sweep"
    );
    // The sweep writes it back; a second sweep has nothing to do.
    assert_eq!(s.expire_credentials().unwrap(), 1);
    assert_eq!(s.expire_credentials().unwrap(), 0);
    let stored = s.read(|c, _| credentials_of(c, "bot")).unwrap();
    assert_eq!(stored.auth_state, AuthState::Active);
    assert_eq!((stored.previous_token_hash, stored.grace_until), (None, None));
}

fn credentials_of(c: &rusqlite::Connection, name: &str) -> Result<Credentials> {
    Ok(load(c, name)?.unwrap())
}

#[test]
fn rotating_again_during_a_grace_replaces_the_previous_token() {
    let (_d, s, _clock) = store();
    let first = register(&s, "bot", &[]);
    let lookup = TokenLookup::open(&s).unwrap();
    let second = s.rotate_token(Actor::Agent(agent("bot")), None, 300).unwrap().token;
    let third = s.rotate_token(Actor::Agent(agent("bot")), None, 300).unwrap().token;
    assert_eq!(lookup.agent_for(&first).unwrap_err().code, ErrorCode::AuthFailed);
    assert_eq!(lookup.agent_for(&second).unwrap(), "bot");
    assert_eq!(lookup.agent_for(&third).unwrap(), "bot");
    let none = s.rotate_token(Actor::Agent(agent("bot")), None, 0).unwrap();
    assert_eq!((none.auth_state, none.grace_until), (AuthState::Active, None));
    assert_eq!(lookup.agent_for(&third).unwrap_err().code, ErrorCode::AuthFailed);
    assert_eq!(lookup.agent_for(&none.token).unwrap(), "bot");
}

#[test]
fn rotating_another_agent_needs_admin_and_changes_nothing_otherwise() {
    let (_d, s, _clock) = store();
    let bob = register(&s, "bob", &[]);
    register(&s, "mallory", &["tasks"]);
    register(&s, "lead", &["admin"]);
    let lookup = TokenLookup::open(&s).unwrap();
    let before = s.read(|c, _| credentials_of(c, "bob")).unwrap();
    let denied = s
        .rotate_token(Actor::Agent(agent("mallory")), Some("bob"), 0)
        .unwrap_err();
    assert_eq!(denied.code, ErrorCode::CapDenied);
    let denied = s.revoke_token(Actor::Agent(agent("mallory")), "bob", true).unwrap_err();
    assert_eq!(denied.code, ErrorCode::CapDenied);
    // Not even whether a name exists leaks without admin.
    let denied = s
        .rotate_token(Actor::Agent(agent("mallory")), Some("nobody"), 0)
        .unwrap_err();
    assert_eq!(denied.code, ErrorCode::CapDenied);
    assert_eq!(s.read(|c, _| credentials_of(c, "bob")).unwrap(), before);
    assert_eq!(lookup.agent_for(&bob).unwrap(), "bob");

    let e = s
        .rotate_token(Actor::Agent(agent("lead")), Some("nobody"), 0)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = s
        .rotate_token(Actor::Agent(agent("lead")), Some("bob"), 3601)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation);
    let e = s.revoke_token(Actor::Agent(agent("lead")), "lead", true).unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation, "no self-revocation");
    let rotated = s.rotate_token(Actor::Agent(agent("lead")), Some("bob"), 30).unwrap();
    assert_eq!(rotated.agent, "bob");
    let events = s.events_after(0, 100).unwrap();
    let e = events.iter().rfind(|e| e.kind == events::Kind::TokenRotated).unwrap();
    assert_eq!((e.target.as_deref(), e.actor.as_deref()), (Some("bob"), Some("lead")));
    let audit = s.audit_log(10).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.tool == "rotate_token" && a.agent.as_deref() == Some("lead"))
    );
}

#[test]
fn revocation_with_recovery_is_one_time_and_expires_with_the_window() {
    let (_d, s, clock) = store();
    let bob = register(&s, "bob", &[]);
    register(&s, "lead", &["admin"]);
    let lookup = TokenLookup::open(&s).unwrap();
    let revoked = s.revoke_token(Actor::Agent(agent("lead")), "bob", true).unwrap();
    assert_eq!(revoked.auth_state, AuthState::RecoveryPending);
    let recovery = revoked.recovery_token.clone().unwrap();
    assert_eq!(lookup.agent_for(&bob).unwrap_err().code, ErrorCode::AuthFailed);
    // A stdio session bound to bob is refused at its next call.
    let e = s.set_status(agent("bob"), "busy", None).unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthFailed);
    assert_eq!(
        s.rotate_token(Actor::Agent(agent("lead")), Some("bob"), 0)
            .unwrap_err()
            .code,
        ErrorCode::InvalidState
    );
    assert_eq!(
        s.revoke_token(Actor::Agent(agent("lead")), "bob", true)
            .unwrap_err()
            .code,
        ErrorCode::InvalidState
    );
    assert_eq!(
        rebind(&s, "bob", Credential::Token(&bob)).unwrap_err().code,
        ErrorCode::AuthFailed
    );
    assert_eq!(
        rebind(&s, "bob", Credential::RecoveryToken(&bob)).unwrap_err().code,
        ErrorCode::AuthFailed
    );

    let back = rebind(&s, "bob", Credential::RecoveryToken(&recovery)).unwrap();
    let fresh = back.token.unwrap();
    assert_eq!(back.agent.auth_state, AuthState::Active);
    assert_eq!(lookup.agent_for(&fresh).unwrap(), "bob");
    assert_eq!(
        rebind(&s, "bob", Credential::RecoveryToken(&recovery))
            .unwrap_err()
            .code,
        ErrorCode::AuthFailed,
        "one-time"
    );
    s.set_status(agent("bob"), "busy", None).unwrap();

    // A second revocation; its recovery token lapses with the window.
    let again = s.revoke_token(Actor::Agent(agent("lead")), "bob", true).unwrap();
    clock.advance(RECOVERY_WINDOW_SECONDS * 1000);
    let e = rebind(
        &s,
        "bob",
        Credential::RecoveryToken(again.recovery_token.as_deref().unwrap()),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthFailed);
    let stored = s.read(|c, _| credentials_of(c, "bob")).unwrap();
    assert_eq!(
        stored.auth_state,
        AuthState::Revoked,
        "the failed use recorded the expiry"
    );
    assert_eq!(stored.recovery_token_hash, None);
}

#[test]
fn revocation_without_recovery_is_terminal_until_the_operator_issues_a_token() {
    let (_d, s, _clock) = store();
    register(&s, "bob", &["tasks"]);
    let revoked = s
        .revoke_token(Actor::Operator { os_user: "ops" }, "bob", false)
        .unwrap();
    assert_eq!((revoked.auth_state, revoked.recovery_token), (AuthState::Revoked, None));
    assert_eq!(
        rebind(&s, "bob", Credential::None).unwrap_err().code,
        ErrorCode::AuthFailed
    );
    let ev = s.events_after(0, 100).unwrap();
    let ev = ev.iter().rfind(|e| e.kind == events::Kind::TokenRevoked).unwrap();
    assert_eq!((ev.target.as_deref(), ev.actor.as_deref()), (Some("bob"), None));
    let reg = Registration {
        name: "bob".into(),
        ..Default::default()
    };
    let issued = s.issue_token(&reg, "ops").unwrap();
    assert!(!issued.created);
    assert_eq!(issued.agent.auth_state, AuthState::Active);
    assert_eq!(issued.agent.capabilities, ["tasks"], "kept when none are given");
    let lookup = TokenLookup::open(&s).unwrap();
    assert_eq!(lookup.agent_for(&issued.token).unwrap(), "bob");
    let audit = s.audit_log(10).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.tool == "token_issue" && a.agent.as_deref() == Some("bob") && a.transport == "cli")
    );
    let new = s
        .issue_token(
            &Registration {
                name: "script".into(),
                capabilities: vec!["tasks".into()],
                ..Default::default()
            },
            "ops",
        )
        .unwrap();
    assert!(new.created);
    assert_eq!(lookup.agent_for(&new.token).unwrap(), "script");
}

#[test]
fn listed_agents_show_their_deadlines() {
    let (_d, s, clock) = store();
    register(&s, "a", &[]);
    register(&s, "b", &[]);
    register(&s, "lead", &["admin"]);
    s.rotate_token(Actor::Agent(agent("a")), None, 10).unwrap();
    s.revoke_token(Actor::Agent(agent("lead")), "b", true).unwrap();
    let listed = s.list_agents().unwrap();
    assert_eq!(listed[0].agent.auth_state, AuthState::RotationGrace);
    assert_eq!(listed[0].grace_until.as_deref(), Some(rfc3339(T0 + 10_000).as_str()));
    assert_eq!(listed[1].agent.auth_state, AuthState::RecoveryPending);
    assert!(listed[1].recovery_expires_at.is_some() && !listed[1].has_token);
    clock.advance(RECOVERY_WINDOW_SECONDS * 1000);
    let listed = s.list_agents().unwrap();
    assert_eq!(listed[0].agent.auth_state, AuthState::Active);
    assert_eq!(listed[0].grace_until, None);
    assert_eq!(listed[1].agent.auth_state, AuthState::Revoked);
    assert_eq!(s.expire_credentials().unwrap(), 2);
}

#[test]
fn debug_output_never_shows_a_token() {
    let (_d, s, _clock) = store();
    register(&s, "bot", &[]);
    let rotated = s.rotate_token(Actor::Agent(agent("bot")), None, 0).unwrap();
    assert!(!format!("{rotated:?}").contains(&rotated.token));
    let creds = s.read(|c, _| credentials_of(c, "bot")).unwrap();
    assert!(!format!("{creds:?}").contains('['), "no digest bytes: {creds:?}");
}
