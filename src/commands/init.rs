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
use crate::config::{ENV_HTTP_SECRET, default_config_path, default_db_path};
use crate::crypto::{Codec, Keyring, KeyringSource};
use crate::remote::ENV_AGENT_TOKEN;
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

/// The hub URL the HTTP client configs name unless told otherwise
/// (`relay serve --transport http` listens there by default).
pub const DEFAULT_HUB_URL: &str = "http://127.0.0.1:3777/mcp";

/// The MCP config snippets for Claude Code, Codex and Cursor: for stdio,
/// each client starts `relay serve --agent NAME`; for http, each talks to
/// the hub at `hub_url` with its own token; for both, this terminal's
/// client starts the relay that also runs the hub, and the others connect
/// over HTTP.
///
/// Errors: `hub_url` is not an http(s) URL (http and both only).
pub fn snippets(agent: &str, db: Option<&Path>, transport: Transport, hub_url: &str) -> anyhow::Result<String> {
    Ok(match transport {
        Transport::Stdio => stdio_snippets(agent, db, &[]),
        Transport::Http => http_snippets(agent, hub_url, false)?,
        Transport::Both => format!(
            "This terminal's MCP client starts the relay that also serves the hub:\n\n{}\n\
             Every other agent, on this machine or another, connects to the hub:\n\n{}",
            stdio_snippets(agent, db, &hub_serve_args(hub_url, Transport::Both)?),
            http_snippets(agent, hub_url, true)?
        ),
    })
}

/// The `serve` flags that make the hub listen where `hub_url` points:
/// `--transport T`, then for a plain-http URL off loopback `--host
/// 0.0.0.0`, and `--port P` for a port other than the default. An https
/// URL is a TLS reverse proxy's (relay speaks plain HTTP), which forwards
/// to the hub on its default loopback address.
fn hub_serve_args(hub_url: &str, transport: Transport) -> anyhow::Result<Vec<String>> {
    let url = reqwest::Url::parse(hub_url).context("the hub URL")?;
    let name = transport
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let mut args = vec!["--transport".to_owned(), name];
    if url.scheme() == "https" {
        return Ok(args);
    }
    if !super::doctor::remote::is_loopback(&url) {
        args.extend(["--host".into(), "0.0.0.0".into()]);
    }
    if let Some(port) = url.port_or_known_default().filter(|p| *p != crate::http::DEFAULT_PORT) {
        args.extend(["--port".into(), port.to_string()]);
    }
    Ok(args)
}

