//! Dashboard benchmark (issue 12): the hub's live dashboard (`relay serve
//! --transport http`, `GET /`) driven in headless Chromium through
//! chromedriver (fantoccini), against the release binary, on a store with
//! 100,000 messages, 10,000 tasks in every state, a few dozen agents and
//! some channels. What it measures, each with a baseline from the same
//! run:
//! 1. first paint: for N cold navigations (a new tab each, the HTTP cache
//!    disabled over CDP), `first-contentful-paint` and the page's
//!    `relay:ready` mark (first data rendered), for the counts view and the
//!    operator view (the hub secret put in `sessionStorage` by a first
//!    navigation, then the dashboard loaded). Target ≤ 300 ms. Baselines:
//!    first paint of a tiny static asset of the same hub, and the raw
//!    `GET /api/dashboard/overview` and `/board` latency over reqwest;
//! 2. page weight: the bytes of the document and of every resource it
//!    loads (resource timing), cross-checked against the embedded asset
//!    files. Target ≤ 200 KiB;
//! 3. event → open page: with the operator view open and live, messages
//!    committed through the library (this process, a store connection of
//!    its own), paced; each commit's wall-clock time (right after the commit
//!    returns) against `window.__relayEvents[].received_ms`, matched by
//!    outbox event id. Target p99 ≤ 100 ms. Baseline: a raw reqwest SSE
//!    reader on the same stream, same run;
//! 4. idle CPU: the hub's utime + stime over an idle window with no
//!    dashboard open, then with 50 open. Target: < 5 % of one core more.
//!    Chromium keeps at most 6 HTTP/1.1 connections per host and profile,
//!    and each open page holds one for its event stream, so the 50 pages
//!    are spread over several Chromium sessions (5 pages each, one socket
//!    left for the page's refetches); `RELAY_DASH_BENCH_IDLE_MODE=http`
//!    replaces them by 50 reqwest clients doing what an idle page does
//!    (the stream, and overview + board every 30 s). The output says which.
//!
//! Run: `TMPDIR=$PWD/target cargo bench --bench dashboard_bench`.
//! Env: `RELAY_BENCH_QUICK=1` (small store, short windows, for iterating),
//! `RELAY_DASH_BENCH_MESSAGES` (100000), `RELAY_DASH_BENCH_TASKS` (10000),
//! `RELAY_DASH_BENCH_AGENTS` (36), `RELAY_DASH_BENCH_NAVIGATIONS` (25 per
//! view), `RELAY_DASH_BENCH_EVENTS` (500), `RELAY_DASH_BENCH_PACE_MS` (20),
//! `RELAY_DASH_BENCH_IDLE_SECONDS` (60), `RELAY_DASH_BENCH_DASHBOARDS`
//! (50), `RELAY_DASH_BENCH_PAGES_PER_BROWSER` (5),
//! `RELAY_DASH_BENCH_IDLE_MODE` (`browser` or `http`),
//! `RELAY_DASH_BENCH_SPAN_MINUTES` (1440: the seeded history's span; the
//! overview's charts walk the last hour of it),
//! `RELAY_BENCH_CHROMEDRIVER` (/usr/bin/chromedriver),
//! `RELAY_BENCH_CHROMIUM` (/usr/bin/chromium).
//!
//! Before the dashboard routes exist (the scaffolding), the bench falls
//! back to what the hub serves (`/health`, `/api/events`) and prints
//! "n/a" for the dashboard's own figures.
//! Figures are reported in docs/PERFORMANCE.md.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};

use relay::store::tasks::{Action, NewTask, Update};
use relay::store::{Caller, Limits, Priority, Store, Transport};

const RELAY: &str = env!("CARGO_BIN_EXE_relay");
/// The hub secret (`RELAY_HTTP_SECRET`): the operator view's credential.
const SECRET: &str = "dashboard-bench-secret-0123456789";
const CHROMIUM_ARGS: [&str; 9] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];
const OVERVIEW: &str = "/api/dashboard/overview";
const BOARD: &str = "/api/dashboard/board";
const DASH_EVENTS: &str = "/api/dashboard/events";
/// The page's idle refetch period (contract: "every 30 s").
const REFETCH: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

/// The `p` quantile of `v` (sorted in place), nearest rank.
fn quantile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// p50 / p99 / max of `v`.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    (quantile(&mut v, 0.5), quantile(&mut v, 0.99), quantile(&mut v, 1.0))
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// Bench sizes, from the env.
#[derive(Debug, Clone)]
struct Sizes {
    messages: usize,
    tasks: usize,
    agents: usize,
    navigations: usize,
    events: usize,
    pace_ms: u64,
    idle_seconds: u64,
    dashboards: usize,
    pages_per_browser: usize,
    idle_mode: String,
    span_minutes: u64,
}

impl Sizes {
    fn from_env() -> Self {
        let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
        let d = |full: usize, small: usize| if quick { small } else { full };
        Self {
            messages: env_or("RELAY_DASH_BENCH_MESSAGES", d(100_000, 10_000)),
            tasks: env_or("RELAY_DASH_BENCH_TASKS", d(10_000, 1_000)),
            agents: env_or("RELAY_DASH_BENCH_AGENTS", 36),
            navigations: env_or("RELAY_DASH_BENCH_NAVIGATIONS", d(25, 5)),
            events: env_or("RELAY_DASH_BENCH_EVENTS", d(500, 50)),
            pace_ms: env_or("RELAY_DASH_BENCH_PACE_MS", 20) as u64,
            idle_seconds: env_or("RELAY_DASH_BENCH_IDLE_SECONDS", d(60, 5)) as u64,
            dashboards: env_or("RELAY_DASH_BENCH_DASHBOARDS", d(50, 10)),
            pages_per_browser: env_or("RELAY_DASH_BENCH_PAGES_PER_BROWSER", 5).max(1),
            idle_mode: env_str("RELAY_DASH_BENCH_IDLE_MODE", "browser"),
            span_minutes: env_or("RELAY_DASH_BENCH_SPAN_MINUTES", 1440).max(2) as u64,
        }
    }
}

