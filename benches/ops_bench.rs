//! Operator benchmarks (issue #5): `relay backup` of a store with
//! 1,000,000 messages against a plain `VACUUM INTO` plus gzip at the
//! default level, side by side; and `relay doctor` on that store.
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
            store.bind_agent(a, None, None, "bench").unwrap();
        }
        let senders = ["alice", "carol"];
        let chunk = 10_000;
        for c in 0..total.div_ceil(chunk) {
            let (_, committed) = store
                .batch(|| {
                    for i in 0..chunk.min(total - c * chunk) {
                        let n = c * chunk + i;
                        let caller = relay::store::Caller {
                            agent: senders[n % 2],
                            transport: "bench",
                        };
                        let text =
                            format!("message {n}: a typical status update from one agent to another, about this long");
                        store
                            .send_message(caller, "bob", &text, relay::store::Priority::Normal, None)
                            .unwrap();
                    }
                    ((), true)
                })
                .unwrap();
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
}