/// Each agent's MCP client talks to the hub at `url` ([`HttpConfigs`];
/// for a hub off loopback with the hub secret too), after how to start
/// the hub and how to get a token. `hub_running` leaves out how to start the hub (`both`: this
/// terminal's client starts it).
fn http_snippets(agent: &str, url: &str, hub_running: bool) -> anyhow::Result<String> {
    let parsed = super::doctor::remote::Endpoints::parse(url)?;
    let secret = !parsed.loopback;
    let url = parsed.mcp.as_str();
    let configs = HttpConfigs::new(url, secret);
    let mut out = String::new();
    if !hub_running {
        let serve = hub_serve_args(url, Transport::Http)?.join(" ");
        out.push_str("Start the hub on the machine that keeps the store:\n");
        if secret {
            out.push_str(&format!(
                "  export {ENV_HTTP_SECRET}=\"$(openssl rand -base64 32)\"   # other machines reach it: every client sends \
                 this secret\n"
            ));
        }
        out.push_str(&format!("  relay serve {serve}\n"));
        if parsed.mcp.scheme() == "https" {
            out.push_str(&format!(
                "  behind a TLS reverse proxy that forwards {url} to http://127.0.0.1:{}{} (README, \"Running a hub\")\n",
                crate::http::DEFAULT_PORT,
                crate::http::MCP_PATH
            ));
        }
        out.push('\n');
    }
    let secret_header = if secret {
        format!(" -H \"Authorization: Bearer ${ENV_HTTP_SECRET}\"")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "Each agent needs its own token, shown once: on its machine run `relay pair {} --name {agent}` (it keeps the \
         token in a 0600 file), or register its name over HTTP (no token needed yet) and keep the reply's \"token\":\n  \
         curl -s {url} -H 'Content-Type: application/json' -H 'Accept: application/json, \
         text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: \
         register_agent'{secret_header} -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":\
         {{\"name\":\"register_agent\",\"arguments\":{{\"name\":\"{agent}\"}},\"_meta\":{{\"io.modelcontextprotocol/\
         protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{{}},\
         \"io.modelcontextprotocol/clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}}}'\n\
         (or call register_agent from any MCP client connected without a token). Then export {ENV_AGENT_TOKEN}=<token> \
         {}in the environment your MCP client starts from.\n\n",
        parsed.base,
        if secret {
            format!("and {ENV_HTTP_SECRET}=<the hub secret> ")
        } else {
            String::new()
        }
    ));
    out.push_str(&configs.text());
    out.push_str(&format!(
        "\nCheck the hub and the token: {ENV_AGENT_TOKEN}=<token> relay doctor --remote {url}\n"
    ));
    Ok(out)
}

/// The HTTP MCP client configs for one hub endpoint: each client talks to
/// the hub at `url`, naming itself with `X-Agent-Token` taken from
/// `RELAY_AGENT_TOKEN` (and, with `secret`, the hub secret from
/// `RELAY_HTTP_SECRET` as `Authorization: Bearer`), in each client's own
/// syntax for a variable in a header:
///
/// - Claude Code (`.mcp.json`): `${VAR}` in `headers` (Claude Code docs,
///   MCP, "Environment variable expansion in .mcp.json").
/// - Codex (`config.toml`): `env_http_headers` maps a header to the
///   variable that holds its value; `bearer_token_env_var` sends
///   `Authorization: Bearer` (Codex docs, MCP, streamable HTTP servers).
/// - Cursor (`mcp.json`): `${env:VAR}` in `headers` (Cursor docs, MCP,
///   config interpolation).
///
/// No token or secret is ever written into a config: only the variables'
/// names.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfigs {
    /// Claude Code's `.mcp.json`.
    pub claude_code: serde_json::Value,
    /// Codex's `~/.codex/config.toml` table (TOML text).
    pub codex: String,
    /// Cursor's `mcp.json`.
    pub cursor: serde_json::Value,
}

impl HttpConfigs {
    /// The configs for the MCP endpoint `url` (`http://HOST:PORT/mcp`);
    /// `secret`: send the hub secret too.
    pub fn new(url: &str, secret: bool) -> Self {
        let json_headers = |expand: &dyn Fn(&str) -> String| {
            let mut headers = serde_json::Map::new();
            headers.insert("X-Agent-Token".into(), expand(ENV_AGENT_TOKEN).into());
            if secret {
                headers.insert(
                    "Authorization".into(),
                    format!("Bearer {}", expand(ENV_HTTP_SECRET)).into(),
                );
            }
            serde_json::Value::Object(headers)
        };
        let claude_code = serde_json::json!({ "mcpServers": { "relay": {
            "type": "http",
            "url": url,
            "headers": json_headers(&|v| format!("${{{v}}}")),
        }}});
        let cursor = serde_json::json!({ "mcpServers": { "relay": {
            "url": url,
            "headers": json_headers(&|v| format!("${{env:{v}}}")),
        }}});
        let codex_secret = if secret {
            format!("bearer_token_env_var = \"{ENV_HTTP_SECRET}\"\n")
        } else {
            String::new()
        };
        let codex = format!(
            "[mcp_servers.relay]\nurl = \"{url}\"\nenv_http_headers = {{ \"X-Agent-Token\" = \"{ENV_AGENT_TOKEN}\" }}\n{codex_secret}"
        );
        Self {
            claude_code,
            codex,
            cursor,
        }
    }

    /// The three configs as text to paste, each under its client's name
    /// and file.
    pub fn text(&self) -> String {
        let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).expect("JSON serialises");
        format!(
            "Claude Code (.mcp.json in your project):\n{}\n\n\
             Codex (~/.codex/config.toml):\n{}\n\
             Cursor (.cursor/mcp.json or ~/.cursor/mcp.json):\n{}\n",
            pretty(&self.claude_code),
            self.codex,
            pretty(&self.cursor),
        )
    }
}

