//! The HTTP hub (SPEC §7) through rmcp's Streamable HTTP client, in both
//! protocol revisions, against the real `relay serve --transport http`.

use std::time::Duration;

use serde_json::json;

use crate::support::Relay;

#[tokio::test]
async fn agents_on_both_revisions_message_each_other_through_the_hub() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let alice_token = hub.register("alice").await;
    let bob_token = hub.register("bob").await;
    assert!(alice_token.starts_with("rly_") && bob_token.starts_with("rly_"));

    // alice speaks 2025-11-25 (a session), bob 2026-07-28 (stateless).
    let alice = hub.session(Some(&alice_token)).await;
    let bob = hub.stateless(Some(&bob_token)).await;
    let health = bob.call("health_check", json!({})).await;
    assert_eq!(health["agent"]["name"], "bob");
    assert_eq!(health["transport"], "http");

    let sent = alice
        .call("send_message", json!({"to": "bob", "content": "over the hub"}))
        .await;
    let inbox = bob.call("get_messages", json!({})).await;
    assert_eq!(inbox["messages"][0]["id"], sent["message_id"]);
    assert_eq!(inbox["messages"][0]["from"], "alice");
    assert_eq!(inbox["messages"][0]["content"], "over the hub");
    // Read once: the next read is empty.
    assert_eq!(bob.call("get_messages", json!({})).await["messages"], json!([]));

    // The reply goes back on alice's session, the caller being each
    // request's token, never an argument.
    bob.call("send_message", json!({"to": "alice", "content": "got it"}))
        .await;
    let back = alice.call("get_messages", json!({})).await;
    assert_eq!(back["messages"][0]["from"], "bob");
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn a_request_without_a_token_may_only_check_health_or_register() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let bob_token = hub.register("bob").await;
    for anon in [hub.session(None).await, hub.stateless(None).await] {
        let health = anon.call("health_check", json!({})).await;
        assert_eq!(health["agent"], json!(null));
        for (tool, args) in [
            ("send_message", json!({"to": "bob", "content": "anonymous"})),
            ("discover_agents", json!({})),
            ("get_messages", json!({})),
            ("list_channels", json!({})),
        ] {
            let (code, _) = anon.call_err(tool, args).await;
            assert_eq!(code, "AUTH_FAILED", "{tool}");
        }
        anon.close().await;
    }
    // Nothing was stored.
    let bob = hub.session(Some(&bob_token)).await;
    assert_eq!(bob.call("get_messages", json!({})).await["messages"], json!([]));
    // register_agent without a token takes only new names.
    let anon = hub.session(None).await;
    let (code, _) = anon.call_err("register_agent", json!({"name": "bob"})).await;
    assert_eq!(code, "NAME_TAKEN");
    anon.close().await;
    bob.close().await;
}

#[tokio::test]
async fn an_unknown_token_is_refused_with_401_and_an_error_code() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let response = reqwest::Client::new()
        .post(&hub.url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("X-Agent-Token", "rly_not-a-token-that-anyone-holds-000000000000")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["data"]["error_code"], "AUTH_FAILED");
    // The hub keeps serving.
    let token = hub.register("carol").await;
    let carol = hub.session(Some(&token)).await;
    assert_eq!(carol.call("health_check", json!({})).await["agent"]["name"], "carol");
    carol.close().await;
}

