//! The words of search (SPEC §9): how message text and queries are cut
//! into words, how a query is read, and how a snippet is cut and
//! highlighted. Pure functions: no SQL, no keys.
//!
//! A word is a run of letters and digits (Unicode `Alphabetic` or
//! `Numeric`), lowercased, and cut to [`MAX_WORD_CHARS`] characters;
//! everything else separates words. `Send_Message!` is the two words
//! `send` and `message`. Accents are kept (`café` is not `cafe`), and a
//! script written without spaces (Chinese, Japanese) is one word per run.

use std::collections::HashSet;
use std::ops::Range;

use crate::clock::Millis;
use crate::error::{Error, Result};

/// Longest word, in characters: longer runs (hashes, base64) are cut,
/// in the index and in queries alike.
pub const MAX_WORD_CHARS: usize = 64;

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;

/// Most words in a query (counting each word of a phrase).
pub const MAX_QUERY_WORDS: usize = 16;

/// Words around the matches in a snippet.
pub const SNIPPET_WORDS: usize = 16;

/// Longest snippet, in characters (before the brackets and ellipses).
pub const MAX_SNIPPET_CHARS: usize = 320;

/// A word of `text`: where it is (bytes) and its normal form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Its bytes in the text.
    pub span: Range<usize>,
    /// Lowercased, at most [`MAX_WORD_CHARS`] characters.
    pub norm: String,
}

/// The words of `text`, in order.
pub fn words(text: &str) -> impl Iterator<Item = Word> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        // Skip separators.
        let (start, _) = loop {
            let (i, c) = *chars.peek()?;
            if c.is_alphanumeric() {
                break (i, c);
            }
            chars.next();
        };
        let mut norm = String::new();
        let mut kept = 0;
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !c.is_alphanumeric() {
                break;
            }
            if kept < MAX_WORD_CHARS {
                norm.extend(c.to_lowercase());
                kept += 1;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        Some(Word { span: start..end, norm })
    })
}

/// The words of `text`, space-separated: what the index stores (or
/// hashes) for it.
pub fn index_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for w in words(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&w.norm);
    }
    out
}

/// A parsed query: terms that must all match, each a phrase of one or
/// more words that must appear together, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The phrases, deduplicated, in the order given.
    pub phrases: Vec<Vec<String>>,
}

impl Query {
    /// Reads `text`: words separated by spaces; `"a phrase"` in double
    /// quotes (an unclosed quote runs to the end). A word with inner
    /// punctuation, such as `send_message` or `v1.2`, is a phrase of its
    /// parts. Nothing else is syntax: `OR`, `NOT`, `*`, `-`, `:` are words
    /// or separators, so no query can reach the index's own query
    /// language.
    ///
    /// Errors ([`ErrorCode::Validation`](crate::ErrorCode::Validation)):
    /// an empty query, one of more than [`MAX_QUERY_CHARS`] characters, one
    /// with no letters or digits, one of more than [`MAX_QUERY_WORDS`] words.
    pub fn parse(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(Error::validation(
                "query is empty: give one or more words to look for, e.g. \"migration rollback\"",
            ));
        }
        let chars = text.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(Error::validation(format!(
                "query is {chars} characters; the limit is {MAX_QUERY_CHARS}: search for a few distinctive words"
            )));
        }
        let mut phrases: Vec<Vec<String>> = Vec::new();
        let mut push = |segment: &str| {
            let phrase: Vec<String> = words(segment).map(|w| w.norm).collect();
            if !phrase.is_empty() && !phrases.contains(&phrase) {
                phrases.push(phrase);
            }
        };
        for (i, part) in text.split('"').enumerate() {
            if i % 2 == 1 {
                push(part);
            } else {
                part.split_whitespace().for_each(&mut push);
            }
        }
        if phrases.is_empty() {
            return Err(Error::validation(
                "query has no words: give letters or digits to look for",
            ));
        }
        let n: usize = phrases.iter().map(Vec::len).sum();
        if n > MAX_QUERY_WORDS {
            return Err(Error::validation(format!(
                "query has {n} words; the limit is {MAX_QUERY_WORDS}: search for a few distinctive words"
            )));
        }
        Ok(Self { phrases })
    }

    /// Every word of every phrase, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.phrases.iter().flatten().map(String::as_str)
    }
}

