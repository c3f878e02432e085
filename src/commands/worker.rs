//! `relay worker`: the headless task runner (SPEC §4 Workers), on the
//! local store or, with `--hub URL` or a pairing of `--agent` (`relay
//! pair`), at a hub over MCP (SPEC §7) without touching any store here.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::cli::{ExecutorKind, WorkerArgs};
use crate::config::Settings;
use crate::worker::{self, Config, Executor};

/// Runs the worker until `--once` drains or SIGTERM/Ctrl-C; prints a line
/// (or, with `--json`, a JSON object) per finished task on stdout.
///
/// Errors (exit 2): a bad executor/command combination, the store cannot
/// be opened, the agent cannot be bound; remote: no token (pointing at
/// `relay pair`), the hub refuses the token or cannot be reached at start.
pub fn run(args: &WorkerArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let executor = match (args.executor, args.command.split_first()) {
        (None | Some(ExecutorKind::Shell), Some((program, rest))) => Executor::Shell {
            program: program.clone(),
            args: rest.to_vec(),
        },
        (None | Some(ExecutorKind::Shell), None) => {
            bail!(
                "give the command to run after `--` (e.g. `relay worker --agent NAME -- ./run-task.sh`), or pick --executor codex|claude"
            )
        }
        (Some(ExecutorKind::Codex), None) => Executor::Codex,
        (Some(ExecutorKind::Claude), None) => Executor::Claude,
        (Some(kind), Some(_)) => bail!("--executor {kind:?} takes no command after `--`; the task is its prompt"),
    };
    let cwd = match &args.cwd {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    crate::store::validate::agent_name(&args.agent)?;
    let config_dir = crate::remote::pairing::config_dir(settings.config_file.as_deref())?;
    let backend = match crate::remote::Target::resolve(&args.remote, Some(&args.agent), &config_dir)? {
        Some(target) => {
            let token = target.require_token(&args.agent)?.clone();
            let inbox = format!("relay://inbox/{}", args.agent);
            let session = crate::remote::session::HubSession::new(
                target.hub.clone(),
                Some(token),
                target.secret.clone(),
                Some(inbox),
            )?;
            tracing::info!(hub = %target.hub.base, agent = %args.agent, "working for the hub");
            worker::Backend::Hub(Arc::new(worker::backend::HubTasks::new(session)))
        }
        None => worker::Backend::Local(Arc::new(settings.open_store()?)),
    };
    let config = Config {
        agent: args.agent.clone(),
        executor,
        allow_writes: args.allow_writes,
        once: args.once,
        concurrency: usize::from(args.concurrency),
        lease_seconds: args.lease_seconds,
        timeout: args.timeout_seconds.map(std::time::Duration::from_secs),
        cwd,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = args.json;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("shutting down: releasing read-only tasks, parking write tasks");
            signals.cancel();
        });
        let closing = backend.clone();
        let done = worker::run_on(backend, config, shutdown, |report| {
            let line = if json {
                serde_json::to_string(report).unwrap_or_default()
            } else {
                report.line()
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        })
        .await;
        closing.close().await;
        done
    })?;
    Ok(ExitCode::SUCCESS)
}
