//! The stdio transport for `relay serve`: newline-delimited JSON-RPC
//! (MCP "stdio" transport, spec 2025-06-18 §Transports).
//!
//! Two OS threads own the pipes. The reader bounds every line (4 MiB by
//! default, SPEC §8), answers what cannot be a request with a JSON-RPC
//! error of its own (`-32700` for bad JSON, `-32600` for a well-formed but
//! invalid message or an oversized line) and hands good messages to the
//! rmcp service. The writer is the only code that touches stdout, so
//! nothing but JSON-RPC ever reaches it; it writes whatever has queued up
//! in one `write` call.
//!
//! Backpressure: at most [`OUTBOUND_QUEUE_BYTES`] of output wait for
//! stdout, and at most [`MAX_IN_FLIGHT`] requests are between being read
//! and having their answer queued. While either is full the transport
//! takes no more input, so a client that stops reading its stdout stalls
//! its own requests (the pipe fills) instead of growing relay's memory.
//!
//! Delivery: a response that hands out unread mail carries its read
//! receipt ([`super::delivery`]); the writer confirms it only after the
//! line was written and flushed, and drops it if stdout failed.
//!
//! MCP Tasks ([`super::protocol_tasks`]): the reader keeps what rmcp's
//! typed model drops from a request (the 2025-11-25 `params.task` of a
//! `tools/call`, the 2026 `notifications.taskIds` of a listen) as a
//! [`super::protocol_tasks::Hint`] in the request's extensions, and the
//! writer adds the 2025-11-25 `tasks` capability to the `initialize`
//! answer ([`super::protocol_tasks::advertise`]).

use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::thread::JoinHandle;

use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, JsonRpcMessage, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::delivery::{Deliveries, Unsettled};

/// Most bytes of JSON-RPC output queued for stdout at once (8 MiB). A
/// single larger line is let through alone.
pub const OUTBOUND_QUEUE_BYTES: usize = 8 * 1024 * 1024;

/// Most requests of one session between being read and having their
/// answer in the output queue. A further request waits, and so does the
/// input behind it (a cancellation included), until one is answered: each
/// answer is built in memory before the output budget can hold it back.
/// As many as one group commit takes
/// ([`crate::store::executor::MAX_BATCH`]), so a pipelining client still
/// fills whole batches.
pub const MAX_IN_FLIGHT: usize = crate::store::executor::MAX_BATCH;

/// JSON-RPC 2.0 "Parse error".
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC 2.0 "Invalid Request".
pub const INVALID_REQUEST: i32 = -32600;

/// An rmcp [`Transport`] fed by the reader thread and draining into the
/// writer thread.
#[derive(Debug)]
pub struct StdioTransport {
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    /// A message taken from `inbound` that waits for an in-flight slot
    /// (kept here so a cancelled `receive` loses nothing).
    next: Option<ClientJsonRpcMessage>,
    in_flight: Arc<Semaphore>,
    /// The in-flight slot of each request read and not yet answered.
    slots: std::collections::HashMap<RequestId, OwnedSemaphorePermit>,
    outbound: Outbound,
    deliveries: Option<Arc<Deliveries>>,
    /// The revision the session agreed in `initialize`, as its answer
    /// went out ([`super::protocol_tasks::advertise`]).
    negotiated: Option<rmcp::model::ProtocolVersion>,
}

/// The queue to the writer thread, bounded in bytes by a semaphore whose
/// permits travel with each line until it is written.
#[derive(Debug, Clone)]
struct Outbound {
    lines: mpsc::UnboundedSender<Outgoing>,
    budget: Arc<Semaphore>,
    /// Lines waiting for room; while there are any, later lines queue
    /// behind them instead of taking room first.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
}

/// One line for stdout, holding its share of the queue's budget until it
/// is written.
#[derive(Debug)]
struct Outgoing {
    line: String,
    _permit: OwnedSemaphorePermit,
    delivery: Option<Unsettled>,
}

