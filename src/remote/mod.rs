//! Clients of a remote hub (SPEC §7): `relay pair`, and `relay worker`,
//! `relay hook` and `relay tail` with `--hub` on a machine without the
//! store. They only speak protocol: the hub enforces access (secret,
//! token, capabilities, rate limits) and every task rule.
//!
//! - [`Endpoints`]: a hub's `/health`, `/mcp` and `/api/events` from the
//!   URL a user gives.
//! - [`post`]: one 2026-07-28 stateless MCP request (no session), for
//!   probes and the hook.
//! - [`session::HubSession`]: an rmcp 2025-11-25 session that reconnects
//!   after the hub restarts and wakes its owner on
//!   `notifications/resources/updated` (the worker).
//! - [`events`]: the `GET /api/events` server-sent-events client (tail).
//! - [`pairing`]: what `relay pair` keeps under the config dir.
//! - [`Target`]: which hub, token and secret a remote command uses.

pub mod events;
pub mod pairing;
pub mod session;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use crate::cli::HubArgs;
use crate::config::Secret;
use pairing::{Pairing, Pairings};

/// The revision of stateless requests (MCP 2026-07-28: `_meta` on every
/// request, no session).
pub const STATELESS_REVISION: &str = "2026-07-28";
/// The revisions relay's clients speak, newest first; a hub must offer
/// one of them.
pub const CLIENT_REVISIONS: [&str; 2] = ["2026-07-28", "2025-11-25"];
/// The variable holding an agent token for `relay worker`/`hook`/`tail`
/// with `--hub` (the token itself; prefer `--token-file` or a pairing).
pub const ENV_AGENT_TOKEN: &str = "RELAY_AGENT_TOKEN";
/// The path of the hub's server-sent-events stream of outbox events.
pub const EVENTS_PATH: &str = "/api/events";

/// A hub's addresses, from the URL the user gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `{base}/health`.
    pub health: Url,
    /// `{base}/mcp`.
    pub mcp: Url,
    /// `{base}/api/events`.
    pub events: Url,
    /// `{base}` (no trailing slash), as pairings record it.
    pub base: String,
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
            events: at(EVENTS_PATH),
            base: at("").as_str().trim_end_matches('/').to_owned(),
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

/// An answer from `/mcp`.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// `X-Relay-Secret-Deprecated: true`: a previous secret was used.
    pub deprecated: bool,
    /// The JSON-RPC message (from a JSON body or the SSE stream's event).
    pub message: Option<Value>,
}

