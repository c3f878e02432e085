//! Acknowledgements and receipts (SPEC §9): `ack_required` on
//! `send_message` and `broadcast`, `acknowledge_message`,
//! `get_outstanding`, the sender's receipts (`get_messages` box "sent")
//! and the inbox resource's owed acknowledgements, over stdio and the
//! HTTP hub.

use serde_json::{Value, json};

use crate::support::{Client, Relay};

async fn inbox<H: rmcp::ClientHandler>(client: &Client<H>, agent: &str) -> Value {
    let read = client
        .service
        .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
            "relay://inbox/{agent}"
        )))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("the inbox is text")
    };
    serde_json::from_str(text).unwrap()
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

/// The receipt of `recipient` on the sent message `id`, as the sender's
/// `get_messages {box: "sent"}` shows it.
async fn receipt<H: rmcp::ClientHandler>(sender: &Client<H>, id: i64, recipient: &str) -> Value {
    let sent = sender.call("get_messages", json!({"box": "sent"})).await;
    assert_eq!(sent["box"], "sent");
    let message = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("message {id} is not in the sent box: {sent}"))
        .clone();
    message["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["recipient"] == recipient)
        .unwrap_or_else(|| panic!("no receipt for {recipient}: {message}"))
        .clone()
}

/// Waits (at most 10 s) until `recipient`'s receipt on `id` reaches
/// `state`: a read becomes read once its response was written, a moment
/// after the reader got it ([`relay::store::delivery`]).
async fn receipt_reaches<H: rmcp::ClientHandler>(sender: &Client<H>, id: i64, recipient: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = receipt(sender, id, recipient).await;
        if r["state"] == state || tokio::time::Instant::now() > deadline {
            assert_eq!(r["state"], state, "{r}");
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_acknowledgement_wakes_the_sender_and_empties_its_outstanding_list() {
    let relay = Relay::new();
    let alice = relay.listen(&["--agent", "alice", "--channel"]).await;
    alice.subscribe("relay://inbox/alice").await;
    let bob = relay.agent("bob", &[]).await;

    let sent = alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "run the migration, then tell me", "ack_required": true,
                   "ack_deadline_seconds": 3600}),
        )
        .await;
    let id = sent["message_id"].as_i64().unwrap();
    assert_eq!(sent["ack_required"], true);
    assert!(
        sent["ack_deadline"]
            .as_str()
            .is_some_and(|d| d > sent["created_at"].as_str().unwrap())
    );
    let out = alice.call("get_outstanding", json!({})).await;
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(1), Some(1)));
    assert_eq!(out["messages"][0]["id"], id);
    assert_eq!(out["messages"][0]["overdue"], false);
    assert_eq!(out["messages"][0]["acks_pending"], 1);
    let r = &out["messages"][0]["receipts"][0];
    assert_eq!(
        (r["recipient"].as_str(), r["state"].as_str()),
        (Some("bob"), Some("sent"))
    );
    assert!(r["delivered_at"].is_null() && r["read_at"].is_null() && r["acknowledged_at"].is_null());

    // Bob sees that it asks for an acknowledgement; a peek delivers it.
    let peek = bob.call("get_messages", json!({"peek": true})).await;
    let m = &peek["messages"][0];
    assert_eq!((m["id"].as_i64(), &m["ack_required"]), (Some(id), &json!(true)));
    assert_eq!(m["ack_deadline"], sent["ack_deadline"]);
    assert!(m["acknowledged_at"].is_null());
    let r = receipt(&alice, id, "bob").await;
    assert_eq!(r["state"], "delivered");
    assert!(r["delivered_at"].is_string() && r["read_at"].is_null());

    // Read but not acknowledged: it is no longer unread, still owed.
    assert_eq!(bob.call("get_messages", json!({})).await["messages"][0]["id"], id);
    receipt_reaches(&alice, id, "bob", "read").await;
    let view = inbox(&bob, "bob").await;
    assert_eq!(view["messages"], json!([]));
    assert_eq!(ids(&view["awaiting_ack"]), [id]);
    assert_eq!(view["awaiting_ack_count"], 1);
    let owed = bob.call("get_messages", json!({"status": "unacknowledged"})).await;
    assert_eq!(ids(&owed["messages"]), [id]);
    assert_eq!(
        inbox(&alice, "alice").await["outstanding"],
        json!({"count": 1, "overdue": 0})
    );

    let acked = bob
        .call(
            "acknowledge_message",
            json!({"message_id": id, "note": "migrated, 0 rows lost"}),
        )
        .await;
    assert_eq!(
        (acked["message_id"].as_i64(), acked["sender"].as_str()),
        (Some(id), Some("alice"))
    );
    assert_eq!(acked["note"], "migrated, 0 rows lost");

    // Alice's session is woken: its inbox subscription and the envelope.
    let woken = alice
        .recorder()
        .wait_for(10, |r| {
            r.updated().contains(&"relay://inbox/alice".to_string())
                && r.custom()
                    .iter()
                    .any(|(_, p)| p["meta"]["event"] == "message_acknowledged")
        })
        .await;
    assert!(
        woken,
        "{:?} {:?}",
        alice.recorder().updated(),
        alice.recorder().custom()
    );
    let (method, envelope) = alice
        .recorder()
        .custom()
        .into_iter()
        .find(|(_, p)| p["meta"]["event"] == "message_acknowledged")
        .unwrap();
    assert_eq!(method, "notifications/claude/channel");
    assert_eq!(envelope["meta"]["from"], "bob");
    assert_eq!(envelope["meta"]["id"], id.to_string());
    assert!(
        !envelope.to_string().contains("migrated"),
        "the note leaked: {envelope}"
    );

    let out = alice.call("get_outstanding", json!({})).await;
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(0), Some(0)));
    let r = receipt(&alice, id, "bob").await;
    assert_eq!(r["state"], "acknowledged");
    assert_eq!(r["acknowledged_at"], acked["acknowledged_at"]);
    assert_eq!(r["ack_note"], "migrated, 0 rows lost");
    assert!(r["delivered_at"].as_str().unwrap() <= r["read_at"].as_str().unwrap());
    assert!(r["read_at"].as_str().unwrap() <= r["acknowledged_at"].as_str().unwrap());
    // Handled mail never comes back as waiting.
    let view = inbox(&bob, "bob").await;
    assert_eq!(
        (view["awaiting_ack"].clone(), view["awaiting_ack_count"].as_i64()),
        (json!([]), Some(0))
    );
    assert_eq!(
        bob.call("get_messages", json!({"status": "unacknowledged"})).await["messages"],
        json!([])
    );
    let all = bob.call("get_messages", json!({"status": "all"})).await;
    assert_eq!(all["messages"][0]["acknowledged_at"], acked["acknowledged_at"]);
    assert_eq!(
        inbox(&alice, "alice").await["outstanding"],
        json!({"count": 0, "overdue": 0})
    );
    let audit = relay.store().audit_log(20).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.tool == "acknowledge_message" && a.outcome == "ok" && a.agent.as_deref() == Some("bob")),
        "{audit:?}"
    );
    let _ = alice.service.cancel().await;
    bob.close().await;
}

