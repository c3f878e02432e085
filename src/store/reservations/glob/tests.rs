//! The glob dialect: normalisation, matching and overlap, with property
//! tests against an independent backtracking matcher and a brute-force
//! search for a common path.

use super::*;
use crate::ErrorCode;

fn p(s: &str) -> Pattern {
    Pattern::parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
}

fn overlap(a: &str, b: &str) -> bool {
    let (a, b) = (p(a), p(b));
    let ab = a.overlaps(&b);
    assert_eq!(ab, b.overlaps(&a), "overlap is not symmetric for {a:?} and {b:?}");
    ab
}

#[test]
fn overlap_is_decided_in_both_directions() {
    for (a, b) in [
        ("src/**", "src/store/tasks.rs"),
        ("src/*.rs", "src/lib.rs"),
        ("src/**", "src/**"),
        ("src/**", "src/store/**"),
        ("**", "README.md"),
        ("**/*.rs", "src/store/tasks.rs"),
        ("**/*.rs", "lib.rs"),
        ("src/*/mod.rs", "src/store/*.rs"),
        ("src/**/tasks.rs", "src/tasks.rs"),
        ("src/**/tasks.rs", "src/a/b/tasks.rs"),
        ("src/**/tasks.rs", "**/*.rs"),
        ("src/lib.rs", "src/lib.rs"),
        ("src/li?.rs", "src/lib.rs"),
        ("src/[a-m]*.rs", "src/lib.rs"),
        ("src/[!a-k]*.rs", "src/lib.rs"),
        ("docs/", "docs/guide/intro.md"),
        ("a**b/c", "aXb/c"),
        ("*.md", "README.md"),
    ] {
        assert!(overlap(a, b), "{a} and {b} should overlap");
    }
    for (a, b) in [
        ("docs/**", "src/**"),
        ("src/*.rs", "src/store/tasks.rs"),
        ("src/*", "src/store/tasks.rs"),
        ("*", "src/lib.rs"),
        ("*.rs", "src/lib.rs"),
        ("src/lib.rs", "src/main.rs"),
        ("src/**", "src"),
        ("src/**", "srcx/a.rs"),
        ("src/?.rs", "src/lib.rs"),
        ("src/[a-k]*.rs", "src/lib.rs"),
        ("src/[!l]*.rs", "src/lib.rs"),
        ("src/*.rs", "src/*.md"),
        ("a/*/b", "a/b"),
        ("**/*.rs", "**/*.md"),
        ("src/**/tasks.rs", "src/**/machine.rs"),
    ] {
        assert!(!overlap(a, b), "{a} and {b} should not overlap");
    }
}

#[test]
fn a_star_stays_in_its_segment_and_a_double_star_crosses() {
    assert!(p("src/*").matches("src/lib.rs"));
    assert!(!p("src/*").matches("src/store/tasks.rs"));
    assert!(p("src/**").matches("src/store/tasks.rs"));
    assert!(p("src/**").matches("src/lib.rs"));
    assert!(!p("src/**").matches("src"));
    assert!(p("**/tasks.rs").matches("tasks.rs"));
    assert!(p("**/tasks.rs").matches("src/store/tasks.rs"));
    assert!(!p("**/tasks.rs").matches("src/store/xtasks.rs"));
    assert!(p("a/**/b").matches("a/b"));
    assert!(p("a/**/b").matches("a/x/y/b"));
    assert!(p("a**b").matches("axxb"));
    assert!(!p("a**b").matches("ax/xb"));
    assert!(p("?").matches("a"));
    assert!(!p("?").matches("/"));
    assert!(p("[]a]").matches("]"));
    assert!(p("[!]a]").matches("b"));
    assert!(!p("[!]a]").matches("]"));
    assert!(p("[a-]").matches("-"));
}

#[test]
fn a_plain_path_is_a_literal() {
    let lit = p("src/lib.rs");
    assert!(lit.is_literal());
    assert!(lit.matches("src/lib.rs"));
    assert!(!lit.matches("src/lib.rs/x"));
    assert!(!lit.matches("src"));
    assert_eq!(lit.prefix(), "src/lib.rs");
    assert_eq!(lit.dir(), "src/");
    // A literal directory name is that one path, not its contents.
    assert!(!overlap("src", "src/lib.rs"));
    assert!(overlap("src/", "src/lib.rs"));
}

