//! Webhook fan-out benchmark (issue 11 target): 1,000 events to a local
//! receiver with 4 `relay serve` processes on one store, delivered with
//! p99 ≤ 1 s from the event's commit to its arrival at the receiver, none
//! twice. The same run measures a baseline: plain reqwest POSTs of a
//! delivery-sized body to the same receiver.
//!
//! Run: `TMPDIR=$PWD/target cargo bench --bench webhook_bench`.
//! Env: `RELAY_BENCH_EVENTS` (default 1000), `RELAY_BENCH_PROCESSES`
//! (default 4).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const RELAY: &str = env!("CARGO_BIN_EXE_relay");

struct Session {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: i64,
}

impl Session {
    fn spawn(db: &Path, config: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(RELAY);
        for var in [
            "RELAY_AGENT",
            "RELAY_ROLE",
            "RELAY_CAPABILITIES",
            "RELAY_ENCRYPTION_KEYRING",
            "RELAY_ENCRYPTION_KEYRING_PATH",
            "RELAY_TEST_CLOCK_FILE",
            "RELAY_DB",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .env("RELAY_CONFIG", config)
            .arg("--db")
            .arg(db)
            .arg("serve")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn relay");
        let stdin = BufWriter::new(child.stdin.take().unwrap());
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Self {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        s.send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}));
        assert!(s.recv()["result"].is_object());
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: &Value) {
        serde_json::to_writer(&mut self.stdin, v).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    fn call(&mut self, tool: &str, args: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args}}));
        loop {
            let v = self.recv();
            if v["id"] == id {
                let result = &v["result"];
                assert_eq!(result["isError"], false, "{tool}: {v}");
                return result["structuredContent"].clone();
            }
        }
    }

    fn finish(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

/// What the receiver saw: per event id, each arrival's latency from the
/// event's `created_at`, in milliseconds.
#[derive(Default)]
struct Seen {
    latencies: HashMap<i64, Vec<f64>>,
    first: Option<f64>,
    last: f64,
}

async fn receive(
    axum::extract::State(seen): axum::extract::State<Arc<Mutex<Seen>>>,
    body: axum::body::Bytes,
) -> &'static str {
    let arrived = now_ms();
    if let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let (Some(id), Some(at)) = (v["event"]["id"].as_i64(), v["event"]["created_at"].as_str())
        && let Ok(t) = humantime::parse_rfc3339(at)
    {
        let created = t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
        let mut s = seen.lock().unwrap();
        s.latencies.entry(id).or_default().push(arrived - created);
        s.first.get_or_insert(created);
        s.last = arrived;
    }
    "ok"
}

/// Prints one phase's figures; returns whether it met the target.
fn report(s: &Seen, events: usize, processes: usize, burst: bool, send_secs: f64) -> bool {
    let delivered = s.latencies.len();
    let twice = s.latencies.values().filter(|v| v.len() > 1).count();
    let mut lat: Vec<f64> = s.latencies.values().map(|v| v[0]).collect();
    lat.sort_by(f64::total_cmp);
    let span = (s.last - s.first.unwrap_or(s.last)) / 1000.0;
    let mode = if burst {
        "burst (all calls written at once)"
    } else {
        "paced (one call at a time)"
    };
    println!("webhook fan-out, {mode}: {events} events, {processes} relay serve processes, one receiver on 127.0.0.1");
    println!("  sent in {send_secs:.2} s ({:.0} events/s)", events as f64 / send_secs);
    println!(
        "  delivered {delivered}/{events}, delivered twice: {twice}; {:.0} deliveries/s (first commit to last arrival {span:.2} s)",
        delivered as f64 / span.max(1e-9)
    );
    if !lat.is_empty() {
        println!(
            "  commit → receiver: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat[lat.len() - 1]
        );
    }
    let p99 = if lat.is_empty() {
        f64::INFINITY
    } else {
        percentile(&lat, 0.99)
    };
    delivered == events && twice == 0 && p99 <= 1000.0
}

fn main() {
    let events = env_or("RELAY_BENCH_EVENTS", 1000);
    let processes = env_or("RELAY_BENCH_PROCESSES", 4).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .route("/baseline", axum::routing::post(|| async { "ok" }))
        .with_state(seen.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Baseline: what one POST to this receiver costs from this machine.
    let body = json!({"version": 1, "delivery_id": 1, "webhook_id": 1, "attempt": 1, "event": {"id": 1,
        "kind": "message", "target": "p0", "actor": "p1", "subject_id": 1, "channel": null,
        "created_at": "2026-01-01T00:00:00.000Z"}})
    .to_string();
    let baseline: Vec<f64> = rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://{addr}/baseline");
        let mut out = Vec::new();
        for _ in 0..events {
            let t = Instant::now();
            let r = client.post(&url).body(body.clone()).send().await.unwrap();
            assert!(r.status().is_success());
            out.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out
    });

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[webhooks]\nallow = [\"127.0.0.1\"]\n").unwrap();
    let mut sessions: Vec<Session> = (0..processes)
        .map(|i| {
            let name = format!("p{i}");
            Session::spawn(&db, &config, &["--agent", &name, "--capabilities", "webhooks"])
        })
        .collect();
    sessions[0].call(
        "register_webhook",
        json!({"url": format!("http://{addr}/hook"), "events": ["message"], "secret": "bench-secret-0123456789"}),
    );
    // Let every dispatcher see the webhook and start its watch.
    std::thread::sleep(Duration::from_millis(1_500));

    let mut ok = true;
    for burst in [false, true] {
        *seen.lock().unwrap() = Seen::default();
        let started = Instant::now();
        if burst {
            // Every session writes all its calls at once, then reads the
            // answers: the events commit in a few group commits.
            std::thread::scope(|scope| {
                for (from, session) in sessions.iter_mut().enumerate() {
                    scope.spawn(move || {
                        let mine: Vec<usize> = (0..events).filter(|i| i % processes == from).collect();
                        for i in &mine {
                            let to = format!("p{}", (i + 1) % processes);
                            session.send(&json!({"jsonrpc": "2.0", "id": 1_000_000 + i, "method": "tools/call",
                                "params": {"name": "send_message", "arguments": {"to": to, "content": format!("burst {i}")}}}));
                        }
                        let mut answered = 0;
                        while answered < mine.len() {
                            if session.recv()["id"].as_u64().is_some_and(|id| id >= 1_000_000) {
                                answered += 1;
                            }
                        }
                    });
                }
            });
        } else {
            for i in 0..events {
                let from = i % processes;
                let to = format!("p{}", (i + 1) % processes);
                sessions[from].call("send_message", json!({"to": to, "content": format!("event {i}")}));
            }
        }
        let send_secs = started.elapsed().as_secs_f64();
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().latencies.len() < events && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Late duplicates would arrive now.
        std::thread::sleep(Duration::from_secs(2));
        ok &= report(&seen.lock().unwrap(), events, processes, burst, send_secs);
    }
    for s in sessions {
        s.finish();
    }
    let mut base = baseline;
    base.sort_by(f64::total_cmp);
    println!(
        "  baseline, one reqwest POST to the same receiver: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&base, 0.5),
        percentile(&base, 0.99),
        base[base.len() - 1]
    );
    println!(
        "  target (all delivered, none twice, p99 ≤ 1000 ms): {}",
        if ok { "met" } else { "MISSED" }
    );
    if !ok {
        std::process::exit(1);
    }
}
