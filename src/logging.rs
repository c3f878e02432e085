//! Logging to stderr (never stdout: in `relay serve` stdout carries only
//! JSON-RPC). `RELAY_LOG` (an `EnvFilter` directive such as `relay=debug`)
//! overrides `-q`/`-v`.

use tracing_subscriber::EnvFilter;

use crate::cli::GlobalArgs;

/// Installs the stderr logger; level from `-q` (error), default (warn),
/// `-v` (info), `-vv` (debug), `-vvv` (trace).
pub fn init(args: &GlobalArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("RELAY_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
