//! `relay doctor --remote URL`: checks an HTTP hub (SPEC §7) from any
//! machine, over HTTP only; the local store is not looked at.
//!
//! The checks, in report order:
//!
//! - **hub reachable**: `GET {base}/health` answers 200 with
//!   `"status": "ok"` (no auth; SPEC §7). A hub that answers but has no
//!   `/health` is a WARN; one whose store cannot be read (503) a FAIL.
//! - **protocol revisions**: the relay version and the revisions the hub
//!   speaks, from `/health` or else from a 2026-07-28 `server/discover`;
//!   PASS when they include 2026-07-28 or 2025-11-25, the revisions
//!   today's clients speak.
//! - **hub secret**: a stateless `server/discover` on `/mcp` without the
//!   secret: 401 means the hub demands it, and then the secret given
//!   (`RELAY_HTTP_SECRET` or `--secret-file`) is sent as
//!   `Authorization: Bearer` and must be accepted (a previous secret, one
//!   the hub still takes during rotation, is a WARN). A hub that answers
//!   without a secret is a PASS on loopback and a WARN anywhere else.
//! - **agent token** (only when `RELAY_AGENT_TOKEN` or `--token-file` gives
//!   one): `health_check` as a 2026-07-28 stateless `tools/call` with
//!   `X-Agent-Token` must name an agent.
//!
//! Requests use the 2026-07-28 stateless form (MCP 2026-07-28
//! basic/transports: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and
//! the `_meta` keys on every request), which needs no session to open or
//! close. Timeouts: [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`]; redirects
//! are not followed (the secret and the token would go with them).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Check, Status, check};
use crate::config::ENV_HTTP_SECRET;
use crate::remote::{
    Answer, Credential, ENV_AGENT_TOKEN, Health, credential, describe as describe_with, post as stateless_post,
};
pub use crate::remote::{CLIENT_REVISIONS, Endpoints, is_loopback};

/// How long to wait for the TCP (and TLS) connection, in seconds (3).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one whole request may take, in seconds (5).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What `--remote` checks with.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The hub secret, if one was given.
    pub secret: Option<Credential>,
    /// An agent token, if one was given.
    pub token: Option<Credential>,
}

impl Credentials {
    /// `--secret-file`/`--token-file` when given, else `RELAY_HTTP_SECRET`
    /// and `RELAY_AGENT_TOKEN` (empty counts as unset).
    ///
    /// Errors: a file that cannot be read or holds nothing.
    pub fn resolve(secret_file: Option<&Path>, token_file: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Self {
            secret: credential(secret_file, ENV_HTTP_SECRET, "--secret-file")?,
            token: credential(token_file, ENV_AGENT_TOKEN, "--token-file")?,
        })
    }
}

