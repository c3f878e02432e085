//! The glob dialect of file reservations, and overlap between two globs
//! (SPEC §9: "overlap is checked in both directions").
//!
//! A reserved path is relative to its project root and uses `/` between
//! segments. The dialect is gitignore's and globset's (with
//! `literal_separator`) core:
//!
//! | syntax | matches |
//! |---|---|
//! | `*` | any run of characters within one segment (never `/`), also none |
//! | `?` | one character other than `/` |
//! | `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) | one character (never `/`) in, or not in, the class; a `]` right after `[` or `[!` is a member |
//! | `**` as a whole segment | any number of whole segments: `**/x` matches `x` and `a/b/x`, `a/**` everything under `a/`, `a/**/b` matches `a/b` and `a/x/y/b`, `**` alone everything |
//! | `**` inside a segment (`a**b`) | the same as `*` |
//! | anything else | itself: a path without wildcards is one literal file path |
//!
//! Normalisation ([`Pattern::parse`]): `.` segments and repeated `/` go,
//! `x/..` cancels lexically, a trailing `/` means the directory's
//! contents (`src/` is `src/**`). Refused with
//! [`ErrorCode::Validation`](crate::ErrorCode::Validation): an empty
//! path, an absolute one (`/…`), one whose `..` climbs above the project
//! root or follows a `**`, one naming the root itself (`.`; reserve `**`
//! for the whole project), a backslash (no escapes: use `/`), braces
//! (`{a,b}` is not supported: list the paths), `/` inside a class, an
//! unclosed `[`, a reversed range, a control character, more than
//! [`MAX_PATH_CHARS`] characters or more than [`MAX_WILDCARDS`] wildcards.
//!
//! Two globs overlap when some real path (non-empty segments, no
//! trailing `/`) matches both: decided exactly on the product of their
//! automata, whichever is broader (`src/**` and `src/store/tasks.rs`
//! overlap either way round; `src/*.rs` and `src/a/b.rs` do not, since
//! `*` stays in its segment). [`Pattern::prefix`], the literal text
//! before the first wildcard, gives a cheap necessary test first: two
//! globs can only overlap when one's prefix is a prefix of the other's.

#[cfg(test)]
use std::collections::HashMap;

use crate::error::{Error, Result};

/// Longest reserved path or glob, in characters (before normalisation).
pub const MAX_PATH_CHARS: usize = 512;

/// Most wildcards (`*`, `**`, `?`, `[…]`) in one glob: bounds the cost of
/// an overlap test.
pub const MAX_WILDCARDS: usize = 16;

/// A set of characters one step of a glob accepts. Classes never hold `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Set {
    /// Exactly this character.
    Char(char),
    /// Any character but `/` (`?`, and the steps of `*`).
    NotSlash,
    /// Any character (the steps of `**`).
    Any,
    /// A class: sorted, disjoint, inclusive code-point ranges, `/` left out.
    Ranges(Vec<(u32, u32)>),
}

const SLASH: u32 = '/' as u32;
const MAX_CHAR: u32 = char::MAX as u32;

impl Set {
    fn contains(&self, c: char) -> bool {
        match self {
            Self::Char(x) => *x == c,
            Self::NotSlash => c != '/',
            Self::Any => true,
            Self::Ranges(r) => in_ranges(r, c as u32),
        }
    }
}

fn in_ranges(r: &[(u32, u32)], c: u32) -> bool {
    r.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// What a character in both `a` and `b` can be: (`/`, something else).
fn meet(a: &Set, b: &Set) -> (bool, bool) {
    use Set::*;
    let single = |c: char| (c == '/', c != '/');
    match (a, b) {
        (Char(x), other) | (other, Char(x)) => {
            if other.contains(*x) {
                single(*x)
            } else {
                (false, false)
            }
        }
        (Any, Any) => (true, true),
        (NotSlash, NotSlash) | (NotSlash, Any) | (Any, NotSlash) => (false, true),
        (Ranges(r), NotSlash | Any) | (NotSlash | Any, Ranges(r)) => (false, !r.is_empty()),
        (Ranges(x), Ranges(y)) => {
            let (mut i, mut j) = (0, 0);
            while i < x.len() && j < y.len() {
                let (lo, hi) = (x[i].0.max(y[j].0), x[i].1.min(y[j].1));
                if lo <= hi {
                    return (false, true);
                }
                if x[i].1 < y[j].1 {
                    i += 1;
                } else {
                    j += 1;
                }
            }
            (false, false)
        }
    }
}

/// One parsed element of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One character from the set.
    One(Set),
    /// `*`: any run of characters but `/`.
    Star,
    /// `**` at the end or alone: any run of characters.
    AnyString,
    /// `**/`: nothing, or any run of characters ending in `/`.
    AnyDirs,
}

