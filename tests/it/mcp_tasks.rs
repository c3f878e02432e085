//! MCP Tasks over relay tasks (SPEC §9): the 2025-11-25 Tasks in raw
//! JSON-RPC lines and raw HTTP (no client library speaks them), the
//! 2026-07-28 extension through rmcp's client on stdio and over the hub,
//! and the state mapping, authorization and errors of both.

use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, ClientConfig, GetTaskParams,
    Implementation, ProtocolVersion, TaskStatus, UpdateTaskParams,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceError};
use serde_json::{Value, json};

use crate::support::{RawSession, Relay, SCRUBBED_ENV, clock_file, relay_bin};

/// A raw stdio session that keeps the notifications it reads while
/// waiting for a response.
struct Lines {
    s: RawSession,
    seen: Vec<Value>,
    next_id: i64,
}

impl Lines {
    /// `serve --agent AGENT --capabilities tasks`, initialized in `revision`.
    fn open(relay: &Relay, agent: &str, revision: &str) -> (Self, Value) {
        let s = relay.raw(&["--agent", agent, "--capabilities", "tasks"]);
        let mut lines = Self {
            s,
            seen: Vec::new(),
            next_id: 100,
        };
        let init = lines.request(
            "initialize",
            json!({"protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}),
        );
        lines
            .s
            .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        (lines, init)
    }

    /// Sends a request; returns its id.
    fn send(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.s
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// The response to request `id` (notifications read meanwhile are kept).
    fn response(&mut self, id: i64) -> Value {
        if let Some(pos) = self.seen.iter().position(|m| m["id"] == id) {
            return self.seen.remove(pos);
        }
        loop {
            let m = self.s.recv();
            if m["id"] == id {
                return m;
            }
            self.seen.push(m);
        }
    }

    /// Sends a request and returns its response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.response(id)
    }

    /// The result of a request that must succeed.
    fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        assert!(r["error"].is_null(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// The JSON-RPC error code of a request that must fail.
    fn err(&mut self, method: &str, params: Value) -> (i64, String) {
        let r = self.request(method, params);
        let code = r["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{method} did not fail: {r}"));
        (code, r["error"]["message"].as_str().unwrap_or_default().to_owned())
    }

    /// A tool call's result.
    fn call(&mut self, tool: &str, args: Value) -> Value {
        self.ok("tools/call", json!({"name": tool, "arguments": args}))
    }

    /// The first notification `method` for which `matches` holds, within
    /// `secs` seconds.
    fn notification(&mut self, method: &str, secs: u64, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let wanted = |m: &Value| m["method"] == method && matches(&m["params"]);
        if let Some(pos) = self.seen.iter().position(wanted) {
            return Some(self.seen.remove(pos));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let m = self.s.recv_within(left.as_millis() as u64)?;
            if wanted(&m) {
                return Some(m);
            }
            self.seen.push(m);
        }
        None
    }
}

fn post_args(to: &str, title: &str) -> Value {
    json!({"to": to, "title": title, "description": format!("do {title}")})
}

/// `worker` accepts task `id` and completes it with `result`.
async fn complete(worker: &crate::support::Client, id: i64, result: &str) {
    let accepted = worker
        .call(
            "update_task",
            json!({"task_id": id, "action": "accept", "lease_seconds": 60}),
        )
        .await;
    let token = accepted["task"]["fencing_token"].as_i64().unwrap();
    worker
        .call(
            "update_task",
            json!({"task_id": id, "action": "complete", "result": result, "fencing_token": token}),
        )
        .await;
}

#[tokio::test]
async fn a_2025_task_augmented_post_is_followed_to_its_result_without_relay_tools() {
    let relay = Relay::new();
    let worker = relay.agent("w1", &["tasks"]).await;
    let (mut boss, init) = Lines::open(&relay, "boss", "2025-11-25");
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    let caps = &init["result"]["capabilities"];
    assert_eq!(
        caps["tasks"],
        json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
    );
    assert!(caps.get("extensions").is_none(), "2025-11-25 has no extensions: {caps}");

    let tools = boss.ok("tools/list", json!({}));
    for tool in tools["tools"].as_array().unwrap() {
        let support = &tool["execution"]["taskSupport"];
        if tool["name"] == "post_task" {
            assert_eq!(*support, "optional");
        } else {
            assert!(support.is_null(), "{} must not run as a task", tool["name"]);
        }
    }

    let created = boss.ok(
        "tools/call",
        json!({"name": "post_task", "arguments": post_args("w1", "build"), "task": {"ttl": 60000}}),
    );
    let task = &created["task"];
    let task_id = task["taskId"].as_str().expect("a taskId").to_owned();
    let id: i64 = task_id.parse().expect("the relay task id in decimal");
    assert_eq!(task["status"], "working");
    assert!(task["statusMessage"].as_str().unwrap().contains("posted"), "{task}");
    assert!(task["ttl"].is_null(), "an open task is never purged: {task}");
    assert!(task["pollInterval"].as_u64().is_some());
    assert!(task["createdAt"].as_str().is_some() && task["lastUpdatedAt"].as_str().is_some());
    assert!(
        created["_meta"]["io.modelcontextprotocol/model-immediate-response"]
            .as_str()
            .is_some_and(|t| t.contains(&task_id))
    );
    assert!(created.get("resultType").is_none(), "{created}");

    // The same task, posted by the store's rules: relay's tools see it.
    let seen = worker.call("get_task", json!({"task_id": id})).await;
    assert_eq!(seen["task"]["requester"], "boss");
    assert_eq!(seen["task"]["state"], "posted");
    let got = boss.ok("tasks/get", json!({"taskId": task_id}));
    assert_eq!(got["taskId"], task_id.as_str());
    assert_eq!(got["status"], "working");

    // tasks/result blocks until the task finishes...
    let waiting = boss.send("tasks/result", json!({"taskId": task_id}));
    assert!(
        boss.s.recv_within(300).is_none(),
        "tasks/result answered a working task"
    );
    complete(&worker, id, "built").await;
    // ...the session is told, without polling...
    let note = boss
        .notification("notifications/tasks/status", 10, |p| p["status"] == "completed")
        .expect("notifications/tasks/status for the completed task");
    assert_eq!(note["params"]["taskId"], task_id.as_str());
    // ...and the result is what post_task with a wait returns.
    let result = boss.response(waiting);
    let result = &result["result"];
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["task"]["result"], "built");
    assert_eq!(result["structuredContent"]["timed_out"], false);
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        task_id.as_str()
    );
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, result["structuredContent"]);
    let got = boss.ok("tasks/get", json!({"taskId": task_id}));
    assert_eq!(got["status"], "completed");
    assert!(
        got["ttl"].as_u64().is_some(),
        "a finished task has its retention: {got}"
    );
    worker.close().await;
}

