//! Channels: named rooms with members; each member has a read cursor (the
//! id of the last post it read).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::access::authorize;
use super::delivery::ReadReceipt;
use super::messages::Priority;
use super::words::Capability;
use super::{Caller, Store, audit, events, validate};
use crate::clock::{Millis, rfc3339};
use crate::error::{Error, ErrorCode, Result};

/// A channel as `list_channels` shows it to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    /// `^[a-z0-9][a-z0-9_-]{0,63}$`.
    pub name: String,
    /// What the channel is for.
    pub description: Option<String>,
    /// The agent that created it.
    pub created_by: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// How many agents have joined.
    pub member_count: i64,
    /// Whether the caller is a member.
    pub joined: bool,
    /// Posts the caller has not read (0 when not a member).
    pub unread: i64,
}

/// A post in a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelMessage {
    /// Channel message id (monotonic across all channels).
    pub id: i64,
    /// Channel name.
    pub channel: String,
    /// Sender's agent name.
    pub from: String,
    /// The text, as posted.
    pub content: String,
    /// low, normal or high.
    pub priority: String,
    /// RFC 3339 post time.
    pub created_at: String,
}

/// A page of `get_channel_messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPage {
    /// Channel name.
    pub channel: String,
    /// Oldest first.
    pub messages: Vec<ChannelMessage>,
    /// Unread posts left once this page is delivered.
    pub unread_remaining: i64,
    /// The cursor move this page causes once it reaches the reader
    /// (status `unread` only); see [`super::delivery`].
    #[serde(skip)]
    pub receipt: Option<ReadReceipt>,
}

/// The id of channel `name`, or [`ErrorCode::NotFound`].
pub(crate) fn channel_id(tx: &rusqlite::Connection, name: &str) -> Result<i64> {
    tx.prepare_cached("SELECT id FROM channels WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| {
            Error::not_found(format!(
                "no channel named {name:?}; list_channels shows the ones that exist"
            ))
        })
}

/// The member's read cursor, or [`ErrorCode::NotMember`].
pub(crate) fn cursor(tx: &rusqlite::Connection, channel_id: i64, channel: &str, agent: &str) -> Result<i64> {
    tx.prepare_cached("SELECT read_cursor FROM channel_members WHERE channel_id = ?1 AND agent = ?2")?
        .query_row(params![channel_id, agent], |r| r.get(0))
        .optional()?
        .ok_or_else(|| {
            Error::new(
                ErrorCode::NotMember,
                format!("you are not a member of channel {channel:?}; call join_channel first"),
            )
        })
}

fn latest_post(tx: &rusqlite::Connection, channel_id: i64) -> Result<i64> {
    Ok(tx
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM channel_messages WHERE channel_id = ?1")?
        .query_row([channel_id], |r| r.get(0))?)
}

