//! Webhooks (issue 11 part 4, SPEC §7) through the real binaries: a local
//! receiver records what relay POSTs to it; every receiver binds
//! 127.0.0.1 on an OS-chosen port, admitted through `[webhooks] allow`.
//! No test sends traffic off the machine.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{Client, Relay};

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Path → status to answer (default 200).
    answers: Arc<Mutex<HashMap<String, u16>>>,
}

/// An HTTP receiver on 127.0.0.1:0 that records every request and answers
/// with the status set for its path (a 3xx with a `Location`).
struct Receiver {
    addr: SocketAddr,
    state: ReceiverState,
    task: tokio::task::JoinHandle<()>,
}

async fn record(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let path = uri.path().to_owned();
    let status = state.answers.lock().unwrap().get(&path).copied().unwrap_or(200);
    state.hits.lock().unwrap().push(Hit {
        path,
        headers,
        body: body.to_vec(),
    });
    let status = StatusCode::from_u16(status).unwrap();
    let mut out = HeaderMap::new();
    if status.is_redirection() {
        out.insert("location", "/elsewhere".parse().unwrap());
    }
    (status, out, "")
}

impl Receiver {
    async fn start() -> Self {
        let state = ReceiverState::default();
        let app = axum::Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(&self, path: &str, status: u16) {
        self.state.answers.lock().unwrap().insert(path.to_owned(), status);
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.state
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Waits up to `secs` for at least `n` hits on `path`.
    async fn wait_for(&self, path: &str, n: usize, secs: u64) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let hits = self.hits(path);
            if hits.len() >= n || Instant::now() > deadline {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A relay installation whose config admits the loopback receiver.
fn relay_allowing_loopback() -> Relay {
    let relay = Relay::new();
    std::fs::write(relay.config(), "[webhooks]\nallow = [\"127.0.0.1\"]\n").unwrap();
    relay
}

async fn register(client: &Client, url: &str, events: &[&str], secret: Option<&str>) -> i64 {
    let mut args = json!({"url": url, "events": events});
    if let Some(s) = secret {
        args["secret"] = json!(s);
    }
    let out = client.call("register_webhook", args).await;
    out["webhook"]["id"].as_i64().expect("webhook id")
}

async fn send(client: &Client, to: &str, content: &str) -> i64 {
    client.call("send_message", json!({"to": to, "content": content})).await["message_id"]
        .as_i64()
        .unwrap()
}

async fn webhook_status(client: &Client, id: i64) -> Value {
    let list = client.call("list_webhooks", json!({})).await;
    list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls `list_webhooks` until `done` holds for webhook `id` (up to `secs`).
async fn wait_status(client: &Client, id: i64, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let status = webhook_status(client, id).await;
        if done(&status) || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verify(secret: &str, hit: &Hit) {
    let timestamp = hit.header("x-relay-timestamp").expect("X-Relay-Timestamp");
    let ts: i64 = timestamp.parse().expect("Unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((ts - now).abs() < 7_200, "a current timestamp: {ts} vs {now}");
    let sig = hit.header("x-relay-signature").expect("X-Relay-Signature");
    let hex = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let digest: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    mac.verify_slice(&digest).expect("the signature verifies");
    // Any other body does not.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(b"{}");
    assert!(mac.verify_slice(&digest).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_carry_a_versioned_body_and_a_signature_the_receiver_can_verify() {
    let receiver = Receiver::start().await;
    let relay = relay_allowing_loopback();
    let ops = relay.agent("ops", &["webhooks"]).await;
    let bob = relay.agent("bob", &[]).await;
    let secret = "s3cret-for-the-receiver-0123456789";
    let id = register(&ops, &receiver.url("/hook"), &["message"], Some(secret)).await;
    let message_id = send(&bob, "ops", "SECRET-TEXT-never-in-a-webhook").await;
    let hits = receiver.wait_for("/hook", 1, 10).await;
    assert_eq!(hits.len(), 1, "one delivery");
    let hit = &hits[0];
    verify(secret, hit);
    assert_eq!(hit.header("x-relay-event"), Some("message"));
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert!(hit.header("user-agent").is_some_and(|ua| ua.starts_with("relay/")));
    let body = hit.json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["webhook_id"], id);
    assert_eq!(body["attempt"], 1);
    assert_eq!(
        hit.header("x-relay-delivery"),
        Some(body["delivery_id"].to_string().as_str())
    );
    let event = &body["event"];
    assert_eq!(event["kind"], "message");
    assert_eq!(event["actor"], "bob");
    assert_eq!(event["target"], "ops");
    assert_eq!(event["subject_id"], message_id);
    assert!(event["id"].as_i64().is_some() && event["created_at"].as_str().is_some());
    assert!(
        !String::from_utf8_lossy(&hit.body).contains("SECRET-TEXT"),
        "never the message text"
    );

    let status = wait_status(&ops, id, 5, |s| s["health"]["delivered"] == 1).await;
    assert_eq!(status["health"]["delivered"], 1, "{status}");
    assert_eq!(status["health"]["last_status"], 200);
    assert_eq!(status["has_secret"], true);
    assert!(!status.to_string().contains(secret), "the secret is never shown");

    // Only subscribed kinds go out: a status change is not a message.
    bob.call("set_status", json!({"status": "busy"})).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(receiver.hits("/hook").len(), 1);
    ops.close().await;
    bob.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn four_relay_processes_deliver_each_event_exactly_once() {
    let receiver = Receiver::start().await;
    let relay = relay_allowing_loopback();
    let mut processes = Vec::new();
    for i in 0..4 {
        processes.push(relay.agent(&format!("p{i}"), &["webhooks"]).await);
    }
    register(&processes[0], &receiver.url("/all"), &["*"], None).await;
    let id = register(&processes[1], &receiver.url("/msg"), &["message"], None).await;
    const N: usize = 200;
    // Every process sends: their commits wake all four dispatchers.
    let mut sent = Vec::new();
    for i in 0..N {
        let from = &processes[i % 4];
        sent.push(send(from, &format!("p{}", (i + 1) % 4), &format!("m{i}")).await);
    }
    let hits = receiver.wait_for("/msg", N, 30).await;
    assert_eq!(hits.len(), N, "every message delivered");
    receiver.wait_for("/all", N, 10).await;
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for path in ["/msg", "/all"] {
        let mut per_event: BTreeMap<i64, usize> = BTreeMap::new();
        let mut deliveries = std::collections::BTreeSet::new();
        for hit in receiver.hits(path) {
            let body = hit.json();
            *per_event.entry(body["event"]["id"].as_i64().unwrap()).or_default() += 1;
            assert!(
                deliveries.insert(body["delivery_id"].as_i64().unwrap()),
                "delivery ids are unique"
            );
        }
        assert!(
            per_event.values().all(|n| *n == 1),
            "{path}: an event delivered twice: {per_event:?}"
        );
        assert!(per_event.len() >= N, "{path}: {} events", per_event.len());
    }
    let mut subjects: Vec<i64> = receiver
        .hits("/msg")
        .iter()
        .map(|h| h.json()["event"]["subject_id"].as_i64().unwrap())
        .collect();
    subjects.sort();
    sent.sort();
    assert_eq!(subjects, sent, "each message once");
    let status = webhook_status(&processes[1], id).await;
    assert_eq!(status["health"]["delivered"], N as i64, "{status}");
    assert_eq!(status["health"]["pending"], 0);
    for p in processes {
        p.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_deliveries_retry_at_60_300_900_seconds_then_become_dead_letters() {
    let receiver = Receiver::start().await;
    receiver.answer("/hook", 500);
    let relay = relay_allowing_loopback();
    let ops = relay.agent("ops", &["webhooks"]).await;
    let bob = relay.agent("bob", &[]).await;
    let id = register(
        &ops,
        &receiver.url("/hook"),
        &["message", "webhook.delivery_failed"],
        None,
    )
    .await;
    // A second webhook hears about the failure.
    let watcher = register(&ops, &receiver.url("/failures"), &["webhook.delivery_failed"], None).await;
    send(&bob, "ops", "hello").await;
    let quiet = Duration::from_millis(1_500);
    let attempts = |n: usize| {
        let r = &receiver;
        async move { r.wait_for("/hook", n, 10).await.len() }
    };
    // The next attempt is due a delay after the relay *recorded* the
    // failure, which follows the receiver's answer by a moment: advancing
    // the clock before that would move the schedule with it.
    let recorded = |previous: Value| {
        let ops = &ops;
        async move {
            let s = wait_status(ops, id, 10, |s| {
                s["health"]["last_status"] == 500 && s["health"]["last_attempt_at"] != previous
            })
            .await;
            assert_ne!(
                s["health"]["last_attempt_at"], previous,
                "the failure was never recorded: {s}"
            );
            s["health"]["last_attempt_at"].clone()
        }
    };
    assert_eq!(attempts(1).await, 1, "first attempt");
    let mut last = recorded(Value::Null).await;
    for (delay_s, nth) in [(60, 2), (300, 3), (900, 4)] {
        // Not a moment early...
        relay.advance_clock((delay_s - 5) * 1000);
        tokio::time::sleep(quiet).await;
        assert_eq!(
            receiver.hits("/hook").len(),
            nth - 1,
            "no attempt {nth} before +{delay_s} s"
        );
        // ...and soon once due.
        relay.advance_clock(5_000);
        assert_eq!(attempts(nth).await, nth, "attempt {nth} at +{delay_s} s");
        if nth < 4 {
            last = recorded(last).await;
        }
    }
    let hits = receiver.hits("/hook");
    let bodies: Vec<Value> = hits.iter().map(Hit::json).collect();
    assert_eq!(
        bodies
            .iter()
            .map(|b| b["attempt"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(
        bodies.iter().all(|b| b["delivery_id"] == bodies[0]["delivery_id"]),
        "one delivery, four attempts"
    );
    let stamps: Vec<i64> = hits
        .iter()
        .map(|h| h.header("x-relay-timestamp").unwrap().parse().unwrap())
        .collect();
    for (pair, gap) in stamps.windows(2).zip([60, 300, 900]) {
        assert!(pair[1] - pair[0] >= gap - 1, "timestamps {stamps:?}");
    }

    let status = wait_status(&ops, id, 10, |s| s["health"]["dead"] == 1).await;
    assert_eq!(status["health"]["dead"], 1, "{status}");
    assert_eq!(status["health"]["pending"], 0);
    let dead = &status["dead_letters"][0];
    assert_eq!(dead["attempts"], 4);
    assert_eq!(dead["last_status"], 500);
    assert_eq!(dead["event_kind"], "message");
    assert_eq!(dead["last_error"], "HTTP 500");

    // The owner hears of it through the outbox, and so does the other
    // webhook — but never the failing webhook itself.
    let failures = receiver.wait_for("/failures", 1, 10).await;
    assert_eq!(failures.len(), 1);
    let event = &failures[0].json()["event"];
    assert_eq!(event["kind"], "webhook.delivery_failed");
    assert_eq!(event["subject_id"], id);
    assert_eq!(event["target"], "ops");
    tokio::time::sleep(quiet).await;
    assert_eq!(receiver.hits("/hook").len(), 4, "no failure loop");
    let heard = wait_status(&ops, watcher, 5, |s| s["health"]["delivered"] == 1).await;
    assert_eq!(heard["health"]["delivered"], 1, "{heard}");

    let out = cli(&relay, &["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = crate::support::doctor_check(&report, "webhooks");
    assert_eq!(check["status"], "WARN", "{report}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("webhook {id} ")) && detail.contains("1 dead letter"),
        "{detail}"
    );
    ops.close().await;
    bob.close().await;
}

/// `relay --db DB ARGS...` with the installation's config and clock.
fn cli(relay: &Relay, args: &[&str]) -> Output {
    relay.command(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start().await;
    receiver.answer("/moved", 302);
    let relay = relay_allowing_loopback();
    let ops = relay.agent("ops", &["webhooks"]).await;
    let id = register(&ops, &receiver.url("/moved"), &["message"], None).await;
    send(&ops, "ops", "to myself").await;
    assert_eq!(receiver.wait_for("/moved", 1, 10).await.len(), 1);
    let status = wait_status(&ops, id, 5, |s| s["health"]["last_status"] == 302).await;
    assert_eq!(status["health"]["last_status"], 302, "{status}");
    assert!(
        status["health"]["last_error"]
            .as_str()
            .unwrap()
            .contains("not followed"),
        "{status}"
    );
    assert_eq!(status["health"]["pending"], 1, "retried later like any failure");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.hits("/elsewhere").is_empty(), "the redirect was not followed");
    ops.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_addresses_are_refused_at_registration_and_at_delivery() {
    let receiver = Receiver::start().await;
    // No allowlist.
    let relay = Relay::new();
    let ops = relay.agent("ops", &["webhooks"]).await;
    for url in [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://[fd12::1]/",
        "http://100.64.0.1/",
        "http://169.254.10.1/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://255.255.255.255/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://2130706433/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:7f00:1::]/",
    ] {
        let (code, body) = ops
            .call_err("register_webhook", json!({"url": url, "events": ["*"]}))
            .await;
        assert_eq!(code, "SSRF_REFUSED", "{url}: {body}");
    }
    // A name is only resolved at delivery: localhost registers, and every
    // attempt is refused and recorded, with nothing sent.
    let url = format!("http://localhost:{}/hook", receiver.addr.port());
    let id = register(&ops, &url, &["message"], None).await;
    send(&ops, "ops", "to myself").await;
    let status = wait_status(&ops, id, 10, |s| !s["health"]["last_error"].is_null()).await;
    let error = status["health"]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("SSRF_REFUSED") && error.contains("loopback"),
        "{status}"
    );
    assert_eq!(status["health"]["pending"], 1, "a refused attempt is a failed attempt");
    assert!(status["health"]["last_status"].is_null());
    assert!(receiver.hits("/hook").is_empty(), "nothing reached the receiver");
    ops.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_needs_the_capability_and_only_owners_or_admins_delete() {
    let relay = Relay::new();
    let ops = relay.agent("ops", &["webhooks"]).await;
    let other = relay.agent("other", &["webhooks"]).await;
    let plain = relay.agent("plain", &[]).await;
    let admin = relay.agent("root", &["admin"]).await;
    let url = "https://hooks.example.com/relay";
    let (code, _) = plain
        .call_err("register_webhook", json!({"url": url, "events": ["message"]}))
        .await;
    assert_eq!(code, "CAP_DENIED");
    for (args, needle) in [
        (json!({"url": url, "events": ["mesage"]}), "event kind"),
        (json!({"url": url, "events": []}), "events is empty"),
        (json!({"url": "ftp://example.com/", "events": ["*"]}), "scheme"),
        (json!({"url": "https://u:p@example.com/", "events": ["*"]}), "password"),
        (json!({"url": url, "events": ["*"], "secret": "short"}), "secret"),
        (
            json!({"url": url, "events": ["*"], "agent_filter": "no spaces"}),
            "agent name",
        ),
    ] {
        let (code, body) = ops.call_err("register_webhook", args.clone()).await;
        assert_eq!(code, "VALIDATION", "{args}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{args}: {body}");
    }
    // Subscribed to nothing that happens here: never delivered.
    let id = register(&ops, url, &["webhook.delivery_failed"], Some("0123456789abcdef")).await;
    assert_eq!(
        other.call("list_webhooks", json!({})).await["count"],
        0,
        "others' webhooks are not listed"
    );
    assert_eq!(
        admin.call("list_webhooks", json!({})).await["count"],
        1,
        "an admin sees all"
    );
    let (code, _) = other.call_err("delete_webhook", json!({"webhook_id": id})).await;
    assert_eq!(code, "NOT_PARTY");
    let (code, _) = ops.call_err("delete_webhook", json!({"webhook_id": id + 100})).await;
    assert_eq!(code, "NOT_FOUND");
    assert_eq!(
        admin.call("delete_webhook", json!({"webhook_id": id})).await["deleted"],
        1
    );
    let (code, _) = ops.call_err("delete_webhook", json!({"webhook_id": id})).await;
    assert_eq!(code, "NOT_FOUND");
    assert_eq!(ops.call("list_webhooks", json!({})).await["count"], 0);

    let audit = relay.store().audit_log(100).unwrap();
    let rows = |tool: &str| -> Vec<String> {
        audit
            .iter()
            .filter(|a| a.tool == tool)
            .map(|a| format!("{}:{}", a.agent.clone().unwrap_or_default(), a.outcome))
            .collect()
    };
    let registered = rows("register_webhook");
    assert!(
        registered.contains(&"ops:ok".to_owned()) && registered.contains(&"plain:CAP_DENIED".to_owned()),
        "{registered:?}"
    );
    let deleted = rows("delete_webhook");
    assert!(
        deleted.contains(&"root:ok".to_owned())
            && deleted.contains(&"other:NOT_PARTY".to_owned())
            && deleted.contains(&"ops:NOT_FOUND".to_owned()),
        "{deleted:?}"
    );
    for c in [ops, other, plain, admin] {
        c.close().await;
    }
}

fn keyring_file(dir: &Path) -> PathBuf {
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let path = dir.join("keyring.json");
    std::fs::write(&path, json!({"current": "k1", "keys": {"k1": key}}).to_string()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn store_bytes(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let mut path = db.to_path_buf().into_os_string();
        path.push(suffix);
        if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn under_a_keyring_the_secret_never_reaches_the_store_file() {
    let receiver = Receiver::start().await;
    let relay = relay_allowing_loopback();
    let ring = keyring_file(relay.dir.path());
    let env = [("RELAY_ENCRYPTION_KEYRING_PATH", ring.to_str().unwrap())];
    let args = |name: &str| {
        vec![
            "--agent".to_owned(),
            name.to_owned(),
            "--capabilities".to_owned(),
            "webhooks".to_owned(),
        ]
    };
    let ops = relay.serve_env(&args("ops"), &env).await;
    let secret = "NEVER-ON-DISK-secret-4f1c9a7e";
    register(&ops, &receiver.url("/hook"), &["message"], Some(secret)).await;
    send(&ops, "ops", "ping").await;
    let hits = receiver.wait_for("/hook", 1, 10).await;
    assert_eq!(hits.len(), 1);
    verify(secret, &hits[0]);
    let bytes = store_bytes(&relay.db);
    assert!(!bytes.is_empty());
    let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
    assert!(!found, "the secret is sealed in the store and its WAL");
    let store = relay.store_with_keyring(&ring);
    let counts = store.key_counts(relay::crypto::Field::WebhookSecret).unwrap();
    assert_eq!(
        (counts.plain, counts.by_key.get("k1").copied()),
        (0, Some(1)),
        "{counts:?}"
    );
    ops.close().await;
}