#[tokio::test]
async fn only_the_requester_follows_or_cancels_its_task_and_a_finished_one_stays_finished() {
    let relay = Relay::new();
    let worker = relay.agent("w1", &["tasks"]).await;
    let (mut boss, _) = Lines::open(&relay, "boss", "2025-11-25");
    let (mut w1, _) = Lines::open(&relay, "w1", "2025-11-25");
    let (mut eve, _) = Lines::open(&relay, "eve", "2025-11-25");
    let created = boss.ok(
        "tools/call",
        json!({"name": "post_task", "arguments": post_args("w1", "deploy"), "task": {}}),
    );
    let task_id = created["task"]["taskId"].as_str().unwrap().to_owned();
    let id: i64 = task_id.parse().unwrap();

    // The assignee, a stranger, an unknown and a malformed id all get the
    // same answer: nothing says the task exists.
    for (who, lines) in [("w1", &mut w1), ("eve", &mut eve)] {
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let (code, message) = lines.err(method, json!({"taskId": task_id}));
            assert_eq!(
                (code, message.as_str()),
                (-32602, "Failed to retrieve task: Task not found"),
                "{who} {method}"
            );
        }
        let listed = lines.ok("tasks/list", json!({}));
        assert!(listed["tasks"].as_array().unwrap().is_empty(), "{who}: {listed}");
    }
    for unknown in ["999", "abc", "07", ""] {
        let (code, message) = boss.err("tasks/get", json!({"taskId": unknown}));
        assert_eq!(
            (code, message.as_str()),
            (-32602, "Failed to retrieve task: Task not found"),
            "{unknown:?}"
        );
    }
    let still = worker.call("get_task", json!({"task_id": id})).await;
    assert_eq!(still["task"]["state"], "posted", "a refused cancel changed nothing");

    let cancelled = boss.ok("tasks/cancel", json!({"taskId": task_id}));
    assert_eq!(cancelled["taskId"], task_id.as_str());
    assert_eq!(cancelled["status"], "cancelled");
    // relay's own record: the cancel action, by the requester.
    let record = worker.call("get_task", json!({"task_id": id})).await;
    assert_eq!(record["task"]["state"], "cancelled");
    let last = record["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("cancel"), Some("boss"))
    );

    let (code, message) = boss.err("tasks/cancel", json!({"taskId": task_id}));
    assert_eq!(code, -32602);
    assert!(message.contains("terminal status 'cancelled'"), "{message}");
    let result = boss.ok("tasks/result", json!({"taskId": task_id}));
    assert_eq!(result["isError"], true);
    assert_eq!(result["structuredContent"]["error_code"], "INVALID_STATE");
    assert_eq!(result["structuredContent"]["task"]["state"], "cancelled");
    worker.close().await;
}

