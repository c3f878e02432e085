//! Direct messages, broadcasts, read state, threads and limits.

use serde_json::{Value, json};

use crate::support::Relay;

#[tokio::test]
async fn a_message_crosses_processes_and_is_read_once() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let sent = alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "review PR #12?", "priority": "high"}),
        )
        .await;
    assert_eq!(sent["to"], "bob");
    assert_eq!(sent["recipient_registered"], true);

    let peeked = bob.call("get_messages", json!({"peek": true})).await;
    assert_eq!(peeked["messages"][0]["content"], "review PR #12?");
    assert_eq!(peeked["unread_remaining"], 1);

    let inbox = bob.call("get_messages", json!({})).await;
    let msg = &inbox["messages"][0];
    assert_eq!(msg["from"], "alice");
    assert_eq!(msg["priority"], "high");
    assert_eq!(msg["read"], false);
    assert_eq!(msg["id"], sent["message_id"]);
    assert_eq!(inbox["unread_remaining"], 0);
    assert_eq!(bob.call("get_messages", json!({})).await["messages"], json!([]));
    let read = bob.call("get_messages", json!({"status": "read"})).await;
    assert_eq!(read["messages"][0]["read"], true);
    // Alice's own inbox is untouched.
    assert_eq!(
        alice.call("get_messages", json!({"status": "all"})).await["messages"],
        json!([])
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn mail_waits_for_a_name_that_registers_later() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let sent = alice
        .call("send_message", json!({"to": "later", "content": "for tomorrow"}))
        .await;
    assert_eq!(sent["recipient_registered"], false);
    let later = relay.agent("later", &[]).await;
    assert_eq!(
        later.call("get_messages", json!({})).await["messages"][0]["content"],
        "for tomorrow"
    );
    alice.close().await;
    later.close().await;
}

#[tokio::test]
async fn replies_form_a_thread() {
    let relay = Relay::new();
    let a = relay.agent("alice", &[]).await;
    let b = relay.agent("bob", &[]).await;
    let c = relay.agent("carol", &[]).await;
    let first = a.call("send_message", json!({"to": "bob", "content": "q1"})).await;
    let id = first["message_id"].as_i64().unwrap();
    let reply = b
        .call("send_message", json!({"to": "alice", "content": "a1", "reply_to": id}))
        .await;
    assert_eq!(reply["thread_id"], id);
    a.call("send_message", json!({"to": "bob", "content": "unrelated"}))
        .await;
    let thread = b.call("get_messages", json!({"thread_id": id, "status": "all"})).await;
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
    assert_eq!(thread["messages"][0]["content"], "q1");

    let (code, _) = c
        .call_err("send_message", json!({"to": "bob", "content": "x", "reply_to": id}))
        .await;
    assert_eq!(code, "NOT_PARTY");
    let (code, _) = c
        .call_err("send_message", json!({"to": "bob", "content": "x", "reply_to": 999999}))
        .await;
    assert_eq!(code, "NOT_FOUND");
    a.close().await;
    b.close().await;
    c.close().await;
}