// ---------------------------------------------------------------------------
// Seeding, through the library, in group commits.

/// What the seeded store holds.
#[derive(Debug, Default)]
struct Seeded {
    seconds: f64,
    messages: usize,
    posts: usize,
    channels: usize,
    agents: usize,
    tasks: HashMap<&'static str, usize>,
}

/// Writes per group commit while seeding.
const SEED_BATCH: usize = 5_000;

/// Runs `n` calls of `f` in group commits of [`SEED_BATCH`].
fn batched(store: &Store, n: usize, mut f: impl FnMut(usize)) {
    let mut i = 0;
    while i < n {
        let end = (i + SEED_BATCH).min(n);
        let ((), committed) = store.batch(|| {
            for j in i..end {
                f(j);
            }
            ((), true)
        });
        committed.expect("seed batch commits");
        i = end;
    }
}

fn caller(agent: &str) -> Caller<'_> {
    Caller {
        agent,
        transport: Transport::Cli,
    }
}

/// Seeds `db`: `sizes.agents` agents, 4 channels with posts, `messages`
/// direct messages spread evenly over the last `span_minutes` (a manual
/// clock, so the dashboard's per-minute charts have something in every
/// bucket; 24 h by default, about 70 messages a minute),
/// and `tasks` tasks: most finished (completed, failed, cancelled,
/// rejected) over the same span, ~5 % open (posted, accepted,
/// needs_recovery, queued) at the end.
fn seed(db: &Path, sizes: &Sizes) -> Seeded {
    let started = Instant::now();
    let real_now = now_ms() as i64;
    let span_ms: i64 = sizes.span_minutes as i64 * 60 * 1000;
    let clock = relay::clock::ManualClock::new(real_now - span_ms);
    let store = Store::open(db, clock.clone(), Limits::default()).expect("open store");
    let everything: Vec<String> = ["tasks", "channels", "broadcast"].map(str::to_owned).to_vec();
    let agents: Vec<String> = (0..sizes.agents).map(|i| format!("agent-{i:02}")).collect();
    let roles = ["planner", "coder", "reviewer", "tester"];
    for (i, a) in agents.iter().enumerate() {
        store
            .bind_agent(a, Some(roles[i % roles.len()]), Some(&everything), Transport::Cli)
            .expect("bind agent");
    }
    let channels = ["general", "builds", "reviews", "incidents"];
    for (i, ch) in channels.iter().enumerate() {
        store
            .create_channel(caller(&agents[i]), ch, Some("bench channel"))
            .expect("create channel");
        for a in agents.iter().skip(i).step_by(2) {
            store.join_channel(caller(a), ch).expect("join channel");
        }
    }

    // Half the span: messages and finished tasks, interleaved in time.
    let n = sizes.messages;
    let finished = sizes.tasks - sizes.tasks / 20;
    let steps = n + finished;
    let step_ms = (span_ms - 60_000) as f64 / steps.max(1) as f64;
    let mut t = 0.0f64;
    let mut advanced = 0i64;
    let mut tick = |clock: &relay::clock::ManualClock| {
        t += step_ms;
        let to = t as i64;
        clock.advance(to - advanced);
        advanced = to;
    };
    let posts = n / 20;
    let mut seeded = Seeded {
        agents: agents.len(),
        channels: channels.len(),
        ..Default::default()
    };
    let body = "Rebased the branch on main and re-ran the integration suite; two flaky tests in \
                tests/it/remote.rs, retried green. Ready for review.";
    // One message or one finished task per step; tasks every (steps / finished) steps.
    let every = (steps / finished.max(1)).max(1);
    let mut msgs = 0usize;
    let mut tasks_done = 0usize;
    let state_of = |k: usize| -> &'static str {
        match k % 100 {
            0..=2 => "failed",
            3..=5 => "cancelled",
            6..=7 => "rejected",
            _ => "completed",
        }
    };
    let mut i = 0;
    while i < steps {
        let end = (i + SEED_BATCH).min(steps);
        let ((), committed) = store.batch(|| {
            for j in i..end {
                tick(&clock);
                let from = &agents[j % agents.len()];
                let to = &agents[(j * 7 + 3) % agents.len()];
                if j.is_multiple_of(every) && tasks_done < finished {
                    let state = state_of(tasks_done);
                    tasks_done += 1;
                    finish_task(&store, from, to, state, tasks_done);
                    *seeded.tasks.entry(state).or_default() += 1;
                } else if msgs < n {
                    if msgs.is_multiple_of(20) {
                        let ch = channels[msgs / 20 % channels.len()];
                        let member = &agents[(msgs / 20 % channels.len()) % agents.len()];
                        store
                            .post_to_channel(caller(member), ch, body, Priority::Normal)
                            .expect("post");
                        seeded.posts += 1;
                    }
                    store
                        .send_message(caller(from), to, body, Priority::Normal, None)
                        .expect("send");
                    msgs += 1;
                }
            }
            ((), true)
        });
        committed.expect("seed batch commits");
        i = end;
    }
    while msgs < n {
        let from = &agents[msgs % agents.len()];
        let to = &agents[(msgs + 1) % agents.len()];
        store
            .send_message(caller(from), to, body, Priority::Normal, None)
            .expect("send");
        msgs += 1;
    }
    seeded.messages = msgs;
    let _ = posts;

    // A third of the agents read their inbox (delivery times), the rest leave mail unread.
    clock.advance(30_000);
    for a in agents.iter().step_by(3) {
        let _ = store.get_messages(caller(a), relay::store::messages::ReadFilter::Unread, None, 50, false);
    }

    // Now: the open tasks, at the real clock (leases run from now).
    let left = real_now - relay::clock::Clock::now(&*clock);
    if left > 0 {
        clock.advance(left);
    }
    let open = sizes.tasks - tasks_done;
    batched(&store, open, |k| {
        let from = &agents[k % agents.len()];
        let to = &agents[(k * 5 + 1) % agents.len()];
        let state = match k % 20 {
            0..=7 => "posted",
            8..=15 => "accepted",
            16..=17 => "needs_recovery",
            _ => "queued",
        };
        open_task(&store, from, to, state, k);
        *seeded.tasks.entry(state).or_default() += 1;
    });
    // Some agents online (seen now), the rest as the seed left them.
    for a in agents.iter().take(agents.len() / 2) {
        let _ = store.touch_agent(a);
    }
    seeded.seconds = started.elapsed().as_secs_f64();
    seeded
}