#[test]
fn paths_are_normalised_lexically() {
    for (raw, norm) in [
        ("./src/lib.rs", "src/lib.rs"),
        ("src//store/./tasks.rs", "src/store/tasks.rs"),
        ("src/store/../lib.rs", "src/lib.rs"),
        ("src/", "src/**"),
        ("src/**/", "src/**"),
        ("src/*/../x", "src/x"),
        ("**", "**"),
        ("my file.txt", "my file.txt"),
    ] {
        assert_eq!(p(raw).as_str(), norm, "{raw}");
    }
    assert_eq!(p("src/store/*.rs").prefix(), "src/store/");
    assert_eq!(p("src/store/t*.rs").dir(), "src/store/");
    assert_eq!(p("*.rs").dir(), "");
    assert_eq!(p("**/x").prefix(), "");
}

#[test]
fn paths_that_escape_or_cannot_be_read_are_refused() {
    let long = "a".repeat(MAX_PATH_CHARS + 1);
    let wild = "*/".repeat(MAX_WILDCARDS + 1);
    for bad in [
        "",
        "   ",
        "/etc/passwd",
        "../other/file",
        "src/../../x",
        "**/../x",
        ".",
        "./",
        "a/..",
        "src\\lib.rs",
        "src/{a,b}.rs",
        "src/[a.rs",
        "src/[a/b].rs",
        "src/[z-a].rs",
        "src/\nlib.rs",
        long.as_str(),
        wild.as_str(),
    ] {
        let e = Pattern::parse(bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation, "{bad:?}");
        assert!(e.message.starts_with("invalid path"), "{}", e.message);
    }
}

// ---- property tests ---------------------------------------------------

/// A small deterministic PRNG (xorshift64*): the property tests are
/// reproducible without a dev-dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// A random glob over the alphabet {a, b} with every construct.
fn random_glob(rng: &mut Rng) -> Option<Pattern> {
    const PARTS: [&str; 12] = ["a", "b", "ab", "/", "/", "*", "?", "**", "[ab]", "[!a]", "a/", "**/"];
    let n = 1 + rng.below(4);
    let raw: String = (0..n).map(|_| rng.pick(&PARTS)).collect();
    Pattern::parse(&raw).ok()
}

