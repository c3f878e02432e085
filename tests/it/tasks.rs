//! Tasks over MCP (SPEC §4): post, accept, complete across processes,
//! waiting, idempotency under races, fencing, the task resource.

use serde_json::json;

use crate::support::Relay;

#[tokio::test]
async fn a_task_crosses_processes_and_its_result_comes_back() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let worker = relay.agent("builder", &["tasks"]).await;
    let posted = boss
        .call(
            "post_task",
            json!({"to": "builder", "title": "build", "description": "cargo build", "priority": "high"}),
        )
        .await;
    assert_eq!(posted["deduped"], false);
    let id = posted["task"]["id"].as_i64().unwrap();
    assert_eq!(posted["task"]["state"], "posted");

    let todo = worker.call("get_tasks", json!({})).await;
    assert_eq!(todo["tasks"][0]["id"], id);
    let accepted = worker
        .call(
            "update_task",
            json!({"task_id": id, "action": "accept", "lease_seconds": 60}),
        )
        .await;
    let token = accepted["task"]["fencing_token"].as_i64().unwrap();
    assert_eq!(token, 1);
    worker
        .call(
            "update_task",
            json!({"task_id": id, "action": "complete", "result": "built", "fencing_token": token}),
        )
        .await;

    let got = boss.call("get_task", json!({"task_id": id})).await;
    assert_eq!(got["task"]["state"], "completed");
    assert_eq!(got["task"]["result"], "built");
    let actions: Vec<&str> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["post", "accept", "complete"]);
    let (code, _) = worker
        .call_err(
            "update_task",
            json!({"task_id": id, "action": "complete", "fencing_token": 0}),
        )
        .await;
    assert_eq!(code, "STALE_LEASE");
    boss.close().await;
    worker.close().await;
}

#[tokio::test]
async fn waiting_for_a_task_does_not_block_the_session() {
    let relay = std::sync::Arc::new(Relay::new());
    let boss = std::sync::Arc::new(relay.agent("boss", &["tasks"]).await);
    let worker = relay.agent("w", &["tasks"]).await;
    let id = boss
        .call("post_task", json!({"to": "w", "title": "t", "description": "d"}))
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let waiter = {
        let boss = boss.clone();
        tokio::spawn(async move { boss.call("get_task", json!({"task_id": id, "wait_seconds": 30})).await })
    };
    // The same session answers other calls while the wait is pending.
    for _ in 0..3 {
        assert_eq!(boss.call("health_check", json!({})).await["status"], "ok");
    }
    let token = worker
        .call("update_task", json!({"task_id": id, "action": "accept"}))
        .await["task"]["fencing_token"]
        .as_i64()
        .unwrap();
    worker
        .call(
            "update_task",
            json!({"task_id": id, "action": "complete", "result": "done", "fencing_token": token}),
        )
        .await;
    let waited = waiter.await.unwrap();
    assert_eq!(waited["timed_out"], false);
    assert_eq!(waited["task"]["result"], "done");

    // A wait that runs out says so, and the task keeps going.
    let posted = boss
        .call(
            "post_task",
            json!({"to": "w", "title": "slow", "description": "d", "wait_seconds": 1}),
        )
        .await;
    assert_eq!(posted["timed_out"], true);
    assert_eq!(posted["task"]["state"], "posted");
    let (code, _) = boss
        .call_err("get_task", json!({"task_id": id, "wait_seconds": 3601}))
        .await;
    assert_eq!(code, "VALIDATION");
    worker.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_posts_over_two_processes_create_one_task() {
    let relay = Relay::new();
    let a = std::sync::Arc::new(relay.agent("boss", &["tasks"]).await);
    let b = std::sync::Arc::new(relay.agent("boss", &["tasks"]).await);
    let post = json!({"to": "w", "title": "once", "description": "exactly once", "request_id": "deploy-42"});
    let mut calls = Vec::new();
    for i in 0..20 {
        let client = if i % 2 == 0 { a.clone() } else { b.clone() };
        let post = post.clone();
        calls.push(tokio::spawn(async move { client.call("post_task", post).await }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut fresh = 0;
    for c in calls {
        let r = c.await.unwrap();
        ids.insert(r["task"]["id"].as_i64().unwrap());
        if r["deduped"] == false {
            fresh += 1;
        }
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(fresh, 1);
    let mut changed = post.clone();
    changed["description"] = json!("something else");
    let (code, _) = a.call_err("post_task", changed).await;
    assert_eq!(code, "IDEMPOTENCY_CONFLICT");
    assert_eq!(a.call("get_tasks", json!({"role": "posted"})).await["count"], 1);
}

#[tokio::test]
async fn task_tools_check_capability_party_and_input() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let plain = relay.agent("plain", &[]).await;
    let (code, _) = plain
        .call_err("post_task", json!({"to": "boss", "title": "t", "description": "d"}))
        .await;
    assert_eq!(code, "CAP_DENIED");
    let id = boss
        .call("post_task", json!({"to": "w", "title": "t", "description": "d"}))
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let (code, _) = plain.call_err("get_task", json!({"task_id": id})).await;
    assert_eq!(code, "NOT_PARTY");
    let (code, _) = boss.call_err("get_task", json!({"task_id": 424242})).await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = boss
        .call_err("update_task", json!({"task_id": id, "action": "accept"}))
        .await;
    assert_eq!(code, "NOT_PARTY");
    let (code, _) = boss
        .call_err("update_task", json!({"task_id": id, "action": "explode"}))
        .await;
    assert_eq!(code, "VALIDATION");
    let (code, _) = boss
        .call_err(
            "post_task",
            json!({"to": "w", "title": "t".repeat(257), "description": "d"}),
        )
        .await;
    assert_eq!(code, "PAYLOAD_TOO_LARGE");
    let (code, _) = boss
        .call_err("post_task", json!({"title": "t", "description": "d"}))
        .await;
    assert_eq!(code, "VALIDATION");
    boss.call("update_task", json!({"task_id": id, "action": "cancel"}))
        .await;
    let (code, _) = boss
        .call_err("update_task", json!({"task_id": id, "action": "cancel"}))
        .await;
    assert_eq!(code, "INVALID_STATE");
    boss.close().await;
    plain.close().await;
}

#[tokio::test]
async fn the_task_resource_shows_state_and_history() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let id = boss
        .call("post_task", json!({"to": "w", "title": "t", "description": "d"}))
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let templates = boss.service.list_all_resource_templates().await.unwrap();
    assert!(templates.iter().any(|t| t.uri_template == "relay://task/{id}"));
    let read = boss
        .service
        .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
            "relay://task/{id}"
        )))
        .await
        .unwrap();
    let rmcp::model::ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("text contents")
    };
    let body: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["task"]["id"], id);
    assert_eq!(body["events"][0]["action"], "post");
    assert!(
        boss.service
            .read_resource(rmcp::model::ReadResourceRequestParams::new("relay://task/nope"))
            .await
            .is_err()
    );
    boss.close().await;
}

