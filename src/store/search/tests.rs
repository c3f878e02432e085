//! Search unit tests: the index through the store API, on a [`ManualClock`](crate::clock::ManualClock).

use super::*;
use crate::ErrorCode;
use crate::store::messages::Priority;
use crate::store::tests::{DAY, caller, store};

fn search(s: &Store, who: &str, query: &str) -> SearchResults {
    s.search_messages(
        caller(who),
        &SearchRequest {
            query: query.into(),
            ..SearchRequest::default()
        },
    )
    .unwrap()
}

fn ids(r: &SearchResults) -> Vec<(HitKind, i64)> {
    r.results.iter().map(|h| (h.kind, h.id)).collect()
}

fn agents(s: &Store, names: &[&str]) {
    for n in names {
        s.bind_agent(
            n,
            None,
            Some(&["channels".into(), "broadcast".into()]),
            crate::store::Transport::Cli,
        )
        .unwrap();
    }
}

#[test]
fn finds_only_what_the_caller_may_read() {
    let (_d, s, _c) = store();
    agents(&s, &["a", "b", "c", "d"]);
    let to_b = s
        .send_message(caller("a"), "b", "Deploy the relay on Friday", Priority::Normal, None)
        .unwrap();
    let from_b = s
        .send_message(caller("b"), "a", "friday works for the deploy", Priority::Normal, None)
        .unwrap();
    s.send_message(caller("c"), "d", "deploy friday secret", Priority::Normal, None)
        .unwrap();
    let all = s
        .broadcast(caller("c"), "deploy freeze on friday", None, Priority::Normal)
        .unwrap();
    let r = search(&s, "b", "deploy friday");
    let mut got = ids(&r);
    got.sort_by_key(|x| x.1);
    assert_eq!(
        got,
        [
            (HitKind::Direct, to_b.message_id),
            (HitKind::Direct, from_b.message_id),
            (HitKind::Broadcast, all.message_id)
        ]
    );
    assert_eq!(r.count, 3);
    assert!(!r.capped && !r.partial);
    let hit = r.results.iter().find(|h| h.id == to_b.message_id).unwrap();
    assert_eq!(hit.from, "a");
    assert_eq!(hit.to.as_deref(), Some("b"));
    assert_eq!(hit.snippet, "[Deploy] the relay on [Friday]");
    assert_eq!(hit.thread_id, Some(to_b.message_id));
    // d sees c's private mail and the broadcast, never a's to b.
    let mut d: Vec<i64> = ids(&search(&s, "d", "deploy")).into_iter().map(|x| x.1).collect();
    d.sort();
    assert_eq!(d, [3, all.message_id]);
    // The sender of a broadcast finds it too.
    assert_eq!(ids(&search(&s, "c", "freeze")), [(HitKind::Broadcast, all.message_id)]);
    // Every word must match.
    assert!(search(&s, "b", "deploy tuesday").results.is_empty());
}

#[test]
fn channel_posts_are_searchable_by_current_members_only() {
    let (_d, s, _c) = store();
    agents(&s, &["a", "b"]);
    s.create_channel(caller("a"), "ops", None).unwrap();
    let post = s
        .post_to_channel(caller("a"), "ops", "rollback plan for the migration", Priority::Normal)
        .unwrap();
    assert!(search(&s, "b", "rollback").results.is_empty());
    // Joining shows posts from before the join, as get_channel_messages all does.
    s.join_channel(caller("b"), "ops").unwrap();
    let r = search(&s, "b", "rollback migration");
    assert_eq!(ids(&r), [(HitKind::Channel, post.id)]);
    assert_eq!(r.results[0].channel.as_deref(), Some("ops"));
    assert_eq!(r.results[0].thread_id, None);
    s.leave_channel(caller("b"), "ops").unwrap();
    assert!(search(&s, "b", "rollback").results.is_empty());
    // Even its own posts leave with the channel.
    s.join_channel(caller("b"), "ops").unwrap();
    s.post_to_channel(caller("b"), "ops", "my rollback note", Priority::Normal)
        .unwrap();
    s.leave_channel(caller("b"), "ops").unwrap();
    assert!(search(&s, "b", "rollback").results.is_empty());
    assert_eq!(search(&s, "a", "rollback").count, 2);
}

