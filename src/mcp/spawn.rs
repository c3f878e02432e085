//! `spawn_agent`: open a new agent terminal pre-configured with `relay
//! serve --agent NAME` (SPEC §3.1, capability `spawn`).
//!
//! The agent CLI (Claude Code by default; `RELAY_SPAWN_COMMAND` to change)
//! is started with an inline `--mcp-config` that runs this relay binary
//! for the new agent, in tmux (headless), a terminal emulator (desktop),
//! or not at all (`--spawn-mode dry-run`: the command is returned). Every
//! argument is passed as its own argv element; no shell ever parses them
//! (on macOS, where Terminal only takes a command line, each piece is
//! shell-quoted). The initial message goes through the new agent's inbox,
//! never onto a command line.

use std::path::Path;

use serde::Serialize;

/// How `spawn_agent` opens the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpawnMode {
    /// A terminal emulator on a desktop, else tmux.
    Auto,
    /// A detached tmux session named `relay-NAME`.
    Tmux,
    /// A terminal emulator (x-terminal-emulator, gnome-terminal, konsole,
    /// xterm; Terminal on macOS).
    Terminal,
    /// Start nothing; return the command.
    DryRun,
}

/// What `spawn_agent` should start.
#[derive(Debug, Clone)]
pub struct Spawn<'a> {
    /// The new agent's name (validated).
    pub name: &'a str,
    /// Its role.
    pub role: &'a str,
    /// Its capabilities.
    pub capabilities: &'a [String],
    /// The store it must share.
    pub db: &'a Path,
    /// Where the terminal starts.
    pub cwd: &'a Path,
    /// Whether an initial message waits in its inbox.
    pub has_message: bool,
}

/// The agent CLI's argv: `claude --mcp-config JSON PROMPT` (the program
/// from `RELAY_SPAWN_COMMAND` if set).
pub fn agent_argv(s: &Spawn<'_>) -> Vec<String> {
    let relay = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "relay".into());
    let mut serve = vec![
        "--db".to_owned(),
        s.db.display().to_string(),
        "serve".into(),
        "--agent".into(),
        s.name.into(),
    ];
    if !s.role.is_empty() {
        serve.extend(["--role".to_owned(), s.role.to_owned()]);
    }
    if !s.capabilities.is_empty() {
        serve.extend(["--capabilities".to_owned(), s.capabilities.join(",")]);
    }
    let config = serde_json::json!({ "mcpServers": { "relay": { "command": relay, "args": serve } } });
    let program = std::env::var("RELAY_SPAWN_COMMAND")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "claude".into());
    let prompt = if s.has_message {
        format!(
            "You are the agent {:?} on relay. A message is waiting for you: read your relay inbox and act on it.",
            s.name
        )
    } else {
        format!(
            "You are the agent {:?} on relay. Check your relay inbox for work.",
            s.name
        )
    };
    vec![program, "--mcp-config".into(), config.to_string(), prompt]
}

/// One argument quoted for a POSIX shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// `argv` as one shell-quoted command line (for display and macOS).
pub fn command_line(argv: &[String]) -> String {
    argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Picks the launcher for `mode` on this machine; `None` for dry-run.
///
/// Errors: no terminal emulator or tmux could be found.
pub fn launcher(mode: SpawnMode, name: &str, cwd: &Path, argv: &[String]) -> Result<Option<Vec<String>>, String> {
    let desktop = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let tmux = || {
        let mut l: Vec<String> = ["tmux", "new-session", "-d", "-s"].map(String::from).to_vec();
        l.extend([
            format!("relay-{name}"),
            "-c".into(),
            cwd.display().to_string(),
            "--".into(),
        ]);
        l.extend(argv.iter().cloned());
        l
    };
    let terminal = || -> Option<Vec<String>> {
        if cfg!(target_os = "macos") {
            let script = format!(
                "cd {} && {}",
                shell_quote(&cwd.display().to_string()),
                command_line(argv)
            );
            return Some(vec![
                "osascript".into(),
                "-e".into(),
                "on run argv".into(),
                "-e".into(),
                "tell application \"Terminal\" to do script (item 1 of argv)".into(),
                "-e".into(),
                "end run".into(),
                script,
            ]);
        }
        for (program, flag) in [
            ("x-terminal-emulator", "-e"),
            ("gnome-terminal", "--"),
            ("konsole", "-e"),
            ("xterm", "-e"),
        ] {
            if on_path(program) {
                let mut l = vec![program.to_owned(), flag.to_owned()];
                l.extend(argv.iter().cloned());
                return Some(l);
            }
        }
        None
    };
    match mode {
        SpawnMode::DryRun => Ok(None),
        SpawnMode::Tmux => Ok(Some(tmux())),
        SpawnMode::Terminal => terminal()
            .map(Some)
            .ok_or_else(|| "no terminal emulator found".to_owned()),
        SpawnMode::Auto => {
            if (desktop || cfg!(target_os = "macos"))
                && let Some(l) = terminal()
            {
                return Ok(Some(l));
            }
            if on_path("tmux") {
                return Ok(Some(tmux()));
            }
            Err(
                "no terminal emulator or tmux found; start relay serve with --spawn-mode dry-run to get the command"
                    .into(),
            )
        }
    }
}
