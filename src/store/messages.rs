//! Direct messages and broadcasts with per-recipient read state; threads
//! follow `reply_to` back to the first message.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::access::authorize;
use super::acks::{self, AckRequest};
use super::delivery::ReadReceipt;
use super::words::Capability;
use super::{Caller, Store, audit, events, validate};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};

/// Message priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Read this first.
    High,
}

impl Priority {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// Which messages `get_messages` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadFilter {
    /// Not yet read (the default).
    #[default]
    Unread,
    /// Already read.
    Read,
    /// Both.
    All,
    /// Messages that asked you for an acknowledgement (`ack_required`)
    /// you have not given yet, read or not (SPEC §9).
    Unacknowledged,
}

/// Whose messages `get_messages` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mailbox {
    /// Messages sent to you (the default).
    #[default]
    Inbox,
    /// Messages you sent, each with its recipients' receipts.
    Sent,
}

/// A message as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Message id.
    pub id: i64,
    /// Sender's agent name.
    pub from: String,
    /// `direct` or `broadcast`.
    pub kind: String,
    /// The text, as sent.
    pub content: String,
    /// low, normal or high.
    pub priority: String,
    /// The message this one answers.
    pub reply_to: Option<i64>,
    /// Id of the thread's first message.
    pub thread_id: i64,
    /// RFC 3339 send time.
    pub created_at: String,
    /// Whether the recipient had read it before this call.
    pub read: bool,
    /// Whether the sender asked for an acknowledgement (`acknowledge_message`).
    pub ack_required: bool,
    /// RFC 3339 time by which the sender wants the acknowledgement, if it set one.
    pub ack_deadline: Option<String>,
    /// RFC 3339 time the recipient acknowledged it; `None` when it has not
    /// (or no acknowledgement was asked for).
    pub acknowledged_at: Option<String>,
}

/// The result of `send_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sent {
    /// The new message's id.
    pub message_id: i64,
    /// Its thread.
    pub thread_id: i64,
    /// The recipient.
    pub to: String,
    /// Whether `to` is a registered agent now (mail to others waits).
    pub recipient_registered: bool,
    /// RFC 3339 send time.
    pub created_at: String,
    /// Whether the recipient is asked to acknowledge it.
    pub ack_required: bool,
    /// RFC 3339 time by which the acknowledgement is due, if one was set.
    pub ack_deadline: Option<String>,
}

/// The result of `broadcast`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broadcast {
    /// The message id.
    pub message_id: i64,
    /// Who received it (every registered agent but the sender, filtered by role).
    pub recipients: Vec<String>,
    /// Whether each recipient is asked to acknowledge it.
    pub ack_required: bool,
    /// RFC 3339 time by which the acknowledgements are due, if one was set.
    pub ack_deadline: Option<String>,
}

/// A page of `get_messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inbox {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Unread messages left once this page is delivered.
    pub unread_remaining: i64,
    /// What becomes read once the page reaches the reader (`None` for a
    /// peek, or when nothing unread was returned); see [`super::delivery`].
    #[serde(skip)]
    pub receipt: Option<ReadReceipt>,
    /// Messages of the page that had never reached the reader before
    /// (see [`super::acks`] for what "delivered" means).
    #[serde(skip)]
    pub undelivered: Vec<i64>,
}

/// Largest `limit` for `get_messages`, `get_channel_messages` and
/// `get_tasks`.
pub const MAX_PAGE: u32 = 100;

/// The page size when a call gives no `limit` (SPEC §3.1: 20).
pub const DEFAULT_PAGE_LIMIT: u32 = 20;

/// A page size: `limit`, or [`DEFAULT_PAGE_LIMIT`] when not given.
///
/// Errors: [`ErrorCode::Validation`] outside 1..=[`MAX_PAGE`].
pub fn page_limit(limit: Option<u32>) -> Result<u32> {
    let l = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if (1..=MAX_PAGE).contains(&l) {
        Ok(l)
    } else {
        Err(Error::validation(format!("limit must be 1-{MAX_PAGE}, got {l}")))
    }
}

