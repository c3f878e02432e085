//! One computation for many dashboards: the [`Overview`] (per viewer)
//! and the [`Board`] are computed once and their JSON kept, identity and
//! gzip, for every page that asks while nothing changed.
//!
//! An entry answers a request while
//!
//! - the outbox head the request saw when it arrived
//!   ([`Store::latest_event_id`]) is not newer than the head read just
//!   before the entry's data was read: every change that writes an outbox
//!   event (messages, posts, every task move, joins, revocations, …)
//!   makes the next request compute afresh; and
//! - it is younger than [`MAX_AGE_MS`] (on the store's clock). Changes
//!   that write no event — a read marking mail read (`unread`), presence
//!   ageing, `last_seen`, a status note, webhook delivery health — show
//!   up to 1 s late. `generated_at`/`now_ms` of an answer are the time it
//!   was computed (up to 1 s before it is sent).
//!
//! Single flight: requests for the same stale entry wait for one store
//! read (one slot lock per key, held while computing); those that were
//! waiting then take its answer. A failed computation is not kept: the
//! next request (or waiter) tries again. A hit costs one head read (the
//! primary key's last row) and no JSON encoding or compression.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::clock::{Clock, Millis};
use crate::error::{Error, Result};

#[cfg(doc)]
use crate::store::Store;
#[cfg(doc)]
use crate::store::dashboard::{Board, Overview};

/// How long an entry answers, at most, in milliseconds.
pub const MAX_AGE_MS: Millis = 1000;

/// A computed answer: its JSON, plain and gzip-compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The JSON.
    pub identity: Bytes,
    /// The same JSON, gzip-compressed (`Content-Encoding: gzip`).
    pub gzip: Bytes,
}

impl Encoded {
    /// `value`'s JSON, serialised once and compressed once.
    ///
    /// Errors: the value does not serialise (internal).
    pub fn json<T: serde::Serialize>(value: &T) -> Result<Self> {
        let identity = serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))?;
        let gzip = gzip(&identity)?;
        Ok(Self {
            identity: identity.into(),
            gzip,
        })
    }
}

/// `bytes` gzip-compressed (default level).
///
/// Errors: compression failed (internal; it writes to memory).
pub fn gzip(bytes: &[u8]) -> Result<Bytes> {
    let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::default());
    e.write_all(bytes)
        .and_then(|()| e.finish())
        .map(Bytes::from)
        .map_err(|err| Error::internal(format!("gzip: {err}")))
}

#[derive(Debug)]
struct Entry {
    /// The outbox head read before the data.
    head: i64,
    /// When the computation began (store clock).
    at: Millis,
    body: Encoded,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// Answers by key `K`, reused by the rules of the module doc.
#[derive(Debug)]
pub struct Cache<K> {
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<K, Slot>>,
}

impl<K: Eq + Hash + Clone> Cache<K> {
    /// An empty cache whose ages are read from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key: &K) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key.clone()).or_default().clone()
    }

