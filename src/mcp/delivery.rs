//! Read receipts held until the response carrying the mail is written.
//!
//! A tool call that hands out unread mail (see [`crate::store::delivery`])
//! leaves its [`ReadReceipt`] here under the JSON-RPC request id. The
//! transport takes it when it sends that id's response and confirms it
//! only after the bytes were written to the client; a failed write, a
//! cancelled request or a crash drops it and the mail stays unread. The
//! next read of the same session waits until earlier receipts are settled,
//! so a client reading one page after another never sees a page twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rmcp::model::RequestId;
use tokio::sync::watch;

use crate::store::Executor;
use crate::store::delivery::ReadReceipt;

/// How long a receipt whose request ended may wait for the transport
/// before it is dropped as undeliverable (its response was discarded,
/// e.g. after `notifications/cancelled`), in seconds.
pub const ORPHAN_GRACE_SECONDS: u64 = 2;

/// One session's receipts, from the tool call until they are settled.
#[derive(Debug)]
pub struct Deliveries {
    exec: Executor,
    runtime: tokio::runtime::Handle,
    held: Mutex<HashMap<RequestId, (u64, Unsettled)>>,
    next: std::sync::atomic::AtomicU64,
    /// Receipts not yet settled (held, or taken and not yet confirmed).
    unsettled: watch::Sender<usize>,
}

/// A receipt on its way to the client. Dropping it leaves the mail
/// unread; [`Unsettled::confirm`] applies it.
#[derive(Debug)]
pub struct Unsettled {
    receipt: Option<ReadReceipt>,
    exec: Executor,
    runtime: tokio::runtime::Handle,
    unsettled: watch::Sender<usize>,
}

impl Deliveries {
    /// An empty set for one session; confirmations run on `exec` from a
    /// task on the current tokio runtime.
    ///
    /// Panics when called outside a tokio runtime.
    pub fn new(exec: Executor) -> Self {
        Self {
            exec,
            runtime: tokio::runtime::Handle::current(),
            held: Mutex::default(),
            next: std::sync::atomic::AtomicU64::new(0),
            unsettled: watch::Sender::new(0),
        }
    }

    /// Holds `receipt` until the response to request `id` is written.
    /// Returns a ticket for [`Deliveries::forget`].
    pub fn hold(&self, id: RequestId, receipt: ReadReceipt) -> u64 {
        self.unsettled.send_modify(|n| *n += 1);
        let entry = Unsettled {
            receipt: Some(receipt),
            exec: self.exec.clone(),
            runtime: self.runtime.clone(),
            unsettled: self.unsettled.clone(),
        };
        let ticket = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let old = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (ticket, entry));
        drop(old); // a client reused an id whose response never went out
        ticket
    }

    /// The receipt for the response to `id`, if one is held: the
    /// transport confirms it once the response is written.
    pub fn take(&self, id: &RequestId) -> Option<Unsettled> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
            .map(|(_, entry)| entry)
    }

    /// Every receipt held now, for a transport whose one response carries
    /// them all (an HTTP response body).
    pub fn take_all(&self) -> Vec<Unsettled> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, (_, entry))| entry)
            .collect()
    }

    /// Drops any receipt held for `id` (its reply will not go out: the
    /// request was cancelled, or the client reused the id); the mail stays
    /// unread.
    pub fn discard(&self, id: &RequestId) {
        let dropped = self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        drop(dropped);
    }

    /// Drops the receipt held for `id` under `ticket` (its response was
    /// discarded); the mail stays unread.
    pub fn forget(&self, id: &RequestId, ticket: u64) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(id).is_some_and(|(t, _)| *t == ticket) {
            held.remove(id);
        }
    }

    /// Drops the receipt for `id` once `ended` resolves (the request is
    /// over) and the transport has not taken it within
    /// [`ORPHAN_GRACE_SECONDS`].
    pub fn forget_when(
        self: &std::sync::Arc<Self>,
        id: RequestId,
        ticket: u64,
        ended: impl Future<Output = ()> + Send + 'static,
    ) {
        let me = std::sync::Arc::downgrade(self);
        self.runtime.spawn(async move {
            ended.await;
            tokio::time::sleep(Duration::from_secs(ORPHAN_GRACE_SECONDS)).await;
            if let Some(me) = me.upgrade() {
                me.forget(&id, ticket);
            }
        });
    }

    /// Resolves once every receipt of this session is settled (confirmed
    /// or dropped).
    pub async fn settled(&self) {
        let mut rx = self.unsettled.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

impl Unsettled {
    /// The response reached the client: apply the receipt. Runs on the
    /// store thread; a failure leaves the mail unread (it is delivered
    /// again) and is logged without content.
    pub fn confirm(mut self) {
        let Some(receipt) = self.receipt.take() else {
            return;
        };
        let exec = self.exec.clone();
        let runtime = self.runtime.clone();
        runtime.spawn(async move {
            if let Err(e) = exec.call(move |s| s.confirm_delivery(&receipt)).await {
                tracing::warn!(code = %e.code, "could not record a delivery; that mail will be delivered again");
            }
            drop(self); // settled only once the read state is durable
        });
    }
}

impl Drop for Unsettled {
    /// Settled either way: confirmed, or dropped with the mail unread.
    fn drop(&mut self) {
        self.unsettled.send_modify(|n| *n = n.saturating_sub(1));
    }
}
