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

    /// The config file [default: ~/.config/relay/config.toml on Linux].
    #[arg(long, global = true, env = "RELAY_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

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

    /// Claim tasks addressed to an agent and run them (a headless worker).
    ///
    /// Each task is accepted under a lease, heartbeated every lease/4 and
    /// completed with its fencing token. With a command after `--`, the
    /// shell executor runs it: the task description on stdin, stdout is the
    /// result, exit 0 completes and non-zero fails with stderr's tail.
    /// `--executor codex` or `claude` runs those CLIs with the task as the
    /// prompt. Write tasks are refused unless --allow-writes. SIGTERM or
    /// Ctrl-C releases read-only tasks in flight and parks write tasks.
    ///
    /// Example: `relay worker --agent builder -- sh -c 'cargo build 2>&1'`.
    Worker(WorkerArgs),

    /// Claude Code hook handler: print new relay mail and tasks as context.
    ///
    /// What the hooks from `relay generate-hooks` run. Reads the hook JSON
    /// on stdin and prints the hook output JSON: for session-start and
    /// post-tool-use, `hookSpecificOutput.additionalContext` with a short
    /// summary (senders and ids, never message text); for stop, `decision:
    /// block` when new mail arrived (not when `stop_hook_active`). Prints
    /// nothing when nothing is new. Always exits 0: a hook must never break
    /// the session.
    Hook(HookArgs),

    /// Print (or merge into a settings file) the Claude Code hooks that run
    /// `relay hook`.
    ///
    /// Example: `relay generate-hooks --agent frontend --write .claude/settings.json`.
    GenerateHooks(GenerateHooksArgs),

    /// Follow relay events live: messages, channel posts, tasks, agents.
    ///
    /// The operator's window into what the agents are doing. Shows ids and
    /// names, never message text. Runs until interrupted.
    Tail(TailArgs),

    /// Set relay up: write the config file, create the store, print MCP
    /// configs to paste into Claude Code, Codex and Cursor.
    ///
    /// Asks on a terminal (transport, store path, this terminal's agent
    /// name, encryption at rest, install the Claude Code hooks?); `--yes`
    /// takes the defaults.
    Init(InitArgs),

    /// Self-check on a throwaway store: real relay processes, end to end.
    ///
    /// Starts `relay serve` children and speaks MCP to them: a message, a
    /// wake-up notification, a task through a `relay worker`, a backup and a
    /// restore. PASS/FAIL per step; exit 0 when all pass. Your own store is
    /// never touched.
    Test(SelfTestArgs),

    /// Check that relay can work here: PASS/WARN/FAIL per check.
    ///
    /// Store opens, schema current, quick_check, WAL, permissions, free
    /// disk (sized on the store and its WAL), writes not stuck (naming the
    /// process that holds the write lock, and whether it is stopped),
    /// backup leftovers, Claude Code hooks and MCP configs that reference
    /// relay, other relay processes (with pids). Every FAIL says how to fix
    /// it. Exit 0 with no FAIL, else 1.
    Doctor(DoctorArgs),

    /// Write a consistent backup of the store (tar.gz), safe while agents run.
    ///
    /// The archive holds `relay.db` (a `VACUUM INTO` snapshot) and
    /// `manifest.json` (schema and relay versions, time, rows per table).
    /// Default: `backups/relay-<time>.tar.gz` beside the store. Silent unless
    /// on a terminal or `--json`, so it suits cron. Works in a private
    /// `.relay-backup-tmp-*` directory (0700, files 0600) beside the store,
    /// removed on every exit, SIGINT, SIGTERM and SIGHUP included; one left
    /// by a killed run is removed by the next backup.
    Backup(BackupArgs),

    /// Replace the store with a backup (stop every relay process first).
    ///
    /// Verifies the archive, its manifest and the database's integrity
    /// before touching anything, writes a safety backup, then swaps the
    /// file in atomically. Refuses while any process has the store open
    /// (DAEMON_RUNNING, exit 1, naming the pids), found by SQLite's own
    /// locks and open file descriptors, not only by `relay.db.lock`.
    Restore(RestoreArgs),

    /// List the agents of the store: presence, auth state, role, capabilities.
    ///
    /// Reads the store directly (no hub needed). `--json` prints an array
    /// of agent objects for scripts.
    Agents(AgentsArgs),

    /// Issue, rotate or revoke agent tokens, with no model in the loop.
    ///
    /// Works on the store directly and is audited with your OS user. A new
    /// token is printed once (or written to --out FILE, mode 0600): hand it
    /// to an HTTP client as its X-Agent-Token.
    Token(TokenArgs),

    /// Join this machine to a hub: register an agent there, keep its token.
    ///
    /// Checks the hub's /health (refusing an incompatible hub with the
    /// reason), registers NAME through MCP, keeps the token in a 0600 file
    /// under the config dir and prints the HTTP MCP configs for Claude Code,
    /// Codex and Cursor. `relay worker`, `relay hook` and `relay tail` on
    /// this machine then find the hub and token by the agent's name. The
    /// hub secret comes from --secret-file or RELAY_HTTP_SECRET.
    ///
    /// Example: `RELAY_HTTP_SECRET=$(cat hub.secret) relay pair https://hub.example:3777 --name laptop-claude`.
    Pair(PairArgs),

    /// Clear an agent's lost token so its name can be registered again.
    ///
    /// Its messages, tasks and channel memberships stay. The next
    /// `register_agent` for the name gets a new token (a `relay serve
    /// --agent NAME` process binds it as before). Audited with your OS user.
    Recover(RecoverArgs),

    /// Move encrypted values to another key of the keyring (rotation).
    ///
    /// Encryption at rest is opt-in: a keyring from RELAY_ENCRYPTION_KEYRING,
    /// RELAY_ENCRYPTION_KEYRING_PATH or the config's [encryption]
    /// keyring_path. To rotate: add the new key and make it `current`,
    /// restart the agents, run `relay re-encrypt --to NEW`, check with
    /// `relay re-encrypt --verify-clean OLD`, then drop OLD from the
    /// keyring. Plain values written before the keyring move too. Safe
    /// while agents run (short batches, compare-and-set per row) and
    /// resumable: run the same command again after an interruption.
    /// Exit 0 done (or clean, or stopped at --max-batches); 1
    /// --verify-clean found the key in use, values kept being written
    /// under another key, or another re-encrypt is running; 2 keyring or
    /// store error.
    #[command(name = "re-encrypt")]
    ReEncrypt(ReEncryptArgs),

    /// Refuse git commits that touch files another agent reserved exclusively.
    ///
    /// Agents reserve files with the reserve_paths tool (SPEC §9). `relay
    /// guard install` writes a git pre-commit hook that runs `relay guard
    /// check`, which refuses the commit (exit 1) when a staged path is
    /// covered by a live exclusive reservation of another agent, naming
    /// the holder, its glob, its reason and its expiry. The committing
    /// agent is RELAY_AGENT, else the --agent given at install.
    /// RELAY_GUARD=off skips the check (and says so on stderr).
    ///
    /// Example: `relay guard install --agent frontend`.
    Guard(GuardArgs),

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