#[tokio::test]
async fn bad_acknowledgements_fail_with_stable_codes_and_change_nothing() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let carol = relay.agent("carol", &[]).await;
    let asked = alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "ack me", "ack_required": true}),
        )
        .await["message_id"]
        .as_i64()
        .unwrap();
    let plain = alice
        .call("send_message", json!({"to": "bob", "content": "just so you know"}))
        .await["message_id"]
        .as_i64()
        .unwrap();
    let events_before = relay.store().latest_event_id().unwrap();

    let ack = |id: i64| json!({"message_id": id});
    assert_eq!(bob.call_err("acknowledge_message", ack(9999)).await.0, "NOT_FOUND");
    assert_eq!(carol.call_err("acknowledge_message", ack(asked)).await.0, "NOT_PARTY");
    assert_eq!(alice.call_err("acknowledge_message", ack(asked)).await.0, "NOT_PARTY");
    let (code, body) = bob.call_err("acknowledge_message", ack(plain)).await;
    assert_eq!(code, "INVALID_STATE");
    assert!(body["error"].as_str().unwrap().contains("did not ask"), "{body}");
    let long = "n".repeat(257);
    assert_eq!(
        bob.call_err("acknowledge_message", json!({"message_id": asked, "note": long}))
            .await
            .0,
        "VALIDATION"
    );
    // Deadlines only with ack_required, and within 1 s to 30 days.
    for args in [
        json!({"to": "bob", "content": "x", "ack_deadline_seconds": 60}),
        json!({"to": "bob", "content": "x", "ack_required": true, "ack_deadline_seconds": 0}),
        json!({"to": "bob", "content": "x", "ack_required": true, "ack_deadline_seconds": 2_592_001}),
    ] {
        assert_eq!(
            alice.call_err("send_message", args.clone()).await.0,
            "VALIDATION",
            "{args}"
        );
    }
    assert_eq!(
        alice
            .call_err("get_messages", json!({"box": "sent", "peek": true}))
            .await
            .0,
        "VALIDATION"
    );
    assert_eq!(
        alice
            .call_err("get_messages", json!({"box": "sent", "status": "unread"}))
            .await
            .0,
        "VALIDATION"
    );
    assert_eq!(
        alice.call_err("get_outstanding", json!({"limit": 0})).await.0,
        "VALIDATION"
    );

    // Nothing changed: no event, no message, both still unread and owed.
    assert_eq!(relay.store().latest_event_id().unwrap(), events_before);
    let out = alice.call("get_outstanding", json!({})).await;
    assert_eq!(ids(&out["messages"]), [asked]);
    assert_eq!(out["messages"][0]["receipts"][0]["state"], "sent");
    assert_eq!(
        ids(&alice.call("get_messages", json!({"box": "sent"})).await["messages"]),
        [plain, asked]
    );
    assert_eq!(
        bob.call("get_messages", json!({"peek": true})).await["unread_remaining"],
        2
    );

    // Acknowledging twice: the second is INVALID_STATE and says when.
    let first = bob.call("acknowledge_message", ack(asked)).await;
    // Acknowledging read it: only the plain message is still unread.
    let left = bob.call("get_messages", json!({"peek": true})).await;
    assert_eq!(
        (ids(&left["messages"]), left["unread_remaining"].as_i64()),
        (vec![plain], Some(1))
    );
    let (code, body) = bob.call_err("acknowledge_message", ack(asked)).await;
    assert_eq!(code, "INVALID_STATE");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(first["acknowledged_at"].as_str().unwrap()),
        "{body}"
    );
    let audit = relay.store().audit_log(50).unwrap();
    let failed: Vec<&str> = audit
        .iter()
        .filter(|a| a.tool == "acknowledge_message" && a.outcome != "ok")
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "INVALID_STATE",
            "VALIDATION",
            "INVALID_STATE",
            "NOT_PARTY",
            "NOT_PARTY",
            "NOT_FOUND"
        ]
    );
    // The sessions keep serving.
    assert_eq!(carol.call("health_check", json!({})).await["status"], "ok");
    for c in [alice, bob, carol] {
        c.close().await;
    }
}

