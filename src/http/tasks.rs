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
//!   its answers through [`crate::mcp::protocol_tasks::advertise`] with
//!   the request's revision.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, JsonRpcMessage, ProtocolVersion, ServerJsonRpcMessage};
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
/// reachable for what closes sessions ([`super::revocation`]). It keeps no
/// state of its own: a request's revision is its `MCP-Protocol-Version`
/// header, which every request after `initialize` carries (2025-06-18
/// Streamable HTTP; rmcp checks it, and takes a missing one for
/// 2025-03-26, as this does).
#[derive(Debug)]
pub struct Sessions(Arc<LocalSessionManager>);

impl Sessions {
    /// Wraps `inner`.
    pub fn new(inner: Arc<LocalSessionManager>) -> Self {
        Self(inner)
    }
}

/// The revision a request's `MCP-Protocol-Version` header names.
fn revision_of(message: &ClientJsonRpcMessage) -> Option<ProtocolVersion> {
    let JsonRpcMessage::Request(r) = message else {
        return None;
    };
    let parts = r.request.extensions().get::<http::request::Parts>()?;
    let version = parts.headers.get("mcp-protocol-version")?.to_str().ok()?;
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .find(|v| v.as_str() == version)
        .cloned()
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
        self.0.create_session()
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let answer = self.0.initialize_session(id, message).await?;
        let revision = protocol_tasks::negotiated(&answer);
        Ok(protocol_tasks::advertise(answer, revision.as_ref()))
    }

    fn has_session(&self, id: &SessionId) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        self.0.has_session(id)
    }

    fn close_session(&self, id: &SessionId) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.close_session(id)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let revision = revision_of(&message);
        let stream = self.0.create_stream(id, lower(message)).await?;
        Ok(advertised(stream, revision))
    }

    fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.accept_message(id, message)
    }

    fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>> + Send
    {
        self.0.create_standalone_stream(id)
    }

    fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> impl Future<Output = Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>> + Send
    {
        // A replayed `tools/list` answer keeps rmcp's form (no
        // `execution`): the replay has no request to read the revision of.
        self.0.resume(id, last_event_id)
    }

    fn restore_session(
        &self,
        id: SessionId,
    ) -> impl Future<Output = Result<RestoreOutcome<Self::Transport>, Self::Error>> + Send {
        self.0.restore_session(id)
    }

    fn event_store(&self) -> Option<Arc<dyn rmcp::transport::streamable_http_server::session::EventStore>> {
        self.0.event_store()
    }
}
