//! Durability and concurrency: the store outlives processes, and many
//! serve processes writing at once lose and duplicate nothing.

use std::collections::HashSet;

use serde_json::json;

use crate::support::Relay;

#[tokio::test]
async fn messages_and_channels_survive_a_restart() {
    let relay = Relay::new();
    {
        let a = relay.agent("alice", &["channels"]).await;
        let b = relay.agent("bob", &[]).await;
        a.call("send_message", json!({"to": "bob", "content": "before restart"}))
            .await;
        a.call("create_channel", json!({"name": "ops"})).await;
        b.call("join_channel", json!({"channel": "ops"})).await;
        a.call("post_to_channel", json!({"channel": "ops", "content": "still here"}))
            .await;
        a.close().await;
        b.close().await;
    }
    let b = relay.agent("bob", &[]).await;
    assert_eq!(
        b.call("get_messages", json!({})).await["messages"][0]["content"],
        "before restart"
    );
    let page = b.call("get_channel_messages", json!({"channel": "ops"})).await;
    assert_eq!(page["messages"][0]["content"], "still here");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_processes_times_300_messages_arrive_exactly_once() {
    const SENDERS: usize = 8;
    const PER_SENDER: usize = 300;
    let relay = std::sync::Arc::new(Relay::new());
    let sink = relay.agent("sink", &[]).await;
    let mut clients = Vec::new();
    for i in 0..SENDERS {
        clients.push(relay.agent(&format!("sender-{i}"), &[]).await);
    }
    let mut handles = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            for n in 0..PER_SENDER {
                client
                    .call("send_message", json!({"to": "sink", "content": format!("{i}:{n}")}))
                    .await;
            }
            client.close().await;
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    loop {
        let page = sink.call("get_messages", json!({"limit": 100})).await;
        let msgs = page["messages"].as_array().unwrap();
        if msgs.is_empty() {
            break;
        }
        for m in msgs {
            total += 1;
            let content = m["content"].as_str().unwrap().to_owned();
            let (sender, _) = content.split_once(':').unwrap();
            assert_eq!(m["from"], format!("sender-{sender}"));
            assert!(seen.insert(content), "duplicate delivery");
        }
    }
    assert_eq!(total, SENDERS * PER_SENDER);
    for i in 0..SENDERS {
        for n in 0..PER_SENDER {
            assert!(seen.contains(&format!("{i}:{n}")), "lost {i}:{n}");
        }
    }
    sink.close().await;
}

#[test]
fn serve_processes_started_together_on_a_fresh_store_all_come_up() {
    for _ in 0..5 {
        let relay = Relay::new();
        let children: Vec<_> = (0..4)
            .map(|i| {
                std::process::Command::new(crate::support::relay_bin())
                    .arg("--db")
                    .arg(&relay.db)
                    .args(["serve", "--agent", &format!("a{i}")])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
