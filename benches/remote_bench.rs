//! Remote worker benchmark (issue 11): 1,000 no-op tasks through 4
//! `relay worker --hub` processes that reach the store only through the
//! hub over MCP Streamable HTTP, all exactly once; post → completed
//! latency (p50 target ≤ 50 ms) and throughput, beside a same-run
//! baseline of 4 local `relay worker` processes on the hub's store.
//!
//! Each phase posts the tasks through one MCP session with the hub, to
//! the 4 workers' agents in turn, at `RELAY_BENCH_TASK_RATE` posts/s
//! (latency: tasks do not queue), then again all at once, 16 posts in
//! flight (throughput). Latency is the store's `finished_at -
//! created_at` (the hub's clock, milliseconds).
//!
//! Run: `TMPDIR=$PWD/target cargo bench --bench remote_bench` (release),
//! or `cargo test --bench remote_bench` (debug build, what the figures in
//! the issue notes used).
//! Env: `RELAY_BENCH_TASKS` (default 1000), `RELAY_BENCH_TASK_RATE`
//! (posts/s, default 100).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use relay::remote::Endpoints;
use relay::remote::session::HubSession;
use serde_json::json;

const RELAY: &str = env!("CARGO_BIN_EXE_relay");
const WORKERS: usize = 4;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hub(db: &Path, config: &Path) -> (Reap, String) {
    let mut child = Command::new(RELAY)
        .env("RELAY_CONFIG", config)
        .env_remove("RELAY_HTTP_SECRET")
        .arg("--db")
        .arg(db)
        .args(["serve", "--transport", "http", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the hub");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("the hub's stderr").unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Reap(child), url)
}

fn credential(value: &str) -> relay::remote::Credential {
    relay::remote::Credential {
        value: relay::config::Secret::new(value),
        from: "bench".into(),
    }
}

async fn register(hub: &Endpoints, name: &str) -> String {
    let anon = HubSession::new(hub.clone(), None, None, None).unwrap();
    let out = anon
        .call("register_agent", json!({ "name": name, "capabilities": ["tasks"] }))
        .await
        .unwrap();
    anon.close().await;
    out["token"].as_str().unwrap().to_owned()
}

struct Phase {
    p50: f64,
    p99: f64,
    wall: f64,
}

/// Posts `tasks` tasks to `agents` in turn (at `rate`/s, or all at once
/// with 16 in flight when `rate` is 0) and waits until all completed;
/// checks exactly once; returns the latencies of this phase's tasks.
async fn phase(boss: &Arc<HubSession>, db: &Path, agents: &[String], tasks: usize, rate: usize, tag: &str) -> Phase {
    let conn = rusqlite::Connection::open(db).unwrap();
    let first: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) FROM tasks", [], |r| r.get(0))
        .unwrap();
    let start = Instant::now();
    if rate > 0 {
        let gap = Duration::from_secs_f64(1.0 / rate as f64);
        let mut next = Instant::now();
        for n in 0..tasks {
            let to = &agents[n % agents.len()];
            boss.call(
                "post_task",
                json!({ "to": to, "title": format!("{tag}{n}"), "description": "noop" }),
            )
            .await
            .unwrap();
            next += gap;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
    } else {
        use futures::StreamExt;
        futures::stream::iter(0..tasks)
            .map(|n| {
                let boss = boss.clone();
                let to = agents[n % agents.len()].clone();
                async move {
                    boss.call(
                        "post_task",
                        json!({ "to": to, "title": format!("{tag}{n}"), "description": "noop" }),
                    )
                    .await
                    .unwrap();
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let open: i64 = conn
            .query_row(
                "SELECT count(*) FROM tasks WHERE id > ?1 AND state NOT IN ('completed', 'failed')",
                [first],
                |r| r.get(0),
            )
            .unwrap();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{tag}: {open} tasks never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wall = start.elapsed().as_secs_f64();
    let once: i64 = conn
        .query_row(
            "SELECT count(*) FROM tasks WHERE id > ?1 AND state = 'completed' AND attempts = 0 AND fencing_token = 1",
            [first],
            |r| r.get(0),
        )
        .unwrap();
    let completes: i64 = conn
        .query_row(
            "SELECT count(*) FROM task_events WHERE task_id > ?1 AND action = 'complete'",
            [first],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        once as usize, tasks,
        "{tag}: not every task completed on its first claim"
    );
    assert_eq!(completes as usize, tasks, "{tag}: a task was completed twice");
    let mut latency: Vec<f64> = conn
        .prepare("SELECT finished_at - created_at FROM tasks WHERE id > ?1")
        .unwrap()
        .query_map([first], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|v| v.unwrap() as f64)
        .collect();
    latency.sort_by(f64::total_cmp);
    Phase {
        p50: percentile(&latency, 0.5),
        p99: percentile(&latency, 0.99),
        wall,
    }
}

fn workers(db: &Path, config: &Path, agents: &[String], hub: Option<(&str, &[String])>, dir: &Path) -> Vec<Reap> {
    agents
        .iter()
        .enumerate()
        .map(|(i, agent)| {
            let mut cmd = Command::new(RELAY);
            cmd.env("RELAY_CONFIG", config).env_remove("RELAY_HTTP_SECRET");
            match hub {
                Some((url, tokens)) => {
                    let token_file = dir.join(format!("{agent}.token"));
                    std::fs::write(&token_file, &tokens[i]).unwrap();
                    // No store on the remote side: a path that never exists.
                    cmd.arg("--db")
                        .arg(dir.join("no-store/relay.db"))
                        .args(["worker", "--agent", agent, "--hub", url, "--token-file"])
                        .arg(&token_file);
                }
                None => {
                    cmd.arg("--db").arg(db).args(["worker", "--agent", agent]);
                }
            }
            cmd.args(["--lease-seconds", "60", "--", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            Reap(cmd.spawn().expect("spawn a worker"))
        })
        .collect()
}

fn main() {
    let tasks = env_or("RELAY_BENCH_TASKS", 1000);
    let rate = env_or("RELAY_BENCH_TASK_RATE", 100);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let db = dir.path().join("hub.db");
    let (_hub, url) = hub(&db, &config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let endpoints = Endpoints::parse(&url).unwrap();
        let boss_token = register(&endpoints, "bench-boss").await;
        let boss = Arc::new(HubSession::new(endpoints.clone(), Some(credential(&boss_token)), None, None).unwrap());
        let remote: Vec<String> = (0..WORKERS).map(|i| format!("remote-w{i}")).collect();
        let mut tokens = Vec::new();
        for agent in &remote {
            tokens.push(register(&endpoints, agent).await);
        }
        let local: Vec<String> = (0..WORKERS).map(|i| format!("local-w{i}")).collect();
        // One tool call's round trip over the 2025-11-25 session, for scale.
        let mut calls: Vec<f64> = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            boss.call(
                "get_tasks",
                json!({ "role": "assigned", "status": "posted", "limit": 100 }),
            )
            .await
            .unwrap();
            calls.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        calls.sort_by(f64::total_cmp);
        println!(
            "one tool call (get_tasks) over HTTP: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&calls, 0.5),
            percentile(&calls, 0.99)
        );
        if std::env::var_os("RELAY_BENCH_PROBE_ONLY").is_some() {
            return;
        }

        let mut results = Vec::new();
        for (name, agents, hub) in [
            (
                "remote (relay worker --hub)",
                &remote,
                Some((url.as_str(), tokens.as_slice())),
            ),
            ("local (relay worker on the store)", &local, None),
        ] {
            let running = workers(&db, &config, agents, hub, dir.path());
            // Warm up: every worker bound and idle.
            phase(&boss, &db, agents, WORKERS * 2, 50, "warm").await;
            let paced = phase(&boss, &db, agents, tasks, rate, "paced").await;
            let burst = phase(&boss, &db, agents, tasks, 0, "burst").await;
            drop(running);
            println!(
                "{name}: {tasks} tasks posted at {rate}/s, all completed exactly once: post -> completed p50 {:.1} ms, \
                 p99 {:.1} ms ({:.0} tasks/s); {tasks} posted at once: {:.0} tasks/s, p50 {:.1} ms, p99 {:.1} ms",
                paced.p50,
                paced.p99,
                tasks as f64 / paced.wall,
                tasks as f64 / burst.wall,
                burst.p50,
                burst.p99,
            );
            results.push((paced, burst));
        }
        let (remote_paced, remote_burst) = &results[0];
        let (local_paced, local_burst) = &results[1];
        println!(
            "remote / local: p50 {:.2}x, p99 {:.2}x, burst throughput {:.2}x (target: remote p50 <= 50 ms: {})",
            remote_paced.p50 / local_paced.p50.max(0.1),
            remote_paced.p99 / local_paced.p99.max(0.1),
            local_burst.wall / remote_burst.wall,
            if remote_paced.p50 <= 50.0 { "met" } else { "MISSED" }
        );
        boss.close().await;
    });
    assert!(!dir.path().join("no-store").exists(), "a remote worker created a store");
}
