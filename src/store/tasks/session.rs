//! Continued conversations (issue 13): a task may name the executor
//! session it continues, and one task per session runs at a time.
//!
//! `tasks.session` is the executor's own conversation id — a Codex thread
//! id (`thread.started`'s `thread_id` in `codex exec --json`), a Claude
//! Code session id (`session_id` in `claude -p --output-format json`), or
//! whatever a shell executor reports. One column, one meaning: *the
//! session the task runs in*. `post_task {session}` sets it when the task
//! continues a conversation; `update_task complete|fail {session}` sets it
//! to the session the executor reported (a fresh task learns its session
//! only then, and an executor may answer a resume with a new id). A
//! follow-up posts `session` = the previous task's `session`.
//!
//! **The per-session lease.** While a task with session S is `accepted`,
//! no other task with session S may be accepted: `accept` of such a task
//! gets [`ErrorCode::Conflict`] naming the task that holds S, and
//! [`Store::next_task`](crate::store::Store::next_task) skips it, so a
//! worker never spins on it: it stays `posted` and is claimed once the
//! holder leaves `accepted` (completes, fails, is released or cancelled,
//! or its lease runs out — the sweep frees the session as it frees the
//! task). The rule is global (not per agent or per worker): two workers,
//! or one worker with `--concurrency N`, never run two turns of one
//! conversation at once. A partial unique index on `tasks (session)
//! WHERE state = 'accepted'` backs it up in the schema and makes the
//! holder look-up one index probe. Session ids are stored in plain text
//! (they are ids, not content, and the index needs them).

use rusqlite::{OptionalExtension, params};

use crate::error::{Error, ErrorCode, Result};

/// Longest `session`, in characters (a UUID is 36).
pub const MAX_SESSION_CHARS: usize = 128;

/// Schema migration 9: the executor session of a task and the
/// per-session lease.
pub(crate) const MIGRATION: &str = r#"
-- The executor session (Codex thread, Claude Code session) the task runs in:
-- from post_task when it continues one, then as the executor reported it at
-- complete/fail. Plain text: an id, not content.
ALTER TABLE tasks ADD COLUMN session TEXT;
-- The per-session lease: at most one accepted task per session. Also the
-- index next_task and accept probe to find the holder.
CREATE UNIQUE INDEX tasks_session_lease ON tasks (session)
    WHERE state = 'accepted' AND session IS NOT NULL;
"#;

/// Checks a `session` argument (of `post_task` or `update_task`): 1-128
/// characters from `A-Z a-z 0-9 . _ : -`, starting with a letter or
/// digit, so it can never be read as a flag where an executor puts it
/// on its command line (`codex exec resume SESSION`, `claude --resume
/// SESSION`).
///
/// Errors: [`ErrorCode::Validation`], saying what is allowed.
pub fn validate(session: &str) -> Result<()> {
    let ok = (1..=MAX_SESSION_CHARS).contains(&session.len())
        && session.as_bytes()[0].is_ascii_alphanumeric()
        && session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "invalid session {session:?}: use the executor session id a previous task reported (its `session`), \
             1-{MAX_SESSION_CHARS} characters from A-Z a-z 0-9 . _ : -, starting with a letter or digit"
        )))
    }
}

/// The accepted task other than `except` that holds `session`, if any.
pub(crate) fn holder(tx: &rusqlite::Connection, session: &str, except: i64) -> Result<Option<i64>> {
    Ok(tx
        .prepare_cached(
            "SELECT id FROM tasks WHERE session = ?1 AND state = 'accepted' AND session IS NOT NULL AND id != ?2",
        )?
        .query_row(params![session, except], |r| r.get(0))
        .optional()?)
}

/// The error for accepting task `id` while task `holder` runs the same
/// executor session: [`ErrorCode::Conflict`], saying what to do.
pub(crate) fn busy(id: i64, holder: i64) -> Error {
    Error::new(
        ErrorCode::Conflict,
        format!(
            "task {id} continues the executor session that task {holder} is running now; one task per session \
             runs at a time: accept task {id} after task {holder} finishes (it stays posted, and workers take \
             it then); nothing changed"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_uuids_or_names_that_cannot_be_flags() {
        for ok in [
            "0199a213-81c0-7800-8aa1-bbab2a035a53",
            "auth-refactor",
            "a",
            "thread:1.2_x",
            &"s".repeat(MAX_SESSION_CHARS),
        ] {
            validate(ok).unwrap();
        }
        for bad in [
            "",
            "-p",
            "--dangerously-skip-permissions",
            ".hidden",
            "two words",
            "a/b",
            "x\n",
            "é",
            &"s".repeat(MAX_SESSION_CHARS + 1),
        ] {
            assert_eq!(validate(bad).unwrap_err().code, ErrorCode::Validation, "{bad:?}");
        }
    }
}
