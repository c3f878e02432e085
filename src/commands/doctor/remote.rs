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
//! - **agent token** (only when `RELAY_TOKEN` or `--token-file` gives
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

use anyhow::{Context, bail};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use super::{Check, Status, check};

/// How long to wait for the TCP (and TLS) connection, in seconds (3).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one whole request may take, in seconds (5).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The revisions today's MCP clients speak; a hub must offer one of them.
pub const CLIENT_REVISIONS: [&str; 2] = ["2026-07-28", "2025-11-25"];
/// The revision of doctor's own requests: stateless, no session.
const STATELESS: &str = "2026-07-28";
/// The variable that may hold the hub secret (as on the hub).
pub const ENV_SECRET: &str = "RELAY_HTTP_SECRET";
/// The variable that may hold an agent token.
pub const ENV_TOKEN: &str = "RELAY_TOKEN";

/// A value to check and where it came from (for the report; never the
/// value itself).
#[derive(Debug, Clone)]
pub struct Given {
    /// The secret or token.
    pub value: String,
    /// `RELAY_TOKEN`, `--token-file PATH`, ….
    pub from: String,
}

/// What `--remote` checks with.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The hub secret, if one was given.
    pub secret: Option<Given>,
    /// An agent token, if one was given.
    pub token: Option<Given>,
}

impl Credentials {
    /// `--secret-file`/`--token-file` when given, else `RELAY_HTTP_SECRET`
    /// and `RELAY_TOKEN` (empty counts as unset).
    ///
    /// Errors: a file that cannot be read or holds nothing.
    pub fn resolve(secret_file: Option<&Path>, token_file: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Self {
            secret: given(secret_file, ENV_SECRET, "--secret-file")?,
            token: given(token_file, ENV_TOKEN, "--token-file")?,
        })
    }
}

fn given(file: Option<&Path>, var: &str, flag: &str) -> anyhow::Result<Option<Given>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {flag} {}", path.display()))?;
        let value = text.trim();
        if value.is_empty() {
            bail!("{flag} {} is empty", path.display());
        }
        return Ok(Some(Given {
            value: value.to_owned(),
            from: format!("{flag} {}", path.display()),
        }));
    }
    Ok(std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(|value| Given {
            value,
            from: var.to_owned(),
        }))
}

/// A hub's addresses, from the URL the user gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `{base}/health`.
    pub health: Url,
    /// `{base}/mcp`.
    pub mcp: Url,
    /// Whether the host is loopback (`localhost`, `*.localhost`,
    /// 127.0.0.0/8, `::1`): only this machine can reach it.
    pub loopback: bool,
}

impl Endpoints {
    /// Parses `url`: the MCP endpoint (`http://HOST:PORT/mcp`) or its base
    /// (`http://HOST:PORT`, or a reverse proxy's prefix such as
    /// `https://host/relay`). Query and fragment are dropped.
    ///
    /// Errors: not an `http` or `https` URL with a host.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let mut parsed =
            Url::parse(url).with_context(|| format!("{url:?} is not a URL (e.g. http://127.0.0.1:3777/mcp)"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            bail!("{url:?} is not an http:// or https:// URL with a host (e.g. http://127.0.0.1:3777/mcp)");
        }
        parsed.set_query(None);
        parsed.set_fragment(None);
        let path = parsed.path().trim_end_matches('/');
        let base = path.strip_suffix(crate::http::MCP_PATH).unwrap_or(path).to_owned();
        let at = |suffix: &str| {
            let mut u = parsed.clone();
            u.set_path(&format!("{base}{suffix}"));
            u
        };
        Ok(Self {
            health: at("/health"),
            mcp: at(crate::http::MCP_PATH),
            loopback: is_loopback(&parsed),
        })
    }
}

/// Whether `url`'s host is loopback: `localhost`, `*.localhost`
/// (RFC 6761 §6.3), 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
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

/// An answer from `/mcp`.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    /// `X-Relay-Secret-Deprecated: true`: a previous secret was used.
    deprecated: bool,
    /// The JSON-RPC message (from a JSON body or the SSE stream's event).
    message: Option<Value>,
}

impl Answer {
    /// The JSON-RPC error's message, or the HTTP status.
    fn why(&self) -> String {
        self.message
            .as_ref()
            .and_then(|m| m["error"]["message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }

    fn result(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("result"))
    }
}

/// The first JSON-RPC response in `body`: plain JSON, or the `data:` of
/// an SSE event (MCP Streamable HTTP answers a POST either way).
fn jsonrpc_message(body: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return Some(v);
    }
    let mut data = String::new();
    for line in body.lines().chain(std::iter::once("")) {
        if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        } else if line.is_empty() && !data.is_empty() {
            match serde_json::from_str::<Value>(&data) {
                Ok(v) if v.get("result").is_some() || v.get("error").is_some() => return Some(v),
                _ => data.clear(),
            }
        }
    }
    None
}

