//! Session-bound identity (SPEC §2): `--agent`, register_agent, tokens,
//! capabilities, discovery and status.

use serde_json::json;

use crate::support::Relay;

#[tokio::test]
async fn serve_agent_binds_the_session_and_health_check_says_who() {
    let relay = Relay::new();
    let alice = relay
        .serve(&[
            "--agent",
            "alice",
            "--role",
            "reviewer",
            "--capabilities",
            "tasks,channels",
        ])
        .await;
    let health = alice.call("health_check", json!({})).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["agent"]["name"], "alice");
    assert_eq!(health["agent"]["role"], "reviewer");
    assert_eq!(health["agent"]["capabilities"], json!(["tasks", "channels"]));
    assert_eq!(health["unread_messages"], 0);
    let info = alice.service.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "relay");
    alice.close().await;
}

#[tokio::test]
async fn unbound_session_must_register_before_acting() {
    let relay = Relay::new();
    let anon = relay.serve::<&str>(&[]).await;
    let health = anon.call("health_check", json!({})).await;
    assert!(health["agent"].is_null());
    let (code, _) = anon
        .call_err("send_message", json!({"to": "bob", "content": "hi"}))
        .await;
    assert_eq!(code, "AUTH_FAILED");

    let reg = anon
        .call(
            "register_agent",
            json!({"name": "carol", "role": "builder", "capabilities": ["broadcast"]}),
        )
        .await;
    let token = reg["token"].as_str().unwrap();
    assert!(token.starts_with("rly_") && token.len() == 47, "{token}");
    assert_eq!(reg["created"], true);
    let health = anon.call("health_check", json!({})).await;
    assert_eq!(health["agent"]["name"], "carol");
    anon.call("send_message", json!({"to": "bob", "content": "now I can"}))
        .await;

    // The token is stored only as a SHA-256 digest.
    let raw = std::fs::read(&relay.db).unwrap();
    assert!(!raw.windows(token.len()).any(|w| w == token.as_bytes()));
    anon.close().await;
}