/// `relay guard` options.
#[derive(Debug, Clone, Args)]
pub struct GuardArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: GuardAction,
}

/// `relay guard` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum GuardAction {
    /// Write the git pre-commit hook that runs `relay guard check`.
    ///
    /// The hook goes where git looks for hooks (core.hooksPath, else
    /// .git/hooks), mode 0755. Installing again updates relay's own hook.
    /// A pre-commit hook that is not relay's is left alone unless --chain
    /// (it is kept as pre-commit.relay-chained and runs first) or --force
    /// (it is replaced, and kept as pre-commit.relay-backup). The hook
    /// calls this relay binary by its path (relay on PATH if it moved)
    /// with this --db. Exit 0 installed, 1 a foreign hook is in the way,
    /// 2 not a git repository or the hook cannot be written.
    Install(GuardInstallArgs),

    /// Check staged paths (or PATHS) against the reservations: what the hook runs.
    ///
    /// Finds the repository root and its remotes (reservations made under
    /// the root's path or any remote URL count), lists the staged paths
    /// (`git diff --cached --name-only --no-renames`) and looks for live
    /// exclusive reservations of agents other than --agent (RELAY_AGENT)
    /// that cover them; with no agent named, every exclusive reservation
    /// counts. Reads the local store (--db, RELAY_DB); no store means
    /// nothing is reserved. RELAY_GUARD=off (or 0, false, no) bypasses the
    /// check, saying so on stderr. Exit 0 clear (or bypassed), 1 a path is
    /// reserved by another agent, 2 not a git repository or the store
    /// cannot be read.
    Check(GuardCheckArgs),
}

