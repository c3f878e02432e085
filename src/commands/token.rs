//! `relay token issue|rotate|revoke`: the operator's token acts on the
//! store, with no model in the loop (SPEC §2, §5). Each is audited with
//! the OS user (transport `cli`); the rules are the store's
//! ([`crate::store::agents::credentials`]).
//!
//! A new token (or recovery token) is shown once: as a bare line on
//! stdout, so `TOKEN=$(relay token issue bot)` works, or written to
//! `--out FILE` (mode 0600, replaced atomically) with only a note on
//! stderr. `--json` prints one object instead (the token in it unless
//! `--out`).

use std::process::ExitCode;

use serde_json::{Value, json};

use super::recover::os_user;
use crate::cli::{TokenAction, TokenArgs, TokenOutput};
use crate::config::Settings;
use crate::store::agents::credentials::Actor;
use crate::store::{PrivateFile, Registration};

/// Runs `relay token ACTION`.
///
/// Exit codes (SPEC §5, [`super::exit_code_for`]): 0 done; 1 the agent's
/// state refuses it (`INVALID_STATE`: rotating or revoking a revoked
/// token) or a name differing only in case exists (`NAME_TAKEN`); 2 an
/// unknown agent (`NOT_FOUND`), a bad name or argument, a store error, or
/// an `--out` directory that cannot be written (checked before anything
/// changes).
pub fn run(args: &TokenArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = settings.open_store()?;
    let user = os_user();
    let output = match &args.action {
        TokenAction::Issue(a) => &a.output,
        TokenAction::Rotate(a) => &a.output,
        TokenAction::Revoke(a) => &a.output,
    };
    // Before the change: a token that cannot be written is a token lost.
    let staged = output.out.as_deref().map(PrivateFile::stage).transpose()?;
    match &args.action {
        TokenAction::Issue(a) => {
            let reg = Registration {
                name: a.agent.clone(),
                role: a.role.clone(),
                capabilities: a.capabilities.clone().unwrap_or_default(),
                description: None,
            };
            let issued = store.issue_token(&reg, &user)?;
            let what = if issued.created {
                format!("registered {:?} with a new token", issued.agent.name)
            } else {
                format!(
                    "issued a new token for {:?}; its previous token stopped working",
                    issued.agent.name
                )
            };
            let report = json!({ "agent": issued.agent, "created": issued.created, "token": issued.token });
            deliver(&a.output, staged, "token", Some(&issued.token), report, &what)
        }
        TokenAction::Rotate(a) => {
            let rotated = store.rotate_token(Actor::Operator { os_user: &user }, Some(&a.agent), a.grace_seconds)?;
            let what = match &rotated.grace_until {
                Some(until) => format!(
                    "rotated the token of {:?}; the old one works until {until}",
                    rotated.agent
                ),
                None => format!("rotated the token of {:?}; the old one stopped working", rotated.agent),
            };
            let token = rotated.token.clone();
            deliver(
                &a.output,
                staged,
                "token",
                Some(&token),
                serde_json::to_value(rotated)?,
                &what,
            )
        }
        TokenAction::Revoke(a) => {
            let revoked = store.revoke_token(Actor::Operator { os_user: &user }, &a.agent, !a.no_recovery)?;
            let what = match &revoked.recovery_expires_at {
                Some(until) => format!(
                    "revoked the token of {:?}; its one-time recovery token (register_agent with recovery_token) \
                     works until {until}",
                    revoked.agent
                ),
                None => format!(
                    "revoked the token of {:?}; it stays revoked until `relay token issue {}`",
                    revoked.agent, revoked.agent
                ),
            };
            let secret = revoked.recovery_token.clone();
            deliver(
                &a.output,
                staged,
                "recovery_token",
                secret.as_deref(),
                serde_json::to_value(revoked)?,
                &what,
            )
        }
    }
}

/// Shows `secret` once as `output` asks: stdout (a bare line), `--out`
/// (0600 file; `field` removed from the JSON report) or `--json`
/// (`report`, which holds the secret as `field`). `what` is the note
/// for people, on stderr.
fn deliver(
    output: &TokenOutput,
    staged: Option<PrivateFile>,
    field: &str,
    secret: Option<&str>,
    mut report: Value,
    what: &str,
) -> anyhow::Result<ExitCode> {
    let mut note = what.to_owned();
    if let (Some(path), Some(tmp)) = (&output.out, staged) {
        match secret {
            Some(secret) => {
                tmp.commit(format!("{secret}\n").as_bytes())?;
                note.push_str(&format!("; wrote it to {} (mode 0600)", path.display()));
                report[field] = Value::Null;
                report["out"] = json!(path);
            }
            None => note.push_str(&format!("; no token to write, {} left as it was", path.display())),
        }
    }
    if output.json {
        super::write_stdout(format!("{report}\n").as_bytes())?;
    } else {
        if output.out.is_none()
            && let Some(secret) = secret
        {
            super::write_stdout(format!("{secret}\n").as_bytes())?;
            note.push_str(" (shown once, above)");
        }
        eprintln!("relay: {note}");
    }
    Ok(ExitCode::SUCCESS)
}