impl Answer {
    /// The JSON-RPC error's message, or the HTTP status.
    pub fn why(&self) -> String {
        self.message
            .as_ref()
            .and_then(|m| m["error"]["message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }

    /// The JSON-RPC `result`, if the request succeeded.
    pub fn result(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("result"))
    }
}

/// The first JSON-RPC response in `body`: plain JSON, or the `data:` of
/// an SSE event (MCP Streamable HTTP answers a POST either way).
pub fn jsonrpc_message(body: &str) -> Option<Value> {
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
/// A timeout says `timeouts` (e.g. "3 s to connect or 5 s in all").
pub fn describe(err: &reqwest::Error, timeouts: &str) -> String {
    if err.is_timeout() {
        return format!("no answer within {timeouts}");
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A 2026-07-28 stateless request (MCP 2026-07-28 basic/transports): one
/// POST to `/mcp` with `method` (`Mcp-Name` = `name` for `tools/call` and
/// `resources/read`), `params` and the `_meta` keys every request carries;
/// `client` names the caller in `clientInfo`. The secret goes as
/// `Authorization: Bearer`, the token as `X-Agent-Token`; neither is
/// logged.
///
/// Errors: the request failed (connect, timeout, body); an HTTP error
/// status is an [`Answer`], not an error.
#[allow(clippy::too_many_arguments)]
pub async fn post(
    client: &reqwest::Client,
    hub: &Endpoints,
    client_name: &str,
    method: &str,
    name: Option<&str>,
    mut params: Value,
    secret: Option<&str>,
    token: Option<&str>,
) -> Result<Answer, reqwest::Error> {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_REVISION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": client_name, "version": env!("CARGO_PKG_VERSION") },
    });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
    let mut req = client
        .post(hub.mcp.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .header("MCP-Protocol-Version", STATELESS_REVISION)
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

/// A secret or token and where it came from (for messages; never the
/// value itself).
#[derive(Debug, Clone)]
pub struct Credential {
    /// The value (zeroed on drop; `Debug` prints `[redacted]`).
    pub value: Secret,
    /// `--token-file PATH`, `RELAY_AGENT_TOKEN`, the pairing's token file, ….
    pub from: String,
}

impl Credential {
    /// The value as text (it is visible ASCII: a token or a hub secret).
    pub fn expose(&self) -> &str {
        std::str::from_utf8(self.value.expose()).unwrap_or_default()
    }
}

/// Reads a credential from `file` (whitespace around it ignored) when
/// given, else from the variable `var` (empty counts as unset).
///
/// Errors: the file cannot be read or holds nothing.
pub fn credential(file: Option<&Path>, var: &str, flag: &str) -> anyhow::Result<Option<Credential>> {
    if let Some(path) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("cannot read {flag} {}", path.display()))?,
        );
        let value = text.trim();
        if value.is_empty() {
            bail!("{flag} {} is empty", path.display());
        }
        return Ok(Some(Credential {
            value: Secret::new(value),
            from: format!("{flag} {}", path.display()),
        }));
    }
    let Some(text) = std::env::var(var).ok().map(zeroize::Zeroizing::new) else {
        return Ok(None);
    };
    let value = text.trim();
    Ok((!value.is_empty()).then(|| Credential {
        value: Secret::new(value),
        from: var.to_owned(),
    }))
}

/// Which hub a remote command works against, and with what.
#[derive(Debug, Clone)]
pub struct Target {
    /// The hub's endpoints.
    pub hub: Endpoints,
    /// The agent's token (`X-Agent-Token`), if one was found.
    pub token: Option<Credential>,
    /// The hub secret (`Authorization: Bearer`), if one was given.
    pub secret: Option<Credential>,
    /// The config dir (pairings, token files, hook cursors).
    pub config_dir: PathBuf,
}

impl Target {
    /// The hub a command with `args` works against for `agent`, or `None`
    /// to work on the local store: `--hub URL` (or `RELAY_HUB`), else the
    /// hub `relay pair` paired `agent` with (`paired.toml` in
    /// `config_dir`).
    ///
    /// The token: `--token-file`, else `RELAY_AGENT_TOKEN`, else the
    /// pairing's token file when the pairing is with this hub. The
    /// secret: `--secret-file`, else `RELAY_HTTP_SECRET`.
    ///
    /// Errors: a bad URL, an unreadable `paired.toml` or credential file.
    pub fn resolve(args: &HubArgs, agent: Option<&str>, config_dir: &Path) -> anyhow::Result<Option<Self>> {
        let pairing: Option<Pairing> = match agent {
            Some(agent) if args.hub.is_none() || args.token_file.is_none() => {
                Pairings::load(config_dir)?.get(agent).cloned()
            }
            _ => None,
        };
        let Some(url) = args.hub.clone().or_else(|| pairing.as_ref().map(|p| p.hub.clone())) else {
            return Ok(None);
        };
        let hub = Endpoints::parse(&url).context("--hub")?;
        let mut token = credential(args.token_file.as_deref(), ENV_AGENT_TOKEN, "--token-file")?;
        if token.is_none()
            && let Some(p) = pairing
                .as_ref()
                .filter(|p| Endpoints::parse(&p.hub).is_ok_and(|e| e.base == hub.base))
        {
            token = credential(Some(&p.token_file), "", "the token file of `relay pair`")?;
        }
        let secret = credential(
            args.secret_file.as_deref(),
            crate::config::ENV_HTTP_SECRET,
            "--secret-file",
        )?;
        Ok(Some(Self {
            hub,
            token,
            secret,
            config_dir: config_dir.to_owned(),
        }))
    }

    /// The token, or an error saying how to get one.
    ///
    /// Errors: no `--token-file`, no `RELAY_AGENT_TOKEN` and no pairing of
    /// `agent` with this hub.
    pub fn require_token(&self, agent: &str) -> anyhow::Result<&Credential> {
        self.token.as_ref().with_context(|| {
            format!(
                "no token for agent {agent} at {}: run `relay pair {} --name {agent}` on this machine, or pass \
                 --token-file FILE (or set {ENV_AGENT_TOKEN})",
                self.hub.base, self.hub.base
            )
        })
    }
}

/// An HTTP client for a hub: `connect` to connect (TCP and TLS), `total`
/// for a whole request (`None`: no limit, for streams), no redirects (the
/// secret and the token would follow them), TCP_NODELAY.
///
/// Errors: the TLS backend cannot start.
pub fn http_client(connect: Duration, total: Option<Duration>, agent: &str) -> anyhow::Result<reqwest::Client> {
    client_builder(connect, total, agent)
        .build()
        .context("cannot build the HTTP client")
}

/// [`http_client`] for a hub at `hub`: for a plain `http://` hub without
/// the platform's TLS roots, whose loading costs tens of milliseconds
/// (the hook's budget; no certificate is ever checked over plain HTTP and
/// redirects are not followed).
///
/// Errors: the TLS backend cannot start.
pub fn hub_client(
    hub: &Endpoints,
    connect: Duration,
    total: Option<Duration>,
    agent: &str,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = client_builder(connect, total, agent);
    if hub.mcp.scheme() == "http" {
        builder = builder.tls_certs_only(Vec::new());
    }
    builder.build().context("cannot build the HTTP client")
}

fn client_builder(connect: Duration, total: Option<Duration>, agent: &str) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect)
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .user_agent(format!("{agent}/{}", env!("CARGO_PKG_VERSION")));
    if let Some(total) = total {
        builder = builder.timeout(total);
    }
    builder
}