/// `relay guard install` options.
#[derive(Debug, Clone, Args)]
pub struct GuardInstallArgs {
    /// The repository (any directory inside it) [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// The agent that commits in this repository, baked into the hook;
    /// RELAY_AGENT at commit time overrides it.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Replace a pre-commit hook that is not relay's (it is kept as
    /// pre-commit.relay-backup).
    #[arg(long, conflicts_with = "chain")]
    pub force: bool,

    /// Keep a pre-commit hook that is not relay's and run it first (it is
    /// moved to pre-commit.relay-chained).
    #[arg(long)]
    pub chain: bool,
}

/// `relay guard check` options.
#[derive(Debug, Clone, Args)]
pub struct GuardCheckArgs {
    /// The repository (any directory inside it) [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// The committing agent: its own reservations never block it.
    #[arg(long, env = "RELAY_AGENT", value_name = "NAME")]
    pub agent: Option<String>,

    /// Print a JSON report on stdout (ok, bypassed, repository, projects,
    /// agent, checked, blocked).
    #[arg(long)]
    pub json: bool,

    /// Paths relative to the repository root to check instead of the
    /// staged ones.
    #[arg(value_name = "PATHS")]
    pub paths: Vec<String>,
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
    /// The HTTP hub: MCP Streamable HTTP at /mcp, many agents, each by its
    /// X-Agent-Token; the live dashboard at / (counts only until the
    /// operator enters the hub secret).
    Http,
    /// Both in one process: the --agent on stdio, and the hub.
    Both,
}

/// `relay serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The transport to speak.
    #[arg(long, value_enum, default_value = "stdio")]
    pub transport: Transport,

    /// The address the hub binds (http, both). A non-loopback address
    /// needs a hub secret. [default: 127.0.0.1, or [http] host]
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// The hub's port (http, both); 0 lets the OS choose. The bound URL is
    /// logged on stderr as `listening on http://HOST:PORT/mcp`, then
    /// `dashboard at http://HOST:PORT/`.
    /// [default: 3777, or [http] port]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Bind this session to agent NAME, registering it if new.
    #[arg(long, env = "RELAY_AGENT", value_name = "NAME")]
    pub agent: Option<String>,

    /// The agent's role (e.g. reviewer, builder); used with --agent.
    #[arg(long, env = "RELAY_ROLE", value_name = "ROLE", requires = "agent")]
    pub role: Option<String>,

    /// Push Claude Code channel notifications (`notifications/claude/channel`)
    /// when mail, tasks or channel posts arrive: a fixed envelope with ids
    /// only, never the message text. Start Claude Code with
    /// `--channels` to receive them.
    #[arg(long)]
    pub channel: bool,

    /// How the spawn_agent tool opens terminals: auto (a terminal emulator
    /// on a desktop, else tmux), tmux, terminal, or dry-run (only return
    /// the command).
    #[arg(long, env = "RELAY_SPAWN_MODE", value_enum, default_value = "auto")]
    pub spawn_mode: crate::mcp::spawn::SpawnMode,

    /// Show a desktop notification (notify-send, osascript, PowerShell)
    /// when mail, tasks or channel posts arrive: at most one per 10 s,
    /// sender and kind only. A missing notifier is a warning, not an error.
    #[arg(long)]
    pub notify: bool,

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

/// Executors `relay worker` can run tasks with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// The command after `--` (no shell unless you run one).
    Shell,
    /// `codex exec … -- PROMPT` (read-only sandbox; workspace-write for write tasks).
    Codex,
    /// `claude -p … -- PROMPT` (plan mode; acceptEdits for write tasks).
    Claude,
}

/// `relay worker` options.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The agent whose tasks to claim (registered with the tasks capability if new).
    #[arg(long, env = "RELAY_AGENT", value_name = "NAME")]
    pub agent: String,

    /// How to run tasks [default: shell when a command follows `--`].
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,

    /// Run write tasks too (without it they fail and the executor never starts).
    #[arg(long)]
    pub allow_writes: bool,

    /// Drain the tasks there are now, then exit.
    #[arg(long)]
    pub once: bool,

    /// Tasks to run at the same time (1-64).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Lease per claim in seconds; the worker heartbeats every quarter of it.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub lease_seconds: u32,

    /// Kill a task's process after this many seconds and fail the task.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub timeout_seconds: Option<u64>,

    /// Working directory for the executor [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,

    /// Print one JSON object per finished task instead of a line of text.
    #[arg(long)]
    pub json: bool,

    /// Reach a hub instead of a local store.
    #[command(flatten)]
    pub remote: HubArgs,

    /// The command for the shell executor, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `relay hook` options.
