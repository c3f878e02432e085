//! The hub's part of MCP Tasks ([`crate::mcp::protocol_tasks`]): HTTP
//! only, no rules. rmcp's Streamable HTTP server parses each body into its
//! typed model, which drops the 2025-11-25 `params.task` of a `tools/call`
//! and the 2026 `notifications.taskIds` of a listen, and writes the
//! 2025-11-25 `initialize` answer from typed capabilities that have no
//! `tasks`. So:
//! - [`layer`] reads the (already capped) body first and puts what rmcp
//!   drops in the HTTP request's extensions, where the handler finds it
//!   (rmcp hands it the request's `http::request::Parts`);
//! - [`Sessions`] is rmcp's local session manager (2025 sessions) with
//!   each request passed through [`crate::mcp::protocol_tasks::lower`] and
//!   each answer through [`crate::mcp::protocol_tasks::advertise`] with
//!   the revision the session agreed.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, ProtocolVersion, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{RestoreOutcome, ServerSseMessage, SessionId, SessionManager};

use crate::mcp::protocol_tasks;

/// Reads a POST body and attaches its [`protocol_tasks::Hint`], if any, to
/// the request. Runs inside the access layer, which has capped the body
/// ([`super::access::Access::cap_body`]).
pub async fn layer(req: Request, next: Next) -> Response {
    if req.method() != http::Method::POST {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return (
                http::StatusCode::BAD_REQUEST,
                format!("Bad Request: the request body could not be read: {e}"),
            )
                .into_response();
        }
    };
    if let Some(hint) = protocol_tasks::probe(&bytes) {
        parts.extensions.insert(hint);
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// rmcp's [`LocalSessionManager`], speaking the 2025-11-25 Tasks the
/// typed model lacks (see the module docs). The inner manager stays
/// reachable for what closes sessions ([`super::revocation`]).
#[derive(Debug)]
pub struct Sessions {
    inner: Arc<LocalSessionManager>,
    /// The revision each session agreed in `initialize`.
    revisions: parking_lot::Mutex<std::collections::HashMap<SessionId, ProtocolVersion>>,
}

impl Sessions {
    /// Wraps `inner`.
    pub fn new(inner: Arc<LocalSessionManager>) -> Self {
        Self {
            inner,
            revisions: Default::default(),
        }
    }

    fn revision(&self, id: &SessionId) -> Option<ProtocolVersion> {
        self.revisions.lock().get(id).cloned()
    }
}

/// `message` with its request lowered ([`protocol_tasks::lower`]).
fn lower(message: ClientJsonRpcMessage) -> ClientJsonRpcMessage {
    match message {
        JsonRpcMessage::Request(mut r) => {
            r.request = protocol_tasks::lower(r.request);
            JsonRpcMessage::Request(r)
        }
        other => other,
    }
}

/// `stream` with each message advertised for `revision`.
fn advertised(
    stream: impl Stream<Item = ServerSseMessage> + Send + Sync + 'static,
    revision: Option<ProtocolVersion>,
) -> impl Stream<Item = ServerSseMessage> + Send + Sync + 'static {
    stream.map(move |mut event| {
        if let Some(message) = event.message.take() {
            let message = Arc::unwrap_or_clone(message);
            event.message = Some(Arc::new(protocol_tasks::advertise(message, revision.as_ref())));
        }
        event
    })
}

impl SessionManager for Sessions {
    type Error = <LocalSessionManager as SessionManager>::Error;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    fn create_session(&self) -> impl Future<Output = Result<(SessionId, Self::Transport), Self::Error>> + Send {
        self.inner.create_session()
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let answer = self.inner.initialize_session(id, message).await?;
        let revision = protocol_tasks::negotiated(&answer);
        if let Some(revision) = &revision {
            self.revisions.lock().insert(id.clone(), revision.clone());
        }
        Ok(protocol_tasks::advertise(answer, revision.as_ref()))
    }

    fn has_session(&self, id: &SessionId) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        self.inner.has_session(id)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.revisions.lock().remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_stream(id, lower(message)).await?;
        Ok(advertised(stream, self.revision(id)))
    }

    fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.accept_message(id, message)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_standalone_stream(id).await?;
        Ok(advertised(stream, self.revision(id)))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.resume(id, last_event_id).await?;
        Ok(advertised(stream, self.revision(id)))
    }

    fn restore_session(
        &self,
        id: SessionId,
    ) -> impl Future<Output = Result<RestoreOutcome<Self::Transport>, Self::Error>> + Send {
        self.inner.restore_session(id)
    }

    fn event_store(&self) -> Option<Arc<dyn rmcp::transport::streamable_http_server::session::EventStore>> {
        self.inner.event_store()
    }
}
