//! Acknowledgements and receipts (SPEC §9): per-recipient delivered, read
//! and acknowledged state of a message, and the sender's view of it.
//!
//! A sender may ask for an acknowledgement (`ack_required`, optionally
//! with a deadline, [`AckRequest`]) when it sends a message or a
//! broadcast; each recipient then owes one until it calls
//! `acknowledge_message` ([`Store::acknowledge_message`]). The sender
//! sees every recipient's [`Receipt`] on the messages it sent
//! ([`Store::sent_messages`]) and lists what still waits with
//! [`Store::get_outstanding`], overdue first.
//!
//! **The receipt states**, per recipient, each with the time it was first
//! reached (later events never move a time):
//!
//! - *delivered*: the message's content first reached the recipient: a
//!   `get_messages` page that returned it (peek or not), or a read of the
//!   recipient's `relay://inbox/{agent}` resource that showed it (which the
//!   remote `relay hook` also reads). Notifications, channel envelopes and
//!   hook summaries are not deliveries: they carry ids and counts, never
//!   content. A peek or an inbox read records `delivered_at` when it builds
//!   the page ([`Store::record_delivered`]); a read that marks mail read
//!   records only `read_at`, once its receipt is confirmed
//!   ([`super::delivery`]), and the receipt's delivered time is then its
//!   read time. That is the one rule, [`DELIVERED_AT`], used wherever a
//!   delivery time is shown.
//! - *read*: `get_messages` without `peek` handed it over and the response
//!   was written (`message_recipients.read_at`), or the recipient
//!   acknowledged it.
//! - *acknowledged*: the recipient called `acknowledge_message`, with an
//!   optional note for the sender. Acknowledging also marks the message
//!   read (and delivered), so acknowledged mail never shows as unread or
//!   waiting again.
//!
//! **Storage.** `messages` says whether an acknowledgement was asked
//! (`ack_required`), by when (`ack_deadline`) and how many recipients still
//! owe one (`acks_pending`, NULL when none was asked). Each recipient's
//! row in `message_recipients` has `delivered_at` and `awaiting_ack` (1
//! while it owes an acknowledgement). Acknowledgements are rows of
//! `message_acks` (time and note), a rowid table so the note column can be
//! sealed and re-encrypted like other free text. Two partial indexes
//! serve the two questions asked often, and only messages sent with
//! `ack_required` enter them: what a sender still waits for
//! (`messages_outstanding`) and what a recipient still owes
//! (`message_recipients_awaiting_ack`). The send's own INSERTs write these
//! columns (`Asked`); a plain send writes the same rows and index
//! entries as before migration 6.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::access::authorize;
use super::{Caller, Store, audit, events};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};

/// Schema migration 6: acknowledgements and receipts (see the module docs).
pub(crate) const MIGRATION: &str = r#"
ALTER TABLE messages ADD COLUMN ack_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ack_deadline INTEGER;            -- when the acknowledgements are due; NULL: no deadline
ALTER TABLE messages ADD COLUMN acks_pending INTEGER;            -- recipients yet to acknowledge; NULL: none asked
ALTER TABLE message_recipients ADD COLUMN delivered_at INTEGER;  -- first reached by a peek or an inbox read (store/acks.rs)
ALTER TABLE message_recipients ADD COLUMN awaiting_ack INTEGER;  -- 1 while this recipient owes an acknowledgement

-- One row per acknowledgement; the note is the acknowledging agent's text.
CREATE TABLE message_acks (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    recipient       TEXT    NOT NULL,
    note            TEXT,
    acknowledged_at INTEGER NOT NULL,
    UNIQUE (message_id, recipient)
);
CREATE INDEX messages_outstanding ON messages (sender, id) WHERE acks_pending > 0;
CREATE INDEX message_recipients_awaiting_ack ON message_recipients (recipient, message_id)
    WHERE awaiting_ack IS NOT NULL;
"#;

/// Longest `ack_deadline_seconds`: 30 days.
pub const MAX_ACK_DEADLINE_SECONDS: u32 = 30 * 24 * 3600;

/// Longest acknowledgement note, in characters.
pub const MAX_ACK_NOTE_CHARS: usize = 256;