#[derive(Debug, Clone, Args)]
pub struct HookArgs {
    /// The hook event: session-start, post-tool-use or stop.
    #[arg(value_name = "EVENT")]
    pub event: String,

    /// The agent whose mail to report.
    #[arg(long, env = "RELAY_AGENT", value_name = "NAME")]
    pub agent: Option<String>,

    /// Reach a hub instead of a local store.
    #[command(flatten)]
    pub remote: HubArgs,
}

/// `relay generate-hooks` options.
#[derive(Debug, Clone, Args)]
pub struct GenerateHooksArgs {
    /// The agent the hooks report for (baked into the hook commands).
    #[arg(long, env = "RELAY_AGENT", value_name = "NAME")]
    pub agent: String,

    /// Merge the hooks into this Claude Code settings file (created if
    /// missing), keeping every other setting; running it again changes
    /// nothing.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

/// `relay tail` options.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// Only events to or from this agent.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Print one JSON object per event instead of a line of text.
    #[arg(long)]
    pub json: bool,

    /// Start with the last N events already stored.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub last: usize,

    /// Reach a hub instead of a local store.
    #[command(flatten)]
    pub remote: HubArgs,
}

/// How a remote client (`relay worker`, `hook`, `tail`) reaches a hub
/// instead of a local store (SPEC §7).
#[derive(Debug, Clone, Default, Args)]
pub struct HubArgs {
    /// Work against the hub at URL (e.g. https://hub.example:3777) instead
    /// of a local store [default: the hub `relay pair` paired the agent with].
    #[arg(long, env = "RELAY_HUB", value_name = "URL")]
    pub hub: Option<String>,

    /// File holding the agent's token (X-Agent-Token) [default: the file
    /// `relay pair` wrote; env RELAY_AGENT_TOKEN holds the token itself].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// File holding the hub secret [default: env RELAY_HTTP_SECRET].
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

/// `relay agents` options.
#[derive(Debug, Clone, Args)]
pub struct AgentsArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `relay token` options.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TokenAction,
}

/// `relay token` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenAction {
    /// Give an agent a fresh token now (registering it if new), e.g. for a
    /// script or an HTTP client. Any previous token stops working at once.
    Issue(TokenIssueArgs),

    /// Replace an agent's token; the old one stays valid for --grace-seconds.
    Rotate(TokenRotateArgs),

    /// Revoke an agent's token: its next call fails with AUTH_FAILED and its
    /// HTTP sessions close. Prints a one-time recovery token unless
    /// --no-recovery.
    Revoke(TokenRevokeArgs),
}

/// Where a new token or recovery token goes.
#[derive(Debug, Clone, Args)]
pub struct TokenOutput {
    /// Write the token to FILE (created 0600, replaced atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print the result as JSON (the token included unless --out).
    #[arg(long)]
    pub json: bool,
}

/// `relay token issue` options.
#[derive(Debug, Clone, Args)]
pub struct TokenIssueArgs {
    /// The agent.
    #[arg(value_name = "AGENT")]
    pub agent: String,

    /// Role for a new agent; replaces an existing agent's when given.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// Capabilities, comma-separated (tasks, broadcast, channels, webhooks, spawn, admin, or routing labels): a new agent's, or replacing an existing agent's when given.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub capabilities: Option<Vec<String>>,

    /// Where the token goes.
    #[command(flatten)]
    pub output: TokenOutput,
}

/// `relay token rotate` options.
#[derive(Debug, Clone, Args)]
pub struct TokenRotateArgs {
    /// The agent.
    #[arg(value_name = "AGENT")]
    pub agent: String,

    /// Seconds the old token keeps working (0-3600).
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub grace_seconds: u32,

    /// Where the token goes.
    #[command(flatten)]
    pub output: TokenOutput,
}

/// `relay token revoke` options.
#[derive(Debug, Clone, Args)]
pub struct TokenRevokeArgs {
    /// The agent.
    #[arg(value_name = "AGENT")]
    pub agent: String,

    /// Issue no recovery token: the agent stays revoked until `relay recover`.
    #[arg(long)]
    pub no_recovery: bool,

    /// Where the recovery token goes.
    #[command(flatten)]
    pub output: TokenOutput,
}

/// `relay pair` options.
#[derive(Debug, Clone, Args)]
pub struct PairArgs {
    /// The hub's base URL, e.g. https://hub.example:3777 (its /mcp endpoint is found from it).
    #[arg(value_name = "HUB_URL")]
    pub hub: String,

