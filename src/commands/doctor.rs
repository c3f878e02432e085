//! `relay doctor`: diagnostics with PASS/WARN/FAIL and a fix for each FAIL.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::config::Settings;
use crate::crypto;
use crate::store::backup;
use crate::store::lock::sidecar;
use crate::store::schema::CURRENT_VERSION;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but worth a look.
    Warn,
    /// Broken; the check says how to fix it.
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (WARN and FAIL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix,
    }
}

/// Free bytes on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}

fn home() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().to_owned())
}

/// Files that exist among `candidates` and mention `needle`.
fn mentioning(candidates: &[PathBuf], needle: &str) -> Vec<PathBuf> {
    candidates
        .iter()
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle)))
        .cloned()
        .collect()
}

/// Runs every check. `settings` is `None` when the config file did not
/// parse: the caller reports that, and the checks that need settings (the
/// keyring) are left out.
pub fn checks(db: &Path, settings: Option<&Settings>) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(settings) = settings {
        out.push(match &settings.config_file {
            Some(path) => check("config", Status::Pass, format!("{} parses", path.display()), None),
            None => check(
                "config",
                Status::Pass,
                "no config file; defaults (relay init writes one)",
                None,
            ),
        });
    }
    let mut health = None;
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    if !db.exists() {
        out.push(check(
            "store",
            Status::Fail,
            format!("no store at {}", db.display()),
            Some("start an agent (relay serve --agent NAME) or pass --db PATH / RELAY_DB to point at yours".into()),
        ));
    } else {
        match backup::health(db) {
            Err(e) => out.push(check(
                "store opens",
                Status::Fail,
                e.message.clone(),
                Some(format!(
                    "restore a backup: relay restore {}/relay-….tar.gz",
                    crate::commands::backup::default_dir(db).display()
                )),
            )),
            Ok(h) => {
                health = Some(h.clone());
                out.push(check("store opens", Status::Pass, db.display().to_string(), None));
                out.push(match h.schema_version {
                    v if v == CURRENT_VERSION => check("schema current", Status::Pass, format!("version {v}"), None),
                    v if v < CURRENT_VERSION => check(
                        "schema current",
                        Status::Warn,
                        format!("version {v}; this relay writes {CURRENT_VERSION}"),
                        Some("it is migrated the next time relay serve opens it".into()),
                    ),
                    v => check(
                        "schema current",
                        Status::Fail,
                        format!("version {v} is newer than this relay's {CURRENT_VERSION}"),
                        Some("upgrade relay (cargo install --locked --path .)".into()),
                    ),
                });
                out.push(if h.quick_check == "ok" {
                    check("quick_check", Status::Pass, "ok", None)
                } else {
                    check(
                        "quick_check",
                        Status::Fail,
                        h.quick_check,
                        Some("restore the newest good backup with relay restore".into()),
                    )
                });
                out.push(if h.journal_mode.eq_ignore_ascii_case("wal") {
                    check("WAL", Status::Pass, "journal_mode=wal", None)
                } else {
                    check(
                        "WAL",
                        Status::Warn,
                        format!("journal_mode={}", h.journal_mode),
                        Some("relay switches it to WAL when it next opens the store".into()),
                    )
                });
            }
        }
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        let (file_mode, dir_mode) = (mode(db), mode(&dir));
        out.push(if file_mode & 0o077 == 0 && dir_mode & 0o077 == 0 {
            check(
                "permissions",
                Status::Pass,
                format!("store {file_mode:o}, directory {dir_mode:o}"),
                None,
            )
        } else {
            check(
                "permissions",
                Status::Warn,
                format!("store {file_mode:o}, directory {dir_mode:o}: other users may read agent mail"),
                Some(format!("chmod 600 {}*; chmod 700 {}", db.display(), dir.display())),
            )
        });
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(sidecar(db, ".lock"));
        let busy = lock.is_ok_and(|f| f.try_lock().is_err());
        out.push(check(
            "relay processes",
            Status::Pass,
            if busy {
                "the store is in use by relay processes"
            } else {
                "no relay process has the store open"
            },
            None,
        ));
    }
    if let Some(settings) = settings {
        out.push(keyring_check(settings, health.as_ref()));
    }
    out.push(match free_bytes(&dir) {
        Some(free) if free < 10 << 20 => check(
            "free disk",
            Status::Fail,
            format!("{} MiB free in {}", free >> 20, dir.display()),
            Some("free some space: writes fail when the disk is full".into()),
        ),
        Some(free) if free < 200 << 20 => check(
            "free disk",
            Status::Warn,
            format!("{} MiB free", free >> 20),
            Some("free some space soon".into()),
        ),
        Some(free) => check("free disk", Status::Pass, format!("{} MiB free", free >> 20), None),
        None => check(
            "free disk",
            Status::Warn,
            format!("cannot stat {}", dir.display()),
            None,
        ),
    });
    let home = home().unwrap_or_default();
    let settings = [
        PathBuf::from(".claude/settings.json"),
        PathBuf::from(".claude/settings.local.json"),
        home.join(".claude/settings.json"),
    ];
    let hooks = mentioning(&settings, "relay hook ");
    out.push(if hooks.is_empty() {
        check(
            "Claude Code hooks",
            Status::Warn,
            "no relay hooks in .claude/settings.json or ~/.claude/settings.json",
            Some("relay generate-hooks --agent NAME --write .claude/settings.json".into()),
        )
    } else {
        check("Claude Code hooks", Status::Pass, list(&hooks), None)
    });
    let configs = [
        PathBuf::from(".mcp.json"),
        home.join(".claude.json"),
        home.join(".codex/config.toml"),
        PathBuf::from(".cursor/mcp.json"),
        home.join(".cursor/mcp.json"),
    ];
    let mcp = mentioning(&configs, "relay");
    out.push(if mcp.is_empty() {
        check(
            "MCP configs",
            Status::Warn,
            "no MCP config references relay",
            Some("add relay to .mcp.json, ~/.codex/config.toml or .cursor/mcp.json (see README)".into()),
        )
    } else {
        check("MCP configs", Status::Pass, list(&mcp), None)
    });
    out
}

