//! At-least-once delivery: mail handed to a reader becomes read only once
//! the response carrying it was written. A reader whose stdout is gone
//! (a vanished client) leaves it unread, to be delivered again with the
//! same ids.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Relay, ScrubRelayEnv, relay_bin};

/// Starts `relay serve --agent NAME`, completes the handshake, then closes
/// its stdout (the client vanished) and sends `calls`, then `marker` as a
/// `send_message` to `witness` so the test can tell the calls ran. Waits
/// for the marker to land and for the process to exit.
fn calls_into_a_closed_stdout(relay: &Relay, name: &str, calls: &[(&str, Value)], witness: &str) {
    let mut child = relay
        .serve_command(&["--agent", name])
        .spawn()
        .expect("spawn relay serve");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        stdin.write_all(format!("{v}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}));
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"result\""), "{line}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    drop(stdout); // the client is gone: every write to stdout now fails
    for (i, (tool, args)) in calls.iter().enumerate() {
        send(json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
            "params": {"name": tool, "arguments": args}}));
    }
    let marker = format!("marker from {name}");
    send(json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call",
        "params": {"name": "send_message", "arguments": {"to": witness, "content": marker}}}));
    // Calls of one session reach the store in order: once the marker is
    // stored, the calls before it have run.
    let store = relay.store();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if store.unread_count(witness).unwrap() > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the calls never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.code().is_some(), "relay serve died of a signal: {status:?}");
}

#[tokio::test]
async fn mail_whose_response_never_reached_the_client_stays_unread_and_comes_again() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        let s = alice
            .call("send_message", json!({"to": "bob", "content": format!("note {i}")}))
            .await;
        sent.push(s["message_id"].clone());
    }
    calls_into_a_closed_stdout(&relay, "bob", &[("get_messages", json!({}))], "alice");

    // Still unread, and delivered again under the same ids.
    let bob = relay.agent("bob", &[]).await;
    let inbox = bob.call("get_messages", json!({})).await;
    let ids: Vec<Value> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, sent);
    assert!(inbox["messages"].as_array().unwrap().iter().all(|m| m["read"] == false));
    assert_eq!(inbox["unread_remaining"], 0);
    // Delivered to a live client, they are read now: the next page is empty.
    assert_eq!(bob.call("get_messages", json!({})).await["messages"], json!([]));
    let read = bob.call("get_messages", json!({"status": "read"})).await;
    assert_eq!(read["messages"].as_array().unwrap().len(), 3);
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn a_channel_cursor_moves_only_past_posts_the_client_received() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &["channels"]).await;
    alice.call("create_channel", json!({"name": "dev"})).await;
    let bob = relay.agent("bob", &[]).await;
    bob.call("join_channel", json!({"channel": "dev"})).await;
    bob.close().await;
    for i in 0..2 {
        alice
            .call(
                "post_to_channel",
                json!({"channel": "dev", "content": format!("post {i}")}),
            )
            .await;
    }
    calls_into_a_closed_stdout(
        &relay,
        "bob",
        &[("get_channel_messages", json!({"channel": "dev"}))],
        "alice",
    );

    let bob = relay.agent("bob", &[]).await;
    let page = bob.call("get_channel_messages", json!({"channel": "dev"})).await;
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["post 0", "post 1"]);
    assert_eq!(page["unread_remaining"], 0);
    let again = bob.call("get_channel_messages", json!({"channel": "dev"})).await;
    assert_eq!(again["messages"], json!([]));
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn pages_read_back_to_back_never_repeat_mail() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    for i in 0..30 {
        alice
            .call("send_message", json!({"to": "bob", "content": format!("m{i}")}))
            .await;
    }
    let bob = relay.agent("bob", &[]).await;
    let mut seen = Vec::new();
    loop {
        let page = bob.call("get_messages", json!({"limit": 4})).await;
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            break;
        }
        seen.extend(messages.iter().map(|m| m["id"].as_i64().unwrap()));
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert_eq!(unique, seen);
    alice.close().await;
    bob.close().await;
}

/// `relay hook post-tool-use --agent bob` on the test's store.
fn hook(relay: &Relay) -> Command {
    let mut cmd = Command::new(relay_bin());
    cmd.env("RELAY_CONFIG", relay.config())
        .arg("--db")
        .arg(&relay.db)
        .args(["hook", "post-tool-use", "--agent", "bob"])
        .env_clear_relay()
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[tokio::test]
async fn a_hook_whose_output_cannot_be_written_reports_the_same_news_next_time() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    // The first run only sets bob's cursor.
    assert!(hook(&relay).stdout(Stdio::null()).status().unwrap().success());
    alice
        .call("send_message", json!({"to": "bob", "content": "ping"}))
        .await;
    // A pipe nobody reads from: the hook's write fails (EPIPE).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = hook(&relay).stdout(Stdio::from(writer)).status().unwrap();
    assert!(status.success(), "a hook always exits 0");
    let out = hook(&relay).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("1 new message (from alice)"), "{text:?}");
    // Delivered now: a further run is silent.
    let out = hook(&relay).output().unwrap();
    assert!(out.stdout.is_empty(), "{:?}", String::from_utf8_lossy(&out.stdout));
    alice.close().await;
}

#[test]
fn a_client_that_reads_its_mail_and_hangs_up_at_once_does_not_get_it_again() {
    let relay = Relay::new();
    let mut alice = relay.raw(&["--agent", "alice"]);
    alice.initialize();
    alice.call(1, "send_message", json!({"to": "bob", "content": "one-shot"}));
    assert!(alice.finish().success());
    // The README's shell demo: a request piped in, stdin closed behind it.
    let mut bob = relay.raw(&["--agent", "bob"]);
    bob.initialize();
    bob.send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_messages", "arguments": {}}}));
    bob.close_stdin();
    let page = bob.recv();
    assert_eq!(
        page["result"]["structuredContent"]["messages"][0]["content"],
        "one-shot"
    );
    assert!(bob.finish().success());
    assert_eq!(relay.store().unread_count("bob").unwrap(), 0);
}