#[test]
fn more_hits_rank_first_and_phrases_must_be_adjacent() {
    let (_d, s, _c) = store();
    agents(&s, &["a", "b"]);
    for i in 0..5 {
        s.send_message(
            caller("a"),
            "b",
            &format!("unrelated filler {i}"),
            Priority::Normal,
            None,
        )
        .unwrap();
    }
    let once = s
        .send_message(
            caller("a"),
            "b",
            "the cache is cold today, and the rest is fine",
            Priority::Normal,
            None,
        )
        .unwrap();
    let often = s
        .send_message(
            caller("a"),
            "b",
            "cache cache cache: warm the cache",
            Priority::Normal,
            None,
        )
        .unwrap();
    let r = search(&s, "b", "cache");
    assert_eq!(
        ids(&r),
        [(HitKind::Direct, often.message_id), (HitKind::Direct, once.message_id)]
    );
    assert!(r.results[0].score > r.results[1].score);
    assert_eq!(
        ids(&search(&s, "b", "\"cache is cold\"")),
        [(HitKind::Direct, once.message_id)]
    );
    assert!(search(&s, "b", "\"cold cache\"").results.is_empty());
    // FTS5 syntax is just words.
    for q in [
        "cache OR nothing",
        "NOT cache",
        "cache*",
        "\"cache",
        "meta:cache",
        "{body}:cache",
        "cache AND",
        "(cache",
    ] {
        s.search_messages(
            caller("b"),
            &SearchRequest {
                query: q.into(),
                ..SearchRequest::default()
            },
        )
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    assert!(search(&s, "b", "cache OR nothing").results.is_empty());
}

#[test]
fn filters_narrow_and_bad_arguments_are_refused() {
    let (_d, s, clock) = store();
    agents(&s, &["a", "b", "c"]);
    s.create_channel(caller("a"), "ops", None).unwrap();
    s.join_channel(caller("b"), "ops").unwrap();
    let first = s
        .send_message(caller("a"), "b", "build is red", Priority::Normal, None)
        .unwrap();
    clock.advance(DAY);
    let reply = s
        .send_message(
            caller("b"),
            "a",
            "build fixed",
            Priority::Normal,
            Some(first.message_id),
        )
        .unwrap();
    let other = s
        .send_message(caller("c"), "b", "build log attached", Priority::Normal, None)
        .unwrap();
    let post = s
        .post_to_channel(caller("a"), "ops", "build dashboard", Priority::Normal)
        .unwrap();
    let run = |req: SearchRequest| -> Vec<i64> {
        let mut v: Vec<i64> = s
            .search_messages(caller("b"), &req)
            .unwrap()
            .results
            .iter()
            .map(|h| h.id)
            .collect();
        v.sort();
        v
    };
    let q = || SearchRequest {
        query: "build".into(),
        ..SearchRequest::default()
    };
    assert_eq!(run(q()).len(), 4);
    assert_eq!(
        run(SearchRequest {
            from: Some("a".into()),
            ..q()
        }),
        [first.message_id, post.id]
    );
    assert_eq!(
        run(SearchRequest {
            thread_id: Some(first.message_id),
            ..q()
        }),
        [first.message_id, reply.message_id]
    );
    assert_eq!(
        run(SearchRequest {
            channel: Some("ops".into()),
            ..q()
        }),
        [post.id]
    );
    let since = rfc3339(s.now() - 1000);
    assert_eq!(
        run(SearchRequest {
            since: Some(since),
            ..q()
        }),
        [post.id, reply.message_id, other.message_id]
    );
    assert_eq!(run(SearchRequest { limit: Some(1), ..q() }).len(), 1);
    let err = |req: SearchRequest| s.search_messages(caller("b"), &req).unwrap_err().code;
    assert_eq!(
        err(SearchRequest {
            channel: Some("nope".into()),
            ..q()
        }),
        ErrorCode::NotFound
    );
    s.create_channel(caller("a"), "private", None).unwrap();
    assert_eq!(
        err(SearchRequest {
            channel: Some("private".into()),
            ..q()
        }),
        ErrorCode::NotMember
    );
    for bad in [
        SearchRequest {
            query: " ".into(),
            ..q()
        },
        SearchRequest {
            query: "x".repeat(300),
            ..q()
        },
        SearchRequest {
            since: Some("last week".into()),
            ..q()
        },
        SearchRequest { limit: Some(0), ..q() },
        SearchRequest {
            limit: Some(101),
            ..q()
        },
        SearchRequest {
            thread_id: Some(0),
            ..q()
        },
        SearchRequest {
            thread_id: Some(1),
            channel: Some("ops".into()),
            ..q()
        },
        SearchRequest {
            from: Some("bad name".into()),
            ..q()
        },
        SearchRequest {
            channel: Some("Bad!".into()),
            ..q()
        },
    ] {
        assert_eq!(err(bad.clone()), ErrorCode::Validation, "{bad:?}");
    }
    assert_eq!(
        s.search_messages(caller("nobody"), &q()).unwrap_err().code,
        ErrorCode::AuthFailed
    );
}

fn index_rows(s: &Store) -> i64 {
    s.read(|c, _| Ok(c.query_row("SELECT count(*) FROM message_search", [], |r| r.get(0))?))
        .unwrap()
}

#[test]
fn retention_takes_the_index_rows_with_the_messages() {
    let (_d, s, clock) = store();
    agents(&s, &["a", "b"]);
    s.create_channel(caller("a"), "ops", None).unwrap();
    s.send_message(caller("a"), "b", "purge me later", Priority::Normal, None)
        .unwrap();
    s.post_to_channel(caller("a"), "ops", "purge this post", Priority::Normal)
        .unwrap();
    let page = s
        .get_messages(caller("b"), crate::store::messages::ReadFilter::Unread, None, 10, false)
        .unwrap();
    s.confirm_delivery(page.receipt.as_ref().unwrap()).unwrap();
    assert_eq!(index_rows(&s), 2);
    clock.advance(31 * DAY);
    let purged = s.purge(crate::store::retention::Retention::default()).unwrap();
    assert_eq!((purged.messages, purged.channel_messages), (1, 1));
    assert_eq!(index_rows(&s), 0);
    assert!(search(&s, "a", "purge").results.is_empty());
}

#[test]
fn a_store_from_before_the_index_is_backfilled() {
    let (_d, s, _c) = store();
    agents(&s, &["a", "b"]);
    s.create_channel(caller("a"), "ops", None).unwrap();
    s.join_channel(caller("b"), "ops").unwrap();
    for i in 0..(SEARCH_BACKFILL_DOCS + 10) {
        s.send_message(caller("a"), "b", &format!("old note {i}"), Priority::Normal, None)
            .unwrap();
    }
    s.post_to_channel(caller("a"), "ops", "old post", Priority::Normal)
        .unwrap();
    // As migration 7 leaves a store that had messages: an empty index and marks.
    s.write(|tx, _| {
        tx.execute_batch(
            "DELETE FROM message_search;
             INSERT INTO store_meta (key, value) SELECT 'search_backfill_messages', max(id) FROM messages;
             INSERT INTO store_meta (key, value) SELECT 'search_backfill_channel_messages', max(id) FROM channel_messages;"
        )?;
        Ok(())
    })
    .unwrap();
    assert_eq!(index_rows(&s), 0);
    let fresh = s
        .send_message(caller("a"), "b", "new note", Priority::Normal, None)
        .unwrap();
    // The first search indexes the newest first and says it is partial.
    let r = search(&s, "b", "note");
    assert!(r.partial);
    assert_eq!(r.results[0].id, fresh.message_id);
    assert_eq!(index_rows(&s), SEARCH_BACKFILL_DOCS as i64 + 1);
    // Retention finishes it.
    s.purge(crate::store::retention::Retention::default()).unwrap();
    assert!(!s.search_backfill_pending().unwrap());
    assert_eq!(index_rows(&s), SEARCH_BACKFILL_DOCS as i64 + 12);
    let r = search(&s, "b", "old 7");
    assert!(!r.partial);
    assert_eq!(r.results[0].snippet, "[old] note [7]");
    assert_eq!(search(&s, "b", "old post").count, 1);
}

#[test]
fn the_migration_marks_existing_messages_for_backfill() {
    let mut c = rusqlite::Connection::open_in_memory().unwrap();
    crate::store::schema::migrate(&mut c).unwrap();
    // Run migration 7 again on a v6-like state: tables with rows, no index.
    c.execute_batch(
        "DROP TABLE message_search; DROP TRIGGER IF EXISTS messages_search_delete;
         DROP TRIGGER IF EXISTS channel_messages_search_delete;
         INSERT INTO messages (sender, kind, content, priority, created_at) VALUES ('a', 'direct', 'x', 'low', 0), ('a', 'direct', 'y', 'low', 0);",
    )
    .unwrap();
    c.execute_batch(MIGRATION).unwrap();
    let marks: Vec<(String, String)> = c
        .prepare("SELECT key, value FROM store_meta WHERE key LIKE 'search_%'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(marks, [("search_backfill_messages".to_string(), "2".to_string())]);
}

#[test]
fn the_plans_walk_the_index_backwards() {
    let (_d, s, _c) = store();
    let plans: Vec<String> = s
        .read(|c, _| {
            let mut out = Vec::new();
            for sql in [
                "EXPLAIN QUERY PLAN SELECT message_search.rowid, relay_rank(message_search, X'') FROM message_search
                   JOIN messages m ON m.id = message_search.rowid
                 WHERE message_search MATCH 'x' AND message_search.rowid >= 0 AND message_search.rowid < 5
                   AND m.created_at >= 0 ORDER BY message_search.rowid DESC LIMIT 5",
                "EXPLAIN QUERY PLAN SELECT rowid, relay_rank(message_search, X'') FROM message_search
                 WHERE message_search MATCH 'x' AND rowid >= 0 AND rowid < 5 ORDER BY rowid DESC LIMIT 5",
            ] {
                let rows: Vec<String> = c
                    .prepare(sql)?
                    .query_map([], |r| r.get::<_, String>(3))?
                    .collect::<rusqlite::Result<_>>()?;
                out.push(rows.join(" | "));
            }
            Ok(out)
        })
        .unwrap();
    for p in &plans {
        assert!(p.starts_with("SCAN message_search VIRTUAL TABLE"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }
}

#[test]
fn compaction_merges_the_segments_of_many_small_commits() {
    let (_d, s, _c) = store();
    agents(&s, &["a", "b"]);
    for i in 0..40 {
        s.send_message(
            caller("a"),
            "b",
            &format!("note {i} about merging"),
            Priority::Normal,
            None,
        )
        .unwrap();
    }
    let segments = |s: &Store| -> i64 {
        s.read(|c, _| Ok(c.query_row("SELECT count(DISTINCT segid) FROM message_search_idx", [], |r| r.get(0))?))
            .unwrap()
    };
    let before = segments(&s);
    assert!(before > 2, "{before}");
    assert!(s.search_compact().unwrap() >= 1);
    assert!(segments(&s) < before, "{} of {before}", segments(&s));
    assert_eq!(s.search_compact().unwrap(), 0, "nothing left to merge");
    assert_eq!(search(&s, "b", "merging").count, 20);
}