fn new_task(to: Option<&str>, k: usize, write: bool) -> NewTask {
    NewTask {
        to: to.map(str::to_owned),
        title: format!("Fix the flaky remote test #{k}"),
        description: "Run tests/it/remote.rs 50 times; find the race; fix it with a test.".into(),
        write,
        ..Default::default()
    }
}

/// Posts a task from `from` to `to` and drives it to terminal `state`.
fn finish_task(store: &Store, from: &str, to: &str, state: &str, k: usize) {
    let t = store
        .post_task(caller(from), &new_task(Some(to), k, false))
        .expect("post task")
        .task;
    if state == "cancelled" {
        store
            .update_task(caller(from), t.id, Action::Cancel, &Update::default())
            .expect("cancel");
        return;
    }
    if state == "rejected" {
        let u = Update {
            error: Some("not my area".into()),
            ..Default::default()
        };
        store.update_task(caller(to), t.id, Action::Reject, &u).expect("reject");
        return;
    }
    let t = store
        .update_task(caller(to), t.id, Action::Accept, &Update::default())
        .expect("accept");
    let (action, u) = if state == "failed" {
        (
            Action::Fail,
            Update {
                error: Some("tests failed".into()),
                fencing_token: Some(t.fencing_token),
                ..Default::default()
            },
        )
    } else {
        (
            Action::Complete,
            Update {
                result: Some("fixed in 3f2a9c1; 50/50 green".into()),
                fencing_token: Some(t.fencing_token),
                ..Default::default()
            },
        )
    };
    store.update_task(caller(to), t.id, action, &u).expect("finish");
}

/// Posts a task and leaves it in open `state`.
fn open_task(store: &Store, from: &str, to: &str, state: &str, k: usize) {
    if state == "queued" {
        // Routed by a capability nobody holds: it waits in the queue.
        let mut new = new_task(None, k, false);
        new.required_capabilities = vec!["gpu".into()];
        store.post_task(caller(from), &new).expect("post queued");
        return;
    }
    let write = state == "needs_recovery";
    let t = store
        .post_task(caller(from), &new_task(Some(to), k, write))
        .expect("post task")
        .task;
    if state == "posted" {
        return;
    }
    let u = Update {
        lease_seconds: Some(relay::store::tasks::MAX_LEASE_SECONDS),
        ..Default::default()
    };
    let t = store.update_task(caller(to), t.id, Action::Accept, &u).expect("accept");
    if state == "needs_recovery" {
        store
            .park_task(caller(to), t.id, t.fencing_token, "worker stopped (SIGTERM)")
            .expect("park");
    }
}

// ---------------------------------------------------------------------------
// The hub process.

/// A running `relay serve --transport http --port 0` with the bench secret.
struct Hub {
    child: Child,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    fn spawn(db: &Path, config: &Path) -> Self {
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
            .env(relay::config::ENV_HTTP_SECRET, SECRET)
            .arg("--db")
            .arg(db)
            .arg("--config")
            .arg(config)
            .args(["serve", "--transport", "http", "--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn relay");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = Vec::new();
        let url = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                panic!("the hub exited before listening: {seen:?}");
            }
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on ".len()..];
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches("/mcp")
                    .to_owned();
            }
            seen.push(line);
        };
        let log = Arc::new(Mutex::new(seen));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, url, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU time so far, in seconds.
    fn cpu(&self) -> f64 {
        proc_cpu(self.pid())
    }

    /// Open sockets (established or listening) of the hub.
    fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| {
                        std::fs::read_link(e.path())
                            .map(|l| l.to_string_lossy().starts_with("socket:"))
                            .unwrap_or(false)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }

    fn complaints(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .cloned()
            .collect()
    }

    /// SIGTERM, then a kill after 15 s.
    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!("the hub did not exit 15 s after SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of process `pid` so far, in seconds.
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (field(11) + field(12)) as f64 / clock_ticks()
}

// ---------------------------------------------------------------------------
// chromedriver and Chromium.

/// `chromedriver --port=N` in a process group of its own: Chromium runs as
/// its child, and the whole group is signalled at the end.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn spawn() -> Self {
        let bin = env_str("RELAY_BENCH_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(&bin)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {bin}: {e}"))
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Our own child's group only (chromedriver and the Chromium it started).
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
}

