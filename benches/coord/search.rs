//! `search_messages` on a large store (issue 13 target: p99 ≤ 50 ms for a
//! two-word query on 1,000,000 messages; the index adds ≤ 60 % to the
//! store's size).
//!
//! Builds the store through the store API in group commits (every row a
//! real call writes: message, recipients, outbox events, audit, index),
//! with text drawn from a Zipf vocabulary (s = 1 over 20,000 words, 8–40
//! words a message, plus some file names, numbers and hashes), 12 agents,
//! 6 channels: 85 % direct mail, 2 % broadcasts, 13 % channel posts. Then:
//! 1. size: the index's pages (`dbstat`, `message_search*`) against the
//!    rest of the store, as written and after FTS5 `optimize` (what
//!    `relay re-encrypt` ends with; its time is reported);
//! 2. store-level latency of `Store::search_messages` for two-word
//!    queries in four classes by word frequency: rare + rare, common +
//!    rare, common + common (words of rank 20–80, each in roughly 2–10 %
//!    of messages), and the two most frequent words (in most messages),
//!    each query as a random agent; with how many matched and how often
//!    the ranking was capped;
//! 3. the same after a retention pass (which merges the index's
//!    segments, as `relay serve` does hourly), and after `optimize`;
//! 4. tool-level latency: `tools/call search_messages` over stdio to the
//!    release binary (`relay serve --agent`), common + common, after the
//!    retention pass.
//!
//! CPU times come from `getrusage(RUSAGE_THREAD)`, which this kernel
//! counts in 4 ms ticks: read them as a rough cross-check of the wall
//! times on a shared machine.
//!
//! Env: `RELAY_BENCH_QUICK=1` (100,000 messages, fewer queries);
//! `RELAY_SEARCH_BENCH_MESSAGES` (1,000,000); `RELAY_SEARCH_BENCH_QUERIES`
//! (300 per class); `RELAY_SEARCH_BENCH_KEYRING=1` (the store under a
//! keyring: sealed content, hashed index).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use relay::clock::ManualClock;
use relay::crypto::{Codec, Keyring};
use relay::store::search::SearchRequest;
use relay::store::{Caller, Limits, Priority, Store, Transport};

const RELAY: &str = env!("CARGO_BIN_EXE_relay");
const VOCABULARY: usize = 20_000;
const AGENTS: usize = 12;
const CHANNELS: [&str; 6] = ["general", "builds", "reviews", "incidents", "release", "random"];
const SEED_BATCH: usize = 2_000;
const KEYRING: &str = r#"{"current": "k1", "keys": {"k1": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}}"#;

/// Real words for the head of the distribution, then made-up ones.
const HEAD: &[&str] = &[
    "the",
    "to",
    "and",
    "a",
    "of",
    "in",
    "is",
    "it",
    "for",
    "on",
    "that",
    "this",
    "with",
    "i",
    "be",
    "we",
    "not",
    "as",
    "are",
    "at",
    "test",
    "can",
    "if",
    "or",
    "fix",
    "build",
    "but",
    "have",
    "from",
    "you",
    "so",
    "pr",
    "branch",
    "main",
    "merge",
    "review",
    "failing",
    "now",
    "should",
    "will",
    "there",
    "one",
    "store",
    "task",
    "was",
    "all",
    "run",
    "just",
    "error",
    "when",
    "code",
    "after",
    "before",
    "then",
    "out",
    "up",
    "about",
    "change",
    "file",
    "check",
    "release",
    "update",
    "new",
    "issue",
    "message",
    "agent",
    "relay",
    "lease",
    "config",
    "deploy",
    "rebase",
    "commit",
    "schema",
    "migration",
    "index",
    "query",
    "retry",
    "timeout",
    "flaky",
    "green",
    "red",
    "ci",
    "pipeline",
    "docs",
    "readme",
    "changelog",
    "bench",
    "target",
    "latency",
    "p99",
    "cache",
    "cold",
    "warm",
    "lock",
    "writer",
    "reader",
    "token",
    "rotate",
    "grace",
    "webhook",
    "channel",
    "broadcast",
    "inbox",
    "hook",
    "session",
    "worker",
    "claim",
    "fencing",
    "outbox",
    "event",
    "audit",
    "retention",
    "purge",
    "snapshot",
    "backup",
    "restore",
    "doctor",
    "keyring",
    "encrypt",
    "decrypt",
    "rollback",
    "hotfix",
    "staging",
    "production",
    "incident",
    "postmortem",
    "owner",
    "handoff",
    "blocked",
    "waiting",
    "done",
    "ready",
    "draft",
    "approve",
    "reject",
    "comment",
    "nit",
    "refactor",
    "rename",
    "extract",
    "inline",
    "split",
    "module",
    "crate",
    "trait",
    "struct",
    "enum",
    "macro",
    "lifetime",
    "borrow",
    "clone",
    "async",
    "await",
    "tokio",
    "runtime",
    "thread",
    "mutex",
    "channel",
    "select",
    "spawn",
    "panic",
];

