//! `reserve_paths` with 1,000 live reservations in the project (issue 13
//! target: p99 ≤ 2 ms).
//!
//! The project holds 1,000 live reservations by 50 agents across 100
//! crates (`crates/cK/src/fJ.rs`, `crates/cK/tests/**`, `crates/cK/docs/*.md`
//! shared, and ten globs that start with a wildcard, `*.notes-K`, which
//! every request must test). Each measured call reserves three paths of
//! one crate: a free file, a free glob and a file another agent holds (a
//! conflict, so a `reservation_conflict` event on the first hit), then the
//! caller releases them (not timed) so the count stays at 1,000. Every
//! call is a durable commit (`synchronous=FULL`: one fsync).
//!
//! Rows: through the store API; the same inside one group commit (the
//! rules' own cost, without the fsync); the same on an empty project
//! (the cost of the 1,000 is the difference); and through `relay serve`
//! over stdio.
//! `RELAY_BENCH_QUICK=1` for a short run; `RELAY_BENCH_RESERVE_CALLS`
//! sets the number of measured calls (default 2,000).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use relay::store::reservations::ReserveRequest;
use relay::store::{Caller, Limits, Store, Transport};
use serde_json::{Value, json};

const PROJECT: &str = "/work/bench-repo";
const AGENTS: usize = 50;
const CRATES: usize = 100;

fn caller(name: &str) -> Caller<'_> {
    Caller {
        agent: name,
        transport: Transport::Cli,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 0.50), percentile(&ms, 0.99));
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    println!(
        "coord_bench reserve: {name:<58} n={:<5} p50 {p50:.3} ms  p99 {p99:.3} ms  mean {mean:.3} ms  max {:.3} ms",
        ms.len(),
        ms[ms.len() - 1]
    );
    (p50, p99)
}

/// 1,000 live reservations by [`AGENTS`] agents over [`CRATES`] crates.
fn seed(store: &Store) {
    for a in 0..AGENTS {
        store
            .bind_agent(&format!("agent-{a}"), None, None, Transport::Cli)
            .unwrap();
    }
    let mut total = 0;
    for k in 0..CRATES {
        let owner = format!("agent-{}", k % AGENTS);
        let mut exclusive: Vec<String> = (0..8).map(|j| format!("crates/c{k}/src/f{j}.rs")).collect();
        exclusive.push(format!("crates/c{k}/tests/**"));
        let shared = if k < 10 {
            format!("*.notes-{k}")
        } else {
            format!("crates/c{k}/docs/*.md")
        };
        for (paths, exclusive) in [(exclusive, true), (vec![shared], false)] {
            let r = store
                .reserve_paths(
                    caller(&owner),
                    &ReserveRequest {
                        project: PROJECT.into(),
                        paths,
                        exclusive,
                        ttl_seconds: 86_400,
                        reason: format!("work on crate {k}"),
                        request_id: None,
                    },
                )
                .unwrap();
            assert!(r.conflicts.is_empty(), "{:?}", r.conflicts);
            total += r.granted.len();
        }
    }
    assert_eq!(total, 1000);
}

/// The three paths call `i` asks for, in crate `i % 100`.
fn asked(i: usize) -> Vec<String> {
    let k = i % CRATES;
    vec![
        format!("crates/c{k}/src/new{i}.rs"),
        format!("crates/c{k}/benches/**"),
        format!("crates/c{k}/src/f0.rs"),
    ]
}

/// The `i`-th call's request: exclusive, 600 s, by "bench".
fn request(i: usize) -> ReserveRequest {
    ReserveRequest {
        project: PROJECT.into(),
        paths: asked(i),
        exclusive: true,
        ttl_seconds: 600,
        reason: "bench".into(),
        request_id: None,
    }
}

fn through_store(db: &Path, seeded: bool, calls: usize) -> Vec<f64> {
    let store = Store::open(db, Arc::new(relay::clock::SystemClock), Limits::default()).unwrap();
    if seeded {
        seed(&store);
    }
    store.bind_agent("bench", None, None, Transport::Cli).unwrap();
    let mut ms = Vec::with_capacity(calls);
    for i in 0..calls + calls / 10 {
        let req = request(i);
        let start = Instant::now();
        let r = store.reserve_paths(caller("bench"), &req).unwrap();
        let took = start.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(r.granted.len(), if seeded { 2 } else { 3 });
        store.release_paths(caller("bench"), PROJECT, None).unwrap();
        // The first tenth warms the caches and is not counted.
        if i >= calls / 10 {
            ms.push(took);
        }
    }
    ms
}

/// The work of each call without its commit: `calls` calls inside one
/// group commit ([`Store::batch`]), each timed alone.
fn without_commit(db: &Path, calls: usize) -> Vec<f64> {
    let store = Store::open(db, Arc::new(relay::clock::SystemClock), Limits::default()).unwrap();
    let (ms, committed) = store.batch(|| {
        let mut ms = Vec::with_capacity(calls);
        for i in 0..calls + calls / 10 {
            let req = request(i);
            let start = Instant::now();
            let r = store.reserve_paths(caller("bench"), &req).unwrap();
            let took = start.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(r.granted.len(), 2);
            store.release_paths(caller("bench"), PROJECT, None).unwrap();
            if i >= calls / 10 {
                ms.push(took);
            }
        }
        (ms, true)
    });
    committed.unwrap();
    ms
}

fn through_stdio(db: &Path, calls: usize) -> Vec<f64> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--agent", "bench"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relay serve");
    let mut stdin = BufWriter::new(child.stdin.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        serde_json::to_writer(&mut stdin, &v).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let mut recv = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    };
    send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}));
    assert!(recv()["result"].is_object());
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let mut ms = Vec::with_capacity(calls);
    let mut id = 1u64;
    for i in 0..calls + calls / 10 {
        let args = json!({"project": PROJECT, "paths": asked(i), "ttl_seconds": 600, "reason": "bench"});
        let start = Instant::now();
        send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": "reserve_paths", "arguments": args}}));
        let reply = recv();
        let took = start.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(reply["result"]["isError"], false, "{reply}");
        assert_eq!(
            reply["result"]["structuredContent"]["granted"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        id += 1;
        send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": "release_paths", "arguments": {"project": PROJECT}}}));
        assert_eq!(recv()["result"]["isError"], false);
        id += 1;
        if i >= calls / 10 {
            ms.push(took);
        }
    }
    drop(stdin);
    let _ = child.wait();
    ms
}

pub fn run() {
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    let calls = std::env::var("RELAY_BENCH_RESERVE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 300 } else { 2_000 });
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "coord_bench reserve: {calls} calls each, store in {} (synchronous=FULL: one fsync per call)",
        dir.path().display()
    );
    let (_, p99) = report(
        "store API, 1,000 live reservations (target p99 <= 2 ms)",
        through_store(&dir.path().join("seeded.db"), true, calls),
    );
    report(
        "store API without the commit (fsync), 1,000 live",
        without_commit(&dir.path().join("seeded.db"), calls),
    );
    report(
        "store API, empty project (baseline)",
        through_store(&dir.path().join("empty.db"), false, calls),
    );
    let (_, stdio_p99) = report(
        "relay serve over stdio, 1,000 live reservations",
        through_stdio(&dir.path().join("seeded.db"), calls),
    );
    println!(
        "coord_bench reserve: target p99 <= 2 ms: store API {} ({p99:.3} ms), stdio {} ({stdio_p99:.3} ms)",
        if p99 <= 2.0 { "MET" } else { "MISSED" },
        if stdio_p99 <= 2.0 { "MET" } else { "MISSED" },
    );
}
