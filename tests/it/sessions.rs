//! Conversations that continue (issue 13 item 5), through the real
//! binaries: `post_task {session}`, the codex and claude executors'
//! resume argv, the session every result records, a missing session, the
//! per-session lease across `--concurrency` and workers, and a remote
//! worker completing with its session over the HTTP hub.
//!
//! `codex` and `claude` are fakes on PATH (shell scripts) that keep the
//! real CLIs' shapes: codex `exec --json` prints JSONL starting with
//! `{"type":"thread.started","thread_id":…}` and writes its last message
//! to `--output-last-message`; claude `-p --output-format json` prints one
//! `{"type":"result",…,"result":…,"session_id":…}` object; both fail a
//! resume of an unknown session with the real CLIs' messages. Each run
//! records its argv (NUL-separated) and its start and end times, and
//! keeps sessions as files counting the turns taken in them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{Client, Relay};

const FAKE_CODEX: &str = r#"#!/bin/sh
# A fake `codex exec` (openai/codex docs/exec.md shapes).
printf '%s\0' "$@" > "$FAKE_DIR/argv-$RELAY_TASK_ID"
echo "start $RELAY_TASK_ID $(date +%s%N)" >> "$FAKE_DIR/timeline"
out=""; session=""; resume=0
while [ $# -gt 1 ]; do
  case "$1" in
    --output-last-message) out="$2" ;;
    resume) resume=1; session="$2" ;;
    --) break ;;
  esac
  shift
done
if [ "$resume" = 1 ]; then
  if [ ! -f "$FAKE_DIR/sessions/$session" ]; then
    echo "Error: thread/resume: thread/resume failed: no rollout found for thread id $session (code -32600)" >&2
    echo "end $RELAY_TASK_ID $(date +%s%N)" >> "$FAKE_DIR/timeline"
    exit 1
  fi
else
  session=$(cat /proc/sys/kernel/random/uuid)
fi
echo turn >> "$FAKE_DIR/sessions/$session"
turn=$(wc -l < "$FAKE_DIR/sessions/$session" | tr -d ' ')
sleep "${FAKE_SLEEP:-0}"
msg="codex turn $turn in $session"
printf '{"type":"thread.started","thread_id":"%s"}\n' "$session"
printf '{"type":"turn.started"}\n'
printf '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"%s"}}\n' "$msg"
printf '{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}\n'
if [ -n "$out" ]; then printf '%s' "$msg" > "$out"; fi
echo "end $RELAY_TASK_ID $(date +%s%N)" >> "$FAKE_DIR/timeline"
"#;

const FAKE_CLAUDE: &str = r#"#!/bin/sh
# A fake `claude -p --output-format json` (Claude Code CLI reference shapes).
printf '%s\0' "$@" > "$FAKE_DIR/argv-$RELAY_TASK_ID"
echo "start $RELAY_TASK_ID $(date +%s%N)" >> "$FAKE_DIR/timeline"
session=""
while [ $# -gt 1 ]; do
  case "$1" in
    --resume) session="$2" ;;
    --) break ;;
  esac
  shift
done
if [ -n "$session" ]; then
  if [ ! -f "$FAKE_DIR/sessions/$session" ]; then
    echo "No conversation found with session ID: $session" >&2
    echo "end $RELAY_TASK_ID $(date +%s%N)" >> "$FAKE_DIR/timeline"
    exit 1
  fi
else
  session=$(cat /proc/sys/kernel/random/uuid)
fi
echo turn >> "$FAKE_DIR/sessions/$session"
turn=$(wc -l < "$FAKE_DIR/sessions/$session" | tr -d ' ')
sleep "${FAKE_SLEEP:-0}"
printf '{"type":"result","subtype":"success","is_error":false,"duration_ms":5,"num_turns":1,"result":"claude turn %s in %s","session_id":"%s","total_cost_usd":0}\n' "$turn" "$session" "$session"
echo "end $RELAY_TASK_ID $(date +%s%N)" >> "$FAKE_DIR/timeline"
"#;

/// The fakes' directory: `bin/` (on PATH), `sessions/`, argv files, the
/// timeline, and a working directory for the worker.
struct Fakes {
    dir: PathBuf,
}

impl Fakes {
    fn new(relay: &Relay) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = relay.dir.path().join("fakes");
        for sub in ["bin", "sessions", "work"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for (name, script) in [("codex", FAKE_CODEX), ("claude", FAKE_CLAUDE)] {
            let path = dir.join("bin").join(name);
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir }
    }

    fn work(&self) -> String {
        self.dir.join("work").display().to_string()
    }

    /// A session the fake executors know (one turn taken).
    fn known_session(&self, id: &str) {
        std::fs::write(self.dir.join("sessions").join(id), "turn\n").unwrap();
    }

