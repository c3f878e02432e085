//! Project roots (SPEC §9: reservations are "within a project root"): one
//! spelling per repository, so two repositories never clash and one
//! repository always matches itself.
//!
//! A project is given as either
//! - an absolute path (`/work/repo`): normalised lexically (`.` and
//!   repeated `/` dropped, `..` applied, no trailing `/`); symbolic links
//!   are not resolved (the hub may not have the directory), so give the
//!   path `git rev-parse --show-toplevel` prints;
//! - a git remote URL: `https://host/a/b.git`, `http://…`, `ssh://[user@]host[:port]/a/b`,
//!   `git://host/a/b`, or scp-like `[user@]host:a/b.git`, all normalised
//!   to `host/a/b` (host lower-cased; user, port, scheme, a trailing
//!   `.git` and `/` dropped; the path's case kept). `file://` URLs are
//!   paths. That normal form (`github.com/a/b`, as results show it) is
//!   accepted back as is: a host with a dot (or `localhost`) and a path.
//!
//! Agents working in separate clones or worktrees of one repository
//! should name it by its remote URL: their paths differ.
//!
//! Anything else (a relative path, an empty string, more than
//! [`MAX_PROJECT_CHARS`] characters, control characters) is
//! [`ErrorCode::Validation`](crate::ErrorCode::Validation).

use crate::error::{Error, Result};

/// Longest project, in characters.
pub const MAX_PROJECT_CHARS: usize = 1024;

fn refuse(raw: &str, why: &str) -> Error {
    Error::validation(format!(
        "invalid project {raw:?}: {why}. Give the repository's absolute path (\"/work/repo\") or its remote URL \
         (\"https://github.com/owner/repo\", \"git@github.com:owner/repo.git\")"
    ))
}

/// The normal form of the project root `raw` (see the module docs).
///
/// Errors: [`ErrorCode::Validation`](crate::ErrorCode::Validation).
pub fn normalize(raw: &str) -> Result<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(refuse(raw, "it is empty"));
    }
    if s.chars().count() > MAX_PROJECT_CHARS {
        return Err(refuse(
            &s.chars().take(40).collect::<String>(),
            &format!("it is longer than {MAX_PROJECT_CHARS} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(refuse(raw, "it holds a control character"));
    }
    if s.starts_with('/') {
        return Ok(absolute_path(s));
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if scheme == "file" {
            // file:///path (or file://localhost/path).
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if path.starts_with('/') {
                return Ok(absolute_path(path));
            }
            return Err(refuse(raw, "a file:// URL needs an absolute path"));
        }
        if !matches!(
            scheme.as_str(),
            "http" | "https" | "ssh" | "git" | "git+ssh" | "ssh+git"
        ) {
            return Err(refuse(raw, &format!("the URL scheme {scheme:?} is not a git remote")));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = strip_port(host);
        return remote(raw, host, path);
    }
    // scp-like: [user@]host:path (no slash before the colon).
    if let Some((authority, path)) = s.split_once(':')
        && !authority.contains('/')
        && !authority.is_empty()
    {
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return remote(raw, host, path);
    }
    // The normal form given back: host/path.
    if let Some((host, path)) = s.split_once('/')
        && (host.contains('.') || host.eq_ignore_ascii_case("localhost"))
        && host.chars().any(|c| c.is_ascii_alphanumeric())
        && host != ".."
    {
        return remote(raw, host, path);
    }
    Err(refuse(raw, "it is neither an absolute path nor a git remote URL"))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return host.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

fn remote(raw: &str, host: &str, path: &str) -> Result<String> {
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(refuse(raw, "the remote has no host"));
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    if let Some(last) = segments.last_mut() {
        *last = last.strip_suffix(".git").unwrap_or(last);
        if last.is_empty() {
            segments.pop();
        }
    }
    if segments.is_empty() {
        return Err(refuse(raw, "the remote names no repository"));
    }
    Ok(format!("{host}/{}", segments.join("/")))
}

fn absolute_path(s: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            x => segments.push(x),
        }
    }
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn one_repository_has_one_spelling() {
        for same in [
            "https://github.com/owner/repo",
            "https://github.com/owner/repo.git",
            "https://github.com/owner/repo/",
            "HTTPS://GitHub.com/owner/repo.git",
            "http://github.com/owner/repo",
            "https://user:pw@github.com:443/owner/repo.git",
            "ssh://git@github.com/owner/repo.git",
            "ssh://git@github.com:22/owner/repo",
            "git://github.com/owner/repo.git",
            "git@github.com:owner/repo.git",
            "git@github.com:owner/repo",
            "github.com:owner/repo",
            "github.com/owner/repo",
            "  github.com/owner/repo.git ",
        ] {
            assert_eq!(normalize(same).unwrap(), "github.com/owner/repo", "{same}");
        }
        for same in [
            "/work/repo",
            "/work/repo/",
            "/work//repo",
            "/work/./repo",
            "/work/x/../repo",
            "file:///work/repo",
        ] {
            assert_eq!(normalize(same).unwrap(), "/work/repo", "{same}");
        }
        assert_eq!(normalize("/").unwrap(), "/");
    }

    #[test]
    fn two_repositories_never_share_a_spelling() {
        let all = [
            "/work/repo",
            "/work/repo2",
            "/work/other/repo",
            "github.com/owner/repo",
            "github.com/owner/repo2",
            "github.com/other/repo",
            "gitlab.com/owner/repo",
            "github.com/owner/Repo",
        ];
        let normal: std::collections::HashSet<String> = all.iter().map(|p| normalize(p).unwrap()).collect();
        assert_eq!(normal.len(), all.len());
    }

    #[test]
    fn a_relative_or_empty_project_is_refused() {
        for bad in [
            "",
            "  ",
            "repo",
            "./repo",
            "../repo",
            "src/lib.rs",
            "ftp://host/a/b",
            "https://host",
            "git@host:",
            "/a\nb",
        ] {
            assert_eq!(normalize(bad).unwrap_err().code, ErrorCode::Validation, "{bad:?}");
        }
        assert_eq!(
            normalize(&format!("/{}", "a".repeat(MAX_PROJECT_CHARS)))
                .unwrap_err()
                .code,
            ErrorCode::Validation
        );
    }
}