#[tokio::test]
async fn a_stale_session_cannot_complete_a_re_accepted_task_by_leaving_out_the_token() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["tasks"]).await;
    let first = relay.agent("w", &["tasks"]).await;
    let second = relay.agent("w", &["tasks"]).await;
    let id = boss
        .call("post_task", json!({"to": "w", "title": "t", "description": "d"}))
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let accepted = first
        .call(
            "update_task",
            json!({"task_id": id, "action": "accept", "lease_seconds": 1}),
        )
        .await;
    assert_eq!(accepted["task"]["fencing_token"], 1);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // The lease ran out; the other session of the same agent takes over.
    let again = second
        .call(
            "update_task",
            json!({"task_id": id, "action": "accept", "lease_seconds": 60}),
        )
        .await;
    let token = again["task"]["fencing_token"].as_i64().unwrap();
    assert_eq!(token, 2);

    let (code, body) = first
        .call_err(
            "update_task",
            json!({"task_id": id, "action": "complete", "result": "stale result"}),
        )
        .await;
    assert_eq!(code, "VALIDATION");
    assert!(
        body["error"].as_str().unwrap().contains("pass the fencing_token"),
        "{body}"
    );
    let got = boss.call("get_task", json!({"task_id": id})).await;
    assert_eq!(got["task"]["state"], "accepted");
    assert_eq!(got["task"]["result"], serde_json::Value::Null);
    assert_eq!(got["task"]["fencing_token"], 2);

    second
        .call(
            "update_task",
            json!({"task_id": id, "action": "complete", "result": "fresh result", "fencing_token": token}),
        )
        .await;
    let got = boss.call("get_task", json!({"task_id": id})).await;
    assert_eq!(got["task"]["state"], "completed");
    assert_eq!(got["task"]["result"], "fresh result");
    boss.close().await;
    first.close().await;
    second.close().await;
}