#[tokio::test]
async fn oversized_and_empty_content_store_nothing_and_the_session_goes_on() {
    let relay = Relay::new();
    let a = relay.agent("alice", &[]).await;
    let b = relay.agent("bob", &[]).await;
    // 64 KiB exactly is allowed; one byte more (as a two-byte character) is not.
    let max = "x".repeat(64 * 1024);
    a.call("send_message", json!({"to": "bob", "content": max})).await;
    let over = format!("{}é", "x".repeat(64 * 1024 - 1));
    let (code, body) = a.call_err("send_message", json!({"to": "bob", "content": over})).await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    assert!(body["error"].as_str().unwrap().contains("65537"));
    for empty in ["", "   \n"] {
        let (code, _) = a.call_err("send_message", json!({"to": "bob", "content": empty})).await;
        assert_eq!(code, "VALIDATION");
    }
    let (code, _) = a
        .call_err("send_message", json!({"to": "not a name", "content": "x"}))
        .await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = a
        .call_err(
            "send_message",
            json!({"to": "bob", "content": "x", "priority": "urgent"}),
        )
        .await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = a.call_err("send_message", json!({"content": "x"})).await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = b.call_err("get_messages", json!({"limit": 0})).await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = b.call_err("get_messages", json!({"limit": 101})).await;
    assert_eq!(code, "VALIDATION");

    // Only the valid message was stored.
    let inbox = b.call("get_messages", json!({"status": "all", "limit": 100})).await;
    assert_eq!(inbox["messages"].as_array().unwrap().len(), 1);
    // Failed mutating calls are audited with their code.
    let audit = relay.store().audit_log(50).unwrap();
    assert!(
        audit.iter().any(|e| e.tool == "send_message"
            && e.outcome == "PAYLOAD_TOO_LARGE"
            && e.agent.as_deref() == Some("alice"))
    );
    assert!(audit.iter().any(|e| e.tool == "send_message" && e.outcome == "ok"));
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn broadcast_needs_its_capability_and_reaches_everyone_else() {
    let relay = Relay::new();
    let lead = relay.serve(&["--agent", "lead", "--capabilities", "broadcast"]).await;
    let r1 = relay.serve(&["--agent", "r1", "--role", "reviewer"]).await;
    let b1 = relay.serve(&["--agent", "b1", "--role", "builder"]).await;

    let (code, _) = r1.call_err("broadcast", json!({"content": "hello all"})).await;
    assert_eq!(code, "CAP_DENIED");

    let all = lead.call("broadcast", json!({"content": "standup in 5"})).await;
    assert_eq!(all["recipients"], json!(["b1", "r1"]));
    let reviewers = lead
        .call("broadcast", json!({"content": "reviewers only", "role": "reviewer"}))
        .await;
    assert_eq!(reviewers["recipient_count"], 1);

    let r1_inbox = r1.call("get_messages", json!({})).await;
    let contents: Vec<&str> = r1_inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["standup in 5", "reviewers only"]);
    assert_eq!(r1_inbox["messages"][0]["kind"], "broadcast");
    assert_eq!(
        b1.call("get_messages", json!({})).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(lead.call("get_messages", json!({})).await["messages"], json!([]));
    for c in [lead, r1, b1] {
        c.close().await;
    }
}

#[tokio::test]
async fn every_change_lands_in_the_outbox_with_ids_only() {
    let relay = Relay::new();
    let a = relay.agent("alice", &["channels"]).await;
    let b = relay.agent("bob", &[]).await;
    let secret = "payload that must not be in the outbox";
    let sent = a.call("send_message", json!({"to": "bob", "content": secret})).await;
    a.call("create_channel", json!({"name": "ops"})).await;
    b.call("join_channel", json!({"channel": "ops"})).await;
    let post = a
        .call("post_to_channel", json!({"channel": "ops", "content": secret}))
        .await;
    let events = relay.store().events_after(0, 100).unwrap();
    let message = events
        .iter()
        .find(|e| e.kind.as_str() == "message")
        .expect("message event");
    assert_eq!(message.target.as_deref(), Some("bob"));
    assert_eq!(message.actor.as_deref(), Some("alice"));
    assert_eq!(message.subject_id, sent["message_id"].as_i64());
    let post_event = events
        .iter()
        .find(|e| e.kind.as_str() == "channel_post")
        .expect("channel_post event");
    assert_eq!(post_event.channel.as_deref(), Some("ops"));
    assert_eq!(post_event.subject_id, post["channel_message_id"].as_i64());
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert!(!format!("{events:?}").contains(secret));
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn the_sender_sees_every_recipients_receipt_on_plain_mail_too() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let first = alice.call("send_message", json!({"to": "bob", "content": "q1"})).await;
    let id = first["message_id"].as_i64().unwrap();
    assert_eq!(
        (&first["ack_required"], &first["ack_deadline"]),
        (&json!(false), &json!(null))
    );
    let other = alice
        .call("send_message", json!({"to": "carol", "content": "elsewhere"}))
        .await;
    let followup = alice
        .call("send_message", json!({"to": "bob", "content": "q2", "reply_to": id}))
        .await;

    // Received mail says it asks for nothing.
    let got = bob.call("get_messages", json!({"peek": true})).await;
    assert_eq!(got["box"], "inbox");
    for m in got["messages"].as_array().unwrap() {
        assert_eq!(
            (&m["ack_required"], &m["ack_deadline"], &m["acknowledged_at"]),
            (&json!(false), &json!(null), &json!(null))
        );
    }
    assert_eq!(
        bob.call("get_messages", json!({"status": "unacknowledged"})).await["messages"],
        json!([])
    );

    // The sent box: newest first, narrowed by thread and limit.
    let sent = alice.call("get_messages", json!({"box": "sent"})).await;
    let ids: Vec<&Value> = sent["messages"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
    assert_eq!(
        ids,
        [&followup["message_id"], &other["message_id"], &first["message_id"]]
    );
    let thread = alice
        .call("get_messages", json!({"box": "sent", "thread_id": id, "limit": 1}))
        .await;
    let m = &thread["messages"][0];
    assert_eq!(
        (m["id"].clone(), m["content"].clone()),
        (followup["message_id"].clone(), json!("q2"))
    );
    assert_eq!(
        (&m["ack_required"], &m["acks_pending"], &m["overdue"]),
        (&json!(false), &json!(0), &json!(false))
    );
    // Bob peeked: delivered, not read; carol never registered: sent.
    assert_eq!(m["receipts"][0]["state"], "delivered");
    let to_carol = &sent["messages"][1]["receipts"][0];
    assert_eq!(
        (to_carol["recipient"].as_str(), to_carol["state"].as_str()),
        (Some("carol"), Some("sent"))
    );
    // Alice's own inbox is empty, and says so next to the sent box.
    assert_eq!(sent["unread_remaining"], 0);
    alice.close().await;
    bob.close().await;
}
