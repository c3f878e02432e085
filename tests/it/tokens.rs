//! Token lifecycle (issue 11, SPEC §2 auth_state) through the real
//! binaries: rotation with a grace on the injected clock, revocation that
//! ends live HTTP sessions and refuses a stdio session's next call, the
//! recovery flow, admin-only rules, and the operator's `relay agents` and
//! `relay token`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{HubClient, Relay};

/// The OS user the CLI runs as in these tests (audited).
const OS_USER: &str = "ops-person";

/// `relay --db DB ARGS` on the installation's config and clock, as OS
/// user [`OS_USER`].
fn cli(relay: &Relay, args: &[&str]) -> std::process::Output {
    relay.command(args).env("USER", OS_USER).output().expect("run relay")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Moves every relay process's clock and waits until they follow.
async fn advance(relay: &Relay, ms: i64) {
    relay.advance_clock(ms);
    tokio::time::sleep(Duration::from_millis(20 * relay::clock::OFFSET_REFRESH_MS as u64)).await;
}

/// A 2025-11-25 `initialize` POST with `token`: the HTTP status, and the
/// session id when one was made.
async fn initialize(hub: &HubClient, token: &str) -> (u16, Option<String>) {
    let response = post(hub, token, None)
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                              "clientInfo": {"name": "tokens-test", "version": "0"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("the hub answers");
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let _ = response.text().await;
    (status, session)
}

fn post(hub: &HubClient, token: &str, session: Option<&str>) -> reqwest::RequestBuilder {
    let mut req = reqwest::Client::new()
        .post(&hub.url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("X-Agent-Token", token);
    if let Some(id) = session {
        req = req
            .header("Mcp-Session-Id", id)
            .header("MCP-Protocol-Version", "2025-11-25");
    }
    req
}

/// The status of a `health_check` call in session `session` with `token`.
async fn call_status(hub: &HubClient, token: &str, session: &str) -> u16 {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "health_check", "arguments": {}}});
    let response = post(hub, token, Some(session))
        .body(body.to_string())
        .send()
        .await
        .expect("the hub answers");
    let status = response.status().as_u16();
    let _ = response.text().await;
    status
}

/// Checks `value` against `tool`'s declared outputSchema.
async fn check_schema<H: rmcp::ClientHandler>(client: &crate::support::Client<H>, tool: &str, value: &Value) {
    let tools = client.service.list_all_tools().await.unwrap();
    let def = tools.iter().find(|t| t.name == tool).expect("the tool is listed");
    let schema = Value::Object(def.output_schema.as_ref().expect("outputSchema").as_ref().clone());
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{tool}: {value} fails its schema: {errors:?}");
}

#[tokio::test]
async fn rotation_keeps_the_old_token_working_over_http_until_the_grace_ends() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let old = hub.register("bot").await;
    let session = hub.session(Some(&old)).await;
    let rotated = session.call("rotate_token", json!({"grace_seconds": 60})).await;
    check_schema(&session, "rotate_token", &rotated).await;
    session.close().await;
    let new = rotated["token"].as_str().unwrap().to_owned();
    assert!(new.starts_with("rly_") && new != old);
    assert_eq!(rotated["agent"], "bot");
    assert_eq!(rotated["auth_state"], "rotation_grace");
    assert!(rotated["grace_until"].is_string());

    // Both work during the grace.
    assert_eq!(initialize(&hub, &old).await.0, 200);
    assert_eq!(initialize(&hub, &new).await.0, 200);
    let with_new = hub.session(Some(&new)).await;
    assert_eq!(with_new.call("health_check", json!({})).await["agent"]["name"], "bot");

    advance(&relay, 59_000).await;
    assert_eq!(initialize(&hub, &old).await.0, 200, "still inside the grace");
    advance(&relay, 1_500).await;
    assert_eq!(initialize(&hub, &old).await.0, 401, "the grace is over");
    assert_eq!(initialize(&hub, &new).await.0, 200);
    assert_eq!(
        with_new.call("health_check", json!({})).await["agent"]["auth_state"],
        "active"
    );
    with_new.close().await;
}