#[tokio::test]
async fn tasks_list_pages_through_every_task_the_caller_posted() {
    let relay = Relay::new();
    let boss_tools = relay.agent("boss", &["tasks"]).await;
    let other = relay.agent("other", &["tasks"]).await;
    let mut posted = Vec::new();
    for n in 0..25 {
        let p = boss_tools.call("post_task", post_args("w1", &format!("t{n}"))).await;
        posted.push(p["task"]["id"].as_i64().unwrap());
    }
    other.call("post_task", post_args("w1", "not boss's")).await;
    let (mut boss, _) = Lines::open(&relay, "boss", "2025-11-25");
    let first = boss.ok("tasks/list", json!({}));
    let cursor = first["nextCursor"].as_str().expect("a second page").to_owned();
    let second = boss.ok("tasks/list", json!({"cursor": cursor}));
    assert!(second.get("nextCursor").is_none(), "{second}");
    let ids: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|page| page["tasks"].as_array().unwrap().clone())
        .map(|t| t["taskId"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(first["tasks"].as_array().unwrap().len(), 20);
    posted.reverse();
    assert_eq!(ids, posted, "newest first, each of boss's tasks once");
    let (code, _) = boss.err("tasks/list", json!({"cursor": "not-a-cursor"}));
    assert_eq!(code, -32602);
    boss_tools.close().await;
    other.close().await;
}

#[tokio::test]
async fn a_parked_task_asks_its_requester_for_input() {
    let relay = Relay::new();
    let worker = relay.agent("w1", &["tasks"]).await;
    let (mut boss, _) = Lines::open(&relay, "boss", "2025-11-25");
    let mut args = post_args("w1", "migrate");
    args["write"] = json!(true);
    let created = boss.ok(
        "tools/call",
        json!({"name": "post_task", "arguments": args, "task": {}}),
    );
    let task_id = created["task"]["taskId"].as_str().unwrap().to_owned();
    let id: i64 = task_id.parse().unwrap();
    worker
        .call(
            "update_task",
            json!({"task_id": id, "action": "accept", "lease_seconds": 1}),
        )
        .await;
    // The lease runs out mid-run: a write task is parked, never re-run.
    relay.advance_clock(5_000);
    let mut got = Value::Null;
    for _ in 0..50 {
        got = boss.ok("tasks/get", json!({"taskId": task_id}));
        if got["status"] != "working" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got["status"], "input_required", "{got}");
    let message = got["statusMessage"].as_str().unwrap();
    assert!(
        message.contains("needs_recovery") && message.contains("recover"),
        "{message}"
    );
    let note = boss
        .notification("notifications/tasks/status", 10, |p| p["status"] == "input_required")
        .expect("the parked task's status is pushed");
    assert_eq!(note["params"]["taskId"], task_id.as_str());
    // The requester recovers it with relay's tool: working again.
    boss.call("update_task", json!({"task_id": id, "action": "recover"}));
    assert_eq!(boss.ok("tasks/get", json!({"taskId": task_id}))["status"], "working");
    worker.close().await;
}

#[tokio::test]
async fn revisions_without_these_tasks_do_not_have_them() {
    let relay = Relay::new();
    let (mut old, init) = Lines::open(&relay, "boss", "2025-06-18");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    let caps = &init["result"]["capabilities"];
    assert!(
        caps.get("tasks").is_none() && caps.get("extensions").is_none(),
        "{caps}"
    );
    let tools = old.ok("tools/list", json!({}));
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("execution").is_none())
    );
    for method in ["tasks/get", "tasks/result", "tasks/cancel", "tasks/update"] {
        let (code, _) = old.err(method, json!({"taskId": "1", "inputResponses": {}}));
        assert_eq!(code, -32601, "{method} under 2025-06-18");
    }
    assert_eq!(old.err("tasks/list", json!({})).0, -32601);
    // A receiver without the capability processes the request normally,
    // ignoring the task field.
    let plain = old.ok(
        "tools/call",
        json!({"name": "post_task", "arguments": post_args("w1", "x"), "task": {"ttl": 1}}),
    );
    assert_eq!(plain["isError"], false);
    assert_eq!(plain["structuredContent"]["task"]["state"], "posted");
    assert!(plain.get("task").is_none(), "{plain}");

    // 2025-11-25 has no tasks/update.
    let (mut legacy, _) = Lines::open(&relay, "boss", "2025-11-25");
    let (code, _) = legacy.err("tasks/update", json!({"taskId": "1", "inputResponses": {}}));
    assert_eq!(code, -32601);
}

