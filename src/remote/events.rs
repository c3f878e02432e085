//! The client of the hub's `GET /api/events` (see
//! [`crate::http::endpoints`] for the contract): server-sent events
//! (WHATWG HTML, "Server-sent events"), one outbox event per SSE event,
//! `id:` = the outbox event id, `data:` = the event as JSON (ids and
//! names only, never content).
//!
//! [`follow`] reconnects after any failure (the hub restarted, the
//! network dropped) with `Last-Event-ID` set to the last id it handed
//! on, so nothing is missed or seen twice; the pause between attempts
//! grows from [`RETRY_MIN`] to [`RETRY_MAX`] (or the hub's `retry:`).

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::Value;

use super::{Credential, Endpoints};
use crate::store::events::{Event, Kind};

/// The first pause before reconnecting, in milliseconds.
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// The longest pause before reconnecting, in seconds.
pub const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long connecting may take, in seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A stream silent for this long (no event, no keep-alive comment; the
/// hub sends one every [`crate::http::SSE_KEEP_ALIVE_SECONDS`]) is
/// dropped and reopened, in seconds.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// The largest SSE event accepted, in bytes.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After this outbox event id (`Last-Event-ID`).
    After(i64),
    /// With the last N events already stored (`?last=N`); 0 = only new ones.
    Last(usize),
}

/// What [`follow`] asks for.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The hub.
    pub hub: Endpoints,
    /// The hub secret (`/api/events` requires it).
    pub secret: Option<Credential>,
    /// Only events to or from this agent (`?agent=`).
    pub agent: Option<String>,
    /// Where to start.
    pub start: Start,
}

/// An outbox event from its JSON form (`Event`'s `Serialize` shape).
///
/// Errors: a missing id or an unknown kind (a newer hub; skipped by
/// callers).
pub fn event_from_json(v: &Value) -> anyhow::Result<Event> {
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    Ok(Event {
        id: v["id"].as_i64().context("an event without an id")?,
        kind: v["kind"]
            .as_str()
            .context("an event without a kind")?
            .parse::<Kind>()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        target: text("target"),
        actor: text("actor"),
        subject_id: v["subject_id"].as_i64(),
        channel: text("channel"),
        created_at: text("created_at").unwrap_or_default(),
    })
}

/// An incremental SSE parser: feed it bytes, take complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    id: Option<String>,
    data: String,
    /// The last `retry:` the server sent, in milliseconds.
    pub retry_ms: Option<u64>,
}

/// One complete SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Its `id:`, if any.
    pub id: Option<String>,
    /// Its `data:` lines joined with `\n`.
    pub data: String,
}

impl SseParser {
    /// Adds `chunk` and returns the events it completed.
    ///
    /// Errors: a line longer than [`MAX_EVENT_BYTES`].
    pub fn push(&mut self, chunk: &[u8]) -> anyhow::Result<Vec<SseEvent>> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if !self.data.is_empty() || self.id.is_some() {
                    out.push(SseEvent {
                        id: self.id.take(),
                        data: std::mem::take(&mut self.data),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // a comment: keep-alive
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => self.id = Some(value.to_owned()),
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                "retry" => self.retry_ms = value.parse().ok(),
                _ => {}
            }
            if self.data.len() > MAX_EVENT_BYTES {
                bail!("an event over {MAX_EVENT_BYTES} bytes");
            }
        }
        if self.buf.len() > MAX_EVENT_BYTES {
            bail!("a line over {MAX_EVENT_BYTES} bytes");
        }
        Ok(out)
    }
}

/// Why following stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// 401/403: the hub refuses the secret (or has none and so serves no
    /// events).
    #[error("{0}")]
    Access(String),
    /// The URL answers, but not with an event stream.
    #[error("{0}")]
    NotAStream(String),
}