#[tokio::test]
async fn revocation_ends_a_live_http_session_and_refuses_a_stdio_sessions_next_call() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let token = hub.register("bot").await;
    let lead = relay.agent("lead", &["admin"]).await;
    let victim = relay.agent("victim", &[]).await;
    victim.call("set_status", json!({"status": "busy"})).await;

    // A live 2025 session with its GET stream open.
    let (session, mut ended) = open_stream(&hub, &token).await;
    assert_eq!(call_status(&hub, &token, &session).await, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ended.try_recv().is_err(), "the stream stays open before the revocation");

    // Revoked by another process (the lead's stdio relay).
    let revoked = lead.call("revoke_token", json!({"target": "bot"})).await;
    check_schema(&lead, "revoke_token", &revoked).await;
    assert_eq!(revoked["auth_state"], "recovery_pending");
    assert!(revoked["recovery_token"].as_str().unwrap().starts_with("rly_"));
    tokio::time::timeout(Duration::from_secs(10), &mut ended)
        .await
        .expect("the revoked agent's stream ends")
        .unwrap();
    assert_eq!(call_status(&hub, &token, &session).await, 401);
    assert_eq!(initialize(&hub, &token).await.0, 401);

    // A stdio session bound to a revoked agent: its next call is refused.
    lead.call("revoke_token", json!({"target": "victim", "issue_recovery": false}))
        .await;
    let (code, _) = victim.call_err("set_status", json!({"status": "online"})).await;
    assert_eq!(code, "AUTH_FAILED");
    let (code, _) = victim.call_err("get_messages", json!({})).await;
    assert_eq!(code, "AUTH_FAILED");
    let (code, _) = lead.call_err("revoke_token", json!({"target": "victim"})).await;
    assert_eq!(code, "INVALID_STATE");
    lead.close().await;
    victim.close().await;
}

/// Opens a 2025 session with `token` and its GET stream: the session id,
/// and a receiver that fires when the stream ends.
async fn open_stream(hub: &HubClient, token: &str) -> (String, tokio::sync::oneshot::Receiver<()>) {
    let (status, session) = initialize(hub, token).await;
    assert_eq!(status, 200);
    let session = session.expect("a session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let ack = post(hub, token, Some(&session))
        .body(initialized.to_string())
        .send()
        .await
        .unwrap();
    assert!(ack.status().is_success());
    let stream = reqwest::Client::new()
        .get(&hub.url)
        .header("Accept", "text/event-stream")
        .header("X-Agent-Token", token)
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut stream = stream;
        while let Ok(Some(_)) = stream.chunk().await {}
        let _ = ended_tx.send(());
    });
    (session, ended)
}

