//! At-least-once delivery over HTTP (the stdio writer's rule, SPEC §3.1):
//! mail handed out by a request is marked read only once its response
//! body has been written to the connection. A client that disconnects
//! first, or a response that fails midway, leaves the mail unread, and it
//! comes again under the same ids.
//!
//! The layer gives each `/mcp` request a [`HttpReceipts`] holder in its
//! extensions; the tool call leaves its receipt there
//! ([`crate::mcp::session`]); the response body is wrapped so that its
//! end confirms them and its drop before the end discards them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::Frame;

use crate::mcp::delivery::Deliveries;
use crate::mcp::session::HttpReceipts;
use crate::store::Executor;

/// Gives the request a receipts holder and confirms its receipts when the
/// response body ends.
pub async fn layer(State(exec): State<Executor>, mut req: Request, next: Next) -> Response {
    let deliveries = Arc::new(Deliveries::new(exec));
    req.extensions_mut().insert(HttpReceipts(deliveries.clone()));
    next.run(req).await.map(|body| {
        Body::new(ConfirmAtEnd {
            inner: body,
            deliveries: Some(deliveries),
        })
    })
}

/// A response body that confirms its request's receipts once the last
/// frame has been handed to the connection.
struct ConfirmAtEnd {
    inner: Body,
    deliveries: Option<Arc<Deliveries>>,
}

impl http_body::Body for ConfirmAtEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled
            && let Some(deliveries) = self.deliveries.take()
        {
            for receipt in deliveries.take_all() {
                receipt.confirm();
            }
            // Kept until the confirmations are durable: a later read of
            // the same session waits for them (no page twice).
            tokio::spawn(async move { deliveries.settled().await });
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // Never "ended" before poll_frame said so: the end is what
        // confirms the receipts.
        false
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
