//! The dashboard's HTTP API (issue 12): routes, access levels, actions,
//! through the real `relay serve --transport http` binary and raw HTTP
//! from reqwest (MCP clients make the traffic).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Client, Hub, Relay};

const SECRET: &str = "dashboard-secret-0123456789abcdef";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A hub with the secret (`with_secret`) or without.
fn hub(relay: &Relay, with_secret: bool) -> Hub {
    if with_secret {
        relay.hub_env(&[], &[("RELAY_HTTP_SECRET", SECRET)])
    } else {
        relay.hub(&[])
    }
}

fn get(hub: &Hub, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().get(format!("{}{path}", hub.base()))
}

/// A POST of `body` as JSON with the hub secret.
fn post(hub: &Hub, path: &str, body: Value) -> reqwest::RequestBuilder {
    post_as(hub, path, Some(SECRET), "application/json").body(body.to_string())
}

/// A POST with `secret` (if any) and `content_type`, without a body.
fn post_as(hub: &Hub, path: &str, secret: Option<&str>, content_type: &str) -> reqwest::RequestBuilder {
    let req = reqwest::Client::new()
        .post(format!("{}{path}", hub.base()))
        .header("content-type", content_type);
    match secret {
        Some(secret) => req.header("x-relay-secret", secret),
        None => req,
    }
}

/// The status line's code of `GET path` sent with `Host: host` on a bare
/// socket (reqwest sets Host itself).
fn status_with_host(hub: &Hub, path: &str, host: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = hub.base().trim_start_matches("http://").to_owned();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

/// Sends `req`: status, headers, body (JSON, or `Null`). An answer that
/// does not end within 10 s (an event stream where a refusal was
/// expected) fails the test.
async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = req.send().await.expect("the hub answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .unwrap_or_else(|_| panic!("status {status}: the body never ended"))
        .unwrap_or_default();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn error_code(body: &Value) -> &str {
    body["error"]["data"]["error_code"].as_str().unwrap_or_default()
}

fn assert_security_headers(headers: &reqwest::header::HeaderMap) {
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
}

/// alice (requester) and bob (worker): stdio sessions on the hub's
/// store (the hub follows the store, whoever writes it).
async fn agents(relay: &Relay) -> (Client, Client) {
    let caps = ["tasks", "channels"];
    (relay.agent("alice", &caps).await, relay.agent("bob", &caps).await)
}

async fn post_task(alice: &Client, title: &str, description: &str, write: bool) -> i64 {
    alice
        .call(
            "post_task",
            json!({"to": "bob", "title": title, "description": description, "write": write}),
        )
        .await["task"]["id"]
        .as_i64()
        .unwrap()
}

async fn task_state(alice: &Client, id: i64) -> String {
    alice.call("get_task", json!({"task_id": id})).await["task"]["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The newest audit row: (agent, tool, outcome, transport, params).
fn last_audit(relay: &Relay) -> (Option<String>, String, String, String, Value) {
    let c = rusqlite::Connection::open(&relay.db).unwrap();
    c.query_row(
        "SELECT agent, tool, outcome, transport, params FROM audit ORDER BY id DESC LIMIT 1",
        [],
        |r| {
            let params: String = r.get(4)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                serde_json::from_str(&params).unwrap(),
            ))
        },
    )
    .unwrap()
}

fn audit_rows(relay: &Relay) -> i64 {
    let c = rusqlite::Connection::open(&relay.db).unwrap();
    c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0)).unwrap()
}

/// Reads SSE events (`id:` and `data:` JSON) from `response` until
/// `done` holds or 10 s pass.
async fn read_events(response: &mut reqwest::Response, done: impl Fn(&[(i64, Value)]) -> bool) -> Vec<(i64, Value)> {
    let mut buf = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&events) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("events in time")
            .expect("the stream reads")
            .expect("the stream stays open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str::<Value>(v.trim()).unwrap());
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id, data));
            }
        }
    }
    events
}