#[tokio::test]
async fn malformed_tasks_requests_get_json_rpc_errors_and_the_session_keeps_serving() {
    let relay = Relay::new();
    let (mut boss, _) = Lines::open(&relay, "boss", "2025-11-25");
    for (method, params) in [
        ("tasks/get", json!({"taskId": 5})),
        ("tasks/get", json!({})),
        ("tasks/result", json!({"id": "1"})),
        ("tasks/cancel", json!({"taskId": null})),
        ("tasks/list", json!({"cursor": 7})),
    ] {
        let (code, _) = boss.err(method, params.clone());
        assert_eq!(code, -32602, "{method} {params}");
    }
    let (code, _) = boss.err(
        "tools/call",
        json!({"name": "post_task", "arguments": post_args("w1", "x"), "task": "soon"}),
    );
    assert_eq!(code, -32602, "task must be an object");
    let (code, message) = boss.err(
        "tools/call",
        json!({"name": "send_message", "arguments": {"to": "w1", "content": "hi"}, "task": {}}),
    );
    assert_eq!(code, -32601, "only post_task runs as a task: {message}");
    // A post the store refuses is the tool's error result; nothing is posted.
    let refused = boss.ok(
        "tools/call",
        json!({"name": "post_task", "arguments": {"to": "w1", "title": "", "description": "d"}, "task": {}}),
    );
    assert_eq!(refused["isError"], true);
    assert_eq!(refused["structuredContent"]["error_code"], "VALIDATION");
    assert!(boss.ok("tasks/list", json!({}))["tasks"].as_array().unwrap().is_empty());
    let health = boss.call("health_check", json!({}));
    assert_eq!(health["structuredContent"]["agent"]["name"], "boss");
    drop(boss);
    assert_eq!(
        relay.store().unread_count("w1").unwrap(),
        0,
        "the refused send_message stored nothing"
    );
}

