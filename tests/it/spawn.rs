//! `spawn_agent`: a new agent terminal, its exact argv, and its checks.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use crate::support::Relay;

#[tokio::test]
async fn dry_run_returns_the_exact_command_and_the_message_waits_in_the_inbox() {
    let relay = Relay::new();
    let lead = relay
        .serve(&[
            "--agent",
            "lead",
            "--capabilities",
            "spawn,channels",
            "--spawn-mode",
            "dry-run",
        ])
        .await;
    let out = lead
        .call(
            "spawn_agent",
            json!({"name": "reviewer", "role": "reviewer", "capabilities": ["channels"],
                   "initial_message": "$(rm -rf ~) please review PR 7"}),
        )
        .await;
    assert_eq!(out["launched"], false);
    assert_eq!(out["mode"], "dry-run");
    let argv: Vec<String> = serde_json::from_value(out["argv"].clone()).unwrap();
    assert_eq!(argv.len(), 4);
    assert_eq!(argv[..2], ["claude", "--mcp-config"]);
    let config: Value = serde_json::from_str(&argv[2]).unwrap();
    let args: Vec<String> = serde_json::from_value(config["mcpServers"]["relay"]["args"].clone()).unwrap();
    assert_eq!(
        args,
        [
            "--db",
            relay.db.to_str().unwrap(),
            "serve",
            "--agent",
            "reviewer",
            "--role",
            "reviewer",
            "--capabilities",
            "channels"
        ]
    );
    assert!(
        !argv[3].contains("rm -rf"),
        "the message must not reach a command line: {}",
        argv[3]
    );
    assert!(!out["command_line"].as_str().unwrap().contains("rm -rf"));
    // The new agent exists with what was granted, and its message waits.
    let reviewer = relay.agent("reviewer", &[]).await;
    let health = reviewer.call("health_check", json!({})).await;
    assert_eq!(health["agent"]["capabilities"], json!(["channels"]));
    let inbox = reviewer.call("get_messages", json!({})).await;
    assert_eq!(inbox["messages"][0]["content"], "$(rm -rf ~) please review PR 7");
    assert_eq!(inbox["messages"][0]["from"], "lead");
    lead.close().await;
    reviewer.close().await;
}

#[tokio::test]
async fn spawning_needs_the_capability_and_grants_nothing_the_caller_lacks() {
    let relay = Relay::new();
    let plain = relay.serve(&["--agent", "plain", "--spawn-mode", "dry-run"]).await;
    let (code, _) = plain.call_err("spawn_agent", json!({"name": "x"})).await;
    assert_eq!(code, "CAP_DENIED");
    let lead = relay
        .serve(&["--agent", "lead", "--capabilities", "spawn", "--spawn-mode", "dry-run"])
        .await;
    let (code, _) = lead
        .call_err("spawn_agent", json!({"name": "x", "capabilities": ["admin"]}))
        .await;
    assert_eq!(code, "CAP_DENIED");
    let (code, _) = lead.call_err("spawn_agent", json!({"name": "bad name"})).await;
    assert_eq!(code, "VALIDATION");
    assert_eq!(
        lead.call("discover_agents", json!({"include_offline": true})).await["count"],
        2
    );
    plain.close().await;
    lead.close().await;
}

#[tokio::test]
async fn tmux_mode_passes_every_argument_separately() {
    let relay = Relay::new();
    let bin = relay.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let argv_out = relay.dir.path().join("tmux-argv");
    let fake = bin.join("tmux");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$ARGV_OUT.tmp\"\nmv \"$ARGV_OUT.tmp\" \"$ARGV_OUT\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let argv_str = argv_out.display().to_string();
    let work = relay.dir.path().join("my project");
    std::fs::create_dir_all(&work).unwrap();
    let lead = relay
        .serve_env(
            &["--agent", "lead", "--capabilities", "spawn", "--spawn-mode", "tmux"],
            &[("PATH", path.as_str()), ("ARGV_OUT", argv_str.as_str())],
        )
        .await;
    let out = lead
        .call("spawn_agent", json!({"name": "helper", "cwd": work.to_str().unwrap()}))
        .await;
    assert_eq!(out["launched"], true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !argv_out.exists() {
        assert!(std::time::Instant::now() < deadline, "tmux was never called");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let raw = std::fs::read(&argv_out).unwrap();
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(
        args[..7],
        [
            "new-session",
            "-d",
            "-s",
            "relay-helper",
            "-c",
            work.to_str().unwrap(),
            "--"
        ]
    );
    let expected: Vec<String> = serde_json::from_value(out["argv"].clone()).unwrap();
    assert_eq!(args[7..], expected[..]);
    lead.close().await;
}

#[tokio::test]
async fn spawning_an_existing_name_is_refused_so_no_one_borrows_its_capabilities() {
    let relay = Relay::new();
    let boss = relay.agent("boss", &["admin", "spawn"]).await;
    let lead = relay
        .serve(&["--agent", "lead", "--capabilities", "spawn", "--spawn-mode", "dry-run"])
        .await;
    for name in ["boss", "BOSS", "lead"] {
        let (code, err) = lead.call_err("spawn_agent", json!({"name": name})).await;
        assert_eq!(code, "NAME_TAKEN", "{name}: {err}");
    }
    // Nothing about boss changed, and no message was left for it.
    let health = boss.call("health_check", json!({})).await;
    assert_eq!(health["agent"]["capabilities"], json!(["admin", "spawn"]));
    let (code, _) = lead
        .call_err(
            "spawn_agent",
            json!({"name": "boss", "initial_message": "run `relay recover` for me"}),
        )
        .await;
    assert_eq!(code, "NAME_TAKEN");
    assert_eq!(
        boss.call("get_messages", json!({"peek": true})).await["messages"],
        json!([])
    );
    lead.close().await;
    boss.close().await;
}

#[tokio::test]
async fn a_terminal_that_cannot_open_leaves_the_name_free() {
    let relay = Relay::new();
    // No terminal emulator on PATH: `terminal` mode cannot open one.
    let empty = relay.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let lead = relay
        .serve_env(
            &["--agent", "lead", "--capabilities", "spawn", "--spawn-mode", "terminal"],
            &[("PATH", empty.to_str().unwrap())],
        )
        .await;
    let (code, _) = lead.call_err("spawn_agent", json!({"name": "helper"})).await;
    assert_eq!(code, "INVALID_STATE");
    let agents = lead.call("discover_agents", json!({"include_offline": true})).await;
    assert_eq!(agents["count"], 1, "{agents}");
    lead.close().await;
    // The same name can be spawned once a way to open it exists.
    let lead = relay.serve(&["--agent", "lead", "--spawn-mode", "dry-run"]).await;
    lead.call("spawn_agent", json!({"name": "helper"})).await;
    lead.close().await;
}
