//! `search_messages` (SPEC §9) through the real binary: what the caller
//! may read and nothing else, ranking, snippets, filters, limits, errors,
//! retention, an upgraded store's backfill, and the HTTP hub.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::{Client, Relay, clock_file};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// `(kind, id)` of every result, in order.
fn hits(r: &Value) -> Vec<(String, i64)> {
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["kind"].as_str().unwrap().to_owned(), h["id"].as_i64().unwrap()))
        .collect()
}

fn sorted(mut v: Vec<(String, i64)>) -> Vec<(String, i64)> {
    v.sort();
    v
}

fn k(kind: &str, id: &Value) -> (String, i64) {
    (kind.to_owned(), id.as_i64().unwrap())
}

async fn search(c: &Client, args: Value) -> Value {
    c.call("search_messages", args).await
}

async fn send(from: &Client, to: &str, content: &str) -> Value {
    from.call("send_message", json!({"to": to, "content": content})).await
}

#[tokio::test]
async fn search_finds_what_the_caller_may_read_and_nothing_else() {
    let relay = Relay::new();
    let caps = ["channels", "broadcast"];
    let alice = relay.agent("alice", &caps).await;
    let bob = relay.agent("bob", &caps).await;
    let carol = relay.agent("carol", &caps).await;
    let dave = relay.agent("dave", &caps).await;

    let to_bob = send(&alice, "bob", "Deploy plan: we ship the relay on Friday").await;
    let from_bob = send(&bob, "alice", "friday deploy works for me").await;
    let private = send(&carol, "dave", "deploy friday, keep this between us").await;
    let all = carol
        .call("broadcast", json!({"content": "deploy freeze starts friday"}))
        .await;
    alice.call("create_channel", json!({"name": "ops"})).await;
    let ops_post = alice
        .call(
            "post_to_channel",
            json!({"channel": "ops", "content": "deploy checklist for friday"}),
        )
        .await;
    carol.call("create_channel", json!({"name": "hush"})).await;
    carol
        .call(
            "post_to_channel",
            json!({"channel": "hush", "content": "deploy friday plan, members only"}),
        )
        .await;

    // Bob is not in ops yet: its posts are not his to find.
    let before = search(&bob, json!({"query": "deploy friday"})).await;
    assert_eq!(
        sorted(hits(&before)),
        sorted(vec![
            k("direct", &to_bob["message_id"]),
            k("direct", &from_bob["message_id"]),
            k("broadcast", &all["message_id"]),
        ]),
        "{before}"
    );
    // Joining shows the channel's posts from before the join too.
    bob.call("join_channel", json!({"channel": "ops"})).await;
    let r = search(&bob, json!({"query": "deploy friday"})).await;
    assert_eq!(r["count"], 4, "{r}");
    assert_eq!(r["capped"], false);
    assert_eq!(r["partial"], false);
    assert!(hits(&r).contains(&k("channel", &ops_post["channel_message_id"])));
    let found: Vec<&Value> = r["results"].as_array().unwrap().iter().collect();
    let direct = found
        .iter()
        .find(|h| h["id"] == to_bob["message_id"] && h["kind"] == "direct")
        .unwrap();
    assert_eq!(direct["from"], "alice");
    assert_eq!(direct["to"], "bob");
    assert_eq!(direct["channel"], Value::Null);
    assert_eq!(direct["thread_id"], to_bob["thread_id"]);
    assert_eq!(direct["created_at"], to_bob["created_at"]);
    assert_eq!(direct["snippet"], "[Deploy] plan: we ship the relay on [Friday]");
    assert!(direct["score"].as_f64().unwrap() > 0.0);
    let post = found.iter().find(|h| h["kind"] == "channel").unwrap();
    assert_eq!(post["channel"], "ops");
    assert_eq!(post["to"], Value::Null);
    assert_eq!(post["thread_id"], Value::Null);
    let broadcast = found.iter().find(|h| h["kind"] == "broadcast").unwrap();
    assert_eq!(broadcast["from"], "carol");
    assert_eq!(broadcast["to"], Value::Null);

    // Dave sees carol's mail to him; nobody else does.
    let d = search(&dave, json!({"query": "between us"})).await;
    assert_eq!(hits(&d), vec![k("direct", &private["message_id"])]);
    for other in [&alice, &bob] {
        assert_eq!(search(other, json!({"query": "between us"})).await["count"], 0);
        assert_eq!(search(other, json!({"query": "members only"})).await["count"], 0);
    }
    // Leaving a channel takes its posts out of reach again.
    bob.call("leave_channel", json!({"channel": "ops"})).await;
    assert_eq!(search(&bob, json!({"query": "checklist"})).await["count"], 0);
    assert_eq!(search(&alice, json!({"query": "checklist"})).await["count"], 1);
    for c in [alice, bob, carol, dave] {
        c.close().await;
    }
}