/// What travels with a line besides its text: an answer's in-flight slot
/// (freed once the answer is in the queue, whose bytes the budget bounds)
/// and its read receipt (confirmed once written).
#[derive(Debug, Default)]
struct Attached {
    slot: Option<OwnedSemaphorePermit>,
    delivery: Option<Unsettled>,
}

/// A line that went straight into the queue, or one waiting for room.
enum Queued {
    Done(std::io::Result<()>),
    Wait(Outbound, String, Attached, Waiting),
}

/// Counts a line in [`Outbound::waiting`] until dropped.
struct Waiting(Arc<std::sync::atomic::AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn cost(line: &str) -> u32 {
    line.len().clamp(1, OUTBOUND_QUEUE_BYTES) as u32
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout is closed")
}

impl Outbound {
    /// Queues `line`, waiting while the queue is full.
    async fn send(self, line: String, attached: Attached, waiting: Waiting) -> std::io::Result<()> {
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(cost(&line))
            .await
            .map_err(|_| closed())?;
        drop(waiting);
        self.push(line, permit, attached)
    }

    /// Queues `line` from a thread outside the runtime, blocking while
    /// the queue is full.
    fn send_blocking(&self, line: String) -> std::io::Result<()> {
        let permit =
            futures::executor::block_on(self.budget.clone().acquire_many_owned(cost(&line))).map_err(|_| closed())?;
        self.push(line, permit, Attached::default())
    }

    fn push(&self, line: String, permit: OwnedSemaphorePermit, attached: Attached) -> std::io::Result<()> {
        // The answer is queued: its request no longer counts as in flight
        // (tying the slot to the write would stall a client that writes
        // all its requests before reading, with 64 answers in the pipe).
        drop(attached.slot);
        self.lines
            .send(Outgoing {
                line,
                _permit: permit,
                delivery: attached.delivery,
            })
            .map_err(|_| closed())
    }
}

/// The running pipe threads; join the writer to flush before exiting.
#[derive(Debug)]
pub struct Pipes {
    /// Ends once every sender of outgoing lines is gone.
    pub writer: JoinHandle<()>,
}

/// Starts the reader and writer threads on this process's stdin/stdout.
pub fn start(max_line_bytes: usize) -> (StdioTransport, Pipes) {
    start_with(std::io::stdin(), std::io::stdout(), max_line_bytes)
}

/// Starts the pipe threads on arbitrary streams (tests use in-memory pipes).
pub fn start_with<R, W>(input: R, output: W, max_line_bytes: usize) -> (StdioTransport, Pipes)
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (in_tx, in_rx) = mpsc::channel(256);
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let outbound = Outbound {
        lines: out_tx,
        budget: Arc::new(Semaphore::new(OUTBOUND_QUEUE_BYTES)),
        waiting: Arc::default(),
    };
    let errors = outbound.clone();
    std::thread::Builder::new()
        .name("relay-stdin".into())
        .spawn(move || {
            read_loop(
                std::io::BufReader::with_capacity(64 * 1024, input),
                in_tx,
                errors,
                max_line_bytes,
            )
        })
        .expect("spawn stdin thread");
    let writer = std::thread::Builder::new()
        .name("relay-stdout".into())
        .spawn(move || write_loop(output, out_rx))
        .expect("spawn stdout thread");
    (
        StdioTransport {
            inbound: in_rx,
            next: None,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            slots: std::collections::HashMap::new(),
            outbound,
            deliveries: None,
            negotiated: None,
        },
        Pipes { writer },
    )
}

impl StdioTransport {
    /// Confirms the session's read receipts once their responses are
    /// written (see [`super::delivery`]).
    pub fn with_deliveries(mut self, deliveries: Arc<Deliveries>) -> Self {
        self.deliveries = Some(deliveries);
        self
    }
}

impl Transport<RoleServer> for StdioTransport {
    type Error = std::io::Error;

