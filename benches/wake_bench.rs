//! Wake-up benchmarks (issue #4): send in process A → notification in
//! process B, and the idle cost of many `relay serve` processes.
//!
//! Run: `TMPDIR=$PWD/target cargo bench --bench wake_bench`.
//! Env: `RELAY_BENCH_WAKES` (default 300), `RELAY_BENCH_IDLE` (processes,
//! default 20), `RELAY_BENCH_IDLE_SECONDS` (default 10).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RELAY: &str = env!("CARGO_BIN_EXE_relay");

struct Session {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    fn spawn(db: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(RELAY)
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
        let mut s = Self { child, stdin, stdout };
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

    /// CPU time (user + system) of the process so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Duration::from_secs_f64((field(11) + field(12)) as f64 / 100.0)
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

fn main() {
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    let wakes = if quick { 20 } else { env_or("RELAY_BENCH_WAKES", 300) };
    let idle = if quick { 3 } else { env_or("RELAY_BENCH_IDLE", 20) };
    let idle_secs = if quick {
        2
    } else {
        env_or("RELAY_BENCH_IDLE_SECONDS", 10)
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    println!("relay wake bench: {RELAY}");

    // 1. send in A -> notifications/claude/channel in B.
    let mut b = Session::spawn(&db, &["--agent", "bob", "--channel"]);
    let mut a = Session::spawn(&db, &["--agent", "alice"]);
    let mut from_send = Vec::new();
    let mut from_reply = Vec::new();
    for i in 0..wakes {
        let start = Instant::now();
        a.send(&json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                       "params": {"name": "send_message", "arguments": {"to": "bob", "content": "ping"}}}));
        assert_eq!(a.recv()["result"]["isError"], false);
        let replied = Instant::now();
        let note = b.recv();
        assert_eq!(note["method"], "notifications/claude/channel", "{note}");
        let now = Instant::now();
        from_send.push((now - start).as_secs_f64() * 1000.0);
        from_reply.push((now - replied).as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(5));
    }
    from_send.sort_by(f64::total_cmp);
    from_reply.sort_by(f64::total_cmp);
    println!(
        "send in A -> notification in B ({wakes} sends): p50 {:.2} ms, p99 {:.2} ms from the send request; \
         p50 {:.2} ms, p99 {:.2} ms from A's reply",
        percentile(&from_send, 0.5),
        percentile(&from_send, 0.99),
        percentile(&from_reply, 0.5),
        percentile(&from_reply, 0.99)
    );
    a.finish();
    b.finish();

    // 2. `relay hook post-tool-use` with 10,000 messages stored.
    {
        let store = relay::store::Store::open(
            &db,
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
        )
        .unwrap();
        store
            .bind_agent("hooked", None, None, relay::store::Transport::Cli)
            .unwrap();
        store
            .bind_agent("chatty", None, None, relay::store::Transport::Cli)
            .unwrap();
        let chatty = relay::store::Caller {
            agent: "chatty",
            transport: relay::store::Transport::Cli,
        };
        let stored = if quick { 500 } else { 10_000 };
        for chunk in 0..stored / 500 {
            let (_, committed) = store.batch(|| {
                for i in 0..500 {
                    let text = format!("message {}", chunk * 500 + i);
                    store
                        .send_message(chatty, "hooked", &text, relay::store::Priority::Normal, None)
                        .unwrap();
                }
                ((), true)
            });
            committed.unwrap();
        }
        drop(store);
        let run_hook = || {
            let start = Instant::now();
            let out = Command::new(RELAY)
                .arg("--db")
                .arg(&db)
                .args(["hook", "post-tool-use", "--agent", "hooked"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success());
            (start.elapsed().as_secs_f64() * 1000.0, out.stdout.len())
        };
        let (_, first_len) = run_hook(); // reports the 10,000 messages once
        assert!(first_len > 0);
        let mut times: Vec<f64> = (0..50).map(|_| run_hook().0).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "relay hook post-tool-use with {stored} messages stored: median {:.1} ms, p90 {:.1} ms (50 runs, nothing new)",
            percentile(&times, 0.5),
            percentile(&times, 0.9)
        );
    }

    // 3. Idle cost: N bound, initialized sessions doing nothing.
    let sessions: Vec<Session> = (0..idle)
        .map(|i| Session::spawn(&db, &["--agent", &format!("idle-{i}"), "--channel"]))
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let before: Duration = sessions.iter().map(Session::cpu).sum();
    std::thread::sleep(Duration::from_secs(idle_secs as u64));
    let after: Duration = sessions.iter().map(Session::cpu).sum();
    let share = (after - before).as_secs_f64() / idle_secs as f64 * 100.0;
    println!("{idle} idle relay serve processes over {idle_secs}s: {share:.2}% of one core together");
    for s in sessions {
        s.finish();
    }
}
