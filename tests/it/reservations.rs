//! File reservations (SPEC §9, issue 13): reserve_paths, renew_reservations,
//! release_paths and list_reservations through the real binary, over
//! stdio and the HTTP hub.

use serde_json::{Value, json};

use crate::support::Relay;

const REPO: &str = "/work/repo";

fn reserve(paths: &[&str], reason: &str) -> Value {
    json!({"project": REPO, "paths": paths, "ttl_seconds": 600, "reason": reason})
}

fn paths_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_conflict_names_the_holder_its_glob_reason_and_expiry_in_both_directions() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;

    let a = alice
        .call("reserve_paths", reserve(&["src/**"], "refactoring the task store"))
        .await;
    assert_eq!(a["project"], REPO);
    assert_eq!(a["deduped"], false);
    assert_eq!(a["conflicts"], json!([]));
    let held = &a["granted"][0];
    assert_eq!(held["path"], "src/**");
    assert_eq!(held["agent"], "alice");
    assert_eq!(held["exclusive"], true, "exclusive is the default");
    assert_eq!(held["reason"], "refactoring the task store");
    assert!(held["id"].as_i64().unwrap() > 0);
    assert!(held["expires_at"].as_str().unwrap() > held["created_at"].as_str().unwrap());

    // A narrow path under a broad glob: refused, the free path granted.
    let b = bob
        .call(
            "reserve_paths",
            reserve(&["src/store/tasks.rs", "docs/intro.md"], "fixing a bug"),
        )
        .await;
    assert_eq!(paths_of(&b["granted"]), ["docs/intro.md"]);
    let conflict = &b["conflicts"][0];
    assert_eq!(conflict["path"], "src/store/tasks.rs");
    let holder = &conflict["holders"][0];
    assert_eq!(holder["agent"], "alice");
    assert_eq!(holder["path"], "src/**");
    assert_eq!(holder["reason"], "refactoring the task store");
    assert_eq!(holder["exclusive"], true);
    assert_eq!(holder["expires_at"], held["expires_at"]);
    assert_eq!(holder["reservation_id"], held["id"]);

    // A broad glob over a narrow holding: refused the other way round too.
    let c = alice.call("reserve_paths", reserve(&["docs/*.md"], "docs pass")).await;
    assert_eq!(c["granted"], json!([]));
    assert_eq!(c["conflicts"][0]["holders"][0]["agent"], "bob");
    assert_eq!(c["conflicts"][0]["holders"][0]["path"], "docs/intro.md");

    // `*` stays in its segment: no clash with a deeper file.
    let d = bob.call("reserve_paths", reserve(&["docs/guide/*.md"], "guide")).await;
    assert_eq!(paths_of(&d["granted"]), ["docs/guide/*.md"]);
    let e = alice
        .call("reserve_paths", reserve(&["docs/*"], "top-level docs"))
        .await;
    assert_eq!(e["conflicts"][0]["holders"].as_array().unwrap().len(), 1, "{e}");

    // An agent never clashes with itself; the same glob again is updated in place.
    let mine = alice.call("reserve_paths", reserve(&["src/lib.rs"], "mine too")).await;
    assert_eq!(paths_of(&mine["granted"]), ["src/lib.rs"]);
    let again = alice
        .call(
            "reserve_paths",
            json!({"project": REPO, "paths": ["src/"], "ttl_seconds": 900, "reason": "still refactoring", "exclusive": false}),
        )
        .await;
    assert_eq!(again["granted"][0]["id"], held["id"]);
    assert_eq!(again["granted"][0]["exclusive"], false);
    assert_eq!(again["granted"][0]["ttl_seconds"], 900);
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn shared_reservations_clash_only_with_exclusive_ones() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let carol = relay.agent("carol", &[]).await;
    let shared = |paths: &[&str]| json!({"project": REPO, "paths": paths, "ttl_seconds": 60, "reason": "reading", "exclusive": false});
    assert_eq!(
        alice.call("reserve_paths", shared(&["src/**"])).await["conflicts"],
        json!([])
    );
    assert_eq!(
        bob.call("reserve_paths", shared(&["src/lib.rs"])).await["conflicts"],
        json!([])
    );
    let excl = carol.call("reserve_paths", reserve(&["src/lib.rs"], "writing")).await;
    let holders: Vec<&str> = excl["conflicts"][0]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["agent"].as_str().unwrap())
        .collect();
    assert_eq!(holders, ["alice", "bob"]);
    carol.call("reserve_paths", reserve(&["docs/**"], "writing docs")).await;
    let refused = alice.call("reserve_paths", shared(&["docs/a.md"])).await;
    assert_eq!(refused["conflicts"][0]["holders"][0]["agent"], "carol");
    for c in [alice, bob, carol] {
        c.close().await;
    }
}

