//! End-to-end benchmark of the HTTP hub (`relay serve --transport http`,
//! issue #10), driven with raw JSON-RPC bodies over reqwest (hyper,
//! HTTP/1.1 keep-alive, `TCP_NODELAY`) on one client thread, so the client
//! adds as little as possible and the hub gets the cores.
//!
//! Run: `TMPDIR=$PWD/target cargo bench --bench http_bench` (release
//! build, the store on the temp dir's disk, `synchronous=FULL`). What it
//! measures, each against the release binary on a fresh store:
//! 1. sequential `send_message` over one keep-alive connection, in the
//!    2026-07-28 stateless form and in a 2025-11-25 session; `ping` and
//!    `get_messages` likewise (the Node peer's figures are for these);
//! 2. N concurrent clients, each its own agent and connection: aggregate
//!    `send_message`/s, then every recipient reads its inbox (a 2025
//!    session) and every acknowledged id must arrive exactly once;
//! 3. N 2025 sessions, each with an open GET notification stream
//!    subscribed to `relay://inbox/NAME`: hub RSS, send -> SSE
//!    `notifications/resources/updated` latency, idle CPU;
//! 4. hub start (spawn) -> first answered `/mcp` request, median.
//!
//! Baselines in the same run: a bare SQLite single-row commit
//! (`synchronous=FULL`) and relay's stdio `send_message` (one `relay
//! serve --agent` process, sequential), so the HTTP figures can be read
//! as ratios on this shared machine.
//!
//! Options via env: `RELAY_HTTP_BENCH_CALLS` (sequential calls per form,
//! default 5000), `RELAY_HTTP_BENCH_CLIENTS` (default 64),
//! `RELAY_HTTP_BENCH_PER_CLIENT` (messages per client, default 300),
//! `RELAY_HTTP_BENCH_SESSIONS` (default 1000), `RELAY_HTTP_BENCH_SAMPLES`
//! (send -> notification samples, default 500),
//! `RELAY_HTTP_BENCH_IDLE_SECONDS` (default 10), `RELAY_HTTP_BENCH_STARTS`
//! (default 20), `RELAY_HTTP_BENCH_CONFIG` (a config.toml for the hub, e.g.
//! with an `[http]` section; default an empty one, so the user's config is
//! never read), `RELAY_BENCH_QUICK` (tiny sizes), `RELAY_BENCH_BASELINE`
//! (another `relay` binary: every hub figure is measured for both, A B B
//! A, and printed with the ratio).
//!
//! Open files: each session's GET stream is one connection, so the bench
//! and the hub each hold about one descriptor per session. The bench
//! raises its soft `RLIMIT_NOFILE` to the hard limit when the soft one is
//! below `sessions + 256`; the hub inherits it.
//!
//! A 429 (`RATE_LIMITED`) from the hub is counted, waited out
//! (`Retry-After`) and retried; the count is printed with the figures.
//! Figures are reported in docs/PERFORMANCE.md.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

const RELAY: &str = env!("CARGO_BIN_EXE_relay");
const STATELESS: &str = "2026-07-28";
const SESSION: &str = "2025-11-25";

/// 429 answers seen (each waited out and retried).
static RATE_LIMITED: AtomicU64 = AtomicU64::new(0);

/// The Node peer's figures, from issue #10 (measured earlier on this
/// machine over one keep-alive connection).
const NODE_PING: f64 = 880.0;
const NODE_SEND: f64 = 436.0;
const NODE_SEND_P99: f64 = 8.5;
const NODE_GET: f64 = 296.0;
const NODE_START: f64 = 356.0;
const NODE_RSS: f64 = 93.0;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Bench sizes, from the env.
#[derive(Debug, Clone)]
struct Sizes {
    calls: usize,
    clients: usize,
    per_client: usize,
    sessions: usize,
    samples: usize,
    idle_seconds: u64,
    starts: usize,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var_os("RELAY_BENCH_QUICK").is_some() {
            return Self {
                calls: 200,
                clients: 8,
                per_client: 20,
                sessions: 20,
                samples: 20,
                idle_seconds: 2,
                starts: 3,
            };
        }
        Self {
            calls: env_or("RELAY_HTTP_BENCH_CALLS", 5_000),
            clients: env_or("RELAY_HTTP_BENCH_CLIENTS", 64),
            per_client: env_or("RELAY_HTTP_BENCH_PER_CLIENT", 300),
            sessions: env_or("RELAY_HTTP_BENCH_SESSIONS", 1_000),
            samples: env_or("RELAY_HTTP_BENCH_SAMPLES", 500),
            idle_seconds: env_or("RELAY_HTTP_BENCH_IDLE_SECONDS", 10) as u64,
            starts: env_or("RELAY_HTTP_BENCH_STARTS", 20),
        }
    }
}

// ---------------------------------------------------------------------------
// The hub process.

