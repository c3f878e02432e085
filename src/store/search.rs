//! Full-text search over messages (SPEC §9): SQLite FTS5, BM25-ranked,
//! over exactly what the caller may read.
//!
//! # The index
//!
//! One contentless FTS5 table, `message_search`, holds a document per
//! direct message or broadcast (rowid = the message id) and per channel
//! post (rowid = [`CHANNEL_ROWID_BASE`] + the post id), so both kinds share
//! one set of statistics. Each document has two columns:
//!
//! - `body`: the words of the content ([`text::words`]: lowercased runs of
//!   letters and digits), cut into words here in Rust, never by SQLite.
//!   Without a keyring the index stores the words themselves; with one,
//!   each word becomes a keyed hash ([`crate::crypto::IndexKey`]: 64 bits
//!   of HMAC-SHA256 under a key derived from the keyring's current key),
//!   so no word of a message reaches the disk in clear. One path for both
//!   modes: only the last step, word to stored term, differs. The table
//!   tokenizer (`ascii`) only splits on the spaces between those terms.
//! - `meta`: who may read the document and what it may be filtered by, as
//!   tokens that begin with [`META_MARK`] (never part of a word, so no word
//!   of a message or a query is ever one of them): `·s<hex name>`
//!   (sender), `·r<hex name>` (each recipient) and `·t<thread id>` for
//!   mail; `·c<channel id>` and `·p<hex name>` (poster) for posts. These
//!   are the names and ids the tables already store in clear; they count
//!   for nothing in the score.
//!
//! The table stores no content (`content=''`): snippets are cut here from
//! the decrypted message. `contentless_delete=1` lets a document be
//! deleted by rowid: triggers on `messages` and `channel_messages` delete
//! the document with its message, whatever removes it (retention, or a
//! channel's cascade), in the same transaction.
//!
//! # A search
//!
//! The caller's words become an FTS5 expression of quoted terms only (no
//! operator of the caller's reaches FTS5), all of which must match,
//! ANDed with the caller's visibility: for mail, `·s<caller> OR
//! ·r<caller>`; for posts, the channels it is a member of now (so every
//! post of a channel it belongs to, also those from before it joined:
//! `get_channel_messages` with status `all` shows them too). The filters
//! are more `meta` tokens (`from`, `thread_id`, `channel`) or, for
//! `since`, the message's `created_at`. Each kind (mail, posts) takes its
//! newest [`MAX_CANDIDATES`] matches in rowid order (FTS5 walks its
//! doclists backwards and stops there), scored by `relay_rank`
//! ([`rank`]: Okapi BM25 over the `body` hits, with each phrase's IDF
//! estimated on the newest [`IDF_SAMPLE_DOCS`] documents of each kind,
//! because FTS5's own `bm25()` walks every matching row of every phrase
//! on each query). The best `limit` of both are returned, each checked
//! once more against the tables before it is shown. Under a keyring, a
//! query word is looked for in every form it may be stored in: in clear
//! (rows indexed before the keyring) and hashed under each key of the
//! keyring.
//!
//! # Stores from before the index
//!
//! A SQL migration cannot hash with the keyring, so migration 7 creates
//! the table and records, in `store_meta`, the highest message and post
//! ids it found (`search_backfill_messages`, `search_backfill_channel_messages`).
//! Those are indexed later, newest first, by whichever process has the
//! keyring: each search indexes up to [`SEARCH_BACKFILL_DOCS`] first (and
//! says `partial` while some remain), retention (a minute after `relay
//! serve` starts, then hourly) finishes the rest, and `relay re-encrypt`
//! re-indexes everything anyway.
//!
//! # Keys
//!
//! `relay re-encrypt --to K` re-indexes every document under K as it
//! re-seals the content ([`super::reencrypt`]), then rewrites the index
//! (`optimize`, with `secure_delete` on) so terms under the old key, or
//! words stored in clear before a keyring, leave the file.

mod rank;
mod text;

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::messages::page_limit;
use super::{Caller, Store, channels, validate};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, Result};

pub use text::{
    MAX_QUERY_CHARS, MAX_QUERY_WORDS, MAX_SNIPPET_CHARS, MAX_WORD_CHARS, Query, SNIPPET_WORDS, index_words, parse_since,
};