    /// The answer for `key` to a request that saw outbox head `head`: the
    /// kept one while it is fresh, else `compute`'s (`(head read before
    /// the data, the answer)`), kept for the next requests. Concurrent
    /// calls for one key run `compute` at most once at a time.
    ///
    /// Errors: `compute`'s (nothing is kept).
    pub async fn get<F, Fut>(&self, key: K, head: i64, compute: F) -> Result<Encoded>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(i64, Encoded)>>,
    {
        let slot = self.slot(&key);
        let mut entry = slot.lock().await;
        if let Some(e) = entry.as_ref() {
            let age = self.clock.now() - e.at;
            // A head that went backwards (a restored store) or a clock
            // that did is not trusted either.
            if e.head >= head && (0..MAX_AGE_MS).contains(&age) {
                return Ok(e.body.clone());
            }
        }
        let at = self.clock.now();
        let (head, body) = compute().await?;
        *entry = Some(Entry {
            head,
            at,
            body: body.clone(),
        });
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;

    fn body(text: &str) -> Encoded {
        Encoded::json(&text).unwrap()
    }

    /// A cache on a manual clock and a counter of computations.
    fn setup() -> (Arc<ManualClock>, Cache<&'static str>, Arc<AtomicUsize>) {
        let clock = ManualClock::new(1_000_000);
        (clock.clone(), Cache::new(clock), Arc::default())
    }

    async fn get(cache: &Cache<&'static str>, key: &'static str, head: i64, runs: &Arc<AtomicUsize>) -> Encoded {
        let runs = runs.clone();
        cache
            .get(key, head, || async move {
                let n = runs.fetch_add(1, Ordering::SeqCst);
                Ok((head, body(&format!("{key} {head} run {n}"))))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_answer_is_reused_while_the_head_stands_and_it_is_younger_than_a_second() {
        let (clock, cache, runs) = setup();
        let first = get(&cache, "board", 7, &runs).await;
        clock.advance(MAX_AGE_MS - 1);
        assert_eq!(get(&cache, "board", 7, &runs).await, first);
        // A request that saw an older head than the entry's takes it too.
        assert_eq!(get(&cache, "board", 6, &runs).await, first);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Keys do not share.
        get(&cache, "overview counts", 7, &runs).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_expires_at_a_second_of_age() {
        let (clock, cache, runs) = setup();
        let first = get(&cache, "board", 7, &runs).await;
        clock.advance(MAX_AGE_MS);
        let second = get(&cache, "board", 7, &runs).await;
        assert_ne!(second, first);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // The new one is fresh again.
        assert_eq!(get(&cache, "board", 7, &runs).await, second);
    }

    #[tokio::test]
    async fn a_newer_head_computes_afresh_at_once() {
        let (_clock, cache, runs) = setup();
        let first = get(&cache, "board", 7, &runs).await;
        let second = get(&cache, "board", 8, &runs).await;
        assert_ne!(second, first);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_clock_that_went_back_does_not_keep_an_answer() {
        let (clock, cache, runs) = setup();
        let first = get(&cache, "board", 7, &runs).await;
        clock.advance(-10 * MAX_AGE_MS);
        assert_ne!(get(&cache, "board", 7, &runs).await, first);
    }

    #[tokio::test]
    async fn a_failed_computation_is_not_kept() {
        let (_clock, cache, runs) = setup();
        let failed = cache
            .get("board", 7, || async { Err::<(i64, Encoded), _>(Error::internal("no")) })
            .await;
        assert!(failed.is_err());
        get(&cache, "board", 7, &runs).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_requests_for_a_stale_entry_wait_for_one_computation() {
        let (_clock, cache, runs) = setup();
        let cache = Arc::new(cache);
        let release = Arc::new(tokio::sync::Notify::new());
        let started = Arc::new(tokio::sync::Notify::new());
        // The first request computes and holds the computation open.
        let first = {
            let (cache, runs, release, started) = (cache.clone(), runs.clone(), release.clone(), started.clone());
            tokio::spawn(async move {
                cache
                    .get("board", 7, || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        started.notify_one();
                        release.notified().await;
                        Ok((7, body("the one")))
                    })
                    .await
                    .unwrap()
            })
        };
        started.notified().await;
        // Nine more arrive while it runs; each would compute if it could.
        let waiters: Vec<_> = (0..9)
            .map(|_| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move { get(&cache, "board", 7, &runs).await })
            })
            .collect();
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "nobody else computed meanwhile");
        release.notify_one();
        assert_eq!(first.await.unwrap(), body("the one"));
        for w in waiters {
            assert_eq!(w.await.unwrap(), body("the one"));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_gzip_body_decompresses_to_the_identity_one() {
        use std::io::Read;
        let e = Encoded::json(&serde_json::json!({"a": "x".repeat(1000)})).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(e.gzip.as_ref())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, e.identity.as_ref());
        assert!(e.gzip.len() < e.identity.len() / 10);
    }
}
