//! `relay serve`: the MCP server an agent's MCP config starts.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::config::Settings;

/// Opens the store, binds `--agent` if given, and serves MCP on stdio
/// until the client closes stdin.
///
/// Errors (exit 2): the store cannot be opened, or `--agent` is not a
/// valid name or belongs to a revoked agent.
pub fn run(args: &ServeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = Arc::new(settings.open_store()?);
    // An empty `RELAY_AGENT=` (or role, or capability) in an MCP config
    // means "not set".
    let role = args.role.as_deref().filter(|r| !r.is_empty());
    let capabilities: Option<Vec<String>> = args.capabilities.as_ref().map(|caps| {
        caps.iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    });
    let agent = match args.agent.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => Some(
            store
                .bind_agent(name, role, capabilities.as_deref(), crate::store::Transport::Stdio)
                .with_context(|| format!("cannot bind this session to agent {name:?}"))?,
        ),
        None => None,
    };
    if std::io::stdin().is_terminal() {
        eprintln!(
            "relay serve speaks MCP (JSON-RPC) on stdin/stdout and is meant to be started by an MCP \
             client; see `relay serve --help`. Press Ctrl-D to quit."
        );
    }
    // The runtime thread only routes messages: store calls run on the
    // store thread (group commit), stdin and stdout have threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(crate::mcp::serve_stdio(
        store,
        agent.map(|a| a.name),
        settings.clone(),
        args.channel,
        args.notify,
        args.spawn_mode,
    ))?;
    Ok(ExitCode::SUCCESS)
}