/// Schema migration 7: the index, its delete triggers, and the backfill
/// marks for messages stored before it (see the module doc).
pub(crate) const MIGRATION: &str = r#"
CREATE VIRTUAL TABLE message_search USING fts5(
    body, meta, content = '', contentless_delete = 1, tokenize = 'ascii'
);
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM message_search WHERE rowid = old.id;
END;
CREATE TRIGGER channel_messages_search_delete AFTER DELETE ON channel_messages BEGIN
    DELETE FROM message_search WHERE rowid = old.id + 1099511627776;
END;
INSERT INTO store_meta (key, value)
    SELECT 'search_backfill_messages', max(id) FROM messages HAVING max(id) IS NOT NULL;
INSERT INTO store_meta (key, value)
    SELECT 'search_backfill_channel_messages', max(id) FROM channel_messages HAVING max(id) IS NOT NULL;
"#;

/// The index rowid of channel post 1 is this plus 1 (2^40, as in
/// [`MIGRATION`]'s trigger); message ids stay below it.
pub const CHANNEL_ROWID_BASE: i64 = 1 << 40;

/// Matches ranked per kind (mail, channel posts): the newest this many.
/// A query matching more says `capped` (its best results are the best of
/// the newest matches).
pub const MAX_CANDIDATES: usize = 1_000;

/// Documents per kind (the newest mail, the newest posts) on which each
/// query phrase's document frequency, hence its IDF, is estimated.
pub const IDF_SAMPLE_DOCS: i64 = 20_000;

/// What starts every `meta` token: not a letter or digit, so no word of a
/// message or a query is ever a `meta` token (and the `ascii` tokenizer
/// keeps it, as it keeps every non-ASCII character, inside the token).
pub const META_MARK: char = '·';

/// Documents a search indexes first while a backfill is pending.
pub const SEARCH_BACKFILL_DOCS: usize = 2_000;

/// Documents indexed per backfill transaction.
pub const BACKFILL_BATCH: usize = 500;

/// Pages an index merge step ([`Store::search_compact`]) writes per
/// transaction (FTS5 `merge`; about 2 MiB).
pub const MERGE_PAGES: i64 = 500;

/// Most merge steps one [`Store::search_compact`] takes.
pub const MAX_MERGE_STEPS: usize = 2_000;

super::words::words! {
    /// What a search result is.
    pub enum HitKind("message kind") {
        /// A direct message (`send_message`).
        Direct = "direct",
        /// A broadcast.
        Broadcast = "broadcast",
        /// A channel post.
        Channel = "channel",
    }
}

/// A document of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doc {
    /// A direct message or broadcast, by id.
    Message(i64),
    /// A channel post, by id.
    ChannelPost(i64),
}

impl Doc {
    fn rowid(self) -> i64 {
        match self {
            Self::Message(id) => id,
            Self::ChannelPost(id) => CHANNEL_ROWID_BASE + id,
        }
    }
}

/// Indexes message `id` (sent in this transaction, its recipients
/// added) whose content is `content`, under the current key.
pub(crate) fn index_message(tx: &Connection, id: i64, content: &str) -> Result<()> {
    insert(tx, Doc::Message(id), &index_words(content), None).map(drop)
}

/// Indexes channel post `id` (posted in this transaction).
pub(crate) fn index_channel_post(tx: &Connection, id: i64, content: &str) -> Result<()> {
    insert(tx, Doc::ChannelPost(id), &index_words(content), None).map(drop)
}

/// Replaces `doc`'s entry with `words` (space-separated, as
/// [`index_words`] makes them) under `key` (`None`: the current one).
/// Returns false, indexing nothing, when the message is gone.
pub(crate) fn reindex(tx: &Connection, doc: Doc, words: &str, key: Option<&str>) -> Result<bool> {
    tx.prepare_cached("DELETE FROM message_search WHERE rowid = ?1")?
        .execute([doc.rowid()])?;
    insert(tx, doc, words, key)
}