#[tokio::test]
async fn more_hits_rank_first_with_highlighted_snippets_and_a_limit() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    for i in 0..6 {
        send(&alice, "bob", &format!("status update number {i}, nothing to see")).await;
    }
    let once = send(&alice, "bob", "the cache was cold this morning after the restart").await;
    let thrice = send(&alice, "bob", "Cache, cache, cache: warm the cache before the bench").await;
    let long = send(
        &alice,
        "bob",
        &format!(
            "{} then the cache\n\nmisses went away {}",
            "words before ".repeat(20),
            "and words after".repeat(20)
        ),
    )
    .await;
    let r = search(&bob, json!({"query": "cache"})).await;
    let order: Vec<i64> = hits(&r).into_iter().map(|(_, id)| id).collect();
    assert_eq!(order[0], thrice["message_id"].as_i64().unwrap(), "{r}");
    assert_eq!(order.len(), 3);
    let scores: Vec<f64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] > scores[1] && scores[1] >= scores[2], "{scores:?}");
    assert_eq!(
        r["results"][0]["snippet"],
        "[Cache], [cache], [cache]: warm the [cache] before the bench"
    );
    let snippet = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == long["message_id"])
        .unwrap()["snippet"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(snippet.starts_with('…') && snippet.ends_with('…'), "{snippet}");
    assert!(snippet.contains("then the [cache] misses went away"), "{snippet}");
    // A phrase must appear as written.
    let phrase = search(&bob, json!({"query": "\"cache was cold\""})).await;
    assert_eq!(hits(&phrase), vec![k("direct", &once["message_id"])]);
    assert_eq!(search(&bob, json!({"query": "\"cold cache\""})).await["count"], 0);
    // Every word must match; FTS5 operators are only words.
    assert_eq!(search(&bob, json!({"query": "cache restart"})).await["count"], 1);
    assert_eq!(search(&bob, json!({"query": "cache OR nothing"})).await["count"], 0);
    assert_eq!(search(&bob, json!({"query": "cache bench"})).await["count"], 1);
    assert_eq!(search(&bob, json!({"query": "NEAR(cache bench)"})).await["count"], 0);
    let one = search(&bob, json!({"query": "cache", "limit": 1})).await;
    assert_eq!(one["count"], 1);
    assert_eq!(hits(&one)[0].1, thrice["message_id"].as_i64().unwrap());
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn filters_narrow_by_sender_thread_channel_and_time() {
    let relay = Relay::new();
    let caps = ["channels"];
    let alice = relay.agent("alice", &caps).await;
    let bob = relay.agent("bob", &caps).await;
    let carol = relay.agent("carol", &caps).await;
    alice.call("create_channel", json!({"name": "builds"})).await;
    bob.call("join_channel", json!({"channel": "builds"})).await;
    let first = send(&alice, "bob", "the build is red again").await;
    relay.advance_clock(2 * DAY_MS);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let reply = bob
        .call(
            "send_message",
            json!({"to": "alice", "content": "build fixed", "reply_to": first["message_id"]}),
        )
        .await;
    let other = send(&carol, "bob", "build log attached").await;
    let post = alice
        .call(
            "post_to_channel",
            json!({"channel": "builds", "content": "build dashboard is up"}),
        )
        .await;
    let q = |extra: Value| {
        let mut args = json!({"query": "build"});
        args.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        args
    };
    assert_eq!(search(&bob, q(json!({}))).await["count"], 4);
    let from_alice = search(&bob, q(json!({"from": "alice"}))).await;
    assert_eq!(
        sorted(hits(&from_alice)),
        sorted(vec![
            k("direct", &first["message_id"]),
            k("channel", &post["channel_message_id"])
        ])
    );
    let thread = search(&bob, q(json!({"thread_id": first["message_id"]}))).await;
    assert_eq!(
        sorted(hits(&thread)),
        sorted(vec![
            k("direct", &first["message_id"]),
            k("direct", &reply["message_id"])
        ])
    );
    assert_eq!(reply["thread_id"], first["message_id"]);
    let channel = search(&bob, q(json!({"channel": "builds"}))).await;
    assert_eq!(hits(&channel), vec![k("channel", &post["channel_message_id"])]);
    // since: only what was sent at or after it (the clock moved two days).
    let since = search(&bob, q(json!({"since": reply["created_at"]}))).await;
    assert_eq!(
        sorted(hits(&since)),
        sorted(vec![
            k("direct", &reply["message_id"]),
            k("direct", &other["message_id"]),
            k("channel", &post["channel_message_id"]),
        ]),
        "{since}"
    );
    // An offset names the same instant.
    let day_before = search(&bob, q(json!({"since": "1970-01-01T01:00:00+01:00"}))).await;
    assert_eq!(day_before["count"], 4);
    let two = search(&bob, q(json!({"limit": 2}))).await;
    assert_eq!(two["count"], 2);
    for c in [alice, bob, carol] {
        c.close().await;
    }
}

#[tokio::test]
async fn bad_arguments_get_stable_codes_and_the_session_goes_on() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &["channels"]).await;
    let bob = relay.agent("bob", &["channels"]).await;
    alice.call("create_channel", json!({"name": "private"})).await;
    let long = "word ".repeat(60);
    let many: Vec<String> = (0..17).map(|i| format!("w{i}")).collect();
    let cases = [
        (json!({"query": ""}), "VALIDATION", "empty"),
        (json!({"query": "   "}), "VALIDATION", "empty"),
        (json!({"query": "?!"}), "VALIDATION", "no words"),
        (json!({"query": long}), "VALIDATION", "256"),
        (json!({"query": many.join(" ")}), "VALIDATION", "the limit is 16"),
        (json!({"query": "x", "since": "last tuesday"}), "VALIDATION", "RFC 3339"),
        (json!({"query": "x", "limit": 0}), "VALIDATION", "limit"),
        (json!({"query": "x", "limit": 101}), "VALIDATION", "limit"),
        (json!({"query": "x", "thread_id": 0}), "VALIDATION", "thread_id"),
        (
            json!({"query": "x", "thread_id": 3, "channel": "private"}),
            "VALIDATION",
            "exclude",
        ),
        (
            json!({"query": "x", "from": "no spaces allowed"}),
            "VALIDATION",
            "agent name",
        ),
        (json!({"query": "x", "channel": "Not A Name"}), "VALIDATION", "channel"),
        (json!({"query": "x", "channel": "nowhere"}), "NOT_FOUND", "no channel"),
        (
            json!({"query": "x", "channel": "private"}),
            "NOT_MEMBER",
            "join_channel",
        ),
    ];
    for (args, code, needle) in cases {
        let (got, body) = bob.call_err("search_messages", args.clone()).await;
        assert_eq!(got, code, "{args}: {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{args}: {body}");
    }
    assert_eq!(bob.call("health_check", json!({})).await["status"], "ok");
    assert_eq!(search(&bob, json!({"query": "x"})).await["count"], 0);
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn retention_takes_purged_messages_out_of_search() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &["channels"]).await;
    let bob = relay.agent("bob", &["channels"]).await;
    alice.call("create_channel", json!({"name": "ops"})).await;
    bob.call("join_channel", json!({"channel": "ops"})).await;
    send(&alice, "bob", "ephemeral kumquat note").await;
    alice
        .call(
            "post_to_channel",
            json!({"channel": "ops", "content": "ephemeral kumquat post"}),
        )
        .await;
    let unread = send(&alice, "bob", "kumquat reminder nobody reads").await;
    // Bob reads the note and the post (his cursor moves past it).
    bob.call("get_messages", json!({"limit": 1})).await;
    bob.call("get_channel_messages", json!({"channel": "ops"})).await;
    assert_eq!(search(&bob, json!({"query": "kumquat"})).await["count"], 3);

    relay.advance_clock(31 * DAY_MS);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // Retention (what `relay serve` runs hourly), on the installation's clock.
    let clock = Arc::new(relay::clock::OffsetFileClock::new(clock_file(&relay.config())));
    let store = relay::store::Store::open(&relay.db, clock, relay::store::Limits::default()).unwrap();
    let purged = store.purge(relay::store::retention::Retention::default()).unwrap();
    assert_eq!((purged.messages, purged.channel_messages), (1, 1), "{purged:?}");
    drop(store);
    // Unread mail is never purged, and stays findable.
    let r = search(&bob, json!({"query": "kumquat"})).await;
    assert_eq!(hits(&r), vec![k("direct", &unread["message_id"])], "{r}");
    assert_eq!(search(&alice, json!({"query": "ephemeral"})).await["count"], 0);
    let conn = rusqlite::Connection::open(&relay.db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM message_search", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "the index keeps only the unread message");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn messages_from_before_the_index_are_found_after_an_upgrade() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &["channels"]).await;
    let bob = relay.agent("bob", &["channels"]).await;
    alice.call("create_channel", json!({"name": "ops"})).await;
    bob.call("join_channel", json!({"channel": "ops"})).await;
    let old = send(&alice, "bob", "an old message about the quince migration").await;
    let old_post = alice
        .call(
            "post_to_channel",
            json!({"channel": "ops", "content": "quince rollout notes"}),
        )
        .await;
    alice.close().await;
    bob.close().await;
    // What migration 7 leaves in a store that had messages: an empty index
    // and the backfill marks (the SQL migration cannot index: it has no
    // keyring to hash with).
    {
        let conn = rusqlite::Connection::open(&relay.db).unwrap();
        conn.execute_batch(
            "DELETE FROM message_search;
             INSERT INTO store_meta (key, value) SELECT 'search_backfill_messages', max(id) FROM messages;
             INSERT INTO store_meta (key, value)
               SELECT 'search_backfill_channel_messages', max(id) FROM channel_messages;",
        )
        .unwrap();
    }
    let bob = relay.agent("bob", &["channels"]).await;
    let r = search(&bob, json!({"query": "quince"})).await;
    assert_eq!(
        sorted(hits(&r)),
        sorted(vec![
            k("direct", &old["message_id"]),
            k("channel", &old_post["channel_message_id"])
        ]),
        "{r}"
    );
    assert_eq!(r["partial"], false, "a small store is indexed by the first search");
    let conn = rusqlite::Connection::open(&relay.db).unwrap();
    let marks: i64 = conn
        .query_row(
            "SELECT count(*) FROM store_meta WHERE key LIKE 'search_backfill_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(marks, 0);
    bob.close().await;
}

#[tokio::test]
async fn search_works_over_the_http_hub() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let alice_token = hub.register("alice").await;
    let bob_token = hub.register("bob").await;
    let carol_token = hub.register("carol").await;
    let alice = hub.session(Some(&alice_token)).await;
    let bob = hub.session(Some(&bob_token)).await;
    let carol = hub.session(Some(&carol_token)).await;
    let sent = send(&alice, "bob", "the hub carries the persimmon report").await;
    send(&alice, "carol", "persimmon details for carol only").await;
    let r = search(&bob, json!({"query": "persimmon report"})).await;
    assert_eq!(hits(&r), vec![k("direct", &sent["message_id"])], "{r}");
    assert_eq!(r["results"][0]["snippet"], "the hub carries the [persimmon] [report]");
    assert_eq!(search(&bob, json!({"query": "persimmon"})).await["count"], 1);
    assert_eq!(search(&carol, json!({"query": "persimmon"})).await["count"], 1);
    assert_eq!(search(&alice, json!({"query": "persimmon"})).await["count"], 2);
    let (code, _) = bob.call_err("search_messages", json!({"query": ""})).await;
    assert_eq!(code, "VALIDATION");
    // A stateless 2026 client too.
    let stateless = hub.stateless(Some(&bob_token)).await;
    assert_eq!(search(&stateless, json!({"query": "persimmon"})).await["count"], 1);
    for c in [alice, bob, carol, stateless] {
        c.close().await;
    }
}
