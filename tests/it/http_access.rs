//! The hub's access layer through the real binary: `relay serve
//! --transport http --port 0` on 127.0.0.1, raw HTTP from reqwest (and a
//! bare TCP socket where reqwest would not send what is tested).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Reaper, Relay, ScrubRelayEnv, relay_bin};

const SECRET: &str = "hub-secret-0123456789abcdef";
const OLD_SECRET: &str = "old-hub-secret-0123456789";

/// A running hub.
struct Hub {
    _child: Reaper,
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// `127.0.0.1:PORT`.
    addr: String,
    http: reqwest::Client,
}

/// `relay serve --transport http --port 0 ARGS` with `config` as its
/// config file and `env` set; waits for `listening on http://HOST:PORT/mcp`.
fn start(relay: &Relay, config: &str, env: &[(&str, &str)], args: &[&str]) -> Hub {
    let config_path = relay.dir.path().join("hub-config.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = serve(relay, &config_path, &[&["--host", "127.0.0.1"], args].concat());
    cmd.envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn relay serve --transport http");
    let stderr = child.stderr.take().unwrap();
    let child = Reaper(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let url = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx.recv_timeout(left).expect("the hub never logged its URL");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_owned();
        }
    };
    let addr = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix("/mcp"))
        .unwrap_or_else(|| panic!("unexpected URL {url}"))
        .to_owned();
    Hub {
        _child: child,
        base: format!("http://{addr}"),
        addr,
        http: reqwest::Client::new(),
    }
}

fn serve(relay: &Relay, config: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(relay_bin());
    cmd.env("RELAY_CONFIG", config)
        .env_remove("RELAY_HTTP_SECRET")
        .env_clear_relay()
        .arg("--db")
        .arg(&relay.db)
        .args(["serve", "--transport", "http", "--port", "0"])
        .args(args)
        .stdout(Stdio::null());
    cmd
}

/// An MCP `initialize` (2025-11-25) body.
fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "http-access-test", "version": "0"}
        }
    })
}

impl Hub {
    /// A POST to `/mcp` with the headers a Streamable HTTP client sends.
    fn post(&self) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/mcp", self.base))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
    }

    /// Sends `req`; the status, the headers and the body as JSON (`Null`
    /// when it is not JSON: an SSE stream is not read).
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = req.send().await.expect("the hub answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return (status, headers, Value::Null);
        }
        let text = response.text().await.unwrap_or_default();
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Writes `head` and `body` on a fresh TCP connection and returns the
    /// response's status code.
    fn raw(&self, head: &str, body: &[u8]) -> u16 {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // The hub may answer (and close) before taking the whole body.
        let _ = s.write_all(body);
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&response);
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"))
    }
}

/// Asserts a JSON-RPC refusal body with `error_code`.
fn assert_refused(body: &Value, code: &str) {
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(body["id"].is_null(), "{body}");
    assert!(body["error"]["code"].is_i64(), "{body}");
    assert_eq!(body["error"]["data"]["error_code"], code, "{body}");
}

