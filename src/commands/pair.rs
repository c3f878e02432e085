//! `relay pair HUB_URL --name NAME`: joins this machine to a hub (SPEC
//! §7).
//!
//! 1. Refuses an incompatible hub before registering anything
//!    ([`PairError`]): `GET /health` must be a healthy relay report
//!    offering a protocol revision this relay speaks
//!    ([`crate::remote::CLIENT_REVISIONS`]).
//! 2. Registers NAME through MCP `register_agent` (an rmcp 2025-11-25
//!    session without a token; the hub secret from `--secret-file` or
//!    `RELAY_HTTP_SECRET` as `Authorization: Bearer`). Without
//!    `--capabilities` the agent asks for `tasks`, so a `relay worker`
//!    can run its tasks.
//! 3. Keeps the token in `<config dir>/tokens/NAME.token` (0600) and the
//!    pairing in `<config dir>/paired.toml` ([`crate::remote::pairing`]).
//! 4. Prints the HTTP MCP configs for Claude Code, Codex and Cursor
//!    ([`super::init::HttpConfigs`]; `--json`: one object for scripts).
//!
//! Exit codes (SPEC §5): 0 paired (or already paired with this hub);
//! 1 the hub was refused or refused us (unreachable, not relay, no shared
//! revision, unhealthy, secret refused, NAME taken, NAME paired with
//! another hub); 2 usage (bad URL or name, unreadable secret file, a
//! broken `paired.toml`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use super::init::HttpConfigs;
use crate::cli::{GlobalArgs, PairArgs};
use crate::config::ENV_HTTP_SECRET;
use crate::error::ErrorCode;
use crate::remote::ENV_AGENT_TOKEN;
use crate::remote::pairing::{self, Pairing, Pairings};
use crate::remote::session::HubSession;
use crate::remote::{Credential, Endpoints, Health};

/// How long connecting to the hub may take, in seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the `/health` probe may take in all, in seconds.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why pairing was refused (exit 1). Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// Nothing answered at the URL.
    #[error("cannot reach {url}: {why}; start the hub (relay serve --transport http) and check the URL and firewall")]
    Unreachable {
        /// The health URL.
        url: String,
        /// The innermost cause.
        why: String,
    },
    /// Something answered, but not a relay hub.
    #[error("{url} is not a relay hub: {why}; give the URL of a hub started with `relay serve --transport http`")]
    NotRelay {
        /// The health URL.
        url: String,
        /// What it answered.
        why: String,
    },
    /// A relay hub with no protocol revision in common.
    #[error("the hub (relay {version}) speaks {offered}; this relay speaks {ours}: upgrade relay on the older side")]
    NoSharedRevision {
        /// The hub's relay version.
        version: String,
        /// Its revisions, comma-separated.
        offered: String,
        /// Ours.
        ours: String,
    },
    /// A relay hub that cannot read its store.
    #[error("the hub at {url} is unhealthy (HTTP {status}, {code}); run `relay doctor` on the hub's machine")]
    Unhealthy {
        /// The health URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Its error_code.
        code: String,
    },
    /// The hub refused the secret (or wants one).
    #[error("{0}")]
    Refused(String),
    /// The name is registered at the hub by someone else.
    #[error(
        "the name {name} is already registered at {hub} (another machine, an agent, or an earlier pairing whose token \
         is lost); pick another --name, or ask the hub's operator to run `relay token issue {name} --out FILE` (or \
         `relay recover {name}`) and pair again"
    )]
    NameTaken {
        /// The name.
        name: String,
        /// The hub.
        hub: String,
    },
    /// NAME is paired with another hub from this machine.
    #[error(
        "{name} is already paired with {hub} (token in {token_file}); pick another --name, or remove [agents.{name}] \
         from {pairings} to pair it with {wanted}"
    )]
    PairedElsewhere {
        /// The name.
        name: String,
        /// The hub it is paired with.
        hub: String,
        /// Its token file.
        token_file: String,
        /// paired.toml.
        pairings: String,
        /// The hub asked for now.
        wanted: String,
    },
}

