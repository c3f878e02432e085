//! `relay doctor`: checks, their verdicts, fixes and exit codes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

use crate::support::{Relay, Tmpfs, relay_bin};

fn doctor(db: &Path, home: &Path, json: bool) -> (i32, String) {
    let mut cmd = Command::new(relay_bin());
    cmd.env("HOME", home)
        .current_dir(home)
        .arg("--db")
        .arg(db)
        .arg("doctor");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap())
}

fn status(report: &Value, name: &str) -> String {
    crate::support::doctor_check(report, name)["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_healthy_setup_passes_and_finds_hooks_and_mcp_configs() {
    let relay = Relay::new();
    relay.agent("alice", &[]).await.close().await;
    // relay makes the directories it creates 0700; this one the test made.
    std::fs::set_permissions(relay.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let (code, out) = doctor(&relay.db, home.path(), true);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true);
    for name in [
        "store opens",
        "schema current",
        "quick_check",
        "WAL",
        "permissions",
        "free disk",
    ] {
        assert_eq!(status(&report, name), "PASS", "{name}: {out}");
    }
    assert_eq!(status(&report, "Claude Code hooks"), "WARN");
    assert_eq!(status(&report, "MCP configs"), "WARN");

    std::fs::write(
        home.path().join(".mcp.json"),
        r#"{"mcpServers":{"relay":{"command":"relay","args":["serve"]}}}"#,
    )
    .unwrap();
    Command::new(relay_bin())
        .args(["generate-hooks", "--agent", "alice", "--write"])
        .arg(home.path().join(".claude/settings.json"))
        .assert()
        .success();
    let (_, out) = doctor(&relay.db, home.path(), true);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status(&report, "Claude Code hooks"), "PASS");
    assert_eq!(status(&report, "MCP configs"), "PASS");

    // Loose permissions are a warning with a fix; the human form shows it.
    std::fs::set_permissions(&relay.db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = doctor(&relay.db, home.path(), false);
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with("WARN  permissions")), "{out}");
    assert!(out.contains("fix: chmod 600"), "{out}");
}

#[test]
fn broken_or_missing_stores_fail_with_a_fix() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("relay.db");
    let (code, out) = doctor(&db, home.path(), true);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status(&report, "store"), "FAIL");
    std::fs::write(&db, b"this is not a database, it is a text file that is long enough").unwrap();
    let (code, out) = doctor(&db, home.path(), false);
    assert_eq!(code, 1);
    assert!(out.lines().any(|l| l.starts_with("FAIL  store opens")), "{out}");
    assert!(out.contains("fix: restore a backup"), "{out}");
}

/// A python3 process that holds the store's write lock the way a relay
/// process stopped inside a write does: relay's writer queue
/// (`flock` on `relay.db.writer.lock`) and SQLite's (`BEGIN IMMEDIATE`).
/// Ends when dropped.
struct WriteHolder(std::process::Child);