fn register(relay: &Relay, name: &str) -> String {
    let reg = relay::store::Registration {
        name: name.into(),
        ..Default::default()
    };
    relay
        .store()
        .register_agent(
            &reg,
            relay::store::agents::Credential::None,
            &[],
            relay::store::words::Transport::Cli,
        )
        .unwrap()
        .token
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_health_answers_without_auth_and_names_nobody() {
    let relay = Relay::new();
    register(&relay, "alice");
    let hub = start(&relay, "", &[("RELAY_HTTP_SECRET", SECRET)], &[]);
    let (status, _, body) = hub.send(hub.http.get(format!("{}/health", hub.base))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["relay_version"], env!("CARGO_PKG_VERSION"));
    let revisions: Vec<&str> = body["protocol_revisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        revisions.contains(&"2025-11-25") && revisions.contains(&"2026-07-28"),
        "{body}"
    );
    assert_eq!(body["counts"]["agents"], 1, "{body}");
    assert!(!body.to_string().contains("alice"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_refuses_a_foreign_origin_and_a_foreign_host_with_403() {
    let relay = Relay::new();
    let hub = start(&relay, "", &[], &[]);
    let (status, _, body) = hub
        .send(hub.post().header("origin", "http://evil.example").json(&initialize()))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_refused(&body, "AUTH_FAILED");
    // DNS rebinding: the browser names the attacker's host.
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: evil.example:{}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
        hub.addr.rsplit(':').next().unwrap()
    );
    assert_eq!(hub.raw(&head, b"{}"), 403);
    // The hub's own origin passes the guard.
    let (status, _, body) = hub
        .send(hub.post().header("origin", &hub.base).json(&initialize()))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_requires_its_secret_and_marks_a_previous_one_deprecated() {
    let relay = Relay::new();
    let config = format!("[http]\nprevious_secrets = [\"{OLD_SECRET}\"]\n");
    let hub = start(&relay, &config, &[("RELAY_HTTP_SECRET", SECRET)], &[]);
    let (status, headers, body) = hub.send(hub.post().json(&initialize())).await;
    assert_eq!(status, 401, "{body}");
    assert!(headers.contains_key("www-authenticate"));
    assert_refused(&body, "AUTH_FAILED");
    let (status, _, body) = hub
        .send(hub.post().bearer_auth("wrong-secret-0123456789").json(&initialize()))
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, headers, body) = hub.send(hub.post().bearer_auth(SECRET).json(&initialize())).await;
    assert_eq!(status, 200, "{body}");
    assert!(!headers.contains_key("x-relay-secret-deprecated"));
    let (status, headers, _) = hub
        .send(hub.post().header("x-relay-secret", OLD_SECRET).json(&initialize()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-relay-secret-deprecated"], "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_binds_a_request_to_its_token_and_refuses_an_unknown_one_with_401() {
    let relay = Relay::new();
    let token = register(&relay, "alice");
    let hub = start(&relay, "", &[], &[]);
    let (status, _, body) = hub
        .send(
            hub.post()
                .header("x-agent-token", relay::token::generate())
                .json(&initialize()),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_refused(&body, "AUTH_FAILED");
    let (status, _, body) = hub
        .send(hub.post().header("x-agent-token", &token).json(&initialize()))
        .await;
    assert_eq!(status, 200, "{body}");
    // Revoked tokens stop working at once, with nothing restarted.
    relay.store().recover_agent("alice", "test").unwrap();
    let (status, _, body) = hub
        .send(hub.post().header("x-agent-token", &token).json(&initialize()))
        .await;
    assert_eq!(status, 401, "{body}");
    // The hub kept serving throughout.
    let (status, _, _) = hub.send(hub.http.get(format!("{}/health", hub.base))).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_rate_limits_an_address_with_429_and_retry_after() {
    let relay = Relay::new();
    let config = "[http.rate_limit]\nip_per_second = 1\nip_burst = 2\nloopback = true\n";
    let hub = start(&relay, config, &[], &[]);
    for _ in 0..2 {
        let (status, _, body) = hub.send(hub.post().json(&initialize())).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, headers, body) = hub.send(hub.post().json(&initialize())).await;
    assert_eq!(status, 429, "{body}");
    assert_refused(&body, "RATE_LIMITED");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_refuses_an_oversized_body_with_413_declared_or_chunked() {
    let relay = Relay::new();
    let hub = start(&relay, "[limits]\nmax_line_bytes = 1024\n", &[], &[]);
    let host = format!("Host: {}\r\n", hub.addr);
    // Declared too long: refused before the body is sent at all.
    let head = format!("POST /mcp HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: 1025\r\n\r\n");
    assert_eq!(hub.raw(&head, b""), 413);
    // Chunked past the cap.
    let head =
        format!("POST /mcp HTTP/1.1\r\n{host}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("200\r\n{}\r\n", "x".repeat(0x200));
    assert_eq!(hub.raw(&head, chunk.repeat(3).as_bytes()), 413);
    let (status, _, body) = hub.send(hub.post().body("x".repeat(1025))).await;
    assert_eq!(status, 413);
    assert_refused(&body, "PAYLOAD_TOO_LARGE");
    // Under the cap the request reaches MCP.
    let (status, _, body) = hub.send(hub.post().json(&initialize())).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_snapshot_needs_the_secret() {
    let relay = Relay::new();
    register(&relay, "alice");
    let hub = start(&relay, "", &[("RELAY_HTTP_SECRET", SECRET)], &[]);
    let url = format!("{}/api/snapshot", hub.base);
    let (status, _, body) = hub.send(hub.http.get(&url)).await;
    assert_eq!(status, 401, "{body}");
    assert_refused(&body, "AUTH_FAILED");
    let (status, _, body) = hub.send(hub.http.get(&url).bearer_auth(SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agents"][0]["name"], "alice");
    assert!(body["open_tasks"].is_array() && body["channels"].is_array() && body["recent_events"].is_array());
}

#[test]
fn hub_on_a_public_address_without_a_secret_exits_2() {
    let relay = Relay::new();
    let out = serve(&relay, &relay.config(), &["--host", "0.0.0.0"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RELAY_HTTP_SECRET"), "{stderr}");
}

#[test]
fn hub_with_a_bad_http_config_exits_2_naming_the_key() {
    let relay = Relay::new();
    let config = relay.dir.path().join("bad.toml");
    std::fs::write(&config, "[http]\nallowed_origins = [\"not-an-origin\"]\n").unwrap();
    let out = serve(&relay, &config, &[])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("allowed_origins"), "{stderr}");
}