/// A snippet of `content` around the words in `wanted` (normal forms):
/// the [`SNIPPET_WORDS`] words holding the most distinct wanted words,
/// with each match in `[brackets]`, `…` where text was cut, whitespace
/// runs as one space, at most [`MAX_SNIPPET_CHARS`] characters of text.
pub fn snippet(content: &str, wanted: &HashSet<&str>) -> String {
    let toks: Vec<Word> = words(content).collect();
    let hit: Vec<bool> = toks.iter().map(|t| wanted.contains(t.norm.as_str())).collect();
    let (mut start, mut best) = (0, 0);
    if toks.len() > SNIPPET_WORDS {
        for s in 0..=toks.len() - SNIPPET_WORDS {
            // Only windows that begin at a match (or the text) can be best.
            if s > 0 && !hit[s] {
                continue;
            }
            let distinct: HashSet<&str> = (s..s + SNIPPET_WORDS)
                .filter(|&i| hit[i])
                .map(|i| toks[i].norm.as_str())
                .collect();
            if distinct.len() > best {
                (start, best) = (s, distinct.len());
            }
        }
        // A little context before the first match.
        start = start.saturating_sub(2).min(toks.len() - SNIPPET_WORDS);
    }
    let end = (start + SNIPPET_WORDS).min(toks.len());
    let from = if start == 0 { 0 } else { toks[start].span.start };
    let to = if end == toks.len() {
        content.len()
    } else {
        toks[end - 1].span.end
    };
    let mut out = Snippet {
        text: String::new(),
        budget: MAX_SNIPPET_CHARS,
        space: false,
        full: false,
    };
    if start > 0 {
        out.text.push('…');
    }
    let mut at = from;
    for (t, &h) in toks[start..end].iter().zip(&hit[start..end]) {
        out.push(&content[at..t.span.start]);
        if out.full {
            break;
        }
        if h {
            out.mark("[");
        }
        out.push(&content[t.span.clone()]);
        if h {
            out.text.push(']');
        }
        at = t.span.end;
    }
    out.push(&content[at..to]);
    if out.full || end < toks.len() {
        out.text.push('…');
    }
    out.text
}

/// A snippet being written: whitespace runs become one space, and text
/// stops at the budget.
struct Snippet {
    text: String,
    budget: usize,
    /// A space is owed before the next character.
    space: bool,
    /// The budget ran out.
    full: bool,
}

impl Snippet {
    fn push(&mut self, text: &str) {
        for c in text.chars() {
            if self.full {
                return;
            }
            if c.is_whitespace() {
                self.space = true;
                continue;
            }
            if self.budget == 0 {
                self.full = true;
                return;
            }
            self.mark("");
            self.text.push(c);
            self.budget -= 1;
        }
    }

    /// Writes `s` (not counted), after the space owed.
    fn mark(&mut self, s: &str) {
        if self.space && !self.text.is_empty() && !self.text.ends_with('…') {
            self.text.push(' ');
        }
        self.space = false;
        self.text.push_str(s);
    }
}