/// An automaton without epsilon moves: state 0 is the start.
#[derive(Debug, Clone)]
struct Nfa {
    /// Per state: (characters, next state).
    edges: Vec<Vec<(Set, usize)>>,
    /// Per state: whether the input may end there.
    accepting: Vec<bool>,
}

impl Nfa {
    fn build(tokens: &[Token]) -> Self {
        // Thompson construction with epsilon moves, then closure.
        let mut edges: Vec<Vec<(Set, usize)>> = vec![Vec::new()];
        let mut eps: Vec<Vec<usize>> = vec![Vec::new()];
        let new_state = |edges: &mut Vec<Vec<(Set, usize)>>, eps: &mut Vec<Vec<usize>>| {
            edges.push(Vec::new());
            eps.push(Vec::new());
            edges.len() - 1
        };
        let mut cur = 0;
        for t in tokens {
            match t {
                Token::One(set) => {
                    let next = new_state(&mut edges, &mut eps);
                    edges[cur].push((set.clone(), next));
                    cur = next;
                }
                Token::Star | Token::AnyString => {
                    let set = if *t == Token::Star { Set::NotSlash } else { Set::Any };
                    let next = new_state(&mut edges, &mut eps);
                    eps[cur].push(next);
                    edges[next].push((set, next));
                    cur = next;
                }
                Token::AnyDirs => {
                    let inner = new_state(&mut edges, &mut eps);
                    let end = new_state(&mut edges, &mut eps);
                    eps[cur].push(end);
                    eps[cur].push(inner);
                    edges[inner].push((Set::Any, inner));
                    edges[inner].push((Set::Char('/'), end));
                    cur = end;
                }
            }
        }
        let accept = cur;
        let n = edges.len();
        let mut out_edges = Vec::with_capacity(n);
        let mut accepting = Vec::with_capacity(n);
        for s in 0..n {
            let mut seen = vec![false; n];
            let mut stack = vec![s];
            let mut mine: Vec<(Set, usize)> = Vec::new();
            let mut acc = false;
            while let Some(x) = stack.pop() {
                if std::mem::replace(&mut seen[x], true) {
                    continue;
                }
                acc |= x == accept;
                mine.extend(edges[x].iter().cloned());
                stack.extend(eps[x].iter().copied());
            }
            out_edges.push(mine);
            accepting.push(acc);
        }
        Self {
            edges: out_edges,
            accepting,
        }
    }

    fn matches(&self, path: &str) -> bool {
        let n = self.edges.len();
        let mut cur = vec![false; n];
        cur[0] = true;
        let mut next = vec![false; n];
        for c in path.chars() {
            next.iter_mut().for_each(|x| *x = false);
            let mut any = false;
            for (s, on) in cur.iter().enumerate() {
                if !on {
                    continue;
                }
                for (set, to) in &self.edges[s] {
                    if set.contains(c) {
                        next[*to] = true;
                        any = true;
                    }
                }
            }
            if !any {
                return false;
            }
            std::mem::swap(&mut cur, &mut next);
        }
        cur.iter().zip(&self.accepting).any(|(on, acc)| *on && *acc)
    }

    /// Whether some real path (non-empty segments, not ending in `/`) is
    /// accepted by both: a search of the product with a third automaton
    /// that tracks "inside a segment".
    fn intersects(&self, other: &Nfa) -> bool {
        let (na, nb) = (self.edges.len(), other.edges.len());
        let index = |a: usize, b: usize, inside: bool| (a * nb + b) * 2 + usize::from(inside);
        let mut seen = vec![false; na * nb * 2];
        let mut stack = vec![(0usize, 0usize, false)];
        seen[index(0, 0, false)] = true;
        while let Some((a, b, inside)) = stack.pop() {
            if inside && self.accepting[a] && other.accepting[b] {
                return true;
            }
            for (sa, ta) in &self.edges[a] {
                for (sb, tb) in &other.edges[b] {
                    let (slash, char) = meet(sa, sb);
                    let mut visit = |inside: bool| {
                        let i = index(*ta, *tb, inside);
                        if !seen[i] {
                            seen[i] = true;
                            stack.push((*ta, *tb, inside));
                        }
                    };
                    if slash && inside {
                        visit(false);
                    }
                    if char {
                        visit(true);
                    }
                }
            }
        }
        false
    }
}

