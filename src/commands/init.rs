//! `relay init`: write the config file, create the store, and print the
//! MCP configs to paste (SPEC §5).

use std::io::IsTerminal;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use clap::ValueEnum;

use crate::cli::{GlobalArgs, InitArgs, Transport};
use crate::clock::SystemClock;
use crate::config::{default_config_path, default_db_path};
use crate::crypto::{Codec, Keyring, KeyringSource};
use crate::store::{Limits, Store};

/// A valid agent name from the current directory's name (or `agent`).
fn default_agent() -> String {
    let dir = std::env::current_dir()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let cleaned: String = dir
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(64)
        .collect();
    if cleaned.is_empty() { "agent".into() } else { cleaned }
}

/// The config file `relay init` writes: the store path, the keyring path
/// when encrypting, and the defaults as comments to edit.
fn config_text(db: &Path, keyring: Option<&Path>) -> String {
    let encryption = match keyring {
        Some(path) => format!("keyring_path = {:?}", path.display().to_string()),
        None => "# keyring_path = \"keyring.json\"  # relay init --encrypt writes one".to_owned(),
    };
    format!(
        "# relay configuration (relay init). Flags and RELAY_* variables override it.\n\
         db = {db:?}\n\n\
         [limits]\n\
         # max_content_bytes = 65536   # UTF-8 bytes per message, post or task text\n\
         # max_title_chars = 256\n\
         # max_line_bytes = 4194304    # one JSON-RPC line\n\n\
         [retention]                   # days\n\
         # read_messages_days = 30\n\
         # events_days = 7\n\
         # audit_days = 90\n\
         # tasks_days = 30\n\n\
         [encryption]                  # AES-256-GCM at rest; see relay re-encrypt\n\
         {encryption}\n",
        db = db.display().to_string()
    )
}

/// The MCP config snippets for Claude Code, Codex and Cursor.
pub fn snippets(agent: &str, db: Option<&Path>, transport: Transport) -> String {
    match transport {
        Transport::Stdio => stdio_snippets(agent, db),
        Transport::Http | Transport::Both => http_snippets(agent, "http://127.0.0.1:3777/mcp"),
    }
}

/// Each agent's MCP client talks to the hub at `url` with its own token.
fn http_snippets(agent: &str, url: &str) -> String {
    let config = serde_json::json!({
        "mcpServers": { "relay": {
            "type": "http",
            "url": url,
            "headers": { "X-Agent-Token": format!("<{agent}'s token: register_agent's reply>") },
        }}
    });
    format!(
        "# Claude Code (.mcp.json) and Cursor (.cursor/mcp.json):\n{}\n\n\
         # Codex (~/.codex/config.toml):\n[mcp_servers.relay]\nurl = \"{url}\"\n\
         http_headers = {{ \"X-Agent-Token\" = \"<{agent}'s token>\" }}\n",
        serde_json::to_string_pretty(&config).expect("JSON serialises")
    )
}

/// Each agent's MCP client starts `relay serve --agent NAME` itself.
fn stdio_snippets(agent: &str, db: Option<&Path>) -> String {
    let mut args: Vec<String> = Vec::new();
    if let Some(db) = db {
        args.extend(["--db".into(), db.display().to_string()]);
    }
    args.extend(["serve".into(), "--agent".into(), agent.into()]);
    let json_args = serde_json::to_string(&args).expect("strings serialise");
    let mcp = serde_json::json!({ "mcpServers": { "relay": { "command": "relay", "args": args } } });
    let mcp = serde_json::to_string_pretty(&mcp).expect("json");
    format!(
        "Claude Code (.mcp.json in your project):\n{mcp}\n\n\
         Codex (~/.codex/config.toml):\n[mcp_servers.relay]\ncommand = \"relay\"\nargs = {json_args}\n\n\
         Cursor (.cursor/mcp.json or ~/.cursor/mcp.json):\n{mcp}\n"
    )
}

/// The keyring `relay init --encrypt` writes, beside the config file (the
/// config names it relative to its own directory).
const KEYRING_FILE: &str = "keyring.json";