/// A running `relay serve --transport http --port 0`.
struct Hub {
    child: Child,
    url: String,
    /// Its stderr after the `listening on` line (drained by a thread so
    /// the hub never blocks on a full pipe).
    log: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    /// Spawns the hub on `db` and waits for its `listening on` line.
    fn spawn(bin: &str, db: &Path, config: &Path) -> Self {
        let mut child = Command::new(bin)
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
                break rest.split_whitespace().next().unwrap().to_owned();
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

    /// (VmRSS, VmHWM) in KiB.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn cpu(&self) -> Duration {
        proc_cpu(self.pid())
    }

    /// Log lines at WARN or ERROR so far.
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

/// User + system CPU time of process `pid` so far.
fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_secs_f64((field(11) + field(12)) as f64 / 100.0)
}

// ---------------------------------------------------------------------------
// The MCP client: raw JSON-RPC over one reqwest client.

/// One reqwest client = its own connection pool; `pool` idle connections.
fn http_client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .build()
        .unwrap()
}

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "http_bench", "version": "0"},
    })
}

/// The `data:` payloads of an SSE body, one per event.
fn sse_events(text: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data = String::new();
    for line in text.lines() {
        if line.is_empty() {
            if !data.is_empty() {
                events.push(std::mem::take(&mut data));
            }
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    if !data.is_empty() {
        events.push(data);
    }
    events
}

/// The response to request `id` in a POST's body (JSON or SSE).
fn reply_in(text: &str, id: u64) -> Value {
    let candidates: Vec<Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text).unwrap_or_else(|e| panic!("bad body {text:?}: {e}"))]
    } else {
        sse_events(text)
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    };
    candidates
        .into_iter()
        .find(|m: &Value| m["id"] == id)
        .unwrap_or_else(|| panic!("no response to id {id} in {text:?}"))
}

/// One MCP client: a 2026 stateless caller, or a 2025 session.
struct Mcp {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
    session: Option<String>,
    next_id: u64,
}

impl Mcp {
    fn stateless(http: reqwest::Client, url: &str, token: Option<&str>) -> Self {
        Self {
            http,
            url: url.to_owned(),
            token: token.map(str::to_owned),
            session: None,
            next_id: 1,
        }
    }

    /// `initialize` + `notifications/initialized`.
    async fn session(http: reqwest::Client, url: &str, token: Option<&str>) -> Self {
        let mut req = http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        if let Some(t) = token {
            req = req.header("X-Agent-Token", t);
        }
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": SESSION, "capabilities": {}, "clientInfo": {"name": "http_bench", "version": "0"}}});
        let resp = send_retrying(req, serde_json::to_vec(&body).unwrap()).await;
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .expect("Mcp-Session-Id")
            .to_str()
            .unwrap()
            .to_owned();
        let text = resp.text().await.unwrap();
        let init = reply_in(&text, 0);
        assert_eq!(init["result"]["protocolVersion"], SESSION, "{init}");
        let mcp = Self {
            http,
            url: url.to_owned(),
            token: token.map(str::to_owned),
            session: Some(sid),
            next_id: 1,
        };
        let resp = send_retrying(
            mcp.post(),
            serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 202);
        mcp
    }

    /// A POST with this client's headers (session, revision, token).
    fn post(&self) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        if let Some(sid) = &self.session {
            req = req
                .header("Mcp-Session-Id", sid)
                .header("MCP-Protocol-Version", SESSION);
        }
        if let Some(t) = &self.token {
            req = req.header("X-Agent-Token", t);
        }
        req
    }

    /// One request; its JSON-RPC response.
    async fn request(&mut self, method: &str, mut params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = self.post();
        if self.session.is_none() {
            params["_meta"] = meta();
            req = req
                .header("MCP-Protocol-Version", STATELESS)
                .header("Mcp-Method", method);
            if method == "tools/call" {
                req = req.header("Mcp-Name", params["name"].as_str().unwrap());
            }
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = send_retrying(req, serde_json::to_vec(&body).unwrap()).await;
        let text = resp.text().await.unwrap();
        reply_in(&text, id)
    }

    /// A tool call; its `structuredContent` (panics on an error result).
    async fn tool(&mut self, name: &str, args: Value) -> Value {
        let r = self
            .request("tools/call", json!({"name": name, "arguments": args}))
            .await;
        assert_eq!(r["result"]["isError"], false, "{name} failed: {r}");
        r["result"]["structuredContent"].clone()
    }
}

/// Sends `req` with `body`; a 429 is counted, waited out and retried,
/// anything else but success panics.
async fn send_retrying(req: reqwest::RequestBuilder, body: Vec<u8>) -> reqwest::Response {
    loop {
        let resp = req
            .try_clone()
            .unwrap()
            .body(body.clone())
            .send()
            .await
            .expect("the hub answers");
        if resp.status() == 429 {
            RATE_LIMITED.fetch_add(1, Ordering::Relaxed);
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(1.0)
                .clamp(0.01, 5.0);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            continue;
        }
        if !resp.status().is_success() {
            let status = resp.status();
            panic!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
        }
        return resp;
    }
}

