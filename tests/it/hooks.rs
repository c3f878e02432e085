//! `relay hook` and `relay generate-hooks` (Claude Code hooks).

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::{Relay, relay_bin};

fn hook(relay: &Relay, event: &str, agent: &str, stdin: &str) -> (i32, String) {
    let out = Command::new(relay_bin())
        .env_remove("RELAY_AGENT")
        .arg("--db")
        .arg(&relay.db)
        .args(["hook", event, "--agent", agent])
        .write_stdin(stdin)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap())
}

#[tokio::test]
async fn hooks_report_new_mail_once_without_its_text() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &["tasks"]).await;
    let bob = relay.agent("bob", &["tasks"]).await;
    let input = json!({"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash"}).to_string();
    assert_eq!(hook(&relay, "session-start", "bob", "{}"), (0, String::new()));
    assert_eq!(hook(&relay, "post-tool-use", "bob", &input), (0, String::new()));

    alice
        .call("send_message", json!({"to": "bob", "content": "secret plan: rm -rf /"}))
        .await;
    let task = alice
        .call(
            "post_task",
            json!({"to": "bob", "title": "secret title", "description": "d"}),
        )
        .await;
    let (code, out) = hook(&relay, "post-tool-use", "bob", &input);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PostToolUse");
    let text = v["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(text.contains("1 new message (from alice)"), "{text}");
    assert!(
        text.contains(&format!("task {} assigned to you", task["task"]["id"])),
        "{text}"
    );
    assert!(!text.contains("secret"), "payload leaked: {text}");
    // Delivered once: the next call is silent.
    assert_eq!(hook(&relay, "post-tool-use", "bob", &input), (0, String::new()));

    // A new session starts with what is still pending.
    let (_, out) = hook(&relay, "session-start", "bob", "{}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let text = v["hookSpecificOutput"]["additionalContext"].as_str().unwrap();
    assert!(
        text.contains("1 unread message (from alice)") && text.contains("1 open task"),
        "{text}"
    );

    // Stop asks Claude to keep going when mail arrived, unless already continuing.
    alice
        .call("send_message", json!({"to": "bob", "content": "one more"}))
        .await;
    let (_, out) = hook(&relay, "stop", "bob", &json!({"stop_hook_active": true}).to_string());
    assert_eq!(out, "");
    let (_, out) = hook(&relay, "stop", "bob", &json!({"stop_hook_active": false}).to_string());
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "block");
    assert!(v["reason"].as_str().unwrap().contains("from alice"));
    alice.close().await;
    bob.close().await;
}

#[test]
fn hooks_never_fail_a_session() {
    let relay = Relay::new();
    // No store yet, malformed stdin, unknown event, no agent: silent, exit 0.
    assert_eq!(hook(&relay, "post-tool-use", "bob", "{not json"), (0, String::new()));
    assert!(!relay.db.exists(), "a hook must not create a store");
    std::fs::write(
        &relay.db,
        b"garbage that is not a database at all, long enough to be read",
    )
    .unwrap();
    assert_eq!(hook(&relay, "post-tool-use", "bob", "{}"), (0, String::new()));
    assert_eq!(hook(&relay, "no-such-event", "bob", "{}"), (0, String::new()));
    let out = Command::new(relay_bin())
        .env_remove("RELAY_AGENT")
        .args(["hook", "stop"])
        .write_stdin("{}")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn generate_hooks_prints_and_merges_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(relay_bin())
        .args(["generate-hooks", "--agent", "frontend"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (event, name) in [
        ("SessionStart", "session-start"),
        ("PostToolUse", "post-tool-use"),
        ("Stop", "stop"),
    ] {
        let command = v["hooks"][event][0]["hooks"][0]["command"].as_str().unwrap();
        assert_eq!(command, format!("relay hook {name} --agent frontend"));
    }

    let settings = dir.path().join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let mine = json!({
        "model": "opus",
        "hooks": {"PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./lint.sh"}]}]}
    });
    std::fs::write(&settings, serde_json::to_string_pretty(&mine).unwrap()).unwrap();
    let write = || {
        Command::new(relay_bin())
            .args(["generate-hooks", "--agent", "frontend", "--write"])
            .arg(&settings)
            .assert()
            .success();
        std::fs::read_to_string(&settings).unwrap()
    };
    let first = write();
    let merged: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(merged["model"], "opus");
    let post = merged["hooks"]["PostToolUse"].as_array().unwrap();
    assert_eq!(post.len(), 2, "{post:?}");
    assert_eq!(post[0]["hooks"][0]["command"], "./lint.sh");
    assert_eq!(merged["hooks"]["Stop"].as_array().unwrap().len(), 1);
    assert_eq!(write(), first, "a second merge must change nothing");

    std::fs::write(&settings, "{ not json").unwrap();
    Command::new(relay_bin())
        .args(["generate-hooks", "--agent", "frontend", "--write"])
        .arg(&settings)
        .assert()
        .code(2);
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{ not json");
}
