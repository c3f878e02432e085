//! Task benchmarks (issue #3): full post/accept/complete round trips over
//! one MCP stdio connection, and 1,000 tasks through 4 `relay worker`
//! processes with a no-op shell command.
//!
//! Run: `TMPDIR=$PWD/target cargo bench --bench task_bench`.
//! Env: `RELAY_BENCH_ROUND_TRIPS` (default 3000), `RELAY_BENCH_TASKS`
//! (default 1000), `RELAY_BENCH_TASK_RATE` (posts/s, default 100).

use std::collections::HashMap;
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
    fn spawn(db: &Path, agent: &str, caps: &str) -> Self {
        let mut child = Command::new(RELAY)
            .arg("--db")
            .arg(db)
            .args(["serve", "--agent", agent, "--capabilities", caps])
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
        s.flush();
        assert!(s.recv()["result"].is_object());
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s.flush();
        s
    }

    fn send(&mut self, v: &Value) {
        serde_json::to_writer(&mut self.stdin, v).unwrap();
        self.stdin.write_all(b"\n").unwrap();
    }

    fn flush(&mut self) {
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    fn finish(mut self) {
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

fn call(id: u64, tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

fn structured(v: &Value) -> &Value {
    assert_eq!(v["result"]["isError"], false, "{v}");
    &v["result"]["structuredContent"]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Post → accept → complete for `n` tasks over one connection, with up to
/// `window` tasks in flight; each step uses the previous step's reply.
fn round_trips(db: &Path, n: usize, window: usize) -> f64 {
    let mut s = Session::spawn(db, "rt", "tasks");
    #[derive(Clone, Copy)]
    enum Step {
        Post,
        Accept(i64),
        Complete,
    }
    let mut pending: HashMap<u64, Step> = HashMap::new();
    let mut next_id = 1u64;
    let (mut posted, mut done) = (0usize, 0usize);
    let start = Instant::now();
    while done < n {
        while posted < n && pending.len() < window {
            s.send(&call(
                next_id,
                "post_task",
                json!({"to": "rt", "title": "rt", "description": "noop"}),
            ));
            pending.insert(next_id, Step::Post);
            next_id += 1;
            posted += 1;
        }
        s.flush();
        let reply = s.recv();
        let step = pending.remove(&reply["id"].as_u64().unwrap()).expect("known id");
        let body = structured(&reply);
        match step {
            Step::Post => {
                let task = body["task"]["id"].as_i64().unwrap();
                s.send(&call(
                    next_id,
                    "update_task",
                    json!({"task_id": task, "action": "accept"}),
                ));
                pending.insert(next_id, Step::Accept(task));
            }
            Step::Accept(task) => {
                let token = body["task"]["fencing_token"].as_i64().unwrap();
                let args = json!({"task_id": task, "action": "complete", "result": "ok", "fencing_token": token});
                s.send(&call(next_id, "update_task", args));
                pending.insert(next_id, Step::Complete);
            }
            Step::Complete => {
                assert_eq!(body["task"]["state"], "completed");
                done += 1;
            }
        }
        next_id += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    s.finish();
    rate
}

fn main() {
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    let trips = if quick {
        200
    } else {
        env_or("RELAY_BENCH_ROUND_TRIPS", 3000)
    };
    let tasks = if quick { 100 } else { env_or("RELAY_BENCH_TASKS", 1000) };
    let rate = env_or("RELAY_BENCH_TASK_RATE", 100);
    let dir = tempfile::tempdir().unwrap();
    println!("relay task bench: {RELAY}");

    // 0. The store alone: round trips in group commits of 64, in-process.
    {
        use relay::store::tasks::{Action, NewTask, Update};
        let store = relay::store::Store::open(
            &dir.path().join("store-only.db"),
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
        )
        .unwrap();
        store
            .bind_agent("s", None, Some(&["tasks".to_owned()]), relay::store::Transport::Cli)
            .unwrap();
        let c = relay::store::Caller {
            agent: "s",
            transport: relay::store::Transport::Cli,
        };
        let n = 3000;
        let start = Instant::now();
        for _ in 0..n / 64 {
            let (_, committed) = store.batch(|| {
                for _ in 0..64 {
                    let new = NewTask {
                        to: Some("s".into()),
                        title: "t".into(),
                        description: "noop".into(),
                        ..Default::default()
                    };
                    let t = store.post_task(c, &new).unwrap().task;
                    let t = store.update_task(c, t.id, Action::Accept, &Update::default()).unwrap();
                    let done = Update {
                        result: Some("ok".into()),
                        fencing_token: Some(t.fencing_token),
                        ..Default::default()
                    };
                    store.update_task(c, t.id, Action::Complete, &done).unwrap();
                }
                ((), true)
            });
            committed.unwrap();
        }
        println!(
            "store only, group commits of 64: {:.0} round trips/s",
            (n / 64 * 64) as f64 / start.elapsed().as_secs_f64()
        );
    }

    // 1. Round trips over one stdio connection.
    let db = dir.path().join("trips.db");
    let sequential = round_trips(&db, trips.min(1000), 1);
    println!("post/accept/complete over MCP, one at a time: {sequential:.0} round trips/s");
    let pipelined = round_trips(&db, trips, 64);
    println!("post/accept/complete over MCP, 64 in flight: {pipelined:.0} round trips/s ({trips} tasks)");

    // 2. 1,000 tasks routed by capability to 4 workers running `true`.
    let db = dir.path().join("workers.db");
    let mut boss = Session::spawn(&db, "boss", "tasks");
    let mut workers: Vec<Child> = (0..4)
        .map(|i| {
            Command::new(RELAY)
                .arg("--db")
                .arg(&db)
                .args([
                    "worker",
                    "--agent",
                    &format!("bench-worker-{i}"),
                    "--lease-seconds",
                    "60",
                    "--",
                    "true",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn worker")
        })
        .collect();
    // Wait until all four have registered.
    let mut id = 1u64;
    loop {
        boss.send(&call(id, "discover_agents", json!({"capability": "tasks"})));
        boss.flush();
        id += 1;
        if structured(&boss.recv())["count"].as_u64().unwrap() >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut next = Instant::now();
    for n in 0..tasks {
        boss.send(&call(
            id,
            "post_task",
            json!({"required_capabilities": ["tasks"], "title": format!("t{n}"), "description": "noop"}),
        ));
        boss.flush();
        id += 1;
        assert!(structured(&boss.recv())["task"]["id"].is_i64());
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open: i64 = conn
            .query_row(
                "SELECT count(*) FROM tasks WHERE state NOT IN ('completed', 'failed')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} tasks never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = start.elapsed();
    for w in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    boss.finish();

    let completed: i64 = conn
        .query_row(
            "SELECT count(*) FROM tasks WHERE state = 'completed' AND attempts = 0 AND fencing_token = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let completes: i64 = conn
        .query_row("SELECT count(*) FROM task_events WHERE action = 'complete'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let per_worker: Vec<i64> = conn
        .prepare("SELECT count(*) FROM tasks GROUP BY assignee ORDER BY assignee")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        completed as usize, tasks,
        "not every task completed exactly once on its first claim"
    );
    assert_eq!(completes as usize, tasks, "a task was completed twice");
    let mut latency: Vec<f64> = conn
        .prepare("SELECT finished_at - created_at FROM tasks")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|v| v.unwrap() as f64)
        .collect();
    latency.sort_by(f64::total_cmp);
    // The executor's own run time: spawning `true` and waiting for it.
    let mut exec: Vec<f64> = (0..100)
        .map(|_| {
            let t = Instant::now();
            Command::new("true").status().unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    exec.sort_by(f64::total_cmp);
    let exec_p50 = percentile(&exec, 0.5);
    println!(
        "{tasks} tasks through 4 workers (posted at {rate}/s, routed by capability: {per_worker:?}): all completed exactly once in {:.1}s",
        wall.as_secs_f64()
    );
    println!(
        "post -> completed: p50 {:.1} ms, p99 {:.1} ms; executor (`true`) run time p50 {exec_p50:.1} ms; p50 excluding it {:.1} ms",
        percentile(&latency, 0.5),
        percentile(&latency, 0.99),
        percentile(&latency, 0.5) - exec_p50
    );
}
