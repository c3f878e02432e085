//! `relay recover AGENT`: a lost token, cleared by the operator.

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::support::{Relay, relay_bin};

fn recover(relay: &Relay, args: &[&str]) -> std::process::Output {
    Command::new(relay_bin())
        .arg("--db")
        .arg(&relay.db)
        .arg("recover")
        .args(args)
        .env("USER", "ops-person")
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_recovered_name_can_be_registered_again_and_keeps_its_mail() {
    let relay = Relay::new();
    let first = relay.serve::<&str>(&[]).await;
    first.call("register_agent", json!({"name": "lost"})).await; // its token is then lost
    first.close().await;
    let alice = relay.agent("alice", &[]).await;
    alice
        .call("send_message", json!({"to": "lost", "content": "still here"}))
        .await;

    let anon = relay.serve::<&str>(&[]).await;
    let (code, _) = anon.call_err("register_agent", json!({"name": "lost"})).await;
    assert_eq!(code, "NAME_TAKEN");

    // Not on a terminal and no --yes: refused, nothing changed.
    let out = recover(&relay, &["lost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let out = recover(&relay, &["lost", "--dry-run"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("would clear"));
    let (code, _) = anon.call_err("register_agent", json!({"name": "lost"})).await;
    assert_eq!(code, "NAME_TAKEN");

    let out = recover(&relay, &["lost", "--yes", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["recovered"], true);
    assert_eq!(report["unread_messages"], 1);

    let again = anon.call("register_agent", json!({"name": "lost"})).await;
    assert!(again["token"].as_str().unwrap().starts_with("rly_"));
    assert_eq!(
        anon.call("get_messages", json!({})).await["messages"][0]["content"],
        "still here"
    );
    let audit = relay.store().audit_log(50).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.tool == "recover" && e.agent.as_deref() == Some("lost") && e.transport == "cli")
    );

    let out = recover(&relay, &["nobody", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    anon.close().await;
    alice.close().await;
}
