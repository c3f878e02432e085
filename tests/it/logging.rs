//! What `relay serve` writes to stderr at its most verbose: metadata only,
//! never a token, keyring material or content (issue 9, item 4).

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use rmcp::ServiceExt as _;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;
use tokio::io::AsyncReadExt as _;

use crate::support::{Client, Relay, SCRUBBED_ENV, relay_bin};

/// A keyring whose only key is 32 bytes of `fill`: `(keyring JSON, key in base64)`.
fn keyring(fill: u8) -> (String, String) {
    let key = base64::engine::general_purpose::STANDARD.encode([fill; 32]);
    (json!({"current": "k1", "keys": {"k1": key}}).to_string(), key)
}

/// `relay GLOBAL... serve ARGS...` with `env`, its stderr collected until
/// the process exits.
async fn serve_logged(
    relay: &Relay,
    global: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
) -> (Client, tokio::task::JoinHandle<String>) {
    let (global, args, db, config) = (
        global.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        relay.db.clone(),
        relay.config(),
    );
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let cmd = tokio::process::Command::new(relay_bin()).configure(|c| {
        c.args(&global).arg("--db").arg(&db).arg("serve").args(&args);
        for var in SCRUBBED_ENV {
            c.env_remove(var);
        }
        c.env_remove("RELAY_LOG").env("RELAY_CONFIG", &config);
        c.envs(env.iter().map(|(k, v)| (k, v)));
    });
    let (transport, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn relay serve");
    let mut stderr = stderr.expect("piped stderr");
    let collected = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    });
    let service = ().serve(transport).await.expect("MCP initialize");
    (Client { service }, collected)
}

/// Runs registration, a re-bind by token, a message, a
/// channel post and a task through two logged sessions with an encryption
/// keyring, and checks neither session's stderr shows any of it. Returns
/// the two stderr texts.
async fn traffic_leaves_no_secrets_on_stderr(global: &[&str], relay_log: Option<&str>) -> (String, String) {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let marker = |what: &str| format!("MARK{}x{run}x{what}", std::process::id());
    let relay = Relay::new();
    let (ring, key) = keyring(0x5a + run as u8);
    let mut env = vec![("RELAY_ENCRYPTION_KEYRING", ring.as_str())];
    if let Some(filter) = relay_log {
        env.push(("RELAY_LOG", filter));
    }
    let (alice, alice_log) = serve_logged(&relay, global, &[], &env).await;
    let (bob, bob_log) = serve_logged(&relay, global, &["--agent", "bob", "--capabilities", "tasks"], &env).await;

    let first = alice
        .call(
            "register_agent",
            json!({"name": "alice", "role": "lead", "capabilities": ["tasks", "channels"]}),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A second session binds to alice with the token: the token travels in a request.
    let (again, again_log) = serve_logged(&relay, global, &[], &env).await;
    again
        .call("register_agent", json!({"name": "alice", "token": first}))
        .await;
    again.close().await;

    alice
        .call("send_message", json!({"to": "bob", "content": marker("message")}))
        .await;
    alice.call("create_channel", json!({"name": "ops"})).await;
    alice
        .call("post_to_channel", json!({"channel": "ops", "content": marker("post")}))
        .await;
    let id = alice
        .call(
            "post_task",
            json!({"to": "bob", "title": marker("title"), "description": marker("description")}),
        )
        .await["task"]["id"]
        .as_i64()
        .unwrap();
    let inbox = bob.call("get_messages", json!({})).await;
    assert_eq!(inbox["messages"][0]["content"], marker("message"));
    let token = bob
        .call("update_task", json!({"task_id": id, "action": "accept"}))
        .await["task"]["fencing_token"]
        .as_i64()
        .unwrap();
    bob.call(
        "update_task",
        json!({"task_id": id, "action": "complete", "result": marker("result"), "fencing_token": token}),
    )
    .await;
    let got = alice.call("get_task", json!({"task_id": id})).await;
    assert_eq!(got["task"]["result"], marker("result"));
    alice.close().await;
    bob.close().await;

    let logs = [
        ("alice", alice_log.await.unwrap()),
        ("bob", bob_log.await.unwrap()),
        ("re-bind", again_log.await.unwrap()),
    ];
    let secrets = [
        ("token", first.as_str()),
        ("key", key.as_str()),
        ("keyring", ring.as_str()),
    ];
    for (session, log) in &logs {
        for what in ["message", "post", "title", "description", "result"] {
            assert!(
                !log.contains(&marker(what)),
                "{session}'s stderr ({global:?}, RELAY_LOG={relay_log:?}) shows the {what}:\n{log}"
            );
        }
        // Any 12 characters of a secret would be too many.
        for (what, secret) in secrets {
            let leaked = (0..=secret.len() - 12).any(|i| log.contains(&secret[i..i + 12]));
            assert!(
                !leaked,
                "{session}'s stderr ({global:?}, RELAY_LOG={relay_log:?}) shows the {what}:\n{log}"
            );
        }
    }
    let [(_, alice_log), (_, bob_log), _] = logs;
    (alice_log, bob_log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_verbose_level_logs_no_token_key_or_content() {
    let (alice, bob) = traffic_leaves_no_secrets_on_stderr(&["-vvv"], None).await;
    // Logging is on: relay's own debug lines are there.
    for log in [&alice, &bob] {
        assert!(log.contains("encryption keyring loaded"), "{log}");
        assert!(log.contains("DEBUG") || log.contains("TRACE"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_log_trace_logs_no_token_key_or_content() {
    let (alice, _) = traffic_leaves_no_secrets_on_stderr(&[], Some("trace")).await;
    assert!(alice.contains("encryption keyring loaded"), "{alice}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_log_rmcp_trace_cannot_lift_the_cap_on_the_protocol_library() {
    traffic_leaves_no_secrets_on_stderr(&["-vvv"], Some("rmcp=trace,relay=trace")).await;
    traffic_leaves_no_secrets_on_stderr(&[], Some("rmcp=trace")).await;
}
