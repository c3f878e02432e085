//! `relay doctor`: diagnostics with PASS/WARN/FAIL and a fix for each FAIL:
//! of the local store and setup, or with `--remote URL` of an HTTP hub
//! ([`remote`]).

pub mod remote;

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::config::Settings;
use crate::crypto;
use crate::store::lock::sidecar;
use crate::store::schema::CURRENT_VERSION;
use crate::store::{backup, liveness};

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
    /// The processes the check is about (`relay processes`: those using
    /// the store; `writes`: those holding its write lock). Left out when
    /// empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<i32>,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix,
        pids: Vec::new(),
    }
}

impl Check {
    fn with_pids(mut self, users: &[liveness::User]) -> Self {
        self.pids = users.iter().map(|u| u.pid).collect();
        self
    }
}

/// How long the `writes` check waits for the store's write lock.
const WRITE_PROBE_WAIT: Duration = Duration::from_secs(1);

/// Below this much free space on the store's filesystem doctor FAILs,
/// whatever the store's size, in bytes (10 MiB).
const FREE_FAIL_FLOOR: u64 = 10 << 20;

/// Below this much free space doctor WARNs, whatever the store's size, in
/// bytes (200 MiB).
const FREE_WARN_FLOOR: u64 = 200 << 20;

/// Room kept for the WAL to grow between checkpoints, in bytes (64 MiB;
/// relay checkpoints every ~4 MiB, but a long reader holds it back).
const WAL_GROWTH: u64 = 64 << 20;

/// The `free disk` verdict for `free` bytes on the filesystem holding a
/// store of `db` bytes with a WAL of `wal` bytes. The rule:
///
/// - **FAIL** below `max(10 MiB, wal + 16 MiB)`: a checkpoint copies the
///   WAL's pages into the database file (which can grow by up to the WAL's
///   size), and the next write may not fit.
/// - **WARN** below `max(200 MiB, 2 × (db + wal) + 64 MiB)`: room for a
///   backup's `VACUUM INTO` copy (up to `db + wal`, made beside the store),
///   its archive when it is written to `backups/` beside the store (up to
///   as much again), a checkpoint, and 64 MiB for the WAL to grow.
/// - **PASS** otherwise.
///
/// Returns the status and the threshold that decided it, in bytes.
pub fn free_space_verdict(free: u64, db: u64, wal: u64) -> (Status, u64) {
    let fail_below = FREE_FAIL_FLOOR.max(wal + (16 << 20));
    let warn_below = FREE_WARN_FLOOR.max(2 * (db + wal) + WAL_GROWTH);
    if free < fail_below {
        (Status::Fail, fail_below)
    } else if free < warn_below {
        (Status::Warn, warn_below)
    } else {
        (Status::Pass, warn_below)
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes.div_ceil(1 << 20))
}

fn disk_check(db: &Path, dir: &Path) -> Check {
    let Some(free) = free_bytes(dir) else {
        return check(
            "free disk",
            Status::Warn,
            format!("cannot stat {}", dir.display()),
            None,
        );
    };
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (db_bytes, wal) = (size(db), size(&sidecar(db, "-wal")));
    let (status, threshold) = free_space_verdict(free, db_bytes, wal);
    let detail = format!(
        "{} free in {}, store {}, WAL {}",
        mib(free),
        dir.display(),
        mib(db_bytes),
        mib(wal)
    );
    match status {
        Status::Pass => check("free disk", Status::Pass, detail, None),
        Status::Warn => check(
            "free disk",
            Status::Warn,
            format!(
                "{detail}; below the {} a backup, a checkpoint and WAL growth need",
                mib(threshold)
            ),
            Some(format!(
                "free at least {} on the filesystem holding {} (old backups: relay backup --keep N; or back up \
                 elsewhere with --output DIR)",
                mib(threshold - free),
                dir.display()
            )),
        ),
        Status::Fail => check(
            "free disk",
            Status::Fail,
            format!(
                "{detail}; below the {} a checkpoint and the next writes need",
                mib(threshold)
            ),
            Some(format!(
                "free at least {} on the filesystem holding {} now: writes fail when the disk is full",
                mib(threshold - free),
                dir.display()
            )),
        ),
    }
}

