//! `relay doctor`: checks, their verdicts, fixes and exit codes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

use crate::support::{Relay, relay_bin};

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
