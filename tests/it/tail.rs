//! `relay tail`: a live stream of events, as text or JSON.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Relay, relay_bin};

struct Tail {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Tail {
    fn start(relay: &Relay, args: &[&str]) -> Self {
        let mut child = Command::new(relay_bin())
            .arg("--db")
            .arg(&relay.db)
            .arg("tail")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    fn next(&self) -> String {
        self.lines.recv_timeout(Duration::from_secs(10)).expect("a tail line")
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn tail_streams_events_as_text_or_json_and_filters_by_agent() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let carol = relay.agent("carol", &[]).await;
    let json_tail = Tail::start(&relay, &["--json"]);
    let bob_tail = Tail::start(&relay, &["--agent", "bob"]);
    // Let both tails reach their starting cursor.
    tokio::time::sleep(Duration::from_millis(300)).await;
    carol
        .call("send_message", json!({"to": "dave", "content": "not bob's"}))
        .await;
    let sent = alice
        .call("send_message", json!({"to": "bob", "content": "secret text"}))
        .await;

    let first: Value = serde_json::from_str(&json_tail.next()).unwrap();
    assert_eq!(
        (
            first["kind"].as_str(),
            first["actor"].as_str(),
            first["target"].as_str()
        ),
        (Some("message"), Some("carol"), Some("dave"))
    );
    let second: Value = serde_json::from_str(&json_tail.next()).unwrap();
    assert_eq!(second["subject_id"], sent["message_id"]);

    let line = bob_tail.next();
    assert!(line.contains("alice → bob") && line.contains("message"), "{line}");
    assert!(!line.contains("secret"), "{line}");
    assert!(
        bob_tail.lines.recv_timeout(Duration::from_millis(500)).is_err(),
        "carol's message leaked into bob's tail"
    );

    // --last N replays history first.
    let replay = Tail::start(&relay, &["--last", "2", "--json"]);
    let a: Value = serde_json::from_str(&replay.next()).unwrap();
    let b: Value = serde_json::from_str(&replay.next()).unwrap();
    assert_eq!(
        (a["actor"].as_str(), b["actor"].as_str()),
        (Some("carol"), Some("alice"))
    );
    alice.close().await;
    carol.close().await;
}