#[tokio::test]
async fn two_repositories_never_clash_and_one_repository_matches_itself_in_any_spelling() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let r = |project: &str| json!({"project": project, "paths": ["src/**"], "ttl_seconds": 60, "reason": "work"});
    let a = alice.call("reserve_paths", r("git@github.com:owner/repo.git")).await;
    assert_eq!(a["project"], "github.com/owner/repo");
    for other in [
        "https://github.com/owner/other",
        "/work/repo",
        "/work/repo2",
        "gitlab.com/owner/repo",
    ] {
        let b = bob.call("reserve_paths", r(other)).await;
        assert_eq!(b["conflicts"], json!([]), "{other} is another project");
    }
    for same in [
        "https://github.com/owner/repo",
        "ssh://git@github.com/owner/repo.git",
        "github.com/owner/repo/",
    ] {
        let b = bob.call("reserve_paths", r(same)).await;
        assert_eq!(
            b["conflicts"][0]["holders"][0]["agent"], "alice",
            "{same} is the same project"
        );
    }
    // Paths normalise the same way: /work/./repo/ is /work/repo.
    let c = alice.call("reserve_paths", r("/work/./repo/")).await;
    assert_eq!(c["project"], "/work/repo");
    assert_eq!(c["conflicts"][0]["holders"][0]["agent"], "bob");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn renew_release_and_list_and_expiry_on_the_injected_clock() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let short =
        json!({"project": REPO, "paths": ["src/**", "docs/**", "README.md"], "ttl_seconds": 60, "reason": "short"});
    alice.call("reserve_paths", short).await;
    bob.call("reserve_paths", reserve(&["tests/**"], "tests")).await;

    let all = bob.call("list_reservations", json!({})).await;
    assert_eq!(all["count"], 4);
    let alices = bob.call("list_reservations", json!({"agent": "alice"})).await;
    assert_eq!(paths_of(&alices["reservations"]), ["README.md", "docs/**", "src/**"]);
    let elsewhere = bob.call("list_reservations", json!({"project": "/work/other"})).await;
    assert_eq!(elsewhere["count"], 0);
    let limited = bob.call("list_reservations", json!({"limit": 2})).await;
    assert_eq!(limited["count"], 2);

    // Renew one for 10 minutes, release another.
    let renewed = alice
        .call(
            "renew_reservations",
            json!({"project": REPO, "paths": ["src/**", "nothing/here"], "ttl_seconds": 600}),
        )
        .await;
    assert_eq!(renewed["count"], 1);
    assert_eq!(renewed["reservations"][0]["ttl_seconds"], 600);
    assert_eq!(renewed["not_found"], json!(["nothing/here"]));
    let released = alice
        .call("release_paths", json!({"project": REPO, "paths": ["README.md"]}))
        .await;
    assert_eq!(released["count"], 1);
    assert_eq!(released["released"][0]["path"], "README.md");
    assert_eq!(
        bob.call("reserve_paths", reserve(&["README.md"], "mine now")).await["conflicts"],
        json!([])
    );
    // Releasing what you do not hold is harmless.
    assert_eq!(
        bob.call("release_paths", json!({"project": REPO, "paths": ["src/**"]}))
            .await["count"],
        0
    );

    // 61 s later docs/** has expired: free for bob, gone from the list.
    relay.advance_clock(61_000);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let b = bob
        .call("reserve_paths", reserve(&["docs/intro.md", "src/x.rs"], "later"))
        .await;
    assert_eq!(paths_of(&b["granted"]), ["docs/intro.md"]);
    assert_eq!(b["conflicts"][0]["holders"][0]["path"], "src/**");
    let alices = bob.call("list_reservations", json!({"agent": "alice"})).await;
    assert_eq!(paths_of(&alices["reservations"]), ["src/**"]);
    // An expired reservation cannot be renewed.
    let (code, _) = alice
        .call_err("renew_reservations", json!({"project": REPO, "paths": ["docs/**"]}))
        .await;
    assert_eq!(code, "NOT_FOUND");
    // Without ttl_seconds a renewal reuses each reservation's own.
    let again = alice.call("renew_reservations", json!({"project": REPO})).await;
    assert_eq!(again["reservations"][0]["ttl_seconds"], 600);
    // Release everything of alice's.
    let gone = alice.call("release_paths", json!({"project": REPO})).await;
    assert_eq!(gone["count"], 1);
    assert_eq!(
        bob.call("list_reservations", json!({"agent": "alice"})).await["count"],
        0
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn the_holder_is_woken_when_someone_waits_on_its_paths() {
    let relay = Relay::new();
    let alice = relay.listen(&["--agent", "alice", "--channel"]).await;
    alice.subscribe("relay://inbox/alice").await;
    let bob = relay.agent("bob", &[]).await;
    let held = alice.call("reserve_paths", reserve(&["src/**"], "refactoring")).await;
    let id = held["granted"][0]["id"].as_i64().unwrap();
    // Alice's own grant wakes nobody.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(alice.recorder().custom().is_empty(), "{:?}", alice.recorder().custom());

    bob.call("reserve_paths", reserve(&["src/lib.rs"], "bug fix")).await;
    assert!(
        alice
            .recorder()
            .wait_for(10, |r| !r.custom().is_empty() && !r.updated().is_empty())
            .await,
        "the holder was not woken: {:?} {:?}",
        alice.recorder().custom(),
        alice.recorder().updated()
    );
    let (method, params) = &alice.recorder().custom()[0];
    assert_eq!(method, "notifications/claude/channel");
    assert_eq!(params["meta"]["event"], "reservation_conflict");
    assert_eq!(params["meta"]["from"], "bob");
    assert_eq!(params["meta"]["id"], id.to_string());
    assert!(params["content"].as_str().unwrap().contains("list_reservations"));
    assert!(
        !params.to_string().contains("bug fix"),
        "the envelope carries no reason text"
    );
    assert_eq!(alice.recorder().updated()[0], "relay://inbox/alice");
    // A retry loop does not flood the holder.
    for _ in 0..3 {
        bob.call("reserve_paths", reserve(&["src/lib.rs"], "bug fix")).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(alice.recorder().custom().len(), 1, "{:?}", alice.recorder().custom());
    let _ = alice.service.cancel().await;
    bob.close().await;
}

#[tokio::test]
async fn a_request_id_makes_a_retry_safe() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    alice.call("reserve_paths", reserve(&["src/lib.rs"], "a")).await;
    let mut args = reserve(&["src/**", "docs/**"], "b");
    args["request_id"] = json!("retry-1");
    let first = bob.call("reserve_paths", args.clone()).await;
    assert_eq!(first["deduped"], false);
    assert_eq!(paths_of(&first["granted"]), ["docs/**"]);
    let replay = bob.call("reserve_paths", args.clone()).await;
    assert_eq!(replay["deduped"], true);
    assert_eq!(replay["granted"], first["granted"]);
    assert_eq!(replay["conflicts"], first["conflicts"]);
    assert_eq!(bob.call("list_reservations", json!({"agent": "bob"})).await["count"], 1);
    args["reason"] = json!("other");
    let (code, body) = bob.call_err("reserve_paths", args).await;
    assert_eq!(code, "IDEMPOTENCY_CONFLICT");
    assert!(body["error"].as_str().unwrap().contains("retry-1"));
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn bad_input_gets_its_error_code_stores_nothing_and_the_session_goes_on() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let ok = |paths: Value| json!({"project": REPO, "paths": paths, "ttl_seconds": 60, "reason": "r"});
    let many: Vec<String> = (0..101).map(|i| format!("f{i}")).collect();
    let cases = [
        ("reserve_paths", ok(json!([])), "VALIDATION"),
        ("reserve_paths", ok(json!(["/etc/passwd"])), "VALIDATION"),
        ("reserve_paths", ok(json!(["../other/src/lib.rs"])), "VALIDATION"),
        ("reserve_paths", ok(json!(["src/../../x"])), "VALIDATION"),
        ("reserve_paths", ok(json!(["src/[a.rs"])), "VALIDATION"),
        ("reserve_paths", ok(json!(["src\\lib.rs"])), "VALIDATION"),
        ("reserve_paths", ok(json!(["src/{a,b}.rs"])), "VALIDATION"),
        (
            "reserve_paths",
            ok(json!([format!("src/{}", "a".repeat(600))])),
            "VALIDATION",
        ),
        ("reserve_paths", ok(json!(many)), "VALIDATION"),
        (
            "reserve_paths",
            json!({"project": "repo", "paths": ["a"], "ttl_seconds": 60, "reason": "r"}),
            "VALIDATION",
        ),
        (
            "reserve_paths",
            json!({"project": REPO, "paths": ["a"], "ttl_seconds": 0, "reason": "r"}),
            "VALIDATION",
        ),
        (
            "reserve_paths",
            json!({"project": REPO, "paths": ["a"], "ttl_seconds": 604_801, "reason": "r"}),
            "VALIDATION",
        ),
        (
            "reserve_paths",
            json!({"project": REPO, "paths": ["a"], "ttl_seconds": 60, "reason": " "}),
            "VALIDATION",
        ),
        (
            "reserve_paths",
            json!({"project": REPO, "paths": ["a"], "ttl_seconds": 60, "reason": "r".repeat(257)}),
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "reserve_paths",
            json!({"project": REPO, "paths": ["a"], "ttl_seconds": 60, "reason": "r", "request_id": ""}),
            "VALIDATION",
        ),
        (
            "reserve_paths",
            json!({"project": REPO, "paths": ["a"], "reason": "r"}),
            "VALIDATION",
        ),
        (
            "reserve_paths",
            json!({"project": REPO, "paths": ["a"], "ttl_seconds": 60, "reason": "r", "agent": "bob"}),
            "VALIDATION",
        ),
        ("renew_reservations", json!({"project": REPO}), "NOT_FOUND"),
        (
            "renew_reservations",
            json!({"project": REPO, "paths": []}),
            "VALIDATION",
        ),
        (
            "renew_reservations",
            json!({"project": "", "paths": ["a"]}),
            "VALIDATION",
        ),
        (
            "release_paths",
            json!({"project": REPO, "paths": ["/abs"]}),
            "VALIDATION",
        ),
        ("release_paths", json!({"project": "relative/dir"}), "VALIDATION"),
        ("list_reservations", json!({"agent": "not a name"}), "VALIDATION"),
        ("list_reservations", json!({"limit": 0}), "VALIDATION"),
        ("list_reservations", json!({"project": "x"}), "VALIDATION"),
    ];
    for (tool, args, want) in &cases {
        let (code, body) = alice.call_err(tool, args.clone()).await;
        assert_eq!(&code, want, "{tool} {args}: {body}");
    }
    // Nothing was stored, and the session still serves.
    assert_eq!(alice.call("list_reservations", json!({})).await["count"], 0);
    let good = alice.call("reserve_paths", reserve(&["src/lib.rs"], "fine")).await;
    assert_eq!(paths_of(&good["granted"]), ["src/lib.rs"]);
    // Each refused mutating call left an audit row with its code, and the
    // granted one an ok row.
    let audit = relay.store().audit_log(100).unwrap();
    let refused = audit
        .iter()
        .filter(|a| a.tool == "reserve_paths" && a.outcome != "ok")
        .count();
    assert_eq!(refused, cases.iter().filter(|c| c.0 == "reserve_paths").count());
    assert!(
        audit
            .iter()
            .any(|a| a.tool == "reserve_paths" && a.outcome == "ok" && a.transport == "stdio")
    );
    assert!(
        audit
            .iter()
            .any(|a| a.tool == "renew_reservations" && a.outcome == "NOT_FOUND")
    );
    alice.close().await;
}

#[tokio::test]
async fn reservations_work_the_same_over_the_http_hub() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let alice_token = hub.register("alice").await;
    let bob_token = hub.register("bob").await;
    let alice = hub.session(Some(&alice_token)).await;
    let bob = hub.stateless(Some(&bob_token)).await;
    alice
        .call("reserve_paths", reserve(&["src/store/**"], "store work"))
        .await;
    let b = bob.call("reserve_paths", reserve(&["src/**"], "everything")).await;
    assert_eq!(b["granted"], json!([]));
    assert_eq!(b["conflicts"][0]["holders"][0]["agent"], "alice");
    assert_eq!(b["conflicts"][0]["holders"][0]["reason"], "store work");
    // A stdio session sees the same store.
    let carol = relay.agent("carol", &[]).await;
    assert_eq!(
        carol.call("list_reservations", json!({"agent": "alice"})).await["count"],
        1
    );
    assert_eq!(alice.call("release_paths", json!({"project": REPO})).await["count"], 1);
    assert_eq!(
        bob.call("reserve_paths", reserve(&["src/**"], "everything")).await["granted"][0]["agent"],
        "bob"
    );
    let (code, _) = bob.call_err("reserve_paths", reserve(&["/abs"], "x")).await;
    assert_eq!(code, "VALIDATION");
    let audit = relay.store().audit_log(50).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.tool == "reserve_paths" && a.transport == "http" && a.agent.as_deref() == Some("bob"))
    );
    alice.close().await;
    bob.close().await;
    carol.close().await;
}
