//! Snapshots (insta) of human-facing output, with paths and machine
//! figures filtered. Review changes with `cargo insta review` (or set
//! INSTA_UPDATE=always and inspect the diff).

use std::os::unix::fs::PermissionsExt;

use assert_cmd::Command;

use crate::support::{Relay, relay_bin};

fn filtered() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"/[^\s,]*/\.tmp[A-Za-z0-9]+[^\s,]*", "[PATH]");
    settings.add_filter(r"/tmp/[^\s,]+", "[PATH]");
    settings.add_filter(r"\d+ MiB free", "[N] MiB free");
    settings
}

#[tokio::test]
async fn doctor_human_output() {
    let relay = Relay::new();
    relay.agent("alice", &[]).await.close().await;
    std::fs::set_permissions(relay.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(relay_bin())
        .env("HOME", home.path())
        .env("RELAY_CONFIG", relay.config())
        .current_dir(home.path())
        .arg("--db")
        .arg(&relay.db)
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    filtered().bind(|| insta::assert_snapshot!("doctor_healthy", text));
}

#[tokio::test]
async fn recover_dry_run_human_output() {
    let relay = Relay::new();
    relay.agent("lost", &[]).await.close().await;
    let out = Command::new(relay_bin())
        .env("RELAY_CONFIG", relay.config())
        .arg("--db")
        .arg(&relay.db)
        .args(["recover", "lost", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    filtered().bind(|| insta::assert_snapshot!("recover_dry_run", text));
}

#[tokio::test]
async fn re_encrypt_human_output() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    for i in 0..3 {
        alice
            .call(
                "send_message",
                serde_json::json!({"to": "alice", "content": format!("m{i}")}),
            )
            .await;
    }
    alice.close().await;
    let ring = relay.dir.path().join("keyring.json");
    std::fs::write(
        &ring,
        r#"{"current":"k1","keys":{"k1":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(relay_bin())
            .env("RELAY_CONFIG", relay.config())
            .env("RELAY_ENCRYPTION_KEYRING_PATH", &ring)
            .arg("--db")
            .arg(&relay.db)
            .args(args)
            .output()
            .unwrap();
        format!(
            "$ relay {} (exit {})\n{}",
            args.join(" "),
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap()
        )
    };
    let text = [
        run(&["re-encrypt", "--to", "k1", "--dry-run"]),
        run(&["re-encrypt", "--to", "k1", "--batch-size", "2", "--max-batches", "1"]),
        run(&["re-encrypt", "--to", "k1"]),
        run(&["re-encrypt", "--verify-clean", "k1"]),
    ]
    .join("\n");
    filtered().bind(|| insta::assert_snapshot!("re_encrypt", text));
}
