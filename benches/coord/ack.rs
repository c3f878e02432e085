//! Issue 13 target: sending with `ack_required` costs ≤ 10% over a plain
//! send, and a plain send is no slower than before migration 6.
//!
//! At the tool level, through the real binary: one `relay serve --agent
//! alice` over stdio (raw JSON-RPC lines, one call at a time, the store
//! with `synchronous=FULL` on the temp dir's disk) sends to `bob`,
//! alternating plain `send_message` and `send_message {ack_required:
//! true, ack_deadline_seconds: 3600}` call by call, so both kinds share the
//! same store, the same session and the same disk weather. With
//! `RELAY_BENCH_BASELINE=/path/to/relay` (e.g. a build of main before
//! issue 13), a third session of that binary on a store of its own sends
//! plain messages in the same rotation: "plain vs before".
//!
//! Then the same comparison through the store API in-process (the
//! transaction alone, no JSON-RPC), and what the sender and the recipient
//! pay later: `acknowledge_message`, and `get_outstanding` with every ack
//! message of the run outstanding.
//!
//! Env: `RELAY_BENCH_QUICK` (300 calls per kind), `RELAY_BENCH_ACK_CALLS`
//! (default 3000 per kind), `RELAY_BENCH_BASELINE`.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RELAY: &str = env!("CARGO_BIN_EXE_relay");

/// One `relay serve --agent NAME` child spoken to line by line.
struct Session {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Session {
    fn start(bin: &str, db: &Path, agent: &str) -> Self {
        let mut child = Command::new(bin)
            .arg("--db")
            .arg(db)
            .args(["serve", "--agent", agent])
            .env_remove("RELAY_TEST_CLOCK_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn relay serve");
        let stdin = Some(BufWriter::new(child.stdin.take().unwrap()));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Self {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        s.send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "ack-bench", "version": "0"}}}));
        let r = s.recv();
        assert!(r["result"].is_object(), "{r}");
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, v: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        serde_json::to_writer(&mut *stdin, v).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    /// One `tools/call`; returns its `structuredContent` and how long the
    /// round trip took.
    fn call(&mut self, tool: &str, args: &Value) -> (Value, Duration) {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                             "params": {"name": tool, "arguments": args}});
        let start = Instant::now();
        self.send(&request);
        let r = self.recv();
        let took = start.elapsed();
        let result = &r["result"];
        assert_eq!(result["isError"], false, "{tool} failed: {r}");
        (result["structuredContent"].clone(), took)
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// p50, p99 and mean of `samples`, in milliseconds.
fn stats(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64 * 1000.0;
    (at(0.50), at(0.99), mean)
}

fn row(label: &str, s: (f64, f64, f64)) {
    println!(
        "  {label:<46} p50 {:>7.3} ms   p99 {:>7.3} ms   mean {:>7.3} ms",
        s.0, s.1, s.2
    );
}

fn ratio(label: &str, a: (f64, f64, f64), b: (f64, f64, f64)) -> f64 {
    let r = a.0 / b.0;
    println!(
        "  {label:<46} p50 {:>6.3}x     p99 {:>6.3}x      mean {:>6.3}x",
        r,
        a.1 / b.1,
        a.2 / b.2
    );
    r
}