/// A new Chromium session with a fresh profile under `profiles`.
async fn browser(driver: &Driver, profiles: &Path) -> fantoccini::Client {
    let profile = tempfile::Builder::new()
        .prefix("chromium-")
        .tempdir_in(profiles)
        .unwrap()
        .keep();
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| (*s).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push("--window-size=1280,900".into());
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": env_str("RELAY_BENCH_CHROMIUM", "/usr/bin/chromium"), "args": args}),
    );
    caps.insert("pageLoadStrategy".into(), json!("normal"));
    fantoccini::ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromedriver session")
}

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or("")))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"cmd": self.cmd, "params": self.params}).to_string()),
        )
    }
}

async fn cdp(c: &fantoccini::Client, cmd: &'static str, params: Value) -> bool {
    c.issue_cmd(Cdp { cmd, params }).await.is_ok()
}

/// Opens a new tab, switches to it and disables its HTTP cache; returns
/// whether the cache could be disabled.
async fn fresh_tab(c: &fantoccini::Client) -> bool {
    let w = c.new_window(false).await.expect("new window");
    c.switch_to_window(w.handle).await.expect("switch window");
    cdp(c, "Network.enable", json!({})).await
        && cdp(c, "Network.setCacheDisabled", json!({"cacheDisabled": true})).await
}

/// Closes the current tab and switches to the first one left.
async fn close_tab(c: &fantoccini::Client) {
    let _ = c.close_window().await;
    if let Some(w) = c.windows().await.ok().and_then(|w| w.into_iter().next()) {
        let _ = c.switch_to_window(w).await;
    }
}

/// Waits (up to 10 s) for first-contentful-paint and, when asked, the
/// `relay:ready` mark (the first overview rendered) and the board's
/// response (operator view); then `settle_ms` more; returns the timings
/// and the resource entries.
const TIMINGS_JS: &str = r#"
const [wantReady, wantBoard, settle, done] = arguments;
const t0 = performance.now();
function entry(name) { return performance.getEntriesByName(name)[0] || null; }
function board() {
  return performance.getEntriesByType('resource').find(r => r.name.includes('/api/dashboard/board')) || null;
}
function finish() {
  const fcp = entry('first-contentful-paint');
  const ready = entry('relay:ready');
  const nav = performance.getEntriesByType('navigation')[0] || null;
  const b = board();
  done({
    fcp: fcp ? fcp.startTime : null,
    board: b ? b.responseEnd : null,
    ready: ready ? ready.startTime : null,
    nav: nav ? {name: nav.name, transfer: nav.transferSize, encoded: nav.encodedBodySize,
                decoded: nav.decodedBodySize, response_end: nav.responseEnd,
                dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd} : null,
    resources: performance.getEntriesByType('resource').map(r => ({
      name: r.name, transfer: r.transferSize, encoded: r.encodedBodySize, decoded: r.decodedBodySize,
      start: r.startTime, end: r.responseEnd, initiator: r.initiatorType})),
  });
}
function look() {
  const have = entry('first-contentful-paint') && (!wantReady || entry('relay:ready')) && (!wantBoard || board());
  if (have || performance.now() - t0 > 10000) { setTimeout(finish, settle); } else { setTimeout(look, 5); }
}
look();
"#;

/// One cold load's timings, in ms from navigation start.
#[derive(Debug, Clone, Default)]
struct Load {
    fcp: Option<f64>,
    ready: Option<f64>,
    /// The board's responseEnd (operator view).
    board: Option<f64>,
    /// (url, transferSize, encodedBodySize) of the document and every resource.
    bytes: Vec<(String, f64, f64)>,
    /// (url, start, responseEnd) of every resource.
    resources: Vec<(String, f64, f64)>,
    cache_disabled: bool,
}

/// A cold load of `base + path` in a new tab, in the operator view when
/// `operator` (the secret is put in sessionStorage from a first
/// navigation to a small asset of the same origin). The tab stays open
/// when `keep`.
async fn cold_load(
    c: &fantoccini::Client,
    base: &str,
    path: &str,
    operator: bool,
    want_ready: bool,
    settle_ms: u64,
    keep: bool,
) -> Load {
    let cache_disabled = fresh_tab(c).await;
    if operator {
        c.goto(&format!("{base}/health")).await.expect("first navigation");
        c.execute(
            "sessionStorage.setItem('relay.secret', arguments[0]);",
            vec![json!(SECRET)],
        )
        .await
        .expect("set the secret");
    }
    c.goto(&format!("{base}{path}")).await.expect("navigate");
    let v = c
        .execute_async(
            TIMINGS_JS,
            vec![json!(want_ready), json!(want_ready && operator), json!(settle_ms)],
        )
        .await
        .expect("timings");
    if !keep {
        close_tab(c).await;
    }
    let mut load = Load {
        fcp: v["fcp"].as_f64(),
        ready: v["ready"].as_f64(),
        board: v["board"].as_f64(),
        cache_disabled,
        ..Default::default()
    };
    if v["nav"].is_object() {
        let n = &v["nav"];
        load.bytes.push((
            n["name"].as_str().unwrap_or("").to_owned(),
            n["transfer"].as_f64().unwrap_or(0.0),
            n["encoded"].as_f64().unwrap_or(0.0),
        ));
    }
    for r in v["resources"].as_array().into_iter().flatten() {
        let name = r["name"].as_str().unwrap_or("").to_owned();
        load.bytes.push((
            name.clone(),
            r["transfer"].as_f64().unwrap_or(0.0),
            r["encoded"].as_f64().unwrap_or(0.0),
        ));
        load.resources.push((
            name,
            r["start"].as_f64().unwrap_or(0.0),
            r["end"].as_f64().unwrap_or(0.0),
        ));
    }
    load
}

