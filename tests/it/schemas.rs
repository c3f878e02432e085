//! Every tool declares an `outputSchema` (MCP 2025-06-18) that both its
//! result and its error result satisfy: clients such as the TypeScript
//! SDK validate `structuredContent` against it even when `isError` is set.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::Relay;

#[tokio::test]
async fn every_tool_result_and_error_satisfies_its_declared_output_schema() {
    let relay = Relay::new();
    let lead = relay
        .serve(&[
            "--agent",
            "lead",
            "--capabilities",
            "tasks,broadcast,channels,spawn,webhooks,admin",
            "--spawn-mode",
            "dry-run",
        ])
        .await;
    let bob = relay.agent("bob", &[]).await;
    let tools = lead.service.list_all_tools().await.unwrap();
    let validators: BTreeMap<String, jsonschema::Validator> = tools
        .iter()
        .map(|t| {
            let schema = Value::Object(t.output_schema.as_ref().expect("outputSchema").as_ref().clone());
            let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            (t.name.to_string(), validator)
        })
        .collect();
    let check = |tool: &str, value: &Value| {
        let validator = &validators[tool];
        let errors: Vec<String> = validator.iter_errors(value).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{tool}: {value} does not satisfy its schema: {errors:?}"
        );
    };

    // One successful call of every tool, in an order where each can succeed.
    let task = lead
        .call("post_task", json!({"to": "bob", "title": "t", "description": "d"}))
        .await;
    let task_id = task["task"]["id"].clone();
    let msg = lead.call("send_message", json!({"to": "bob", "content": "hi"})).await;
    let asked = lead
        .call(
            "send_message",
            json!({"to": "bob", "content": "ack me", "ack_required": true}),
        )
        .await;
    let calls: Vec<(&str, Value)> = vec![
        ("health_check", json!({})),
        ("discover_agents", json!({"include_offline": true})),
        ("set_status", json!({"status": "busy", "note": "testing"})),
        (
            "send_message",
            json!({"to": "bob", "content": "hello", "reply_to": msg["message_id"]}),
        ),
        ("broadcast", json!({"content": "all hands"})),
        ("get_messages", json!({"status": "all"})),
        (
            "post_task",
            json!({"to": "bob", "title": "t2", "description": "d2", "wait_seconds": 1}),
        ),
        ("get_task", json!({"task_id": task_id})),
        ("get_tasks", json!({"role": "posted"})),
        ("update_task", json!({"task_id": task_id, "action": "cancel"})),
        ("create_channel", json!({"name": "dev"})),
        ("join_channel", json!({"channel": "dev"})),
        ("post_to_channel", json!({"channel": "dev", "content": "post"})),
        ("get_channel_messages", json!({"channel": "dev"})),
        ("list_channels", json!({})),
        ("leave_channel", json!({"channel": "dev"})),
        ("spawn_agent", json!({"name": "helper"})),
        // Never delivered (nothing fails here), so no traffic leaves the machine.
        (
            "register_webhook",
            json!({"url": "https://hooks.example.com/relay", "events": ["webhook.delivery_failed"]}),
        ),
        ("list_webhooks", json!({})),
        // Issue 13 (SPEC §9).
        ("search_messages", json!({"query": "hello"})),
        ("get_outstanding", json!({})),
        (
            "reserve_paths",
            json!({"project": "/work/repo", "paths": ["src/**"], "ttl_seconds": 60, "reason": "schema test"}),
        ),
        ("renew_reservations", json!({"project": "/work/repo"})),
        ("list_reservations", json!({})),
        ("release_paths", json!({"project": "/work/repo"})),
        ("delete_webhook", json!({"webhook_id": 1})),
        ("rotate_token", json!({"grace_seconds": 0})),
        ("revoke_token", json!({"target": "helper"})),
        (
            "register_agent",
            json!({"name": "lead2", "role": "r", "capabilities": []}),
        ),
        ("unregister_agent", json!({})),
    ];
    let mut covered = BTreeSet::new();
    for (tool, args) in calls {
        let r = lead.call_raw(tool, args).await;
        assert_eq!(r.is_error, Some(false), "{tool}: {:?}", r.structured_content);
        check(tool, r.structured_content.as_ref().expect("structuredContent"));
        covered.insert(tool);
    }
    // acknowledge_message is the recipient's call (lead is unregistered by now).
    let r = bob
        .call_raw("acknowledge_message", json!({"message_id": asked["message_id"]}))
        .await;
    assert_eq!(
        r.is_error,
        Some(false),
        "acknowledge_message: {:?}",
        r.structured_content
    );
    check(
        "acknowledge_message",
        r.structured_content.as_ref().expect("structuredContent"),
    );
    covered.insert("acknowledge_message");
    assert_eq!(covered.len(), validators.len(), "a tool has no successful call here");

    // And an error result of every tool (an unknown argument is VALIDATION).
    for tool in validators.keys() {
        let r = bob.call_raw(tool, json!({"no_such_argument": 1})).await;
        assert_eq!(r.is_error, Some(true), "{tool}");
        let body = r.structured_content.expect("structuredContent on error");
        assert_eq!(body["error_code"], "VALIDATION", "{tool}: {body}");
        check(tool, &body);
    }
    // A schema is not satisfied by anything: a result missing its fields fails.
    assert!(!validators["send_message"].is_valid(&json!({"message_id": 1})));
    assert!(!validators["send_message"].is_valid(&json!({"error_code": "NO_SUCH_CODE", "error": "x"})));
    lead.close().await;
    bob.close().await;
}
