//! Command-line definitions (clap derive). Doc comments here are the
//! `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A durable, local-first coordination relay for AI coding agents.
///
/// Agents in separate terminals register under names, message each other
/// and share channels through one SQLite store. Each agent's MCP config
/// starts `relay serve --agent NAME`.
#[derive(Debug, Parser)]
#[command(name = "relay", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The SQLite store [default: ~/.local/share/relay/relay.db on Linux].
    #[arg(long, global = true, env = "RELAY_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Only log errors (to stderr).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log more to stderr; repeat for more detail (-vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server for one agent (what an agent's MCP config starts).
    ///
    /// Speaks MCP over stdio: stdout carries only JSON-RPC, logs go to
    /// stderr. With --agent, the session is bound to that agent from the
    /// start (registering it if new); otherwise the model calls
    /// register_agent first.
    Serve(ServeArgs),

    /// Print shell completions, generated from these definitions.
    ///
    /// Example: `relay completions bash > ~/.local/share/bash-completion/completions/relay`.
    Completions(CompletionsArgs),

    /// Print the man page (roff), generated from these definitions.
    ///
    /// Example: `relay man | man -l -`. With --out-dir, writes relay.1 and
    /// one page per subcommand (relay-serve.1, …).
    Man(ManArgs),
}

/// `relay completions` options.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to print completions for.
    #[arg(value_enum, required_unless_present = "out_dir")]
    pub shell: Option<clap_complete::Shell>,

    /// Write completions for every shell into DIR (relay.bash, _relay,
    /// relay.fish, _relay.ps1, relay.elv) instead of printing one.
    #[arg(long, value_name = "DIR", conflicts_with = "shell")]
    pub out_dir: Option<PathBuf>,
}

/// `relay man` options.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write relay.1 and one page per subcommand into DIR instead of
    /// printing relay.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Transports `relay serve` can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// MCP over stdin/stdout, newline-delimited JSON-RPC.
    Stdio,
}

/// `relay serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The transport to speak.
    #[arg(long, value_enum, default_value = "stdio")]
    pub transport: Transport,

    /// Bind this session to agent NAME, registering it if new.
    #[arg(long, env = "RELAY_AGENT", value_name = "NAME")]
    pub agent: Option<String>,

    /// The agent's role (e.g. reviewer, builder); used with --agent.
    #[arg(long, env = "RELAY_ROLE", value_name = "ROLE", requires = "agent")]
    pub role: Option<String>,

    /// Comma-separated capabilities granted to --agent: tasks, broadcast,
    /// channels, webhooks, spawn, admin.
    #[arg(
        long,
        env = "RELAY_CAPABILITIES",
        value_name = "CAPS",
        value_delimiter = ',',
        requires = "agent"
    )]
    pub capabilities: Option<Vec<String>>,
}