    fn send(&mut self, item: ServerJsonRpcMessage) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let Some(revision) = super::protocol_tasks::negotiated(&item) {
            self.negotiated = Some(revision);
        }
        let item = super::protocol_tasks::advertise(item, self.negotiated.as_ref());
        let answered = match &item {
            JsonRpcMessage::Response(r) => Some(&r.id),
            JsonRpcMessage::Error(e) => e.id.as_ref(),
            _ => None,
        };
        let attached = match answered {
            Some(id) => Attached {
                slot: self.slots.remove(id),
                delivery: match (&item, &self.deliveries) {
                    (JsonRpcMessage::Response(_), Some(d)) => d.take(id),
                    _ => None,
                },
            },
            None => Attached::default(),
        };
        // Serialise here, on the caller's task; compact JSON has no newline.
        // A line takes room at once only when none is waiting for it, so
        // lines reach stdout in the order they were sent.
        let outbound = &self.outbound;
        let queued = match serde_json::to_string(&item) {
            Err(e) => Queued::Done(Err(std::io::Error::other(e))),
            Ok(line) => {
                let idle = outbound.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0;
                match idle.then(|| outbound.budget.clone().try_acquire_many_owned(cost(&line))) {
                    Some(Ok(permit)) => Queued::Done(outbound.push(line, permit, attached)),
                    _ => Queued::Wait(outbound.clone(), line, attached, Waiting::new(&outbound.waiting)),
                }
            }
        };
        async move {
            match queued {
                Queued::Done(result) => result,
                Queued::Wait(outbound, line, attached, waiting) => outbound.send(line, attached, waiting).await,
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        let budget = self.outbound.budget.clone();
        async move {
            // Take no more input while the output queue is full (fair
            // semaphore: this waits behind the lines waiting for room).
            drop(budget.acquire().await);
            if self.next.is_none() {
                self.next = Some(self.inbound.recv().await?);
            }
            // A request also needs an in-flight slot; the message waits in
            // `next` meanwhile, so a cancelled receive loses nothing.
            let slot = match &self.next {
                Some(JsonRpcMessage::Request(_)) => Some(self.in_flight.clone().acquire_owned().await.ok()?),
                _ => None,
            };
            let message = self.next.take()?;
            match &message {
                JsonRpcMessage::Request(r) => {
                    // A receipt still held under a reused id belongs to a
                    // reply that never went out.
                    if let Some(d) = &self.deliveries {
                        d.discard(&r.id);
                    }
                    if let Some(slot) = slot {
                        self.slots.insert(r.id.clone(), slot);
                    }
                }
                JsonRpcMessage::Notification(n) => {
                    if let ClientNotification::CancelledNotification(c) = &n.notification
                        && let Some(id) = &c.params.request_id
                    {
                        // rmcp drops the reply of a cancelled request.
                        self.slots.remove(id);
                        if let Some(d) = &self.deliveries {
                            d.discard(id);
                        }
                    }
                }
                _ => {}
            }
            Some(message)
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inbound.close();
        Ok(())
    }
}

fn write_loop<W: Write>(mut out: W, mut lines: mpsc::UnboundedReceiver<Outgoing>) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut batch = Vec::new();
    while let Some(first) = lines.blocking_recv() {
        // Whatever is queued (at most the output budget) goes in one write.
        batch.push(first);
        while let Ok(more) = lines.try_recv() {
            batch.push(more);
        }
        for item in &batch {
            buf.extend_from_slice(item.line.as_bytes());
            buf.push(b'\n');
        }
        if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
            // Receipts in `batch` (and still queued) drop: that mail stays unread.
            tracing::debug!("stdout closed; dropping further output");
            return;
        }
        buf.clear();
        for item in batch.drain(..) {
            if let Some(delivery) = item.delivery {
                delivery.confirm();
            }
        }
    }
}