/// `writes`: a `BEGIN IMMEDIATE` with a 1 s wait (rolled back). When it
/// cannot get the lock, FAIL naming the holders of SQLite's WAL write lock
/// and relay's writer queue, and whether they are stopped. When SQLite's
/// lock is free but relay's writer queue stays held, WARN (writers wait
/// up to 5 s each for it, then go on).
fn writes_check(db: &Path) -> Check {
    match backup::write_probe(db, WRITE_PROBE_WAIT) {
        Err(e) => check(
            "writes",
            Status::Warn,
            format!("cannot try a write: {}", e.message),
            Some(format!("check that {} is writable by you", db.display())),
        ),
        Ok(backup::WriteProbe::Busy) => {
            let holders = liveness::writer_holders(db);
            let waited = WRITE_PROBE_WAIT.as_secs();
            if holders.is_empty() {
                return check(
                    "writes",
                    Status::Fail,
                    format!("writes are stuck: another connection has held the write lock for over {waited} s"),
                    Some(format!(
                        "find the process with fuser -v {0} {0}-shm (or lsof), then let it go on or end it",
                        db.display()
                    )),
                );
            }
            check(
                "writes",
                Status::Fail,
                format!(
                    "writes are stuck: {} {} held the write lock for over {waited} s",
                    describe(&holders),
                    if holders.len() == 1 { "has" } else { "have" },
                ),
                Some(holder_fix(&holders)),
            )
            .with_pids(&holders)
        }
        Ok(backup::WriteProbe::Free) => {
            let queue = sidecar(db, ".writer.lock");
            let held = || {
                std::fs::File::open(&queue)
                    .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
            };
            if held() && {
                std::thread::sleep(Duration::from_millis(200));
                held()
            } {
                let holders = liveness::writer_holders(db);
                return check(
                    "writes",
                    Status::Warn,
                    format!(
                        "writes go through, but {} relay's writer queue ({}): each write waits up to {} s",
                        if holders.is_empty() {
                            "another process holds".to_owned()
                        } else {
                            format!("{} holds", describe(&holders))
                        },
                        queue.display(),
                        crate::store::BUSY_TIMEOUT_MS / 1000
                    ),
                    Some(if holders.is_empty() {
                        format!("find it with fuser -v {}", queue.display())
                    } else {
                        holder_fix(&holders)
                    }),
                )
                .with_pids(&holders);
            }
            check("writes", Status::Pass, "the write lock is free", None)
        }
    }
}

fn describe(users: &[liveness::User]) -> String {
    users.iter().map(|u| u.describe()).collect::<Vec<_>>().join(", ")
}

/// What to do about processes that hold a lock: resume the stopped ones,
/// or end them.
fn holder_fix(users: &[liveness::User]) -> String {
    let pids = |stopped: bool| {
        users
            .iter()
            .filter(|u| u.stopped == stopped)
            .map(|u| u.pid.to_string())
            .collect::<Vec<_>>()
    };
    let (stopped, running) = (pids(true), pids(false));
    let mut fixes = Vec::new();
    if !stopped.is_empty() {
        fixes.push(format!(
            "pid {0} {1} stopped: resume {2} with kill -CONT {0}, or end {2} with kill {0}",
            stopped.join(" "),
            if stopped.len() == 1 { "is" } else { "are" },
            if stopped.len() == 1 { "it" } else { "them" }
        ));
    }
    if !running.is_empty() {
        fixes.push(format!(
            "pid {0} {1} inside a long write: let {2} finish, or end {2} with kill {0}",
            running.join(" "),
            if running.len() == 1 { "is" } else { "are" },
            if running.len() == 1 { "it" } else { "them" }
        ));
    }
    fixes.join("; ")
}