#[tokio::test]
async fn a_stream_ends_when_its_token_is_replaced_without_a_revocation() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let old = hub.register("bot").await;

    // A rotation with a grace: the stream opened with the old token lives
    // through the grace and ends after it.
    let out = cli(&relay, &["token", "rotate", "bot", "--grace-seconds", "60"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let new = stdout(&out).trim().to_owned();
    let (_, mut with_old) = open_stream(&hub, &old).await;
    let (_, mut with_new) = open_stream(&hub, &new).await;
    let recheck = relay::http::revocation::STREAM_RECHECK;
    tokio::time::sleep(recheck + Duration::from_secs(1)).await;
    assert!(
        with_old.try_recv().is_err(),
        "inside the grace the old token's stream stays"
    );
    advance(&relay, 61_000).await;
    tokio::time::timeout(3 * recheck, &mut with_old)
        .await
        .expect("the old token's stream ends once the grace is over")
        .unwrap();
    assert!(with_new.try_recv().is_err(), "the new token's stream goes on");

    // The operator issues a fresh token: the stream of the one it replaced ends.
    let out = cli(&relay, &["token", "issue", "bot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    tokio::time::timeout(3 * recheck, &mut with_new)
        .await
        .expect("the replaced token's stream ends")
        .unwrap();
}

#[tokio::test]
async fn a_recovery_token_re_registers_once_and_expires_with_its_window() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let old = hub.register("bot").await;
    let lead = relay.agent("lead", &["admin"]).await;
    let revoked = lead.call("revoke_token", json!({"target": "bot"})).await;
    let recovery = revoked["recovery_token"].as_str().unwrap().to_owned();

    let anon = hub.session(None).await;
    let (code, _) = anon
        .call_err("register_agent", json!({"name": "bot", "token": old}))
        .await;
    assert_eq!(code, "AUTH_FAILED");
    let back = anon
        .call("register_agent", json!({"name": "bot", "recovery_token": recovery}))
        .await;
    let fresh = back["token"].as_str().unwrap().to_owned();
    assert_eq!(back["agent"]["auth_state"], "active");
    assert_eq!(initialize(&hub, &fresh).await.0, 200);
    assert_eq!(initialize(&hub, &old).await.0, 401);
    let (code, _) = anon
        .call_err("register_agent", json!({"name": "bot", "recovery_token": recovery}))
        .await;
    assert_eq!(code, "AUTH_FAILED", "a recovery token works once");

    // A second revocation; the window passes on the injected clock.
    let again = lead.call("revoke_token", json!({"target": "bot"})).await;
    let recovery = again["recovery_token"].as_str().unwrap().to_owned();
    advance(&relay, 7 * 24 * 3600 * 1000 + 1000).await;
    let (code, _) = anon
        .call_err("register_agent", json!({"name": "bot", "recovery_token": recovery}))
        .await;
    assert_eq!(code, "AUTH_FAILED", "expired");
    let agents: Value = serde_json::from_str(&stdout(&cli(&relay, &["agents", "--json"]))).unwrap();
    let bot = agents.as_array().unwrap().iter().find(|a| a["name"] == "bot").unwrap();
    assert_eq!(bot["auth_state"], "revoked");
    anon.close().await;
    lead.close().await;
}

#[tokio::test]
async fn agents_without_admin_are_refused_and_nothing_changes() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let bob = hub.register("bob").await;
    let mallory = relay.agent("mallory", &["tasks", "broadcast"]).await;
    let before = cli(&relay, &["agents", "--json"]).stdout;
    let (code, _) = mallory
        .call_err("rotate_token", json!({"target": "bob", "grace_seconds": 0}))
        .await;
    assert_eq!(code, "CAP_DENIED");
    let (code, _) = mallory.call_err("revoke_token", json!({"target": "bob"})).await;
    assert_eq!(code, "CAP_DENIED");
    let (code, _) = mallory.call_err("revoke_token", json!({"target": "nobody"})).await;
    assert_eq!(code, "CAP_DENIED", "no admin: not even whether a name exists");
    let (code, _) = mallory.call_err("rotate_token", json!({"grace_seconds": 3601})).await;
    assert_eq!(code, "VALIDATION");
    assert_eq!(cli(&relay, &["agents", "--json"]).stdout, before, "nothing changed");
    assert_eq!(initialize(&hub, &bob).await.0, 200);
    let events = relay.store().events_after(0, 1000).unwrap();
    assert!(!events.iter().any(|e| e.kind.as_str().starts_with("token_")));
    // Its own token it may rotate.
    let own = mallory.call("rotate_token", json!({})).await;
    assert_eq!(own["agent"], "mallory");
    assert_eq!(own["auth_state"], "rotation_grace");
    mallory.close().await;
}

#[tokio::test]
async fn the_operator_lists_agents_and_issues_rotates_and_revokes_tokens() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);

    // issue: a bare line on stdout, so $(relay token issue bot) works.
    let out = cli(
        &relay,
        &["token", "issue", "bot", "--role", "script", "--capabilities", "tasks"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out);
    assert_eq!(first.lines().count(), 1);
    let first = first.trim().to_owned();
    assert!(first.starts_with("rly_") && first.len() == 47, "{first}");
    assert!(stderr(&out).contains("bot"));
    assert_eq!(initialize(&hub, &first).await.0, 200);

    let table = stdout(&cli(&relay, &["agents"]));
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("bot ") && l.contains("active") && l.contains("tasks"))
    );
    let listed: Value = serde_json::from_slice(&cli(&relay, &["agents", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["name"], "bot");
    assert_eq!(listed[0]["role"], "script");
    assert_eq!(listed[0]["capabilities"], json!(["tasks"]));
    assert_eq!(listed[0]["auth_state"], "active");
    assert_eq!(listed[0]["presence"], "online");
    assert!(listed[0]["last_seen"].is_string());

    // rotate --out: nothing on stdout, the file 0600.
    let file = relay.dir.path().join("bot.token");
    let out = cli(
        &relay,
        &[
            "token",
            "rotate",
            "bot",
            "--grace-seconds",
            "0",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("0600"));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let second = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(second.starts_with("rly_") && second != first);
    assert_eq!(initialize(&hub, &first).await.0, 401, "no grace");
    assert_eq!(initialize(&hub, &second).await.0, 200);

    // rotate with a grace, as JSON.
    let out = cli(&relay, &["token", "rotate", "bot", "--grace-seconds", "120", "--json"]);
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotated["auth_state"], "rotation_grace");
    let third = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(initialize(&hub, &second).await.0, 200);
    assert_eq!(initialize(&hub, &third).await.0, 200);
    let listed: Value = serde_json::from_slice(&cli(&relay, &["agents", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["auth_state"], "rotation_grace");
    assert!(listed[0]["grace_until"].is_string());

    // revoke: the recovery token once on stdout; again: INVALID_STATE, exit 1.
    let out = cli(&relay, &["token", "revoke", "bot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().starts_with("rly_"));
    assert_eq!(initialize(&hub, &third).await.0, 401);
    assert_eq!(initialize(&hub, &second).await.0, 401);
    let out = cli(&relay, &["token", "revoke", "bot", "--no-recovery"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("INVALID_STATE"));
    let out = cli(&relay, &["token", "rotate", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("NOT_FOUND"));

    // issue brings a revoked agent back with a fresh token.
    let out = cli(&relay, &["token", "issue", "bot", "--json"]);
    let issued: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(issued["created"], false);
    assert_eq!(issued["agent"]["auth_state"], "active");
    assert_eq!(issued["agent"]["capabilities"], json!(["tasks"]));
    assert_eq!(initialize(&hub, issued["token"].as_str().unwrap()).await.0, 200);
    let out = cli(&relay, &["token", "revoke", "bot", "--no-recovery", "--json"]);
    let revoked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(revoked["auth_state"], "revoked");
    assert_eq!(revoked["recovery_token"], Value::Null);

    // Every act is audited with the OS user, over the cli transport.
    let db = rusqlite::Connection::open(&relay.db).unwrap();
    let rows: Vec<(String, String, String, String)> = db
        .prepare("SELECT tool, agent, transport, params FROM audit WHERE tool LIKE 'token_%' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let tools: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        tools,
        [
            "token_issue",
            "token_rotate",
            "token_rotate",
            "token_revoke",
            "token_issue",
            "token_revoke"
        ]
    );
    for (tool, agent, transport, params) in &rows {
        assert_eq!((agent.as_str(), transport.as_str()), ("bot", "cli"), "{tool}");
        let params: Value = serde_json::from_str(params).unwrap();
        assert_eq!(params["os_user"], OS_USER, "{tool}: {params}");
        assert!(!params.to_string().contains("rly_"), "no token in the audit log");
    }
}

#[tokio::test]
async fn a_rotation_reaches_the_agents_channel_session_without_the_token() {
    let relay = Relay::new();
    let bot = relay.listen(&["--agent", "bot", "--channel"]).await;
    let lead = relay.agent("lead", &["admin"]).await;
    let rotated = lead
        .call("rotate_token", json!({"target": "bot", "grace_seconds": 30}))
        .await;
    let token = rotated["token"].as_str().unwrap().to_owned();
    let recorder = bot.recorder();
    let heard = recorder
        .wait_for(10, |r| {
            r.custom()
                .iter()
                .any(|(m, p)| m == "notifications/claude/channel" && p["meta"]["event"] == "token_rotated")
        })
        .await;
    assert!(
        heard,
        "the channel session hears of the rotation: {:?}",
        recorder.custom()
    );
    let (_, params) = recorder
        .custom()
        .into_iter()
        .find(|(_, p)| p["meta"]["event"] == "token_rotated")
        .unwrap();
    assert_eq!(params["meta"]["from"], "lead");
    assert!(!params.to_string().contains(&token) && !params.to_string().contains("rly_"));
    lead.close().await;
    bot.close().await;
}
