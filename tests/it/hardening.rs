//! The store under hostile conditions, through the real binary: a file at
//! the store path that is not a store, a full disk, another process
//! stopped inside a write transaction.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Relay, Tmpfs};

/// `relay --db DB ARGS...` with the test's empty config.
fn relay_cmd(relay: &Relay, args: &[&str]) -> std::process::Output {
    relay.command(args).output().unwrap()
}

/// A SQLite database of another program, written by python3's sqlite3.
fn foreign_sqlite(path: &Path) {
    let status = Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             c.execute('CREATE TABLE notes (body TEXT)')\n\
             c.execute(\"INSERT INTO notes VALUES ('mine')\")\n\
             c.commit()\n\
             c.close()\n",
        )
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_empty_or_foreign_file_at_the_store_path_is_refused_and_left_untouched() {
    type Make = fn(&Path);
    let cases: [(&str, Make); 3] = [
        ("empty", |p| std::fs::write(p, b"").unwrap()),
        ("not sqlite", |p| {
            std::fs::write(p, b"my notes, not a database\n").unwrap()
        }),
        ("foreign sqlite", foreign_sqlite),
    ];
    for (case, make) in cases {
        let relay = Relay::new();
        make(&relay.db);
        let before = std::fs::read(&relay.db).unwrap();
        let new_config = relay.dir.path().join("new-config.toml");
        let new_config = new_config.to_str().unwrap();
        for args in [
            &["serve", "--agent", "alice"][..],
            &["recover", "alice", "--yes"][..],
            &["--config", new_config, "init", "--yes"][..],
        ] {
            let out = relay_cmd(&relay, args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{case} {args:?}: {stderr}");
            assert!(stderr.contains("CORRUPT_STORE"), "{case} {args:?}: {stderr}");
            assert!(
                stderr.contains("relay restore") && stderr.contains("move"),
                "{case} {args:?}: the message says what to do: {stderr}"
            );
            assert_eq!(
                std::fs::read(&relay.db).unwrap(),
                before,
                "{case} {args:?}: file changed"
            );
        }
    }
}

#[tokio::test]
async fn a_new_store_is_linked_into_place_complete_and_leaves_no_temporary_files() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    alice.call("send_message", json!({"to": "bob", "content": "hi"})).await;
    let mut names: Vec<String> = std::fs::read_dir(relay.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    alice.close().await;
    for name in &names {
        assert!(
            name == "empty-config.toml" || name.starts_with("relay.db"),
            "unexpected file {name} in {names:?}"
        );
    }
    assert!(names.iter().any(|n| n == "relay.db"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_storage_full_keeps_reads_working_and_writes_resume_when_freed() {
    let disk = Tmpfs::mount(8 << 20);
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("empty-config.toml"), "").unwrap();
    let relay = Relay {
        db: disk.path().join("relay.db"),
        dir: scratch,
    };
    let alice = relay.agent("alice", &["tasks"]).await;
    let bob = relay.agent("bob", &[]).await;
    let task = alice
        .call("post_task", json!({"to": "bob", "title": "t", "description": "d"}))
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    alice
        .call("send_message", json!({"to": "bob", "content": "before"}))
        .await;

    let filler = disk.fill("filler");
    let big = "x".repeat(16 * 1024);
    let (code, body) = alice
        .call_err("send_message", json!({"to": "bob", "content": big}))
        .await;
    assert_eq!(code, "STORAGE_FULL", "{body}");
    let text = body["error"].as_str().unwrap();
    assert!(
        text.contains(&relay.db.display().to_string()) && text.contains("free space"),
        "{text}"
    );
    // Pipelined calls share a batch; every one gets the same code.
    let sends = (0..4).map(|i| alice.call_raw("send_message", json!({"to": "bob", "content": format!("{i}{big}")})));
    for r in futures_join(sends).await {
        let body = r.structured_content.expect("structured error");
        assert_eq!(body["error_code"], "STORAGE_FULL", "{body}");
    }
    // The sessions go on, and reading works, also once the readers'
    // presence is due for a refresh (5 s) that cannot be written.
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    assert_eq!(alice.call("health_check", json!({})).await["status"], "ok");
    let inbox = bob.call("get_messages", json!({"peek": true})).await;
    assert_eq!(contents(&inbox), [json!("before")]);
    assert_eq!(bob.call("get_task", json!({"task_id": task})).await["task"]["id"], task);
    assert_eq!(bob.call("get_tasks", json!({})).await["count"], 1);
    // A page read while the disk is full is delivered; its receipt cannot
    // be written, so the mail stays unread and comes again.
    let first = bob.call("get_messages", json!({})).await;
    assert_eq!(first["messages"][0]["content"], "before");
    // The next read of the session waits for that receipt's write to be
    // tried (and fail: the disk is still full), so freeing the disk below
    // cannot race it.
    let again = bob.call("get_messages", json!({"peek": true})).await;
    assert_eq!(contents(&again), [json!("before")]);

    std::fs::remove_file(filler).unwrap();
    alice
        .call("send_message", json!({"to": "bob", "content": "after"}))
        .await;
    let inbox = bob.call("get_messages", json!({})).await;
    assert_eq!(contents(&inbox), [json!("before"), json!("after")]);
    alice.close().await;
    bob.close().await;
}

/// The `content` of each message of a `get_messages` result, in order.
fn contents(inbox: &serde_json::Value) -> Vec<serde_json::Value> {
    inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect()
}

/// Awaits all `futures` concurrently in this task; their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(f) = slot
                && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *result = Some(v);
                *slot = None;
            }
        }
        if pending.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("ready")).collect()
}