/// Registers `name` (no token) and returns its token.
async fn register(http: &reqwest::Client, url: &str, name: &str) -> String {
    let mut anon = Mcp::stateless(http.clone(), url, None);
    let r = anon.tool("register_agent", json!({"name": name})).await;
    r["token"].as_str().expect("a token").to_owned()
}

// ---------------------------------------------------------------------------
// Measures.

/// A sequential run: rate, latency and the hub's CPU per call.
#[derive(Debug, Default, Clone)]
struct Seq {
    rate: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
}

impl Seq {
    fn line(&self) -> String {
        format!(
            "{:.0}/s, p50 {:.3} ms, p99 {:.3} ms, hub CPU {:.0} us/call",
            self.rate, self.p50, self.p99, self.cpu_us
        )
    }
}

/// `n` sequential requests on `mcp`, `args(i)` building each; the replies.
async fn sequential(
    hub: &Hub,
    mcp: &mut Mcp,
    n: usize,
    method: &str,
    params: impl Fn(usize) -> Value,
) -> (Seq, Vec<Value>) {
    let mut lat = Vec::with_capacity(n);
    let mut replies = Vec::with_capacity(n);
    let cpu = hub.cpu();
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let r = mcp.request(method, params(i)).await;
        lat.push(t.elapsed());
        assert!(r.get("result").is_some(), "{method} failed: {r}");
        replies.push(r);
    }
    let wall = start.elapsed();
    let cpu = hub.cpu() - cpu;
    lat.sort();
    (
        Seq {
            rate: n as f64 / wall.as_secs_f64(),
            p50: ms(percentile(&lat, 0.5)),
            p99: ms(percentile(&lat, 0.99)),
            cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        },
        replies,
    )
}

fn send_params(to: &str, content: &str) -> Value {
    json!({"name": "send_message", "arguments": {"to": to, "content": content}})
}

#[derive(Debug, Default, Clone)]
struct Concurrent {
    clients: usize,
    acked: usize,
    rate: f64,
    p50: f64,
    p99: f64,
    hub_cpu_us: f64,
    client_cpu_us: f64,
    delivered: usize,
    duplicates: usize,
    missing: usize,
    unexpected: usize,
}

#[derive(Debug, Default, Clone)]
struct Streams {
    sessions: usize,
    setup_s: f64,
    rss_before_mib: f64,
    rss_mib: f64,
    hwm_mib: f64,
    samples: usize,
    p50: f64,
    p99: f64,
    p50_after_reply: f64,
    lost: usize,
    idle_cpu_pct: f64,
    idle_seconds: u64,
}

#[derive(Debug, Default, Clone)]
struct Start {
    median: f64,
    p90: f64,
    listening_median: f64,
    rss_mib: f64,
}

#[derive(Debug, Default, Clone)]
struct Results {
    send_2026: Seq,
    send_2025: Seq,
    ping_2025: Seq,
    get_2026: Seq,
    get_duplicates: usize,
    get_empty_2026: Seq,
    concurrent: Concurrent,
    streams: Streams,
    start: Start,
    complaints: Vec<String>,
}

impl Results {
    /// The numeric rows for the side-by-side table.
    fn figures(&self) -> Vec<(&'static str, f64, &'static str)> {
        vec![
            (
                "sequential send_message, 2026 stateless",
                self.send_2026.rate,
                "calls/s",
            ),
            ("  its p99", self.send_2026.p99, "ms"),
            ("sequential send_message, 2025 session", self.send_2025.rate, "calls/s"),
            ("  its p99", self.send_2025.p99, "ms"),
            ("sequential ping, 2025 session", self.ping_2025.rate, "calls/s"),
            ("sequential get_messages (10/page), 2026", self.get_2026.rate, "calls/s"),
            ("concurrent send_message, aggregate", self.concurrent.rate, "msgs/s"),
            ("sessions: hub RSS with streams open", self.streams.rss_mib, "MiB"),
            ("send -> notification p50", self.streams.p50, "ms"),
            ("send -> notification p99", self.streams.p99, "ms"),
            ("idle CPU with streams open", self.streams.idle_cpu_pct, "% core"),
            ("hub start -> first answer, median", self.start.median, "ms"),
        ]
    }
}