fn join(tx: &rusqlite::Connection, channel_id: i64, agent: &str, now: Millis) -> Result<bool> {
    let read_cursor = latest_post(tx, channel_id)?;
    let n = tx
        .prepare_cached(
            "INSERT INTO channel_members (channel_id, agent, joined_at, read_cursor)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        )?
        .execute(params![channel_id, agent, now, read_cursor])?;
    Ok(n == 1)
}

impl Store {
    /// Creates channel `name` (the caller joins it). Needs the `channels`
    /// capability.
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::AlreadyExists`],
    /// [`ErrorCode::CapDenied`], [`ErrorCode::AuthFailed`].
    pub fn create_channel(&self, caller: Caller<'_>, name: &str, description: Option<&str>) -> Result<Channel> {
        validate::channel_name(name)?;
        if let Some(d) = description {
            validate::text("description", d, validate::MAX_DESCRIPTION_CHARS)?;
        }
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, Some(Capability::Channels))?;
            let id: Option<i64> = tx
                .prepare_cached(
                    "INSERT INTO channels (name, description, created_by, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO NOTHING RETURNING id",
                )?
                .query_row(params![name, description, caller.agent, now], |r| r.get(0))
                .optional()?;
            let Some(id) = id else {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!("channel {name:?} exists already; join it with join_channel"),
                ));
            };
            join(tx, id, caller.agent, now)?;
            events::append(
                tx,
                events::Kind::ChannelCreated,
                None,
                Some(caller.agent),
                Some(id),
                Some(name),
                now,
            )?;
            audit::record(
                tx,
                caller,
                "create_channel",
                None,
                &serde_json::json!({"channel": name}),
                now,
            )?;
            Ok(Channel {
                name: name.to_owned(),
                description: description.map(str::to_owned),
                created_by: caller.agent.to_owned(),
                created_at: rfc3339(now),
                member_count: 1,
                joined: true,
                unread: 0,
            })
        })
    }

    /// Joins `channel`; returns whether the caller was new to it. Posts
    /// made before joining count as read (they stay visible with
    /// `status: all`).
    ///
    /// Errors: [`ErrorCode::NotFound`], [`ErrorCode::AuthFailed`].
    pub fn join_channel(&self, caller: Caller<'_>, channel: &str) -> Result<bool> {
        validate::channel_name(channel)?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            let id = channel_id(tx, channel)?;
            let joined = join(tx, id, caller.agent, now)?;
            audit::record(
                tx,
                caller,
                "join_channel",
                None,
                &serde_json::json!({"channel": channel}),
                now,
            )?;
            Ok(joined)
        })
    }

    /// Leaves `channel`.
    ///
    /// Errors: [`ErrorCode::NotFound`], [`ErrorCode::NotMember`],
    /// [`ErrorCode::AuthFailed`].
    pub fn leave_channel(&self, caller: Caller<'_>, channel: &str) -> Result<()> {
        validate::channel_name(channel)?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, None)?;
            let id = channel_id(tx, channel)?;
            cursor(tx, id, channel, caller.agent)?;
            tx.prepare_cached("DELETE FROM channel_members WHERE channel_id = ?1 AND agent = ?2")?
                .execute(params![id, caller.agent])?;
            audit::record(
                tx,
                caller,
                "leave_channel",
                None,
                &serde_json::json!({"channel": channel}),
                now,
            )?;
            Ok(())
        })
    }

    /// Posts `content` to `channel`. The caller must be a member and hold
    /// the `channels` capability. Returns the new post.
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::PayloadTooLarge`],
    /// [`ErrorCode::NotFound`], [`ErrorCode::NotMember`],
    /// [`ErrorCode::CapDenied`], [`ErrorCode::AuthFailed`].
    pub fn post_to_channel(
        &self,
        caller: Caller<'_>,
        channel: &str,
        content: &str,
        priority: Priority,
    ) -> Result<ChannelMessage> {
        validate::channel_name(channel)?;
        validate::content(content, self.limits().max_content_bytes)?;
        self.write(|tx, now| {
            authorize(tx, caller.agent, now, Some(Capability::Channels))?;
            let cid = channel_id(tx, channel)?;
            cursor(tx, cid, channel, caller.agent)?;
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO channel_messages (channel_id, sender, content, priority, created_at)
                     VALUES (?1, ?2, relay_seal('channel_messages.content', ?3), ?4, ?5) RETURNING id",
                )?
                .query_row(params![cid, caller.agent, content, priority.as_str(), now], |r| {
                    r.get(0)
                })?;
            super::search::index_channel_post(tx, id, content)?;
            // The poster has read its own post.
            tx.prepare_cached("UPDATE channel_members SET read_cursor = ?3 WHERE channel_id = ?1 AND agent = ?2")?
                .execute(params![cid, caller.agent, id])?;
            events::append(
                tx,
                events::Kind::ChannelPost,
                None,
                Some(caller.agent),
                Some(id),
                Some(channel),
                now,
            )?;
            audit::record(
                tx,
                caller,
                "post_to_channel",
                None,
                &serde_json::json!({"channel": channel, "channel_message_id": id, "bytes": content.len()}),
                now,
            )?;
            Ok(ChannelMessage {
                id,
                channel: channel.to_owned(),
                from: caller.agent.to_owned(),
                content: content.to_owned(),
                priority: priority.as_str().to_owned(),
                created_at: rfc3339(now),
            })
        })
    }

    /// Whether `caller` may read `channel` (is a member), with no write.
    ///
    /// Errors: [`ErrorCode::Validation`], [`ErrorCode::NotFound`],
    /// [`ErrorCode::NotMember`], [`ErrorCode::AuthFailed`].
    pub fn may_read_channel(&self, caller: Caller<'_>, channel: &str) -> Result<()> {
        validate::channel_name(channel)?;
        self.check_as(caller, |c, _| {
            let cid = channel_id(c, channel)?;
            cursor(c, cid, channel, caller.agent).map(drop)
        })
    }

    /// Reads `channel`, oldest first. `unread_only`: posts after the
    /// caller's read cursor, with a [`ReadReceipt`] that moves the cursor
    /// past them once confirmed ([`Store::confirm_delivery`], after the
    /// page reached the reader: at-least-once); otherwise the newest
    /// `limit` posts, leaving the cursor alone. Members only.
    ///
    /// Errors: [`ErrorCode::NotFound`], [`ErrorCode::NotMember`],
    /// [`ErrorCode::AuthFailed`].
    pub fn get_channel_messages(
        &self,
        caller: Caller<'_>,
        channel: &str,
        unread_only: bool,
        limit: u32,
    ) -> Result<ChannelPage> {
        validate::channel_name(channel)?;
        self.read_as(caller, |tx, _| {
            let cid = channel_id(tx, channel)?;
            let read_cursor = cursor(tx, cid, channel, caller.agent)?;
            let sql = if unread_only {
                "SELECT id, sender, relay_open('channel_messages.content', content), priority, created_at
                 FROM channel_messages WHERE channel_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            } else {
                "SELECT * FROM (SELECT id, sender, relay_open('channel_messages.content', content), priority, created_at
                 FROM channel_messages
                 WHERE channel_id = ?1 AND ?2 >= 0 ORDER BY id DESC LIMIT ?3) ORDER BY id"
            };
            let messages = tx
                .prepare_cached(sql)?
                .query_map(params![cid, read_cursor, limit], |r| {
                    Ok(ChannelMessage {
                        id: r.get(0)?,
                        channel: channel.to_owned(),
                        from: r.get(1)?,
                        content: r.get(2)?,
                        priority: r.get(3)?,
                        created_at: rfc3339(r.get(4)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut new_cursor = read_cursor;
            let mut receipt = None;
            if unread_only && let Some(last) = messages.last() {
                new_cursor = last.id;
                receipt = Some(ReadReceipt::ChannelCursor {
                    agent: caller.agent.to_owned(),
                    channel_id: cid,
                    through: last.id,
                });
            }
            let unread_remaining = tx
                .prepare_cached("SELECT count(*) FROM channel_messages WHERE channel_id = ?1 AND id > ?2")?
                .query_row(params![cid, new_cursor], |r| r.get(0))?;
            Ok(ChannelPage {
                channel: channel.to_owned(),
                messages,
                unread_remaining,
                receipt,
            })
        })
    }

    /// Every channel, by name, with the caller's membership and unread count.
    ///
    /// Errors: [`ErrorCode::AuthFailed`].
    pub fn list_channels(&self, caller: Caller<'_>) -> Result<Vec<Channel>> {
        let agent = caller.agent;
        self.read_as(caller, |c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT ch.name, ch.description, ch.created_by, ch.created_at,
                        (SELECT count(*) FROM channel_members WHERE channel_id = ch.id),
                        me.read_cursor IS NOT NULL,
                        CASE WHEN me.read_cursor IS NULL THEN 0 ELSE
                          (SELECT count(*) FROM channel_messages WHERE channel_id = ch.id AND id > me.read_cursor)
                        END
                 FROM channels ch
                 LEFT JOIN channel_members me ON me.channel_id = ch.id AND me.agent = ?1
                 ORDER BY ch.name",
            )?;
            let rows = stmt.query_map([agent], |r| {
                Ok(Channel {
                    name: r.get(0)?,
                    description: r.get(1)?,
                    created_by: r.get(2)?,
                    created_at: rfc3339(r.get(3)?),
                    member_count: r.get(4)?,
                    joined: r.get(5)?,
                    unread: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

impl Store {
    /// The names of `channel`'s members (none for an unknown channel):
    /// whom a post in it concerns, for the change feed.
    pub fn channel_members(&self, channel: &str) -> Result<Vec<String>> {
        self.read(|c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT m.agent FROM channel_members m JOIN channels ch ON ch.id = m.channel_id
                 WHERE ch.name = ?1",
            )?;
            let rows = stmt.query_map([channel], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}