/// Why a request failed, in a few words (the innermost cause).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!(
            "no answer within {} s to connect or {} s in all",
            CONNECT_TIMEOUT.as_secs(),
            REQUEST_TIMEOUT.as_secs()
        );
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A 2026-07-28 stateless request: `method` (`Mcp-Name` = `name` for
/// `tools/call`) with `params` and the `_meta` keys every request carries.
async fn post(
    client: &reqwest::Client,
    hub: &Endpoints,
    method: &str,
    name: Option<&str>,
    mut params: Value,
    secret: Option<&str>,
    token: Option<&str>,
) -> Result<Answer, reqwest::Error> {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "relay-doctor", "version": env!("CARGO_PKG_VERSION") },
    });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let mut req = client
        .post(hub.mcp.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .header("MCP-Protocol-Version", STATELESS)
        .header("Mcp-Method", method)
        .body(body.to_string());
    if let Some(name) = name {
        req = req.header("Mcp-Name", name);
    }
    if let Some(secret) = secret {
        req = req.header(AUTHORIZATION, format!("Bearer {secret}"));
    }
    if let Some(token) = token {
        req = req.header("X-Agent-Token", token);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let deprecated = resp
        .headers()
        .get("x-relay-secret-deprecated")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let text = resp.text().await?;
    Ok(Answer {
        status,
        deprecated,
        message: jsonrpc_message(&text),
    })
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
                        "set {ENV_SECRET} or pass --secret-file PATH to check the secret your clients send"
                    )),
                )
            }
            Some(s) => match discover(client, hub, Some(&s.value)).await {
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
                        "use the hub's current secret (its {ENV_SECRET} or [http] secret_file)"
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
                        "give the hub a secret ({ENV_SECRET} or [http] secret_file in its config.toml) and restart it"
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
                Some(format!("set {ENV_SECRET} or pass --secret-file PATH")),
            )
        } else {
            token_check(client, hub, secret.map(|s| s.value.as_str()), token).await
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
    let report = body.filter(|b| b.get("status").is_some_and(Value::is_string));
    match (status, report) {
        (s, Some(b)) if s.is_success() && b["status"] == "ok" => {
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
        (_, Some(b)) => (
            check(
                "hub reachable",
                Status::Fail,
                format!(
                    "{} answered HTTP {}: the hub cannot read its store ({})",
                    hub.health,
                    status.as_u16(),
                    b["error_code"].as_str().unwrap_or("no error_code")
                ),
                Some("run relay doctor on the hub's machine".into()),
            ),
            None,
        ),
        (s, None) if s == StatusCode::NOT_FOUND => (
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
        (s, None) => (
            check(
                "hub reachable",
                Status::Fail,
                format!(
                    "{} answered HTTP {} without a relay health report",
                    hub.health,
                    s.as_u16()
                ),
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
async fn token_check(client: &reqwest::Client, hub: &Endpoints, secret: Option<&str>, token: &Given) -> Check {
    let args = json!({ "name": "health_check", "arguments": {} });
    let answer = post(
        client,
        hub,
        "tools/call",
        Some("health_check"),
        args,
        secret,
        Some(&token.value),
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
    fn endpoints_accept_the_mcp_url_or_its_base() {
        for url in [
            "http://127.0.0.1:3777/mcp",
            "http://127.0.0.1:3777/mcp/",
            "http://127.0.0.1:3777",
            "http://127.0.0.1:3777/",
        ] {
            let e = Endpoints::parse(url).unwrap();
            assert_eq!(e.health.as_str(), "http://127.0.0.1:3777/health", "{url}");
            assert_eq!(e.mcp.as_str(), "http://127.0.0.1:3777/mcp", "{url}");
            assert!(e.loopback);
        }
        let e = Endpoints::parse("https://hub.example.com/relay/mcp?x=1").unwrap();
        assert_eq!(e.health.as_str(), "https://hub.example.com/relay/health");
        assert_eq!(e.mcp.as_str(), "https://hub.example.com/relay/mcp");
        assert!(!e.loopback);
        assert!(Endpoints::parse("ftp://host/mcp").is_err());
        assert!(Endpoints::parse("127.0.0.1:3777").is_err());
    }

    #[test]
    fn loopback_is_localhost_127_8_and_ipv6_one() {
        for (url, loopback) in [
            ("http://localhost:1/", true),
            ("http://relay.localhost/", true),
            ("http://127.3.4.5/", true),
            ("http://[::1]:3777/", true),
            ("http://10.0.0.2/", false),
            ("http://localhost.example.com/", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), loopback, "{url}");
        }
    }

    #[test]
    fn jsonrpc_messages_come_as_json_or_as_an_sse_event() {
        let json = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert_eq!(jsonrpc_message(json).unwrap()["id"], 1);
        let sse = format!(": keep-alive\n\nid: 0\ndata: {json}\n\n");
        assert_eq!(jsonrpc_message(&sse).unwrap()["id"], 1);
        let unterminated = format!("data: {json}");
        assert_eq!(jsonrpc_message(&unterminated).unwrap()["id"], 1);
        assert!(jsonrpc_message("").is_none());
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