// ---------------------------------------------------------------------------
// HTTP helpers.

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .build()
        .unwrap()
}

/// Sequential GET latencies (ms) and the last body's size, when every GET succeeded.
type Raw = Option<(Vec<f64>, usize)>;

/// Latency of `n` sequential GETs of `path` (ms) and the body size.
async fn get_latency(http: &reqwest::Client, base: &str, path: &str, n: usize) -> Option<(Vec<f64>, usize)> {
    let mut lat = Vec::with_capacity(n);
    let mut size = 0;
    for _ in 0..n {
        let t = Instant::now();
        let resp = http
            .get(format!("{base}{path}"))
            .header("X-Relay-Secret", SECRET)
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        size = resp.bytes().await.ok()?.len();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Some((lat, size))
}

/// Reads an SSE stream of `path`, sending `(event id, received_ms)` for
/// every `id:` line with data; `opened` fires on the first chunk.
async fn sse_reader(
    http: reqwest::Client,
    url: String,
    opened: tokio::sync::oneshot::Sender<()>,
    sink: tokio::sync::mpsc::UnboundedSender<(i64, f64)>,
) {
    let resp = http
        .get(url)
        .header("X-Relay-Secret", SECRET)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("the event stream opens");
    assert!(resp.status().is_success(), "event stream: {}", resp.status());
    let mut opened = Some(opened);
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut id: Option<i64> = None;
    let mut data = false;
    while let Some(Ok(chunk)) = stream.next().await {
        let at = now_ms();
        if let Some(o) = opened.take() {
            let _ = o.send(());
        }
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(nl) = buf.find('\n') {
            let line: String = buf.drain(..=nl).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let (Some(i), true) = (id, data) {
                    let _ = sink.send((i, at));
                }
                id = None;
                data = false;
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if line.starts_with("data:") {
                data = true;
            }
        }
    }
}

/// One reqwest client doing what an idle page does: its event stream,
/// and overview + board every 30 s.
async fn idle_client(base: String, events_path: String, with_board: bool) {
    let http = http_client();
    let (tx, _rx_keep) = tokio::sync::mpsc::unbounded_channel();
    let (o, _) = tokio::sync::oneshot::channel();
    let stream = tokio::spawn(sse_reader(http.clone(), format!("{base}{events_path}?last=100"), o, tx));
    let mut tick = tokio::time::interval(REFETCH);
    loop {
        tick.tick().await;
        let _ = get_latency(&http, &base, OVERVIEW, 1).await;
        if with_board {
            let _ = get_latency(&http, &base, BOARD, 1).await;
        }
        if stream.is_finished() {
            break;
        }
    }
}

// ---------------------------------------------------------------------------
// The measures.

#[derive(Debug, Default)]
struct Paint {
    /// Cold loads per view: (label, loads).
    views: Vec<(&'static str, Vec<Load>)>,
}

fn fcps(loads: &[Load]) -> Vec<f64> {
    loads.iter().filter_map(|l| l.fcp).collect()
}

fn readies(loads: &[Load]) -> Vec<f64> {
    loads.iter().filter_map(|l| l.ready).collect()
}

fn boards(loads: &[Load]) -> Vec<f64> {
    loads.iter().filter_map(|l| l.board).collect()
}

/// Event latency figures.
#[derive(Debug, Default)]
struct Events {
    committed: usize,
    page: Vec<f64>,
    page_missing: usize,
    raw: Vec<f64>,
    raw_missing: usize,
    commit_ms: Vec<f64>,
    seconds: f64,
}

/// Commits `n` messages through the library, one every `pace_ms`; returns
/// (message id, commit wall-clock ms) and the store-call durations (ms).
fn commit_paced(db: &Path, n: usize, pace_ms: u64) -> (Vec<(i64, f64)>, Vec<f64>) {
    let store = Store::open(db, Arc::new(relay::clock::SystemClock), Limits::default()).expect("open store");
    let mut out = Vec::with_capacity(n);
    let mut took = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let due = start + Duration::from_millis(pace_ms * i as u64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t = Instant::now();
        let sent = store
            .send_message(
                caller("agent-00"),
                "agent-01",
                &format!("latency probe {i}"),
                Priority::Normal,
                None,
            )
            .expect("send");
        let at = now_ms();
        took.push(t.elapsed().as_secs_f64() * 1000.0);
        out.push((sent.message_id, at));
    }
    (out, took)
}

/// message id → outbox event id, for the `message` events after `after`.
fn event_ids(db: &Path, after: i64) -> HashMap<i64, i64> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT subject_id, id FROM events WHERE kind = 'message' AND id > ?1")
        .unwrap();
    stmt.query_map([after], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
        .filter_map(|r| r.ok())
        .collect()
}

fn latest_event(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
        .unwrap()
}

/// Reads the page's `window.__relayEvents` as event id → received_ms.
async fn page_events(c: &fantoccini::Client) -> HashMap<i64, f64> {
    let v = c
        .execute(
            "return (window.__relayEvents || []).map(e => [e.id, e.received_ms]);",
            vec![],
        )
        .await
        .unwrap_or(Value::Null);
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?)))
        .collect()
}

/// The text of `[data-testid=NAME]`, if the page has it.
async fn testid_text(c: &fantoccini::Client, name: &str) -> Option<String> {
    let v = c
        .execute(
            "const e = document.querySelector(`[data-testid=\"${arguments[0]}\"]`); return e ? e.textContent.trim() : null;",
            vec![json!(name)],
        )
        .await
        .ok()?;
    v.as_str().map(str::to_owned)
}