fn insert(tx: &Connection, doc: Doc, words: &str, key: Option<&str>) -> Result<bool> {
    let Some(meta) = meta(tx, doc)? else {
        return Ok(false);
    };
    tx.prepare_cached("INSERT INTO message_search (rowid, body, meta) VALUES (?1, relay_index_terms(?2, ?3), ?4)")?
        .execute(params![doc.rowid(), key, words, meta])?;
    Ok(true)
}

/// The `meta` tokens of `doc`, or `None` when it does not exist.
fn meta(tx: &Connection, doc: Doc) -> Result<Option<String>> {
    match doc {
        Doc::Message(id) => {
            let Some((sender, thread)) = tx
                .prepare_cached("SELECT sender, COALESCE(thread_id, id) FROM messages WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .optional()?
            else {
                return Ok(None);
            };
            let mut meta = format!("{} {}", party('s', &sender), thread_token(thread));
            let mut stmt = tx.prepare_cached("SELECT recipient FROM message_recipients WHERE message_id = ?1")?;
            for recipient in stmt.query_map([id], |r| r.get::<_, String>(0))? {
                meta.push(' ');
                meta.push_str(&party('r', &recipient?));
            }
            Ok(Some(meta))
        }
        Doc::ChannelPost(id) => Ok(tx
            .prepare_cached("SELECT sender, channel_id FROM channel_messages WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .optional()?
            .map(|(sender, channel)| format!("{} {}", channel_token(channel), party('p', &sender)))),
    }
}

/// [`META_MARK`], `role`, then the name's bytes in lowercase hex: one
/// FTS5 token for any name.
fn party(role: char, name: &str) -> String {
    let mut out = String::with_capacity(4 + 2 * name.len());
    out.push(META_MARK);
    out.push(role);
    for b in name.bytes() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

fn thread_token(thread: i64) -> String {
    format!("{META_MARK}t{thread}")
}

fn channel_token(channel: i64) -> String {
    format!("{META_MARK}c{channel}")
}

/// Installs the search's ranking function, `relay_rank`, on `conn`
/// (called once per connection, by [`crate::crypto::register`]).
///
/// Errors: the SQLite error when FTS5 is missing.
pub fn register_rank(conn: &Connection) -> rusqlite::Result<()> {
    rank::register(conn)
}

/// `search_messages`' arguments, as given.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Words and `"quoted phrases"`, all of which must match ([`Query::parse`]).
    pub query: String,
    /// Only what this agent sent.
    pub from: Option<String>,
    /// Only mail in this thread (the id of its first message).
    pub thread_id: Option<i64>,
    /// Only posts in this channel (the caller must be a member).
    pub channel: Option<String>,
    /// Only what was sent at or after this RFC 3339 time ([`parse_since`]).
    pub since: Option<String>,
    /// Results, 1-100 (default 20).
    pub limit: Option<u32>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// `direct`, `broadcast` or `channel`.
    pub kind: HitKind,
    /// The message id (`get_messages`), or the channel post id.
    pub id: i64,
    /// The sender.
    pub from: String,
    /// A direct message's recipient (`None` for broadcasts and posts).
    pub to: Option<String>,
    /// A post's channel.
    pub channel: Option<String>,
    /// Mail's thread (the id of its first message); `None` for posts.
    pub thread_id: Option<i64>,
    /// RFC 3339 send time.
    pub created_at: String,
    /// Up to [`SNIPPET_WORDS`] words of the content around the matches,
    /// each match in `[brackets]`, `…` where cut.
    pub snippet: String,
    /// BM25 relevance ([`rank`]), higher is better; comparable within one
    /// search only.
    pub score: f64,
}

/// The result of `search_messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    /// How many results.
    pub count: usize,
    /// Best first.
    pub results: Vec<Hit>,
    /// More than [`MAX_CANDIDATES`] messages (or posts) matched: the
    /// results are the best of the newest ones; narrow the search (more
    /// words, `since`, `from`) to reach older ones.
    pub capped: bool,
    /// Messages stored before this relay version are still being indexed
    /// (a moment after an upgrade): some may be missing; search again soon.
    pub partial: bool,
}

impl Store {
    /// Searches what `caller` may read (SPEC §9): direct mail to or from
    /// it, broadcasts it received, and posts in the channels it is a
    /// member of (all of them, also those from before it joined). Every
    /// word and phrase of the query must match; best (BM25) first.
    ///
    /// Errors: [`ErrorCode::Validation`](crate::ErrorCode::Validation) (an
    /// empty query, over [`MAX_QUERY_CHARS`] characters or
    /// [`MAX_QUERY_WORDS`] words, no letters or digits; a bad `from`,
    /// channel name or `since`; `thread_id` below 1 or together with
    /// `channel`; `limit` outside 1-100), [`ErrorCode::NotFound`](crate::ErrorCode::NotFound)
    /// (no such channel), [`ErrorCode::NotMember`](crate::ErrorCode::NotMember)
    /// (a channel the caller has not joined), [`ErrorCode::AuthFailed`](crate::ErrorCode::AuthFailed),
    /// [`ErrorCode::CorruptStore`](crate::ErrorCode::CorruptStore) (a
    /// matching message does not decrypt).
    pub fn search_messages(&self, caller: Caller<'_>, req: &SearchRequest) -> Result<SearchResults> {
        let query = Query::parse(&req.query)?;
        if let Some(from) = &req.from {
            validate::agent_name(from)?;
        }
        if let Some(channel) = &req.channel {
            validate::channel_name(channel)?;
        }
        match req.thread_id {
            Some(t) if t < 1 => {
                return Err(Error::validation(format!("thread_id must be 1 or more, got {t}")));
            }
            Some(_) if req.channel.is_some() => {
                return Err(Error::validation(
                    "thread_id and channel exclude each other: channel posts have no threads",
                ));
            }
            _ => {}
        }
        let since = req.since.as_deref().map(parse_since).transpose()?;
        let limit = page_limit(req.limit)? as usize;
        let partial = self.search_backfill_pending()? && {
            // Best effort: a busy store answers from what is indexed.
            let _ = self.best_effort(|| self.search_backfill(SEARCH_BACKFILL_DOCS));
            self.search_backfill_pending()?
        };
        let (results, capped) = self.read_as(caller, |c, _| search(c, caller.agent, &query, req, since, limit))?;
        Ok(SearchResults {
            count: results.len(),
            results,
            capped,
            partial,
        })
    }

    /// Whether messages or posts stored before the index existed still
    /// wait to be indexed.
    pub fn search_backfill_pending(&self) -> Result<bool> {
        self.read(|c, _| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM store_meta WHERE key IN
                   ('search_backfill_messages', 'search_backfill_channel_messages'))",
            )?
            .query_row([], |r| r.get(0))?)
        })
    }

    /// Indexes up to `max_docs` of the messages and posts stored before
    /// the index existed, newest first, in transactions of
    /// [`BACKFILL_BATCH`], under the current key. Returns how many were
    /// indexed; the marks go once nothing is left.
    ///
    /// Errors: [`ErrorCode::Timeout`](crate::ErrorCode::Timeout) when the
    /// store stays locked, [`ErrorCode::CorruptStore`](crate::ErrorCode::CorruptStore)
    /// when a message does not decrypt.
    pub fn search_backfill(&self, max_docs: usize) -> Result<usize> {
        let mut total = 0;
        for (mark, table, field, doc) in BACKFILLS {
            while total < max_docs {
                let batch = BACKFILL_BATCH.min(max_docs - total);
                let n = self.write(|tx, _| backfill_batch(tx, mark, table, field, doc, batch))?;
                total += n;
                if n < batch {
                    break;
                }
            }
        }
        Ok(total)
    }
}

