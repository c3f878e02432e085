//! `relay guard`: a git pre-commit hook that refuses commits touching
//! paths another agent reserved exclusively (SPEC §9), and the check it
//! runs.
//!
//! - `install` writes `pre-commit` where git looks for hooks
//!   (`git rev-parse --git-path hooks`: core.hooksPath, else
//!   `.git/hooks`). The hook is a short `sh` script marked with
//!   [`MARKER`]; a hook without the marker is someone else's and is only
//!   replaced with `--force` (kept as `pre-commit.relay-backup`) or
//!   chained with `--chain` (moved to `pre-commit.relay-chained`, run
//!   first; its failure stops the commit).
//! - `check` finds the repository root (`git rev-parse --show-toplevel`)
//!   and its remote URLs, which name the project in every spelling an
//!   agent may have used ([`crate::store::reservations::project`]); lists
//!   the staged paths (`git diff --cached --name-only -z --no-renames`,
//!   so both sides of a rename count); and asks the local store for live
//!   exclusive reservations of other agents covering them
//!   ([`crate::store::Store::reservations_blocking`]).
//!
//! Who commits: `--agent`, else `RELAY_AGENT` in the committing
//! environment, else the `--agent` given at install (the hook passes it
//! as the default of `RELAY_AGENT`). With nobody named, every exclusive
//! reservation blocks: the guard cannot tell the holder from anyone else.
//!
//! [`BYPASS_ENV`]`=off` (or `0`, `false`, `no`) lets the commit through
//! and says so on stderr, naming what it would have refused.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::cli::{GlobalArgs, GuardAction, GuardArgs, GuardCheckArgs, GuardInstallArgs};
use crate::config::Settings;
use crate::store::reservations::{Blocked, project};

/// The environment variable that bypasses the check.
pub const BYPASS_ENV: &str = "RELAY_GUARD";

/// The line that marks a pre-commit hook as relay's.
pub const MARKER: &str = "# relay guard: installed by `relay guard install`";

/// Where a foreign hook goes with `--chain`.
const CHAINED: &str = "pre-commit.relay-chained";
/// Where a foreign hook goes with `--force`.
const BACKUP: &str = "pre-commit.relay-backup";

/// Runs `relay guard install` or `relay guard check`.
pub fn run(args: &GuardArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        GuardAction::Install(a) => install(a, global),
        GuardAction::Check(a) => check(a, global),
    }
}

/// Whether `value` of [`BYPASS_ENV`] turns the check off.
pub fn is_bypass(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "off" | "0" | "false" | "no")
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .with_context(|| "cannot run git; is it installed?")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn git_line(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    Ok(String::from_utf8_lossy(&git(dir, args)?)
        .trim_end_matches(['\n', '\r'])
        .to_owned())
}

/// The root of the work tree `dir` is in.
fn toplevel(dir: &Path) -> anyhow::Result<PathBuf> {
    let root = git_line(dir, &["rev-parse", "--show-toplevel"])
        .with_context(|| format!("{} is not inside a git work tree", dir.display()))?;
    Ok(PathBuf::from(root))
}