/// A 2026-07-28 client of `relay serve --agent AGENT` on stdio that
/// declares the Tasks extension (or not).
async fn client_2026(relay: &Relay, agent: &str, tasks: bool) -> RunningService<RoleClient, ClientConfig> {
    let db = relay.db.clone();
    let config = relay.config();
    let agent = agent.to_owned();
    let cmd = tokio::process::Command::new(relay_bin()).configure(|c| {
        c.arg("--db")
            .arg(&db)
            .args(["serve", "--agent", &agent, "--capabilities", "tasks"]);
        for var in SCRUBBED_ENV {
            c.env_remove(var);
        }
        c.env("RELAY_CONFIG", &config)
            .env(relay::clock::TEST_CLOCK_ENV, clock_file(&config));
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    declaring(tasks)
        .serve_with_lifecycle(transport, discover())
        .await
        .expect("a 2026 session")
}

fn declaring(tasks: bool) -> ClientConfig {
    let caps = if tasks {
        ClientCapabilities::builder().enable_tasks().build()
    } else {
        ClientCapabilities::default()
    };
    ClientConfig::new(caps, Implementation::new("tasks-test", "0"))
}

fn discover() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

fn call(tool: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_owned()).with_arguments(args.as_object().unwrap().clone())
}

fn rpc_code(e: ServiceError) -> i32 {
    match e {
        ServiceError::McpError(e) => e.code.0,
        other => panic!("not a JSON-RPC error: {other:?}"),
    }
}

/// Drives the 2026 flow through `boss` and `eve` (who is not boss's
/// task's requester); `worker` is w1's relay tools.
async fn extension_flow(
    boss: &RunningService<RoleClient, ClientConfig>,
    eve: &RunningService<RoleClient, ClientConfig>,
    worker: &crate::support::Client,
) {
    let caps = boss.peer_info().unwrap().capabilities.clone();
    assert!(caps.supports_tasks(), "the extension is advertised: {caps:?}");
    // No wait: the post is instant, a plain result.
    let plain = boss
        .call_tool_once(call("post_task", post_args("w1", "quick")))
        .await
        .unwrap();
    assert!(matches!(plain, CallToolResponse::Complete(_)), "{plain:?}");
    // A post that waits is followed as a task instead.
    let mut args = post_args("w1", "long");
    args["wait_seconds"] = json!(600);
    let created = match boss.call_tool_once(call("post_task", args)).await.unwrap() {
        CallToolResponse::Task(created) => created,
        other => panic!("expected a task: {other:?}"),
    };
    assert_eq!(created.task.status, TaskStatus::Working);
    let task_id = created.task.task_id.clone();
    let id: i64 = task_id.parse().unwrap();
    assert_eq!(created.task.ttl_ms, None);
    let got = boss.get_task(GetTaskParams::new(task_id.clone())).await.unwrap();
    assert_eq!(got.task.status(), TaskStatus::Working);
    // relay asks for no input: an update is acknowledged and ignored.
    boss.update_task(UpdateTaskParams::new(task_id.clone(), Default::default()))
        .await
        .unwrap();
    for e in [
        eve.get_task(GetTaskParams::new(task_id.clone())).await.unwrap_err(),
        eve.cancel_task(CancelTaskParams::new(task_id.clone()))
            .await
            .unwrap_err(),
        boss.get_task(GetTaskParams::new("12345")).await.unwrap_err(),
    ] {
        assert_eq!(rpc_code(e), -32602);
    }
    complete(worker, id, "shipped").await;
    let done = boss.get_task(GetTaskParams::new(task_id.clone())).await.unwrap();
    let wire = serde_json::to_value(&done).unwrap();
    assert_eq!(wire["status"], "completed");
    assert_eq!(wire["resultType"], "complete");
    assert_eq!(wire["result"]["isError"], false);
    assert_eq!(wire["result"]["structuredContent"]["task"]["result"], "shipped");
    assert!(wire["ttlMs"].as_u64().is_some());
    // Cancelling a finished task is acknowledged and changes nothing.
    boss.cancel_task(CancelTaskParams::new(task_id.clone())).await.unwrap();
    assert_eq!(
        worker.call("get_task", json!({"task_id": id})).await["task"]["state"],
        "completed"
    );

    // A task that fails is a completed protocol task whose result is an error.
    let mut args = post_args("w1", "doomed");
    args["wait_seconds"] = json!(5);
    let CallToolResponse::Task(doomed) = boss.call_tool_once(call("post_task", args)).await.unwrap() else {
        panic!("expected a task");
    };
    let id: i64 = doomed.task.task_id.parse().unwrap();
    worker
        .call("update_task", json!({"task_id": id, "action": "reject", "error": "no"}))
        .await;
    let wire = serde_json::to_value(
        boss.get_task(GetTaskParams::new(doomed.task.task_id.clone()))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(wire["status"], "completed");
    assert_eq!(wire["result"]["isError"], true);
    assert_eq!(wire["result"]["structuredContent"]["task"]["state"], "rejected");

    // Cancel by the requester: relay's cancel action.
    let mut args = post_args("w1", "abandoned");
    args["wait_seconds"] = json!(5);
    let CallToolResponse::Task(abandoned) = boss.call_tool_once(call("post_task", args)).await.unwrap() else {
        panic!("expected a task");
    };
    boss.cancel_task(CancelTaskParams::new(abandoned.task.task_id.clone()))
        .await
        .unwrap();
    let id: i64 = abandoned.task.task_id.parse().unwrap();
    assert_eq!(
        worker.call("get_task", json!({"task_id": id})).await["task"]["state"],
        "cancelled"
    );
    let got = boss
        .get_task(GetTaskParams::new(abandoned.task.task_id.clone()))
        .await
        .unwrap();
    assert_eq!(got.task.status(), TaskStatus::Cancelled);
}

#[tokio::test]
async fn the_2026_extension_follows_a_relay_task_on_stdio() {
    let relay = Relay::new();
    let worker = relay.agent("w1", &["tasks"]).await;
    let boss = client_2026(&relay, "boss", true).await;
    let eve = client_2026(&relay, "eve", true).await;
    extension_flow(&boss, &eve, &worker).await;
    // A client that does not declare the extension gets no task, and the
    // task methods ask for the capability.
    let undeclared = client_2026(&relay, "boss", false).await;
    let mut args = post_args("w1", "sync");
    args["wait_seconds"] = json!(1);
    let sync = undeclared.call_tool_once(call("post_task", args)).await.unwrap();
    assert!(matches!(sync, CallToolResponse::Complete(_)), "{sync:?}");
    let e = undeclared.get_task(GetTaskParams::new("1")).await.unwrap_err();
    assert_eq!(rpc_code(e), -32021);
    let _ = boss.cancel().await;
    let _ = eve.cancel().await;
    let _ = undeclared.cancel().await;
    worker.close().await;
}

#[tokio::test]
async fn the_2026_extension_follows_a_relay_task_over_the_hub() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let boss_token = hub.register_with("boss", &["tasks"]).await;
    let eve_token = hub.register_with("eve", &["tasks"]).await;
    let w1_token = hub.register_with("w1", &["tasks"]).await;
    let transport = |token: &str| {
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let mut headers = std::collections::HashMap::new();
        headers.insert(
            reqwest::header::HeaderName::from_static("x-agent-token"),
            reqwest::header::HeaderValue::from_str(token).unwrap(),
        );
        rmcp::transport::StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(hub.url.clone()).custom_headers(headers),
        )
    };
    let boss = declaring(true)
        .serve_with_lifecycle(transport(&boss_token), discover())
        .await
        .unwrap();
    let eve = declaring(true)
        .serve_with_lifecycle(transport(&eve_token), discover())
        .await
        .unwrap();
    let worker = hub.session(Some(&w1_token)).await;
    extension_flow(&boss, &eve, &worker).await;
    let _ = boss.cancel().await;
    let _ = eve.cancel().await;
    worker.close().await;
}