fn read_loop<R: BufRead>(
    mut input: R,
    messages: mpsc::Sender<ClientJsonRpcMessage>,
    errors: Outbound,
    max_line_bytes: usize,
) {
    let mut line = Vec::with_capacity(64 * 1024);
    let mut saw_initialize = false;
    loop {
        line.clear();
        // Room for the content plus "\r\n": the limit counts content only.
        let n = match (&mut input)
            .take(max_line_bytes as u64 + 2)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => return, // EOF: dropping `messages` ends the session
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("stdin read failed: {e}");
                return;
            }
        };
        let complete = line.last() == Some(&b'\n');
        if trim(&line).len() > max_line_bytes || (!complete && n > max_line_bytes) {
            let id = sniff_id(&line);
            if !complete && skip_line(&mut input).is_err() {
                return;
            }
            // Answered to the client; a log line would only repeat it.
            tracing::debug!(limit = max_line_bytes, "refused a JSON-RPC line over the size limit");
            let _ = errors.send_blocking(error_line(
                id,
                INVALID_REQUEST,
                &format!("Invalid Request: the line exceeds {max_line_bytes} bytes"),
                Some(serde_json::json!({"error_code": "PAYLOAD_TOO_LARGE", "limit_bytes": max_line_bytes})),
            ));
            continue;
        }
        let text = trim(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse(text) {
            Parsed::Message(msg) => {
                let msg = *msg;
                // rmcp ends the session if anything but a request arrives
                // before `initialize`; such stray messages are dropped instead.
                let is_request = matches!(&msg, JsonRpcMessage::Request(_));
                if saw_initialize
                    && let JsonRpcMessage::Request(r) = &msg
                    && matches!(r.request, ClientRequest::InitializeRequest(_))
                {
                    let id = serde_json::to_value(&r.id).ok();
                    let message = "Invalid Request: this session is already initialized";
                    let _ = errors.send_blocking(error_line(id, INVALID_REQUEST, message, None));
                    continue;
                }
                if !saw_initialize {
                    if !is_request {
                        tracing::debug!("dropped a non-request message received before initialize");
                        continue;
                    }
                    // `initialize`, or a request carrying the 2026 inline
                    // lifecycle's protocol version, starts the session.
                    saw_initialize = matches!(&msg, JsonRpcMessage::Request(r)
                        if matches!(r.request, ClientRequest::InitializeRequest(_)))
                        || contains(text, b"io.modelcontextprotocol/protocolVersion");
                }
                if messages.blocking_send(msg).is_err() {
                    return; // the service has ended
                }
            }
            Parsed::Reply(line) => {
                let _ = errors.send_blocking(line);
            }
            Parsed::Ignore => {}
        }
    }
}

enum Parsed {
    Message(Box<ClientJsonRpcMessage>),
    Reply(String),
    Ignore,
}

/// MCP methods a client sends to a server. rmcp turns one of these with
/// malformed params into a custom request (answered "method not found");
/// the reader answers "invalid params" instead.
const MCP_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/call",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
];

/// JSON-RPC 2.0 "Invalid params".
pub const INVALID_PARAMS: i32 = -32602;