#[tokio::test]
async fn a_broadcast_asking_for_acks_stays_outstanding_until_every_recipient_acknowledged() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["broadcast"]).await;
    let workers = [
        relay.agent("w1", &[]).await,
        relay.agent("w2", &[]).await,
        relay.agent("w3", &[]).await,
    ];
    let sent = boss
        .call(
            "broadcast",
            json!({"content": "freeze main until 5pm", "ack_required": true, "ack_deadline_seconds": 600}),
        )
        .await;
    let id = sent["message_id"].as_i64().unwrap();
    assert_eq!(
        (sent["recipient_count"].as_i64(), &sent["ack_required"]),
        (Some(3), &json!(true))
    );
    assert!(sent["ack_deadline"].is_string());

    workers[1]
        .call("acknowledge_message", json!({"message_id": id, "note": "ok"}))
        .await;
    workers[2].call("get_messages", json!({})).await;
    receipt_reaches(&boss, id, "w3", "read").await;
    let out = boss.call("get_outstanding", json!({})).await;
    assert_eq!(ids(&out["messages"]), [id], "a partial ack stays outstanding");
    let m = &out["messages"][0];
    assert_eq!(m["acks_pending"], 2);
    let states: Vec<(String, String)> = m["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [("w1", "sent"), ("w2", "acknowledged"), ("w3", "read")];
    assert_eq!(states, want.map(|(a, b)| (a.to_owned(), b.to_owned())), "{m}");
    assert_eq!(m["receipts"][1]["ack_note"], "ok");

    workers[0].call("acknowledge_message", json!({"message_id": id})).await;
    assert_eq!(boss.call("get_outstanding", json!({})).await["total"], 1);
    workers[2].call("acknowledge_message", json!({"message_id": id})).await;
    let out = boss.call("get_outstanding", json!({})).await;
    assert_eq!((out["count"].as_i64(), out["total"].as_i64()), (Some(0), Some(0)));
    let sent = boss.call("get_messages", json!({"box": "sent"})).await;
    assert!(
        sent["messages"][0]["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "acknowledged"),
        "{sent}"
    );
    boss.close().await;
    for w in workers {
        w.close().await;
    }
}

#[tokio::test]
async fn overdue_messages_come_first_on_the_injected_clock() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &[]).await;
    let bob = relay.agent("bob", &[]).await;
    let send = |deadline: Option<u32>| {
        let mut args = json!({"to": "bob", "content": "please confirm", "ack_required": true});
        if let Some(s) = deadline {
            args["ack_deadline_seconds"] = json!(s);
        }
        args
    };
    let mut sent = Vec::new();
    for deadline in [None, Some(3600), Some(60)] {
        sent.push(
            alice.call("send_message", send(deadline)).await["message_id"]
                .as_i64()
                .unwrap(),
        );
    }
    let (open, hour, minute) = (sent[0], sent[1], sent[2]);
    let order = |out: &Value| -> Vec<(i64, bool)> {
        out["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["id"].as_i64().unwrap(), m["overdue"].as_bool().unwrap()))
            .collect()
    };
    let out = alice.call("get_outstanding", json!({})).await;
    assert_eq!(order(&out), [(open, false), (hour, false), (minute, false)]);
    assert_eq!(out["overdue"], 0);

    relay.advance_clock(120_000);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let out = alice.call("get_outstanding", json!({})).await;
    assert_eq!(order(&out), [(minute, true), (open, false), (hour, false)]);
    assert_eq!(out["overdue"], 1);
    relay.advance_clock(7_200_000);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let out = alice.call("get_outstanding", json!({"limit": 2})).await;
    assert_eq!(order(&out), [(minute, true), (hour, true)]);
    assert_eq!((out["total"].as_i64(), out["overdue"].as_i64()), (Some(3), Some(2)));
    // Acknowledged late is still acknowledged: it leaves the list.
    bob.call("acknowledge_message", json!({"message_id": minute})).await;
    let out = alice.call("get_outstanding", json!({})).await;
    assert_eq!(order(&out), [(hour, true), (open, false)]);
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn acknowledgements_work_over_the_http_hub_and_wake_the_senders_session() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let alice_token = hub.register("alice").await;
    let bob_token = hub.register("bob").await;
    let alice = hub.listener(Some(&alice_token)).await;
    alice.subscribe("relay://inbox/alice").await;
    let bob = hub.session(Some(&bob_token)).await;

    let id = alice
        .call(
            "send_message",
            json!({"to": "bob", "content": "review done?", "ack_required": true}),
        )
        .await["message_id"]
        .as_i64()
        .unwrap();
    let got = bob.call("get_messages", json!({})).await;
    assert_eq!(
        (got["messages"][0]["id"].as_i64(), &got["messages"][0]["ack_required"]),
        (Some(id), &json!(true))
    );
    assert_eq!(
        bob.call_err("acknowledge_message", json!({"message_id": id + 1}))
            .await
            .0,
        "NOT_FOUND"
    );
    let before = alice.recorder().updated().len();
    bob.call("acknowledge_message", json!({"message_id": id, "note": "lgtm"}))
        .await;
    assert!(
        alice.recorder().wait_for(10, |r| r.updated().len() > before).await,
        "no resources/updated for alice's inbox: {:?}",
        alice.recorder().updated()
    );
    assert!(alice.recorder().updated().iter().all(|u| u == "relay://inbox/alice"));
    assert_eq!(alice.call("get_outstanding", json!({})).await["total"], 0);
    let r = receipt(&alice, id, "bob").await;
    assert_eq!(
        (r["state"].as_str(), r["ack_note"].as_str()),
        (Some("acknowledged"), Some("lgtm"))
    );
    assert!(r["read_at"].is_string() && r["delivered_at"].is_string());
    let audit = relay.store().audit_log(20).unwrap();
    let row = audit
        .iter()
        .find(|a| a.tool == "acknowledge_message" && a.outcome == "ok")
        .unwrap();
    assert_eq!(row.transport, "http");
    alice.close().await;
    bob.close().await;
}
