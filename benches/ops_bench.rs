//! Operator benchmarks (issue #5): `relay backup` of a store with
//! 1,000,000 messages against a plain `VACUUM INTO` plus gzip at the
//! default level, side by side; `relay doctor` on that store; the cost of
//! encryption at rest per message; and `relay re-encrypt` of that store.
//!
//! Run: `TMPDIR=$PWD/target cargo bench --bench ops_bench`.
//! Env: `RELAY_BENCH_MESSAGES` (default 1000000).

use std::io::Write;
use std::process::Command;
use std::time::Instant;

const RELAY: &str = env!("CARGO_BIN_EXE_relay");

fn main() {
    let quick = std::env::var_os("RELAY_BENCH_QUICK").is_some();
    let total: usize = if quick {
        10_000
    } else {
        std::env::var("RELAY_BENCH_MESSAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let start = Instant::now();
    {
        let store = relay::store::Store::open(
            &db,
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
        )
        .unwrap();
        for a in ["alice", "bob", "carol"] {
            store.bind_agent(a, None, None, relay::store::Transport::Cli).unwrap();
        }
        let senders = ["alice", "carol"];
        let chunk = 10_000;
        for c in 0..total.div_ceil(chunk) {
            let (_, committed) = store.batch(|| {
                for i in 0..chunk.min(total - c * chunk) {
                    let n = c * chunk + i;
                    let caller = relay::store::Caller {
                        agent: senders[n % 2],
                        transport: relay::store::Transport::Cli,
                    };
                    let text =
                        format!("message {n}: a typical status update from one agent to another, about this long");
                    store
                        .send_message(caller, "bob", &text, relay::store::Priority::Normal, None)
                        .unwrap();
                }
                ((), true)
            });
            committed.unwrap();
        }
    }
    let size = std::fs::metadata(&db).unwrap().len();
    println!(
        "store with {total} messages: {:.0} MiB, built in {:.1}s",
        size as f64 / 1048576.0,
        start.elapsed().as_secs_f64()
    );

    // Baseline: VACUUM INTO, then gzip (flate2 default level = gzip -6).
    let start = Instant::now();
    let plain = dir.path().join("plain.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("VACUUM INTO ?1", [plain.to_string_lossy()]).unwrap();
    drop(conn);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("plain.db.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    gz.finish().unwrap().sync_all().unwrap();
    let baseline = start.elapsed();

    let start = Instant::now();
    let out = Command::new(RELAY)
        .arg("--db")
        .arg(&db)
        .args(["backup", "--output"])
        .arg(dir.path().join("relay-backup.tar.gz"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let backup = start.elapsed();
    println!(
        "backup: relay backup {:.2}s vs VACUUM INTO + gzip {:.2}s = {:.2}x",
        backup.as_secs_f64(),
        baseline.as_secs_f64(),
        backup.as_secs_f64() / baseline.as_secs_f64()
    );

    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let out = Command::new(RELAY)
            .arg("--db")
            .arg(&db)
            .args(["doctor", "--json"])
            .output()
            .unwrap();
        runs.push(start.elapsed().as_secs_f64());
        assert!(!out.stdout.is_empty());
    }
    runs.sort_by(f64::total_cmp);
    println!("relay doctor on that store: median {:.2}s (5 runs)", runs[2]);

    // Encryption at rest: in-process group-committed sends (CPU-bound, no
    // fsync per call), plain against sealed, side by side.
    let keyring_json = format!(
        r#"{{"current":"k1","keys":{{"k1":"{}"}}}}"#,
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    );
    let keyring = std::sync::Arc::new(relay::crypto::Keyring::from_json(&keyring_json, "bench").unwrap());
    let sends = if quick { 10_000 } else { 100_000 };
    for (label, codec) in [
        ("plain", relay::crypto::Codec::default()),
        ("sealed", relay::crypto::Codec::new(Some(keyring.clone()))),
    ] {
        let path = dir.path().join(format!("codec-{label}.db"));
        let store = relay::store::Store::open_with(
            &path,
            std::sync::Arc::new(relay::clock::SystemClock),
            relay::store::Limits::default(),
            codec,
        )
        .unwrap();
        store.bind_agent("a", None, None, relay::store::Transport::Cli).unwrap();
        let start = Instant::now();
        for c in 0..sends / 1000 {
            let (_, committed) = store.batch(|| {
                for i in 0..1000 {
                    let caller = relay::store::Caller {
                        agent: "a",
                        transport: relay::store::Transport::Cli,
                    };
                    let text = format!("message {c}/{i}: a typical status update from one agent to another");
                    store
                        .send_message(caller, "a", &text, relay::store::Priority::Normal, None)
                        .unwrap();
                }
                ((), true)
            });
            committed.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let caller = relay::store::Caller {
            agent: "a",
            transport: relay::store::Transport::Cli,
        };
        let mut read = 0;
        loop {
            let page = store
                .get_messages(caller, relay::store::messages::ReadFilter::Unread, None, 1000, false)
                .unwrap();
            if page.messages.is_empty() {
                break;
            }
            read += page.messages.len();
        }
        assert_eq!(read, sends);
        let read_secs = start.elapsed().as_secs_f64();
        println!(
            "{label}: send_message {:.1} us/call ({:.0}/s), get_messages {:.1} us/message",
            secs * 1e6 / sends as f64,
            sends as f64 / secs,
            read_secs * 1e6 / sends as f64
        );
    }

    // relay re-encrypt of the whole store, plain -> k1.
    let ring = dir.path().join("keyring.json");
    std::fs::write(&ring, &keyring_json).unwrap();
    let start = Instant::now();
    let out = Command::new(RELAY)
        .arg("--db")
        .arg(&db)
        .env("RELAY_ENCRYPTION_KEYRING_PATH", &ring)
        .args(["re-encrypt", "--to", "k1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secs = start.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let moved = report["moved"].as_u64().unwrap();
    println!(
        "relay re-encrypt --to k1: {moved} values in {secs:.1}s = {:.0} values/s (default --batch-size)",
        moved as f64 / secs
    );
    let start = Instant::now();
    let out = Command::new(RELAY)
        .arg("--db")
        .arg(&db)
        .args(["re-encrypt", "--verify-clean", "k0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    println!("relay re-encrypt --verify-clean: {:.2}s", start.elapsed().as_secs_f64());
}
