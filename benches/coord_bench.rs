//! Issue 13's targets (docs/PERFORMANCE.md "Issue #13"): search on a
//! store of 1,000,000 messages, `reserve_paths` with 1,000 live
//! reservations, and the cost of `ack_required` over a plain send.
//!
//! `TMPDIR=$PWD/target cargo bench --bench coord_bench [-- search|reserve|ack]`;
//! `RELAY_BENCH_QUICK=1` for a short run. Each part prints its own rows.

#[path = "coord/ack.rs"]
mod ack;
#[path = "coord/reserve.rs"]
mod reserve;
#[path = "coord/search.rs"]
mod search;

fn main() {
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wants = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    if wants("search") {
        search::run();
    }
    if wants("reserve") {
        reserve::run();
    }
    if wants("ack") {
        ack::run();
    }
}