/// Every hub measure for binary `bin` on fresh stores under `dir`.
fn measure(bin: &str, dir: &Path, label: &str, config: &Path, sizes: &Sizes) -> Results {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut res = Results::default();
    let db = dir.join(format!("{label}-hub.db"));
    let hub = Hub::spawn(bin, &db, config);
    println!("[{label}] hub at {} (pid {})", hub.url, hub.pid());
    rt.block_on(async {
        let url = hub.url.clone();
        let http = http_client(1);
        let n = sizes.calls;

        // 1. Sequential, one keep-alive connection.
        let token = register(&http, &url, "seq-2026").await;
        let mut m = Mcp::stateless(http.clone(), &url, Some(&token));
        sequential(&hub, &mut m, 200.min(n), "tools/call", |_| send_params("warm-sink", "warm up")).await;
        let (s, _) = sequential(&hub, &mut m, n, "tools/call", |_| {
            send_params("seq-sink", "benchmark message")
        })
        .await;
        println!("[{label}] sequential send_message, 2026 stateless: {} ({n} calls)", s.line());
        res.send_2026 = s;

        let token = register(&http, &url, "seq-2025").await;
        let mut m = Mcp::session(http.clone(), &url, Some(&token)).await;
        sequential(&hub, &mut m, 200.min(n), "tools/call", |_| send_params("warm-sink", "warm up")).await;
        // Into page-reader's inbox: the get_messages run below reads them.
        let (s, _) = sequential(&hub, &mut m, n, "tools/call", |_| {
            send_params("page-reader", "benchmark message")
        })
        .await;
        println!("[{label}] sequential send_message, 2025 session: {} ({n} calls)", s.line());
        res.send_2025 = s;
        let (s, _) = sequential(&hub, &mut m, n, "ping", |_| json!({})).await;
        println!("[{label}] sequential ping, 2025 session: {} ({n} calls)", s.line());
        res.ping_2025 = s;

        // Stateless ping: reported, not measured, if the hub refuses it.
        let anon = Mcp::stateless(http.clone(), &url, None);
        let ping = anon
            .post()
            .header("MCP-Protocol-Version", STATELESS)
            .header("Mcp-Method", "ping")
            .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": meta()}}).to_string())
            .send()
            .await
            .unwrap();
        let status = ping.status();
        let text = ping.text().await.unwrap_or_default();
        if !status.is_success() || text.contains("\"error\"") {
            println!("[{label}] note: a 2026 stateless ping is answered with HTTP {status}: {}", text.trim());
        }

        let token = register(&http, &url, "page-reader").await;
        let mut m = Mcp::stateless(http.clone(), &url, Some(&token));
        let pages = n / 10;
        let (s, replies) = sequential(&hub, &mut m, pages, "tools/call", |_| {
            json!({"name": "get_messages", "arguments": {"limit": 10}})
        })
        .await;
        let mut seen = HashSet::new();
        let mut read = 0;
        for r in &replies {
            for msg in r["result"]["structuredContent"]["messages"].as_array().unwrap() {
                read += 1;
                if !seen.insert(msg["id"].as_i64().unwrap()) {
                    res.get_duplicates += 1;
                }
            }
        }
        println!(
            "[{label}] sequential get_messages (10/page), 2026 stateless: {} ({pages} pages, {read} messages, {} seen twice)",
            s.line(),
            res.get_duplicates
        );
        res.get_2026 = s;
        let (s, _) = sequential(&hub, &mut m, pages, "tools/call", |_| {
            json!({"name": "get_messages", "arguments": {"limit": 10}})
        })
        .await;
        println!("[{label}] sequential get_messages, empty inbox, 2026 stateless: {}", s.line());
        res.get_empty_2026 = s;

        // 2. Concurrent clients.
        res.concurrent = concurrent(&hub, sizes.clients, sizes.per_client).await;
        let c = &res.concurrent;
        println!(
            "[{label}] {} concurrent clients x {}: {:.0} msgs/s aggregate, p50 {:.2} ms, p99 {:.2} ms, hub CPU {:.0} us/msg, bench client CPU {:.0} us/msg; {} acknowledged, {} delivered, {} duplicates, {} missing, {} unexpected",
            c.clients, sizes.per_client, c.rate, c.p50, c.p99, c.hub_cpu_us, c.client_cpu_us, c.acked, c.delivered, c.duplicates, c.missing, c.unexpected
        );

        // 3. Sessions with open notification streams.
        res.streams = streams(&hub, sizes).await;
        let s = &res.streams;
        println!(
            "[{label}] {} sessions with GET streams (set up in {:.1} s): hub RSS {:.1} MiB (before {:.1}, peak {:.1}); send -> notification p50 {:.2} ms, p99 {:.2} ms (p50 {:.2} ms after the reply; {} samples, {} lost); idle CPU {:.2}% of a core over {} s",
            s.sessions,
            s.setup_s,
            s.rss_mib,
            s.rss_before_mib,
            s.hwm_mib,
            s.p50,
            s.p99,
            s.p50_after_reply,
            s.samples,
            s.lost,
            s.idle_cpu_pct,
            s.idle_seconds
        );
    });
    res.complaints = hub.complaints();
    hub.stop();
    drop(rt);

    // 4. Hub start -> first answered request.
    res.start = cold_start(bin, &dir.join(format!("{label}-start.db")), config, sizes.starts);
    println!(
        "[{label}] hub start -> first answered request: median {:.1} ms, p90 {:.1} ms (spawn -> listening line {:.1} ms; RSS {:.1} MiB; {} starts)",
        res.start.median, res.start.p90, res.start.listening_median, res.start.rss_mib, sizes.starts
    );
    res
}