/// Follows the hub's events, calling `each` for every one in id order,
/// until `each` returns false (stdout closed) or the hub refuses access.
/// Reconnects after failures, resuming after the last event handed on.
///
/// Errors: [`Refused`] (access refused, not an event stream): retrying
/// would not help.
pub async fn follow(spec: Follow, mut each: impl FnMut(Event) -> bool) -> anyhow::Result<()> {
    let client = super::hub_client(&spec.hub, CONNECT_TIMEOUT, None, "relay-tail")?;
    let mut start = spec.start;
    let mut pause = RETRY_MIN;
    let mut warned = false;
    loop {
        let mut url = spec.hub.events.clone();
        {
            let mut q = url.query_pairs_mut();
            if let Some(agent) = &spec.agent {
                q.append_pair("agent", agent);
            }
            if let Start::Last(n) = start {
                q.append_pair("last", &n.to_string());
            }
        }
        let mut req = client.get(url).header(ACCEPT, "text/event-stream");
        if let Start::After(id) = start {
            req = req.header("Last-Event-ID", id.to_string());
        }
        if let Some(secret) = &spec.secret {
            let mut value = http::HeaderValue::from_str(&format!("Bearer {}", secret.expose()))
                .context("the hub secret is not a valid header value")?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        let mut parser = SseParser::default();
        let outcome: anyhow::Result<()> = async {
            let mut resp = req
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(super::describe(&e, "5 s")))?;
            let status = resp.status();
            if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                let why = body["error"]["message"].as_str().unwrap_or("refused").to_owned();
                let fix = match &spec.secret {
                    None => "the event stream needs the hub secret: set RELAY_HTTP_SECRET or pass --secret-file FILE",
                    Some(_) => "check the hub secret (its RELAY_HTTP_SECRET or [http] secret_file)",
                };
                return Err(
                    Refused::Access(format!("{} answered HTTP {status}: {why}; {fix}", spec.hub.events)).into(),
                );
            }
            let is_stream = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if !status.is_success() || !is_stream {
                if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    anyhow::bail!("{} answered HTTP {status}", spec.hub.events);
                }
                return Err(Refused::NotAStream(format!(
                    "{} answered HTTP {status} without an event stream: is this a relay hub of this version?",
                    spec.hub.events
                ))
                .into());
            }
            if warned {
                tracing::info!("reconnected to {}", spec.hub.events);
                warned = false;
            }
            loop {
                let chunk = tokio::time::timeout(IDLE_TIMEOUT, resp.chunk())
                    .await
                    .map_err(|_| anyhow::anyhow!("the stream was silent for {} s", IDLE_TIMEOUT.as_secs()))??;
                let Some(chunk) = chunk else {
                    anyhow::bail!("the hub closed the stream");
                };
                pause = RETRY_MIN;
                for sse in parser.push(&chunk)? {
                    let Ok(json) = serde_json::from_str::<Value>(&sse.data) else {
                        // The opening (an id, no data) says where the hub
                        // started: a reconnect before the first event resumes there.
                        if let Some(id) = sse.id.as_deref().and_then(|i| i.parse::<i64>().ok())
                            && !matches!(start, Start::After(after) if after >= id)
                        {
                            start = Start::After(id);
                        }
                        continue;
                    };
                    match event_from_json(&json) {
                        Ok(event) => {
                            let id = event.id;
                            if let Start::After(after) = start
                                && id <= after
                            {
                                continue; // never twice
                            }
                            start = Start::After(id);
                            if !each(event) {
                                return Ok(());
                            }
                        }
                        Err(e) => {
                            tracing::debug!("skipping an event: {e}");
                            if let Some(id) = sse.id.as_deref().and_then(|i| i.parse().ok()) {
                                start = Start::After(id);
                            }
                        }
                    }
                }
            }
        }
        .await;
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if e.downcast_ref::<Refused>().is_some() => return Err(e),
            Err(e) => {
                if !warned {
                    tracing::warn!("the event stream broke, reconnecting: {e:#}");
                    warned = true;
                }
                if let Some(ms) = parser.retry_ms {
                    pause = Duration::from_millis(ms).clamp(RETRY_MIN, RETRY_MAX);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_parsed_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nid: 7\nda").unwrap().is_empty());
        let got = p
            .push(b"ta: {\"a\":1}\r\n\nretry: 500\nid: 8\ndata: x\ndata: y\n\n")
            .unwrap();
        assert_eq!(
            got,
            [
                SseEvent {
                    id: Some("7".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some("8".into()),
                    data: "x\ny".into()
                }
            ]
        );
        assert_eq!(p.retry_ms, Some(500));
        assert!(p.push(&vec![b'x'; MAX_EVENT_BYTES + 1]).is_err());
    }

    #[test]
    fn events_are_read_back_from_their_json() {
        let e = Event {
            id: 3,
            kind: Kind::TaskPosted,
            target: Some("bob".into()),
            actor: Some("alice".into()),
            subject_id: Some(9),
            channel: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(event_from_json(&serde_json::to_value(&e).unwrap()).unwrap(), e);
    }
}