/// A 2026-07-28 request's `_meta`, declaring the Tasks extension.
fn meta_2026() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}
    })
}

#[tokio::test]
async fn a_2026_listen_stream_is_told_when_a_task_it_names_finishes() {
    let relay = Relay::new();
    let worker = relay.agent("w1", &["tasks"]).await;
    let boss_tools = relay.agent("boss", &["tasks"]).await;
    let mine = boss_tools.call("post_task", post_args("w1", "watched")).await["task"]["id"]
        .as_i64()
        .unwrap();
    let other = worker.call("post_task", post_args("boss", "w1's own")).await["task"]["id"]
        .as_i64()
        .unwrap();
    let (mine_id, other_id) = (mine.to_string(), other.to_string());
    let s = relay.raw(&["--agent", "boss"]);
    let mut boss = Lines {
        s,
        seen: Vec::new(),
        next_id: 0,
    };
    let listen = boss.send(
        "subscriptions/listen",
        json!({"notifications": {"taskIds": [mine_id, other_id]}, "_meta": meta_2026()}),
    );
    boss.notification("notifications/subscriptions/acknowledged", 10, |_| true)
        .expect("the listen stream is acknowledged");
    // w1's task (boss works on it) is not boss's to follow: finishing it
    // says nothing here.
    complete(&boss_tools, other, "theirs").await;
    complete(&worker, mine, "watched it").await;
    let note = boss
        .notification("notifications/tasks", 10, |p| p["taskId"] == mine_id.as_str())
        .expect("notifications/tasks for the task boss named");
    let params = &note["params"];
    assert_eq!(params["status"], "completed");
    assert_eq!(params["result"]["structuredContent"]["task"]["result"], "watched it");
    assert_eq!(params["_meta"]["io.modelcontextprotocol/subscriptionId"], listen);
    assert!(
        boss.notification("notifications/tasks", 1, |p| p["taskId"] == other_id.as_str())
            .is_none(),
        "another agent's task was pushed"
    );
    boss_tools.close().await;
    worker.close().await;
}