/// `clients` agents, each on its own connection, each sending
/// `per_client` messages to the next one; then every inbox is read.
async fn concurrent(hub: &Hub, clients: usize, per_client: usize) -> Concurrent {
    let url = hub.url.as_str();
    let http = http_client(1);
    let mut agents = Vec::new();
    for i in 0..clients {
        let name = format!("conc-{i}");
        let token = register(&http, url, &name).await;
        agents.push((name, token));
    }
    let hub_cpu = hub.cpu();
    let client_cpu = proc_cpu(std::process::id());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, (_, token)) in agents.iter().enumerate() {
        let to = agents[(i + 1) % clients].0.clone();
        let mut m = Mcp::stateless(http_client(1), url, Some(token));
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(per_client);
            let mut lat = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let t = Instant::now();
                let r = m
                    .tool("send_message", json!({"to": to, "content": format!("{i}:{n}")}))
                    .await;
                lat.push(t.elapsed());
                ids.push(r["message_id"].as_i64().expect("message_id"));
            }
            (to, ids, lat)
        }));
    }
    let mut expected: HashMap<String, HashSet<i64>> = HashMap::new();
    let mut lat = Vec::new();
    for t in tasks {
        let (to, ids, l) = t.await.unwrap();
        expected.entry(to).or_default().extend(ids);
        lat.extend(l);
    }
    let wall = start.elapsed();
    let hub_cpu = hub.cpu() - hub_cpu;
    let client_cpu = proc_cpu(std::process::id()) - client_cpu;
    lat.sort();
    let mut out = Concurrent {
        clients,
        acked: lat.len(),
        hub_cpu_us: hub_cpu.as_secs_f64() * 1e6 / lat.len().max(1) as f64,
        client_cpu_us: client_cpu.as_secs_f64() * 1e6 / lat.len().max(1) as f64,
        rate: lat.len() as f64 / wall.as_secs_f64(),
        p50: ms(percentile(&lat, 0.5)),
        p99: ms(percentile(&lat, 0.99)),
        ..Default::default()
    };
    // Every recipient reads its inbox in a 2025 session (whose pages never
    // repeat, see src/mcp/delivery.rs).
    for (name, token) in &agents {
        let mut m = Mcp::session(http.clone(), url, Some(token)).await;
        let want = expected.remove(name).unwrap_or_default();
        let mut got = HashSet::new();
        loop {
            let page = m.tool("get_messages", json!({"limit": 100})).await;
            let msgs = page["messages"].as_array().unwrap();
            if msgs.is_empty() {
                break;
            }
            for msg in msgs {
                out.delivered += 1;
                if !got.insert(msg["id"].as_i64().unwrap()) {
                    out.duplicates += 1;
                }
            }
        }
        out.missing += want.difference(&got).count();
        out.unexpected += got.difference(&want).count();
    }
    out
}

/// Opens `sessions` 2025 sessions, each with a GET stream subscribed to
/// its inbox; measures RSS, send -> notification latency and idle CPU.
async fn streams(hub: &Hub, sizes: &Sizes) -> Streams {
    let url = hub.url.clone();
    let n = sizes.sessions;
    let mut out = Streams {
        sessions: n,
        idle_seconds: sizes.idle_seconds,
        rss_before_mib: hub.rss_kib().0 as f64 / 1024.0,
        ..Default::default()
    };
    // Stream connections: one each, from one pool (a GET in progress holds
    // its connection, so the pool opens one per stream). POSTs share a
    // small pool.
    let streams_http = http_client(0);
    let posts = http_client(32);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let setup = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut setups = Vec::new();
    for i in 0..n {
        let (url, posts, streams_http, tx, gate) = (
            url.clone(),
            posts.clone(),
            streams_http.clone(),
            tx.clone(),
            gate.clone(),
        );
        setups.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let name = format!("s-{i}");
            let token = register(&posts, &url, &name).await;
            let mut m = Mcp::session(posts.clone(), &url, Some(&token)).await;
            let get = streams_http
                .get(&url)
                .header("Accept", "text/event-stream")
                .header("Mcp-Session-Id", m.session.clone().unwrap())
                .header("MCP-Protocol-Version", SESSION)
                .header("X-Agent-Token", &token);
            let mut resp = get.send().await.expect("GET stream");
            assert!(resp.status().is_success(), "GET stream: {}", resp.status());
            let reader = tokio::spawn(async move {
                let mut buf = String::new();
                while let Ok(Some(chunk)) = resp.chunk().await {
                    let at = Instant::now();
                    buf.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buf.find("\n\n") {
                        let event: String = buf.drain(..end + 2).collect();
                        for data in sse_events(&event) {
                            if let Ok(v) = serde_json::from_str::<Value>(&data)
                                && v["method"] == "notifications/resources/updated"
                            {
                                let _ = tx.send((i, at));
                            }
                        }
                    }
                }
            });
            let r = m
                .request("resources/subscribe", json!({"uri": format!("relay://inbox/{name}")}))
                .await;
            assert!(r.get("result").is_some(), "subscribe: {r}");
            (name, reader)
        }));
    }
    let mut names = Vec::new();
    let mut readers = Vec::new();
    for s in setups {
        let (name, reader) = s.await.unwrap();
        names.push(name);
        readers.push(reader);
    }
    drop(tx);
    out.setup_s = setup.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    out.rss_mib = hub.rss_kib().0 as f64 / 1024.0;

    // Send to random sessions, one at a time; each notification is
    // timestamped by its stream's reader when its bytes arrive.
    let token = register(&posts, &url, "notify-sender").await;
    let mut sender = Mcp::stateless(http_client(1), &url, Some(&token));
    let mut rng = rand::rng();
    let mut lat = Vec::new();
    let mut after_reply = Vec::new();
    for _ in 0..sizes.samples {
        let i = rng.random_range(0..n);
        while rx.try_recv().is_ok() {} // nothing stale
        let t0 = Instant::now();
        sender
            .tool("send_message", json!({"to": names[i], "content": "wake up"}))
            .await;
        let replied = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((j, at))) if j == i => {
                    lat.push(at - t0);
                    after_reply.push(at.saturating_duration_since(replied));
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    out.lost += 1;
                    break;
                }
            }
        }
    }
    lat.sort();
    after_reply.sort();
    out.samples = lat.len();
    out.p50 = ms(percentile(&lat, 0.5));
    out.p99 = ms(percentile(&lat, 0.99));
    out.p50_after_reply = ms(percentile(&after_reply, 0.5));
    let (rss, hwm) = hub.rss_kib();
    out.rss_mib = out.rss_mib.max(rss as f64 / 1024.0);
    out.hwm_mib = hwm as f64 / 1024.0;

    // Idle: nothing sent, every stream open.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = hub.cpu();
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(sizes.idle_seconds)).await;
    out.idle_cpu_pct = (hub.cpu() - cpu).as_secs_f64() / t.elapsed().as_secs_f64() * 100.0;
    for r in readers {
        r.abort();
    }
    out
}

