//! Reservation rules on the store, driven by a [`ManualClock`].

use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::store::events::Kind;
use crate::store::{Limits, Transport};

const PROJECT: &str = "/work/repo";

fn store() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Store::open(&dir.path().join("relay.db"), clock.clone(), Limits::default()).unwrap();
    for name in ["alice", "bob", "carol"] {
        store.bind_agent(name, None, None, Transport::Cli).unwrap();
    }
    (dir, store, clock)
}

fn as_(name: &str) -> Caller<'_> {
    Caller {
        agent: name,
        transport: Transport::Cli,
    }
}

fn req(paths: &[&str], exclusive: bool) -> ReserveRequest {
    ReserveRequest {
        project: PROJECT.into(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        exclusive,
        ttl_seconds: 600,
        reason: "refactoring".into(),
        request_id: None,
    }
}

fn reserve(s: &Store, who: &str, paths: &[&str], exclusive: bool) -> Reserved {
    s.reserve_paths(as_(who), &req(paths, exclusive)).unwrap()
}

fn events_of(s: &Store, kind: Kind) -> Vec<crate::store::events::Event> {
    s.events_after(0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

#[test]
fn an_overlapping_exclusive_reservation_is_refused_naming_the_holder() {
    let (_d, s, _c) = store();
    let a = reserve(&s, "alice", &["src/**"], true);
    assert_eq!(a.granted.len(), 1);
    assert_eq!(a.granted[0].path, "src/**");
    let b = reserve(&s, "bob", &["src/store/tasks.rs", "docs/intro.md"], true);
    assert_eq!(b.granted.len(), 1, "partial grant: the free path is granted");
    assert_eq!(b.granted[0].path, "docs/intro.md");
    assert_eq!(b.conflicts.len(), 1);
    let c = &b.conflicts[0];
    assert_eq!(c.path, "src/store/tasks.rs");
    assert_eq!(c.holders.len(), 1);
    assert_eq!(c.holders[0].agent, "alice");
    assert_eq!(c.holders[0].path, "src/**");
    assert_eq!(c.holders[0].reason, "refactoring");
    assert_eq!(c.holders[0].expires_at, a.granted[0].expires_at);
    // The other direction: a narrow holder blocks a broad request.
    let c2 = reserve(&s, "carol", &["docs/**"], true);
    assert!(c2.granted.is_empty());
    assert_eq!(c2.conflicts[0].holders[0].agent, "bob");
    // Holders were told, with the waiter as actor.
    let told = events_of(&s, Kind::ReservationConflict);
    assert_eq!(told.len(), 2);
    assert_eq!(told[0].target.as_deref(), Some("alice"));
    assert_eq!(told[0].actor.as_deref(), Some("bob"));
    assert_eq!(told[0].subject_id, Some(a.granted[0].id));
    assert_eq!(told[1].target.as_deref(), Some("bob"));
    assert_eq!(events_of(&s, Kind::ReservationGranted).len(), 2);
}

#[test]
fn shared_reservations_clash_only_with_exclusive_ones() {
    let (_d, s, _c) = store();
    assert_eq!(reserve(&s, "alice", &["src/**"], false).granted.len(), 1);
    assert_eq!(reserve(&s, "bob", &["src/lib.rs"], false).granted.len(), 1);
    let excl = reserve(&s, "carol", &["src/lib.rs"], true);
    assert!(excl.granted.is_empty());
    let holders: Vec<&str> = excl.conflicts[0].holders.iter().map(|h| h.agent.as_str()).collect();
    assert_eq!(holders, ["alice", "bob"]);
    // And an exclusive holder refuses a shared request.
    reserve(&s, "carol", &["docs/**"], true);
    assert!(reserve(&s, "alice", &["docs/a.md"], false).granted.is_empty());
}

#[test]
fn an_agent_never_clashes_with_itself_and_re_reserving_updates_in_place() {
    let (_d, s, clock) = store();
    let first = reserve(&s, "alice", &["src/**"], true).granted[0].clone();
    assert_eq!(reserve(&s, "alice", &["src/lib.rs"], true).granted.len(), 1);
    clock.advance(60_000);
    let mut again = req(&["src/"], false);
    again.reason = "reviewing".into();
    let second = s.reserve_paths(as_("alice"), &again).unwrap().granted[0].clone();
    assert_eq!(second.id, first.id, "same glob, same reservation");
    assert!(!second.exclusive);
    assert_eq!(second.reason, "reviewing");
    assert_eq!(second.created_at, first.created_at);
    assert!(second.expires_at > first.expires_at);
    assert_eq!(
        s.list_reservations(as_("bob"), Some(PROJECT), None, 100).unwrap().len(),
        2
    );
}

#[test]
fn two_projects_never_clash_and_one_project_matches_itself_in_any_spelling() {
    let (_d, s, _c) = store();
    let mut r = req(&["src/**"], true);
    r.project = "git@github.com:owner/repo.git".into();
    assert_eq!(
        s.reserve_paths(as_("alice"), &r).unwrap().project,
        "github.com/owner/repo"
    );
    let mut other = req(&["src/**"], true);
    other.project = "https://github.com/owner/other".into();
    assert_eq!(s.reserve_paths(as_("bob"), &other).unwrap().granted.len(), 1);
    assert_eq!(
        reserve(&s, "bob", &["src/**"], true).granted.len(),
        1,
        "a path project is another project"
    );
    let mut same = req(&["src/lib.rs"], true);
    same.project = "https://github.com/owner/repo".into();
    assert_eq!(s.reserve_paths(as_("bob"), &same).unwrap().conflicts.len(), 1);
}

#[test]
fn expiry_frees_paths_and_renewal_extends_the_lease() {
    let (_d, s, clock) = store();
    let a = reserve(&s, "alice", &["src/**", "docs/**"], true);
    clock.advance(500_000);
    let renewed = s
        .renew_reservations(as_("alice"), PROJECT, Some(&["src/".to_string()]), Some(900))
        .unwrap();
    assert_eq!(renewed.reservations.len(), 1);
    assert_eq!(renewed.reservations[0].id, a.granted[0].id);
    assert_eq!(renewed.reservations[0].ttl_seconds, 900);
    clock.advance(200_000);
    // docs/** (600 s) has expired, src/** (renewed for 900 s) has not.
    let live = s.list_reservations(as_("bob"), None, None, 100).unwrap();
    assert_eq!(live.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["src/**"]);
    let b = reserve(&s, "bob", &["docs/x.md", "src/x.rs"], true);
    assert_eq!(b.granted[0].path, "docs/x.md");
    assert_eq!(b.conflicts[0].path, "src/x.rs");
    // The expired row is gone from the table, not only hidden.
    let rows: i64 = s
        .read(|c, _| {
            Ok(
                c.query_row("SELECT COUNT(*) FROM reservations WHERE path = 'docs/**'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .unwrap();
    assert_eq!(rows, 0);
    // An expired reservation cannot be renewed.
    let e = s
        .renew_reservations(as_("alice"), PROJECT, Some(&["docs/**".to_string()]), None)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    // Renewal without ttl reuses the reservation's own.
    clock.advance(100_000);
    let again = s.renew_reservations(as_("alice"), PROJECT, None, None).unwrap();
    assert_eq!(again.reservations[0].ttl_seconds, 900);
}

#[test]
fn release_frees_paths_and_says_so() {
    let (_d, s, _c) = store();
    reserve(&s, "alice", &["src/**", "docs/**"], true);
    let none = s.release_paths(as_("bob"), PROJECT, None).unwrap();
    assert!(none.released.is_empty());
    let one = s
        .release_paths(as_("alice"), PROJECT, Some(&["./src/".to_string()]))
        .unwrap();
    assert_eq!(one.released.len(), 1);
    assert_eq!(one.released[0].path, "src/**");
    assert_eq!(reserve(&s, "bob", &["src/lib.rs"], true).granted.len(), 1);
    let rest = s.release_paths(as_("alice"), PROJECT, None).unwrap();
    assert_eq!(rest.released.len(), 1);
    let released = events_of(&s, Kind::ReservationReleased);
    assert_eq!(released.len(), 2);
    assert!(
        released
            .iter()
            .all(|e| e.actor.as_deref() == Some("alice") && e.target.is_none())
    );
}

#[test]
fn a_request_id_replays_the_first_result_and_refuses_other_arguments() {
    let (_d, s, _c) = store();
    reserve(&s, "alice", &["src/lib.rs"], true);
    let mut r = req(&["src/**", "docs/**"], true);
    r.request_id = Some("k1".into());
    let first = s.reserve_paths(as_("bob"), &r).unwrap();
    assert!(!first.deduped);
    s.release_paths(as_("alice"), PROJECT, None).unwrap();
    let replay = s.reserve_paths(as_("bob"), &r).unwrap();
    assert!(replay.deduped);
    assert_eq!(replay.granted, first.granted);
    assert_eq!(replay.conflicts, first.conflicts);
    // Nothing new was granted by the replay.
    assert_eq!(events_of(&s, Kind::ReservationGranted).len(), 2);
    r.ttl_seconds = 60;
    assert_eq!(
        s.reserve_paths(as_("bob"), &r).unwrap_err().code,
        ErrorCode::IdempotencyConflict
    );
    // The key is the caller's: another agent may use it.
    r.ttl_seconds = 600;
    assert!(!s.reserve_paths(as_("carol"), &r).unwrap().deduped);
}

#[test]
fn a_holder_hears_about_the_same_waiter_at_most_once_a_minute() {
    let (_d, s, clock) = store();
    reserve(&s, "alice", &["src/**"], true);
    for _ in 0..3 {
        reserve(&s, "bob", &["src/a.rs", "src/b.rs"], true);
    }
    assert_eq!(events_of(&s, Kind::ReservationConflict).len(), 1);
    reserve(&s, "carol", &["src/a.rs"], true);
    assert_eq!(events_of(&s, Kind::ReservationConflict).len(), 2);
    clock.advance(NOTIFY_INTERVAL_MS + 1);
    reserve(&s, "carol", &["src/a.rs"], true);
    assert_eq!(events_of(&s, Kind::ReservationConflict).len(), 3);
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let (_d, s, _c) = store();
    let before = s.total_changes();
    let cases: Vec<(ReserveRequest, ErrorCode)> = vec![
        (req(&[], true), ErrorCode::Validation),
        (req(&["/etc/passwd"], true), ErrorCode::Validation),
        (req(&["../x"], true), ErrorCode::Validation),
        (req(&["src/[a"], true), ErrorCode::Validation),
        (
            ReserveRequest {
                paths: (0..=MAX_PATHS).map(|i| format!("f{i}")).collect(),
                ..req(&[], true)
            },
            ErrorCode::Validation,
        ),
        (
            ReserveRequest {
                ttl_seconds: 0,
                ..req(&["a"], true)
            },
            ErrorCode::Validation,
        ),
        (
            ReserveRequest {
                ttl_seconds: MAX_TTL_SECONDS + 1,
                ..req(&["a"], true)
            },
            ErrorCode::Validation,
        ),
        (
            ReserveRequest {
                reason: " ".into(),
                ..req(&["a"], true)
            },
            ErrorCode::Validation,
        ),
        (
            ReserveRequest {
                reason: "r".repeat(MAX_REASON_CHARS + 1),
                ..req(&["a"], true)
            },
            ErrorCode::PayloadTooLarge,
        ),
        (
            ReserveRequest {
                project: "repo".into(),
                ..req(&["a"], true)
            },
            ErrorCode::Validation,
        ),
        (
            ReserveRequest {
                request_id: Some(String::new()),
                ..req(&["a"], true)
            },
            ErrorCode::Validation,
        ),
    ];
    for (r, code) in cases {
        assert_eq!(s.reserve_paths(as_("alice"), &r).unwrap_err().code, code, "{r:?}");
    }
    assert_eq!(
        s.renew_reservations(as_("alice"), PROJECT, Some(&[]), None)
            .unwrap_err()
            .code,
        ErrorCode::Validation
    );
    assert_eq!(
        s.release_paths(as_("alice"), PROJECT, Some(&["/x".to_string()]))
            .unwrap_err()
            .code,
        ErrorCode::Validation
    );
    assert_eq!(
        s.list_reservations(as_("alice"), None, Some("bad name"), 10)
            .unwrap_err()
            .code,
        ErrorCode::Validation
    );
    assert_eq!(s.total_changes(), before, "a refused call stores nothing");
    let e = s.reserve_paths(as_("nobody"), &req(&["a"], true)).unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthFailed);
}

#[test]
fn the_guard_sees_exclusive_reservations_of_others_in_any_spelling_of_the_repository() {
    let (_d, s, _c) = store();
    reserve(&s, "alice", &["src/**"], true);
    reserve(&s, "bob", &["docs/**"], false);
    let mut remote = req(&["Cargo.toml"], true);
    remote.project = "https://github.com/owner/repo.git".into();
    s.reserve_paths(as_("carol"), &remote).unwrap();
    let projects = vec![PROJECT.to_string(), "github.com/owner/repo".to_string()];
    let paths: Vec<String> = ["src/lib.rs", "docs/a.md", "Cargo.toml", "README.md"]
        .iter()
        .map(|p| p.to_string())
        .collect();
    let blocked = s.reservations_blocking(&projects, Some("bob"), &paths).unwrap();
    let got: Vec<(&str, &str)> = blocked
        .iter()
        .map(|b| (b.path.as_str(), b.holders[0].agent.as_str()))
        .collect();
    assert_eq!(got, [("src/lib.rs", "alice"), ("Cargo.toml", "carol")]);
    // The committer's own reservations never block it.
    let mine = s.reservations_blocking(&projects, Some("alice"), &paths).unwrap();
    assert_eq!(mine.len(), 1);
    // With no committer named, every exclusive reservation blocks.
    assert_eq!(s.reservations_blocking(&projects, None, &paths).unwrap().len(), 2);
}

#[test]
fn the_candidate_lookup_finds_every_overlapping_reservation() {
    // Reservations spread over many directories; each request must see
    // exactly the holders a full scan would find.
    let (_d, s, _c) = store();
    let held = [
        "src/**",
        "src/store/*.rs",
        "src/store/tasks/mod.rs",
        "**/Cargo.toml",
        "*.md",
        "docs/",
        "src/st*",
        "tests/it/[a-m]*.rs",
        "benches/coord/reserve.rs",
        "srcx/lib.rs",
    ];
    for (i, path) in held.iter().enumerate() {
        let who = ["alice", "carol"][i % 2];
        let r = reserve(&s, who, &[path], false);
        assert_eq!(r.granted.len(), 1, "{path}");
    }
    let asks = [
        "src/store/tasks/mod.rs",
        "src/store/x.rs",
        "src/",
        "Cargo.toml",
        "crates/a/Cargo.toml",
        "README.md",
        "docs/a/b.md",
        "tests/it/guard.rs",
        "tests/it/x.rs",
        "srcx/lib.rs",
        "src",
        "**",
        "benches/**",
        "s*/lib.rs",
    ];
    for ask in asks {
        let pattern = Pattern::parse(ask).unwrap();
        let mut want: Vec<String> = held
            .iter()
            .map(|h| Pattern::parse(h).unwrap())
            .filter(|h| h.overlaps(&pattern))
            .map(|h| h.as_str().to_owned())
            .collect();
        want.sort();
        let got = reserve(&s, "bob", &[ask], true);
        let mut holders: Vec<String> = got
            .conflicts
            .iter()
            .flat_map(|c| c.holders.iter().map(|h| h.path.clone()))
            .collect();
        holders.sort();
        assert_eq!(holders, want, "{ask}");
        s.release_paths(as_("bob"), PROJECT, None).unwrap();
    }
}
