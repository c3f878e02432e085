//! `relay agents`: the agents of the store, for people (a table) and
//! scripts (`--json`), read directly from the store (SPEC §2, §5).

use std::process::ExitCode;

use crate::cli::AgentsArgs;
use crate::config::Settings;
use crate::store::agents::credentials::Listed;

/// Lists every agent: name, role, presence, declared status, auth state
/// (with its grace or recovery deadline), capabilities and last seen.
/// `--json` prints an array of agent objects (the fields of
/// `discover_agents` plus `has_token`, `grace_until` and
/// `recovery_expires_at`).
///
/// Exit codes: 0 (also for an empty store), 2 when the store cannot be
/// opened.
pub fn run(args: &AgentsArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = settings.open_store()?;
    let agents = store.list_agents()?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&agents)?)
    } else if agents.is_empty() {
        format!("no agents in {}\n", settings.db.display())
    } else {
        table(&agents)
    };
    super::write_stdout(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The agents as an aligned table with a header line.
pub fn table(agents: &[Listed]) -> String {
    let header = [
        "NAME",
        "ROLE",
        "PRESENCE",
        "STATUS",
        "AUTH",
        "CAPABILITIES",
        "LAST SEEN",
    ];
    let rows: Vec<[String; 7]> = agents
        .iter()
        .map(|l| {
            let a = &l.agent;
            let auth = match (&l.grace_until, &l.recovery_expires_at) {
                (Some(until), _) => format!("{} until {until}", a.auth_state),
                (None, Some(until)) => format!("{} until {until}", a.auth_state),
                (None, None) if !l.has_token && a.auth_state.may_act() => format!("{} (no token)", a.auth_state),
                (None, None) => a.auth_state.to_string(),
            };
            let presence = serde_json::to_value(a.presence)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            [
                a.name.clone(),
                if a.role.is_empty() { "-".into() } else { a.role.clone() },
                presence,
                a.status.to_string(),
                auth,
                if a.capabilities.is_empty() {
                    "-".into()
                } else {
                    a.capabilities.join(",")
                },
                a.last_seen.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    out
}
