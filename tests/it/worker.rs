//! `relay worker` through the real binaries: executors, leases, cancel,
//! shutdown, routing (SPEC §4 Workers).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Client, Relay};

async fn post(boss: &Client, body: Value) -> i64 {
    boss.call("post_task", body).await["task"]["id"].as_i64().unwrap()
}

async fn task(boss: &Client, id: i64) -> Value {
    boss.call("get_task", json!({"task_id": id})).await
}

/// Waits (polling the real files, bounded) until `path` exists.
fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn output_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn shell_worker_completes_with_stdout_and_fails_with_stderr_tail() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let ok = post(
        &boss,
        json!({"to": "w", "title": "shout", "description": "hello worker"}),
    )
    .await;
    let out = relay
        .worker(&[
            "--agent",
            "w",
            "--once",
            "--json",
            "--",
            "sh",
            "-c",
            "echo \"$RELAY_TASK_ID:$RELAY_TASK_TITLE\"; tr a-z A-Z",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = output_lines(&out);
    let report: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(report["task_id"], ok);
    assert_eq!(report["outcome"], "completed");
    let t = task(&boss, ok).await;
    assert_eq!(t["task"]["state"], "completed");
    assert_eq!(t["task"]["result"], format!("{ok}:shout\nHELLO WORKER"));

    let bad = post(&boss, json!({"to": "w", "title": "break", "description": "x"})).await;
    let out = relay
        .worker(&[
            "--agent",
            "w",
            "--once",
            "--",
            "sh",
            "-c",
            "echo 'compiler says no' >&2; exit 3",
        ])
        .output()
        .unwrap();
    let line = &output_lines(&out)[0];
    assert!(line.starts_with(&format!("task {bad} failed")), "{line}");
    let t = task(&boss, bad).await;
    assert_eq!(t["task"]["state"], "failed");
    assert_eq!(t["task"]["error"], "exit code 3: compiler says no");
    boss.close().await;
}

#[tokio::test]
async fn write_task_is_refused_without_allow_writes_and_the_executor_never_starts() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let marker = relay.dir.path().join("executor-ran");
    let id = post(
        &boss,
        json!({"to": "w", "title": "rm", "description": "x", "write": true}),
    )
    .await;
    let touch = format!("touch {}", marker.display());
    let out = relay
        .worker(&["--agent", "w", "--once", "--", "sh", "-c", &touch])
        .output()
        .unwrap();
    assert!(output_lines(&out)[0].contains("refused"));
    assert!(!marker.exists(), "the executor ran");
    let t = task(&boss, id).await;
    assert_eq!(t["task"]["state"], "failed");
    assert!(t["task"]["error"].as_str().unwrap().contains("--allow-writes"));

    let id = post(
        &boss,
        json!({"to": "w", "title": "rm", "description": "x", "write": true}),
    )
    .await;
    let out = relay
        .worker(&["--agent", "w", "--once", "--allow-writes", "--", "sh", "-c", &touch])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(marker.exists());
    assert_eq!(task(&boss, id).await["task"]["state"], "completed");
    boss.close().await;
}