/// A deterministic xorshift generator: the same store every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Word `rank` (0 = most frequent).
fn word(rank: usize) -> String {
    if let Some(w) = HEAD.get(rank) {
        return (*w).to_owned();
    }
    const SYL: [&str; 24] = [
        "ka", "lo", "mer", "ti", "van", "sor", "el", "qu", "dra", "pen", "zu", "hol", "rit", "ba", "nex", "cor", "fi",
        "gam", "ul", "ost", "ry", "tem", "wi", "jo",
    ];
    let mut n = rank;
    let mut w = String::new();
    loop {
        w.push_str(SYL[n % SYL.len()]);
        n /= SYL.len();
        if n == 0 {
            break;
        }
    }
    w.push_str(&format!("{}", rank % 7));
    w
}

/// Zipf(s = 1) over [`VOCABULARY`] ranks, by inverse CDF on a table.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new() -> Self {
        let mut cdf = Vec::with_capacity(VOCABULARY);
        let mut total = 0.0;
        for r in 1..=VOCABULARY {
            total += 1.0 / r as f64;
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(VOCABULARY - 1)
    }
}

fn text(rng: &mut Rng, zipf: &Zipf, words: &[String]) -> String {
    let n = 8 + rng.below(33);
    let mut out = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            out.push(if rng.below(12) == 0 { '\n' } else { ' ' });
        }
        match rng.below(40) {
            0 => out.push_str(&format!("src/store/m{}.rs", rng.below(400))),
            1 => out.push_str(&format!("#{}", rng.below(100_000))),
            2 => out.push_str(&format!("{:012x}", rng.next() & 0xffff_ffff_ffff)),
            _ => out.push_str(&words[zipf.sample(rng)]),
        }
        if rng.below(10) == 0 {
            out.push(',');
        }
    }
    out.push('.');
    out
}

fn caller(name: &str) -> Caller<'_> {
    Caller {
        agent: name,
        transport: Transport::Cli,
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time (user + system) this thread has used, in microseconds
/// (`getrusage(RUSAGE_THREAD)`): the machine the bench runs on may be
/// shared, and CPU time is what a query costs whatever else runs.
fn thread_cpu_us() -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_THREAD).map_or(0, |u| {
        let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
        us(u.user_time()) + us(u.system_time())
    })
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn open(db: &Path, clock: Arc<ManualClock>, keyed: bool) -> Store {
    let codec = if keyed {
        Codec::new(Some(Arc::new(Keyring::from_json(KEYRING, "bench").unwrap())))
    } else {
        Codec::default()
    };
    Store::open_with(db, clock, Limits::default(), codec).expect("open store")
}