    /// `cmd` with the fakes first on PATH.
    fn env<'a>(&self, cmd: &'a mut Command, sleep_secs: &str) -> &'a mut Command {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path)
            .env("FAKE_DIR", &self.dir)
            .env("FAKE_SLEEP", sleep_secs)
    }

    /// The argv the fake got for task `id`.
    fn argv(&self, id: i64) -> Vec<String> {
        let raw = std::fs::read(self.dir.join(format!("argv-{id}")))
            .unwrap_or_else(|e| panic!("task {id} never ran the executor: {e}"));
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    /// Each task's (start, end) in nanoseconds since the epoch.
    fn timeline(&self) -> HashMap<i64, (u128, u128)> {
        let text = std::fs::read_to_string(self.dir.join("timeline")).unwrap_or_default();
        let mut spans: HashMap<i64, (u128, u128)> = HashMap::new();
        for line in text.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [what, id, at] = parts[..] else {
                panic!("bad timeline line {line:?}")
            };
            let span = spans.entry(id.parse().unwrap()).or_default();
            match what {
                "start" => span.0 = at.parse().unwrap(),
                _ => span.1 = at.parse().unwrap(),
            }
        }
        spans
    }
}

fn overlap(a: (u128, u128), b: (u128, u128)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

async fn post(boss: &Client, body: Value) -> Value {
    boss.call("post_task", body).await["task"].clone()
}

async fn task(boss: &Client, id: i64) -> Value {
    boss.call("get_task", json!({"task_id": id})).await
}

fn run_once(relay: &Relay, fakes: &Fakes, executor: &str) -> Output {
    let mut cmd = relay.worker(&[
        "--agent",
        "w",
        "--once",
        "--json",
        "--executor",
        executor,
        "--cwd",
        &fakes.work(),
    ]);
    let out = fakes.env(&mut cmd, "0").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn reports(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.split('-').map(str::len).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
}

#[tokio::test]
async fn codex_records_the_thread_and_a_follow_up_resumes_it_with_the_exact_argv() {
    let relay = Relay::new();
    let fakes = Fakes::new(&relay);
    let boss = relay.agent("boss", &["tasks"]).await;
    let first = post(
        &boss,
        json!({"to": "w", "title": "read", "description": "look at main.rs"}),
    )
    .await;
    assert_eq!(first["session"], Value::Null);
    let first = first["id"].as_i64().unwrap();
    let out = run_once(&relay, &fakes, "codex");
    let t = task(&boss, first).await["task"].clone();
    assert_eq!(t["state"], "completed", "{t}");
    let thread = t["session"]
        .as_str()
        .expect("the completed task records codex's thread")
        .to_owned();
    assert!(is_uuid(&thread), "{thread}");
    assert_eq!(t["result"], format!("codex turn 1 in {thread}"));
    assert_eq!(reports(&out)[0]["session"], thread.as_str());
    let argv = fakes.argv(first);
    assert_eq!(
        argv[..8],
        [
            "exec",
            "-s",
            "read-only",
            "-C",
            &fakes.work(),
            "--skip-git-repo-check",
            "--json",
            "--output-last-message"
        ]
    );
    assert!(argv[8].ends_with("last-message.txt"), "{argv:?}");
    assert_eq!(argv[9..], ["--", "read\n\nlook at main.rs"]);

    // The follow-up names the session the first task left: codex resumes it.
    let follow = post(
        &boss,
        json!({"to": "w", "title": "--now fix it", "description": "the bug you found", "session": thread}),
    )
    .await;
    assert_eq!(follow["session"], thread.as_str());
    let follow = follow["id"].as_i64().unwrap();
    run_once(&relay, &fakes, "codex");
    let t = task(&boss, follow).await["task"].clone();
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(t["result"], format!("codex turn 2 in {thread}"));
    assert_eq!(t["session"], thread.as_str());
    let argv = fakes.argv(follow);
    assert_eq!(
        argv[..8],
        [
            "exec",
            "-s",
            "read-only",
            "-C",
            &fakes.work(),
            "--skip-git-repo-check",
            "--json",
            "--output-last-message"
        ]
    );
    assert_eq!(
        argv[9..],
        [
            "-c",
            "sandbox_mode=\"read-only\"",
            "resume",
            &thread,
            "--",
            "--now fix it\n\nthe bug you found"
        ]
    );
    boss.close().await;
}

#[tokio::test]
async fn claude_records_its_session_id_and_a_follow_up_resumes_it_with_the_exact_argv() {
    let relay = Relay::new();
    let fakes = Fakes::new(&relay);
    let boss = relay.agent("boss", &["tasks"]).await;
    let first = post(
        &boss,
        json!({"to": "w", "title": "plan", "description": "x", "write": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut cmd = relay.worker(&["--agent", "w", "--once", "--allow-writes", "--executor", "claude"]);
    cmd.current_dir(fakes.dir.join("work"));
    let out = fakes.env(&mut cmd, "0").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = task(&boss, first).await["task"].clone();
    let session = t["session"]
        .as_str()
        .expect("the result records claude's session_id")
        .to_owned();
    assert_eq!(t["result"], format!("claude turn 1 in {session}"));
    assert_eq!(
        fakes.argv(first),
        [
            "-p",
            "--permission-mode",
            "acceptEdits",
            "--output-format",
            "json",
            "--",
            "plan\n\nx"
        ]
    );

    let follow = post(
        &boss,
        json!({"to": "w", "title": "-p", "description": "and then?", "session": session}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    run_once(&relay, &fakes, "claude");
    let t = task(&boss, follow).await["task"].clone();
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(t["result"], format!("claude turn 2 in {session}"));
    assert_eq!(t["session"], session.as_str());
    assert_eq!(
        fakes.argv(follow),
        [
            "-p",
            "--permission-mode",
            "plan",
            "--output-format",
            "json",
            "--resume",
            &session,
            "--",
            "-p\n\nand then?"
        ]
    );
    boss.close().await;
}

#[tokio::test]
async fn a_session_that_no_longer_exists_fails_the_task_once_with_a_clear_error() {
    let relay = Relay::new();
    let fakes = Fakes::new(&relay);
    let boss = relay.agent("boss", &["tasks"]).await;
    let gone = "0199a213-81c0-7800-8aa1-bbab2a035a53";
    for executor in ["codex", "claude"] {
        let id = post(
            &boss,
            json!({"to": "w", "title": "again", "description": "x", "session": gone, "max_attempts": 3}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let out = run_once(&relay, &fakes, executor);
        let got = task(&boss, id).await;
        let t = &got["task"];
        assert_eq!(t["state"], "failed", "{executor}: {t}");
        let error = t["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!(
                "executor session {gone} not found: post the task without session to start a new conversation ({executor}: "
            )),
            "{executor}: {error}"
        );
        // Failed for good on the first attempt: no retry loop on it.
        assert_eq!(t["attempts"], 1);
        let actions: Vec<&str> = got["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["post", "accept", "fail"], "{executor}");
        assert_eq!(reports(&out)[0]["outcome"], "failed");
    }
    // Codex continues threads by id: a name fails before codex starts.
    let id = post(
        &boss,
        json!({"to": "w", "title": "named", "description": "x", "session": "my-thread"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    run_once(&relay, &fakes, "codex");
    let t = task(&boss, id).await["task"].clone();
    assert_eq!(t["state"], "failed");
    assert!(t["error"].as_str().unwrap().contains("a UUID"), "{t}");
    assert!(!fakes.dir.join(format!("argv-{id}")).exists(), "codex ran");
    boss.close().await;
}

#[tokio::test]
async fn tasks_on_one_session_never_overlap_while_other_sessions_run_side_by_side() {
    let relay = Relay::new();
    let fakes = Fakes::new(&relay);
    let boss = relay.agent("boss", &["tasks"]).await;
    let a = "0199a213-aaaa-7800-8aa1-bbab2a035a53";
    let b = "0199a213-bbbb-7800-8aa1-bbab2a035a53";
    fakes.known_session(a);
    fakes.known_session(b);
    let on = |session: &'static str, title: &'static str| {
        let boss = &boss;
        async move {
            post(
                boss,
                json!({"to": "w", "title": title, "description": "x", "session": session}),
            )
            .await["id"]
                .as_i64()
                .unwrap()
        }
    };
    let a1 = on(a, "a1").await;
    let a2 = on(a, "a2").await;
    let b1 = on(b, "b1").await;
    let mut cmd = relay.worker(&[
        "--agent",
        "w",
        "--once",
        "--concurrency",
        "2",
        "--executor",
        "codex",
        "--cwd",
        &fakes.work(),
    ]);
    let out = fakes.env(&mut cmd, "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for id in [a1, a2, b1] {
        assert_eq!(task(&boss, id).await["task"]["state"], "completed", "task {id}");
    }
    let spans = fakes.timeline();
    assert!(
        !overlap(spans[&a1], spans[&a2]),
        "two turns of one session overlapped: {spans:?}"
    );
    assert!(
        overlap(spans[&a1], spans[&b1]),
        "different sessions did not run side by side: {spans:?}"
    );
    // The second turn of session a saw the first: turn 3 (one was there).
    assert_eq!(task(&boss, a2).await["task"]["result"], format!("codex turn 3 in {a}"));

    // Two workers: still one turn of a session at a time.
    let c1 = on(a, "c1").await;
    let c2 = on(a, "c2").await;
    let spawn = || {
        let mut cmd = relay.worker(&["--agent", "w", "--once", "--executor", "claude", "--cwd", &fakes.work()]);
        fakes.env(&mut cmd, "1").spawn().unwrap()
    };
    let (w1, w2) = (spawn(), spawn());
    for w in [w1, w2] {
        assert!(w.wait_with_output().unwrap().status.success());
    }
    // A worker that found only a blocked task exited (--once); the other
    // took both in turn. Either way, both ran and never at once.
    let spans = fakes.timeline();
    for id in [c1, c2] {
        assert_eq!(task(&boss, id).await["task"]["state"], "completed", "task {id}");
    }
    assert!(
        !overlap(spans[&c1], spans[&c2]),
        "two workers overlapped one session: {spans:?}"
    );
    boss.close().await;
}

#[tokio::test]
async fn a_busy_session_is_conflict_for_accept_and_bad_sessions_are_validation() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let w = relay.agent("w", &["tasks"]).await;
    let first = post(
        &boss,
        json!({"to": "w", "title": "1", "description": "x", "session": "s-1"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let second = post(
        &boss,
        json!({"to": "w", "title": "2", "description": "x", "session": "s-1"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    w.call("update_task", json!({"task_id": first, "action": "accept"}))
        .await;
    let (code, body) = w
        .call_err("update_task", json!({"task_id": second, "action": "accept"}))
        .await;
    assert_eq!(code, "CONFLICT");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&format!("task {first} is running now")),
        "{body}"
    );
    for bad in ["", "-p", "a b", &"x".repeat(129)] {
        let (code, _) = boss
            .call_err(
                "post_task",
                json!({"to": "w", "title": "t", "description": "x", "session": bad}),
            )
            .await;
        assert_eq!(code, "VALIDATION", "{bad:?}");
    }
    let (code, _) = w
        .call_err(
            "update_task",
            json!({"task_id": first, "action": "heartbeat", "session": "s-2"}),
        )
        .await;
    assert_eq!(code, "VALIDATION");
    // Same request_id, other session: a different task.
    post(
        &boss,
        json!({"to": "w", "title": "r", "description": "x", "request_id": "r1", "session": "s-1"}),
    )
    .await;
    let (code, _) = boss
        .call_err(
            "post_task",
            json!({"to": "w", "title": "r", "description": "x", "request_id": "r1", "session": "s-9"}),
        )
        .await;
    assert_eq!(code, "IDEMPOTENCY_CONFLICT");
    w.close().await;
    boss.close().await;
}

fn token_file(dir: &Path, name: &str, token: &str) -> String {
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, token).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn over_the_hub_a_remote_worker_records_its_session_and_update_task_complete_takes_one() {
    let relay = Relay::new();
    let fakes = Fakes::new(&relay);
    let hub = relay.hub(&[]);
    let w_token = hub.register_with("w", &["tasks"]).await;
    let boss = hub.session(Some(&hub.register_with("boss", &["tasks"]).await)).await;
    let tokens = token_file(relay.dir.path(), "w", &w_token);
    let remote = |executor: &str| {
        let mut cmd = relay.worker(&[
            "--agent",
            "w",
            "--hub",
            &hub.url,
            "--token-file",
            &tokens,
            "--once",
            "--executor",
            executor,
            "--cwd",
            &fakes.work(),
        ]);
        let out = fakes.env(&mut cmd, "0").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let first = post(&boss, json!({"to": "w", "title": "t", "description": "x"})).await["id"]
        .as_i64()
        .unwrap();
    remote("claude");
    let t = task(&boss, first).await["task"].clone();
    assert_eq!(t["state"], "completed", "{t}");
    let session = t["session"]
        .as_str()
        .expect("complete over HTTP carried the session")
        .to_owned();
    let follow = post(
        &boss,
        json!({"to": "w", "title": "t2", "description": "x", "session": session}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    remote("claude");
    let t = task(&boss, follow).await["task"].clone();
    assert_eq!(t["result"], format!("claude turn 2 in {session}"));
    assert!(fakes.argv(follow).contains(&"--resume".to_owned()));

    // An agent working by hand over HTTP reports its session too.
    let w = hub.session(Some(&w_token)).await;
    let id = post(&boss, json!({"to": "w", "title": "by hand", "description": "x"})).await["id"]
        .as_i64()
        .unwrap();
    let token =
        w.call("update_task", json!({"task_id": id, "action": "accept"})).await["task"]["fencing_token"].clone();
    let done = w
        .call(
            "update_task",
            json!({"task_id": id, "action": "complete", "result": "ok", "fencing_token": token, "session": "hand-1"}),
        )
        .await;
    assert_eq!(done["task"]["session"], "hand-1");
    assert_eq!(task(&boss, id).await["task"]["session"], "hand-1");
    w.close().await;
    boss.close().await;
}