/// Spawn -> first answered `/mcp` request (a stateless `health_check`
/// without a token), over `starts` starts on an existing store.
fn cold_start(bin: &str, db: &Path, config: &Path, starts: usize) -> Start {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Hub::spawn(bin, db, config).stop(); // create the store first
    let mut times = Vec::new();
    let mut listening = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..starts {
        let http = http_client(1);
        let t = Instant::now();
        let hub = Hub::spawn(bin, db, config);
        listening.push(t.elapsed());
        rt.block_on(async {
            let mut m = Mcp::stateless(http, &hub.url, None);
            loop {
                let r = m
                    .request("tools/call", json!({"name": "health_check", "arguments": {}}))
                    .await;
                if r["result"]["isError"] == false {
                    break;
                }
            }
        });
        times.push(t.elapsed());
        rss.push(hub.rss_kib().0);
        hub.stop();
    }
    times.sort();
    listening.sort();
    rss.sort();
    Start {
        median: ms(percentile(&times, 0.5)),
        p90: ms(percentile(&times, 0.9)),
        listening_median: ms(percentile(&listening, 0.5)),
        rss_mib: rss.get(rss.len() / 2).copied().unwrap_or(0) as f64 / 1024.0,
    }
}

// ---------------------------------------------------------------------------
// Baselines.

/// A bare single-row `synchronous=FULL` commit, `n` times: commits/s.
fn sqlite_commits(db: &Path, n: usize) -> f64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .unwrap();
    let start = Instant::now();
    for _ in 0..n {
        conn.execute("INSERT INTO t (v) VALUES ('benchmark message')", [])
            .unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// relay's stdio `send_message`, sequential, one `relay serve --agent`.
fn stdio_send(bin: &str, db: &Path, n: usize) -> Seq {
    let mut child = Command::new(bin)
        .arg("--db")
        .arg(db)
        .args(["serve", "--agent", "stdio-sender"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn relay");
    let mut stdin: BufWriter<ChildStdin> = BufWriter::new(child.stdin.take().unwrap());
    let mut stdout: BufReader<ChildStdout> = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut call = |v: &Value, reply: bool| -> Option<Value> {
        serde_json::to_writer(&mut stdin, v).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        if !reply {
            return None;
        }
        line.clear();
        stdout.read_line(&mut line).unwrap();
        Some(serde_json::from_str(&line).unwrap())
    };
    call(
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}),
        true,
    );
    call(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), false);
    let req = |id: usize| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "send_message", "arguments": {"to": "stdio-sink", "content": "benchmark message"}}})
    };
    for i in 0..200.min(n) {
        call(&req(i + 1), true);
    }
    let pid = child.id();
    let cpu = proc_cpu(pid);
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let r = call(&req(1000 + i), true).unwrap();
        lat.push(t.elapsed());
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    let wall = start.elapsed();
    let cpu = proc_cpu(pid) - cpu;
    drop(stdin);
    let _ = child.wait();
    lat.sort();
    Seq {
        rate: n as f64 / wall.as_secs_f64(),
        p50: ms(percentile(&lat, 0.5)),
        p99: ms(percentile(&lat, 0.99)),
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
    }
}