impl WriteHolder {
    fn start(db: &Path) -> Self {
        use std::io::BufRead;
        let script = "import fcntl, sqlite3, sys\n\
                      db = sys.argv[1]\n\
                      f = open(db + '.writer.lock', 'a+')\n\
                      fcntl.flock(f, fcntl.LOCK_EX)\n\
                      c = sqlite3.connect(db, isolation_level=None)\n\
                      c.execute('BEGIN IMMEDIATE')\n\
                      print('ready', flush=True)\n\
                      sys.stdin.read()\n";
        let mut child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Self(child)
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for WriteHolder {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn stuck_writes_name_the_process_that_holds_the_write_lock() {
    let relay = Relay::new();
    relay.agent("alice", &[]).await.close().await;
    let home = tempfile::tempdir().unwrap();
    let writes = |relay: &Relay| {
        let (code, out) = doctor(&relay.db, home.path(), true);
        let report: Value = serde_json::from_str(&out).unwrap();
        (code, crate::support::doctor_check(&report, "writes"))
    };
    let (_, check) = writes(&relay);
    assert_eq!(check["status"], "PASS", "{check}");
    assert!(check.get("pids").is_none(), "{check}");

    let holder = WriteHolder::start(&relay.db);
    let pid = holder.pid();
    let (code, check) = writes(&relay);
    assert_eq!(code, 1, "{check}");
    assert_eq!(check["status"], "FAIL", "{check}");
    assert_eq!(check["pids"], serde_json::json!([pid]), "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("pid {pid} (")) && detail.contains("python3"),
        "{detail}"
    );
    assert!(
        check["fix"].as_str().unwrap().contains(&format!("kill {pid}")),
        "{check}"
    );

    // Stopped (SIGSTOP, a debugger, a closed lid): the fix says resume it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGSTOP).unwrap();
    let (_, check) = writes(&relay);
    assert_eq!(check["status"], "FAIL", "{check}");
    assert!(check["detail"].as_str().unwrap().contains("stopped"), "{check}");
    assert!(
        check["fix"].as_str().unwrap().contains(&format!("kill -CONT {pid}")),
        "{check}"
    );

    drop(holder);
    let (code, check) = writes(&relay);
    assert_eq!(check["status"], "PASS", "{check}");
    assert_eq!(code, 0);
}

fn free_disk(db: &Path) -> Value {
    let home = tempfile::tempdir().unwrap();
    let (_, out) = doctor(db, home.path(), true);
    let report: Value = serde_json::from_str(&out).unwrap();
    crate::support::doctor_check(&report, "free disk")
}

#[tokio::test]
async fn free_disk_is_sized_on_the_store_and_its_wal() {
    // Plenty of room for a small store.
    let big = Tmpfs::mount(320 << 20);
    let db = big.path().join("relay.db");
    relay::store::Store::open(
        &db,
        std::sync::Arc::new(relay::clock::SystemClock),
        relay::store::Limits::default(),
    )
    .unwrap();
    let check = free_disk(&db);
    assert_eq!(check["status"], "PASS", "{check}");
    // The same filesystem is too small once the store is large: a backup's
    // copy, a checkpoint and WAL growth no longer fit.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE filler(b BLOB)").unwrap();
    for _ in 0..100 {
        conn.execute("INSERT INTO filler VALUES (zeroblob(1 << 20))", [])
            .unwrap();
    }
    drop(conn);
    let check = free_disk(&db);
    assert_eq!(check["status"], "WARN", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.contains("store 10"), "{detail}");
    assert!(
        detail.contains("a backup, a checkpoint and WAL growth need"),
        "{detail}"
    );
    assert!(check["fix"].as_str().unwrap().starts_with("free at least "), "{check}");
}

#[test]
fn free_disk_has_floors_whatever_the_store_size() {
    for (mib, status, code) in [(64, "WARN", 0), (8, "FAIL", 1)] {
        let fs = Tmpfs::mount(mib << 20);
        let db = fs.path().join("relay.db");
        relay::store::Store::open(
            &db,
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
        )
        .unwrap();
        let check = free_disk(&db);
        assert_eq!(check["status"], status, "{mib} MiB: {check}");
        let home = tempfile::tempdir().unwrap();
        let (exit, _) = doctor(&db, home.path(), false);
        assert_eq!(exit, code, "{mib} MiB");
    }
}

/// `relay doctor --remote URL --json [extra]` with `env`; the caller's
/// RELAY_AGENT_TOKEN and RELAY_HTTP_SECRET never leak in. Returns the exit
/// code and the report.
fn remote(url: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let out = Command::new(relay_bin())
        .env_remove("RELAY_AGENT_TOKEN")
        .env_remove("RELAY_HTTP_SECRET")
        .envs(env.iter().copied())
        .args(["doctor", "--json", "--remote", url])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

#[tokio::test]
async fn doctor_remote_passes_a_running_hub_and_names_the_agent_of_a_token() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let token = hub.register("alice").await;

    let (code, report) = remote(&hub.url, &[], &[("RELAY_AGENT_TOKEN", &token)]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["hub"], hub.url.as_str());
    assert!(
        report.get("store").is_none(),
        "--remote leaves the store alone: {report}"
    );
    let reachable = crate::support::doctor_check(&report, "hub reachable");
    // GET /health is the hub's (SPEC §7); a hub built before it answers
    // 404, which doctor reports as a WARN and then learns the revisions
    // from server/discover.
    let has_health = reqwest::get(format!("{}/health", hub.base()))
        .await
        .unwrap()
        .status()
        .is_success();
    if has_health {
        assert_eq!(reachable["status"], "PASS", "{reachable}");
        assert!(
            reachable["detail"].as_str().unwrap().contains("1 agent ("),
            "{reachable}"
        );
    } else {
        assert_eq!(reachable["status"], "WARN", "{reachable}");
        assert!(
            reachable["detail"].as_str().unwrap().contains("HTTP 404"),
            "{reachable}"
        );
    }
    let revisions = crate::support::doctor_check(&report, "protocol revisions");
    assert_eq!(revisions["status"], "PASS", "{revisions}");
    let detail = revisions["detail"].as_str().unwrap();
    assert!(
        detail.contains(env!("CARGO_PKG_VERSION")) && detail.contains("2026-07-28") && detail.contains("2025-11-25"),
        "{detail}"
    );
    let secret = crate::support::doctor_check(&report, "hub secret");
    assert_eq!(secret["status"], "PASS", "{secret}");
    assert!(secret["detail"].as_str().unwrap().contains("loopback"), "{secret}");
    let agent = crate::support::doctor_check(&report, "agent token");
    assert_eq!(agent["status"], "PASS", "{agent}");
    assert!(agent["detail"].as_str().unwrap().contains("agent alice"), "{agent}");
    assert!(
        agent["detail"].as_str().unwrap().contains("RELAY_AGENT_TOKEN"),
        "{agent}"
    );
    assert!(!report.to_string().contains(&token), "the report never shows the token");

    // --token-file (whitespace around it ignored) beats RELAY_AGENT_TOKEN; the
    // base URL works as well as the /mcp endpoint.
    let file = relay.dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let (code, report) = remote(
        &hub.base(),
        &["--token-file", file.to_str().unwrap()],
        &[("RELAY_AGENT_TOKEN", "rly_not-this-one")],
    );
    assert_eq!(code, 0, "{report}");
    let agent = crate::support::doctor_check(&report, "agent token");
    assert!(agent["detail"].as_str().unwrap().contains("--token-file"), "{agent}");

    // Without a token there is no token check.
    let (code, report) = remote(&hub.url, &[], &[]);
    assert_eq!(code, 0, "{report}");
    assert!(
        crate::support::doctor_check(&report, "agent token").is_null(),
        "{report}"
    );
}

#[tokio::test]
async fn doctor_remote_fails_a_token_the_hub_does_not_know() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let (code, report) = remote(&hub.url, &[], &[("RELAY_AGENT_TOKEN", "rly_bogus")]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["ok"], false);
    let agent = crate::support::doctor_check(&report, "agent token");
    assert_eq!(agent["status"], "FAIL", "{agent}");
    assert!(agent["detail"].as_str().unwrap().contains("refuses"), "{agent}");
    assert!(agent["fix"].as_str().unwrap().contains("relay recover"), "{agent}");
}

#[test]
fn doctor_remote_fails_an_unreachable_hub_with_exit_1_and_says_how_to_start_one() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let out = Command::new(relay_bin())
        .env_remove("RELAY_AGENT_TOKEN")
        .env_remove("RELAY_HTTP_SECRET")
        .args(["doctor", "--remote", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("FAIL  hub reachable")
            && first.contains(&format!("cannot reach http://127.0.0.1:{port}/health"))
            && first.to_lowercase().contains("connection refused"),
        "{text}"
    );
    assert!(text.contains("fix: start the hub"), "{text}");

    // Usage errors exit 2: not a URL; a credential file without --remote.
    let usage = |args: &[&str]| Command::new(relay_bin()).arg("doctor").args(args).output().unwrap();
    assert_eq!(usage(&["--remote", "127.0.0.1:3777"]).status.code(), Some(2));
    assert_eq!(usage(&["--token-file", "t"]).status.code(), Some(2));
    let missing = usage(&["--remote", &url, "--secret-file", "/nonexistent/secret"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--secret-file"));
}