#[cfg(test)]
impl Nfa {
    /// A shortest real path both accept (what [`Nfa::intersects`] finds,
    /// spelt out), for tests.
    fn witness(&self, other: &Nfa) -> Option<String> {
        use std::collections::VecDeque;
        let nb = other.edges.len();
        let index = |a: usize, b: usize, inside: bool| (a * nb + b) * 2 + usize::from(inside);
        let mut parent: HashMap<usize, (usize, char)> = HashMap::new();
        let mut queue = VecDeque::from([(0usize, 0usize, false)]);
        let start = index(0, 0, false);
        parent.insert(start, (usize::MAX, '\0'));
        while let Some((a, b, inside)) = queue.pop_front() {
            if inside && self.accepting[a] && other.accepting[b] {
                let mut out = Vec::new();
                let mut at = index(a, b, inside);
                while at != start {
                    let (from, c) = parent[&at];
                    out.push(c);
                    at = from;
                }
                return Some(out.into_iter().rev().collect());
            }
            for (sa, ta) in &self.edges[a] {
                for (sb, tb) in &other.edges[b] {
                    let (slash, _) = meet(sa, sb);
                    let here = index(a, b, inside);
                    let mut visit = |inside: bool, c: char| {
                        let i = index(*ta, *tb, inside);
                        if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(i) {
                            e.insert((here, c));
                            queue.push_back((*ta, *tb, inside));
                        }
                    };
                    if slash && inside {
                        visit(false, '/');
                    }
                    if let Some(c) = sample(sa, sb) {
                        visit(true, c);
                    }
                }
            }
        }
        None
    }
}

/// Some character other than `/` in both sets, for tests.
#[cfg(test)]
fn sample(a: &Set, b: &Set) -> Option<char> {
    let ranges = |s: &Set| -> Vec<(u32, u32)> {
        match s {
            Set::Char(c) => vec![(*c as u32, *c as u32)],
            Set::NotSlash | Set::Any => vec![(0, SLASH - 1), (SLASH + 1, MAX_CHAR)],
            Set::Ranges(r) => r.clone(),
        }
    };
    for (alo, ahi) in ranges(a) {
        for (blo, bhi) in ranges(b) {
            let (lo, hi) = (alo.max(blo), ahi.min(bhi));
            if lo > hi {
                continue;
            }
            // Prefer a printable letter when the range allows one.
            for c in ['a', 'b', 'z'].into_iter().map(|c| c as u32).chain([lo, 0xE000]) {
                if (lo..=hi).contains(&c)
                    && c != SLASH
                    && let Some(c) = char::from_u32(c)
                {
                    return Some(c);
                }
            }
        }
    }
    None
}

/// A reserved path or glob, normalised and compiled.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    prefix_len: usize,
    /// `None` for a literal path (no wildcard).
    nfa: Option<Nfa>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

fn refuse(raw: &str, why: &str) -> Error {
    Error::validation(format!("invalid path {raw:?}: {why}"))
}

impl Pattern {
    /// Normalises and compiles `raw` (see the module docs for the dialect
    /// and what is refused).
    ///
    /// Errors: [`ErrorCode::Validation`](crate::ErrorCode::Validation),
    /// naming the path and what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self> {
        let text = normalize(raw)?;
        let tokens = tokenize(raw, &text)?;
        let literal = tokens.iter().all(|t| matches!(t, Token::One(Set::Char(_))));
        let prefix_len = text
            .char_indices()
            .find(|(_, c)| matches!(c, '*' | '?' | '['))
            .map_or(text.len(), |(i, _)| i);
        Ok(Self {
            nfa: (!literal).then(|| Nfa::build(&tokens)),
            prefix_len,
            text,
        })
    }

    /// The normalised text (what is stored and shown).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has no wildcard: it names one file.
    pub fn is_literal(&self) -> bool {
        self.nfa.is_none()
    }

    /// The literal text before the first wildcard (all of a literal path).
    pub fn prefix(&self) -> &str {
        &self.text[..self.prefix_len]
    }

    /// [`Pattern::prefix`] up to and including its last `/` (empty when it
    /// has none): the directory every matched path is under. The store
    /// indexes it to find candidates for [`Pattern::overlaps`].
    pub fn dir(&self) -> &str {
        let p = self.prefix();
        p.rfind('/').map_or("", |i| &p[..=i])
    }

    /// Whether the concrete path `path` (relative, `/`-separated) matches.
    pub fn matches(&self, path: &str) -> bool {
        match &self.nfa {
            None => self.text == path,
            Some(nfa) => path.starts_with(self.prefix()) && nfa.matches(path),
        }
    }

    /// Whether some path matches both patterns. Symmetric.
    pub fn overlaps(&self, other: &Pattern) -> bool {
        if !prefixes_comparable(self.prefix(), other.prefix()) {
            return false;
        }
        match (&self.nfa, &other.nfa) {
            (None, None) => self.text == other.text,
            (None, Some(_)) => other.matches(&self.text),
            (Some(_), None) => self.matches(&other.text),
            (Some(a), Some(b)) => a.intersects(b),
        }
    }
}