#[tokio::test]
async fn a_model_cannot_take_another_agents_name_without_its_token() {
    let relay = Relay::new();
    let first = relay.serve::<&str>(&[]).await;
    let token = first.call("register_agent", json!({"name": "dave"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = relay.agent("mallory", &[]).await;
    let (code, _) = second.call_err("register_agent", json!({"name": "dave"})).await;
    assert_eq!(code, "NAME_TAKEN");
    let (code, _) = second
        .call_err(
            "register_agent",
            json!({"name": "dave", "token": "rly_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        )
        .await;
    assert_eq!(code, "AUTH_FAILED");
    // Still mallory after the failed attempts.
    assert_eq!(second.call("health_check", json!({})).await["agent"]["name"], "mallory");

    // With the token, the session re-binds; no new token is issued and
    // capabilities stay as first registered.
    let rebound = second
        .call(
            "register_agent",
            json!({"name": "dave", "token": token, "capabilities": ["admin"]}),
        )
        .await;
    assert!(rebound["token"].is_null());
    assert_eq!(rebound["agent"]["capabilities"], json!([]));
    assert_eq!(second.call("health_check", json!({})).await["agent"]["name"], "dave");
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn tools_take_no_sender_identity_arguments() {
    let relay = Relay::new();
    let a = relay.agent("alice", &[]).await;
    let tools = a.service.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "register_agent",
        "unregister_agent",
        "discover_agents",
        "set_status",
        "health_check",
        "send_message",
        "broadcast",
        "get_messages",
        "create_channel",
        "join_channel",
        "leave_channel",
        "post_to_channel",
        "get_channel_messages",
        "list_channels",
        "post_task",
        "update_task",
        "get_task",
        "get_tasks",
        "spawn_agent",
    ] {
        assert!(names.contains(&expected), "missing tool {expected}");
    }
    for tool in &tools {
        let props = tool.input_schema.get("properties").and_then(|p| p.as_object());
        for banned in ["from", "agent_name", "agent_token"] {
            // search_messages' `from` filters by sender (SPEC §3.1); it names no identity.
            if tool.name == "search_messages" && banned == "from" {
                continue;
            }
            assert!(
                props.is_none_or(|p| !p.contains_key(banned)),
                "{} takes {banned}",
                tool.name
            );
        }
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() > 40),
            "{} lacks a description",
            tool.name
        );
    }
    let (code, body) = a
        .call_err("send_message", json!({"to": "bob", "content": "x", "from": "bob"}))
        .await;
    assert_eq!(code, "VALIDATION");
    assert!(body["error"].as_str().unwrap().contains("from"));
    a.close().await;
}

#[tokio::test]
async fn discover_filters_by_role_and_capability_and_set_status_shows() {
    let relay = Relay::new();
    let a = relay
        .serve(&["--agent", "alice", "--role", "reviewer", "--capabilities", "tasks"])
        .await;
    let b = relay.serve(&["--agent", "bob", "--role", "builder"]).await;
    let all = a.call("discover_agents", json!({})).await;
    assert_eq!(all["count"], 2);
    let reviewers = a.call("discover_agents", json!({"role": "reviewer"})).await;
    assert_eq!(reviewers["agents"][0]["name"], "alice");
    assert_eq!(reviewers["count"], 1);
    let taskers = b.call("discover_agents", json!({"capability": "tasks"})).await;
    assert_eq!(taskers["count"], 1);

    let set = b
        .call("set_status", json!({"status": "busy", "note": "compiling"}))
        .await;
    assert_eq!(set["agent"]["status"], "busy");
    let seen = a.call("discover_agents", json!({"role": "builder"})).await;
    assert_eq!(seen["agents"][0]["status"], "busy");
    assert_eq!(seen["agents"][0]["status_note"], "compiling");
    assert_eq!(seen["agents"][0]["presence"], "online");
    let (code, _) = b.call_err("set_status", json!({"status": "sleeping"})).await;
    assert_eq!(code, "VALIDATION");

    b.call("set_status", json!({"status": "offline"})).await;
    assert_eq!(a.call("discover_agents", json!({})).await["count"], 1);
    assert_eq!(
        a.call("discover_agents", json!({"include_offline": true})).await["count"],
        2
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn unregister_releases_the_session_but_keeps_mail() {
    let relay = Relay::new();
    let a = relay.agent("alice", &[]).await;
    let b = relay.agent("bob", &[]).await;
    a.call("send_message", json!({"to": "bob", "content": "kept"})).await;
    assert_eq!(b.call("unregister_agent", json!({})).await["unregistered"], "bob");
    let (code, _) = b.call_err("get_messages", json!({})).await;
    assert_eq!(code, "AUTH_FAILED");
    assert_eq!(
        a.call("discover_agents", json!({"include_offline": true})).await["count"],
        1
    );
    // Whoever registers the name next finds the mail.
    b.call("register_agent", json!({"name": "bob"})).await;
    let inbox = b.call("get_messages", json!({})).await;
    assert_eq!(inbox["messages"][0]["content"], "kept");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn bad_names_and_capabilities_are_refused() {
    let relay = Relay::new();
    let anon = relay.serve::<&str>(&[]).await;
    for bad in ["", "-x", "has space", "a/b", &"n".repeat(65)] {
        let (code, _) = anon.call_err("register_agent", json!({"name": bad})).await;
        assert_eq!(code, "VALIDATION", "{bad:?}");
    }
    let (code, _) = anon
        .call_err("register_agent", json!({"name": "ok", "capabilities": ["Bad Cap"]}))
        .await;
    assert_eq!(code, "VALIDATION");
    assert!(anon.call("health_check", json!({})).await["agent"].is_null());
    anon.close().await;

    // `serve --agent` with a bad name fails fast with exit code 2.
    let out = std::process::Command::new(crate::support::relay_bin())
        .args(["--db"])
        .arg(&relay.db)
        .args(["serve", "--agent", "bad name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("VALIDATION"));
}

#[tokio::test]
async fn a_model_cannot_grant_itself_capabilities_by_registering_a_new_name() {
    let relay = Relay::new();
    let alice = relay.agent("alice", &["channels"]).await;
    let (code, _) = alice.call_err("broadcast", json!({"content": "hi"})).await;
    assert_eq!(code, "CAP_DENIED");
    let (code, body) = alice
        .call_err(
            "register_agent",
            json!({"name": "alice2", "capabilities": ["broadcast", "admin"]}),
        )
        .await;
    assert_eq!(code, "CAP_DENIED");
    assert!(body["error"].as_str().unwrap().contains("channels"), "{body}");
    // Nothing was created and the session is still alice.
    assert_eq!(
        alice.call("discover_agents", json!({"include_offline": true})).await["count"],
        1
    );
    assert_eq!(alice.call("health_check", json!({})).await["agent"]["name"], "alice");
    // What the session holds it may pass on.
    let ok = alice
        .call(
            "register_agent",
            json!({"name": "alice2", "capabilities": ["channels"]}),
        )
        .await;
    assert_eq!(ok["agent"]["capabilities"], json!(["channels"]));

    // An unbound session may grant only the self-service set.
    let anon = relay.serve::<&str>(&[]).await;
    let (code, _) = anon
        .call_err("register_agent", json!({"name": "root", "capabilities": ["admin"]}))
        .await;
    assert_eq!(code, "CAP_DENIED");
    let (code, _) = anon.call_err("register_agent", json!({"name": "ALICE"})).await;
    assert_eq!(code, "NAME_TAKEN");
    // Failed attempts from the unbound session are audited, with the name tried.
    let audit = relay.store().audit_log(20).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.tool == "register_agent" && e.agent.is_none() && e.outcome == "CAP_DENIED")
    );
    assert!(
        audit
            .iter()
            .any(|e| e.tool == "register_agent" && e.agent.is_none() && e.outcome == "NAME_TAKEN")
    );
    alice.close().await;
    anon.close().await;
}

#[tokio::test]
async fn environment_variables_bind_the_session() {
    let relay = Relay::new();
    let env = [
        ("RELAY_AGENT", "env-agent"),
        ("RELAY_ROLE", "tester"),
        ("RELAY_CAPABILITIES", "channels,broadcast"),
    ];
    let c = relay.serve_env::<&str>(&[], &env).await;
    let health = c.call("health_check", json!({})).await;
    assert_eq!(health["agent"]["name"], "env-agent");
    assert_eq!(health["agent"]["role"], "tester");
    assert_eq!(health["agent"]["capabilities"], json!(["channels", "broadcast"]));
    c.close().await;
    // An empty RELAY_AGENT counts as unset.
    let c = relay.serve_env::<&str>(&[], &[("RELAY_AGENT", "")]).await;
    assert!(c.call("health_check", json!({})).await["agent"].is_null());
    c.close().await;
}

#[tokio::test]
async fn store_files_are_private_and_tokens_never_reach_them() {
    use std::os::unix::fs::PermissionsExt;
    let relay = Relay::new();
    let dir = relay.dir.path().join("nested/store");
    let db = dir.join("relay.db");
    // `--db` after `serve` overrides the harness's (it is a global flag).
    let anon = relay.serve(&["--db".to_string(), db.display().to_string()]).await;
    let token = anon.call("register_agent", json!({"name": "secretive"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        files += 1;
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token in {}",
            path.display()
        );
    }
    assert!(files >= 3, "expected the db, its WAL and lock files");
    anon.close().await;
}