/// Waits up to 10 s for the page's connection status to read `live`.
async fn wait_live(c: &fantoccini::Client) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if testid_text(c, "connection-status").await.as_deref() == Some("live") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Idle CPU of the hub over `seconds`, as % of one core.
async fn idle_cpu(hub: &Hub, seconds: u64) -> f64 {
    let cpu = hub.cpu();
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    (hub.cpu() - cpu) / t.elapsed().as_secs_f64() * 100.0
}

/// The embedded dashboard files (what the hub serves), name → bytes.
fn asset_files() -> Vec<(String, u64)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().contains("LICENSE") {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((p.strip_prefix(&root).unwrap().display().to_string(), len));
            }
        }
    }
    out.sort();
    out
}

fn short(url: &str, base: &str) -> String {
    url.strip_prefix(base).unwrap_or(url).to_owned()
}

fn main() {
    let sizes = Sizes::from_env();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    println!("dashboard bench: {RELAY}");
    println!("store dir: {}", dir.path().display());
    println!("sizes: {sizes:?}");
    println!(
        "load average at start: {} on {} cores",
        load(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let seeded = seed(&db, &sizes);
    let mut states: Vec<_> = seeded.tasks.iter().collect();
    states.sort();
    println!(
        "seeded in {:.1} s: {} agents, {} messages, {} channels with {} posts, tasks {:?}",
        seeded.seconds, seeded.agents, seeded.messages, seeded.channels, seeded.posts, states
    );
    let db_mib = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1_048_576.0;
    let last_hour: i64 = rusqlite::Connection::open(&db)
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM messages WHERE created_at > ?1",
                [now_ms() as i64 - 3_600_000],
                |r| r.get(0),
            )
        })
        .unwrap_or(-1);
    println!(
        "store: {db_mib:.1} MiB; history over {} min, {last_hour} messages in the last hour",
        sizes.span_minutes
    );

    let hub = Hub::spawn(&db, &config);
    println!("hub: {} (pid {}, RSS {:.1} MiB)", hub.url, hub.pid(), hub.rss_mib());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let driver = Driver::spawn();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    rt.block_on(run(&hub, &driver, &profiles, &db, &sizes, &seeded));
    drop(driver);
    let complaints = hub.complaints();
    if !complaints.is_empty() {
        println!("\nhub WARN/ERROR log lines: {}", complaints.len());
        for l in complaints.iter().take(10) {
            println!("  {l}");
        }
    }
    hub.stop();
}