/// A random real path: 1-3 segments of 1-2 letters from {a, b}.
fn random_path(rng: &mut Rng) -> String {
    let segs = 1 + rng.below(3);
    (0..segs)
        .map(|_| {
            let len = 1 + rng.below(2);
            (0..len).map(|_| rng.pick(&["a", "b"])).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every real path over {a, b} with at most `max_len` characters.
fn all_paths(max_len: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut frontier = vec![String::new()];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for s in &frontier {
            for c in ['a', 'b', '/'] {
                if c == '/' && (s.is_empty() || s.ends_with('/')) {
                    continue;
                }
                let mut t = s.clone();
                t.push(c);
                if c != '/' {
                    out.push(t.clone());
                }
                next.push(t);
            }
        }
        frontier = next;
    }
    out
}

/// An independent matcher: backtracking straight over the normalised
/// text, with the dialect's rules written out again.
fn reference(glob: &str, path: &str) -> bool {
    fn go(g: &[char], p: &[char], segment_start: bool) -> bool {
        let Some(&c) = g.first() else {
            return p.is_empty();
        };
        match c {
            '*' => {
                let run = g.iter().take_while(|&&c| c == '*').count();
                let rest = &g[run..];
                if run >= 2 && segment_start && (rest.is_empty() || rest[0] == '/') {
                    if rest.is_empty() {
                        return true;
                    }
                    let rest = &rest[1..];
                    if go(rest, p, true) {
                        return true;
                    }
                    return (0..p.len()).any(|k| p[k] == '/' && go(rest, &p[k + 1..], true));
                }
                let mut k = 0;
                loop {
                    if go(rest, &p[k..], false) {
                        return true;
                    }
                    if k == p.len() || p[k] == '/' {
                        return false;
                    }
                    k += 1;
                }
            }
            '?' => !p.is_empty() && p[0] != '/' && go(&g[1..], &p[1..], false),
            '[' => {
                let mut i = 1;
                let negated = matches!(g.get(i), Some('!' | '^'));
                if negated {
                    i += 1;
                }
                let Some(&x) = p.first() else { return false };
                let mut hit = false;
                let mut first = true;
                while g[i] != ']' || first {
                    first = false;
                    if g.get(i + 1) == Some(&'-') && g.get(i + 2).is_some_and(|&e| e != ']') {
                        hit |= g[i] <= x && x <= g[i + 2];
                        i += 3;
                    } else {
                        hit |= g[i] == x;
                        i += 1;
                    }
                }
                x != '/' && hit != negated && go(&g[i + 1..], &p[1..], false)
            }
            c => p.first() == Some(&c) && go(&g[1..], &p[1..], c == '/'),
        }
    }
    let g: Vec<char> = glob.chars().collect();
    let p: Vec<char> = path.chars().collect();
    go(&g, &p, true)
}

#[test]
fn matching_agrees_with_an_independent_backtracking_matcher() {
    let mut rng = Rng(0x5eed_0001);
    let mut checked = 0;
    while checked < 20_000 {
        let Some(g) = random_glob(&mut rng) else { continue };
        let path = random_path(&mut rng);
        assert_eq!(
            g.matches(&path),
            reference(g.as_str(), &path),
            "{:?} on {path:?}",
            g.as_str()
        );
        checked += 1;
    }
}

#[test]
fn a_path_overlaps_a_glob_exactly_when_the_glob_matches_it() {
    let mut rng = Rng(0x5eed_0002);
    let mut checked = 0;
    while checked < 20_000 {
        let Some(g) = random_glob(&mut rng) else { continue };
        let path = random_path(&mut rng);
        let lit = p(&path);
        assert_eq!(lit.overlaps(&g), g.matches(&path), "{:?} and {path:?}", g.as_str());
        assert_eq!(g.overlaps(&lit), g.matches(&path), "{:?} and {path:?}", g.as_str());
        checked += 1;
    }
}

#[test]
fn two_globs_overlap_exactly_when_some_path_matches_both() {
    // Both directions: a common path found by brute force (every path of
    // up to 7 characters) means overlap; an overlap comes with a common
    // path from the product automaton, which both globs must match.
    let paths = all_paths(7);
    let mut rng = Rng(0x5eed_0003);
    let (mut checked, mut overlapping) = (0, 0);
    while checked < 1_500 {
        let (Some(a), Some(b)) = (random_glob(&mut rng), random_glob(&mut rng)) else {
            continue;
        };
        let ab = a.overlaps(&b);
        assert_eq!(ab, b.overlaps(&a), "symmetry: {:?} {:?}", a.as_str(), b.as_str());
        let short = paths.iter().find(|w| a.matches(w) && b.matches(w));
        if let Some(w) = short {
            assert!(ab, "{:?} and {:?} both match {w:?}", a.as_str(), b.as_str());
        }
        match a.common_path(&b) {
            Some(w) => {
                assert!(ab, "{:?} and {:?} both match {w:?}", a.as_str(), b.as_str());
                assert!(
                    a.matches(&w) && b.matches(&w),
                    "{w:?} for {:?} and {:?}",
                    a.as_str(),
                    b.as_str()
                );
                assert!(
                    !w.is_empty() && !w.starts_with('/') && !w.ends_with('/') && !w.contains("//"),
                    "{w:?} is no real path"
                );
                assert!(reference(a.as_str(), &w) && reference(b.as_str(), &w));
                overlapping += 1;
            }
            None => assert!(
                !ab,
                "{:?} and {:?} overlap without a common path",
                a.as_str(),
                b.as_str()
            ),
        }
        // The prefix test never rules out a real overlap.
        if ab {
            assert!(prefixes_comparable(a.prefix(), b.prefix()));
        }
        checked += 1;
    }
    // The generator makes both kinds of pairs.
    assert!(
        overlapping > 100 && overlapping < 1_400,
        "{overlapping} of 1500 overlap"
    );
}
