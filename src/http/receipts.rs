//! At-least-once delivery over HTTP (the stdio writer's rule, SPEC §3.1):
//! mail handed out by a request is marked read only once the response
//! carrying it has been handed to the connection. A client that disconnects
//! first, or a response that fails midway, leaves the mail unread, and it
//! comes again under the same ids.
//!
//! The layer gives each `/mcp` request a [`HttpReceipts`] holder in its
//! extensions; the tool call leaves its receipt there
//! ([`crate::mcp::session`]); the response body is wrapped so that the
//! frame carrying the answer confirms them once it is taken whole, and a
//! drop before that discards them.

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
            rest: Bytes::new(),
            carries_message: false,
            deliveries: Some(deliveries),
        })
    })
}

/// A response body that confirms its request's receipts once the message
/// carrying them (the JSON-RPC response) has been handed to the
/// connection, whole.
///
/// Each frame of the inner body is one message: the whole JSON answer of a
/// stateless request, or one SSE event of a session's stream (whose stream
/// may stay open after the answer, so waiting for its end would leave the
/// mail unread when a client hangs up after reading the answer). A frame
/// is handed over in pieces of at most [`FRAME_BYTES`]: the connection
/// asks for the next only once it has room to write it, so the last piece
/// is taken only when the rest is on its way to the client. A client that
/// stops reading never gets the last piece taken, and its mail stays
/// unread. Frames that carry no JSON-RPC message (the SSE priming event,
/// keep-alive comments) confirm nothing.
struct ConfirmAtEnd {
    inner: Body,
    /// What is left of the inner body's current frame.
    rest: Bytes,
    /// Whether the current frame carries a JSON-RPC message.
    carries_message: bool,
    deliveries: Option<Arc<Deliveries>>,
}

/// The largest piece of a frame handed to the connection at once, in bytes.
pub const FRAME_BYTES: usize = 16 * 1024;

impl ConfirmAtEnd {
    /// A message has been handed to the connection: confirm what is held.
    fn confirm_held(&mut self) {
        let Some(deliveries) = &self.deliveries else {
            return;
        };
        let held = deliveries.take_all();
        if held.is_empty() {
            return; // most requests hand out no mail
        }
        for receipt in held {
            receipt.confirm();
        }
        // Kept until the confirmations are durable: the agent's next read
        // waits for them (no page twice).
        let deliveries = deliveries.clone();
        tokio::spawn(async move { deliveries.settled().await });
    }
}

impl http_body::Body for ConfirmAtEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.rest.is_empty() {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        self.carries_message = data.windows(JSONRPC.len()).any(|w| w == JSONRPC);
                        self.rest = data;
                    }
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                Poll::Ready(None) => {
                    self.deliveries = None; // nothing more will be written
                    return Poll::Ready(None);
                }
                other => return other,
            }
        }
        let take = self.rest.len().min(FRAME_BYTES);
        let chunk = self.rest.split_to(take);
        if self.rest.is_empty() && self.carries_message {
            self.confirm_held();
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = http_body::SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint.set_lower(inner.lower() + rest);
        hint
    }
}

/// What every JSON-RPC message contains.
const JSONRPC: &[u8] = b"\"jsonrpc\"";