/// `backup leftovers`: scratch directories of backups and restores beside
/// the store and in `backups/`. A killed (SIGKILL) run leaves a full copy
/// of the store behind: WARN with the command that removes it.
fn leftovers_check(db: &Path, dir: &Path) -> Check {
    let mut found = crate::commands::backup::leftovers(dir);
    found.extend(crate::commands::backup::leftovers(
        &crate::commands::backup::default_dir(db),
    ));
    let (live, stale): (Vec<_>, Vec<_>) = found.into_iter().partition(|l| l.live);
    if !stale.is_empty() {
        let paths: Vec<String> = stale.iter().map(|l| l.path.display().to_string()).collect();
        let bytes: u64 = stale.iter().map(|l| l.bytes).sum();
        return check(
            "backup leftovers",
            Status::Warn,
            format!(
                "a killed backup or restore left {} ({}, a copy of the store)",
                paths.join(", "),
                mib(bytes)
            ),
            Some(format!(
                "rm -r {} (the next relay backup also removes it)",
                paths.join(" ")
            )),
        );
    }
    match live.len() {
        0 => check("backup leftovers", Status::Pass, "none", None),
        _ => check(
            "backup leftovers",
            Status::Pass,
            format!(
                "a backup or restore is running ({})",
                live.iter()
                    .map(|l| l.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ),
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
        out.push(processes_check(db));
        if health.is_some() {
            out.push(writes_check(db));
        }
        out.push(leftovers_check(db, &dir));
    }
    if let Some(settings) = settings {
        out.push(keyring_check(settings, health.as_ref()));
    }
    if health.is_some()
        && let Some(c) = webhooks_check(db)
    {
        out.push(c);
    }
    out.push(disk_check(db, &dir));
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

/// Dead letters younger than this many days make the `webhooks` check WARN.
pub const DEAD_LETTER_WARN_DAYS: i64 = 7;

/// `webhooks`: left out when none is registered; WARN naming each webhook
/// with dead letters in the last [`DEAD_LETTER_WARN_DAYS`] days and how
/// many (the store clock's days).
fn webhooks_check(db: &Path) -> Option<Check> {
    let since = crate::clock::from_env().now() - DEAD_LETTER_WARN_DAYS * 86_400_000;
    let report = match crate::store::webhooks::report(db, since) {
        Ok(r) => r,
        Err(e) => {
            return Some(check(
                "webhooks",
                Status::Warn,
                format!("cannot read the webhooks: {}", e.message),
                None,
            ));
        }
    };
    if report.webhooks == 0 && report.dead.is_empty() {
        return None;
    }
    if report.dead.is_empty() {
        return Some(check(
            "webhooks",
            Status::Pass,
            format!(
                "{} registered, {} deliveries pending, no dead letters in {DEAD_LETTER_WARN_DAYS} days",
                report.webhooks, report.pending
            ),
            None,
        ));
    }
    let detail = report
        .dead
        .iter()
        .map(|d| {
            let last = d
                .last_error
                .as_deref()
                .map(|e| format!("; last: {e}"))
                .unwrap_or_default();
            format!(
                "webhook {} ({}, owner {}): {} dead letter{}{last}",
                d.webhook_id,
                d.origin,
                d.owner,
                d.dead,
                if d.dead == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(check(
        "webhooks",
        Status::Warn,
        detail,
        Some(
            "list_webhooks shows the dead letters and their errors; fix the receiver, or remove the webhook with \
             delete_webhook"
                .into(),
        ),
    ))
}

/// `relay processes`: who uses the store, by `<db>.lock` and by the
/// kernel's locks ([`liveness::lock_holders`]). A process with the store
/// open while `<db>.lock` is missing is a WARN: restore relies on it.
fn processes_check(db: &Path) -> Check {
    let lock_path = sidecar(db, ".lock");
    let lock = std::fs::OpenOptions::new().read(true).write(true).open(&lock_path);
    let lock_missing = lock.is_err();
    let users = liveness::lock_holders(db);
    let relay_lock = users.iter().any(|u| u.evidence == "relay lock");
    // On Linux the kernel names the holders; elsewhere a moment's
    // exclusive try is the only probe (it can make a relay process that
    // opens the store at that instant see DAEMON_RUNNING).
    let busy = relay_lock || (!cfg!(target_os = "linux") && lock.is_ok_and(|f| f.try_lock().is_err()));
    if !users.is_empty() && !busy && !relay_lock {
        return check(
            "relay processes",
            Status::Warn,
            format!(
                "{} {} the store open without holding {}, which {}",
                describe(&users),
                if users.len() == 1 { "has" } else { "have" },
                lock_path.display(),
                if lock_missing {
                    "is missing"
                } else {
                    "was deleted and made again"
                }
            ),
            Some(
                "if they are relay processes, restart them so they hold the lock again; relay restore refuses while \
                 they run either way"
                    .into(),
            ),
        )
        .with_pids(&users);
    }
    let detail = match (busy || !users.is_empty(), users.is_empty()) {
        (false, _) => "no relay process has the store open".to_owned(),
        (true, true) => "the store is in use by relay processes".to_owned(),
        (true, false) => format!("the store is in use by {}", describe(&users)),
    };
    check("relay processes", Status::Pass, detail, None).with_pids(&users)
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
/// checks then run with the defaults. With `--remote URL` only the hub is
/// checked ([`remote`]); the local store and config are left alone.
///
/// Errors (exit 2): a `--remote` that is not an http(s) URL, or a
/// `--secret-file`/`--token-file` that cannot be read.
pub fn run(args: &DoctorArgs, global: &crate::cli::GlobalArgs) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.remote {
        let creds = remote::Credentials::resolve(args.secret_file.as_deref(), args.token_file.as_deref())?;
        let checks = remote::checks(url, &creds)?;
        return report(&checks, args.json, ("hub", serde_json::json!(url)));
    }
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
    report(&checks, args.json, ("store", serde_json::json!(db)))
}

/// Prints `checks` (a table, or with `json` one object `{"ok", subject,
/// "checks"}`) and returns the exit code: 0 with no FAIL, else 1.
fn report(checks: &[Check], json: bool, subject: (&str, serde_json::Value)) -> anyhow::Result<ExitCode> {
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    if json {
        let mut report = serde_json::json!({ "ok": ok, "checks": checks });
        report[subject.0] = subject.1;
        super::write_stdout(format!("{report}\n").as_bytes())?;
    } else {
        let colour = std::io::stdout().is_terminal();
        let mut text = String::new();
        for c in checks {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_needs_room_for_a_backup_a_checkpoint_and_wal_growth() {
        const MIB: u64 = 1 << 20;
        // Small stores: the floors decide.
        assert_eq!(free_space_verdict(5 * MIB, MIB, 0).0, Status::Fail);
        assert_eq!(free_space_verdict(100 * MIB, MIB, 0).0, Status::Warn);
        assert_eq!(free_space_verdict(200 * MIB, MIB, 0), (Status::Pass, 200 * MIB));
        // A 1 GiB store with a 100 MiB WAL needs 2 × 1.1 GiB + 64 MiB.
        let need = 2 * (1024 + 100) * MIB + 64 * MIB;
        assert_eq!(
            free_space_verdict(need - 1, 1024 * MIB, 100 * MIB),
            (Status::Warn, need)
        );
        assert_eq!(free_space_verdict(need, 1024 * MIB, 100 * MIB).0, Status::Pass);
        // A checkpoint of a large WAL can grow the database by as much.
        assert_eq!(
            free_space_verdict(300 * MIB, 10 * MIB, 400 * MIB),
            (Status::Fail, 416 * MIB)
        );
    }
}