/// A python3 process holding `<db>.writer.lock` (flock) and a
/// `BEGIN IMMEDIATE` transaction on the store — what a relay process
/// stopped inside a write looks like to the others. Lets go when dropped.
struct StuckWriter {
    child: std::process::Child,
}

impl StuckWriter {
    fn hold(db: &Path) -> Self {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(
                "import fcntl, sqlite3, sys\n\
                 lock = open(sys.argv[1] + '.writer.lock', 'a+')\n\
                 fcntl.flock(lock, fcntl.LOCK_EX)\n\
                 c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                 c.execute('BEGIN IMMEDIATE')\n\
                 print('held', flush=True)\n\
                 sys.stdin.read()\n\
                 c.execute('ROLLBACK')\n",
            )
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held");
        Self { child }
    }

    fn release(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for StuckWriter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_behind_a_stopped_writer_time_out_within_the_busy_timeout_and_resume_after() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "before"}))
        .await;
    let stuck = StuckWriter::hold(&relay.db);

    let timed = |i: usize| {
        let alice = &alice;
        async move {
            let start = Instant::now();
            let r = alice
                .call_raw("send_message", json!({"to": "bob", "content": format!("blocked {i}")}))
                .await;
            (start.elapsed(), r)
        }
    };
    let health = async {
        let start = Instant::now();
        let r = alice.call("health_check", json!({})).await;
        (start.elapsed(), r)
    };
    let (sends, (health_took, health)) = tokio::join!(futures_join((0..4).map(timed)), health);
    // Documented bound: the busy timeout (5 s) per call, counted from the
    // call; 8 s leaves room for a loaded machine, and is far below the
    // 10–15 s a call took when each wait had a budget of its own.
    let bound = Duration::from_secs(8);
    for (took, r) in sends {
        let body = r.structured_content.expect("structured error");
        assert_eq!(body["error_code"], "TIMEOUT", "{body}");
        let text = body["error"].as_str().unwrap();
        assert!(
            text.contains("relay doctor") && text.contains(&relay.db.display().to_string()),
            "{text}"
        );
        assert!(took < bound, "a blocked send took {took:?}");
    }
    assert_eq!(health["status"], "ok");
    assert!(health_took < bound, "health_check took {health_took:?}");
    // Still held: the session keeps answering reads.
    assert_eq!(alice.call("health_check", json!({})).await["status"], "ok");

    stuck.release();
    alice
        .call("send_message", json!({"to": "bob", "content": "after"}))
        .await;
    let bob = relay.agent("bob", &[]).await;
    let inbox = bob.call("get_messages", json!({})).await;
    assert_eq!(contents(&inbox), [json!("before"), json!("after")]);
    alice.close().await;
    bob.close().await;
}
