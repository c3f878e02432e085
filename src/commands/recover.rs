//! `relay recover AGENT`: clear a lost token (SPEC §5).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;

use crate::cli::RecoverArgs;
use crate::config::Settings;

/// The OS user running the command, for the audit log.
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", nix::unistd::getuid()))
}

/// Clears the agent's credentials after a confirmation (or `--yes`).
///
/// Exit codes: 0 done (or dry run), 1 unknown agent or declined, 2 store
/// error or not confirmable (no terminal and no `--yes`).
pub fn run(args: &RecoverArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    crate::store::validate::agent_name(&args.agent)?;
    let store = settings.open_store()?;
    let Some(agent) = store.agent(&args.agent)? else {
        eprintln!("relay: no agent named {:?} in {}", args.agent, settings.db.display());
        return Ok(ExitCode::from(1));
    };
    let unread = store.unread_count(&args.agent)?;
    if args.dry_run {
        let plan = format!(
            "would clear the credentials of {:?} (state {}); its {} unread message(s) and its tasks stay",
            agent.name, agent.auth_state, unread
        );
        if args.json {
            println!(
                "{}",
                json!({ "dry_run": true, "agent": agent, "unread_messages": unread })
            );
        } else {
            println!("{plan}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "not on a terminal: pass --yes to clear the credentials of {:?}",
                args.agent
            );
        }
        let prompt = format!(
            "Clear the token of {:?} so its name can be registered again? Its mail and tasks stay.",
            args.agent
        );
        if !dialoguer::Confirm::new()
            .with_prompt(prompt)
            .default(false)
            .interact()?
        {
            eprintln!("relay: nothing changed");
            return Ok(ExitCode::from(1));
        }
    }
    let agent = store.recover_agent(&args.agent, &os_user())?;
    if args.json {
        println!(
            "{}",
            json!({ "recovered": true, "agent": agent, "unread_messages": unread })
        );
    } else {
        println!(
            "recovered {:?}: the next register_agent (or relay serve --agent {}) gets a new token; {} unread message(s) kept",
            agent.name, agent.name, unread
        );
    }
    Ok(ExitCode::SUCCESS)
}