/// A fresh store under `dir` with `bob` and `alice` registered, and a
/// session of `bin` bound to alice.
fn sender(bin: &str, dir: &Path, name: &str) -> Session {
    let db = dir.join(name).join("relay.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    Session::start(bin, &db, "bob").finish();
    Session::start(bin, &db, "alice")
}

pub fn run() {
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    let calls: usize = if quick {
        300
    } else {
        std::env::var("RELAY_BENCH_ACK_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000)
    };
    let dir = tempfile::tempdir().unwrap();
    println!("coord_bench ack: {calls} sends per kind, alternating, one stdio session each ({RELAY})");
    println!("  store: {} (synchronous=FULL, WAL)", dir.path().display());

    let plain_args = json!({"to": "bob", "content": "benchmark message: please look at the failing test"});
    let mut ack_args = plain_args.clone();
    ack_args["ack_required"] = json!(true);
    ack_args["ack_deadline_seconds"] = json!(3600);

    let mut alice = sender(RELAY, dir.path(), "current");
    let baseline = std::env::var("RELAY_BENCH_BASELINE").ok();
    let mut before = baseline.as_deref().map(|bin| {
        println!("  baseline: {bin} (plain sends on a store of its own)");
        sender(bin, dir.path(), "baseline")
    });
    // Warm up page cache and statement caches.
    for _ in 0..50.min(calls) {
        alice.call("send_message", &plain_args);
        alice.call("send_message", &ack_args);
        if let Some(b) = before.as_mut() {
            b.call("send_message", &plain_args);
        }
    }
    let (mut plain, mut acked, mut old) = (Vec::new(), Vec::new(), Vec::new());
    let mut ack_ids = Vec::with_capacity(calls);
    for i in 0..calls {
        // Rotate who goes first so neither kind always follows the other.
        for k in 0..3 {
            match (i + k) % 3 {
                0 => plain.push(alice.call("send_message", &plain_args).1),
                1 => {
                    let (sent, took) = alice.call("send_message", &ack_args);
                    ack_ids.push(sent["message_id"].as_i64().unwrap());
                    acked.push(took);
                }
                _ => {
                    if let Some(b) = before.as_mut() {
                        old.push(b.call("send_message", &plain_args).1);
                    }
                }
            }
        }
    }
    println!("tool level (stdio JSON-RPC round trip, one call at a time):");
    let plain_s = stats(&mut plain);
    let ack_s = stats(&mut acked);
    row("send_message (plain)", plain_s);
    row("send_message (ack_required + deadline)", ack_s);
    let tool_ratio = ratio("ack_required / plain", ack_s, plain_s);
    let mut plain_vs_before = None;
    if !old.is_empty() {
        let old_s = stats(&mut old);
        row("send_message (plain, baseline binary)", old_s);
        plain_vs_before = Some(ratio("plain / plain before", plain_s, old_s));
    }

    // What the recipient and the sender pay later.
    let outstanding = ack_ids.len() + 50.min(calls);
    let mut gets = Vec::new();
    for _ in 0..(calls / 10).max(20) {
        gets.push(alice.call("get_outstanding", &json!({})).1);
    }
    let get_s = stats(&mut gets);
    let mut bob = Session::start(RELAY, &dir.path().join("current/relay.db"), "bob");
    let mut acks = Vec::new();
    for id in ack_ids.iter().take((calls / 3).max(20)) {
        acks.push(bob.call("acknowledge_message", &json!({"message_id": id})).1);
    }
    let ack_call_s = stats(&mut acks);
    row(&format!("get_outstanding ({outstanding} outstanding, 20 shown)"), get_s);
    row("acknowledge_message", ack_call_s);
    bob.finish();
    alice.finish();
    if let Some(b) = before {
        b.finish();
    }

    // The transaction alone, in-process.
    let store = relay::store::Store::open(
        &dir.path().join("store-only.db"),
        std::sync::Arc::new(relay::clock::SystemClock),
        relay::store::Limits::default(),
    )
    .unwrap();
    store
        .bind_agent("alice", None, None, relay::store::Transport::Cli)
        .unwrap();
    store
        .bind_agent("bob", None, None, relay::store::Transport::Cli)
        .unwrap();
    let caller = relay::store::Caller {
        agent: "alice",
        transport: relay::store::Transport::Cli,
    };
    let ask = Some(relay::store::acks::AckRequest {
        deadline_seconds: Some(3600),
    });
    let text = plain_args["content"].as_str().unwrap();
    let (mut plain, mut acked) = (Vec::new(), Vec::new());
    for i in 0..calls + 50 {
        for k in 0..2 {
            let with_ack = (i + k) % 2 == 1;
            let start = Instant::now();
            store
                .send_message_with(
                    caller,
                    "bob",
                    text,
                    relay::store::Priority::Normal,
                    None,
                    if with_ack { ask } else { None },
                )
                .unwrap();
            let took = start.elapsed();
            if i >= 50 {
                if with_ack { &mut acked } else { &mut plain }.push(took);
            }
        }
    }
    println!("store level (Store::send_message_with, one transaction with its fsync):");
    let plain_s = stats(&mut plain);
    let ack_s = stats(&mut acked);
    row("send (plain)", plain_s);
    row("send (ack_required + deadline)", ack_s);
    let store_ratio = ratio("ack_required / plain", ack_s, plain_s);

    println!(
        "target: ack_required send ≤ 1.10 × plain send (tool level, p50): {} ({tool_ratio:.3}x; store level {store_ratio:.3}x)",
        if tool_ratio <= 1.10 { "met" } else { "NOT met" }
    );
    match plain_vs_before {
        Some(r) => println!(
            "target: plain send no slower than before (tool level, p50): {} ({r:.3}x)",
            if r <= 1.05 { "met (within 5% noise)" } else { "NOT met" }
        ),
        None => println!("plain send vs before: set RELAY_BENCH_BASELINE to a relay binary built before issue 13"),
    }
}