/// A raw 2025-11-25 Streamable HTTP session on the hub: each POST's SSE
/// answer is read whole; notifications arrive on the GET stream.
struct HttpSession {
    http: reqwest::Client,
    url: String,
    token: String,
    session: String,
}

impl HttpSession {
    async fn open(url: &str, token: &str) -> Self {
        let mut s = Self {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            token: token.to_owned(),
            session: String::new(),
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
        let resp = s.post(&init).await;
        s.session = resp
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        let init = sse_messages(&resp.text().await.unwrap()).remove(0);
        assert_eq!(
            init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"],
            json!({})
        );
        s.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        s
    }

    fn builder(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .request(method, &self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .header("x-agent-token", &self.token);
        if !self.session.is_empty() {
            b = b.header("mcp-session-id", &self.session);
        }
        b
    }

    async fn post(&self, body: &Value) -> reqwest::Response {
        self.builder(reqwest::Method::POST)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn request(&self, id: i64, method: &str, params: Value) -> Value {
        let resp = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let messages = sse_messages(&resp.text().await.unwrap());
        messages
            .into_iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {method}"))
    }
}

fn sse_messages(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

#[tokio::test]
async fn the_2025_tasks_work_over_the_hub_and_push_on_the_session_stream() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let boss_token = hub.register_with("boss", &["tasks"]).await;
    let w1_token = hub.register_with("w1", &["tasks"]).await;
    let worker = hub.session(Some(&w1_token)).await;
    let boss = HttpSession::open(&hub.url, &boss_token).await;
    let tools = boss.request(1, "tools/list", json!({})).await;
    let post = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "post_task")
        .unwrap()
        .clone();
    assert_eq!(post["execution"]["taskSupport"], "optional");
    let created = boss
        .request(
            2,
            "tools/call",
            json!({"name": "post_task", "arguments": post_args("w1", "remote"), "task": {"ttl": 1000}}),
        )
        .await;
    let task_id = created["result"]["task"]["taskId"]
        .as_str()
        .expect("a CreateTaskResult")
        .to_owned();
    let id: i64 = task_id.parse().unwrap();
    assert_eq!(
        boss.request(3, "tasks/get", json!({"taskId": task_id})).await["result"]["status"],
        "working"
    );
    // The session's GET stream carries the status notification.
    let mut stream = boss.builder(reqwest::Method::GET).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    complete(&worker, id, "done remotely").await;
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let note = loop {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("notifications/tasks/status within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(note) = sse_messages(&buffer)
            .into_iter()
            .find(|m| m["method"] == "notifications/tasks/status")
        {
            break note;
        }
    };
    assert_eq!(note["params"]["taskId"], task_id.as_str());
    assert_eq!(note["params"]["status"], "completed");
    let result = boss.request(4, "tasks/result", json!({"taskId": task_id})).await;
    assert_eq!(result["result"]["structuredContent"]["task"]["result"], "done remotely");
    let listed = boss.request(5, "tasks/list", json!({})).await;
    assert_eq!(listed["result"]["tasks"][0]["taskId"], task_id.as_str());
    let (code, _) = {
        let r = boss.request(6, "tasks/cancel", json!({"taskId": task_id})).await;
        (r["error"]["code"].as_i64(), r)
    };
    assert_eq!(code, Some(-32602), "a completed task cannot be cancelled");
    worker.close().await;
}

#[tokio::test]
async fn a_2026_listen_stream_on_the_hub_is_told_when_its_task_finishes() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let boss_token = hub.register_with("boss", &["tasks"]).await;
    let w1_token = hub.register_with("w1", &["tasks"]).await;
    let worker = hub.session(Some(&w1_token)).await;
    let boss_tools = hub.session(Some(&boss_token)).await;
    let id = boss_tools.call("post_task", post_args("w1", "over http")).await["task"]["id"]
        .as_i64()
        .unwrap();
    let listen = json!({"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen",
        "params": {"notifications": {"taskIds": [id.to_string()]}, "_meta": meta_2026()}});
    let mut stream = reqwest::Client::new()
        .post(&hub.url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .header("x-agent-token", &boss_token)
        .body(listen.to_string())
        .send()
        .await
        .unwrap();
    assert!(stream.status().is_success(), "{}", stream.status());
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut next = async |buffer: &mut String, method: &str| loop {
        if let Some(m) = sse_messages(buffer).into_iter().find(|m| m["method"] == method) {
            return m;
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("{method} within 10 s: {buffer}"))
            .unwrap()
            .expect("the listen stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    };
    next(&mut buffer, "notifications/subscriptions/acknowledged").await;
    complete(&worker, id, "over the hub").await;
    let note = next(&mut buffer, "notifications/tasks").await;
    assert_eq!(note["params"]["taskId"], id.to_string().as_str());
    assert_eq!(note["params"]["status"], "completed");
    assert_eq!(note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 9);
    boss_tools.close().await;
    worker.close().await;
}