/// Raises the soft open-files limit to the hard one when it is below
/// `need`; returns the soft limit in force.
fn raise_nofile(need: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft >= need {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            println!("open files: soft limit raised from {soft} to {hard} (need about {need})");
            if hard < need {
                println!("warning: the hard limit {hard} is below {need}; run with fewer RELAY_HTTP_BENCH_SESSIONS");
            }
            hard
        }
        Err(e) => {
            println!("warning: cannot raise the open-files limit from {soft} ({e})");
            soft
        }
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

fn main() {
    let sizes = Sizes::from_env();
    let nofile = raise_nofile(sizes.sessions as u64 + 256);
    let dir = tempfile::tempdir().unwrap();
    let config: PathBuf = match std::env::var_os("RELAY_HTTP_BENCH_CONFIG") {
        Some(p) => PathBuf::from(p),
        None => {
            let p = dir.path().join("config.toml");
            std::fs::write(&p, "").unwrap();
            p
        }
    };
    println!("http bench: {RELAY}");
    println!(
        "store dir: {} (synchronous=FULL, WAL); config {}",
        dir.path().display(),
        config.display()
    );
    println!("sizes: {sizes:?}; open-files soft limit {nofile}");
    println!(
        "load average at start: {} on {} cores",
        load(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Baselines in the same run.
    let commits = sqlite_commits(&dir.path().join("baseline.db"), sizes.calls.min(5_000));
    println!("baseline: {commits:.0} single-row synchronous=FULL commits/s");
    let stdio = stdio_send(RELAY, &dir.path().join("stdio.db"), sizes.calls);
    println!("baseline: stdio send_message, sequential: {}", stdio.line());

    let baseline = std::env::var("RELAY_BENCH_BASELINE").ok();
    let res = match &baseline {
        None => measure(RELAY, dir.path(), "current", &config, &sizes),
        Some(other) => {
            // A, B, B, A: a drift of the shared machine hits both alike.
            let mut runs = Vec::new();
            for (i, (label, bin)) in [("current", RELAY), ("baseline", other.as_str())]
                .into_iter()
                .chain([("baseline", other.as_str()), ("current", RELAY)])
                .enumerate()
            {
                println!("\nrun {} of 4: {label} ({bin})", i + 1);
                runs.push((
                    label,
                    measure(bin, dir.path(), &format!("{label}-{i}"), &config, &sizes),
                ));
            }
            let mean = |label: &str| -> Vec<(&'static str, f64, &'static str)> {
                let mine: Vec<Vec<_>> = runs
                    .iter()
                    .filter(|(l, _)| *l == label)
                    .map(|(_, r)| r.figures())
                    .collect();
                mine[0]
                    .iter()
                    .zip(&mine[1])
                    .map(|((name, a, unit), (_, b, _))| (*name, (a + b) / 2.0, *unit))
                    .collect()
            };
            println!("\n| measure | this build | baseline | ratio |\n|---|---|---|---|");
            for ((name, now, unit), (_, then, _)) in mean("current").iter().zip(&mean("baseline")) {
                println!("| {name} | {now:.2} {unit} | {then:.2} {unit} | {:.2}x |", now / then);
            }
            runs.pop().unwrap().1
        }
    };
    // The baselines again: the shared disk drifts over a run.
    let commits_end = sqlite_commits(&dir.path().join("baseline-end.db"), sizes.calls.min(5_000));
    let stdio_end = stdio_send(RELAY, &dir.path().join("stdio-end.db"), sizes.calls);
    println!(
        "baseline at the end: {commits_end:.0} commits/s; stdio {}",
        stdio_end.line()
    );
    report(&res, &sizes, (commits, commits_end), (&stdio, &stdio_end));
}

fn report(r: &Results, sizes: &Sizes, (commits, commits_end): (f64, f64), (stdio, stdio_end): (&Seq, &Seq)) {
    let c = &r.concurrent;
    let s = &r.streams;
    // Ratios against the mean of the start and end baselines.
    let stdio_rate = (stdio.rate + stdio_end.rate) / 2.0;
    let commit_rate = (commits + commits_end) / 2.0;
    let exactly_once = c.duplicates == 0 && c.missing == 0 && c.unexpected == 0;
    println!("\nload average at end: {}", load());
    println!("\n| measure | target | measured | | Node peer |\n|---|---|---|---|---|");
    println!(
        "| sequential `send_message`, one keep-alive connection, 2026 stateless | ≥ 2,000/s, p99 ≤ 2 ms | **{:.0}/s**, p50 {:.2} ms, p99 {:.2} ms ({:.2}× stdio, {:.2}× the bare commit) | {} | {NODE_SEND:.0}/s, p99 {NODE_SEND_P99} ms ({:.1}×) |",
        r.send_2026.rate,
        r.send_2026.p50,
        r.send_2026.p99,
        r.send_2026.rate / stdio_rate,
        r.send_2026.rate / commit_rate,
        verdict(r.send_2026.rate >= 2_000.0 && r.send_2026.p99 <= 2.0),
        r.send_2026.rate / NODE_SEND
    );
    println!(
        "| the same, 2025 session | ≥ 2,000/s, p99 ≤ 2 ms | **{:.0}/s**, p50 {:.2} ms, p99 {:.2} ms ({:.2}× stdio) | {} | ({:.1}×) |",
        r.send_2025.rate,
        r.send_2025.p50,
        r.send_2025.p99,
        r.send_2025.rate / stdio_rate,
        verdict(r.send_2025.rate >= 2_000.0 && r.send_2025.p99 <= 2.0),
        r.send_2025.rate / NODE_SEND
    );
    println!(
        "| {} concurrent HTTP clients × {} `send_message` | ≥ 10,000/s (aim 20,000), each exactly once | **{:.0}/s** (p50 {:.2} ms, p99 {:.2} ms); {} acknowledged, {} delivered, {} duplicates, {} missing | {} | |",
        c.clients,
        sizes.per_client,
        c.rate,
        c.p50,
        c.p99,
        c.acked,
        c.delivered,
        c.duplicates,
        c.missing,
        verdict(c.rate >= 10_000.0 && exactly_once && c.acked == c.delivered)
    );
    println!(
        "| {} sessions with open GET streams: hub RSS | ≤ 200 MB | **{:.1} MiB** (idle hub {:.1} MiB; {:.0} KiB per session; peak {:.1} MiB) | {} | {NODE_RSS:.0} MiB idle |",
        s.sessions,
        s.rss_mib,
        s.rss_before_mib,
        (s.rss_mib - s.rss_before_mib) * 1024.0 / s.sessions.max(1) as f64,
        s.hwm_mib,
        verdict(s.rss_mib * 1.048_576 <= 200.0)
    );
    println!(
        "| send → `notifications/resources/updated` on the stream | p99 ≤ 50 ms | **p50 {:.2} ms, p99 {:.2} ms** ({} samples, {} lost) | {} | |",
        s.p50,
        s.p99,
        s.samples,
        s.lost,
        verdict(s.p99 <= 50.0 && s.lost == 0)
    );
    println!(
        "| idle CPU, every stream open, over {} s | < 2% of a core | **{:.2}%** | {} | |",
        s.idle_seconds,
        s.idle_cpu_pct,
        verdict(s.idle_cpu_pct < 2.0)
    );
    println!(
        "| hub start → first answered request, median of {} | ≤ 20 ms | **{:.1} ms** (p90 {:.1} ms; RSS {:.1} MiB) | {} | {NODE_START:.0} ms ({:.0}× faster) |",
        sizes.starts,
        r.start.median,
        r.start.p90,
        r.start.rss_mib,
        verdict(r.start.median <= 20.0),
        NODE_START / r.start.median.max(0.001)
    );
    println!("\n| more (no target) | measured | Node peer |\n|---|---|---|");
    println!(
        "| sequential `ping`, 2025 session | {:.0}/s, p99 {:.2} ms | {NODE_PING:.0}/s ({:.1}×) |",
        r.ping_2025.rate,
        r.ping_2025.p99,
        r.ping_2025.rate / NODE_PING
    );
    println!(
        "| sequential `get_messages` (pages of 10), 2026 stateless | {:.0}/s, p99 {:.2} ms; {} messages seen twice | {NODE_GET:.0}/s ({:.1}×) |",
        r.get_2026.rate,
        r.get_2026.p99,
        r.get_duplicates,
        r.get_2026.rate / NODE_GET
    );
    println!(
        "| sequential `get_messages`, empty inbox, 2026 stateless | {:.0}/s, p99 {:.2} ms | |",
        r.get_empty_2026.rate, r.get_empty_2026.p99
    );
    println!(
        "| hub CPU per call (send 2026 / send 2025 / ping / get) | {:.0} / {:.0} / {:.0} / {:.0} µs | |",
        r.send_2026.cpu_us, r.send_2025.cpu_us, r.ping_2025.cpu_us, r.get_2026.cpu_us
    );
    println!(
        "| CPU per message, {} concurrent clients: hub / bench client | {:.0} / {:.0} µs | |",
        c.clients, c.hub_cpu_us, c.client_cpu_us
    );
    println!(
        "| {} sessions set up (register, initialize, GET, subscribe; 32 at a time) | {:.1} s | |",
        s.sessions, s.setup_s
    );
    println!("\n| baseline, same run | rate |\n|---|---|");
    println!(
        "| bare SQLite single-row commit, `synchronous=FULL`, start / end | {commits:.0} / {commits_end:.0} commits/s |"
    );
    println!(
        "| stdio `send_message`, sequential, one `relay serve`, start | {} |",
        stdio.line()
    );
    println!("| the same, end | {} |", stdio_end.line());
    let limited = RATE_LIMITED.load(Ordering::Relaxed);
    println!("\n429 RATE_LIMITED answers (waited out, retried): {limited}");
    if !r.complaints.is_empty() {
        println!("hub WARN/ERROR log lines: {}", r.complaints.len());
        for l in r.complaints.iter().take(10) {
            println!("  {l}");
        }
    }
}
