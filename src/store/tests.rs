//! Store unit tests, driven by a [`ManualClock`] (no sleeps).

use std::sync::Arc;

use super::agents::Credential;
use super::messages::ReadFilter;
use super::retention::Retention;
use super::*;
use crate::ErrorCode;
use crate::clock::ManualClock;

pub(super) const DAY: i64 = 24 * 60 * 60 * 1000;

/// The transport of test calls (direct library calls, like the CLI's).
pub(super) const T: Transport = Transport::Cli;

pub(super) fn store() -> (tempfile::TempDir, Store, Arc<ManualClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let store = Store::open(&dir.path().join("relay.db"), clock.clone(), Limits::default()).unwrap();
    (dir, store, clock)
}

pub(super) fn caller(name: &str) -> Caller<'_> {
    Caller {
        agent: name,
        transport: T,
    }
}

fn all_caps() -> Vec<Capability> {
    Capability::GATES.to_vec()
}

fn reg(name: &str, caps: &[&str]) -> Registration {
    Registration {
        name: name.into(),
        role: Some("dev".into()),
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        description: None,
    }
}

#[test]
fn store_file_and_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/relay.db");
    Store::open(&path, ManualClock::new(0), Limits::default()).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn presence_moves_from_online_to_stale_to_offline_with_the_clock() {
    let (_d, s, clock) = store();
    s.bind_agent("alice", None, None, T).unwrap();
    assert_eq!(s.agent("alice").unwrap().unwrap().presence, Presence::Online);
    clock.advance(11 * 60 * 1000);
    assert_eq!(s.agent("alice").unwrap().unwrap().presence, Presence::Stale);
    assert_eq!(s.discover_agents(None, None, false).unwrap().len(), 1);
    clock.advance(60 * 60 * 1000);
    assert_eq!(s.agent("alice").unwrap().unwrap().presence, Presence::Offline);
    assert!(s.discover_agents(None, None, false).unwrap().is_empty());
    assert_eq!(s.discover_agents(None, None, true).unwrap().len(), 1);
}

#[test]
fn existing_name_needs_its_token_and_keeps_capabilities() {
    let (_d, s, _c) = store();
    let first = s
        .register_agent(&reg("bob", &["tasks"]), Credential::None, &all_caps(), T)
        .unwrap();
    let token = first.token.clone().unwrap();
    assert!(first.created);

    let taken = s
        .register_agent(&reg("bob", &["admin"]), Credential::None, &all_caps(), T)
        .unwrap_err();
    assert_eq!(taken.code, ErrorCode::NameTaken);
    let wrong = s
        .register_agent(&reg("bob", &["admin"]), Credential::Token("rly_wrong"), &all_caps(), T)
        .unwrap_err();
    assert_eq!(wrong.code, ErrorCode::AuthFailed);

    let again = s
        .register_agent(&reg("bob", &["admin"]), Credential::Token(&token), &all_caps(), T)
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.token, None);
    assert_eq!(again.agent.capabilities, vec!["tasks".to_string()]);
}

#[test]
fn unread_mail_survives_retention_and_read_mail_does_not() {
    let (_d, s, clock) = store();
    s.bind_agent("a", None, None, T).unwrap();
    s.bind_agent("b", None, None, T).unwrap();
    let read = s
        .send_message(caller("a"), "b", "old and read", Priority::Normal, None)
        .unwrap();
    let unread = s
        .send_message(caller("b"), "a", "old and unread", Priority::Normal, None)
        .unwrap();
    let page = s
        .get_messages(caller("b"), ReadFilter::Unread, None, 10, false)
        .unwrap();
    assert_eq!(page.messages[0].id, read.message_id);
    s.confirm_delivery(page.receipt.as_ref().unwrap()).unwrap();

    clock.advance(31 * DAY);
    let purged = s.purge(Retention::default()).unwrap();
    assert_eq!(purged.messages, 1);
    assert!(purged.events >= 2);
    let inbox = s.get_messages(caller("a"), ReadFilter::All, None, 10, true).unwrap();
    assert_eq!(inbox.messages.len(), 1);
    assert_eq!(inbox.messages[0].id, unread.message_id);
    assert!(
        s.get_messages(caller("b"), ReadFilter::All, None, 10, true)
            .unwrap()
            .messages
            .is_empty()
    );
}