/// The keyring loads, opens the newest and oldest value of each encrypted
/// column, and is private; plain values or an unfinished re-encrypt under
/// a keyring are worth a WARN.
fn keyring_check(settings: &Settings, health: Option<&backup::Health>) -> Check {
    let samples = health.map_or(&[][..], |h| &h.samples[..]);
    let mut sealed_with: Vec<&str> = samples.iter().filter_map(|(_, v)| crypto::key_id(v)).collect();
    sealed_with.sort_unstable();
    sealed_with.dedup();
    let keyring = match settings.keyring() {
        Err(e) => {
            return check(
                "keyring",
                Status::Fail,
                e.message,
                Some(format!(
                    "keep exactly one of {}, {} or [encryption] keyring_path, holding {{\"current\": \"k1\", \"keys\": \
                     {{\"k1\": \"<base64 of 32 bytes>\"}}}} (make a key with: openssl rand -base64 32)",
                    crypto::ENV_KEYRING,
                    crypto::ENV_KEYRING_PATH
                )),
            );
        }
        Ok(None) if sealed_with.is_empty() && !health.is_some_and(|h| h.encryption_required) => {
            return check("keyring", Status::Pass, "encryption at rest is off (no keyring)", None);
        }
        Ok(None) => {
            return check(
                "keyring",
                Status::Fail,
                if sealed_with.is_empty() {
                    "no keyring is configured, but the store is encrypted at rest".to_owned()
                } else {
                    format!(
                        "no keyring is configured, but the store holds values sealed with key {}",
                        sealed_with.join(", ")
                    )
                },
                Some(format!(
                    "set {} to the keyring file that holds it",
                    crypto::ENV_KEYRING_PATH
                )),
            );
        }
        Ok(Some(k)) => k,
    };
    for (field, value) in samples {
        if crypto::key_id(value).is_some()
            && let Err(e) = keyring.open(*field, value)
        {
            return check(
                "keyring",
                Status::Fail,
                e.message,
                Some("put the key that sealed these values back in the keyring (keep old keys until relay re-encrypt --verify-clean passes)".into()),
            );
        }
    }
    let source = settings.keyring_sources.first();
    if let Some(path) = source.and_then(|s| s.path())
        && std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    {
        return check(
            "keyring",
            Status::Warn,
            format!("{} is readable by other users", path.display()),
            Some(format!("chmod 600 {}", path.display())),
        );
    }
    if let Some(plan) = health.and_then(|h| h.reencrypt_pending.as_ref()) {
        let from = plan.from.as_ref().map(|f| format!(" --from {f}")).unwrap_or_default();
        return check(
            "keyring",
            Status::Warn,
            format!("an unfinished re-encrypt to key {:?}", plan.to),
            Some(format!(
                "run relay re-encrypt --to {}{from} again to finish it",
                plan.to
            )),
        );
    }
    if samples.iter().any(|(_, v)| crypto::key_id(v).is_none()) {
        return check(
            "keyring",
            Status::Warn,
            "some stored values are plain text (written before the keyring)",
            Some(format!("relay re-encrypt --to {}", keyring.current())),
        );
    }
    check(
        "keyring",
        Status::Pass,
        format!(
            "current key {:?} of {}, from {}",
            keyring.current(),
            keyring.key_ids().collect::<Vec<_>>().join(", "),
            source.map(|s| s.describe()).unwrap_or_default()
        ),
        None,
    )
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `relay doctor`: exit 0 with no FAIL, else 1. A config file that
/// does not parse is a FAIL (with the parse error), not a crash: the other
/// checks then run with the defaults.
pub fn run(args: &DoctorArgs, global: &crate::cli::GlobalArgs) -> anyhow::Result<ExitCode> {
    let (db, checks) = match Settings::resolve(global) {
        Ok(settings) => (settings.db.clone(), checks(&settings.db, Some(&settings))),
        Err(e) => {
            let db = match &global.db {
                Some(p) => p.clone(),
                None => crate::config::default_db_path()?,
            };
            let mut all = vec![check(
                "config",
                Status::Fail,
                e.message.clone(),
                Some("fix the file (see README, \"Set up\") or rewrite it with relay init --force".into()),
            )];
            all.extend(checks(&db, None));
            (db, all)
        }
    };
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    if args.json {
        let report = serde_json::json!({ "ok": ok, "store": db, "checks": checks });
        super::write_stdout(format!("{report}\n").as_bytes())?;
    } else {
        let colour = std::io::stdout().is_terminal();
        let mut text = String::new();
        for c in &checks {
            let (label, code) = match c.status {
                Status::Pass => ("PASS", "32"),
                Status::Warn => ("WARN", "33"),
                Status::Fail => ("FAIL", "31"),
            };
            let label = if colour {
                format!("\x1b[{code}m{label}\x1b[0m")
            } else {
                label.to_owned()
            };
            text.push_str(&format!("{label}  {:<18} {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                text.push_str(&format!("      {:<18} fix: {fix}\n", ""));
            }
        }
        super::write_stdout(text.as_bytes())?;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