/// How long a page of `get_outstanding` is by default.
pub const DEFAULT_OUTSTANDING_LIMIT: u32 = 20;

/// The SQL expression for a recipient row's delivery time (`r` is
/// `message_recipients`): its recorded `delivered_at`, else its read time
/// (see the module docs).
pub const DELIVERED_AT: &str = "COALESCE(r.delivered_at, r.read_at)";

/// An acknowledgement asked for by `send_message` or `broadcast`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckRequest {
    /// Seconds after sending by which the acknowledgement is due
    /// (1..=[`MAX_ACK_DEADLINE_SECONDS`]); `None`: no deadline.
    pub deadline_seconds: Option<u32>,
}

impl AckRequest {
    /// The request a call's `ack_required` and `ack_deadline_seconds`
    /// make: `None` when no acknowledgement is asked.
    ///
    /// Errors: [`ErrorCode::Validation`] for a deadline without
    /// `ack_required`, or outside 1..=[`MAX_ACK_DEADLINE_SECONDS`].
    pub fn from_args(ack_required: bool, ack_deadline_seconds: Option<u32>) -> Result<Option<Self>> {
        match (ack_required, ack_deadline_seconds) {
            (false, None) => Ok(None),
            (false, Some(_)) => Err(Error::validation(
                "ack_deadline_seconds needs ack_required: true (a deadline for an acknowledgement nobody was asked for)",
            )),
            (true, Some(s)) if !(1..=MAX_ACK_DEADLINE_SECONDS).contains(&s) => Err(Error::validation(format!(
                "ack_deadline_seconds must be 1-{MAX_ACK_DEADLINE_SECONDS} (30 days), got {s}"
            ))),
            (true, deadline_seconds) => Ok(Some(Self { deadline_seconds })),
        }
    }
}

super::words::words! {
    /// How far a message got with one recipient (SPEC §9), in order.
    pub enum ReceiptState("receipt state") {
        /// Stored; its content has not reached the recipient yet.
        Sent = "sent",
        /// Its content reached the recipient (a peek or an inbox read).
        Delivered = "delivered",
        /// The recipient read it.
        Read = "read",
        /// The recipient acknowledged it.
        Acknowledged = "acknowledged",
    }
}

/// One recipient's receipt for a message: each time is RFC 3339, the
/// first time that state was reached, `None` until it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The recipient's agent name.
    pub recipient: String,
    /// The furthest state reached.
    pub state: ReceiptState,
    /// When its content first reached the recipient.
    pub delivered_at: Option<String>,
    /// When the recipient read it.
    pub read_at: Option<String>,
    /// When the recipient acknowledged it.
    pub acknowledged_at: Option<String>,
    /// The recipient's note with its acknowledgement (untrusted text from
    /// another agent).
    pub ack_note: Option<String>,
}

/// A message as its sender sees it: what was sent and every recipient's
/// receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentMessage {
    /// Message id.
    pub id: i64,
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
    /// Whether the recipients were asked to acknowledge it.
    pub ack_required: bool,
    /// RFC 3339 time the acknowledgements are due, if a deadline was set.
    pub ack_deadline: Option<String>,
    /// Some recipient has not acknowledged it and its deadline has passed.
    pub overdue: bool,
    /// How many recipients still owe an acknowledgement (0 when none was asked).
    pub acks_pending: i64,
    /// One per recipient, by name.
    pub receipts: Vec<Receipt>,
}

/// A page of `get_outstanding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outstanding {
    /// Overdue first (the longest overdue first), then the oldest.
    pub messages: Vec<SentMessage>,
    /// All of the caller's messages still waiting for an acknowledgement,
    /// beyond this page too.
    pub total: i64,
    /// How many of those are overdue.
    pub overdue: i64,
}

/// The result of `acknowledge_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledged {
    /// The message acknowledged.
    pub message_id: i64,
    /// Its thread.
    pub thread_id: i64,
    /// Who sent it (and is told).
    pub sender: String,
    /// RFC 3339 time of the acknowledgement.
    pub acknowledged_at: String,
    /// The note, as stored.
    pub note: Option<String>,
}