    /// The agent name to register at the hub for this machine.
    #[arg(long, env = "RELAY_AGENT", value_name = "NAME")]
    pub name: String,

    /// Its role.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// Its capabilities, comma-separated (a hub grants an anonymous registration only tasks, broadcast, channels) [default: tasks, so `relay worker` can run its tasks].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub capabilities: Vec<String>,

    /// One line on what the agent does.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// File holding the hub secret [default: env RELAY_HTTP_SECRET].
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `relay recover` options.
#[derive(Debug, Clone, Args)]
pub struct RecoverArgs {
    /// The agent whose credentials to clear.
    #[arg(value_name = "AGENT")]
    pub agent: String,

    /// Do not ask for confirmation (needed when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `relay re-encrypt` options.
#[derive(Debug, Clone, Args)]
pub struct ReEncryptArgs {
    /// Seal every value with key KID (in the keyring; normally its `current`).
    #[arg(
        long,
        value_name = "KID",
        required_unless_present = "verify_clean",
        conflicts_with = "verify_clean"
    )]
    pub to: Option<String>,

    /// Move only values sealed with key KID (default: plain values and
    /// every key but --to).
    #[arg(long, value_name = "KID", requires = "to")]
    pub from: Option<String>,

    /// Rows read per batch; each batch's writes are one short transaction.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,

    /// Stop after N batches (run the same command again to go on).
    #[arg(long, value_name = "N", requires = "to")]
    pub max_batches: Option<u64>,

    /// Count what would move; change nothing.
    #[arg(long, requires = "to")]
    pub dry_run: bool,

    /// Exit 0 only when no stored value is sealed with key KID (check
    /// before removing KID from the keyring).
    #[arg(long, value_name = "KID")]
    pub verify_clean: Option<String>,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `relay backup` options.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write: a file, or a directory (ending in `/` or existing).
    #[arg(long, short, value_name = "FILE|DIR/")]
    pub output: Option<PathBuf>,

    /// Keep only the newest N backups in the output directory.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,

    /// Print the result (path, manifest, pruned files) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `relay restore` options.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup archive (from `relay backup`).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// Do not ask for confirmation (needed when not on a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Restore a backup with an older schema (migrated when next opened).
    #[arg(long)]
    pub force: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `relay doctor` options.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,

    /// Check the HTTP hub at URL instead of the local store: reachable
    /// (GET /health), relay version and protocol revisions, whether /mcp
    /// demands the hub secret (and accepts yours), and, given a token,
    /// which agent it names. URL is the hub's MCP endpoint
    /// (http://HOST:PORT/mcp) or its base. Waits at most 3 s to connect and
    /// 5 s per request.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,

    /// With --remote: a file holding the hub secret to check (whitespace
    /// around it is ignored) [default: the RELAY_HTTP_SECRET variable].
    /// There is no flag for the secret itself: other users can read a
    /// command line.
    #[arg(long, value_name = "PATH", requires = "remote")]
    pub secret_file: Option<PathBuf>,

    /// With --remote: a file holding an agent token (register_agent's
    /// reply) to check [default: the RELAY_AGENT_TOKEN variable].
    #[arg(long, value_name = "PATH", requires = "remote")]
    pub token_file: Option<PathBuf>,
}

/// `relay init` options.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Take the defaults; ask nothing.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Overwrite an existing config file.
    #[arg(long)]
    pub force: bool,

    /// The agent name for this terminal [default: the current directory's name].
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,

    /// Merge the Claude Code hooks into ./.claude/settings.json.
    #[arg(long)]
    pub install_hooks: bool,

    /// The transport the agents' MCP configs use: stdio (each MCP client
    /// starts its own relay serve), http (they all talk to one hub) or both
    /// (this terminal's relay serve also runs the hub).
    #[arg(long, value_enum, default_value = "stdio")]
    pub transport: Transport,

    /// The hub's MCP endpoint that the HTTP client configs name (with
    /// --transport http or both).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:3777/mcp")]
    pub hub_url: String,

    /// Encrypt message, channel and task text at rest: writes a new
    /// keyring (keyring.json, 0600, beside the config file; an existing
    /// one is kept) and points the config at it. Back the keyring up
    /// separately: `relay backup` does not include it.
    #[arg(long)]
    pub encrypt: bool,
}

/// `relay test` options.
#[derive(Debug, Clone, Args)]
pub struct SelfTestArgs {
    /// Print the steps as JSON.
    #[arg(long)]
    pub json: bool,
}