async fn run(hub: &Hub, driver: &Driver, profiles: &Path, db: &Path, sizes: &Sizes, seeded: &Seeded) {
    let base = hub.url.clone();
    let http = http_client();
    // Which routes exist (the dashboard merges later than the bench's scaffolding).
    let status = |p: &'static str| {
        let http = http.clone();
        let url = format!("{base}{p}");
        async move {
            http.get(url)
                .header("X-Relay-Secret", SECRET)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let dashboard = status(OVERVIEW).await == 200;
    let favicon = status("/assets/favicon.svg").await == 200;
    let static_path = if favicon { "/assets/favicon.svg" } else { "/health" };
    let events_path = if dashboard { DASH_EVENTS } else { "/api/events" };
    println!(
        "dashboard routes: {}; static baseline page {static_path}; event stream {events_path}",
        if dashboard {
            "present"
        } else {
            "absent (scaffolding: dashboard figures n/a)"
        }
    );

    // Baseline: the raw API calls.
    let n_raw = (sizes.navigations * 2).max(20);
    let raw_overview = get_latency(&http, &base, if dashboard { OVERVIEW } else { "/health" }, n_raw).await;
    let raw_board = get_latency(&http, &base, if dashboard { BOARD } else { "/api/snapshot" }, n_raw).await;
    for (name, r) in [("overview", &raw_overview), ("board", &raw_board)] {
        if let Some((lat, size)) = r {
            let (p50, p99, _) = spread(lat);
            println!("raw GET {name}: p50 {p50:.1} ms, p99 {p99:.1} ms, {size} bytes");
        }
    }

    // 1 + 2: cold loads.
    let c = browser(driver, profiles).await;
    let mut paint = Paint::default();
    let views: [(&'static str, &str, bool, bool); 3] = [
        ("static asset", static_path, false, false),
        ("counts view", "/", false, dashboard),
        ("operator view", "/", true, dashboard),
    ];
    for (label, path, operator, ready) in views {
        // One warm-up load (Chromium's own first-start costs), then N.
        let _ = cold_load(&c, &base, path, operator, ready, 0, false).await;
        let mut loads = Vec::new();
        for _ in 0..sizes.navigations {
            loads.push(cold_load(&c, &base, path, operator, ready, 0, false).await);
        }
        let (f50, f99, _) = spread(&fcps(&loads));
        let (r50, r99, _) = spread(&readies(&loads));
        println!(
            "{label}: FCP p50 {f50:.1} ms, p99 {f99:.1} ms; relay:ready p50 {r50:.1} ms, p99 {r99:.1} ms ({} of {} with FCP, {} with ready; cache disabled: {})",
            fcps(&loads).len(),
            loads.len(),
            readies(&loads).len(),
            loads.iter().all(|l| l.cache_disabled)
        );
        if operator && !boards(&loads).is_empty() {
            let (b50, b99, _) = spread(&boards(&loads));
            println!("{label}: the board's response in at p50 {b50:.1} ms, p99 {b99:.1} ms");
        }
        paint.views.push((label, loads));
    }
    // Weight: one cold load per view, 2 s after ready so the follow-up fetches are in.
    let mut weights = Vec::new();
    for (label, operator) in [("counts view", false), ("operator view", true)] {
        let l = cold_load(&c, &base, "/", operator, dashboard, 2000, false).await;
        // Each URL once: the idle refetches that follow are not the page's weight.
        let mut seen = std::collections::HashSet::new();
        let first: Vec<_> = l.bytes.iter().filter(|b| seen.insert(b.0.clone())).collect();
        let transfer: f64 = first.iter().map(|b| b.1).sum();
        let encoded: f64 = first.iter().map(|b| b.2).sum();
        println!("{label} weight: {encoded:.0} bytes of bodies, {transfer:.0} bytes transferred");
        for (name, t, e) in &l.bytes {
            println!("  {:<40} {e:>8.0} B body {t:>8.0} B transferred", short(name, &base));
        }
        for (name, s, e) in &l.resources {
            println!("  timing {:<33} {s:>7.1} → {e:>7.1} ms", short(name, &base));
        }
        weights.push((label, encoded, transfer, l));
    }
    let assets = asset_files();
    let assets_total: u64 = assets.iter().map(|a| a.1).sum();
    println!("embedded asset files: {assets_total} bytes: {assets:?}");

    // 3: event → open page, with a raw SSE reader alongside.
    let events = event_latency(&c, &base, events_path, db, sizes, dashboard).await;

    // 4: idle CPU.
    let _ = c.close().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle0 = idle_cpu(hub, sizes.idle_seconds).await;
    println!(
        "idle, 0 dashboards: {idle0:.3} % of a core over {} s ({} hub sockets)",
        sizes.idle_seconds,
        hub.sockets()
    );
    let (idle_n, mode, sockets) = idle_with_dashboards(hub, driver, profiles, sizes, dashboard, events_path).await;
    println!(
        "idle, {} dashboards ({mode}): {idle_n:.3} % of a core over {} s ({sockets} hub sockets)",
        sizes.dashboards, sizes.idle_seconds
    );

    report(
        sizes,
        seeded,
        dashboard,
        &paint,
        (&raw_overview, &raw_board),
        &weights,
        assets_total,
        &events,
        (idle0, idle_n, &mode, sockets),
    );
}

async fn event_latency(
    c: &fantoccini::Client,
    base: &str,
    events_path: &str,
    db: &Path,
    sizes: &Sizes,
    dashboard: bool,
) -> Events {
    let _page = cold_load(c, base, "/", true, dashboard, 0, true).await;
    let live = if dashboard { wait_live(c).await } else { false };
    println!("event latency: the operator page is open (live: {live})");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (otx, orx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(sse_reader(http_client(), format!("{base}{events_path}"), otx, tx));
    let _ = tokio::time::timeout(Duration::from_secs(10), orx).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = latest_event(db);
    let db2 = db.to_path_buf();
    let (n, pace) = (sizes.events, sizes.pace_ms);
    let t = Instant::now();
    let (commits, took) = tokio::task::spawn_blocking(move || commit_paced(&db2, n, pace))
        .await
        .unwrap();
    let seconds = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    reader.abort();
    let mut raw_seen = HashMap::new();
    while let Ok((id, at)) = rx.try_recv() {
        raw_seen.entry(id).or_insert(at);
    }
    let on_page = page_events(c).await;
    close_tab(c).await;
    let ids = event_ids(db, after);
    let mut out = Events {
        committed: commits.len(),
        commit_ms: took,
        seconds,
        ..Default::default()
    };
    for (msg, at) in &commits {
        let Some(ev) = ids.get(msg) else {
            out.page_missing += 1;
            out.raw_missing += 1;
            continue;
        };
        match on_page.get(ev) {
            Some(r) => out.page.push(r - at),
            None => out.page_missing += 1,
        }
        match raw_seen.get(ev) {
            Some(r) => out.raw.push(r - at),
            None => out.raw_missing += 1,
        }
    }
    let (p50, p99, max) = spread(&out.page);
    let (r50, r99, rmax) = spread(&out.raw);
    println!(
        "event → page: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms ({} of {} seen); raw SSE p50 {r50:.1} ms, p99 {r99:.1} ms, max {rmax:.1} ms ({} seen); {:.0} commits/s",
        out.page.len(),
        out.committed,
        out.raw.len(),
        out.committed as f64 / out.seconds
    );
    out
}

/// Opens `sizes.dashboards` idle dashboards (operator view) and measures
/// the hub's CPU over the idle window: (% of a core, mode, hub sockets).
async fn idle_with_dashboards(
    hub: &Hub,
    driver: &Driver,
    profiles: &Path,
    sizes: &Sizes,
    dashboard: bool,
    events_path: &str,
) -> (f64, String, usize) {
    let base = hub.url.clone();
    if sizes.idle_mode == "http" || !dashboard {
        let tasks: Vec<_> = (0..sizes.dashboards)
            .map(|_| tokio::spawn(idle_client(base.clone(), events_path.to_owned(), dashboard)))
            .collect();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let sockets = hub.sockets();
        let pct = idle_cpu(hub, sizes.idle_seconds).await;
        for t in tasks {
            t.abort();
        }
        let mode = format!(
            "{} reqwest clients, each the page's idle traffic: its stream + overview{} every 30 s",
            sizes.dashboards,
            if dashboard { " + board" } else { "" }
        );
        return (pct, mode, sockets);
    }
    let browsers = sizes.dashboards.div_ceil(sizes.pages_per_browser);
    let mut clients = Vec::new();
    let mut opened = 0;
    let mut live = 0;
    for _ in 0..browsers {
        let c = browser(driver, profiles).await;
        for _ in 0..sizes.pages_per_browser.min(sizes.dashboards - opened) {
            let _ = cold_load(&c, &base, "/", true, true, 0, true).await;
            if wait_live(&c).await {
                live += 1;
            }
            opened += 1;
        }
        clients.push(c);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sockets = hub.sockets();
    let pct = idle_cpu(hub, sizes.idle_seconds).await;
    for c in clients {
        let _ = c.close().await;
    }
    let mode = format!(
        "{opened} Chromium pages in {browsers} headless Chromium sessions ({} pages each), {live} live",
        sizes.pages_per_browser
    );
    (pct, mode, sockets)
}

#[allow(clippy::too_many_arguments)]
fn report(
    sizes: &Sizes,
    seeded: &Seeded,
    dashboard: bool,
    paint: &Paint,
    (raw_overview, raw_board): (&Raw, &Raw),
    weights: &[(&str, f64, f64, Load)],
    assets_total: u64,
    events: &Events,
    (idle0, idle_n, mode, sockets): (f64, f64, &str, usize),
) {
    let na = |s: String| if dashboard { s } else { "n/a (no dashboard)".to_owned() };
    println!("\nload average at end: {}", load());
    println!(
        "\nstore: {} messages, {} channel posts, {} tasks, {} agents, {} channels; seeded in {:.1} s",
        seeded.messages,
        seeded.posts,
        seeded.tasks.values().sum::<usize>(),
        seeded.agents,
        seeded.channels,
        seeded.seconds
    );
    println!("\n| measure | target | measured | | baseline, same run |\n|---|---|---|---|---|");
    let view = |label: &str| {
        paint
            .views
            .iter()
            .find(|v| v.0 == label)
            .map(|v| v.1.as_slice())
            .unwrap_or(&[])
    };
    let (s50, s99, _) = spread(&fcps(view("static asset")));
    let raw = |r: &Raw| match r {
        Some((lat, size)) => {
            let (p50, p99, _) = spread(lat);
            format!("p50 {p50:.1} ms, p99 {p99:.1} ms, {:.1} KiB", *size as f64 / 1024.0)
        }
        None => "n/a".to_owned(),
    };
    let mut met_all = Vec::new();
    for label in ["counts view", "operator view"] {
        let loads = view(label);
        let (f50, f99, _) = spread(&fcps(loads));
        let (r50, r99, _) = spread(&readies(loads));
        let met = readies(loads).len() == loads.len() && r99 <= 300.0 && f99 <= 300.0;
        met_all.push(met);
        println!(
            "| first paint, {label}, {} cold loads ({} messages, {} tasks) | ≤ 300 ms | {} | {} | static asset FCP p50 {s50:.1} ms, p99 {s99:.1} ms ({:.1}× / {:.1}× at p50) |",
            loads.len(),
            seeded.messages,
            seeded.tasks.values().sum::<usize>(),
            na(format!(
                "FCP p50 {f50:.1} ms, p99 {f99:.1} ms; **relay:ready p50 {r50:.1} ms, p99 {r99:.1} ms** ({} of {} ready){}",
                readies(loads).len(),
                loads.len(),
                match spread(&boards(loads)) {
                    (b50, b99, _) if !b50.is_nan() => format!("; board response in p50 {b50:.1} ms, p99 {b99:.1} ms"),
                    _ => String::new(),
                }
            )),
            if dashboard { verdict(met) } else { "n/a" },
            f50 / s50,
            r50 / s50,
        );
    }
    println!(
        "| raw `GET /api/dashboard/overview` / `board`, {} sequential each | | | | overview {}; board {} |",
        raw_overview.as_ref().map_or(0, |r| r.0.len()),
        raw(raw_overview),
        raw(raw_board)
    );
    for (label, encoded, transfer, _) in weights {
        met_all.push(*encoded <= 200.0 * 1024.0);
        println!(
            "| page weight, {label} (document + every resource) | ≤ 200 KiB | {} | {} | embedded asset files {:.1} KiB |",
            na(format!(
                "**{:.1} KiB** of bodies ({:.1} KiB transferred)",
                encoded / 1024.0,
                transfer / 1024.0
            )),
            if dashboard {
                verdict(*encoded <= 200.0 * 1024.0)
            } else {
                "n/a"
            },
            assets_total as f64 / 1024.0
        );
    }
    let (p50, p99, max) = spread(&events.page);
    let (r50, r99, rmax) = spread(&events.raw);
    let (c50, c99, _) = spread(&events.commit_ms);
    println!(
        "| commit → open operator page, {} messages one per {} ms | p99 ≤ 100 ms | {} | {} | raw SSE reader: p50 {r50:.1} ms, p99 {r99:.1} ms, max {rmax:.1} ms ({} missing); the commit itself p50 {c50:.1} ms, p99 {c99:.1} ms |",
        events.committed,
        sizes.pace_ms,
        na(format!(
            "**p50 {p50:.1} ms, p99 {p99:.1} ms**, max {max:.1} ms ({} missing)",
            events.page_missing
        )),
        if dashboard {
            verdict(p99 <= 100.0 && events.page_missing == 0)
        } else {
            "n/a"
        },
        events.raw_missing
    );
    met_all.push(p99 <= 100.0 && events.page_missing == 0);
    let diff = idle_n - idle0;
    met_all.push(diff < 5.0);
    println!(
        "| hub CPU, {} idle dashboards vs none, {} s each | < 5 % of a core more | {} | {} | 0 dashboards: {idle0:.2} % |",
        sizes.dashboards,
        sizes.idle_seconds,
        format_args!("**+{diff:.2} %** ({idle_n:.2} % with them; {mode}; {sockets} hub sockets)"),
        verdict(diff < 5.0),
    );
    if dashboard {
        println!(
            "\ntargets: {} of {} rows met",
            met_all.iter().filter(|m| **m).count(),
            met_all.len()
        );
    }
}