/// What a recipient owes: messages that asked it for an acknowledgement
/// it has not given (read or not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Owed {
    /// How many.
    pub count: i64,
    /// The oldest ones' ids, up to the limit asked for.
    pub ids: Vec<i64>,
}

/// What a sender waits for: its messages some recipient has not
/// acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Waiting {
    /// How many messages.
    pub count: i64,
    /// How many of them are past their deadline.
    pub overdue: i64,
}

/// What a send stores about its acknowledgement, written by the send's
/// own INSERTs: the `messages` columns and each recipient row's
/// `awaiting_ack`. For a plain send these are the columns' defaults, so a
/// plain send writes what it wrote before migration 6.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Asked {
    /// `messages.ack_required`.
    pub required: bool,
    /// `messages.ack_deadline`: when the acknowledgements are due.
    pub deadline: Option<Millis>,
    /// `messages.acks_pending`: every recipient owes one at first.
    pub pending: Option<i64>,
    /// `message_recipients.awaiting_ack` of each recipient.
    pub awaiting: Option<i64>,
}

impl Asked {
    /// The columns of a message sent at `now` to `recipients` agents,
    /// asking for `ack` (nothing asked: `None`).
    pub(crate) fn new(ack: Option<AckRequest>, recipients: usize, now: Millis) -> Self {
        match ack {
            None => Self::default(),
            Some(ack) => Self {
                required: true,
                deadline: ack.deadline_seconds.map(|s| now + Millis::from(s) * 1000),
                pending: Some(recipients as i64),
                awaiting: Some(1),
            },
        }
    }
}

