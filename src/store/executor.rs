//! Group commit for one process: a dedicated thread owns the store's
//! calls, and every call that queues up while a commit is in flight joins
//! the next transaction, so N pipelined calls cost one fsync instead of N.
//!
//! Durability is unchanged: a call's result is handed back only after the
//! transaction holding its writes has committed (`synchronous=FULL`). Each
//! call is a SAVEPOINT inside the batch, so a call that fails rolls back
//! alone and the others commit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{BUSY_TIMEOUT_MS, Store, with_deadline};
use crate::error::{Error, Result};

/// Runs the store call `f` on tokio's blocking pool, for async code that
/// calls the store directly instead of through an [`Executor`] (a store
/// call may wait up to [`BUSY_TIMEOUT_MS`] for a lock and must not hold
/// an async worker that long). A panic inside `f` is
/// [`ErrorCode::Internal`](crate::ErrorCode::Internal).
pub async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("a store call failed: {e}"))))
}

/// Most calls that share one transaction.
pub const MAX_BATCH: usize = 256;

/// Hands a call's outcome back to the waiting caller; `Some(error)` when
/// the batch's commit failed after the call itself succeeded.
type Deliver = Box<dyn FnOnce(Option<&Error>) + Send>;

/// A call run against the store: whether it succeeded, and its delivery.
type Run = Box<dyn FnOnce(&Store) -> (bool, Deliver) + Send>;

/// A queued call.
struct Job {
    /// When its lock waits give up: queued time + [`BUSY_TIMEOUT_MS`].
    deadline: Instant,
    /// Runs the call.
    run: Run,
}

impl Job {
    fn run(self, store: &Store) -> (bool, Deliver) {
        let run = self.run;
        with_deadline(self.deadline, || run(store))
    }
}

/// A cloneable handle that runs store calls on the executor thread.
#[derive(Debug, Clone)]
pub struct Executor {
    store: Arc<Store>,
    jobs: mpsc::Sender<Job>,
    changed: Arc<tokio::sync::Notify>,
}

impl Executor {
    /// Starts the executor thread for `store`. It ends when every handle
    /// is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let owned = store.clone();
        let changed = Arc::new(tokio::sync::Notify::new());
        let notify = changed.clone();
        std::thread::Builder::new()
            .name("relay-store".into())
            .spawn(move || run(&owned, &queue, &notify))
            .expect("spawn store thread");
        Self { store, jobs, changed }
    }

    /// Signalled after every batch of calls that wrote something: waiters
    /// (task long-polls) re-check then, instead of only on their poll timer.
    pub fn changed(&self) -> &tokio::sync::Notify {
        &self.changed
    }

    /// The store, for callers that need no group commit.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Runs `f` on the executor thread, possibly batched with other calls,
    /// and returns its result once its writes are durable.
    ///
    /// The call's lock waits end [`BUSY_TIMEOUT_MS`] after this method is
    /// called, however long it queued behind other calls.
    ///
    /// Errors: whatever `f` returns ([`crate::ErrorCode::Timeout`] when
    /// another process kept the store locked past the deadline); the
    /// commit's error if the batch failed to commit (the same for every
    /// call of the batch); [`crate::ErrorCode::Internal`] if `f` panicked.
    pub async fn call<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
        let deadline = Instant::now() + Duration::from_millis(BUSY_TIMEOUT_MS);
        let (tx, rx) = oneshot::channel();
        let run: Run = Box::new(move |store: &Store| -> (bool, Deliver) {
            let out = f(store);
            let ok = out.is_ok();
            let deliver: Deliver = Box::new(move |commit_error: Option<&Error>| {
                let out = match (out, commit_error) {
                    (Ok(_), Some(e)) => Err(e.clone()),
                    (out, _) => out,
                };
                let _ = tx.send(out);
            });
            (ok, deliver)
        });
        self.jobs
            .send(Job { deadline, run })
            .map_err(|_| Error::internal("the store thread has stopped"))?;
        rx.await
            .map_err(|_| Error::internal("a store call panicked; see the log"))?
    }
}

fn run(store: &Store, queue: &mpsc::Receiver<Job>, changed: &tokio::sync::Notify) {
    while let Ok(first) = queue.recv() {
        let before = store.total_changes();
        run_batch(store, queue, first);
        // Wake waiters only when something was written: a waiter's own
        // read must not wake it (that would turn waiting into spinning).
        if store.total_changes() != before {
            changed.notify_waiters();
        }
    }
}

/// Runs `first` and whatever else is queued (up to [`MAX_BATCH`]) as one
/// group commit. A call whose outcome cannot change any more — it failed,
/// or it ran before the batch wrote anything — is answered at once, so a
/// call that timed out is not held back by later calls that wait too.
fn run_batch(store: &Store, queue: &mpsc::Receiver<Job>, first: Job) {
    let mut jobs = vec![first];
    while jobs.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    if jobs.len() == 1 {
        // Alone: the call commits its own transaction (its guard rolls
        // back if it panics).
        let job = jobs.pop().expect("one job");
        if let Ok((_, deliver)) = catch_unwind(AssertUnwindSafe(|| job.run(store))) {
            deliver(None);
        }
        return;
    }
    let (delivers, committed) = store.batch(|| {
        let mut delivers = Vec::with_capacity(jobs.len());
        let mut healthy = true;
        for job in jobs {
            match catch_unwind(AssertUnwindSafe(|| job.run(store))) {
                Ok((ok, deliver)) if !ok || !store.batch_began() => deliver(None),
                Ok((_, deliver)) => delivers.push(deliver),
                Err(_) => healthy = false,
            }
        }
        (delivers, healthy)
    });
    let failed = committed.err();
    for deliver in delivers {
        deliver(failed.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{Caller, Limits, Priority, Transport};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batched_calls_commit_together_and_a_failing_call_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("r.db"), ManualClock::new(0), Limits::default()).unwrap());
        store.bind_agent("a", None, None, Transport::Cli).unwrap();
        let exec = Executor::start(store.clone());
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let exec = exec.clone();
                tokio::spawn(async move {
                    exec.call(move |s| {
                        let content = if i % 10 == 0 { String::new() } else { format!("m{i}") };
                        s.send_message(
                            Caller {
                                agent: "a",
                                transport: Transport::Cli,
                            },
                            "b",
                            &content,
                            Priority::Normal,
                            None,
                        )
                    })
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for c in calls {
            match c.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(e.code, crate::ErrorCode::Validation),
            }
        }
        assert_eq!(ok, 180);
        assert_eq!(store.unread_count("b").unwrap(), 180);
    }
}