#[test]
fn replies_share_the_thread_of_the_first_message() {
    let (_d, s, _c) = store();
    for n in ["a", "b", "c"] {
        s.bind_agent(n, None, None, T).unwrap();
    }
    let first = s.send_message(caller("a"), "b", "q", Priority::Normal, None).unwrap();
    let reply = s
        .send_message(caller("b"), "a", "r", Priority::High, Some(first.message_id))
        .unwrap();
    let again = s
        .send_message(caller("a"), "b", "s", Priority::Low, Some(reply.message_id))
        .unwrap();
    assert_eq!(first.thread_id, first.message_id);
    assert_eq!(reply.thread_id, first.message_id);
    assert_eq!(again.thread_id, first.message_id);
    let outsider = s
        .send_message(caller("c"), "a", "x", Priority::Normal, Some(first.message_id))
        .unwrap_err();
    assert_eq!(outsider.code, ErrorCode::NotParty);
}

#[test]
fn channel_cursor_advances_only_over_what_was_returned() {
    let (_d, s, _c) = store();
    s.bind_agent("a", None, Some(&["channels".into()]), T).unwrap();
    s.bind_agent("b", None, None, T).unwrap();
    s.create_channel(caller("a"), "dev", None).unwrap();
    s.post_to_channel(caller("a"), "dev", "before b joined", Priority::Normal)
        .unwrap();
    assert!(s.join_channel(caller("b"), "dev").unwrap());
    for i in 0..3 {
        s.post_to_channel(caller("a"), "dev", &format!("post {i}"), Priority::Normal)
            .unwrap();
    }
    let page = s.get_channel_messages(caller("b"), "dev", true, 2).unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["post 0", "post 1"]
    );
    assert_eq!(page.unread_remaining, 1);
    // Until the page is confirmed delivered, the cursor stays put.
    assert_eq!(s.get_channel_messages(caller("b"), "dev", true, 2).unwrap(), page);
    s.confirm_delivery(page.receipt.as_ref().unwrap()).unwrap();
    let page = s.get_channel_messages(caller("b"), "dev", true, 10).unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.unread_remaining, 0);
    s.confirm_delivery(page.receipt.as_ref().unwrap()).unwrap();
    assert_eq!(
        s.get_channel_messages(caller("b"), "dev", false, 10)
            .unwrap()
            .messages
            .len(),
        4
    );
}

#[test]
fn processes_opening_a_fresh_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Store::open(&path, ManualClock::new(0), Limits::default()).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

