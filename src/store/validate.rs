//! Input rules shared by every write (SPEC §2, §8). Each returns
//! [`ErrorCode::Validation`] or [`ErrorCode::PayloadTooLarge`] with a
//! message that says what is allowed.

use crate::error::{Error, ErrorCode, Result};

/// Longest role, in characters.
pub const MAX_ROLE_CHARS: usize = 64;
/// Longest description (agent or channel), in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Longest status note, in characters.
pub const MAX_NOTE_CHARS: usize = 256;
/// Most capabilities an agent may declare.
pub const MAX_CAPABILITIES: usize = 32;

/// Agent names: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`.
pub fn agent_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "invalid agent name {name:?}: use 1-64 characters from A-Z a-z 0-9 _ . -, \
             starting with a letter or digit"
        )))
    }
}

/// Channel names: `^[a-z0-9][a-z0-9_-]{0,63}$`.
pub fn channel_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && matches!(name.as_bytes()[0], b'a'..=b'z' | b'0'..=b'9')
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "invalid channel name {name:?}: use 1-64 characters from a-z 0-9 _ -, \
             starting with a letter or digit"
        )))
    }
}

/// Capability names: `^[a-z][a-z0-9_-]{0,31}$`, at most [`MAX_CAPABILITIES`].
pub fn capabilities(caps: &[String]) -> Result<()> {
    if caps.len() > MAX_CAPABILITIES {
        return Err(Error::validation(format!(
            "too many capabilities ({}); at most {MAX_CAPABILITIES}",
            caps.len()
        )));
    }
    for cap in caps {
        let ok = (1..=32).contains(&cap.len())
            && cap.as_bytes()[0].is_ascii_lowercase()
            && cap
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        if !ok {
            return Err(Error::validation(format!(
                "invalid capability {cap:?}: use 1-32 characters from a-z 0-9 _ -, starting with a letter"
            )));
        }
    }
    Ok(())
}

/// Message content: not blank, at most `max_bytes` UTF-8 bytes.
pub fn content(content: &str, max_bytes: usize) -> Result<()> {
    if content.trim().is_empty() {
        return Err(Error::validation("content is empty; send some text"));
    }
    if content.len() > max_bytes {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "content is {} bytes; the limit is {max_bytes} bytes (UTF-8). \
                 Split it or send a file path instead",
                content.len()
            ),
        ));
    }
    Ok(())
}

/// A free-text field: at most `max_chars` characters.
pub fn text(field: &str, value: &str, max_chars: usize) -> Result<()> {
    let n = value.chars().count();
    if n > max_chars {
        return Err(Error::new(
            ErrorCode::PayloadTooLarge,
            format!("{field} is {n} characters; the limit is {max_chars}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_follow_the_spec_pattern() {
        for ok in ["a", "Alice", "build-bot.2", "x_y", &"a".repeat(64)] {
            agent_name(ok).unwrap();
        }
        for bad in ["", "-a", ".a", "a b", "ä", "a/b", &"a".repeat(65)] {
            assert_eq!(agent_name(bad).unwrap_err().code, ErrorCode::Validation, "{bad}");
        }
    }

    #[test]
    fn channel_names_are_lowercase() {
        channel_name("dev-ops_1").unwrap();
        for bad in ["Dev", "", "_x", "a.b", &"a".repeat(65)] {
            assert!(channel_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_limit_counts_utf8_bytes() {
        content(&"a".repeat(65536), 65536).unwrap();
        // 'é' is two bytes: 32,769 of them is 65,538 bytes.
        let e = content(&"é".repeat(32769), 65536).unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        assert_eq!(content("  \n", 10).unwrap_err().code, ErrorCode::Validation);
    }
}