/// Writes a new keyring with one random key, `k1`, at `path` (0600), or
/// keeps the one there: replacing a keyring would lose what it sealed.
///
/// Returns the keyring and whether it is new.
///
/// Errors: an existing file that is not a valid keyring; I/O failures.
pub fn write_keyring(path: &Path) -> anyhow::Result<(Keyring, bool)> {
    let source = KeyringSource::Config(path.to_owned());
    if path.exists() {
        return Ok((source.load()?, false));
    }
    let json = serde_json::json!({ "current": "k1", "keys": { "k1": crate::crypto::generate_key() } });
    let keyring = Keyring::from_json(&json.to_string(), &source.describe())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{json:#}\n").as_bytes())?;
    file.sync_all()?;
    Ok((keyring, true))
}

/// Runs `relay init`.
///
/// Exit codes: 0 done; 1 a config file exists (use --force); 2 not on a
/// terminal without --yes, or the store cannot be created.
pub fn run(args: &InitArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = match &global.config {
        Some(p) => p.clone(),
        None => default_config_path().context("cannot find a config directory; pass --config PATH")?,
    };
    if config.exists() && !args.force {
        eprintln!("relay: {} exists; pass --force to overwrite it", config.display());
        return Ok(ExitCode::from(1));
    }
    let interactive = !args.yes && std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        bail!("not on a terminal: pass --yes to take the defaults");
    }
    let default_db = match &global.db {
        Some(p) => p.clone(),
        None => default_db_path()?,
    };
    let agent_default = args.agent.clone().unwrap_or_else(default_agent);
    let transports = Transport::value_variants();
    let transport = if interactive && transports.len() > 1 {
        let names: Vec<String> = transports
            .iter()
            .filter_map(|t| t.to_possible_value().map(|v| v.get_name().to_owned()))
            .collect();
        let default = transports.iter().position(|t| *t == args.transport).unwrap_or(0);
        let pick = dialoguer::Select::new()
            .with_prompt("Transport")
            .items(&names)
            .default(default)
            .interact()?;
        transports[pick]
    } else {
        if interactive {
            eprintln!("Transport: stdio (each agent's MCP config starts its own relay serve)");
        }
        args.transport
    };
    let (db, agent, encrypt, hooks) = if interactive {
        let db: String = dialoguer::Input::new()
            .with_prompt("Store (SQLite file shared by every agent)")
            .default(default_db.display().to_string())
            .interact_text()?;
        let agent: String = dialoguer::Input::new()
            .with_prompt("Agent name for this terminal")
            .default(agent_default)
            .validate_with(|n: &String| crate::store::validate::agent_name(n).map_err(|e| e.message))
            .interact_text()?;
        let encrypt = args.encrypt
            || dialoguer::Confirm::new()
                .with_prompt("Encrypt message and task text at rest (writes a keyring to keep safe)?")
                .default(false)
                .interact()?;
        let hooks = args.install_hooks
            || dialoguer::Confirm::new()
                .with_prompt("Install the Claude Code hooks in ./.claude/settings.json?")
                .default(false)
                .interact()?;
        (PathBuf::from(db), agent, encrypt, hooks)
    } else {
        (default_db, agent_default, args.encrypt, args.install_hooks)
    };
    crate::store::validate::agent_name(&agent)?;

    if let Some(dir) = config.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::store::private_dir(dir)?;
    }
    let keyring = encrypt.then(|| {
        config
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(KEYRING_FILE)
    });
    if keyring.is_some() {
        for var in [crate::crypto::ENV_KEYRING, crate::crypto::ENV_KEYRING_PATH] {
            if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
                eprintln!(
                    "relay: warning: {var} is set too; relay refuses more than one keyring source, so unset it \
                     (the config now names {KEYRING_FILE})"
                );
            }
        }
    }
    let (sealing, new_keyring) = match &keyring {
        Some(path) => {
            let (k, new) = write_keyring(path)?;
            (Some(Arc::new(k)), new)
        }
        None => (None, false),
    };
    let tmp = config.with_extension("toml.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    std::io::Write::write_all(
        &mut file,
        config_text(&db, keyring.is_some().then_some(Path::new(KEYRING_FILE))).as_bytes(),
    )?;
    file.sync_all()?;
    std::fs::rename(&tmp, &config).with_context(|| format!("cannot write {}", config.display()))?;
    let codec = Codec::new(sealing);
    Store::open_with(&db, Arc::new(SystemClock), Limits::default(), codec)?;
    if hooks {
        let settings = PathBuf::from(".claude/settings.json");
        super::generate_hooks::merge_into(&settings, &super::generate_hooks::hooks(&agent, None))?;
    }
    let is_default_db = default_db_path().is_ok_and(|d| d == db);
    println!("relay is set up: config {}, store {}", config.display(), db.display());
    if let Some(path) = &keyring {
        let what = if new_keyring {
            "new keyring written to"
        } else {
            "keeping the keyring"
        };
        println!(
            "encryption at rest: {what} {} (back it up apart from relay backups, which do not include it)",
            path.display()
        );
    }
    if hooks {
        println!("Claude Code hooks installed in .claude/settings.json");
    }
    println!(
        "\n{}",
        snippets(&agent, (!is_default_db).then_some(db.as_path()), transport)
    );
    Ok(ExitCode::SUCCESS)
}