impl Store {
    /// Merges the index's segments (FTS5 `merge`, [`MERGE_PAGES`] pages a
    /// transaction) until each level holds at most one, dropping the
    /// entries of deleted documents on the way. Every commit that sends
    /// mail adds a small segment, and FTS5 only merges them four at a time
    /// as it goes, so a search reads each term in many segments; retention
    /// runs this hourly. Returns the steps taken.
    ///
    /// Errors: [`ErrorCode::Timeout`](crate::ErrorCode::Timeout) when the
    /// store stays locked (what was merged stays merged).
    pub fn search_compact(&self) -> Result<usize> {
        for step in 0..MAX_MERGE_STEPS {
            let changed = self.write(|tx, _| {
                let before = tx.total_changes();
                tx.prepare_cached("INSERT INTO message_search (message_search, rank) VALUES ('merge', ?1)")?
                    .execute([MERGE_PAGES])?;
                Ok(tx.total_changes() - before)
            })?;
            // FTS5's documented test: fewer than two rows changed, nothing was left to merge.
            if changed < 2 {
                return Ok(step);
            }
        }
        Ok(MAX_MERGE_STEPS)
    }
}

/// What a backfill walks: its mark, table, encrypted column, documents.
type Backfill = (&'static str, &'static str, &'static str, fn(i64) -> Doc);

const BACKFILLS: [Backfill; 2] = [
    ("search_backfill_messages", "messages", "messages.content", Doc::Message),
    (
        "search_backfill_channel_messages",
        "channel_messages",
        "channel_messages.content",
        Doc::ChannelPost,
    ),
];

/// Indexes up to `batch` rows at or below the mark, moving it down (or
/// removing it when the table is done). Returns how many rows it read.
fn backfill_batch(
    tx: &Connection,
    mark: &str,
    table: &str,
    field: &str,
    doc: fn(i64) -> Doc,
    batch: usize,
) -> Result<usize> {
    let Some(below) = tx
        .prepare_cached("SELECT CAST(value AS INTEGER) FROM store_meta WHERE key = ?1")?
        .query_row([mark], |r| r.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(0);
    };
    let rows: Vec<(i64, String)> = tx
        .prepare_cached(&format!(
            "SELECT id, relay_open('{field}', content) FROM {table} WHERE id <= ?1 ORDER BY id DESC LIMIT ?2"
        ))?
        .query_map(params![below, batch as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, content) in &rows {
        reindex(tx, doc(*id), &index_words(content), None)?;
    }
    match rows.last() {
        Some((last, _)) if rows.len() == batch => {
            tx.prepare_cached("UPDATE store_meta SET value = ?2 WHERE key = ?1")?
                .execute(params![mark, last - 1])?;
        }
        _ => {
            tx.prepare_cached("DELETE FROM store_meta WHERE key = ?1")?
                .execute([mark])?;
        }
    }
    Ok(rows.len())
}

/// Forgets the backfill marks: every document was just indexed (a
/// complete `relay re-encrypt`).
pub(crate) fn backfill_done(tx: &Connection) -> Result<()> {
    tx.prepare_cached(
        "DELETE FROM store_meta WHERE key IN ('search_backfill_messages', 'search_backfill_channel_messages')",
    )?
    .execute([])?;
    Ok(())
}

/// Rewrites the index as one segment (FTS5 `optimize`), so terms of
/// deleted or re-indexed documents leave its pages.
pub(crate) fn optimize(tx: &Connection) -> Result<()> {
    tx.execute_batch("INSERT INTO message_search (message_search) VALUES ('optimize')")?;
    Ok(())
}

/// A quoted FTS5 string. Every token we quote is letters, digits or hex:
/// never a `"`.
fn quote(token: &str) -> String {
    debug_assert!(!token.contains('"'));
    format!("\"{token}\"")
}

/// The FTS5 expression for the query's words: every phrase, in any of
/// the forms the index may hold it in (see
/// [`crate::crypto::Codec::index_forms`]), and those forms in the order
/// FTS5 numbers the expression's phrases. No column filter is needed: no
/// word is a `meta` token ([`META_MARK`]).
fn body_expr(c: &Connection, query: &Query) -> Result<(String, Vec<String>)> {
    let joined = query.words().collect::<Vec<_>>().join(" ");
    let forms: String = c
        .prepare_cached("SELECT relay_index_forms(?1)")?
        .query_row([&joined], |r| r.get(0))?;
    let forms: Vec<Vec<&str>> = forms.split('\n').map(|f| f.split(' ').collect()).collect();
    let mut at = 0;
    let mut parts = Vec::with_capacity(query.phrases.len());
    let mut phrases = Vec::new();
    for phrase in &query.phrases {
        let n = phrase.len();
        let mut alternatives: Vec<String> = forms
            .iter()
            .filter_map(|f| f.get(at..at + n))
            .map(|words| words.join(" "))
            .collect();
        alternatives.dedup();
        at += n;
        let quoted: Vec<String> = alternatives.iter().map(|a| quote(a)).collect();
        parts.push(match quoted.len() {
            1 => quoted[0].clone(),
            _ => format!("({})", quoted.join(" OR ")),
        });
        phrases.extend(alternatives);
    }
    Ok((format!("({})", parts.join(" AND ")), phrases))
}

/// The IDF of each phrase ([`rank::idf`]), its document frequency
/// estimated on the newest [`IDF_SAMPLE_DOCS`] ids of mail and of posts.
fn idfs(c: &Connection, phrases: &[String]) -> Result<Vec<f64>> {
    let newest: (Option<i64>, Option<i64>) = c
        .prepare_cached("SELECT (SELECT max(id) FROM messages), (SELECT max(id) FROM channel_messages)")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let windows: Vec<(i64, i64)> = [(newest.0, 0), (newest.1, CHANNEL_ROWID_BASE)]
        .into_iter()
        .filter_map(|(max, base)| max.map(|m| (base + (m - IDF_SAMPLE_DOCS).max(0), base + m)))
        .collect();
    let total: i64 = windows.iter().map(|(lo, hi)| hi - lo).sum();
    let mut count = c.prepare_cached(
        "SELECT count(*) FROM message_search WHERE message_search MATCH ?1 AND rowid > ?2 AND rowid <= ?3",
    )?;
    let mut out = Vec::with_capacity(phrases.len());
    for p in phrases {
        let mut n = 0i64;
        for (lo, hi) in &windows {
            n += count.query_row(params![quote(p), lo, hi], |r| r.get::<_, i64>(0))?;
        }
        out.push(rank::idf(n as u64, total as u64));
    }
    Ok(out)
}

fn search(
    c: &Connection,
    me: &str,
    query: &Query,
    req: &SearchRequest,
    since: Option<Millis>,
    limit: usize,
) -> Result<(Vec<Hit>, bool)> {
    let channels: Vec<i64> = match (&req.channel, req.thread_id) {
        (Some(name), _) => {
            let id = channels::channel_id(c, name)?;
            channels::cursor(c, id, name, me)?;
            vec![id]
        }
        (None, Some(_)) => Vec::new(),
        (None, None) => c
            .prepare_cached("SELECT channel_id FROM channel_members WHERE agent = ?1 ORDER BY channel_id")?
            .query_map([me], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
    };
    let (body, phrases) = body_expr(c, query)?;
    let weights = rank::idf_blob(&idfs(c, &phrases)?);
    let mut candidates = Vec::new();
    let mut capped = false;
    if req.channel.is_none() {
        let mut expr = format!("{body} AND ({} OR {})", quote(&party('s', me)), quote(&party('r', me)));
        if let Some(from) = &req.from {
            expr.push_str(&format!(" AND {}", quote(&party('s', from))));
        }
        if let Some(thread) = req.thread_id {
            expr.push_str(&format!(" AND {}", quote(&thread_token(thread))));
        }
        capped |= candidates_in(c, &expr, &weights, false, since, &mut candidates)?;
    }
    if !channels.is_empty() {
        let visible: Vec<String> = channels.iter().map(|&id| quote(&channel_token(id))).collect();
        let mut expr = format!("{body} AND ({})", visible.join(" OR "));
        if let Some(from) = &req.from {
            expr.push_str(&format!(" AND {}", quote(&party('p', from))));
        }
        capped |= candidates_in(c, &expr, &weights, true, since, &mut candidates)?;
    }
    // Best first; ties go to the newer document.
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    let wanted: HashSet<&str> = query.words().collect();
    let mut hits = Vec::with_capacity(limit.min(candidates.len()));
    for (rowid, score) in candidates {
        if hits.len() == limit {
            break;
        }
        if let Some(hit) = hit(c, me, rowid, score, &wanted)? {
            hits.push(hit);
        }
    }
    Ok((hits, capped))
}

/// Adds the newest [`MAX_CANDIDATES`] matches of `expr` among posts
/// (`posts`) or mail, sent at or after `since`, with their BM25 score
/// (`relay_rank` under `weights`, the phrases' IDFs). Returns whether
/// there were that many.
fn candidates_in(
    c: &Connection,
    expr: &str,
    weights: &[u8],
    posts: bool,
    since: Option<Millis>,
    out: &mut Vec<(i64, f64)>,
) -> Result<bool> {
    let (lo, hi) = if posts {
        (CHANNEL_ROWID_BASE, i64::MAX)
    } else {
        (0, CHANNEL_ROWID_BASE)
    };
    let (join, at) = match posts {
        false => ("JOIN messages m ON m.id = message_search.rowid", "m.created_at"),
        true => (
            "JOIN channel_messages m ON m.id = message_search.rowid - 1099511627776",
            "m.created_at",
        ),
    };
    let sql = match since {
        None => "SELECT rowid, relay_rank(message_search, ?5) FROM message_search
                 WHERE message_search MATCH ?1 AND rowid >= ?2 AND rowid < ?3
                 ORDER BY rowid DESC LIMIT ?4"
            .to_owned(),
        Some(_) => format!(
            "SELECT message_search.rowid, relay_rank(message_search, ?5) FROM message_search {join}
             WHERE message_search MATCH ?1 AND message_search.rowid >= ?2 AND message_search.rowid < ?3
               AND {at} >= ?6
             ORDER BY message_search.rowid DESC LIMIT ?4"
        ),
    };
    let before = out.len();
    let mut stmt = c.prepare_cached(&sql)?;
    let limit = MAX_CANDIDATES as i64;
    let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?));
    let rows: Vec<(i64, f64)> = match since {
        None => stmt
            .query_map(params![expr, lo, hi, limit, weights], row)?
            .collect::<rusqlite::Result<_>>()?,
        Some(t) => stmt
            .query_map(params![expr, lo, hi, limit, weights, t], row)?
            .collect::<rusqlite::Result<_>>()?,
    };
    out.extend(rows);
    Ok(out.len() - before == MAX_CANDIDATES)
}

/// The result for index document `rowid`, checked once more against the
/// tables (the caller may read it), or `None`.
fn hit(c: &Connection, me: &str, rowid: i64, score: f64, wanted: &HashSet<&str>) -> Result<Option<Hit>> {
    if rowid >= CHANNEL_ROWID_BASE {
        let id = rowid - CHANNEL_ROWID_BASE;
        let row = c
            .prepare_cached(
                "SELECT p.sender, ch.name, p.created_at, relay_open('channel_messages.content', p.content)
                 FROM channel_messages p JOIN channels ch ON ch.id = p.channel_id
                 WHERE p.id = ?1
                   AND EXISTS (SELECT 1 FROM channel_members WHERE channel_id = p.channel_id AND agent = ?2)",
            )?
            .query_row(params![id, me], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Millis>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()?;
        return Ok(row.map(|(from, channel, at, content)| Hit {
            kind: HitKind::Channel,
            id,
            from,
            to: None,
            channel: Some(channel),
            thread_id: None,
            created_at: rfc3339(at),
            snippet: text::snippet(&content, wanted),
            score,
        }));
    }
    let row = c
        .prepare_cached(
            "SELECT m.sender, m.kind, COALESCE(m.thread_id, m.id), m.created_at,
                    relay_open('messages.content', m.content),
                    CASE m.kind WHEN 'direct' THEN
                      (SELECT recipient FROM message_recipients WHERE message_id = m.id LIMIT 1) END
             FROM messages m
             WHERE m.id = ?1
               AND (m.sender = ?2 OR EXISTS (SELECT 1 FROM message_recipients
                                             WHERE message_id = m.id AND recipient = ?2))",
        )?
        .query_row(params![rowid, me], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, HitKind>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Millis>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .optional()?;
    Ok(row.map(|(from, kind, thread, at, content, to)| Hit {
        kind,
        id: rowid,
        from,
        to,
        channel: None,
        thread_id: Some(thread),
        created_at: rfc3339(at),
        snippet: text::snippet(&content, wanted),
        score,
    }))
}

#[cfg(test)]
mod tests;