/// Runs `relay pair`.
///
/// Errors (exit 2): a bad URL or name, a `--config` file that cannot be
/// read (as for every other command), an unreadable secret file or
/// `paired.toml`, files that cannot be written. Refusals ([`PairError`])
/// are printed and exit 1.
pub fn run(args: &PairArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    crate::store::validate::agent_name(&args.name)?;
    let hub = Endpoints::parse(&args.hub).context("HUB_URL")?;
    // The config the other commands will read must be readable now: a
    // pairing beside a --config that does not exist would leave `relay
    // worker` and `relay hook` refusing it later.
    crate::config::Settings::resolve(global)?;
    let dir = std::path::absolute(pairing::config_dir(global.config.as_deref())?)
        .context("cannot resolve the config directory")?;
    let secret = crate::remote::credential(args.secret_file.as_deref(), ENV_HTTP_SECRET, "--secret-file")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(pair(args, &hub, &dir, secret)) {
        Ok(out) => {
            super::write_stdout(out.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => match e.downcast::<PairError>() {
            Ok(refused) => {
                eprintln!("relay: error: {refused}");
                Ok(ExitCode::from(1))
            }
            Err(other) => Err(other),
        },
    }
}

async fn pair(args: &PairArgs, hub: &Endpoints, dir: &Path, secret: Option<Credential>) -> anyhow::Result<String> {
    let mut pairings = Pairings::load(dir)?;
    let pairings_file = dir.join(pairing::PAIRED_FILE);
    let uses_secret = secret.is_some() || !hub.loopback;
    if let Some(p) = pairings.get(&args.name) {
        let same = Endpoints::parse(&p.hub).is_ok_and(|e| e.base == hub.base);
        if !same {
            return Err(PairError::PairedElsewhere {
                name: args.name.clone(),
                hub: p.hub.clone(),
                token_file: p.token_file.display().to_string(),
                pairings: pairings_file.display().to_string(),
                wanted: hub.base.clone(),
            }
            .into());
        }
        return Ok(report(args, hub, p, &pairings_file, uses_secret, None, true));
    }
    let revision = probe(hub).await?;
    let token = register(args, hub, secret).await?;
    let token_file = pairing::token_path(dir, &args.name);
    pairing::write_private(&token_file, format!("{token}\n").as_bytes())?;
    let token_file = std::fs::canonicalize(&token_file).unwrap_or(token_file);
    let paired = Pairing {
        hub: hub.base.clone(),
        token_file,
        paired_at: crate::clock::rfc3339(crate::clock::from_env().now()),
    };
    pairings.agents.insert(args.name.clone(), paired.clone());
    pairings.save(dir)?;
    Ok(report(
        args,
        hub,
        &paired,
        &pairings_file,
        uses_secret,
        Some(revision),
        false,
    ))
}

/// Checks `/health`: a healthy relay hub with a revision we speak;
/// returns `relay VERSION, REVISION`.
async fn probe(hub: &Endpoints) -> anyhow::Result<String> {
    let client = crate::remote::hub_client(hub, CONNECT_TIMEOUT, Some(PROBE_TIMEOUT), "relay-pair")?;
    let url = hub.health.to_string();
    let resp = client
        .get(hub.health.clone())
        .send()
        .await
        .map_err(|e| PairError::Unreachable {
            url: url.clone(),
            why: crate::remote::describe(&e, "3 s to connect or 5 s in all"),
        })?;
    let status = resp.status();
    let body: Option<Value> = resp.json().await.ok();
    match Health::classify(status, body) {
        Health::Ok { version, revisions, .. } => match crate::remote::shared_revision(&revisions) {
            Some(rev) => Ok(format!("relay {version}, MCP {rev}")),
            None => Err(PairError::NoSharedRevision {
                version,
                offered: if revisions.is_empty() {
                    "no protocol revision".into()
                } else {
                    revisions.join(", ")
                },
                ours: crate::remote::CLIENT_REVISIONS.join(", "),
            }
            .into()),
        },
        Health::Unhealthy { status, error_code } => Err(PairError::Unhealthy {
            url,
            status,
            code: error_code.unwrap_or_else(|| "no error_code".into()),
        }
        .into()),
        Health::NoHealth => Err(PairError::NotRelay {
            url,
            why: "HTTP 404 (no /health: not relay, or a relay older than the hub)".into(),
        }
        .into()),
        Health::NotRelay { status } => Err(PairError::NotRelay {
            url,
            why: format!("HTTP {status} without a relay health report"),
        }
        .into()),
    }
}

/// `register_agent` for a new name; returns the token.
async fn register(args: &PairArgs, hub: &Endpoints, secret: Option<Credential>) -> anyhow::Result<String> {
    let capabilities = if args.capabilities.is_empty() {
        vec!["tasks".to_owned()]
    } else {
        args.capabilities.clone()
    };
    let mut call = json!({ "name": args.name, "capabilities": capabilities });
    if let Some(role) = &args.role {
        call["role"] = role.clone().into();
    }
    if let Some(description) = &args.description {
        call["description"] = description.clone().into();
    }
    let session = HubSession::new(hub.clone(), None, secret, None)?;
    let registered = session.call("register_agent", call).await;
    session.close().await;
    let out = match registered {
        Ok(out) => out,
        Err(e) => {
            return Err(match e.code {
                ErrorCode::NameTaken => PairError::NameTaken {
                    name: args.name.clone(),
                    hub: hub.base.clone(),
                }
                .into(),
                ErrorCode::AuthFailed => PairError::Refused(e.message).into(),
                ErrorCode::Timeout => PairError::Unreachable {
                    url: hub.mcp.to_string(),
                    why: e.message,
                }
                .into(),
                _ => anyhow::Error::new(e).context("register_agent"),
            });
        }
    };
    out["token"].as_str().map(str::to_owned).with_context(|| {
        format!(
            "the hub registered {} but returned no token; run `relay pair` again",
            args.name
        )
    })
}

fn report(
    args: &PairArgs,
    hub: &Endpoints,
    paired: &Pairing,
    pairings_file: &Path,
    uses_secret: bool,
    revision: Option<String>,
    already: bool,
) -> String {
    let configs = HttpConfigs::new(hub.mcp.as_str(), uses_secret);
    let token_file: &PathBuf = &paired.token_file;
    let export_token = format!("export {ENV_AGENT_TOKEN}=\"$(cat {})\"", token_file.display());
    if args.json {
        let mut env = json!({ ENV_AGENT_TOKEN: format!("$(cat {})", token_file.display()) });
        if uses_secret {
            env[ENV_HTTP_SECRET] = "<the hub secret>".into();
        }
        let out = json!({
            "status": if already { "already_paired" } else { "paired" },
            "agent": args.name,
            "hub": paired.hub,
            "mcp_url": hub.mcp.as_str(),
            "token_file": token_file,
            "pairing_file": pairings_file,
            "paired_at": paired.paired_at,
            "hub_version": revision,
            "env": env,
            "configs": {
                "claude_code": configs.claude_code,
                "codex": configs.codex,
                "cursor": configs.cursor,
            },
        });
        return format!("{out:#}\n");
    }
    let mut out = if already {
        format!(
            "{} is already paired with {} (since {}); its token is in {}. Nothing changed.\n\n",
            args.name,
            paired.hub,
            paired.paired_at,
            token_file.display()
        )
    } else {
        format!(
            "Paired {} with {} ({}).\nToken: {} (0600, shown nowhere else); pairing recorded in {}.\n\n",
            args.name,
            paired.hub,
            revision.unwrap_or_default(),
            token_file.display(),
            pairings_file.display()
        )
    };
    out.push_str(&format!(
        "In the environment your MCP client starts from:\n  {export_token}\n"
    ));
    if uses_secret {
        out.push_str(&format!("  export {ENV_HTTP_SECRET}=<the hub secret>\n"));
    }
    out.push('\n');
    out.push_str(&configs.text());
    out.push_str(&format!(
        "\nOn this machine `relay worker --agent {name} -- CMD`, `relay hook EVENT --agent {name}` and `relay tail \
         --hub {hub}` now work against the hub (no store here).\n",
        name = args.name,
        hub = paired.hub
    ));
    out
}