fn parse(text: &[u8]) -> Parsed {
    let err = match serde_json::from_slice::<ClientJsonRpcMessage>(text) {
        Ok(JsonRpcMessage::Request(mut r)) => match &mut r.request {
            ClientRequest::CustomRequest(c) if MCP_METHODS.contains(&c.method.as_str()) => {
                let id = serde_json::to_value(&r.id).ok();
                let message = format!("Invalid params for {}", c.method);
                return Parsed::Reply(error_line(id, INVALID_PARAMS, &message, None));
            }
            ClientRequest::CallToolRequest(call) => {
                if let Some(hint) = super::protocol_tasks::probe(text) {
                    call.extensions.insert(hint);
                }
                r.request = super::protocol_tasks::lower(r.request);
                return Parsed::Message(Box::new(JsonRpcMessage::Request(r)));
            }
            ClientRequest::GetTaskRequest(_)
            | ClientRequest::CancelTaskRequest(_)
            | ClientRequest::UpdateTaskRequest(_) => {
                r.request = super::protocol_tasks::lower(r.request);
                return Parsed::Message(Box::new(JsonRpcMessage::Request(r)));
            }
            ClientRequest::SubscriptionsListenRequest(listen) => {
                if let Some(hint) = super::protocol_tasks::probe(text) {
                    listen.extensions.insert(hint);
                }
                return Parsed::Message(Box::new(JsonRpcMessage::Request(r)));
            }
            _ => return Parsed::Message(Box::new(JsonRpcMessage::Request(r))),
        },
        Ok(msg) => return Parsed::Message(Box::new(msg)),
        Err(e) => e,
    };
    let value = match serde_json::from_slice::<Value>(text) {
        Ok(v) => v,
        Err(_) => {
            // The error text can quote the input: log where, not what.
            tracing::debug!(
                line = err.line(),
                column = err.column(),
                "refused a line that is not JSON"
            );
            return Parsed::Reply(error_line(None, PARSE_ERROR, &format!("Parse error: {err}"), None));
        }
    };
    let has_id = value.as_object().is_some_and(|o| o.contains_key("id"));
    if value.get("method").is_some() && !has_id {
        // A malformed notification: JSON-RPC never answers notifications.
        return Parsed::Ignore;
    }
    // Echo a usable id; `null` when it is missing or not a string/integer.
    let id = value
        .get("id")
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
        .cloned();
    tracing::debug!(category = ?err.classify(), line = err.line(), column = err.column(), "refused an invalid JSON-RPC message");
    Parsed::Reply(error_line(
        id,
        INVALID_REQUEST,
        &format!("Invalid Request: {err}"),
        None,
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A JSON-RPC error response; `id` is `null` when it cannot be known.
fn error_line(id: Option<Value>, code: i32, message: &str, data: Option<Value>) -> String {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    serde_json::json!({ "jsonrpc": "2.0", "id": id.unwrap_or(Value::Null), "error": error }).to_string()
}

/// Best-effort request id of an oversized line, so the client's pending
/// call gets its error instead of a timeout: a top-level `"id"` among the
/// first 256 bytes, before any `"params"`.
fn sniff_id(prefix: &[u8]) -> Option<Value> {
    let head = &prefix[..prefix.len().min(256)];
    let head = std::str::from_utf8(head)
        .ok()
        .or_else(|| std::str::from_utf8(&head[..head.len().saturating_sub(3)]).ok())?;
    let head = head.split("\"params\"").next()?;
    let rest = head
        .split("\"id\"")
        .nth(1)?
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    serde_json::from_str::<Value>(rest[..end].trim())
        .ok()
        .filter(|v| v.is_string() || v.is_i64() || v.is_u64())
}

fn skip_line<R: BufRead>(input: &mut R) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            input.consume(pos + 1);
            return Ok(());
        }
        let len = buf.len();
        input.consume(len);
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_line_id_is_sniffed_from_its_head() {
        assert_eq!(
            sniff_id(br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"#),
            Some(42.into())
        );
        assert_eq!(sniff_id(br#"{"id":"a-1","method":"x"#), Some("a-1".into()));
        assert_eq!(sniff_id(br#"{"method":"x","params":{"id":3"#), None);
    }

    #[test]
    fn garbage_gets_parse_error_and_bad_shape_gets_invalid_request_with_id() {
        let Parsed::Reply(r) = parse(b"{not json") else {
            panic!()
        };
        let v: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["error"]["code"], PARSE_ERROR);
        assert_eq!(v["id"], Value::Null);
        let Parsed::Reply(r) = parse(br#"{"jsonrpc":"1.0","id":9,"method":"ping"}"#) else {
            panic!()
        };
        let v: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["error"]["code"], INVALID_REQUEST);
        assert_eq!(v["id"], 9);
        // A null or fractional id is still a request, and gets an answer.
        for line in [
            &br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#[..],
            br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        ] {
            let Parsed::Reply(r) = parse(line) else {
                panic!("no reply")
            };
            let v: Value = serde_json::from_str(&r).unwrap();
            assert_eq!(v["error"]["code"], INVALID_REQUEST);
            assert!(v["id"].is_null());
        }
        let Parsed::Reply(r) = parse(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5}}"#) else {
            panic!()
        };
        let v: Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["error"]["code"], INVALID_PARAMS);
        assert_eq!(v["id"], 4);
    }
}
