//! Logging to stderr (never stdout: in `relay serve` stdout carries only
//! JSON-RPC). `RELAY_LOG` (an `EnvFilter` directive such as `relay=debug`)
//! overrides `-q`/`-v`.
//!
//! No level prints a token, a secret, keyring material or content. relay's
//! own events carry only metadata (tool names, error codes, ids, counts),
//! and the MCP library's events are capped at [`RMCP_MAX_LEVEL`] whatever
//! `-v` or `RELAY_LOG` asks for: from `info` down, rmcp logs whole
//! requests, replies and notifications (`received request`, `response
//! message`, `received notification`), which hold bearer tokens and message
//! text.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The most verbose level at which events of the `rmcp` crate reach stderr.
/// rmcp 3.9 at `warn` and `error` logs transport failures and rejected
/// requests (ids and rmcp's own messages); at `info` it logs each client
/// notification in full, at `debug` each request and reply.
pub const RMCP_MAX_LEVEL: LevelFilter = LevelFilter::WARN;

/// The `rmcp` level at the default verbosity: rmcp logs every JSON-RPC
/// error it answers (`response error`, `rejected peer request`) at
/// `warn`, and an error the client already got is not also an operator's
/// warning. `-v` (or `RELAY_LOG`) shows them, up to [`RMCP_MAX_LEVEL`].
pub const RMCP_DEFAULT_LEVEL: LevelFilter = LevelFilter::ERROR;

/// Installs the stderr logger; level from `-q` (error), default (warn),
/// `-v` (info), `-vv` (debug), `-vvv` (trace). `RELAY_LOG`, when set and
/// valid, replaces that level; neither lifts the cap on `rmcp`.
pub fn init(args: &crate::cli::GlobalArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let from_env = EnvFilter::try_from_env("RELAY_LOG").ok();
    let rmcp_level = if from_env.is_some() || args.verbose > 0 {
        RMCP_MAX_LEVEL
    } else {
        RMCP_DEFAULT_LEVEL
    };
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(level));
    // A second per-layer filter: an event must pass both, so no directive
    // in `RELAY_LOG` (`trace`, `rmcp=trace`) can let rmcp's payloads through.
    let cap = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("rmcp", rmcp_level);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter)
        .with_filter(cap);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