impl Store {
    /// Sends `content` from the caller to `to` (registered or not yet),
    /// optionally as a reply to message `reply_to`.
    ///
    /// Errors: [`ErrorCode::Validation`] (bad name, blank content),
    /// [`ErrorCode::PayloadTooLarge`] (over the content limit, 64 KiB by
    /// default), [`ErrorCode::NotFound`] (unknown `reply_to`),
    /// [`ErrorCode::NotParty`] (replying to a message the caller neither
    /// sent nor received), [`ErrorCode::AuthFailed`].
    pub fn send_message(
        &self,
        caller: Caller<'_>,
        to: &str,
        content: &str,
        priority: Priority,
        reply_to: Option<i64>,
    ) -> Result<Sent> {
        self.send_message_with(caller, to, content, priority, reply_to, None)
    }

    /// [`Store::send_message`], asking the recipient for an
    /// acknowledgement when `ack` is given (SPEC §9, [`super::acks`]).
    ///
    /// Errors: those of [`Store::send_message`].
    pub fn send_message_with(
        &self,
        caller: Caller<'_>,
        to: &str,
        content: &str,
        priority: Priority,
        reply_to: Option<i64>,
        ack: Option<AckRequest>,
    ) -> Result<Sent> {
        validate::agent_name(to)?;
        validate::content(content, self.limits().max_content_bytes)?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            let thread = match reply_to {
                None => None,
                Some(parent) => Some(thread_of(tx, caller.agent, parent)?),
            };
            let asked = acks::Asked::new(ack, 1, now);
            let id = insert_message(
                tx,
                caller.agent,
                "direct",
                content,
                priority,
                reply_to,
                thread,
                &asked,
                now,
            )?;
            add_recipient(tx, to, id, &asked)?;
            super::search::index_message(tx, id, content)?;
            events::append(
                tx,
                events::Kind::Message,
                Some(to),
                Some(caller.agent),
                Some(id),
                None,
                now,
            )?;
            let mut params = serde_json::json!({"to": to, "message_id": id, "bytes": content.len()});
            if ack.is_some() {
                params["ack_required"] = true.into(); // plain sends keep their audit row as it was
            }
            audit::record(tx, caller, "send_message", None, &params, now)?;
            let registered = tx
                .prepare_cached("SELECT 1 FROM agents WHERE name = ?1")?
                .exists([to])?;
            Ok(Sent {
                message_id: id,
                thread_id: thread.unwrap_or(id),
                to: to.to_owned(),
                recipient_registered: registered,
                created_at: rfc3339(now),
                ack_required: asked.required,
                ack_deadline: asked.deadline.map(rfc3339),
            })
        })
    }

    /// Sends `content` to every registered agent except the caller, or
    /// only to those with role `role`. Needs the `broadcast` capability.
    ///
    /// Errors: as [`Store::send_message`], plus [`ErrorCode::CapDenied`].
    pub fn broadcast(
        &self,
        caller: Caller<'_>,
        content: &str,
        role: Option<&str>,
        priority: Priority,
    ) -> Result<Broadcast> {
        self.broadcast_with(caller, content, role, priority, None)
    }

    /// [`Store::broadcast`], asking every recipient for an
    /// acknowledgement when `ack` is given (SPEC §9, [`super::acks`]).
    ///
    /// Errors: those of [`Store::broadcast`].
    pub fn broadcast_with(
        &self,
        caller: Caller<'_>,
        content: &str,
        role: Option<&str>,
        priority: Priority,
        ack: Option<AckRequest>,
    ) -> Result<Broadcast> {
        validate::content(content, self.limits().max_content_bytes)?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, Some(Capability::Broadcast))?;
            let recipients: Vec<String> = tx
                .prepare_cached(
                    "SELECT name FROM agents WHERE name <> ?1 AND (?2 IS NULL OR role = ?2)
                       AND auth_state <> 'revoked' ORDER BY name",
                )?
                .query_map(params![caller.agent, role], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let asked = acks::Asked::new(ack, recipients.len(), now);
            let id = insert_message(
                tx,
                caller.agent,
                "broadcast",
                content,
                priority,
                None,
                None,
                &asked,
                now,
            )?;
            for r in &recipients {
                add_recipient(tx, r, id, &asked)?;
                events::append(
                    tx,
                    events::Kind::Broadcast,
                    Some(r),
                    Some(caller.agent),
                    Some(id),
                    None,
                    now,
                )?;
            }
            super::search::index_message(tx, id, content)?;
            let mut params =
                serde_json::json!({"message_id": id, "recipients": recipients.len(), "bytes": content.len()});
            if ack.is_some() {
                params["ack_required"] = true.into();
            }
            audit::record(tx, caller, "broadcast", None, &params, now)?;
            Ok(Broadcast {
                message_id: id,
                recipients,
                ack_required: asked.required,
                ack_deadline: asked.deadline.map(rfc3339),
            })
        })
    }

    /// The caller's received messages, oldest first: `filter` picks
    /// unread/read/all/unacknowledged, `thread_id` narrows to one thread,
    /// `limit` is 1-100. Unless `peek`, the returned unread messages come
    /// with a [`ReadReceipt`]: they become read only when it is confirmed
    /// ([`Store::confirm_delivery`]) after the page reached the reader, so
    /// delivery is at-least-once. `unread_remaining` already counts them
    /// as read. A peek records the messages it hands out for the first
    /// time as delivered ([`super::acks`]); a failure to record that does
    /// not fail the read.
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::AuthFailed`].
    pub fn get_messages(
        &self,
        caller: Caller<'_>,
        filter: ReadFilter,
        thread_id: Option<i64>,
        limit: u32,
        peek: bool,
    ) -> Result<Inbox> {
        // A read: read state changes only through the receipt.
        let inbox = self.read_as(caller, |tx, _| page(tx, caller.agent, filter, thread_id, limit, peek))?;
        if peek {
            self.record_delivered(caller.agent, &inbox.undelivered);
        }
        Ok(inbox)
    }

    /// How many unread messages wait for `agent`.
    pub fn unread_count(&self, agent: &str) -> Result<i64> {
        self.read(|c, _| unread(c, agent))
    }
}

/// The columns [`message_from_row`] reads, from `message_recipients r`
/// joined with `messages m`. The last one says whether the message had
/// never reached the recipient (the delivery rule is [`super::acks`]'s).
const MESSAGE_COLUMNS: &str = "m.id, m.sender, m.kind, relay_open('messages.content', m.content), m.priority,
    m.reply_to, COALESCE(m.thread_id, m.id), m.created_at, r.read_at IS NOT NULL, m.ack_required, m.ack_deadline,
    CASE WHEN m.ack_required THEN (SELECT a.acknowledged_at FROM message_acks a
                                   WHERE a.message_id = m.id AND a.recipient = r.recipient) END,
    r.delivered_at IS NULL AND r.read_at IS NULL";

/// A received message and whether this is its first delivery.
fn message_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Message, bool)> {
    let message = Message {
        id: r.get(0)?,
        from: r.get(1)?,
        kind: r.get(2)?,
        content: r.get(3)?,
        priority: r.get(4)?,
        reply_to: r.get(5)?,
        thread_id: r.get(6)?,
        created_at: rfc3339(r.get(7)?),
        read: r.get(8)?,
        ack_required: r.get(9)?,
        ack_deadline: r.get::<_, Option<Millis>>(10)?.map(rfc3339),
        acknowledged_at: r.get::<_, Option<Millis>>(11)?.map(rfc3339),
    };
    Ok((message, r.get(12)?))
}

/// A page of `agent`'s received messages; see [`Store::get_messages`].
pub(crate) fn page(
    tx: &rusqlite::Connection,
    agent: &str,
    filter: ReadFilter,
    thread_id: Option<i64>,
    limit: u32,
    peek: bool,
) -> Result<Inbox> {
    // Unacknowledged mail is found through its partial index, not by
    // walking all of the recipient's mail (SQLite would pick the primary
    // key without being told).
    let (index, which) = match filter {
        ReadFilter::Unacknowledged => (
            "INDEXED BY message_recipients_awaiting_ack",
            "r.awaiting_ack IS NOT NULL",
        ),
        _ => ("", "(?2 = 'all' OR (?2 = 'unread') = (r.read_at IS NULL))"),
    };
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS}
         FROM message_recipients r {index} JOIN messages m ON m.id = r.message_id
         WHERE r.recipient = ?1
           AND {which}
           AND (?3 IS NULL OR COALESCE(m.thread_id, m.id) = ?3)
         ORDER BY r.message_id LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(params![agent, filter_str(filter), thread_id, limit], message_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let undelivered = rows.iter().filter(|(_, first)| *first).map(|(m, _)| m.id).collect();
    let messages: Vec<Message> = rows.into_iter().map(|(m, _)| m).collect();
    let handed: Vec<i64> = if peek {
        Vec::new()
    } else {
        messages.iter().filter(|m| !m.read).map(|m| m.id).collect()
    };
    // Outside a transaction another session may confirm in between.
    let unread_remaining = (unread(tx, agent)? - handed.len() as i64).max(0);
    let receipt = (!handed.is_empty()).then(|| ReadReceipt::Messages {
        agent: agent.to_owned(),
        message_ids: handed,
    });
    Ok(Inbox {
        messages,
        unread_remaining,
        receipt,
        undelivered,
    })
}

/// How many unread messages wait for `agent` (the partial unread index).
pub(crate) fn unread(c: &rusqlite::Connection, agent: &str) -> Result<i64> {
    Ok(
        c.prepare_cached("SELECT count(*) FROM message_recipients WHERE recipient = ?1 AND read_at IS NULL")?
            .query_row([agent], |r| r.get(0))?,
    )
}

fn filter_str(f: ReadFilter) -> &'static str {
    match f {
        ReadFilter::Unread => "unread",
        ReadFilter::Read => "read",
        ReadFilter::All => "all",
        ReadFilter::Unacknowledged => "unacknowledged",
    }
}

/// The thread of message `parent`, which `agent` must have sent or received.
fn thread_of(tx: &rusqlite::Connection, agent: &str, parent: i64) -> Result<i64> {
    let row: Option<(i64, bool)> = tx
        .prepare_cached(
            "SELECT COALESCE(m.thread_id, m.id),
                    m.sender = ?2 OR EXISTS (SELECT 1 FROM message_recipients
                                             WHERE message_id = m.id AND recipient = ?2)
             FROM messages m WHERE m.id = ?1",
        )?
        .query_row(params![parent, agent], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Err(Error::not_found(format!("reply_to: no message with id {parent}"))),
        Some((_, false)) => Err(Error::new(
            ErrorCode::NotParty,
            format!("reply_to: message {parent} was neither sent to nor by you"),
        )),
        Some((thread, true)) => Ok(thread),
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_message(
    tx: &rusqlite::Connection,
    sender: &str,
    kind: &str,
    content: &str,
    priority: Priority,
    reply_to: Option<i64>,
    thread: Option<i64>,
    asked: &acks::Asked,
    now: Millis,
) -> Result<i64> {
    // A thread's first message stores NULL: its thread id is its own id.
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO messages (sender, kind, content, priority, reply_to, thread_id, created_at,
                                   ack_required, ack_deadline, acks_pending)
             VALUES (?1, ?2, relay_seal('messages.content', ?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        )?
        .query_row(
            params![
                sender,
                kind,
                content,
                priority.as_str(),
                reply_to,
                thread,
                now,
                asked.required,
                asked.deadline,
                asked.pending
            ],
            |r| r.get(0),
        )?;
    Ok(id)
}

fn add_recipient(tx: &rusqlite::Connection, recipient: &str, id: i64, asked: &acks::Asked) -> Result<()> {
    tx.prepare_cached("INSERT INTO message_recipients (recipient, message_id, awaiting_ack) VALUES (?1, ?2, ?3)")?
        .execute(params![recipient, id, asked.awaiting])?;
    Ok(())
}