/// Reads `since`: an RFC 3339 date-time, `2026-11-30T00:00:00Z`, with
/// fractional seconds or a `±HH:MM` offset if wanted (a space for the
/// `T`, or no zone at all, is read as UTC). Returns epoch milliseconds.
///
/// Errors ([`ErrorCode::Validation`](crate::ErrorCode::Validation)):
/// anything else, or a time before 1970.
pub fn parse_since(since: &str) -> Result<Millis> {
    let bad = || {
        Error::validation(format!(
            "since {since:?} is not an RFC 3339 time; give one like \"2026-11-30T00:00:00Z\""
        ))
    };
    let s = since.trim();
    let (head, offset_min) = match s.len().checked_sub(6).and_then(|i| s.get(i..).map(|tail| (i, tail))) {
        Some((i, tail))
            if (tail.starts_with('+') || tail.starts_with('-'))
                && tail.as_bytes()[3] == b':'
                && s.as_bytes()
                    .get(10)
                    .is_some_and(|&b| b == b'T' || b == b't' || b == b' ') =>
        {
            let h: i64 = tail[1..3].parse().map_err(|_| bad())?;
            let m: i64 = tail[4..6].parse().map_err(|_| bad())?;
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            (&s[..i], sign * (h * 60 + m))
        }
        _ => (s, 0),
    };
    let t = humantime::parse_rfc3339_weak(head).map_err(|_| bad())?;
    let ms = t.duration_since(std::time::UNIX_EPOCH).map_err(|_| bad())?.as_millis() as Millis;
    Ok(ms - offset_min * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norms(text: &str) -> Vec<String> {
        words(text).map(|w| w.norm).collect()
    }

    #[test]
    fn words_are_lowercased_runs_of_letters_and_digits() {
        assert_eq!(
            norms("Send_Message! v1.2 — Café x"),
            ["send", "message", "v1", "2", "café", "x"]
        );
        assert_eq!(norms("  ...  "), Vec::<String>::new());
        assert_eq!(norms("日本語のテキスト"), ["日本語のテキスト"]);
        let long = "a".repeat(100);
        assert_eq!(norms(&long)[0].chars().count(), MAX_WORD_CHARS);
        let w: Vec<Word> = words("ab  cd").collect();
        assert_eq!(w[1].span, 4..6);
        assert_eq!(index_words("Hello, World"), "hello world");
    }

    #[test]
    fn queries_are_words_and_quoted_phrases_with_no_operators() {
        let q = Query::parse(r#"Rollback "the Migration plan" send_message OR NEAR(x) *"#).unwrap();
        assert_eq!(
            q.phrases,
            vec![
                vec!["rollback".to_string()],
                vec!["the".into(), "migration".into(), "plan".into()],
                vec!["send".into(), "message".into()],
                vec!["or".into()],
                vec!["near".into(), "x".into()],
            ]
        );
        assert_eq!(Query::parse("a a A").unwrap().phrases.len(), 1);
        assert_eq!(
            Query::parse("\"open phrase").unwrap().phrases,
            vec![vec!["open", "phrase"]]
        );
        let many: Vec<String> = (0..=MAX_QUERY_WORDS).map(|i| format!("w{i}")).collect();
        for bad in ["", "   ", "!!! ...", &"x".repeat(MAX_QUERY_CHARS + 1), &many.join(" ")] {
            assert_eq!(
                Query::parse(bad).unwrap_err().code,
                crate::ErrorCode::Validation,
                "{bad:?}"
            );
        }
        assert!(Query::parse(&many[1..].join(" ")).is_ok());
    }

    #[test]
    fn snippets_bracket_the_matches_and_mark_cuts() {
        let wanted: HashSet<&str> = ["deploy", "friday"].into_iter().collect();
        assert_eq!(snippet("Deploy on Friday?", &wanted), "[Deploy] on [Friday]?");
        let long = format!(
            "{} we should deploy the\n\nrelay on friday after lunch {}",
            "filler ".repeat(30),
            "tail ".repeat(30)
        );
        let s = snippet(&long, &wanted);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("[deploy] the relay on [friday]"), "{s}");
        assert_eq!(s.matches(' ').count(), SNIPPET_WORDS - 1, "{s}");
        let none: HashSet<&str> = HashSet::new();
        assert!(snippet(&long, &none).starts_with("filler filler"));
        let huge = format!("deploy {}", "x".repeat(2_000));
        assert!(snippet(&huge, &wanted).chars().count() <= MAX_SNIPPET_CHARS + 4);
    }

    #[test]
    fn since_is_rfc_3339_with_zone_or_utc() {
        assert_eq!(parse_since("1970-01-01T00:00:01Z").unwrap(), 1_000);
        assert_eq!(parse_since("1970-01-01T00:00:01.5Z").unwrap(), 1_500);
        assert_eq!(parse_since("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(parse_since("1970-01-01T00:00:00-00:30").unwrap(), 1_800_000);
        assert_eq!(parse_since("1970-01-01 00:00:02").unwrap(), 2_000);
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-30T00:00:00+25:00",
            "",
            "1969-12-31T00:00:00Z",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