#[test]
fn a_panic_inside_a_write_rolls_back_and_leaves_the_store_usable() {
    let (_d, s, _c) = store();
    s.bind_agent("a", None, None, T).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.write(|conn, now| {
            conn.execute("INSERT INTO events (kind, created_at) VALUES ('x', ?1)", [now])?;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok(())
        })
    }));
    assert!(panicked.is_err());
    // Nothing half-written is visible and the next write works.
    s.send_message(caller("a"), "b", "after the panic", Priority::Normal, None)
        .unwrap();
    let half_written: i64 = s
        .read(|c, _| Ok(c.query_row("SELECT count(*) FROM events WHERE kind = 'x'", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(half_written, 0);
    // Another connection is not blocked by a leftover transaction.
    let other = Store::open(s.path(), ManualClock::new(0), Limits::default()).unwrap();
    other
        .send_message(caller("a"), "b", "from elsewhere", Priority::Normal, None)
        .unwrap();
    assert_eq!(other.unread_count("b").unwrap(), 2);
}

#[test]
fn a_batch_with_a_failed_call_commits_the_others_and_an_unhealthy_batch_commits_nothing() {
    let (_d, s, _c) = store();
    s.bind_agent("a", None, None, T).unwrap();
    let (results, committed) = s.batch(|| {
        let r = vec![
            s.send_message(caller("a"), "b", "one", Priority::Normal, None).is_ok(),
            s.send_message(caller("a"), "b", "", Priority::Normal, None).is_ok(),
            s.send_message(caller("a"), "b", "three", Priority::Normal, None)
                .is_ok(),
        ];
        (r, true)
    });
    committed.unwrap();
    assert_eq!(results, [true, false, true]);
    assert_eq!(s.unread_count("b").unwrap(), 2);

    let (_, committed) = s.batch(|| {
        s.send_message(caller("a"), "b", "lost", Priority::Normal, None)
            .unwrap();
        ((), false)
    });
    assert!(committed.is_err());
    assert_eq!(s.unread_count("b").unwrap(), 2);
}

#[test]
fn retention_counts_from_the_last_read_and_purges_large_backlogs_in_chunks() {
    let (_d, s, clock) = store();
    s.bind_agent("a", None, None, T).unwrap();
    s.bind_agent("b", None, None, T).unwrap();
    // 2,500 replies in one thread: purging them must not scan per row.
    let root = s
        .send_message(caller("a"), "b", "root", Priority::Normal, None)
        .unwrap();
    s.batch(|| {
        for i in 0..2_500 {
            s.send_message(
                caller("a"),
                "b",
                &format!("m{i}"),
                Priority::Normal,
                Some(root.message_id),
            )
            .unwrap();
        }
        ((), true)
    })
    .1
    .unwrap();
    clock.advance(40 * DAY);
    // Read 40 days after sending: kept for another 30 days.
    while let Some(receipt) = s
        .get_messages(caller("b"), ReadFilter::Unread, None, 100, false)
        .unwrap()
        .receipt
    {
        s.confirm_delivery(&receipt).unwrap();
    }
    assert_eq!(s.purge(Retention::default()).unwrap().messages, 0);
    assert_eq!(
        s.get_messages(caller("b"), ReadFilter::Read, None, 5, true)
            .unwrap()
            .messages
            .len(),
        5
    );
    clock.advance(31 * DAY);
    assert_eq!(s.purge(Retention::default()).unwrap().messages, 2_501);
    assert!(
        s.get_messages(caller("b"), ReadFilter::All, None, 5, true)
            .unwrap()
            .messages
            .is_empty()
    );
}

#[test]
fn channel_posts_are_kept_until_every_member_has_read_them() {
    let (_d, s, clock) = store();
    s.bind_agent("a", None, Some(&["channels".into()]), T).unwrap();
    s.bind_agent("b", None, None, T).unwrap();
    s.create_channel(caller("a"), "dev", None).unwrap();
    s.join_channel(caller("b"), "dev").unwrap();
    s.post_to_channel(caller("a"), "dev", "old post", Priority::Normal)
        .unwrap();
    clock.advance(31 * DAY);
    assert_eq!(s.purge(Retention::default()).unwrap().channel_messages, 0);
    let page = s.get_channel_messages(caller("b"), "dev", true, 10).unwrap();
    assert_eq!(page.messages.len(), 1);
    s.confirm_delivery(page.receipt.as_ref().unwrap()).unwrap();
    assert_eq!(s.purge(Retention::default()).unwrap().channel_messages, 1);
}

#[test]
fn a_new_name_gets_only_grantable_capabilities_and_no_case_twin() {
    let (_d, s, _c) = store();
    let grantable = vec![Capability::Channels];
    let e = s
        .register_agent(&reg("eve", &["admin"]), Credential::None, &grantable, T)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::CapDenied);
    assert!(s.agent("eve").unwrap().is_none());
    s.register_agent(&reg("eve", &["channels"]), Credential::None, &grantable, T)
        .unwrap();
    let twin = s
        .register_agent(&reg("EVE", &[]), Credential::None, &grantable, T)
        .unwrap_err();
    assert_eq!(twin.code, ErrorCode::NameTaken);
    assert_eq!(
        s.bind_agent("Eve", None, None, T).unwrap_err().code,
        ErrorCode::NameTaken
    );
}

#[test]
fn rebinding_keeps_the_role_and_operator_capability_changes_are_audited() {
    let (_d, s, _c) = store();
    s.bind_agent("a", Some("reviewer"), Some(&["tasks".into()]), T).unwrap();
    let again = s
        .register_agent(
            &Registration {
                name: "a".into(),
                ..Default::default()
            },
            Credential::BoundSession,
            &[],
            T,
        )
        .unwrap();
    assert_eq!(again.agent.role, "reviewer");
    s.bind_agent("a", None, Some(&["tasks".into(), "admin".into()]), T)
        .unwrap();
    let audit = s.audit_log(10).unwrap();
    assert_eq!(audit.iter().filter(|e| e.tool == "serve_bind").count(), 2, "{audit:?}");
    // Binding again with the same capabilities changes nothing and adds no row.
    s.bind_agent("a", None, Some(&["tasks".into(), "admin".into()]), T)
        .unwrap();
    assert_eq!(
        s.audit_log(10)
            .unwrap()
            .iter()
            .filter(|e| e.tool == "serve_bind")
            .count(),
        2
    );
}

#[test]
fn re_encrypt_loses_a_race_to_a_concurrent_write_and_reads_the_row_again() {
    use crate::crypto::{Codec, Field, Keyring};
    use crate::store::reencrypt::Plan;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let clock = ManualClock::new(1_700_000_000_000);
    let plain = Store::open(&path, clock.clone(), Limits::default()).unwrap();
    for n in ["a", "b"] {
        plain.bind_agent(n, None, None, T).unwrap();
    }
    for i in 0..5 {
        plain
            .send_message(caller("a"), "b", &format!("m{i}"), Priority::Normal, None)
            .unwrap();
    }
    drop(plain);
    let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [3u8; 32]);
    let keyring =
        Arc::new(Keyring::from_json(&format!(r#"{{"current":"k1","keys":{{"k1":"{key}"}}}}"#), "test").unwrap());
    let s = Store::open_with(&path, clock, Limits::default(), Codec::new(Some(keyring.clone()))).unwrap();
    let plan = Plan {
        to: "k1".into(),
        from: None,
    };
    assert!(!s.reencrypt_begin(&plan).unwrap());
    let prepared = s.reencrypt_prepare(&keyring, &plan, Field::MessageContent, 10).unwrap();
    assert_eq!(prepared.len(), 5);
    // An agent rewrites message 3 between the read and the write.
    s.write(|tx, _| Ok(tx.execute("UPDATE messages SET content = 'edited' WHERE id = 3", [])?))
        .unwrap();
    let batch = s.reencrypt_apply(&plan, prepared).unwrap();
    assert_eq!((batch.moved, batch.conflicts), (4, 1));
    assert_eq!(
        s.reencrypt_progress().unwrap()[0].cursor,
        2,
        "stops before the lost race"
    );
    // The next batch reads message 3 again; 4 and 5 are already moved.
    let batch = s.reencrypt_batch(&keyring, &plan, Field::MessageContent, 10).unwrap();
    assert_eq!((batch.scanned, batch.moved, batch.conflicts), (3, 1, 0));
    assert!(
        s.reencrypt_batch(&keyring, &plan, Field::MessageContent, 10)
            .unwrap()
            .done
    );
    let counts = s.key_counts(Field::MessageContent).unwrap();
    assert_eq!((counts.plain, counts.by_key["k1"]), (0, 5));
    let inbox = s.get_messages(caller("b"), ReadFilter::All, None, 10, true).unwrap();
    let texts: Vec<&str> = inbox.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["m0", "m1", "edited", "m3", "m4"]);
    s.reencrypt_finish().unwrap();
    assert!(s.reencrypt_progress().unwrap().is_empty());
    drop(s);
    // Once opened with a keyring, the store refuses a process without one.
    let err = Store::open(&path, ManualClock::new(0), Limits::default()).unwrap_err();
    assert_eq!(err.code, ErrorCode::Validation);
    assert!(err.message.contains("encrypted at rest"), "{}", err.message);
}

#[test]
fn a_file_that_is_not_a_relay_store_is_refused_and_left_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.db");
    let foreign = Connection::open(dir.path().join("foreign.db")).unwrap();
    foreign
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    drop(foreign);
    let cases = [
        Vec::new(),
        b"not a database at all".to_vec(),
        std::fs::read(dir.path().join("foreign.db")).unwrap(),
    ];
    for bytes in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(&path, ManualClock::new(0), Limits::default()).unwrap_err();
        assert_eq!(err.code, ErrorCode::CorruptStore, "{}", err.message);
        assert!(err.message.contains("relay restore"), "{}", err.message);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn a_sqlite_file_without_tables_becomes_a_store_and_a_new_one_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    Connection::open(&empty).unwrap().execute_batch("VACUUM").unwrap();
    Store::open(&empty, ManualClock::new(0), Limits::default()).unwrap();

    let fresh = tempfile::tempdir().unwrap();
    let path = fresh.path().join("relay.db");
    drop(Store::open(&path, ManualClock::new(0), Limits::default()).unwrap());
    let mut names: Vec<_> = std::fs::read_dir(fresh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["relay.db", "relay.db.lock", "relay.db.writer.lock"]);
}

/// Another process in the middle of a write: holds the writer lock and
/// SQLite's write lock until dropped.
struct Holder {
    _flock: std::fs::File,
    conn: Connection,
}

impl Holder {
    fn hold(db: &std::path::Path) -> Self {
        let flock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock::sidecar(db, ".writer.lock"))
            .unwrap();
        flock.lock().unwrap();
        let conn = Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        Self { _flock: flock, conn }
    }
}

