//! `relay hook` and `relay generate-hooks` (Claude Code hooks).

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::{Relay, ScrubRelayEnv, relay_bin};

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

/// `relay hook EVENT --agent AGENT` on this installation's config and
/// clock, with `stdin`; returns the parsed JSON it printed (`Null` when
/// silent).
fn hook_on_clock(relay: &Relay, event: &str, agent: &str, stdin: &str) -> Value {
    use std::io::Write;
    let mut child = relay
        .command(&["hook", event, "--agent", agent])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

fn context_text(v: &Value) -> String {
    v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap_or_else(|| panic!("no additionalContext: {v}"))
        .to_owned()
}

#[tokio::test]
async fn hooks_tell_mail_waiting_for_an_acknowledgement_apart_from_unread_mail_until_it_is_acknowledged() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let input = json!({"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash"}).to_string();
    let stop = json!({"stop_hook_active": false}).to_string();
    assert_eq!(hook_on_clock(&relay, "post-tool-use", "bob", &input), Value::Null);

    alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "fyi: the build is green"}),
        )
        .await;
    let asked = alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "secret: rotate the key", "ack_required": true,
                   "ack_deadline_seconds": 60}),
        )
        .await["message_id"]
        .as_i64()
        .unwrap();
    let text = context_text(&hook_on_clock(&relay, "post-tool-use", "bob", &input));
    assert!(
        text.contains("2 new messages (from alice; 1 asks for your acknowledgement)"),
        "{text}"
    );
    assert!(
        text.contains("acknowledge_message") && !text.contains("secret"),
        "{text}"
    );

    // Unread and owed are told apart.
    let text = context_text(&hook_on_clock(&relay, "session-start", "bob", "{}"));
    assert!(
        text.contains(&format!(
            "2 unread messages (from alice) and 1 message waiting for your acknowledgement ({asked})"
        )),
        "{text}"
    );
    // Read, not acknowledged: no longer unread, still owed, and Stop says so
    // even with no news.
    bob.call("get_messages", json!({})).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = context_text(&hook_on_clock(&relay, "session-start", "bob", "{}"));
        if !text.contains("unread") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        text.contains(&format!(
            "you have 1 message waiting for your acknowledgement ({asked})"
        )),
        "{text}"
    );
    assert!(!text.contains("unread"), "{text}");
    assert_eq!(hook_on_clock(&relay, "post-tool-use", "bob", &input), Value::Null);
    let v = hook_on_clock(&relay, "stop", "bob", &stop);
    assert_eq!(v["decision"], "block");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "1 message you received still waits for your acknowledgement ({asked})"
        )),
        "{reason}"
    );
    assert_eq!(
        hook_on_clock(&relay, "stop", "bob", &json!({"stop_hook_active": true}).to_string()),
        Value::Null
    );

    // The sender's new session hears of its overdue message.
    relay.advance_clock(120_000);
    let text = context_text(&hook_on_clock(&relay, "session-start", "alice", "{}"));
    assert!(
        text.contains("1 message you sent past its acknowledgement deadline") && text.contains("get_outstanding"),
        "{text}"
    );
    hook_on_clock(&relay, "post-tool-use", "alice", &input);

    // Acknowledged: it never comes back for bob; alice is told.
    bob.call("acknowledge_message", json!({"message_id": asked})).await;
    assert_eq!(hook_on_clock(&relay, "session-start", "bob", "{}"), Value::Null);
    assert_eq!(hook_on_clock(&relay, "stop", "bob", &stop), Value::Null);
    let text = context_text(&hook_on_clock(&relay, "post-tool-use", "alice", &input));
    assert!(
        text.contains(&format!("message {asked} you sent was acknowledged (by bob)")),
        "{text}"
    );
    assert_eq!(hook_on_clock(&relay, "session-start", "alice", "{}"), Value::Null);
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn the_remote_hook_tells_owed_acknowledgements_from_the_hubs_inbox() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let bob_token = hub.register("bob").await;
    let alice = hub.session(Some(&hub.register("alice").await)).await;
    let bob = hub.session(Some(&bob_token)).await;
    // A machine with no store: only a config dir and bob's token.
    let machine = tempfile::tempdir().unwrap();
    let conf = machine.path().join("config.toml");
    std::fs::write(&conf, "").unwrap();
    let token_file = machine.path().join("bob.token");
    std::fs::write(&token_file, &bob_token).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let hook = |event: &str, stdin: &str| -> Value {
        let mut child = std::process::Command::new(relay_bin())
            .env_clear_relay()
            .env("HOME", machine.path())
            .env("RELAY_CONFIG", &conf)
            .arg("--db")
            .arg(machine.path().join("no-store/relay.db"))
            .args(["hook", event, "--agent", "bob", "--hub", &hub.url, "--token-file"])
            .arg(&token_file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    };

    let asked = alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "tag the release", "ack_required": true}),
        )
        .await["message_id"]
        .as_i64()
        .unwrap();
    let text = context_text(&hook("post-tool-use", "{}"));
    assert!(
        text.contains("1 new message (from alice; it asks for your acknowledgement)"),
        "{text}"
    );
    bob.call("get_messages", json!({})).await;
    let stop = json!({"stop_hook_active": false}).to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = context_text(&hook("session-start", "{}"));
        if !text.contains("unread") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        text.contains(&format!(
            "you have 1 message waiting for your acknowledgement ({asked})"
        )),
        "{text}"
    );
    let v = hook("stop", &stop);
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("still waits for your acknowledgement")),
        "{v}"
    );
    bob.call("acknowledge_message", json!({"message_id": asked})).await;
    assert_eq!(hook("session-start", "{}"), Value::Null);
    assert_eq!(hook("stop", &stop), Value::Null);
    alice.close().await;
    bob.close().await;
}