/// Pages of the index and of everything else, in bytes (`dbstat`).
fn sizes(store_path: &Path) -> (u64, u64) {
    let c = rusqlite::Connection::open(store_path).unwrap();
    let (index, total): (i64, i64) = c
        .query_row(
            "SELECT COALESCE(SUM(CASE WHEN name LIKE 'message\\_search%' ESCAPE '\\' THEN pgsize END), 0),
                    SUM(pgsize)
             FROM dbstat",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    (index as u64, (total - index) as u64)
}

fn checkpoint(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

pub fn run() {
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    let n = env_or("RELAY_SEARCH_BENCH_MESSAGES", if quick { 100_000 } else { 1_000_000 });
    let queries = env_or("RELAY_SEARCH_BENCH_QUERIES", if quick { 100 } else { 300 });
    let keyed = std::env::var_os("RELAY_SEARCH_BENCH_KEYRING").is_some();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    println!(
        "coord_bench search: {n} messages, {queries} queries per class, {} (store {})",
        if keyed { "keyring (hashed index)" } else { "no keyring" },
        db.display()
    );

    // 1. Build.
    let started = Instant::now();
    let clock = ManualClock::new(1_750_000_000_000);
    let store = open(&db, clock.clone(), keyed);
    let agents: Vec<String> = (0..AGENTS).map(|i| format!("agent-{i:02}")).collect();
    let caps: Vec<String> = ["channels", "broadcast"].map(str::to_owned).to_vec();
    for a in &agents {
        store.bind_agent(a, Some("dev"), Some(&caps), Transport::Cli).unwrap();
    }
    for (i, ch) in CHANNELS.iter().enumerate() {
        store.create_channel(caller(&agents[i]), ch, None).unwrap();
        for a in agents.iter().skip(i % 2).step_by(2) {
            let _ = store.join_channel(caller(a), ch);
        }
        store.join_channel(caller(&agents[i]), ch).unwrap();
    }
    let words: Vec<String> = (0..VOCABULARY).map(word).collect();
    let zipf = Zipf::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut done = 0;
    while done < n {
        let end = (done + SEED_BATCH).min(n);
        let ((), committed) = store.batch(|| {
            for _ in done..end {
                clock.advance(1_000);
                let from = rng.below(AGENTS);
                let content = text(&mut rng, &zipf, &words);
                match rng.below(100) {
                    0..=84 => {
                        let to = (from + 1 + rng.below(AGENTS - 1)) % AGENTS;
                        store
                            .send_message(caller(&agents[from]), &agents[to], &content, Priority::Normal, None)
                            .unwrap();
                    }
                    85..=86 => {
                        store
                            .broadcast(caller(&agents[from]), &content, None, Priority::Normal)
                            .unwrap();
                    }
                    _ => {
                        // A member of the channel posts.
                        let c = rng.below(CHANNELS.len());
                        let poster = if from % 2 == c % 2 { from } else { c };
                        store
                            .post_to_channel(caller(&agents[poster]), CHANNELS[c], &content, Priority::Normal)
                            .unwrap();
                    }
                }
            }
            ((), true)
        });
        committed.unwrap();
        done = end;
    }
    let built = started.elapsed();
    drop(store);
    checkpoint(&db);
    let (index, rest) = sizes(&db);
    let file = std::fs::metadata(&db).unwrap().len();
    println!(
        "build: {:.1} s ({:.0} messages/s through the store API, group commits of {SEED_BATCH})",
        built.as_secs_f64(),
        n as f64 / built.as_secs_f64()
    );
    println!(
        "size as written: file {:.1} MiB; index {:.1} MiB over the rest {:.1} MiB = +{:.1} % (target ≤ 60 %)",
        mib(file),
        mib(index),
        mib(rest),
        100.0 * index as f64 / rest as f64
    );

    // 2. Store-level latency.
    let store = open(&db, clock.clone(), keyed);
    let classes: [(&str, std::ops::Range<usize>, std::ops::Range<usize>); 4] = [
        ("rare + rare (ranks 2000-8000)", 2_000..8_000, 2_000..8_000),
        ("common + rare (20-80, 2000-8000)", 20..80, 2_000..8_000),
        ("common + common (ranks 20-80)", 20..80, 20..80),
        ("the two most frequent words", 0..1, 1..2),
    ];
    let measure = |store: &Store, label: &str| {
        println!("{label}");
        for (name, a, b) in &classes {
            let mut qrng = Rng(0x1234_5678 ^ a.start as u64);
            let mut times = Vec::with_capacity(queries);
            let mut cpu = Vec::with_capacity(queries);
            let (mut hits, mut capped) = (0usize, 0usize);
            for _ in 0..queries {
                let wa = a.start + qrng.below(a.len());
                let wb = loop {
                    let w = b.start + qrng.below(b.len());
                    if w != wa {
                        break w;
                    }
                };
                let who = &agents[qrng.below(AGENTS)];
                let req = SearchRequest {
                    query: format!("{} {}", words[wa], words[wb]),
                    ..SearchRequest::default()
                };
                let (t, c) = (Instant::now(), thread_cpu_us());
                let r = store.search_messages(caller(who), &req).unwrap();
                times.push(t.elapsed());
                cpu.push(Duration::from_micros(thread_cpu_us() - c));
                hits += r.count;
                capped += usize::from(r.capped);
            }
            times.sort();
            cpu.sort();
            println!(
                "  {name:<34} wall p50 {:>6.2} ms p99 {:>6.2} ms max {:>6.2} ms | cpu p50 {:>6.2} ms p99 {:>6.2} ms \
                 (avg {:.1} results, {capped} of {queries} capped)",
                pct(&times, 0.5),
                pct(&times, 0.99),
                pct(&times, 1.0),
                pct(&cpu, 0.5),
                pct(&cpu, 0.99),
                hits as f64 / queries as f64,
            );
        }
    };
    measure(
        &store,
        "store-level Store::search_messages, as written (target p99 ≤ 50 ms):",
    );

    // 3. Retention's hourly pass (nothing is old enough to purge here; it
    //    merges the index's segments), then again.
    let t = Instant::now();
    store.purge(relay::store::retention::Retention::default()).unwrap();
    println!(
        "retention pass (index segments merged): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(store);
    checkpoint(&db);
    let (index, rest) = sizes(&db);
    println!(
        "size after retention: index {:.1} MiB over the rest {:.1} MiB = +{:.1} %",
        mib(index),
        mib(rest),
        100.0 * index as f64 / rest as f64
    );
    let store = open(&db, clock.clone(), keyed);
    measure(&store, "store-level, after retention's merge:");

    // 4. Tool level, over stdio to the release binary.
    drop(store);
    tool_level(&db, &agents, &words, queries, keyed);

    // 5. optimize (as re-encrypt's end), then size and latency again.
    let t = Instant::now();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("INSERT INTO message_search (message_search) VALUES ('optimize')")
            .unwrap();
    }
    let optimized = t.elapsed();
    checkpoint(&db);
    let (index, rest) = sizes(&db);
    println!(
        "optimize: {:.1} s; index {:.1} MiB over the rest {:.1} MiB = +{:.1} %",
        optimized.as_secs_f64(),
        mib(index),
        mib(rest),
        100.0 * index as f64 / rest as f64
    );
    let store = open(&db, clock, keyed);
    measure(&store, "store-level, after optimize:");
}

fn tool_level(db: &Path, agents: &[String], words: &[String], queries: usize, keyed: bool) {
    let mut cmd = Command::new(RELAY);
    cmd.arg("--db")
        .arg(db)
        .args(["serve", "--agent", &agents[0]])
        .env_remove("RELAY_ENCRYPTION_KEYRING_PATH")
        .env_remove("RELAY_TEST_CLOCK_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if keyed {
        cmd.env("RELAY_ENCRYPTION_KEYRING", KEYRING);
    } else {
        cmd.env_remove("RELAY_ENCRYPTION_KEYRING");
    }
    let mut child = cmd.spawn().expect("spawn relay serve");
    let mut stdin = BufWriter::new(child.stdin.take().unwrap());
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: &Value| {
        serde_json::to_writer(&mut stdin, v).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let mut recv = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap()
    };
    send(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}}));
    assert!(recv()["result"].is_object());
    send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let mut rng = Rng(0xfeed_beef);
    let mut times = Vec::with_capacity(queries);
    for id in 1..=queries {
        let (a, b) = (20 + rng.below(60), 20 + rng.below(60));
        let q = format!("{} {}", words[a], words[b]);
        let t = Instant::now();
        send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                     "params": {"name": "search_messages", "arguments": {"query": q}}}));
        let r = recv();
        times.push(t.elapsed());
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    drop(stdin);
    let _ = child.wait();
    times.sort();
    println!(
        "tool-level tools/call search_messages over stdio, common + common: p50 {:.2} ms  p99 {:.2} ms",
        pct(&times, 0.5),
        pct(&times, 0.99)
    );
}
