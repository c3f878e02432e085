//! Remote clients of a hub through the real binaries (SPEC §7, issue 11
//! parts 2 and 3): `relay pair`, and `relay worker`, `relay hook` and
//! `relay tail` with `--hub` on a "machine" that has no store — a temp
//! dir with its own config dir and HOME, and a `--db` path that must
//! never come to exist.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::support::{Hub, Reaper, Relay, ScrubRelayEnv, free_port, hub_on, relay_bin, terminate};

/// A second machine: no store, its own config dir and HOME.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/config.toml"), "").unwrap();
        Self { dir }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// The store path this machine's commands are given; it must never
    /// be created.
    fn no_store(&self) -> PathBuf {
        self.dir.path().join("no-store/relay.db")
    }

    /// `relay --db NO_STORE ARGS...` on this machine.
    fn relay(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(relay_bin());
        cmd.env_clear_relay()
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env("HOME", self.dir.path().join("home"))
            .env("RELAY_CONFIG", self.conf().join("config.toml"))
            .arg("--db")
            .arg(self.no_store())
            .args(args);
        cmd
    }

    fn write_token(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.token"));
        std::fs::write(&path, token).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// No relay store (or anything under the --db path) appeared here.
    fn assert_storeless(&self) {
        assert!(
            !self.no_store().parent().unwrap().exists(),
            "a store directory was created"
        );
        let dbs: Vec<_> = walk(self.dir.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "db"))
            .collect();
        assert!(dbs.is_empty(), "store files on a storeless machine: {dbs:?}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Lines of a child's stdout, as they come.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[tokio::test]
async fn pair_keeps_a_private_token_prints_configs_and_knows_it_is_paired() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let laptop = Machine::new();
    let out = laptop
        .relay(&["pair", &hub.base(), "--name", "laptop", "--role", "builder"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for client in ["Claude Code", "Codex", "Cursor"] {
        assert!(stdout.contains(client), "{client} config missing: {stdout}");
    }
    assert!(stdout.contains(&format!("\"url\": \"{}\"", hub.url)), "{stdout}");
    assert!(
        stdout.contains("${RELAY_AGENT_TOKEN}") && stdout.contains("${env:RELAY_AGENT_TOKEN}"),
        "{stdout}"
    );

    let token_file = laptop.conf().join("tokens/laptop.token");
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    assert!(token.starts_with("rly_"), "{token}");
    assert!(
        !stdout.contains(&token) && !text(&out.stderr).contains(&token),
        "the token was printed"
    );
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(mode(token_file.parent().unwrap()), 0o700);
    let paired = laptop.conf().join("paired.toml");
    assert_eq!(mode(&paired), 0o600);
    let pairing = std::fs::read_to_string(&paired).unwrap();
    assert!(
        pairing.contains("[agents.laptop]") && pairing.contains(&hub.base()),
        "{pairing}"
    );
    assert!(!pairing.contains(&token), "the token is in paired.toml");

    // The token is the agent's at the hub, with the tasks capability.
    let me = hub.session(Some(&token)).await;
    let health = me.call("health_check", json!({})).await;
    assert_eq!(health["agent"]["name"], "laptop");
    assert_eq!(health["agent"]["role"], "builder");
    assert!(
        health["agent"]["capabilities"].to_string().contains("tasks"),
        "{health}"
    );

    // Again: says so, changes nothing.
    let again = laptop
        .relay(&["pair", &hub.base(), "--name", "laptop", "--json"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again.stderr));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["status"], "already_paired");
    assert_eq!(report["hub"], hub.base());
    assert_eq!(report["token_file"], token_file.to_str().unwrap());
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);

    // The hook finds the hub and the token by the agent's name.
    let boss = hub.register_with("boss", &["tasks"]).await;
    let boss = hub.session(Some(&boss)).await;
    boss.call("send_message", json!({"to": "laptop", "content": "hi"}))
        .await;
    let hook = run_with_stdin(laptop.relay(&["hook", "session-start", "--agent", "laptop"]), "{}");
    assert!(hook.status.success());
    assert!(
        text(&hook.stdout).contains("1 unread message (from boss)"),
        "{}",
        text(&hook.stdout)
    );

    // Another machine wanting the same name is told the name is taken.
    let desktop = Machine::new();
    let taken = desktop
        .relay(&["pair", &hub.base(), "--name", "laptop"])
        .output()
        .unwrap();
    assert_eq!(taken.status.code(), Some(1), "{}", text(&taken.stderr));
    let why = text(&taken.stderr);
    assert!(
        why.contains("already registered") && why.contains("pick another --name"),
        "{why}"
    );
    assert!(!desktop.conf().join("paired.toml").exists());
    laptop.assert_storeless();
    me.close().await;
    boss.close().await;
}

/// A one-connection-at-a-time HTTP server answering every request with
/// `status` and `body`, until dropped.
fn fake_health(status: &'static str, body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}

#[test]
fn pair_refuses_an_incompatible_hub_with_the_reason() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let cases = [
        (fake_health("200 OK", r#"{"hello": "world"}"#), "is not a relay hub"),
        (fake_health("404 Not Found", r#"{}"#), "is not a relay hub"),
        (
            fake_health(
                "200 OK",
                r#"{"status": "ok", "relay_version": "0.0.1", "protocol_revisions": ["2024-11-05"]}"#,
            ),
            "speaks 2024-11-05",
        ),
        (
            fake_health(
                "503 Service Unavailable",
                r#"{"status": "error", "error_code": "CORRUPT_STORE"}"#,
            ),
            "unhealthy (HTTP 503, CORRUPT_STORE)",
        ),
        (dead, "cannot reach"),
    ];
    for (url, reason) in cases {
        let m = Machine::new();
        let out = m.relay(&["pair", &url, "--name", "laptop"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{url}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(reason), "{url}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        assert!(!m.conf().join("paired.toml").exists() && !m.conf().join("tokens").exists());
    }
    let m = Machine::new();
    let bad = m
        .relay(&["pair", "127.0.0.1:3777", "--name", "laptop"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "a bad URL is a usage error");

    // A --config that does not exist is refused before anything is
    // written, as `relay worker` and `relay hook` would refuse it later.
    let m = Machine::new();
    std::fs::remove_file(m.conf().join("config.toml")).unwrap();
    let missing = m
        .relay(&["pair", "http://127.0.0.1:3777", "--name", "laptop"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    assert!(
        text(&missing.stderr).contains("config.toml"),
        "{}",
        text(&missing.stderr)
    );
    assert!(!m.conf().join("paired.toml").exists() && !m.conf().join("tokens").exists());
}

async fn wait_terminal(boss: &crate::support::Client, id: i64) -> Value {
    let t = boss.call("get_task", json!({"task_id": id, "wait_seconds": 30})).await;
    assert_ne!(t["timed_out"], true, "task {id} did not finish: {t}");
    t
}

#[tokio::test]
async fn remote_worker_without_a_store_completes_tasks_and_survives_a_hub_restart() {
    let relay = Relay::new();
    let port = free_port();
    let mut hub = hub_on(&relay, port, None);
    let url = format!("http://127.0.0.1:{port}/mcp");
    let at = Hub::at(&url);
    let w = at.register_with("w", &["tasks"]).await;
    let boss = at.session(Some(&at.register_with("boss", &["tasks"]).await)).await;
    let remote = Machine::new();
    let token_file = remote.write_token("w", &w);
    let mut worker = remote
        .relay(&[
            "worker",
            "--agent",
            "w",
            "--hub",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            "--json",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reports = lines_of(&mut worker);
    let mut worker = Reaper(worker);
    std::thread::sleep(Duration::from_millis(500));

    let id = boss
        .call(
            "post_task",
            json!({"to": "w", "title": "up", "description": "hello hub"}),
        )
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let t = wait_terminal(&boss, id).await;
    assert_eq!(t["task"]["state"], "completed", "{t}");
    assert_eq!(t["task"]["result"], "HELLO HUB");
    let report: Value = serde_json::from_str(&reports.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(
        (report["task_id"].as_i64(), report["outcome"].as_str()),
        (Some(id), Some("completed"))
    );
    boss.close().await;

    // The hub restarts at the same URL: the worker reconnects by itself.
    terminate(&mut hub);
    std::thread::sleep(Duration::from_millis(300));
    let _hub = hub_on(&relay, port, None);
    let boss = at.session(Some(&at.register_with("boss2", &["tasks"]).await)).await;
    let id = boss
        .call(
            "post_task",
            json!({"to": "w", "title": "again", "description": "after restart"}),
        )
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let t = wait_terminal(&boss, id).await;
    assert_eq!(t["task"]["result"], "AFTER RESTART", "{t}");

    // SIGTERM: a clean exit.
    kill(Pid::from_raw(worker.0.id() as i32), Signal::SIGTERM).unwrap();
    let status = worker.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    remote.assert_storeless();
    boss.close().await;
}

#[tokio::test]
async fn remote_worker_killed_mid_task_is_replaced_and_the_task_completes_exactly_once() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let w = hub.register_with("w", &["tasks"]).await;
    let boss = hub.session(Some(&hub.register_with("boss", &["tasks"]).await)).await;
    let remote = Machine::new();
    let token_file = remote.write_token("w", &w);
    let mark = remote.dir.path().join("started");
    let pid_file = remote.dir.path().join("child.pid");
    // The first run hangs (and says its pid); the second echoes the task.
    let script = "if [ -e \"$MARK\" ]; then cat; else echo $$ > \"$PIDF.tmp\"; mv \"$PIDF.tmp\" \"$PIDF\"; touch \"$MARK\"; exec sleep 600; fi";
    let worker = |out: Stdio| {
        remote
            .relay(&[
                "worker",
                "--agent",
                "w",
                "--hub",
                &hub.url,
                "--token-file",
                token_file.to_str().unwrap(),
                "--lease-seconds",
                "30",
                "--json",
                "--",
                "sh",
                "-c",
                script,
            ])
            .env("MARK", &mark)
            .env("PIDF", &pid_file)
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let first = Reaper(worker(Stdio::null()));
    let id = boss
        .call(
            "post_task",
            json!({"to": "w", "title": "once", "description": "exactly once"}),
        )
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the first worker never started the task");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = boss.call("get_task", json!({"task_id": id})).await;
    assert_eq!(t["task"]["state"], "accepted");
    // The worker dies without a word; its child too (it leads its own group).
    kill(Pid::from_raw(first.0.id() as i32), Signal::SIGKILL).unwrap();
    let child: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let _ = killpg(Pid::from_raw(child), Signal::SIGKILL);
    drop(first);

    // The lease runs out on the hub's clock; a replacement takes over.
    relay.advance_clock(60_000);
    let mut second = worker(Stdio::piped());
    let reports = lines_of(&mut second);
    let _second = Reaper(second);
    let t = wait_terminal(&boss, id).await;
    assert_eq!(t["task"]["state"], "completed", "{t}");
    assert_eq!(t["task"]["result"], "exactly once");
    assert_eq!(t["task"]["attempts"], 1, "{t}");
    let actions: Vec<&str> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    let count = |a: &str| actions.iter().filter(|x| **x == a).count();
    assert_eq!(
        (count("accept"), count("lease_expired"), count("complete")),
        (2, 1, 1),
        "{actions:?}"
    );
    let report: Value = serde_json::from_str(&reports.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(
        (report["task_id"].as_i64(), report["outcome"].as_str()),
        (Some(id), Some("completed"))
    );
    assert!(
        reports.recv_timeout(Duration::from_millis(500)).is_err(),
        "the replacement reported more than one task"
    );
    remote.assert_storeless();
    boss.close().await;
}

#[tokio::test]
async fn remote_hook_prints_new_mail_once_then_nothing_and_is_silent_when_the_hub_is_gone() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let h = hub.register("h").await;
    let boss = hub.session(Some(&hub.register_with("boss", &["tasks"]).await)).await;
    let remote = Machine::new();
    let token_file = remote.write_token("h", &h);
    let hook = |event: &str, url: &str| {
        let started = Instant::now();
        let out = run_with_stdin(
            remote.relay(&[
                "hook",
                event,
                "--agent",
                "h",
                "--hub",
                url,
                "--token-file",
                token_file.to_str().unwrap(),
            ]),
            "{}",
        );
        assert!(out.status.success(), "a hook must exit 0");
        (text(&out.stdout), text(&out.stderr), started.elapsed())
    };

    boss.call("send_message", json!({"to": "h", "content": "look at this"}))
        .await;
    let (out, _, took) = hook("post-tool-use", &hub.url);
    let json: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("not hook JSON: {out:?}"));
    let context = json["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(context.contains("1 new message (from boss)"), "{context}");
    assert!(!context.contains("look at this"), "message text leaked: {context}");
    assert!(took < Duration::from_secs(2), "the hook took {took:?}");
    let cursor = remote.conf().join("hook-cursors/h.json");
    assert_eq!(mode(&cursor), 0o600);

    let (out, _, _) = hook("post-tool-use", &hub.url);
    assert_eq!(out, "", "the same mail was reported twice");

    let task = boss
        .call("post_task", json!({"to": "h", "title": "review", "description": "x"}))
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    boss.call("send_message", json!({"to": "h", "content": "and this"}))
        .await;
    let (out, _, _) = hook("stop", &hub.url);
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["decision"], "block");
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.contains("1 new message (from boss)") && reason.contains(&format!("task {task} assigned to you")),
        "{reason}"
    );
    let (out, _, _) = hook("stop", &hub.url);
    assert_eq!(out, "");

    let (out, _, _) = hook("session-start", &hub.url);
    assert!(
        out.contains("2 unread messages (from boss)") && out.contains("1 open task"),
        "{out}"
    );

    // Nothing listens there: silent, quick, exit 0.
    let dead = format!("http://127.0.0.1:{}/mcp", free_port());
    let (out, err, took) = hook("post-tool-use", &dead);
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
    assert!(took < Duration::from_secs(2), "the hook waited {took:?} for a dead hub");
    remote.assert_storeless();
    boss.close().await;
}

#[test]
fn remote_tail_follows_the_hub_and_resumes_after_a_restart_without_repeats() {
    let relay = Relay::new();
    let secret = "tail-test-secret-0123456789";
    let port = free_port();
    let mut hub = hub_on(&relay, port, Some(secret));
    let remote = Machine::new();
    let secret_file = remote.write_token("secret", secret);
    let base = format!("http://127.0.0.1:{port}");

    // Without the secret: refused with the reason, exit 1.
    let refused = remote.relay(&["tail", "--hub", &base]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("RELAY_HTTP_SECRET"),
        "{}",
        text(&refused.stderr)
    );

    let store = relay.store();
    let send = |n: usize| send_from_alice(&store, "bob", &format!("m{n}"));
    let before = send(0);
    let (lines, _tail) = tail_json(&remote, &base, &secret_file, &["--last", "1"]);
    let next = || -> Value {
        let line = lines.recv_timeout(Duration::from_secs(15)).expect("a tail line");
        serde_json::from_str(&line).unwrap()
    };
    let first = next();
    assert_eq!(
        (first["kind"].as_str(), first["subject_id"].as_i64()),
        (Some("message"), Some(before))
    );

    let live = send(1);
    assert_eq!(next()["subject_id"].as_i64(), Some(live), "a live event");

    terminate(&mut hub);
    let while_down = [send(2), send(3)];
    let _hub = hub_on(&relay, port, Some(secret));
    let after = send(4);
    let mut got = Vec::new();
    let mut ids = vec![first["id"].as_i64().unwrap()];
    for _ in 0..3 {
        let e = next();
        ids.push(e["id"].as_i64().unwrap());
        got.push(e["subject_id"].as_i64().unwrap());
    }
    assert_eq!(got, [while_down[0], while_down[1], after], "missed or reordered events");
    assert!(
        lines.recv_timeout(Duration::from_millis(700)).is_err(),
        "an event was printed twice"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    remote.assert_storeless();
}

/// Sends `content` from `alice` (registered on first use) to `to`
/// straight on the hub's store; returns the message id.
fn send_from_alice(store: &relay::store::Store, to: &str, content: &str) -> i64 {
    store
        .bind_agent("alice", None, None, relay::store::Transport::Cli)
        .unwrap();
    let alice = relay::store::Caller {
        agent: "alice",
        transport: relay::store::Transport::Cli,
    };
    store
        .send_message(alice, to, content, relay::store::Priority::Normal, None)
        .unwrap()
        .message_id
}

/// `relay tail --hub BASE --secret-file F --json EXTRA...` on `remote`:
/// its stdout lines, and the child (killed when dropped).
fn tail_json(remote: &Machine, base: &str, secret_file: &Path, extra: &[&str]) -> (mpsc::Receiver<String>, Reaper) {
    let mut args = vec![
        "tail",
        "--hub",
        base,
        "--secret-file",
        secret_file.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let mut tail = remote
        .relay(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut tail);
    (lines, Reaper(tail))
}

#[test]
fn remote_tail_that_saw_no_event_yet_misses_nothing_across_a_hub_restart() {
    let relay = Relay::new();
    let secret = "tail-test-secret-0123456789";
    let port = free_port();
    let mut hub = hub_on(&relay, port, Some(secret));
    let remote = Machine::new();
    let secret_file = remote.write_token("secret", secret);
    let base = format!("http://127.0.0.1:{port}");
    let store = relay.store();
    let send = |to: &str| send_from_alice(&store, to, "hi");
    // Only carol's events, from now: none has come when the hub goes down.
    let (lines, _tail) = tail_json(&remote, &base, &secret_file, &["--agent", "carol"]);
    std::thread::sleep(Duration::from_millis(1500)); // the stream is open
    send("bob"); // filtered out
    std::thread::sleep(Duration::from_millis(300));

    terminate(&mut hub);
    let while_down = send("carol");
    let _hub = hub_on(&relay, port, Some(secret));
    let after = send("carol");
    let mut got = Vec::new();
    for _ in 0..2 {
        let line = lines.recv_timeout(Duration::from_secs(15)).expect("a tail line");
        let e: Value = serde_json::from_str(&line).unwrap();
        got.push(e["subject_id"].as_i64().unwrap());
    }
    assert_eq!(
        got,
        [while_down, after],
        "an event committed while the hub was down was missed"
    );
    remote.assert_storeless();
}
