//! End-to-end benchmark of `relay serve` over stdio, driven with raw
//! JSON-RPC lines so the client adds as little as possible.
//!
//! Run: `cargo bench --bench relay_bench` (release build, the store on
//! the temp dir's disk, `synchronous=FULL`). Options via env:
//! `RELAY_BENCH_CALLS` (sequential calls, default 10000),
//! `RELAY_BENCH_PIPELINED` (default 20000), `RELAY_BENCH_STARTS` (default 30),
//! `RELAY_BENCH_BASELINE` (another `relay` binary, e.g. the previous
//! build: every MCP figure is measured for both in the same run, on fresh
//! stores side by side, and printed with the ratio).
//! Figures are reported in docs/PERFORMANCE.md.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RELAY: &str = env!("CARGO_BIN_EXE_relay");

/// What one binary measured, for the side-by-side table.
#[derive(Debug, Default, Clone)]
struct Figures {
    rows: Vec<(&'static str, f64, &'static str)>,
}

impl Figures {
    fn add(&mut self, name: &'static str, value: f64, unit: &'static str) {
        self.rows.push((name, value, unit));
    }
}

struct Session {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    fn spawn(bin: &str, db: &Path, agent: &str) -> Self {
        let mut child = Command::new(bin)
            .arg("--db")
            .arg(db)
            .args(["serve", "--agent", agent])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn relay");
        let stdin = Some(BufWriter::new(child.stdin.take().unwrap()));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdin, stdout }
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