fn start_dir(repo: Option<&Path>) -> anyhow::Result<PathBuf> {
    match repo {
        Some(dir) => Ok(dir.to_owned()),
        None => std::env::current_dir().context("cannot read the current directory"),
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The hook script: runs a chained hook first, then `relay guard check`.
pub fn hook_script(relay: &Path, db: Option<&Path>, agent: Option<&str>) -> String {
    let db = db
        .map(|p| format!(" --db {}", shell_quote(&p.display().to_string())))
        .unwrap_or_default();
    let agent = agent
        .map(|a| {
            format!(
                "RELAY_AGENT=\"${{RELAY_AGENT:-{}}}\"\nexport RELAY_AGENT\n",
                shell_quote(a)
            )
        })
        .unwrap_or_default();
    format!(
        r#"#!/bin/sh
{MARKER}
# Refuses a commit that touches paths another relay agent reserved
# exclusively. {BYPASS_ENV}=off skips the check. Reinstall to update.
hook_dir=$(dirname "$0")
if [ -x "$hook_dir/{CHAINED}" ]; then
    "$hook_dir/{CHAINED}" "$@" || exit $?
fi
relay={relay}
[ -x "$relay" ] || relay=relay
if ! command -v "$relay" >/dev/null 2>&1; then
    case "${{{BYPASS_ENV}:-}}" in
        off|OFF|Off|0|false|FALSE|no|NO)
            echo "relay guard: {BYPASS_ENV}=${BYPASS_ENV}: relay is not installed; committing without the check" >&2
            exit 0 ;;
    esac
    echo "relay guard: relay is not installed (was {relay}); reinstall it, or commit with {BYPASS_ENV}=off" >&2
    exit 1
fi
{agent}exec "$relay"{db} guard check
"#,
        relay = shell_quote(&relay.display().to_string()),
    )
}

fn install(args: &GuardInstallArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if let Some(agent) = &args.agent {
        crate::store::validate::agent_name(agent)?;
    }
    let root = toplevel(&start_dir(args.repo.as_deref())?)?;
    let hooks = git_line(&root, &["rev-parse", "--git-path", "hooks"])?;
    let hooks = root.join(hooks);
    std::fs::create_dir_all(&hooks).with_context(|| format!("cannot create {}", hooks.display()))?;
    let hook = hooks.join("pre-commit");
    let relay = std::env::current_exe().context("cannot tell where this relay binary is")?;
    let script = hook_script(&relay, global.db.as_deref(), args.agent.as_deref());
    let mut note = String::new();
    // symlink_metadata: a dangling symlink is still a hook in the way.
    if std::fs::symlink_metadata(&hook).is_ok() {
        let existing = std::fs::read(&hook).unwrap_or_default();
        let ours = String::from_utf8_lossy(&existing).contains(MARKER);
        if !ours {
            if args.chain {
                let chained = hooks.join(CHAINED);
                if std::fs::symlink_metadata(&chained).is_ok() {
                    eprintln!(
                        "relay guard: {} exists already; move it away, or use --force",
                        chained.display()
                    );
                    return Ok(ExitCode::from(1));
                }
                std::fs::rename(&hook, &chained)
                    .with_context(|| format!("cannot move {} to {}", hook.display(), chained.display()))?;
                note = format!("; the existing hook runs first, as {}", chained.display());
            } else if args.force {
                let backup = hooks.join(BACKUP);
                std::fs::rename(&hook, &backup)
                    .with_context(|| format!("cannot move {} to {}", hook.display(), backup.display()))?;
                note = format!("; the existing hook was kept as {}", backup.display());
            } else {
                eprintln!(
                    "relay guard: {} is another pre-commit hook; rerun with --chain to keep it and run it \
                     first, or --force to replace it",
                    hook.display()
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".pre-commit.")
        .tempfile_in(&hooks)
        .with_context(|| format!("cannot write in {}", hooks.display()))?;
    tmp.write_all(script.as_bytes())
        .and_then(|()| tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", hook.display()))?;
    tmp.persist(&hook)
        .with_context(|| format!("cannot write {}", hook.display()))?;
    let who = match &args.agent {
        Some(a) => format!("as agent {a} (RELAY_AGENT overrides)"),
        None => "as the agent in RELAY_AGENT".to_owned(),
    };
    eprintln!(
        "relay guard: pre-commit hook installed at {}; commits are checked {who}{note}",
        hook.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `relay guard check --json`.
#[derive(Debug, Serialize)]
struct Report {
    /// No path is reserved by another agent (or the check was bypassed).
    ok: bool,
    /// [`BYPASS_ENV`] turned the check off.
    bypassed: bool,
    /// The work tree's root.
    repository: String,
    /// The project names looked up: the root's path and each remote's.
    projects: Vec<String>,
    /// The committing agent, if named.
    agent: Option<String>,
    /// How many paths were checked.
    checked: usize,
    /// The reserved paths, with their holders.
    blocked: Vec<Blocked>,
}

fn projects_of(root: &Path) -> Vec<String> {
    let mut projects = Vec::new();
    if let Ok(p) = project::normalize(&root.display().to_string()) {
        projects.push(p);
    }
    // Every remote's URL: an agent may have named the project by any.
    if let Ok(urls) = git_line(root, &["config", "--get-regexp", r"^remote\..*\.url$"]) {
        for line in urls.lines() {
            if let Some((_, url)) = line.split_once(' ')
                && let Ok(p) = project::normalize(url)
                && !projects.contains(&p)
            {
                projects.push(p);
            }
        }
    }
    projects
}

fn staged(root: &Path) -> anyhow::Result<Vec<String>> {
    let out = git(root, &["diff", "--cached", "--name-only", "-z", "--no-renames"])?;
    Ok(out
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

fn describe(b: &Blocked) -> String {
    let mut out = String::new();
    for h in &b.holders {
        out.push_str(&format!(
            "  {}: reserved by {} ({}) until {}: {:?}\n",
            b.path, h.agent, h.path, h.expires_at, h.reason
        ));
    }
    out
}

fn check(args: &GuardCheckArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let bypass = std::env::var(BYPASS_ENV).ok().filter(|v| is_bypass(v));
    let agent = args.agent.clone().filter(|a| !a.trim().is_empty());
    let root = toplevel(&start_dir(args.repo.as_deref())?)?;
    let projects = projects_of(&root);
    let paths: Vec<String> = if args.paths.is_empty() {
        staged(&root)?
    } else {
        args.paths
            .iter()
            .map(|p| p.trim_start_matches("./").to_owned())
            .collect()
    };
    let lookup = || -> anyhow::Result<Vec<Blocked>> {
        let settings = Settings::resolve(global)?;
        if paths.is_empty() || !settings.db.exists() {
            // No store: nothing was ever reserved here.
            return Ok(Vec::new());
        }
        let store = settings.open_store()?;
        Ok(store.reservations_blocking(&projects, agent.as_deref(), &paths)?)
    };
    let (blocked, bypassed) = match &bypass {
        Some(value) => {
            let blocked = lookup().unwrap_or_default();
            if blocked.is_empty() {
                eprintln!("relay guard: {BYPASS_ENV}={value}: reservations are not enforced for this commit");
            } else {
                eprintln!(
                    "relay guard: {BYPASS_ENV}={value}: reservations are not enforced; committing despite {} \
                     path(s) reserved exclusively by other agents:\n{}",
                    blocked.len(),
                    blocked.iter().map(describe).collect::<String>().trim_end()
                );
            }
            (blocked, true)
        }
        None => (lookup()?, false),
    };
    let ok = bypassed || blocked.is_empty();
    if !ok {
        let who = match &agent {
            Some(a) => format!("agents other than {a}"),
            None => "agents (RELAY_AGENT is not set, so the committer holds none)".to_owned(),
        };
        eprintln!(
            "relay guard: commit refused: {} path(s) are reserved exclusively by {who}:\n{}\
             Wait until the holder releases them (ask it with send_message), commit as the holder \
             (RELAY_AGENT=NAME), or bypass the check with {BYPASS_ENV}=off.",
            blocked.len(),
            blocked.iter().map(describe).collect::<String>()
        );
    }
    if args.json {
        let report = Report {
            ok,
            bypassed,
            repository: root.display().to_string(),
            projects,
            agent,
            checked: paths.len(),
            blocked,
        };
        super::write_stdout(format!("{}\n", serde_json::to_string_pretty(&report)?).as_bytes())?;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bypass_words_are_the_documented_ones() {
        for on in ["off", "OFF", "0", "false", "no", " off "] {
            assert!(is_bypass(on), "{on}");
        }
        for off in ["", "on", "1", "yes", "true"] {
            assert!(!is_bypass(off), "{off}");
        }
    }

    #[test]
    fn the_hook_script_names_the_binary_the_store_and_the_default_agent() {
        let s = hook_script(
            Path::new("/opt/relay bin/relay"),
            Some(Path::new("/db/relay.db")),
            Some("alice"),
        );
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.contains(MARKER));
        assert!(s.contains("relay='/opt/relay bin/relay'"));
        assert!(s.contains("RELAY_AGENT=\"${RELAY_AGENT:-alice}\""));
        assert!(s.contains("exec \"$relay\" --db /db/relay.db guard check"));
        let bare = hook_script(Path::new("/usr/bin/relay"), None, None);
        assert!(!bare.contains("RELAY_AGENT="));
        assert!(bare.contains("exec \"$relay\" guard check"));
    }
}