#[tokio::test]
async fn the_page_and_its_assets_carry_the_security_headers_and_revalidate_by_etag() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    let (status, headers, _) = send(get(&hub, "/")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_security_headers(&headers);
    for (file, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
        ("uPlot.iife.min.js", "text/javascript; charset=utf-8"),
        ("uPlot.min.css", "text/css; charset=utf-8"),
    ] {
        let path = format!("/assets/{file}");
        let response = get(&hub, &path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{file}");
        let headers = response.headers().clone();
        let on_disk = std::fs::read(format!(
            "{}/assets/dashboard/{}{file}",
            env!("CARGO_MANIFEST_DIR"),
            if file.starts_with("uPlot") { "vendor/" } else { "" }
        ))
        .unwrap();
        assert_eq!(response.bytes().await.unwrap().as_ref(), on_disk.as_slice(), "{file}");
        assert_eq!(headers["content-type"], kind, "{file}");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_security_headers(&headers);
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong ETag: {etag}");
        let (status, headers, _) = send(get(&hub, &path).header("if-none-match", &etag)).await;
        assert_eq!(status, 304, "{file}");
        assert_eq!(headers["etag"], etag.as_str());
        assert_security_headers(&headers);
        let (status, _, _) = send(get(&hub, &path).header("if-none-match", "\"other\"")).await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) = send(get(&hub, "/assets/secret.txt")).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_security_headers(&headers);
    // An error of the access layer carries them too.
    let (status, headers, _) = send(get(&hub, "/api/dashboard/board")).await;
    assert_eq!(status, 401);
    assert_security_headers(&headers);
}

#[tokio::test]
async fn the_overview_without_a_secret_has_counts_and_no_names_titles_or_content() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    let (alice, bob) = agents(&relay).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "zebra-crossing-body"}))
        .await;
    post_task(&alice, "platypus-title", "wombat-description", false).await;
    let (status, headers, o) = send(get(&hub, "/api/dashboard/overview")).await;
    assert_eq!(status, 200, "{o}");
    assert_security_headers(&headers);
    assert_eq!(o["viewer"], "counts");
    assert_eq!(o["hub_has_secret"], true);
    assert_eq!(o["agents"]["total"], 2);
    assert_eq!(o["tasks"]["posted"], 1);
    assert_eq!(o["messages"]["total"], 1);
    assert_eq!(o["messages"]["unread"], 1);
    assert_eq!(o["charts"]["messages_per_minute"].as_array().unwrap().len(), 60);
    assert_eq!(
        o["charts"]["latency_buckets_seconds"],
        json!([1, 5, 30, 120, 600, 3600])
    );
    assert!(o["latest_event_id"].as_i64().unwrap() > 0);
    let text = o.to_string();
    for secret in ["zebra", "platypus", "wombat", "alice", "bob"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    // With the secret the viewer is the operator (still counts only).
    let (_, _, o) = send(get(&hub, "/api/dashboard/overview").header("x-relay-secret", SECRET)).await;
    assert_eq!(o["viewer"], "operator");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn the_board_needs_the_right_secret_and_a_hub_without_one_has_no_operator() {
    let relay = Relay::new();
    let hub_with = hub(&relay, true);
    let (alice, bob) = agents(&relay).await;
    let id = post_task(&alice, "review the patch", "the secret plan", false).await;
    let (status, _, body) = send(get(&hub_with, "/api/dashboard/board")).await;
    assert_eq!((status, error_code(&body)), (401, "AUTH_FAILED"), "{body}");
    let (status, _, body) = send(get(&hub_with, "/api/dashboard/board").header("x-relay-secret", "wrong")).await;
    assert_eq!((status, error_code(&body)), (401, "AUTH_FAILED"));
    // A wrong secret is refused everywhere on the dashboard, even the overview.
    let (status, _, _) = send(get(&hub_with, "/api/dashboard/overview").bearer_auth("wrong")).await;
    assert_eq!(status, 401);
    let (status, _, board) = send(get(&hub_with, "/api/dashboard/board").bearer_auth(SECRET)).await;
    assert_eq!(status, 200, "{board}");
    let names: Vec<_> = board["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, [json!("alice"), json!("bob")]);
    assert_eq!(board["open_tasks"][0]["title"], "review the patch");
    assert_eq!(board["open_tasks"][0]["state"], "posted");
    let (status, _, detail) = send(get(&hub_with, &format!("/api/dashboard/tasks/{id}")).bearer_auth(SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(detail["task"]["description"], "the secret plan");
    assert_eq!(detail["history"][0]["action"], "post");
    let (status, _, body) = send(get(&hub_with, "/api/dashboard/tasks/9999").bearer_auth(SECRET)).await;
    assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"));
    let (status, _, _) = send(get(&hub_with, &format!("/api/dashboard/tasks/{id}"))).await;
    assert_eq!(status, 401);
    alice.close().await;
    bob.close().await;
    drop(hub_with);

    let hub_without = hub(&relay, false);
    let (status, _, body) = send(get(&hub_without, "/api/dashboard/board").bearer_auth(SECRET)).await;
    assert_eq!((status, error_code(&body)), (403, "AUTH_FAILED"), "{body}");
    let (status, _, body) = send(get(&hub_without, "/api/dashboard/board")).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, o) = send(get(&hub_without, "/api/dashboard/overview").bearer_auth(SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (o["viewer"].as_str(), o["hub_has_secret"].as_bool()),
        (Some("counts"), Some(false))
    );
    let (status, _, _) = send(post(
        &hub_without,
        &format!("/api/dashboard/tasks/{id}/cancel"),
        json!({}),
    ))
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_dashboard_refuses_a_foreign_host_or_origin_with_403() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    for path in [
        "/",
        "/assets/app.js",
        "/api/dashboard/overview",
        "/api/dashboard/events",
    ] {
        assert_eq!(status_with_host(&hub, path, "evil.example"), 403, "{path}");
        assert_eq!(status_with_host(&hub, path, "localhost"), 200, "{path}");
        let (status, _, _) = send(get(&hub, path).header("origin", "https://evil.example")).await;
        assert_eq!(status, 403, "{path}");
    }
    let (status, _, _) =
        send(post(&hub, "/api/dashboard/tasks/1/cancel", json!({})).header("origin", "https://evil.example")).await;
    assert_eq!(status, 403);
    // The hub's own origin is fine.
    let own = hub.base();
    let (status, _, _) = send(get(&hub, "/api/dashboard/overview").header("origin", own)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_event_stream_shows_kinds_to_anyone_and_content_to_the_operator() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    let (alice, bob) = agents(&relay).await;
    let (status, _, body) = send(get(&hub, "/api/dashboard/events?agent=bob")).await;
    assert_eq!((status, error_code(&body)), (400, "VALIDATION"));
    let mut counts = get(&hub, "/api/dashboard/events").send().await.unwrap();
    assert_eq!(counts.status(), 200);
    assert_eq!(counts.headers()["content-type"], "text/event-stream");
    assert_eq!(counts.headers()["x-content-type-options"], "nosniff");
    let mut operator = get(&hub, "/api/dashboard/events?agent=bob")
        .header("x-relay-secret", SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), 200);
    // Both streams are open (their opening comment was sent) before the
    // traffic: give the hub a moment to subscribe them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "ocelot-message"}))
        .await;
    post_task(&alice, "lynx-title", "d", false).await;

    let is_task = |e: &(i64, Value)| e.1["kind"] == "task_posted";
    let seen = read_events(&mut counts, |e| e.iter().any(is_task)).await;
    for (id, data) in &seen {
        assert_eq!(data["id"], *id);
        let keys: Vec<_> = data.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["created_at", "id", "kind"], "{data}");
    }
    assert!(seen.iter().any(|e| e.1["kind"] == "message"));
    let text = format!("{seen:?}");
    assert!(
        !text.contains("ocelot") && !text.contains("lynx") && !text.contains("alice"),
        "{text}"
    );

    let seen = read_events(&mut operator, |e| e.iter().any(is_task)).await;
    let message = seen.iter().find(|e| e.1["kind"] == "message").unwrap();
    assert_eq!(message.1["text"], "ocelot-message");
    assert_eq!(
        (message.1["actor"].as_str(), message.1["target"].as_str()),
        (Some("alice"), Some("bob"))
    );
    let task = seen.iter().find(|e| is_task(e)).unwrap();
    assert_eq!(
        (task.1["text"].as_str(), task.1["task_state"].as_str()),
        (Some("lynx-title"), Some("posted"))
    );
    // `agent=bob`: only events to or from bob (alice's registration is not).
    assert!(
        seen.iter().all(|e| e.1["target"] == "bob" || e.1["actor"] == "bob"),
        "{seen:?}"
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn the_event_stream_resumes_after_last_event_id_without_repeats_or_gaps() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    let (alice, bob) = agents(&relay).await;
    for i in 0..6 {
        alice
            .call("send_message", json!({"to": "bob", "content": format!("m{i}")}))
            .await;
    }
    let stored = |events: &[(i64, Value)]| events.iter().filter(|e| e.1["kind"] == "message").count();
    let mut first = get(&hub, "/api/dashboard/events?last=1000")
        .header("x-relay-secret", SECRET)
        .send()
        .await
        .unwrap();
    let all = read_events(&mut first, |e| stored(e) >= 6).await;
    drop(first);
    let ids: Vec<i64> = all.iter().map(|e| e.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Resume after the third: the rest, then what comes next, once each.
    let resume = ids[2];
    for i in 6..8 {
        alice
            .call("send_message", json!({"to": "bob", "content": format!("m{i}")}))
            .await;
    }
    let mut again = get(&hub, "/api/dashboard/events?last=1000")
        .header("x-relay-secret", SECRET)
        .header("last-event-id", resume.to_string())
        .send()
        .await
        .unwrap();
    let expected = stored(&all[3..]) + 2;
    let rest = read_events(&mut again, |e| stored(e) >= expected).await;
    let rest_ids: Vec<i64> = rest.iter().map(|e| e.0).collect();
    assert_eq!(&rest_ids[..ids.len() - 3], &ids[3..], "no gap, no repeat");
    assert!(rest_ids.windows(2).all(|w| w[0] < w[1]));
    let texts: Vec<_> = rest
        .iter()
        .filter(|e| e.1["kind"] == "message")
        .map(|e| e.1["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.last().map(String::as_str), Some("m7"));
    assert_eq!(texts.iter().filter(|t| *t == "m6").count(), 1);
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn operator_cancel_recover_and_revoke_change_the_store_and_are_audited() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    let (alice, bob) = agents(&relay).await;

    let id = post_task(&alice, "build", "d", false).await;
    let (status, headers, body) = send(post(
        &hub,
        &format!("/api/dashboard/tasks/{id}/cancel"),
        json!({"reason": "not needed"}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_security_headers(&headers);
    assert_eq!(body["task"]["state"], "cancelled");
    assert_eq!(task_state(&alice, id).await, "cancelled");
    let history = alice.call("get_task", json!({"task_id": id})).await["events"].clone();
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("cancel"), Some("operator"))
    );
    let (agent, tool, outcome, transport, params) = last_audit(&relay);
    assert_eq!(
        (agent, tool.as_str(), outcome.as_str(), transport.as_str()),
        (None, "dashboard.cancel_task", "ok", "http")
    );
    assert_eq!(params["task_id"], id);
    assert_eq!(params["client_ip"], "127.0.0.1");
    assert!(!params.to_string().contains(SECRET));

    // A write task whose lease runs out is parked; the operator recovers it.
    let parked = post_task(&alice, "migrate", "d", true).await;
    bob.call(
        "update_task",
        json!({"task_id": parked, "action": "accept", "lease_seconds": 1}),
    )
    .await;
    relay.advance_clock(5_000);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while task_state(&alice, parked).await != "needs_recovery" {
        assert!(std::time::Instant::now() < deadline, "the task was never parked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, body) = send(post(&hub, &format!("/api/dashboard/tasks/{parked}/recover"), json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["task"]["state"].as_str(), body["task"]["attempts"].as_i64()),
        (Some("posted"), Some(0))
    );
    assert_eq!(task_state(&alice, parked).await, "posted");
    assert_eq!(last_audit(&relay).1, "dashboard.recover_task");

    let (status, _, body) = send(post(
        &hub,
        "/api/dashboard/agents/bob/revoke",
        json!({"issue_recovery": true}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent"], "bob");
    assert_eq!(body["auth_state"], "recovery_pending");
    assert!(body["recovery_token"].as_str().unwrap().starts_with("rly_"));
    let (agent, tool, outcome, transport, params) = last_audit(&relay);
    assert_eq!(
        (agent, tool.as_str(), outcome.as_str(), transport.as_str()),
        (None, "dashboard.revoke_token", "ok", "http")
    );
    assert_eq!(params["agent"], "bob");
    assert!(!params.to_string().contains("rly_"));
    // bob's session is refused from its next call on.
    let (code, _) = bob.call_err("get_messages", json!({})).await;
    assert_eq!(code, "AUTH_FAILED");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn operator_actions_fail_cleanly_and_change_nothing() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    let (alice, bob) = agents(&relay).await;
    let done = post_task(&alice, "build", "d", false).await;
    alice
        .call("update_task", json!({"task_id": done, "action": "cancel"}))
        .await;
    let open = post_task(&alice, "open", "d", false).await;

    let rows = audit_rows(&relay);
    let (status, _, body) = send(post(&hub, &format!("/api/dashboard/tasks/{done}/cancel"), json!({}))).await;
    assert_eq!((status, error_code(&body)), (409, "INVALID_STATE"), "{body}");
    assert_eq!(last_audit(&relay).2, "INVALID_STATE");
    let (status, _, body) = send(post(&hub, &format!("/api/dashboard/tasks/{open}/recover"), json!({}))).await;
    assert_eq!((status, error_code(&body)), (409, "INVALID_STATE"));
    let (status, _, body) = send(post(&hub, "/api/dashboard/tasks/9999/cancel", json!({}))).await;
    assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"));
    let (status, _, body) = send(post(&hub, "/api/dashboard/agents/nobody/revoke", json!({}))).await;
    assert_eq!((status, error_code(&body)), (404, "NOT_FOUND"));
    assert_eq!(audit_rows(&relay), rows + 4, "one audit row per failed action");
    let (agent, tool, _, transport, params) = last_audit(&relay);
    assert_eq!(
        (agent, tool.as_str(), transport.as_str()),
        (None, "dashboard.revoke_token", "http")
    );
    assert_eq!(params["agent"], "nobody");

    // Refused before the action: no JSON, no secret, a wrong secret.
    let rows = audit_rows(&relay);
    let path = format!("/api/dashboard/tasks/{open}/cancel");
    let (status, _, body) = send(post_as(&hub, &path, Some(SECRET), "text/plain").body("{}")).await;
    assert_eq!(status, 415, "{body}");
    let form = post_as(&hub, &path, Some(SECRET), "application/x-www-form-urlencoded").body("reason=x");
    assert_eq!(send(form).await.0, 415);
    let no_type = reqwest::Client::new()
        .post(format!("{}{path}", hub.base()))
        .header("x-relay-secret", SECRET)
        .body("{}");
    assert_eq!(send(no_type).await.0, 415);
    let (status, _, body) = send(post_as(&hub, &path, None, "application/json").body("{}")).await;
    assert_eq!((status, error_code(&body)), (401, "AUTH_FAILED"));
    let (status, _, _) = send(post_as(&hub, &path, Some("wrong"), "application/json").body("{}")).await;
    assert_eq!(status, 401);
    let (status, _, body) = send(post(&hub, &path, json!({"reason": 5}))).await;
    assert_eq!((status, error_code(&body)), (400, "VALIDATION"));
    let (status, _, _) = send(post(&hub, "/api/dashboard/tasks/abc/cancel", json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(task_state(&alice, open).await, "posted");
    assert_eq!(audit_rows(&relay), rows, "refused requests reach no action");
    alice.close().await;
    bob.close().await;
}

/// `bytes` gunzipped.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// `GET path` with the secret, gzip (`Accept-Encoding: gzip`) or not:
/// status, headers, body bytes as sent.
async fn fetch(hub: &Hub, path: &str, gzip: bool) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = get(hub, path).header("x-relay-secret", SECRET);
    if gzip {
        req = req.header("accept-encoding", "gzip");
    }
    let response = req.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// A board or overview without what changes with the time it was
/// computed (two requests may straddle a recomputation).
fn timeless(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in [
                    "generated_at",
                    "now_ms",
                    "age_seconds",
                    "lease_left_seconds",
                    "minute_start_ms",
                ] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[tokio::test]
async fn a_gzip_client_gets_the_same_json_and_assets_compressed_with_their_own_etags() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    let (alice, bob) = agents(&relay).await;
    for i in 0..30 {
        post_task(&alice, &format!("compressible task {i}"), "d", false).await;
    }
    for path in ["/api/dashboard/board", "/api/dashboard/overview"] {
        let (status, headers, gz) = fetch(&hub, path, true).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["content-encoding"], "gzip", "{path}");
        assert_eq!(headers["content-type"], "application/json", "{path}");
        assert_eq!(headers["vary"], "accept-encoding", "{path}");
        assert_security_headers(&headers);
        let (status, headers, plain) = fetch(&hub, path, false).await;
        assert_eq!(status, 200);
        assert!(headers.get("content-encoding").is_none(), "{path}");
        assert_eq!(headers["vary"], "accept-encoding", "{path}");
        let unzipped: Value = serde_json::from_slice(&gunzip(&gz)).unwrap();
        let plain: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(timeless(unzipped), timeless(plain), "{path}");
    }
    let (_, _, board) = fetch(&hub, "/api/dashboard/board", false).await;
    let board: Value = serde_json::from_slice(&board).unwrap();
    assert_eq!(board["open_tasks_total"], 30);
    assert_eq!(board["agents"][0]["unread_capped"], false);
    let (_, _, o) = fetch(&hub, "/api/dashboard/overview", false).await;
    let o: Value = serde_json::from_slice(&o).unwrap();
    assert_eq!(o["messages"]["unread_capped"], false);

    // A task detail goes through the compression layer.
    let id = board["open_tasks"][0]["id"].as_i64().unwrap();
    let path = format!("/api/dashboard/tasks/{id}");
    let (status, headers, gz) = fetch(&hub, &path, true).await;
    assert_eq!((status, &headers["content-encoding"]), (200, &"gzip".parse().unwrap()));
    let (_, _, plain) = fetch(&hub, &path, false).await;
    assert_eq!(gunzip(&gz), plain);

    // (Files that gzip does not make smaller are sent as they are.)
    let mut compressed = Vec::new();
    for path in ["/", "/assets/app.js", "/assets/uPlot.iife.min.js", "/assets/app.css"] {
        let (status, headers, gz) = fetch(&hub, path, true).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(headers["vary"], "accept-encoding", "{path}");
        if headers.get("content-encoding").is_none() {
            continue;
        }
        assert_eq!(headers["content-encoding"], "gzip", "{path}");
        compressed.push(path);
        let gz_etag = headers["etag"].to_str().unwrap().to_owned();
        let (_, headers, plain) = fetch(&hub, path, false).await;
        assert!(headers.get("content-encoding").is_none(), "{path}");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert_eq!(gunzip(&gz), plain, "{path}");
        assert!(gz.len() < plain.len(), "{path}");
        // Each representation has its own strong tag, and revalidates by it.
        assert!(gz_etag.starts_with('"') && gz_etag != etag, "{gz_etag} {etag}");
        let (status, headers, _) = send(
            get(&hub, path)
                .header("accept-encoding", "gzip")
                .header("if-none-match", &gz_etag),
        )
        .await;
        assert_eq!((status, headers["etag"].to_str().unwrap()), (304, gz_etag.as_str()));
        let (status, _, _) = send(get(&hub, path).header("if-none-match", &gz_etag)).await;
        assert_eq!(status, 200, "the identity is another representation");
    }
    assert!(compressed.contains(&"/assets/uPlot.iife.min.js"), "{compressed:?}");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn the_event_stream_is_never_compressed() {
    let relay = Relay::new();
    let hub = hub(&relay, true);
    for secret in [None, Some(SECRET)] {
        let mut req = get(&hub, "/api/dashboard/events?last=10").header("accept-encoding", "gzip");
        if let Some(secret) = secret {
            req = req.header("x-relay-secret", secret);
        }
        let mut response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert!(
            response.headers().get("content-encoding").is_none(),
            "{:?}",
            response.headers()
        );
        let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("the opening arrives at once, not when a buffer fills")
            .unwrap()
            .unwrap();
        assert!(first.starts_with(b": relay events"), "{first:?}");
    }
    let mut response = reqwest::Client::new()
        .get(format!("{}/api/events", hub.base()))
        .header("x-relay-secret", SECRET)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-encoding").is_none());
    assert!(response.chunk().await.unwrap().is_some());
}