#[tokio::test]
async fn a_killed_worker_loses_its_lease_and_another_worker_completes_the_task() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let id = post(&boss, json!({"to": "w", "title": "slow", "description": "x"})).await;
    let started = relay.dir.path().join("started");
    let pidfile = relay.dir.path().join("child.pid");
    let script = format!("echo $$ > {}; touch {}; sleep 30", pidfile.display(), started.display());
    let mut first = relay
        .worker(&["--agent", "w", "--lease-seconds", "1", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&started);
    first.kill().unwrap(); // SIGKILL: no chance to release anything
    first.wait().unwrap();
    // The orphaned child of the dead worker is not ours to keep around.
    let orphan: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // Through the syscall, never `/bin/kill -9 -PGID`: procps-ng 4.0.2
    // misparses that and can signal every process it may.
    assert!(orphan > 1);
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(orphan), nix::sys::signal::Signal::SIGKILL);

    let mut second = relay
        .worker(&["--agent", "w", "--lease-seconds", "5", "--", "sh", "-c", "echo rescued"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waited = boss.call("get_task", json!({"task_id": id, "wait_seconds": 30})).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(waited["timed_out"], false);
    assert_eq!(waited["task"]["state"], "completed");
    assert_eq!(waited["task"]["attempts"], 1);
    assert_eq!(waited["task"]["result"], "rescued\n");
    assert_eq!(waited["task"]["fencing_token"], 2);
    let actions: Vec<&str> = waited["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["post", "accept", "lease_expired", "accept", "complete"]);
    boss.close().await;
}

#[tokio::test]
async fn cancel_mid_run_kills_the_child() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let id = post(&boss, json!({"to": "w", "title": "forever", "description": "x"})).await;
    let pidfile = relay.dir.path().join("child.pid");
    let script = format!("echo $$ > {}.tmp; mv {0}.tmp {0}; sleep 60", pidfile.display());
    let worker = relay
        .worker(&[
            "--agent",
            "w",
            "--once",
            "--lease-seconds",
            "1",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&pidfile);
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(alive(pid));
    boss.call("update_task", json!({"task_id": id, "action": "cancel"}))
        .await;
    let out = worker.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(output_lines(&out)[0].contains("cancelled"), "{:?}", output_lines(&out));
    assert!(!alive(pid), "the child survived the cancel");
    assert_eq!(task(&boss, id).await["task"]["state"], "cancelled");
    boss.close().await;
}

#[tokio::test]
async fn sigterm_releases_read_only_tasks_and_parks_write_tasks_for_recovery() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let read = post(&boss, json!({"to": "w", "title": "read", "description": "x"})).await;
    let write = post(
        &boss,
        json!({"to": "w", "title": "write", "description": "x", "write": true}),
    )
    .await;
    let dir = relay.dir.path().display().to_string();
    let script = format!("touch {dir}/started-$RELAY_TASK_ID; sleep 60");
    let worker = relay
        .worker(&[
            "--agent",
            "w",
            "--allow-writes",
            "--concurrency",
            "2",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_file(&relay.dir.path().join(format!("started-{read}")));
    wait_for_file(&relay.dir.path().join(format!("started-{write}")));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = worker.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines = output_lines(&out).join("\n");
    assert!(lines.contains("released") && lines.contains("parked"), "{lines}");
    assert_eq!(task(&boss, read).await["task"]["state"], "posted");
    assert_eq!(task(&boss, write).await["task"]["state"], "needs_recovery");
    let recovered = boss
        .call("update_task", json!({"task_id": write, "action": "recover"}))
        .await;
    assert_eq!(recovered["task"]["state"], "posted");
    assert_eq!(recovered["task"]["attempts"], 0);
    boss.close().await;
}

#[tokio::test]
async fn a_queued_task_waits_for_a_capable_worker() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let posted = boss
        .call(
            "post_task",
            json!({"required_capabilities": ["tasks"], "title": "anyone", "description": "x"}),
        )
        .await;
    assert_eq!(posted["task"]["state"], "queued");
    let id = posted["task"]["id"].as_i64().unwrap();
    // The worker registers with the tasks capability, is assigned the task, runs it.
    let out = relay
        .worker(&["--agent", "fresh-worker", "--once", "--", "echo", "ran"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let t = task(&boss, id).await;
    assert_eq!(t["task"]["assignee"], "fresh-worker");
    assert_eq!(t["task"]["state"], "completed");
    boss.close().await;
}

/// A fake `codex`/`claude` that records its argv (NUL-separated) and, for
/// codex, writes the last message where it was told to.
fn fake_cli(bin: &Path, name: &str) {
    let script = format!(
        "#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$ARGV_OUT\"\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --output-last-message ]; then echo '{name} result' > \"$2\"; fi\n  shift\ndone\necho '{name} stdout'\n"
    );
    let path = bin.join(name);
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn argv(path: &Path) -> Vec<String> {
    let raw = std::fs::read(path).unwrap();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

#[tokio::test]
async fn codex_and_claude_executors_get_the_exact_argv_with_the_prompt_after_the_separator() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let bin = relay.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake_cli(&bin, "codex");
    fake_cli(&bin, "claude");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let work = relay.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let argv_out = relay.dir.path().join("argv");

    // A title that looks like a flag must stay the prompt.
    let id = post(
        &boss,
        json!({"to": "w", "title": "--dangerously-skip-permissions", "description": "fix the bug"}),
    )
    .await;
    let out = relay
        .worker(&[
            "--agent",
            "w",
            "--once",
            "--executor",
            "codex",
            "--cwd",
            work.to_str().unwrap(),
        ])
        .env("PATH", &path)
        .env("ARGV_OUT", &argv_out)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let args = argv(&argv_out);
    assert_eq!(
        &args[..8],
        [
            "exec",
            "-s",
            "read-only",
            "-C",
            work.to_str().unwrap(),
            "--skip-git-repo-check",
            "--json",
            "--output-last-message"
        ]
    );
    assert_eq!(&args[9..], ["--", "--dangerously-skip-permissions\n\nfix the bug"]);
    assert_eq!(task(&boss, id).await["task"]["result"], "codex result\n");

    let id = post(
        &boss,
        json!({"to": "w", "title": "-p", "description": "edit it", "write": true}),
    )
    .await;
    let out = relay
        .worker(&["--agent", "w", "--once", "--allow-writes", "--executor", "claude"])
        .env("PATH", &path)
        .env("ARGV_OUT", &argv_out)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        argv(&argv_out),
        [
            "-p",
            "--permission-mode",
            "acceptEdits",
            "--output-format",
            "json",
            "--",
            "-p\n\nedit it"
        ]
    );
    // Not the JSON object claude prints (an older CLI): stdout is the result.
    assert_eq!(task(&boss, id).await["task"]["result"], "claude stdout\n");
    boss.close().await;
}

#[tokio::test]
async fn a_task_past_its_timeout_is_killed_and_failed() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let id = post(&boss, json!({"to": "w", "title": "hang", "description": "x"})).await;
    let pidfile = relay.dir.path().join("child.pid");
    let script = format!("echo $$ > {}.tmp; mv {0}.tmp {0}; sleep 60", pidfile.display());
    let out = relay
        .worker(&[
            "--agent",
            "w",
            "--once",
            "--timeout-seconds",
            "1",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(output_lines(&out)[0].contains("timed out"), "{:?}", output_lines(&out));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(!alive(pid));
    let t = task(&boss, id).await;
    assert_eq!(t["task"]["state"], "failed");
    assert_eq!(t["task"]["error"], "timed out after 1s");
    boss.close().await;
}

#[tokio::test]
async fn a_background_process_left_holding_stdout_neither_hangs_the_worker_nor_survives() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let id = post(&boss, json!({"to": "w", "title": "two\nlines", "description": "x"})).await;
    let pidfile = relay.dir.path().join("bg.pid");
    // The background `sleep` inherits stdout: the pipe stays open after `sh` exits.
    let script = format!(
        "sleep 60 & echo $! > {}.tmp; mv {0}.tmp {0}; echo done",
        pidfile.display()
    );
    let out = relay
        .worker(&["--agent", "w", "--once", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines = output_lines(&out);
    assert_eq!(lines.len(), 1, "one line per task, whatever the title holds: {lines:?}");
    assert!(
        lines[0].contains("completed") && lines[0].contains("two lines"),
        "{lines:?}"
    );
    let bg: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(!alive(bg), "the background process outlived its task");
    assert_eq!(task(&boss, id).await["task"]["result"], "done\n");
    boss.close().await;
}

#[test]
fn worker_usage_errors_exit_2() {
    let relay = Relay::new();
    let out = relay.worker(&["--agent", "w"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("after `--`"));
    let out = relay
        .worker(&["--agent", "w", "--executor", "codex", "--", "ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = relay
        .worker(&["--agent", "w", "--concurrency", "0", "--", "ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