/// Each agent's MCP client starts `relay serve [serve_args] --agent NAME`
/// itself.
fn stdio_snippets(agent: &str, db: Option<&Path>, serve_args: &[String]) -> String {
    let mut args: Vec<String> = Vec::new();
    if let Some(db) = db {
        args.extend(["--db".into(), db.display().to_string()]);
    }
    args.push("serve".into());
    args.extend(serve_args.iter().cloned());
    args.extend(["--agent".into(), agent.into()]);
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
    let hub_url = if transport == Transport::Stdio {
        args.hub_url.clone()
    } else if interactive {
        dialoguer::Input::<String>::new()
            .with_prompt("Hub URL (the MCP endpoint every agent's client connects to)")
            .default(args.hub_url.clone())
            .validate_with(|u: &String| {
                super::doctor::remote::Endpoints::parse(u)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .interact_text()?
    } else {
        args.hub_url.clone()
    };
    if transport != Transport::Stdio {
        super::doctor::remote::Endpoints::parse(&hub_url).context("--hub-url")?;
    }
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
    crate::store::write_private(
        &config,
        config_text(&db, keyring.is_some().then_some(Path::new(KEYRING_FILE))).as_bytes(),
    )?;
    let codec = Codec::new(sealing);
    Store::open_with(&db, Arc::new(SystemClock), Limits::default(), codec)?;
    if hooks {
        let settings = PathBuf::from(".claude/settings.json");
        super::generate_hooks::merge_into(&settings, &super::generate_hooks::hooks(&agent, None))?;
    }
    let is_default_db = default_db_path().is_ok_and(|d| d == db);
    let mut out = format!("relay is set up: config {}, store {}\n", config.display(), db.display());
    if let Some(path) = &keyring {
        let what = if new_keyring {
            "new keyring written to"
        } else {
            "keeping the keyring"
        };
        out.push_str(&format!(
            "encryption at rest: {what} {} (back it up apart from relay backups, which do not include it)\n",
            path.display()
        ));
    }
    if hooks {
        out.push_str("Claude Code hooks installed in .claude/settings.json\n");
    }
    out.push_str(&format!(
        "\n{}\n",
        snippets(&agent, (!is_default_db).then_some(db.as_path()), transport, &hub_url)?
    ));
    super::write_stdout(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_hub_url_is_where_serve_listens() {
        let port = crate::http::DEFAULT_PORT;
        assert_eq!(
            DEFAULT_HUB_URL,
            format!("http://127.0.0.1:{port}{}", crate::http::MCP_PATH)
        );
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(["relay", "init"]).unwrap();
        let crate::cli::Command::Init(args) = cli.command else {
            panic!("not init")
        };
        assert_eq!(args.hub_url, DEFAULT_HUB_URL);
    }

    #[test]
    fn a_hub_off_loopback_gets_a_host_a_port_and_the_secret_in_every_config() {
        assert_eq!(
            hub_serve_args(DEFAULT_HUB_URL, Transport::Http).unwrap(),
            ["--transport", "http"]
        );
        assert_eq!(
            hub_serve_args("http://10.0.0.5:8080/mcp", Transport::Both).unwrap(),
            ["--transport", "both", "--host", "0.0.0.0", "--port", "8080"]
        );
        assert_eq!(
            hub_serve_args("https://hub.example.com/relay/mcp", Transport::Http).unwrap(),
            ["--transport", "http"]
        );
        let text = http_snippets("a", "http://10.0.0.5:8080/mcp", false).unwrap();
        assert!(
            text.contains("\"Authorization\": \"Bearer ${RELAY_HTTP_SECRET}\""),
            "{text}"
        );
        assert!(
            text.contains("\"Authorization\": \"Bearer ${env:RELAY_HTTP_SECRET}\""),
            "{text}"
        );
        assert!(text.contains("bearer_token_env_var = \"RELAY_HTTP_SECRET\""), "{text}");
        assert!(text.contains("export RELAY_HTTP_SECRET="), "{text}");
        let local = http_snippets("a", DEFAULT_HUB_URL, false).unwrap();
        assert!(
            !local.contains("Authorization") && !local.contains("bearer_token_env_var"),
            "{local}"
        );
    }
}
