//! `relay serve`: the MCP server an agent's MCP config starts.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::store::Store;

/// Opens the store, binds `--agent` if given, and serves MCP on stdio
/// until the client closes stdin.
pub fn run(args: &ServeArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = Arc::new(Store::open(
        &settings.db,
        Arc::new(SystemClock),
        settings.limits,
    )?);
    let agent = match &args.agent {
        Some(name) => Some(
            store
                .bind_agent(
                    name,
                    args.role.as_deref(),
                    args.capabilities.as_deref(),
                    "stdio",
                )
                .with_context(|| format!("cannot bind this session to agent {name:?}"))?,
        ),
        None => None,
    };
    // One store connection per process: a single blocking thread runs
    // store calls in arrival order, so a pipelined burst neither spawns a
    // thread per request nor reorders one session's writes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(crate::mcp::serve_stdio(
        store,
        agent.map(|a| a.name),
        settings.clone(),
    ))?;
    Ok(ExitCode::SUCCESS)
}