    fn initialize(&mut self) {
        self.send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}));
        let r = self.recv();
        assert!(r["result"].is_object(), "{r}");
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU time of the server process so far.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which ends with ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let ticks = field(11) + field(12);
        Duration::from_secs_f64(ticks as f64 / 100.0)
    }

    fn finish(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

fn send_request(id: u64, to: &str, content: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "send_message", "arguments": {"to": to, "content": content}}})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either: both run the full benchmark unless RELAY_BENCH_QUICK.
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    let calls = if quick {
        200
    } else {
        env_or("RELAY_BENCH_CALLS", 10_000)
    };
    let pipelined = if quick {
        400
    } else {
        env_or("RELAY_BENCH_PIPELINED", 20_000)
    };
    let starts = if quick { 3 } else { env_or("RELAY_BENCH_STARTS", 30) };

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    println!("relay bench: {RELAY}");
    println!("store: {} (synchronous=FULL, WAL)", db.display());
    let baseline = std::env::var("RELAY_BENCH_BASELINE").ok();

    // 0. Baselines: the disk's commit rate and the store alone.
    {
        let conn = rusqlite::Connection::open(dir.path().join("baseline.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
        )
        .unwrap();
        let n = calls.min(5_000);
        let start = Instant::now();
        for _ in 0..n {
            conn.execute("INSERT INTO t (v) VALUES ('benchmark message')", [])
                .unwrap();
        }
        println!(
            "baseline: {:.0} single-row synchronous=FULL commits/s",
            n as f64 / start.elapsed().as_secs_f64()
        );

        let store = relay::store::Store::open(
            &dir.path().join("store-only.db"),
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
        )
        .unwrap();
        store.bind_agent("a", None, None, relay::store::Transport::Cli).unwrap();
        let caller = relay::store::Caller {
            agent: "a",
            transport: relay::store::Transport::Cli,
        };
        let start = Instant::now();
        for _ in 0..n {
            store
                .send_message(caller, "b", "benchmark message", relay::store::Priority::Normal, None)
                .unwrap();
        }
        println!(
            "store only: {:.0} send_message transactions/s",
            n as f64 / start.elapsed().as_secs_f64()
        );

        // Eight connections in eight threads: SQLite's write-lock handoff
        // without any MCP work in between.
        let path = dir.path().join("store-only.db");
        let per = n / 8;
        let start = Instant::now();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = relay::store::Store::open(
                        &path,
                        std::sync::Arc::new(relay::clock::SystemClock),
                        relay::store::Limits::default(),
                    )
                    .unwrap();
                    let name = format!("t{i}");
                    store
                        .bind_agent(&name, None, None, relay::store::Transport::Cli)
                        .unwrap();
                    let caller = relay::store::Caller {
                        agent: &name,
                        transport: relay::store::Transport::Cli,
                    };
                    for _ in 0..per {
                        store
                            .send_message(caller, "b", "benchmark message", relay::store::Priority::Normal, None)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        println!(
            "store only, 8 connections: {:.0} send_message transactions/s",
            (per * 8) as f64 / start.elapsed().as_secs_f64()
        );
    }

    let Some(baseline) = baseline else {
        measure(RELAY, dir.path(), "current", calls, pipelined, starts, quick);
        return;
    };
    // A, B, B, A: a drift of the shared disk over the run hits both alike;
    // each row is the mean of a binary's two runs.
    let mut runs = Vec::new();
    for (i, (label, bin)) in [("current", RELAY), ("baseline", baseline.as_str())]
        .into_iter()
        .chain([("baseline", baseline.as_str()), ("current", RELAY)])
        .enumerate()
    {
        println!("\nrun {} of 4: {label} ({bin})", i + 1);
        runs.push((
            label,
            measure(
                bin,
                dir.path(),
                &format!("{label}-{i}"),
                calls,
                pipelined,
                starts,
                quick,
            ),
        ));
    }
    let mean = |label: &str| -> Vec<(&'static str, f64, &'static str)> {
        let mine: Vec<&Figures> = runs.iter().filter(|(l, _)| *l == label).map(|(_, f)| f).collect();
        mine[0]
            .rows
            .iter()
            .zip(&mine[1].rows)
            .map(|((name, a, unit), (_, b, _))| (*name, (a + b) / 2.0, *unit))
            .collect()
    };
    println!("\n| measure | this build | baseline | ratio |\n|---|---|---|---|");
    for ((name, now, unit), (_, then, _)) in mean("current").iter().zip(&mean("baseline")) {
        println!("| {name} | {now:.1} {unit} | {then:.1} {unit} | {:.2}x |", now / then);
    }
}

/// Sections 1-4 for binary `bin` on a fresh store `<dir>/<label>.db`.
fn measure(bin: &str, dir: &Path, label: &str, calls: usize, pipelined: usize, starts: usize, quick: bool) -> Figures {
    let db = dir.join(format!("{label}.db"));
    let mut figures = Figures::default();
    // 1. Cold start: spawn -> initialize response; RSS after initialize.
    Session::spawn(bin, &db, "warmup").finish(); // create the store first
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for i in 0..starts {
        let t = Instant::now();
        let mut s = Session::spawn(bin, &db, &format!("start-{i}"));
        s.initialize();
        times.push(t.elapsed());
        rss.push(s.rss_kib());
        s.finish();
    }
    times.sort();
    rss.sort();
    println!(
        "cold start to initialize response: median {:.1} ms, p90 {:.1} ms ({starts} runs)",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9))
    );
    println!(
        "RSS after initialize: median {:.1} MiB",
        rss[rss.len() / 2] as f64 / 1024.0
    );
    figures.add("cold start, median", ms(percentile(&times, 0.5)), "ms");
    figures.add("RSS after initialize", rss[rss.len() / 2] as f64 / 1024.0, "MiB");

    // 2. Sequential send_message over one stdio connection.
    let mut s = Session::spawn(bin, &db, "seq-sender");
    s.initialize();
    let mut lat = Vec::with_capacity(calls);
    let cpu_before = s.cpu();
    let start = Instant::now();
    for i in 0..calls as u64 {
        let t = Instant::now();
        s.send(&send_request(i + 1, "seq-receiver", "benchmark message"));
        let r = s.recv();
        lat.push(t.elapsed());
        debug_assert_eq!(r["result"]["isError"], false);
    }
    let wall = start.elapsed();
    lat.sort();
    println!(
        "sequential send_message: {:.0} calls/s, p50 {:.3} ms, p99 {:.3} ms ({calls} calls)",
        calls as f64 / wall.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    figures.add("sequential send_message", calls as f64 / wall.as_secs_f64(), "calls/s");
    figures.add("sequential send_message p99", ms(percentile(&lat, 0.99)), "ms");
    println!(
        "server CPU per sequential call: {:.0} us; RSS after {calls} calls: {:.1} MiB",
        (s.cpu() - cpu_before).as_secs_f64() * 1e6 / calls as f64,
        s.rss_kib() as f64 / 1024.0
    );
    s.finish();

    // 3. Pipelined: a writer thread streams requests while we read replies.
    let mut s = Session::spawn(bin, &db, "pipe-sender");
    s.initialize();
    let mut stdin = s.stdin.take().unwrap();
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        for i in 0..pipelined as u64 {
            serde_json::to_writer(&mut stdin, &send_request(i + 1, "pipe-receiver", "benchmark message")).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
        stdin.flush().unwrap();
        stdin
    });
    let mut ok = 0;
    for _ in 0..pipelined {
        if s.recv()["result"]["isError"] == false {
            ok += 1;
        }
    }
    let wall = start.elapsed();
    assert_eq!(ok, pipelined);
    s.stdin = Some(writer.join().unwrap());
    println!(
        "pipelined send_message: {:.0} calls/s ({pipelined} calls)",
        pipelined as f64 / wall.as_secs_f64()
    );
    figures.add(
        "pipelined send_message",
        pipelined as f64 / wall.as_secs_f64(),
        "calls/s",
    );
    s.finish();

    // 3b. Sequential get_messages, one page of 10 at a time: the read, and
    // (since the at-least-once change) its delivery confirmation.
    let pages = (calls / 10).max(10);
    let mut r = Session::spawn(bin, &db, "page-reader");
    r.initialize();
    let mut sender = Session::spawn(bin, &db, "page-sender");
    sender.initialize();
    let mut stdin = sender.stdin.take().unwrap();
    for i in 0..(pages * 10) as u64 {
        serde_json::to_writer(&mut stdin, &send_request(i + 1, "page-reader", "benchmark message")).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    stdin.flush().unwrap();
    for _ in 0..pages * 10 {
        sender.recv();
    }
    sender.stdin = Some(stdin);
    sender.finish();
    let start = Instant::now();
    let mut read = 0;
    for i in 0..pages as u64 {
        r.send(&json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                       "params": {"name": "get_messages", "arguments": {"limit": 10}}}));
        read += r.recv()["result"]["structuredContent"]["messages"]
            .as_array()
            .map_or(0, Vec::len);
    }
    let wall = start.elapsed();
    assert_eq!(read, pages * 10, "every page full, none repeated");
    println!(
        "sequential get_messages (10 per page): {:.0} pages/s ({pages} pages)",
        pages as f64 / wall.as_secs_f64()
    );
    figures.add(
        "sequential get_messages, 10/page",
        pages as f64 / wall.as_secs_f64(),
        "pages/s",
    );
    r.finish();

    // 4. 8 processes x 300 messages to one receiver, exactly once.
    for per in [300usize, if quick { 300 } else { 2_000 }] {
        let procs = 8;
        let mut sessions: Vec<Session> = (0..procs)
            .map(|i| Session::spawn(bin, &db, &format!("multi-{per}-{i}")))
            .collect();
        for s in &mut sessions {
            s.initialize();
        }
        let receiver = format!("multi-receiver-{per}");
        let start = Instant::now();
        let handles: Vec<_> = sessions
            .into_iter()
            .enumerate()
            .map(|(p, mut s)| {
                let receiver = receiver.clone();
                std::thread::spawn(move || {
                    for n in 0..per {
                        s.send(&send_request(n as u64 + 1, &receiver, &format!("{p}:{n}")));
                        assert_eq!(s.recv()["result"]["isError"], false);
                    }
                    s.finish();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let wall = start.elapsed();
        let total = procs * per;
        let mut r = Session::spawn(bin, &db, &receiver);
        r.initialize();
        let mut seen = std::collections::HashSet::new();
        let mut id = 1;
        loop {
            r.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                           "params": {"name": "get_messages", "arguments": {"limit": 100}}}));
            id += 1;
            let page = r.recv();
            let msgs = page["result"]["structuredContent"]["messages"]
                .as_array()
                .unwrap()
                .clone();
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                assert!(seen.insert(m["content"].as_str().unwrap().to_owned()), "duplicate");
            }
        }
        r.finish();
        assert_eq!(seen.len(), total, "lost messages");
        println!(
            "{procs} processes x {per} messages: {total} delivered exactly once, {:.0} msgs/s aggregate",
            total as f64 / wall.as_secs_f64()
        );
        figures.add(
            if per == 300 {
                "8 processes x 300"
            } else {
                "8 processes x 2000"
            },
            total as f64 / wall.as_secs_f64(),
            "msgs/s",
        );
    }
    figures
}