#[cfg(test)]
impl Pattern {
    /// A shortest path that matches both, if any (the proof behind
    /// [`Pattern::overlaps`]), for tests.
    pub(crate) fn common_path(&self, other: &Pattern) -> Option<String> {
        let automaton = |p: &Pattern| match &p.nfa {
            Some(nfa) => nfa.clone(),
            None => Nfa::build(&tokenize(&p.text, &p.text).expect("a stored pattern parses")),
        };
        automaton(self).witness(&automaton(other))
    }
}

/// Whether one of `a`, `b` starts with the other: a necessary condition
/// for two globs with these prefixes to overlap.
pub fn prefixes_comparable(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn normalize(raw: &str) -> Result<String> {
    if raw.trim().is_empty() {
        return Err(refuse(raw, "it is empty"));
    }
    let n = raw.chars().count();
    if n > MAX_PATH_CHARS {
        return Err(refuse(
            &raw.chars().take(40).collect::<String>(),
            &format!("it is {n} characters long; the limit is {MAX_PATH_CHARS}"),
        ));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control()) {
        return Err(refuse(raw, &format!("it holds the control character {c:?}")));
    }
    if raw.contains('\\') {
        return Err(refuse(
            raw,
            "a backslash: separate segments with / (there are no escapes)",
        ));
    }
    if raw.contains(['{', '}']) {
        return Err(refuse(
            raw,
            "braces ({a,b}) are not supported: list each path separately",
        ));
    }
    if raw.starts_with('/') {
        return Err(refuse(
            raw,
            "it is absolute; give it relative to the project root (e.g. \"src/lib.rs\")",
        ));
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => match segments.last() {
                None => return Err(refuse(raw, "its .. climbs above the project root")),
                Some(&"**") => return Err(refuse(raw, "a .. after ** has no single meaning")),
                Some(_) => {
                    segments.pop();
                }
            },
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        return Err(refuse(
            raw,
            "it names the project root itself; reserve \"**\" for the whole project",
        ));
    }
    if raw.ends_with('/') && segments.last() != Some(&"**") {
        segments.push("**");
    }
    Ok(segments.join("/"))
}

fn tokenize(raw: &str, text: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::with_capacity(chars.len());
    let mut wildcards = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                wildcards += 1;
                let start = i;
                while i < chars.len() && chars[i] == '*' {
                    i += 1;
                }
                let run = i - start;
                let at_segment_start = start == 0 || chars[start - 1] == '/';
                let at_segment_end = i == chars.len() || chars[i] == '/';
                if run >= 2 && at_segment_start && at_segment_end {
                    if i == chars.len() {
                        tokens.push(Token::AnyString);
                    } else {
                        // `**/`: the slash belongs to the token.
                        tokens.push(Token::AnyDirs);
                        i += 1;
                    }
                } else if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
                continue;
            }
            '?' => {
                wildcards += 1;
                tokens.push(Token::One(Set::NotSlash));
            }
            '[' => {
                wildcards += 1;
                let (set, end) = class(raw, &chars, i)?;
                tokens.push(Token::One(set));
                i = end;
            }
            c => tokens.push(Token::One(Set::Char(c))),
        }
        i += 1;
    }
    if wildcards > MAX_WILDCARDS {
        return Err(refuse(
            raw,
            &format!("it has {wildcards} wildcards; the limit is {MAX_WILDCARDS}"),
        ));
    }
    Ok(tokens)
}

/// Parses the class opening at `chars[open]`; returns it and the index of
/// its closing `]`.
fn class(raw: &str, chars: &[char], open: usize) -> Result<(Set, usize)> {
    let mut i = open + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(refuse(raw, "a [ is never closed by ]"));
        };
        if c == ']' && !first {
            break;
        }
        first = false;
        if c == '/' {
            return Err(refuse(raw, "a character class cannot hold /"));
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            let end = chars[i + 2];
            if end == '/' {
                return Err(refuse(raw, "a character class cannot hold /"));
            }
            if end < c {
                return Err(refuse(raw, &format!("the range {c}-{end} is reversed")));
            }
            ranges.push((c as u32, end as u32));
            i += 3;
        } else {
            ranges.push((c as u32, c as u32));
            i += 1;
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let set = if negated {
        let mut out = Vec::with_capacity(merged.len() + 2);
        let mut next = 0u32;
        for (lo, hi) in merged {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi + 1;
        }
        if next <= MAX_CHAR {
            out.push((next, MAX_CHAR));
        }
        // Never `/`, whatever the class says.
        let mut without = Vec::with_capacity(out.len() + 1);
        for (lo, hi) in out {
            if lo <= SLASH && SLASH <= hi {
                if lo < SLASH {
                    without.push((lo, SLASH - 1));
                }
                if SLASH < hi {
                    without.push((SLASH + 1, hi));
                }
            } else {
                without.push((lo, hi));
            }
        }
        without
    } else {
        merged
    };
    Ok((Set::Ranges(set), i))
}

#[cfg(test)]
mod tests;