#[test]
fn a_write_behind_a_stuck_writer_fails_at_its_deadline_naming_the_store() {
    let (_d, s, _c) = store();
    s.bind_agent("a", None, None, T).unwrap();
    let _holder = Holder::hold(s.path());
    let start = std::time::Instant::now();
    let err = with_deadline(start + Duration::from_millis(100), || {
        s.send_message(caller("a"), "b", "blocked", Priority::Normal, None)
    })
    .unwrap_err();
    // One budget for the writer lock and SQLite's lock together.
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(err.code, ErrorCode::Timeout);
    assert!(
        err.message.contains("relay doctor") && err.message.contains(&s.path().display().to_string()),
        "{}",
        err.message
    );
    // Auditing the timed-out call does not wait a second budget.
    let start = std::time::Instant::now();
    let _ = s.audit_failure(Some("a"), T, "send_message", ErrorCode::Timeout, &serde_json::json!({}));
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[test]
fn in_a_batch_a_call_that_cannot_begin_fails_alone_and_a_later_call_commits() {
    let (_d, s, _c) = store();
    s.bind_agent("a", None, None, T).unwrap();
    let holder = Holder::hold(s.path());
    let mut holder = Some(holder);
    let ((first, second), committed) = s.batch(|| {
        let first = with_deadline(std::time::Instant::now(), || {
            s.send_message(caller("a"), "b", "too late", Priority::Normal, None)
        });
        holder.take().unwrap().conn.execute_batch("ROLLBACK").unwrap();
        let second = with_deadline(std::time::Instant::now() + Duration::from_secs(5), || {
            s.send_message(caller("a"), "b", "in time", Priority::Normal, None)
        });
        ((first, second), true)
    });
    assert_eq!(first.unwrap_err().code, ErrorCode::Timeout);
    second.unwrap();
    committed.unwrap();
    assert_eq!(s.unread_count("b").unwrap(), 1);
}

/// A small tmpfs (these tests run as root), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(bytes: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -t tmpfs failed (these tests run as root)");
        Self(dir)
    }

    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        for size in [chunk.len(), 4096, 1] {
            while f.write_all(&chunk[..size]).is_ok() {}
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_disk_fails_every_write_of_a_batch_with_storage_full_and_reads_go_on() {
    let disk = Tmpfs::mount(4 << 20);
    let s = Store::open(&disk.0.path().join("relay.db"), ManualClock::new(0), Limits::default()).unwrap();
    s.bind_agent("a", None, None, T).unwrap();
    s.send_message(caller("a"), "b", "kept", Priority::Normal, None)
        .unwrap();
    let filler = disk.fill();
    let big = "x".repeat(16 * 1024);
    let alone = s
        .send_message(caller("a"), "b", &big, Priority::Normal, None)
        .unwrap_err();
    assert_eq!(alone.code, ErrorCode::StorageFull, "{}", alone.message);
    assert!(
        alone.message.contains(&s.path().display().to_string()),
        "{}",
        alone.message
    );
    let (oks, committed) = s.batch(|| {
        let oks: Vec<bool> = (0..3)
            .map(|_| s.send_message(caller("a"), "b", &big, Priority::Normal, None).is_ok())
            .collect();
        (oks, true)
    });
    assert!(oks.iter().all(|ok| *ok), "the savepoints succeed; the commit fails");
    assert_eq!(committed.unwrap_err().code, ErrorCode::StorageFull);
    assert_eq!(s.unread_count("b").unwrap(), 1);
    std::fs::remove_file(filler).unwrap();
    s.send_message(caller("a"), "b", "after", Priority::Normal, None)
        .unwrap();
    assert_eq!(s.unread_count("b").unwrap(), 2);
}

#[test]
fn a_bound_agent_may_grant_what_it_holds_and_an_unbound_session_the_self_service_set() {
    let (_d, s, _c) = store();
    s.bind_agent("lead", None, Some(&["spawn".into(), "rust".into()]), T)
        .unwrap();
    assert_eq!(
        s.grantable_capabilities(Some("lead")).unwrap(),
        [Capability::Spawn, Capability::Other("rust".into())]
    );
    assert_eq!(
        s.grantable_capabilities(None).unwrap(),
        [Capability::Tasks, Capability::Broadcast, Capability::Channels]
    );
    assert!(s.grantable_capabilities(Some("ghost")).unwrap().is_empty());
}

#[test]
fn the_inbox_view_shows_unread_mail_unread_and_only_open_assigned_tasks() {
    use super::tasks::{Action, NewTask, Update};
    let (_d, s, _c) = store();
    s.bind_agent("boss", None, Some(&["tasks".into()]), T).unwrap();
    s.bind_agent("w1", None, Some(&["tasks".into()]), T).unwrap();
    s.send_message(caller("boss"), "w1", "hello", Priority::Normal, None)
        .unwrap();
    let post = |title: &str| {
        let new = NewTask {
            to: Some("w1".into()),
            title: title.into(),
            description: "d".into(),
            ..NewTask::default()
        };
        s.post_task(caller("boss"), &new).unwrap().task.id
    };
    let (open, accepted, done) = (post("open"), post("accepted"), post("done"));
    s.update_task(caller("w1"), accepted, Action::Accept, &Update::default())
        .unwrap();
    s.update_task(caller("w1"), done, Action::Reject, &Update::default())
        .unwrap();
    let view = serde_json::to_value(s.inbox(caller("w1")).unwrap()).unwrap();
    let keys: Vec<_> = view.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "awaiting_ack",
            "awaiting_ack_count",
            "messages",
            "open_tasks",
            "outstanding",
            "unread_remaining"
        ]
    );
    assert_eq!(view["messages"][0]["content"], "hello");
    assert_eq!(view["unread_remaining"], 1);
    let ids: Vec<_> = view["open_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [accepted, open]);
    // A peek: the mail stays unread.
    assert_eq!(s.unread_count("w1").unwrap(), 1);
    assert_eq!(s.pending("w1").unwrap().open_tasks, [open, accepted]);
}

#[test]
fn a_page_without_a_limit_gets_the_default_and_limits_stay_within_1_to_100() {
    use super::messages::{DEFAULT_PAGE_LIMIT, page_limit};
    assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE_LIMIT);
    assert_eq!(DEFAULT_PAGE_LIMIT, 20);
    assert_eq!(page_limit(Some(100)).unwrap(), 100);
    for bad in [0, 101] {
        assert_eq!(page_limit(Some(bad)).unwrap_err().code, ErrorCode::Validation);
    }
}

#[test]
fn private_files_are_replaced_whole_with_mode_0600_or_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new").join("bot.token");
    write_private(&path, b"one\n").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
    write_private(&path, b"two\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
    // Staged and dropped: the old file stays, no temporary file is left.
    drop(PrivateFile::stage(&path).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
}