#[tokio::test]
async fn a_2025_session_subscribed_to_its_inbox_is_told_of_new_mail() {
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let bob_token = hub.register("bob").await;
    let alice_token = hub.register("alice").await;
    let bob = hub.listener(Some(&bob_token)).await;
    bob.subscribe("relay://inbox/bob").await;
    let alice = hub.session(Some(&alice_token)).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "ping"}))
        .await;
    assert!(
        bob.recorder()
            .wait_for(10, |r| r.updated().contains(&"relay://inbox/bob".to_string()))
            .await,
        "no resources/updated for bob's inbox: {:?}",
        bob.recorder().updated()
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn a_2026_client_listens_over_http_for_its_own_inbox_only() {
    use rmcp::model::{ServerNotification, SubscriptionFilter};
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let bob_token = hub.register("bob").await;
    let alice_token = hub.register("alice").await;
    let bob = hub.stateless(Some(&bob_token)).await;
    let filter = SubscriptionFilter::builder()
        .resource_subscriptions(["relay://inbox/bob", "relay://inbox/alice"])
        .build();
    let mut sub = bob.service.listen(filter).await.expect("subscriptions/listen");
    assert_eq!(
        sub.acknowledged().resource_subscriptions,
        Some(vec!["relay://inbox/bob".to_string()])
    );
    let alice = hub.session(Some(&alice_token)).await;
    alice.call("send_message", json!({"to": "bob", "content": "hi"})).await;
    let note = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a notification in time");
    match note.unwrap() {
        Some(ServerNotification::ResourceUpdatedNotification(n)) => assert_eq!(n.params.uri, "relay://inbox/bob"),
        other => panic!("unexpected {other:?}"),
    }
    let _ = sub.cancel().await;
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn one_process_serves_stdio_and_the_hub_from_one_store() {
    use rmcp::ServiceExt;
    use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
    use tokio::io::AsyncBufReadExt;
    let relay = Relay::new();
    // `both`: the MCP client on stdio is alice; the hub serves bob.
    let (db, config) = (relay.db.clone(), relay.config());
    let cmd = tokio::process::Command::new(crate::support::relay_bin()).configure(|c| {
        c.arg("--db")
            .arg(&db)
            .args(["serve", "--transport", "both", "--port", "0", "--agent", "alice"])
            .env("RELAY_CONFIG", &config)
            .env_remove("RELAY_AGENT");
    });
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(stderr.unwrap()).lines();
    let url = loop {
        let line = lines.next_line().await.unwrap().expect("a listening line");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    let alice = crate::support::Client {
        service: ().serve(transport).await.expect("stdio initialize"),
    };
    let health = alice.call("health_check", json!({})).await;
    assert_eq!(health["transport"], "stdio");
    assert_eq!(health["agent"]["name"], "alice");
    let hub = crate::support::Hub::at(&url);
    let bob_token = hub.register("bob").await;
    let bob = hub.session(Some(&bob_token)).await;
    alice
        .call("send_message", json!({"to": "bob", "content": "from stdio"}))
        .await;
    let inbox = bob.call("get_messages", json!({})).await;
    assert_eq!(inbox["messages"][0]["content"], "from stdio");
    assert_eq!(inbox["messages"][0]["from"], "alice");
    bob.close().await;
    // Closing stdin ends the whole process, hub included.
    alice.close().await;
    let gone = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let mut tries = 0;
    let mut gone = gone.is_err();
    while !gone && tries < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        gone = reqwest::Client::new().get(&url).send().await.is_err();
        tries += 1;
    }
    assert!(gone, "the hub still answers after stdin closed");
}

#[tokio::test]
async fn sigterm_lets_a_call_in_flight_finish_and_the_hub_exits_cleanly() {
    let relay = Relay::new();
    let mut hub = relay.hub(&[]);
    let token = hub.register_with("waiter", &["tasks"]).await;
    let waiter = hub.session(Some(&token)).await;
    let posted = waiter
        .call(
            "post_task",
            json!({"to": "nobody", "title": "wait for me", "description": "never done"}),
        )
        .await;
    let id = posted["task"]["id"].clone();
    // A long-poll in flight when SIGTERM arrives.
    let call = tokio::spawn(async move {
        let r = waiter
            .call_raw("get_task", json!({"task_id": id, "wait_seconds": 2}))
            .await;
        (waiter, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = hub.terminate();
        (hub, status)
    });
    let (waiter, result) = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call in flight was answered")
        .unwrap();
    assert_eq!(result.is_error, Some(false), "{:?}", result.structured_content);
    assert_eq!(result.structured_content.unwrap()["timed_out"], true);
    let (_hub, status) = status.await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    waiter.close().await;
}

#[tokio::test]
async fn mail_whose_http_response_never_reached_the_client_stays_unread() {
    use tokio::io::AsyncWriteExt;
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let bob_token = hub.register("bob").await;
    let alice_token = hub.register("alice").await;
    let alice = hub.session(Some(&alice_token)).await;
    // A page far larger than the socket buffers: the hub cannot finish
    // writing it to a client that reads nothing.
    let big = "x".repeat(60 * 1024);
    for _ in 0..100 {
        alice.call("send_message", json!({"to": "bob", "content": big})).await;
    }
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_messages", "arguments": {"limit": 100},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientCapabilities": {},
                             "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}}}
    })
    .to_string();
    let addr = hub.base().trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket.connect(addr.parse().unwrap()).await.unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: tools/call\r\nMcp-Name: get_messages\r\nX-Agent-Token: {bob_token}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    // Read nothing; hang up once the hub has had time to answer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(conn);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bob = hub.stateless(Some(&bob_token)).await;
    let inbox = bob.call("get_messages", json!({"limit": 100, "peek": true})).await;
    assert_eq!(
        inbox["messages"].as_array().unwrap().len(),
        100,
        "mail was marked read though its response never reached bob"
    );
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn an_idle_2025_session_expires_and_its_id_is_then_refused() {
    let relay = Relay::new();
    std::fs::write(relay.config(), "[http]\nidle_session_seconds = 1\n").unwrap();
    let hub = relay.hub(&[]);
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value, session: Option<&str>| {
        let mut req = client
            .post(&hub.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(id) = session {
            req = req
                .header("Mcp-Session-Id", id)
                .header("MCP-Protocol-Version", "2025-11-25");
        }
        req.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                          "clientInfo": {"name": "raw", "version": "0"}}}),
        None,
    )
    .await
    .unwrap();
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    drop(init);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert!(post(initialized, Some(&session)).await.unwrap().status().is_success());
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    assert_eq!(post(ping.clone(), Some(&session)).await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let late = post(ping, Some(&session)).await.unwrap();
    assert_eq!(late.status(), 404, "an expired session must be unknown");
}

#[tokio::test]
async fn spawn_agent_over_http_only_returns_the_command() {
    use relay::store::words::{Capability, Transport};
    let relay = Relay::new();
    let hub = relay.hub(&[]);
    let reg = relay::store::Registration {
        name: "remote-lead".into(),
        capabilities: vec!["spawn".into()],
        ..Default::default()
    };
    let token = relay
        .store()
        .register_agent(
            &reg,
            relay::store::agents::Credential::None,
            &[Capability::Spawn],
            Transport::Cli,
        )
        .unwrap()
        .token
        .unwrap();
    let lead = hub.session(Some(&token)).await;
    let cwd = relay.dir.path().to_str().unwrap();
    let out = lead.call("spawn_agent", json!({"name": "helper-1", "cwd": cwd})).await;
    // A caller on another machine starts nothing on the hub's.
    assert_eq!(out["launched"], false);
    assert_eq!(out["mode"], "dry-run");
    assert!(out["command_line"].as_str().unwrap().contains("helper-1"));
    lead.close().await;
}