/// A `/health` report, classified (SPEC §7 `GET /health`).
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// 200 with `"status": "ok"`: the relay version, the protocol
    /// revisions (newest first) and the whole body.
    Ok {
        /// `relay_version`.
        version: String,
        /// `protocol_revisions`, newest first.
        revisions: Vec<String>,
        /// The report.
        body: Value,
    },
    /// A relay health report that is not ok (503: the store cannot be
    /// read); its `error_code`.
    Unhealthy {
        /// The HTTP status.
        status: u16,
        /// `error_code`, if the report has one.
        error_code: Option<String>,
    },
    /// 404: something answers, but has no `/health`.
    NoHealth,
    /// An answer that is not a relay health report.
    NotRelay {
        /// The HTTP status.
        status: u16,
    },
}

impl Health {
    /// Classifies `/health`'s answer: its status and its body, if JSON.
    pub fn classify(status: StatusCode, body: Option<Value>) -> Self {
        let report = body.filter(|b| b.get("status").is_some_and(Value::is_string));
        match report {
            Some(b) if status.is_success() && b["status"] == "ok" => {
                let mut revisions: Vec<String> = b["protocol_revisions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default();
                revisions.sort_unstable_by(|a, b| b.cmp(a));
                Self::Ok {
                    version: b["relay_version"]
                        .as_str()
                        .unwrap_or("of an unknown version")
                        .to_owned(),
                    revisions,
                    body: b,
                }
            }
            Some(b) => Self::Unhealthy {
                status: status.as_u16(),
                error_code: b["error_code"].as_str().map(str::to_owned),
            },
            None if status == StatusCode::NOT_FOUND => Self::NoHealth,
            None => Self::NotRelay {
                status: status.as_u16(),
            },
        }
    }
}

/// The newest of `revisions` that relay's clients speak ([`CLIENT_REVISIONS`]).
pub fn shared_revision<S: AsRef<str>>(revisions: &[S]) -> Option<&'static str> {
    CLIENT_REVISIONS
        .into_iter()
        .find(|c| revisions.iter().any(|r| r.as_ref() == *c))
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
            assert_eq!(e.events.as_str(), "http://127.0.0.1:3777/api/events", "{url}");
            assert_eq!(e.base, "http://127.0.0.1:3777", "{url}");
            assert!(e.loopback);
        }
        let e = Endpoints::parse("https://hub.example.com/relay/mcp?x=1").unwrap();
        assert_eq!(e.health.as_str(), "https://hub.example.com/relay/health");
        assert_eq!(e.mcp.as_str(), "https://hub.example.com/relay/mcp");
        assert_eq!(e.base, "https://hub.example.com/relay");
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
    fn health_reports_are_classified() {
        let ok = json!({"status": "ok", "relay_version": "1.2.3", "protocol_revisions": ["2025-11-25", "2026-07-28"]});
        let Health::Ok { version, revisions, .. } = Health::classify(StatusCode::OK, Some(ok)) else {
            panic!("not ok")
        };
        assert_eq!((version.as_str(), revisions[0].as_str()), ("1.2.3", "2026-07-28"));
        assert_eq!(shared_revision(&revisions), Some("2026-07-28"));
        assert_eq!(shared_revision(&["2024-11-05"]), None);
        let down = json!({"status": "error", "error_code": "CORRUPT_STORE"});
        assert_eq!(
            Health::classify(StatusCode::SERVICE_UNAVAILABLE, Some(down)),
            Health::Unhealthy {
                status: 503,
                error_code: Some("CORRUPT_STORE".into())
            }
        );
        assert_eq!(Health::classify(StatusCode::NOT_FOUND, None), Health::NoHealth);
        assert_eq!(
            Health::classify(StatusCode::OK, Some(json!({"hello": "world"}))),
            Health::NotRelay { status: 200 }
        );
    }
}