/// What `agent` owes: a count and the oldest `limit` ids. Names its
/// partial index: without statistics SQLite would walk the primary key,
/// i.e. all of the agent's mail.
pub(crate) fn owed(c: &rusqlite::Connection, agent: &str, limit: u32) -> Result<Owed> {
    let count = c
        .prepare_cached(
            "SELECT count(*) FROM message_recipients INDEXED BY message_recipients_awaiting_ack
             WHERE recipient = ?1 AND awaiting_ack IS NOT NULL",
        )?
        .query_row([agent], |r| r.get(0))?;
    if limit == 0 {
        return Ok(Owed { count, ids: Vec::new() });
    }
    let ids = c
        .prepare_cached(
            "SELECT message_id FROM message_recipients INDEXED BY message_recipients_awaiting_ack
             WHERE recipient = ?1 AND awaiting_ack IS NOT NULL ORDER BY message_id LIMIT ?2",
        )?
        .query_map(params![agent, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Owed { count, ids })
}

/// What `sender` waits for at `now`.
pub(crate) fn waiting(c: &rusqlite::Connection, sender: &str, now: Millis) -> Result<Waiting> {
    Ok(c.prepare_cached(
        "SELECT count(*), COALESCE(sum(ack_deadline <= ?2), 0) FROM messages
         WHERE sender = ?1 AND acks_pending > 0",
    )?
    .query_row(params![sender, now], |r| {
        Ok(Waiting {
            count: r.get(0)?,
            overdue: r.get(1)?,
        })
    })?)
}

/// The columns [`sent_from_row`] reads, from `messages m`.
const SENT_COLUMNS: &str = "m.id, m.kind, relay_open('messages.content', m.content), m.priority, m.reply_to,
    COALESCE(m.thread_id, m.id), m.created_at, m.ack_required, m.ack_deadline, COALESCE(m.acks_pending, 0)";

fn sent_from_row(r: &rusqlite::Row<'_>, now: Millis) -> rusqlite::Result<SentMessage> {
    let deadline: Option<Millis> = r.get(8)?;
    let acks_pending: i64 = r.get(9)?;
    Ok(SentMessage {
        id: r.get(0)?,
        kind: r.get(1)?,
        content: r.get(2)?,
        priority: r.get(3)?,
        reply_to: r.get(4)?,
        thread_id: r.get(5)?,
        created_at: rfc3339(r.get(6)?),
        ack_required: r.get(7)?,
        ack_deadline: deadline.map(rfc3339),
        overdue: acks_pending > 0 && deadline.is_some_and(|d| d <= now),
        acks_pending,
        receipts: Vec::new(),
    })
}

/// Fills in each message's receipts.
fn with_receipts(c: &rusqlite::Connection, mut messages: Vec<SentMessage>) -> Result<Vec<SentMessage>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT r.recipient, {DELIVERED_AT}, r.read_at, a.acknowledged_at, a.note
         FROM message_recipients r
         LEFT JOIN message_acks a ON a.message_id = r.message_id AND a.recipient = r.recipient
         WHERE r.message_id = ?1 ORDER BY r.recipient"
    ))?;
    for m in &mut messages {
        m.receipts = stmt
            .query_map([m.id], |r| {
                let delivered: Option<Millis> = r.get(1)?;
                let read: Option<Millis> = r.get(2)?;
                let acknowledged: Option<Millis> = r.get(3)?;
                let state = match (delivered, read, acknowledged) {
                    (_, _, Some(_)) => ReceiptState::Acknowledged,
                    (_, Some(_), None) => ReceiptState::Read,
                    (Some(_), None, None) => ReceiptState::Delivered,
                    (None, None, None) => ReceiptState::Sent,
                };
                Ok(Receipt {
                    recipient: r.get(0)?,
                    state,
                    delivered_at: delivered.map(rfc3339),
                    read_at: read.map(rfc3339),
                    acknowledged_at: acknowledged.map(rfc3339),
                    ack_note: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(messages)
}

/// A note as stored: trimmed, `None` when blank.
///
/// Errors: [`ErrorCode::Validation`] over [`MAX_ACK_NOTE_CHARS`].
fn ack_note(note: Option<&str>) -> Result<Option<String>> {
    let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let n = note.chars().count();
    if n > MAX_ACK_NOTE_CHARS {
        return Err(Error::validation(format!(
            "note is {n} characters; the limit is {MAX_ACK_NOTE_CHARS}: keep it to a line, and send a message \
             (reply_to) for more"
        )));
    }
    Ok(Some(note.to_owned()))
}

impl Store {
    /// The caller acknowledges message `message_id`, which it received
    /// with `ack_required`, optionally with a `note` for the sender. Marks
    /// it read (and delivered) for the caller, and in the same
    /// transaction appends a `message_acknowledged` event for the sender
    /// (actor: the caller) and an audit row.
    ///
    /// Errors: [`ErrorCode::NotFound`] (no such message),
    /// [`ErrorCode::NotParty`] (the caller is not one of its recipients),
    /// [`ErrorCode::InvalidState`] (no acknowledgement was asked for, or
    /// the caller already acknowledged it: the error says when),
    /// [`ErrorCode::Validation`] (a note over [`MAX_ACK_NOTE_CHARS`]),
    /// [`ErrorCode::AuthFailed`].
    pub fn acknowledge_message(&self, caller: Caller<'_>, message_id: i64, note: Option<&str>) -> Result<Acknowledged> {
        let note = ack_note(note)?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            let row: Option<(String, i64, bool, bool, Option<Millis>)> = tx
                .prepare_cached(
                    "SELECT m.sender, COALESCE(m.thread_id, m.id), m.ack_required, r.recipient IS NOT NULL,
                            a.acknowledged_at
                     FROM messages m
                     LEFT JOIN message_recipients r ON r.message_id = m.id AND r.recipient = ?2
                     LEFT JOIN message_acks a ON a.message_id = m.id AND a.recipient = ?2
                     WHERE m.id = ?1",
                )?
                .query_row(params![message_id, caller.agent], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let (sender, thread_id) = match row {
                None => return Err(Error::not_found(format!("no message with id {message_id}"))),
                Some((_, _, _, false, _)) => {
                    return Err(Error::new(
                        ErrorCode::NotParty,
                        format!("message {message_id} was not sent to you; only its recipients acknowledge it"),
                    ));
                }
                Some((sender, _, false, true, _)) => {
                    return Err(Error::new(
                        ErrorCode::InvalidState,
                        format!(
                            "message {message_id} from {sender} did not ask for an acknowledgement \
                             (ack_required); answer it with send_message (reply_to) if it needs one"
                        ),
                    ));
                }
                Some((_, _, true, true, Some(at))) => {
                    return Err(Error::new(
                        ErrorCode::InvalidState,
                        format!(
                            "you already acknowledged message {message_id} at {}; nothing changed",
                            rfc3339(at)
                        ),
                    ));
                }
                Some((sender, thread_id, true, true, None)) => (sender, thread_id),
            };
            tx.prepare_cached(
                "UPDATE message_recipients
                 SET awaiting_ack = NULL, read_at = COALESCE(read_at, ?3), delivered_at = COALESCE(delivered_at, ?3)
                 WHERE recipient = ?1 AND message_id = ?2",
            )?
            .execute(params![caller.agent, message_id, now])?;
            tx.prepare_cached(
                "INSERT INTO message_acks (message_id, recipient, note, acknowledged_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![message_id, caller.agent, note, now])?;
            tx.prepare_cached(
                "UPDATE messages SET acks_pending = acks_pending - 1 WHERE id = ?1 AND acks_pending > 0",
            )?
            .execute([message_id])?;
            events::append(
                tx,
                events::Kind::MessageAcknowledged,
                Some(&sender),
                Some(caller.agent),
                Some(message_id),
                None,
                now,
            )?;
            audit::record(
                tx,
                caller,
                "acknowledge_message",
                None,
                &serde_json::json!({
                    "message_id": message_id,
                    "note_chars": note.as_ref().map_or(0, |n| n.chars().count()),
                }),
                now,
            )?;
            Ok(Acknowledged {
                message_id,
                thread_id,
                sender,
                acknowledged_at: rfc3339(now),
                note,
            })
        })
    }

    /// The caller's messages that some recipient has not acknowledged yet
    /// (sent with `ack_required`), up to `limit` (1-100): overdue ones
    /// first, the longest overdue first, then the oldest first; each with
    /// every recipient's receipt.
    ///
    /// Errors: [`ErrorCode::AuthFailed`].
    pub fn get_outstanding(&self, caller: Caller<'_>, limit: u32) -> Result<Outstanding> {
        self.read_as(caller, |c, now| {
            // Sorted on ids and deadlines only; the page's rows are read
            // (and their content opened) afterwards.
            let ids: Vec<i64> = c
                .prepare_cached(
                    "SELECT m.id FROM messages m
                     WHERE m.sender = ?1 AND m.acks_pending > 0
                     ORDER BY (m.ack_deadline IS NOT NULL AND m.ack_deadline <= ?2) DESC,
                              CASE WHEN m.ack_deadline <= ?2 THEN m.ack_deadline END, m.id
                     LIMIT ?3",
                )?
                .query_map(params![caller.agent, now, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut one = c.prepare_cached(&format!("SELECT {SENT_COLUMNS} FROM messages m WHERE m.id = ?1"))?;
            let messages = ids
                .iter()
                .map(|id| one.query_row([id], |r| sent_from_row(r, now)))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let Waiting { count, overdue } = waiting(c, caller.agent, now)?;
            Ok(Outstanding {
                messages: with_receipts(c, messages)?,
                total: count,
                overdue,
            })
        })
    }

    /// Up to `limit` (1-100) messages the caller sent, newest first,
    /// optionally only those of thread `thread_id`, each with every
    /// recipient's receipt. Finds them by walking `messages` from the
    /// newest (no index on the sender: every send would pay for one), so
    /// it reads as far back as the caller's `limit`-th newest message.
    ///
    /// Errors: [`ErrorCode::AuthFailed`].
    pub fn sent_messages(&self, caller: Caller<'_>, thread_id: Option<i64>, limit: u32) -> Result<Vec<SentMessage>> {
        self.read_as(caller, |c, now| {
            let messages = c
                .prepare_cached(&format!(
                    "SELECT {SENT_COLUMNS} FROM messages m
                     WHERE m.sender = ?1 AND (?2 IS NULL OR COALESCE(m.thread_id, m.id) = ?2)
                     ORDER BY m.id DESC LIMIT ?3"
                ))?
                .query_map(params![caller.agent, thread_id, limit], |r| sent_from_row(r, now))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            with_receipts(c, messages)
        })
    }

    /// Records that the messages `ids` reached `agent` (a peek or an
    /// inbox read showed them): sets `delivered_at` where it is not set.
    /// A failure is logged, never returned: the read it follows stands.
    pub fn record_delivered(&self, agent: &str, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let recorded = self.write(|tx, now| {
            let mut mark = tx.prepare_cached(
                "UPDATE message_recipients SET delivered_at = ?3
                 WHERE recipient = ?1 AND message_id = ?2 AND delivered_at IS NULL",
            )?;
            for id in ids {
                mark.execute(params![agent, id, now])?;
            }
            Ok(())
        });
        if let Err(e) = recorded {
            tracing::debug!(code = %e.code, "delivery times not recorded");
        }
    }

    /// Which of the messages `ids` ask `agent` for an acknowledgement it
    /// has not given (for `relay hook`'s summary).
    pub fn awaiting_ack_among(&self, agent: &str, ids: &[i64]) -> Result<Vec<i64>> {
        self.read(|c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT 1 FROM message_recipients WHERE recipient = ?1 AND message_id = ?2 AND awaiting_ack IS NOT NULL",
            )?;
            let mut owed = Vec::new();
            for &id in ids {
                if stmt.exists(params![agent, id])? {
                    owed.push(id);
                }
            }
            Ok(owed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::events::Kind;
    use super::super::messages::{Priority, ReadFilter};
    use super::super::tests::{caller, store};
    use super::*;

    const T: super::super::Transport = super::super::Transport::Cli;

    fn ack(deadline_seconds: Option<u32>) -> Option<AckRequest> {
        Some(AckRequest { deadline_seconds })
    }

    #[test]
    fn an_ack_deadline_needs_ack_required_and_a_sane_range() {
        assert_eq!(AckRequest::from_args(false, None).unwrap(), None);
        assert_eq!(
            AckRequest::from_args(true, Some(MAX_ACK_DEADLINE_SECONDS)).unwrap(),
            ack(Some(MAX_ACK_DEADLINE_SECONDS))
        );
        assert_eq!(AckRequest::from_args(true, None).unwrap(), ack(None));
        for (required, seconds) in [
            (false, Some(60)),
            (true, Some(0)),
            (true, Some(MAX_ACK_DEADLINE_SECONDS + 1)),
        ] {
            let e = AckRequest::from_args(required, seconds).unwrap_err();
            assert_eq!(e.code, ErrorCode::Validation, "{required} {seconds:?}");
        }
    }

    #[test]
    fn an_acknowledgement_marks_read_tells_the_sender_and_empties_what_it_waits_for() {
        let (_d, s, clock) = store();
        for name in ["alice", "bob", "carol"] {
            s.bind_agent(name, None, None, T).unwrap();
        }
        let plain = s
            .send_message(caller("alice"), "bob", "fyi", Priority::Normal, None)
            .unwrap();
        let asked = s
            .send_message_with(caller("alice"), "bob", "deploy?", Priority::High, None, ack(Some(600)))
            .unwrap();
        assert!(asked.ack_required && !plain.ack_required);
        assert_eq!(asked.ack_deadline, Some(rfc3339(s.now() + 600_000)));
        assert_eq!(s.pending("bob").unwrap().awaiting_ack.ids, [asked.message_id]);
        let out = s.get_outstanding(caller("alice"), 20).unwrap();
        assert_eq!((out.total, out.messages.len()), (1, 1));
        assert_eq!(out.messages[0].receipts[0].state, ReceiptState::Sent);

        // Errors change nothing.
        let code = |r: Result<Acknowledged>| r.unwrap_err().code;
        assert_eq!(
            code(s.acknowledge_message(caller("bob"), 999, None)),
            ErrorCode::NotFound
        );
        assert_eq!(
            code(s.acknowledge_message(caller("carol"), asked.message_id, None)),
            ErrorCode::NotParty
        );
        assert_eq!(
            code(s.acknowledge_message(caller("alice"), asked.message_id, None)),
            ErrorCode::NotParty
        );
        assert_eq!(
            code(s.acknowledge_message(caller("bob"), plain.message_id, None)),
            ErrorCode::InvalidState
        );
        let long = "x".repeat(MAX_ACK_NOTE_CHARS + 1);
        assert_eq!(
            code(s.acknowledge_message(caller("bob"), asked.message_id, Some(&long))),
            ErrorCode::Validation
        );
        assert_eq!(s.get_outstanding(caller("alice"), 20).unwrap().total, 1);
        assert_eq!(s.unread_count("bob").unwrap(), 2);

        clock.advance(5_000);
        let done = s
            .acknowledge_message(caller("bob"), asked.message_id, Some("  shipped  "))
            .unwrap();
        assert_eq!((done.sender.as_str(), done.note.as_deref()), ("alice", Some("shipped")));
        assert_eq!(
            code(s.acknowledge_message(caller("bob"), asked.message_id, None)),
            ErrorCode::InvalidState
        );
        // Read now (the plain message stays unread), owed and waited for no more.
        assert_eq!(s.unread_count("bob").unwrap(), 1);
        assert_eq!(s.pending("bob").unwrap().awaiting_ack, Owed::default());
        let out = s.get_outstanding(caller("alice"), 20).unwrap();
        assert_eq!((out.total, out.messages.len()), (0, 0));
        let sent = s.sent_messages(caller("alice"), None, 20).unwrap();
        assert_eq!(
            sent.iter().map(|m| m.id).collect::<Vec<_>>(),
            [asked.message_id, plain.message_id]
        );
        let receipt = &sent[0].receipts[0];
        assert_eq!(receipt.state, ReceiptState::Acknowledged);
        assert_eq!(receipt.acknowledged_at, Some(done.acknowledged_at.clone()));
        assert_eq!(receipt.read_at, receipt.acknowledged_at);
        assert_eq!(receipt.delivered_at, receipt.acknowledged_at);
        assert_eq!(receipt.ack_note.as_deref(), Some("shipped"));
        assert_eq!(sent[1].receipts[0].state, ReceiptState::Sent);
        // The sender is told, with the acknowledger as actor.
        let told: Vec<_> = s
            .events_for("alice", 0, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == Kind::MessageAcknowledged)
            .collect();
        assert_eq!(told.len(), 1);
        assert_eq!(
            (told[0].actor.as_deref(), told[0].subject_id),
            (Some("bob"), Some(asked.message_id))
        );
        // The recipient sees that it acknowledged.
        let mine = s.get_messages(caller("bob"), ReadFilter::All, None, 20, true).unwrap();
        let m = mine.messages.iter().find(|m| m.id == asked.message_id).unwrap();
        assert!(m.ack_required && m.read);
        assert_eq!(m.acknowledged_at, Some(done.acknowledged_at));
    }

    #[test]
    fn a_peek_delivers_and_a_confirmed_read_is_its_own_delivery() {
        let (_d, s, clock) = store();
        s.bind_agent("alice", None, None, T).unwrap();
        s.bind_agent("bob", None, None, T).unwrap();
        let first = s
            .send_message(caller("alice"), "bob", "one", Priority::Normal, None)
            .unwrap();
        let state = |s: &Store| s.sent_messages(caller("alice"), None, 1).unwrap()[0].receipts[0].clone();
        assert_eq!(state(&s).state, ReceiptState::Sent);
        clock.advance(1_000);
        let peeked = s
            .get_messages(caller("bob"), ReadFilter::Unread, None, 20, true)
            .unwrap();
        assert_eq!(peeked.undelivered, [first.message_id]);
        let delivered = state(&s);
        assert_eq!(delivered.state, ReceiptState::Delivered);
        assert_eq!(delivered.delivered_at, Some(rfc3339(s.now())));
        // A second peek is no new delivery; the read keeps the first time.
        clock.advance(1_000);
        assert!(
            s.get_messages(caller("bob"), ReadFilter::Unread, None, 20, true)
                .unwrap()
                .undelivered
                .is_empty()
        );
        let page = s
            .get_messages(caller("bob"), ReadFilter::Unread, None, 20, false)
            .unwrap();
        s.confirm_delivery(page.receipt.as_ref().unwrap()).unwrap();
        let read = state(&s);
        assert_eq!(read.state, ReceiptState::Read);
        assert_eq!(read.delivered_at, delivered.delivered_at);
        assert_eq!(read.read_at, Some(rfc3339(s.now())));

        // Mail read without a peek first: delivered when read.
        s.send_message(caller("alice"), "bob", "two", Priority::Normal, None)
            .unwrap();
        let page = s
            .get_messages(caller("bob"), ReadFilter::Unread, None, 20, false)
            .unwrap();
        s.confirm_delivery(page.receipt.as_ref().unwrap()).unwrap();
        let read = state(&s);
        assert_eq!((read.state, &read.delivered_at), (ReceiptState::Read, &read.read_at));
        // The inbox resource delivers what it shows.
        let third = s
            .send_message(caller("alice"), "bob", "three", Priority::Normal, None)
            .unwrap();
        assert_eq!(s.inbox(caller("bob")).unwrap().messages[0].id, third.message_id);
        assert_eq!(state(&s).state, ReceiptState::Delivered);
    }

    #[test]
    fn outstanding_lists_overdue_first_then_oldest_and_a_broadcast_until_everyone_acknowledged() {
        let (_d, s, clock) = store();
        s.bind_agent("boss", None, Some(&["broadcast".into()]), T).unwrap();
        for name in ["w1", "w2", "w3"] {
            s.bind_agent(name, None, None, T).unwrap();
        }
        let send = |text: &str, deadline: Option<u32>| {
            s.send_message_with(caller("boss"), "w1", text, Priority::Normal, None, ack(deadline))
                .unwrap()
                .message_id
        };
        let open = send("no deadline", None);
        let later = send("in a minute", Some(60));
        let soon = send("in ten seconds", Some(10));
        let all = s
            .broadcast_with(caller("boss"), "everyone", None, Priority::Normal, ack(None))
            .unwrap();
        assert_eq!(all.recipients, ["w1", "w2", "w3"]);
        let order = |s: &Store| {
            let out = s.get_outstanding(caller("boss"), 20).unwrap();
            let ids: Vec<(i64, bool)> = out.messages.iter().map(|m| (m.id, m.overdue)).collect();
            (ids, out.overdue)
        };
        assert_eq!(
            order(&s),
            (
                vec![(open, false), (later, false), (soon, false), (all.message_id, false)],
                0
            )
        );
        clock.advance(30_000);
        assert_eq!(
            order(&s),
            (
                vec![(soon, true), (open, false), (later, false), (all.message_id, false)],
                1
            )
        );
        clock.advance(60_000);
        assert_eq!(
            order(&s),
            (
                vec![(soon, true), (later, true), (open, false), (all.message_id, false)],
                2
            )
        );
        // A limit takes the head; total and overdue still count everything.
        let head = s.get_outstanding(caller("boss"), 1).unwrap();
        assert_eq!((head.messages[0].id, head.total, head.overdue), (soon, 4, 2));

        // A broadcast stays outstanding until its last recipient acknowledges.
        s.acknowledge_message(caller("w2"), all.message_id, None).unwrap();
        let bcast = |s: &Store| {
            s.get_outstanding(caller("boss"), 20)
                .unwrap()
                .messages
                .into_iter()
                .find(|m| m.id == all.message_id)
        };
        let partial = bcast(&s).expect("still outstanding");
        assert_eq!(partial.acks_pending, 2);
        let states: Vec<_> = partial
            .receipts
            .iter()
            .map(|r| (r.recipient.as_str(), r.state))
            .collect();
        assert_eq!(
            states,
            [
                ("w1", ReceiptState::Sent),
                ("w2", ReceiptState::Acknowledged),
                ("w3", ReceiptState::Sent)
            ]
        );
        s.acknowledge_message(caller("w1"), all.message_id, None).unwrap();
        s.acknowledge_message(caller("w3"), all.message_id, None).unwrap();
        assert!(bcast(&s).is_none());
        assert_eq!(s.get_outstanding(caller("boss"), 20).unwrap().total, 3);
        // The recipient's own list of what it owes follows the same rows.
        let owed = s
            .get_messages(caller("w1"), ReadFilter::Unacknowledged, None, 20, true)
            .unwrap();
        let ids: Vec<_> = owed.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, [open, later, soon]);
    }
}
