//! Channels: create, join, post, read with per-member cursors, leave.

use serde_json::json;

use crate::support::Relay;

#[tokio::test]
async fn channel_posts_reach_members_in_other_processes() {
    let relay = Relay::new();
    let a = relay.agent("alice", &["channels"]).await;
    let b = relay.agent("bob", &["channels"]).await;
    let created = a
        .call("create_channel", json!({"name": "backend", "description": "API work"}))
        .await;
    assert_eq!(created["channel"]["name"], "backend");
    assert_eq!(created["channel"]["joined"], true);

    let (code, _) = b
        .call_err("post_to_channel", json!({"channel": "backend", "content": "hi"}))
        .await;
    assert_eq!(code, "NOT_MEMBER");
    let (code, _) = b.call_err("get_channel_messages", json!({"channel": "backend"})).await;
    assert_eq!(code, "NOT_MEMBER");
    let joined = b.call("join_channel", json!({"channel": "backend"})).await;
    assert_eq!(joined["already_member"], false);
    assert_eq!(
        b.call("join_channel", json!({"channel": "backend"})).await["already_member"],
        true
    );

    let post = a
        .call(
            "post_to_channel",
            json!({"channel": "backend", "content": "schema v2 landed"}),
        )
        .await;
    assert!(post["channel_message_id"].as_i64().unwrap() > 0);
    let listed = b.call("list_channels", json!({})).await;
    assert_eq!(listed["channels"][0]["unread"], 1);
    assert_eq!(listed["channels"][0]["member_count"], 2);

    let page = b.call("get_channel_messages", json!({"channel": "backend"})).await;
    assert_eq!(page["messages"][0]["content"], "schema v2 landed");
    assert_eq!(page["messages"][0]["from"], "alice");
    assert_eq!(page["unread_remaining"], 0);
    assert_eq!(
        b.call("get_channel_messages", json!({"channel": "backend"})).await["messages"],
        json!([])
    );
    let all = b
        .call("get_channel_messages", json!({"channel": "backend", "status": "all"}))
        .await;
    assert_eq!(all["messages"].as_array().unwrap().len(), 1);
    // The poster's own post does not count as unread for it.
    assert_eq!(a.call("list_channels", json!({})).await["channels"][0]["unread"], 0);

    assert_eq!(
        b.call("leave_channel", json!({"channel": "backend"})).await["left"],
        true
    );
    let (code, _) = b.call_err("leave_channel", json!({"channel": "backend"})).await;
    assert_eq!(code, "NOT_MEMBER");
    assert_eq!(b.call("list_channels", json!({})).await["channels"][0]["joined"], false);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn channel_errors_have_stable_codes() {
    let relay = Relay::new();
    let a = relay.agent("alice", &["channels"]).await;
    let plain = relay.agent("plain", &[]).await;
    a.call("create_channel", json!({"name": "ops"})).await;
    let (code, _) = a.call_err("create_channel", json!({"name": "ops"})).await;
    assert_eq!(code, "ALREADY_EXISTS");
    let (code, _) = a.call_err("create_channel", json!({"name": "Ops Team"})).await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = plain.call_err("create_channel", json!({"name": "mine"})).await;
    assert_eq!(code, "CAP_DENIED");
    let (code, _) = a.call_err("join_channel", json!({"channel": "nowhere"})).await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = a
        .call_err("post_to_channel", json!({"channel": "nowhere", "content": "x"}))
        .await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = a
        .call_err("post_to_channel", json!({"channel": "ops", "content": ""}))
        .await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = a
        .call_err(
            "post_to_channel",
            json!({"channel": "ops", "content": "x".repeat(64 * 1024 + 1)}),
        )
        .await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    // Membership without the capability: may read, may not post.
    plain.call("join_channel", json!({"channel": "ops"})).await;
    let (code, _) = plain
        .call_err("post_to_channel", json!({"channel": "ops", "content": "x"}))
        .await;
    assert_eq!(code, "CAP_DENIED");
    assert_eq!(
        plain
            .call("get_channel_messages", json!({"channel": "ops", "status": "all"}))
            .await["messages"],
        json!([])
    );
    a.close().await;
    plain.close().await;
}