/// Runs the checks against the hub at `url` (on a runtime of its own).
///
/// Errors: `url` is not a hub URL (a usage error), or the HTTP client
/// cannot be built.
pub fn checks(url: &str, creds: &Credentials) -> anyhow::Result<Vec<Check>> {
    let hub = Endpoints::parse(url)?;
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("relay-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(run(&client, &hub, creds)))
}

/// Why a request failed, in a few words.
fn describe(err: &reqwest::Error) -> String {
    describe_with(
        err,
        &format!(
            "{} s to connect or {} s in all",
            CONNECT_TIMEOUT.as_secs(),
            REQUEST_TIMEOUT.as_secs()
        ),
    )
}

/// A stateless request as `relay-doctor`.
async fn post(
    client: &reqwest::Client,
    hub: &Endpoints,
    method: &str,
    name: Option<&str>,
    params: Value,
    secret: Option<&str>,
    token: Option<&str>,
) -> Result<Answer, reqwest::Error> {
    stateless_post(client, hub, "relay-doctor", method, name, params, secret, token).await
}

async fn discover(client: &reqwest::Client, hub: &Endpoints, secret: Option<&str>) -> Result<Answer, reqwest::Error> {
    post(client, hub, "server/discover", None, json!({}), secret, None).await
}

const START_HUB: &str = "start the hub on its machine (relay serve --transport http [--host H] [--port P]); check the URL's host and port and that no firewall is in the way";

async fn run(client: &reqwest::Client, hub: &Endpoints, creds: &Credentials) -> Vec<Check> {
    let mut out = Vec::new();
    let started = Instant::now();
    let health = match client.get(hub.health.clone()).send().await {
        Err(e) => {
            out.push(check(
                "hub reachable",
                Status::Fail,
                format!("cannot reach {}: {}", hub.health, describe(&e)),
                Some(START_HUB.into()),
            ));
            return out;
        }
        Ok(resp) => {
            let status = resp.status();
            let ms = started.elapsed().as_millis();
            let body: Option<Value> = resp.json().await.ok();
            let (c, health) = health_check(hub, status, ms, body);
            out.push(c);
            health
        }
    };

    // Without the secret first: does /mcp demand one?
    let anon = discover(client, hub, None).await;
    let mut discovered = None;
    let mut secret_missing = false;
    let secret = creds.secret.as_ref();
    let auth = match &anon {
        Err(e) => check(
            "hub secret",
            Status::Fail,
            format!("POST {} failed: {}", hub.mcp, describe(e)),
            Some(START_HUB.into()),
        ),
        Ok(a) if a.status == StatusCode::UNAUTHORIZED => match secret {
            None => {
                secret_missing = true;
                check(
                    "hub secret",
                    Status::Warn,
                    "secret required (401 without one); yours is not checked: none given",
                    Some(format!(
                        "set {ENV_HTTP_SECRET} or pass --secret-file PATH to check the secret your clients send"
                    )),
                )
            }
            Some(s) => match discover(client, hub, Some(s.expose())).await {
                Err(e) => check(
                    "hub secret",
                    Status::Fail,
                    format!("POST {} failed: {}", hub.mcp, describe(&e)),
                    Some(START_HUB.into()),
                ),
                Ok(a) if a.status.is_success() && a.deprecated => {
                    discovered = a.result().cloned();
                    check(
                        "hub secret",
                        Status::Warn,
                        format!(
                            "secret required; the one from {} is accepted as a previous secret (X-Relay-Secret-Deprecated)",
                            s.from
                        ),
                        Some("switch your clients to the hub's current secret before the old one is retired".into()),
                    )
                }
                Ok(a) if a.status.is_success() => {
                    discovered = a.result().cloned();
                    check(
                        "hub secret",
                        Status::Pass,
                        format!("secret required; the one from {} is accepted", s.from),
                        None,
                    )
                }
                Ok(a) if a.status == StatusCode::UNAUTHORIZED => check(
                    "hub secret",
                    Status::Fail,
                    format!("secret required; the one from {} is refused: {}", s.from, a.why()),
                    Some(format!(
                        "use the hub's current secret (its {ENV_HTTP_SECRET} or [http] secret_file)"
                    )),
                ),
                Ok(a) => refused(hub, &a),
            },
        },
        Ok(a) if a.status.is_success() => {
            discovered = a.result().cloned();
            let extra = if secret.is_some() {
                " (the secret given is not needed)"
            } else {
                ""
            };
            if hub.loopback {
                check(
                    "hub secret",
                    Status::Pass,
                    format!("none required: a loopback hub, reachable from this machine only{extra}"),
                    None,
                )
            } else {
                check(
                    "hub secret",
                    Status::Warn,
                    format!(
                        "none required, yet {} is not a loopback address: anyone who reaches it can register agents{extra}",
                        hub.mcp.host_str().unwrap_or_default()
                    ),
                    Some(format!(
                        "give the hub a secret ({ENV_HTTP_SECRET} or [http] secret_file in its config.toml) and restart it"
                    )),
                )
            }
        }
        Ok(a) => refused(hub, a),
    };

    out.push(revisions_check(health.as_ref(), discovered.as_ref()));
    out.push(auth);

    if let Some(token) = &creds.token {
        out.push(if secret_missing {
            check(
                "agent token",
                Status::Warn,
                format!(
                    "the token from {} is not checked: the hub requires its secret first",
                    token.from
                ),
                Some(format!("set {ENV_HTTP_SECRET} or pass --secret-file PATH")),
            )
        } else {
            token_check(client, hub, secret.map(Credential::expose), token).await
        });
    }
    out
}

/// The `hub secret` verdict for an answer that is neither success nor 401.
fn refused(hub: &Endpoints, a: &Answer) -> Check {
    let (status, fix) = match a.status {
        StatusCode::FORBIDDEN => (
            Status::Fail,
            "the hub refuses this Host or Origin: add it to [http] allowed_hosts (or allowed_origins) in the hub's config.toml",
        ),
        StatusCode::TOO_MANY_REQUESTS => (Status::Warn, "wait a moment (Retry-After) and run doctor again"),
        _ => (
            Status::Fail,
            "point --remote at the hub's MCP endpoint (http://HOST:PORT/mcp) of a relay hub",
        ),
    };
    check(
        "hub secret",
        status,
        format!("POST {} answered HTTP {}: {}", hub.mcp, a.status.as_u16(), a.why()),
        Some(fix.into()),
    )
}

/// The `hub reachable` verdict for `/health`'s answer; returns the body
/// when it is a relay health report.
fn health_check(hub: &Endpoints, status: StatusCode, ms: u128, body: Option<Value>) -> (Check, Option<Value>) {
    match Health::classify(status, body) {
        Health::Ok { body: b, .. } => {
            let counts = &b["counts"];
            let mut detail = format!(
                "{} answered in {ms} ms; up {}",
                hub.health,
                humantime::format_duration(Duration::from_secs(b["uptime_seconds"].as_u64().unwrap_or(0)))
            );
            let plural = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            if let (Some(agents), Some(online)) = (counts["agents"].as_u64(), counts["online_agents"].as_u64()) {
                detail.push_str(&format!(", {} ({online} online)", plural(agents, "agent")));
            }
            if let Some(tasks) = counts["open_tasks"].as_u64() {
                detail.push_str(&format!(", {}", plural(tasks, "open task")));
            }
            (check("hub reachable", Status::Pass, detail, None), Some(b))
        }
        Health::Unhealthy { status, error_code } => (
            check(
                "hub reachable",
                Status::Fail,
                format!(
                    "{} answered HTTP {status}: the hub cannot read its store ({})",
                    hub.health,
                    error_code.as_deref().unwrap_or("no error_code")
                ),
                Some("run relay doctor on the hub's machine".into()),
            ),
            None,
        ),
        Health::NoHealth => (
            check(
                "hub reachable",
                Status::Warn,
                format!(
                    "the hub answers, but {} is HTTP 404: a relay older than /health, or not relay",
                    hub.health
                ),
                Some("upgrade relay on the hub's machine".into()),
            ),
            None,
        ),
        Health::NotRelay { status } => (
            check(
                "hub reachable",
                Status::Fail,
                format!("{} answered HTTP {status} without a relay health report", hub.health),
                Some("check that the URL names a relay hub (relay serve --transport http)".into()),
            ),
            None,
        ),
    }
}

/// The `protocol revisions` verdict, from `/health` or else from
/// `server/discover` (`supportedVersions` and `serverInfo` in `_meta`).
fn revisions_check(health: Option<&Value>, discovered: Option<&Value>) -> Check {
    let (version, revisions, source) = match (health, discovered) {
        (Some(h), _) => (h["relay_version"].as_str(), &h["protocol_revisions"], "/health"),
        (None, Some(d)) => (
            d["_meta"]["io.modelcontextprotocol/serverInfo"]["version"].as_str(),
            &d["supportedVersions"],
            "server/discover",
        ),
        (None, None) => {
            return check(
                "protocol revisions",
                Status::Warn,
                "unknown: neither /health nor server/discover answered",
                Some("see the checks above".into()),
            );
        }
    };
    let mut revisions: Vec<&str> = revisions
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    revisions.sort_unstable_by(|a, b| b.cmp(a));
    let version = version.unwrap_or("of an unknown version");
    let listed = if revisions.is_empty() {
        "none".to_owned()
    } else {
        revisions.join(", ")
    };
    let detail = format!("relay {version} speaks {listed} (from {source})");
    if revisions.iter().any(|r| CLIENT_REVISIONS.contains(r)) {
        check("protocol revisions", Status::Pass, detail, None)
    } else {
        check(
            "protocol revisions",
            Status::Fail,
            format!("{detail}; today's clients speak {}", CLIENT_REVISIONS.join(" or ")),
            Some("upgrade relay on the hub's machine".into()),
        )
    }
}

/// The `agent token` verdict: `health_check` as the token's agent.
async fn token_check(client: &reqwest::Client, hub: &Endpoints, secret: Option<&str>, token: &Credential) -> Check {
    let args = json!({ "name": "health_check", "arguments": {} });
    let answer = post(
        client,
        hub,
        "tools/call",
        Some("health_check"),
        args,
        secret,
        Some(token.expose()),
    )
    .await;
    let lost = "use the token register_agent returned for this agent (shown once); if it is lost, run relay recover \
                NAME on the hub's machine and register the name again";
    match answer {
        Err(e) => check(
            "agent token",
            Status::Fail,
            format!("POST {} failed: {}", hub.mcp, describe(&e)),
            Some(START_HUB.into()),
        ),
        Ok(a) if a.status == StatusCode::UNAUTHORIZED => check(
            "agent token",
            Status::Fail,
            format!("the hub refuses the token from {}: {}", token.from, a.why()),
            Some(lost.into()),
        ),
        Ok(a) if a.status == StatusCode::TOO_MANY_REQUESTS => check(
            "agent token",
            Status::Warn,
            format!("not checked: rate limited ({})", a.why()),
            Some("wait a moment (Retry-After) and run doctor again".into()),
        ),
        Ok(a) => {
            let result = a.result();
            let output = result.and_then(|r| {
                r.get("structuredContent").cloned().or_else(|| {
                    r["content"][0]["text"]
                        .as_str()
                        .and_then(|t| serde_json::from_str(t).ok())
                })
            });
            let failed = result.is_none_or(|r| r["isError"] == true);
            match output.as_ref().and_then(|o| o["agent"]["name"].as_str()) {
                Some(name) if !failed => {
                    let unread = output
                        .as_ref()
                        .and_then(|o| o["unread_messages"].as_u64())
                        .map(|n| format!(", {n} unread messages"))
                        .unwrap_or_default();
                    check(
                        "agent token",
                        Status::Pass,
                        format!("the token from {} is agent {name}{unread}", token.from),
                        None,
                    )
                }
                _ => check(
                    "agent token",
                    Status::Fail,
                    format!(
                        "health_check with the token from {} names no agent: {}",
                        token.from,
                        if a.status.is_success() && !failed {
                            "the hub ignored X-Agent-Token".to_owned()
                        } else {
                            a.why()
                        }
                    ),
                    Some(lost.into()),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_read_from_files_never_show_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, token) = (dir.path().join("secret"), dir.path().join("token"));
        std::fs::write(&secret, "hub-secret-do-not-print\n").unwrap();
        std::fs::write(&token, "rly_token-do-not-print\n").unwrap();
        let creds = Credentials::resolve(Some(&secret), Some(&token)).unwrap();
        assert_eq!(creds.secret.as_ref().unwrap().expose(), "hub-secret-do-not-print");
        assert_eq!(creds.token.as_ref().unwrap().expose(), "rly_token-do-not-print");
        let shown = format!("{creds:?}");
        assert!(!shown.contains("do-not-print"), "{shown}");
    }

    #[test]
    fn revisions_pass_with_a_revision_clients_speak() {
        let health = json!({ "relay_version": "9.9.9", "protocol_revisions": ["2025-06-18", "2026-07-28"] });
        let c = revisions_check(Some(&health), None);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.detail, "relay 9.9.9 speaks 2026-07-28, 2025-06-18 (from /health)");
        let old = json!({ "relay_version": "0.0.1", "protocol_revisions": ["2024-11-05"] });
        assert_eq!(revisions_check(Some(&old), None).status, Status::Fail);
        let discovered = json!({
            "supportedVersions": ["2025-11-25"],
            "_meta": { "io.modelcontextprotocol/serverInfo": { "version": "0.1.0" } },
        });
        let c = revisions_check(None, Some(&discovered));
        assert_eq!(c.status, Status::Pass);
        assert!(c.detail.contains("from server/discover"), "{}", c.detail);
        assert_eq!(revisions_check(None, None).status, Status::Warn);
    }
}
