//! Settings resolved once, in one place: flags > environment > config
//! file > defaults.
//!
//! The config file is TOML (`relay init` writes one): `--config PATH`,
//! `RELAY_CONFIG`, or the platform config dir (Linux:
//! `~/.config/relay/config.toml`). A missing default file means defaults;
//! a missing file named explicitly, bad TOML or an unknown key is an error
//! (exit 2).
//!
//! ```toml
//! db = "/home/me/.local/share/relay/relay.db"
//!
//! [limits]
//! max_content_bytes = 65536   # UTF-8 bytes per message, post, task text
//! max_title_chars = 256
//! max_line_bytes = 4194304    # one JSON-RPC line
//!
//! [retention]                 # days
//! read_messages_days = 30
//! events_days = 7
//! audit_days = 90
//! tasks_days = 30
//!
//! [encryption]                # SPEC §6; see crate::crypto
//! keyring_path = "/home/me/.config/relay/keyring.json"
//!
//! [http]                      # the hub, `relay serve --transport http` (SPEC §7)
//! host = "127.0.0.1"
//! port = 3777
//! secret_file = "hub.secret"  # or secret = "..."; RELAY_HTTP_SECRET overrides both
//! previous_secrets = []       # still accepted while clients rotate
//! allowed_hosts = ["relay.example.com"]
//! allowed_origins = ["https://relay.example.com"]
//! trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
//! idle_session_seconds = 1800
//!
//! [webhooks]                  # delivery (SPEC §7); see crate::webhook
//! allow = ["127.0.0.1", "::1", "10.1.0.0/16"]  # addresses a receiver may have despite the SSRF guard
//! connect_timeout_seconds = 5
//! timeout_seconds = 10        # the whole request
//! max_in_flight = 64          # concurrent deliveries per relay process
//!
//! [http.rate_limit]           # requests per second; 0 turns a limit off
//! ip_per_second = 2000
//! ip_burst = 4000
//! agent_per_second = 500
//! agent_burst = 1000
//! loopback = false            # limit clients on loopback too
//! ```
//!
//! The keyring itself never goes in this file (`relay backup` packs the
//! config next to the store; keys belong elsewhere).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cli::GlobalArgs;
use crate::crypto::{self, Codec, Keyring, KeyringSource};
use crate::error::{Error, ErrorCode, Result};
use crate::http::proxy::IpNet;
use crate::store::retention::Retention;
use crate::store::{Limits, Store};

/// Largest JSON-RPC line `relay serve` accepts on stdio by default, in
/// bytes (SPEC §8).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Everything a subcommand needs to know about where and how to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The SQLite store.
    pub db: PathBuf,
    /// Write limits.
    pub limits: Limits,
    /// Retention periods.
    pub retention: Retention,
    /// Largest JSON-RPC line accepted, in bytes.
    pub max_line_bytes: usize,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Every place that names an encryption keyring; [`Settings::keyring`]
    /// refuses more than one.
    pub keyring_sources: Vec<KeyringSource>,
    /// The HTTP hub (`[http]`), validated.
    pub http: HttpSettings,
    /// Webhook delivery (`[webhooks]`), validated.
    pub webhooks: WebhookSettings,
}

/// The config file's shape. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The store path.
    pub db: Option<PathBuf>,
    /// Limits.
    #[serde(default)]
    pub limits: FileLimits,
    /// Retention, in days.
    #[serde(default)]
    pub retention: FileRetention,
    /// Encryption at rest.
    #[serde(default)]
    pub encryption: FileEncryption,
    /// The HTTP hub.
    #[serde(default)]
    pub http: FileHttp,
    /// Webhook delivery.
    #[serde(default)]
    pub webhooks: FileWebhooks,
}

/// `[encryption]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEncryption {
    /// A keyring JSON file (SPEC §6). Relative paths are taken from the
    /// config file's directory.
    pub keyring_path: Option<PathBuf>,
}

/// `[limits]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Content limit in UTF-8 bytes.
    pub max_content_bytes: Option<usize>,
    /// Task title limit in characters.
    pub max_title_chars: Option<usize>,
    /// JSON-RPC line limit in bytes.
    pub max_line_bytes: Option<usize>,
}

/// `[retention]`, in days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRetention {
    /// Read messages.
    pub read_messages_days: Option<u32>,
    /// Outbox events.
    pub events_days: Option<u32>,
    /// Audit rows.
    pub audit_days: Option<u32>,
    /// Finished tasks.
    pub tasks_days: Option<u32>,
}

impl Settings {
    /// Resolves settings from the global flags (which include `RELAY_DB`
    /// and `RELAY_CONFIG`), the config file and platform defaults.
    ///
    /// Errors: [`ErrorCode::Validation`] for an unreadable or invalid
    /// config file (or one named with `--config` that does not exist);
    /// [`ErrorCode::Internal`] when no home directory is known.
    pub fn resolve(global: &GlobalArgs) -> Result<Self> {
        let (file, config_file) = match &global.config {
            Some(path) => (read(path)?, Some(path.clone())),
            None => match default_config_path() {
                Some(path) if path.exists() => (read(&path)?, Some(path)),
                _ => (FileConfig::default(), None),
            },
        };
        let db = match (&global.db, &file.db) {
            (Some(p), _) | (None, Some(p)) => p.clone(),
            (None, None) => default_db_path()?,
        };
        let d = Limits::default();
        let r = Retention::default();
        let limits = Limits {
            max_content_bytes: file.limits.max_content_bytes.unwrap_or(d.max_content_bytes),
            max_title_chars: file.limits.max_title_chars.unwrap_or(d.max_title_chars),
        };
        let retention = Retention {
            read_messages_days: file.retention.read_messages_days.unwrap_or(r.read_messages_days),
            events_days: file.retention.events_days.unwrap_or(r.events_days),
            audit_days: file.retention.audit_days.unwrap_or(r.audit_days),
            tasks_days: file.retention.tasks_days.unwrap_or(r.tasks_days),
        };
        let mut keyring_sources = Vec::new();
        if let Some(json) = std::env::var(crypto::ENV_KEYRING).ok().filter(|v| !v.is_empty()) {
            keyring_sources.push(KeyringSource::Env(json));
        }
        if let Some(path) = std::env::var_os(crypto::ENV_KEYRING_PATH).filter(|v| !v.is_empty()) {
            keyring_sources.push(KeyringSource::EnvPath(path.into()));
        }
        if let Some(path) = &file.encryption.keyring_path {
            let base = config_file.as_deref().and_then(Path::parent).unwrap_or(Path::new(""));
            keyring_sources.push(KeyringSource::Config(base.join(path)));
        }
        let max_line_bytes = file.limits.max_line_bytes.unwrap_or(MAX_LINE_BYTES);
        let base = config_file.as_deref().and_then(Path::parent).unwrap_or(Path::new(""));
        let env_secret = std::env::var(ENV_HTTP_SECRET).ok().filter(|v| !v.is_empty());
        let http = HttpSettings::resolve(&file.http, base, env_secret, max_line_bytes)?;
        let webhooks = WebhookSettings::resolve(&file.webhooks)?;
        Ok(Self {
            db,
            limits,
            retention,
            max_line_bytes,
            config_file,
            keyring_sources,
            http,
            webhooks,
        })
    }

    /// The encryption keyring, if one is configured.
    ///
    /// Errors ([`ErrorCode::Validation`], exit 2): more than one source,
    /// an unreadable file, malformed JSON or a bad key
    /// ([`crypto::load`]).
    pub fn keyring(&self) -> Result<Option<Arc<Keyring>>> {
        Ok(crypto::load(&self.keyring_sources)?.map(|(keyring, source)| {
            tracing::debug!(source = %source.describe(), current = keyring.current(), "encryption keyring loaded");
            Arc::new(keyring)
        }))
    }

    /// Opens the store these settings name, with the process clock
    /// ([`crate::clock::from_env`]: the system clock outside tests), the
    /// configured limits and the keyring.
    ///
    /// Errors: those of [`Settings::keyring`] and [`Store::open`].
    pub fn open_store(&self) -> Result<Store> {
        let codec = Codec::new(self.keyring()?);
        Store::open_with(&self.db, crate::clock::from_env(), self.limits, codec)
    }
}

fn read(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::validation(format!("cannot read the config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        Error::new(
            ErrorCode::Validation,
            format!("the config file {} is invalid: {e}", path.display()),
        )
    })
}

/// The platform config dir's `config.toml` (Linux:
/// `~/.config/relay/config.toml`).
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "relay").map(|d| d.config_dir().join("config.toml"))
}

/// The platform data directory's `relay.db` (Linux:
/// `~/.local/share/relay/relay.db`), from the `directories` crate.
pub fn default_db_path() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "relay")
        .map(|d| d.data_dir().join("relay.db"))
        .ok_or_else(|| Error::internal("cannot find a home directory; pass --db PATH or set RELAY_DB"))
}

/// The environment variable holding the hub secret; it overrides
/// `[http] secret` and `secret_file`.
pub const ENV_HTTP_SECRET: &str = "RELAY_HTTP_SECRET";

/// The hub's default bind address (SPEC §7).
pub const DEFAULT_HTTP_HOST: &str = "127.0.0.1";
/// The hub's default port (SPEC §7).
pub const DEFAULT_HTTP_PORT: u16 = 3777;
/// How long an MCP session may stay idle before the hub ends it, in
/// seconds, by default.
pub const DEFAULT_IDLE_SESSION_SECONDS: u64 = 1800;
/// The longest `idle_session_seconds` accepted (30 days).
pub const MAX_IDLE_SESSION_SECONDS: u64 = 30 * 86_400;
/// The shortest hub secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// `[http]`: the hub (`relay serve --transport http|both`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    /// Address to bind; default `127.0.0.1`.
    pub host: Option<String>,
    /// Port; default 3777, 0 lets the OS choose.
    pub port: Option<u16>,
    /// The hub secret (prefer `secret_file` or `RELAY_HTTP_SECRET`: this
    /// file is packed into backups).
    pub secret: Option<String>,
    /// A file holding the hub secret (trailing whitespace ignored).
    /// Relative paths are taken from the config file's directory.
    pub secret_file: Option<PathBuf>,
    /// Secrets still accepted while clients move to the new one.
    #[serde(default)]
    pub previous_secrets: Vec<String>,
    /// Host names (or IP addresses) accepted in the `Host` header besides
    /// the loopback names and the bound host; `"*"` accepts any.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://app.example.com`) a browser page may call the
    /// hub from, besides the hub's own.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed: addresses or
    /// CIDR networks.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Seconds of inactivity after which an MCP session ends.
    pub idle_session_seconds: Option<u64>,
    /// Rate limits.
    #[serde(default)]
    pub rate_limit: FileRateLimit,
}

/// `[http.rate_limit]`: requests per second (token buckets); 0 turns a
/// limit off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRateLimit {
    /// Sustained requests per second per client IP address.
    pub ip_per_second: Option<u32>,
    /// Requests one IP address may make at once; default twice the rate.
    pub ip_burst: Option<u32>,
    /// Sustained requests per second per agent (`X-Agent-Token`).
    pub agent_per_second: Option<u32>,
    /// Requests one agent may make at once; default twice the rate.
    pub agent_burst: Option<u32>,
    /// Whether clients on loopback are limited too (default false: they
    /// share the store's machine and user anyway).
    pub loopback: Option<bool>,
}

/// A hub secret. Its `Debug` form never shows the value; the memory is
/// wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    /// Wraps `value` as is (see [`HttpSettings`] for what is accepted).
    pub fn new(value: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(value.into()))
    }

    /// The secret's bytes, for a constant-time comparison.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One token-bucket limit: `per_second` requests per second sustained,
/// `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained requests per second, at least 1.
    pub per_second: std::num::NonZeroU32,
    /// Bucket size: requests accepted back to back, at least 1.
    pub burst: std::num::NonZeroU32,
}

/// The hub's rate limits (RFC 6585 §4: over a limit the answer is 429
/// with `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per client IP address (after `X-Forwarded-For` from trusted
    /// proxies); `None`: unlimited. Default 2,000/s, burst 4,000.
    pub per_ip: Option<Rate>,
    /// Per agent; `None`: unlimited. Default 500/s, burst 1,000.
    pub per_agent: Option<Rate>,
    /// Whether requests whose client IP is a loopback address are limited
    /// too. Default false, so local agents and benchmarks are never
    /// throttled; a local reverse proxy must be listed in
    /// `trusted_proxies` for its clients to be limited.
    pub loopback: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_ip: Rate::new(2000, None),
            per_agent: Rate::new(500, None),
            loopback: false,
        }
    }
}

impl Rate {
    /// `per_second` (0: no limit) with `burst` (default twice the rate);
    /// `None` when the rate is 0.
    fn new(per_second: u32, burst: Option<u32>) -> Option<Self> {
        let per_second = std::num::NonZeroU32::new(per_second)?;
        let burst = burst.unwrap_or(per_second.get().saturating_mul(2));
        Some(Self {
            per_second,
            burst: std::num::NonZeroU32::new(burst).unwrap_or(per_second),
        })
    }
}

/// `[http]` resolved and validated once (SPEC §7), with
/// [`ENV_HTTP_SECRET`] applied.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Address to bind: an IP address or a host name. Default
    /// [`DEFAULT_HTTP_HOST`]; `--host` replaces it (assign the field, then
    /// call [`HttpSettings::check_bind`]).
    pub host: String,
    /// Port; default [`DEFAULT_HTTP_PORT`], 0 lets the OS choose.
    pub port: u16,
    /// The hub secret, if any: from [`ENV_HTTP_SECRET`], else `secret`,
    /// else `secret_file`. Visible ASCII, at least [`MIN_SECRET_BYTES`].
    pub secret: Option<Secret>,
    /// Secrets still accepted during a rotation; a request using one gets
    /// `X-Relay-Secret-Deprecated: true`.
    pub previous_secrets: Vec<Secret>,
    /// Extra names accepted in `Host`, lower-case, without port or
    /// brackets; `"*"` accepts any. The loopback names and the bound host
    /// are always accepted.
    pub allowed_hosts: Vec<String>,
    /// Extra origins accepted in `Origin`, normalised to
    /// `scheme://host[:port]` (lower-case, no default port). The hub's own
    /// origin (the one its `Host` header names) is always accepted.
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Rate limits.
    pub rate_limit: RateLimits,
    /// Seconds of inactivity after which an MCP session ends; 1 to
    /// [`MAX_IDLE_SESSION_SECONDS`], default [`DEFAULT_IDLE_SESSION_SECONDS`].
    pub idle_session_seconds: u64,
    /// Largest request body accepted, in bytes: `[limits] max_line_bytes`
    /// (one JSON-RPC message, SPEC §8). Larger bodies get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: DEFAULT_HTTP_HOST.to_owned(),
            port: DEFAULT_HTTP_PORT,
            secret: None,
            previous_secrets: Vec::new(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            rate_limit: RateLimits::default(),
            idle_session_seconds: DEFAULT_IDLE_SESSION_SECONDS,
            max_body_bytes: MAX_LINE_BYTES,
        }
    }
}

impl HttpSettings {
    /// Validates `[http]`. `base` is the config file's directory (for a
    /// relative `secret_file`); `env_secret` is [`ENV_HTTP_SECRET`] when
    /// set and non-empty; `max_body_bytes` is the JSON-RPC line limit.
    ///
    /// Errors ([`ErrorCode::Validation`], exit 2), each naming the key:
    /// both `secret` and `secret_file`; an unreadable or empty secret
    /// file; a secret shorter than [`MIN_SECRET_BYTES`] or with spaces or
    /// control characters; a bad host, origin, proxy address, rate or
    /// idle time. A secret file others may read is only warned about.
    pub fn resolve(file: &FileHttp, base: &Path, env_secret: Option<String>, max_body_bytes: usize) -> Result<Self> {
        let host = match &file.host {
            Some(h) => {
                let h = normalize_host(h).map_err(|e| Error::validation(format!("[http] host: {e}")))?;
                if h == "*" {
                    return Err(Error::validation("[http] host: name one address to bind, e.g. 0.0.0.0"));
                }
                h
            }
            None => DEFAULT_HTTP_HOST.to_owned(),
        };
        let secret = match (env_secret, &file.secret, &file.secret_file) {
            (Some(env), _, _) => Some(checked_secret(env, ENV_HTTP_SECRET)?),
            (None, Some(_), Some(_)) => {
                return Err(Error::validation(
                    "[http] sets both secret and secret_file; keep one (secret_file keeps the secret out of backups)",
                ));
            }
            (None, Some(s), None) => Some(checked_secret(s.clone(), "[http] secret")?),
            (None, None, Some(path)) => Some(read_secret_file(&base.join(path))?),
            (None, None, None) => None,
        };
        let previous_secrets = file
            .previous_secrets
            .iter()
            .map(|s| checked_secret(s.clone(), "[http] previous_secrets"))
            .collect::<Result<Vec<_>>>()?;
        let allowed_hosts = file
            .allowed_hosts
            .iter()
            .map(|h| normalize_host(h).map_err(|e| Error::validation(format!("[http] allowed_hosts: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let allowed_origins = file
            .allowed_origins
            .iter()
            .map(|o| {
                normalize_origin(o).ok_or_else(|| {
                    Error::validation(format!(
                        "[http] allowed_origins: {o:?} is not an origin; write scheme://host[:port], e.g. https://app.example.com"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let trusted_proxies = file
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<IpNet>()
                    .map_err(|e| Error::validation(format!("[http] trusted_proxies: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let r = &file.rate_limit;
        let d = RateLimits::default();
        let rate = |key: &str, per_second: Option<u32>, burst: Option<u32>, default: Option<Rate>| {
            if burst == Some(0) && per_second != Some(0) {
                return Err(Error::validation(format!(
                    "[http.rate_limit] {key}_burst must be at least 1 (set {key}_per_second = 0 to turn the limit off)"
                )));
            }
            Ok(match per_second {
                Some(n) => Rate::new(n, burst),
                None => default.and_then(|d| Rate::new(d.per_second.get(), burst.or(Some(d.burst.get())))),
            })
        };
        let rate_limit = RateLimits {
            per_ip: rate("ip", r.ip_per_second, r.ip_burst, d.per_ip)?,
            per_agent: rate("agent", r.agent_per_second, r.agent_burst, d.per_agent)?,
            loopback: r.loopback.unwrap_or(d.loopback),
        };
        let idle_session_seconds = file.idle_session_seconds.unwrap_or(DEFAULT_IDLE_SESSION_SECONDS);
        if !(1..=MAX_IDLE_SESSION_SECONDS).contains(&idle_session_seconds) {
            return Err(Error::validation(format!(
                "[http] idle_session_seconds must be 1 to {MAX_IDLE_SESSION_SECONDS} (30 days), not {idle_session_seconds}"
            )));
        }
        Ok(Self {
            host,
            port: file.port.unwrap_or(DEFAULT_HTTP_PORT),
            secret,
            previous_secrets,
            allowed_hosts,
            allowed_origins,
            trusted_proxies,
            rate_limit,
            idle_session_seconds,
            max_body_bytes,
        })
    }

    /// Refuses to bind `host` (an address or name) when it is not
    /// loopback and no hub secret is configured: without one, anyone who
    /// can reach the port could register agents and read their mail
    /// (SPEC §7).
    ///
    /// Errors: [`ErrorCode::Validation`] (exit 2) saying how to set a
    /// secret; also for a host that is not an address or a name.
    pub fn check_bind(&self, host: &str) -> Result<()> {
        let host = normalize_host(host).map_err(|e| Error::validation(format!("--host: {e}")))?;
        if self.secret.is_some() || is_loopback_host(&host) {
            return Ok(());
        }
        Err(Error::validation(format!(
            "refusing to serve on {host}, which is not a loopback address, without a hub secret: set \
             {ENV_HTTP_SECRET} (e.g. `export {ENV_HTTP_SECRET}=$(openssl rand -base64 32)`) or [http] secret_file \
             in the config file, or bind 127.0.0.1"
        )))
    }
}

/// Whether `host` (normalised: lower-case, no brackets) names this
/// machine's loopback interface: `localhost`, `*.localhost` (RFC 6761
/// §6.3), 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A host as compared with the `Host` header: trimmed, lower-case, IPv6
/// without brackets, and no port. `"*"` stays as is.
fn normalize_host(h: &str) -> std::result::Result<String, String> {
    let h = h.trim().to_ascii_lowercase();
    if h == "*" {
        return Ok(h);
    }
    let bare = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(&h);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Ok(bare.to_owned());
    }
    let ok = !bare.is_empty()
        && bare.len() <= 253
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok {
        Ok(bare.to_owned())
    } else {
        Err(format!(
            "{h:?} is not a host name or IP address (write it without a scheme or port)"
        ))
    }
}

/// An origin normalised for comparison (RFC 6454 §6.1 serialisation):
/// `scheme://host[:port]` in lower case, the scheme's default port left
/// out, IPv6 in brackets. `None` for anything else (a path, `null`, no
/// host).
pub fn normalize_origin(origin: &str) -> Option<String> {
    let o = origin.trim().to_ascii_lowercase();
    let (scheme, rest) = o.split_once("://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = split_host_port(rest)?;
    let default = if scheme == "https" { 443 } else { 80 };
    let host = normalize_host(host).ok().filter(|h| h != "*")?;
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    Some(match port {
        Some(p) if p != default => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Splits `host[:port]` or `[v6][:port]`. `None` for a bad port.
pub fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match s.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, _)) if host.contains(':') => Some((s, None)),
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((s, None)),
    }
}

fn checked_secret(value: String, source: &str) -> Result<Secret> {
    if value.len() < MIN_SECRET_BYTES {
        return Err(Error::validation(format!(
            "{source}: the hub secret must be at least {MIN_SECRET_BYTES} characters; generate one with \
             `openssl rand -base64 32`"
        )));
    }
    if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::validation(format!(
            "{source}: the hub secret may hold only visible ASCII characters (no spaces), so clients can send it \
             in a header; generate one with `openssl rand -base64 32`"
        )));
    }
    Ok(Secret::new(value))
}

fn read_secret_file(path: &Path) -> Result<Secret> {
    use std::os::unix::fs::PermissionsExt;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::validation(format!("[http] secret_file: cannot read {}: {e}", path.display())))?,
    );
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        tracing::warn!(path = %path.display(), "the hub secret file is readable by other users; run `chmod 600` on it");
    }
    let value = text.trim_end();
    if value.is_empty() {
        return Err(Error::validation(format!(
            "[http] secret_file: {} is empty; write the secret into it (`openssl rand -base64 32 > {}`)",
            path.display(),
            path.display()
        )));
    }
    checked_secret(value.to_owned(), &format!("[http] secret_file {}", path.display()))
}

/// `[webhooks]`: how webhook deliveries are made (SPEC §7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWebhooks {
    /// Addresses (`127.0.0.1`) or CIDR networks (`10.1.0.0/16`, `fd12::/64`)
    /// a receiver may resolve to although the SSRF guard refuses their class
    /// (loopback, private, link-local…). A cloud-metadata address is only
    /// admitted when listed as that single address.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Seconds to establish a connection (TCP and TLS); default 5.
    pub connect_timeout_seconds: Option<u64>,
    /// Seconds for a whole delivery, connect to response status; default 10.
    pub timeout_seconds: Option<u64>,
    /// Deliveries one relay process makes at once; default 64.
    pub max_in_flight: Option<usize>,
}

/// The default `[webhooks] connect_timeout_seconds`.
pub const DEFAULT_WEBHOOK_CONNECT_TIMEOUT_SECONDS: u64 = 5;
/// The default `[webhooks] timeout_seconds`.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: u64 = 10;
/// The longest `[webhooks] timeout_seconds` accepted: a claim outlives a
/// delivery by this much at most, so a crashed process's deliveries are
/// retried within minutes.
pub const MAX_WEBHOOK_TIMEOUT_SECONDS: u64 = 120;
/// The default `[webhooks] max_in_flight`.
pub const DEFAULT_WEBHOOK_MAX_IN_FLIGHT: usize = 64;
/// The largest `[webhooks] max_in_flight` accepted.
pub const MAX_WEBHOOK_MAX_IN_FLIGHT: usize = 256;

/// `[webhooks]` resolved and validated once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The operator's allowlist (see [`FileWebhooks::allow`]); IPv4-mapped
    /// IPv6 entries are stored as the IPv4 network they name.
    pub allow: Vec<ipnet::IpNet>,
    /// Connect timeout (TCP + TLS). Default 5 s.
    pub connect_timeout: std::time::Duration,
    /// Whole-request timeout. Default 10 s, at most
    /// [`MAX_WEBHOOK_TIMEOUT_SECONDS`], never below the connect timeout.
    pub timeout: std::time::Duration,
    /// Concurrent deliveries per process, 1 to [`MAX_WEBHOOK_MAX_IN_FLIGHT`]. Default 64.
    pub max_in_flight: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            connect_timeout: std::time::Duration::from_secs(DEFAULT_WEBHOOK_CONNECT_TIMEOUT_SECONDS),
            timeout: std::time::Duration::from_secs(DEFAULT_WEBHOOK_TIMEOUT_SECONDS),
            max_in_flight: DEFAULT_WEBHOOK_MAX_IN_FLIGHT,
        }
    }
}

impl WebhookSettings {
    /// Validates `[webhooks]`.
    ///
    /// Errors ([`ErrorCode::Validation`], exit 2), each naming the key: an
    /// `allow` entry that is not an IP address or CIDR network; a timeout
    /// of 0, over [`MAX_WEBHOOK_TIMEOUT_SECONDS`], or a connect timeout
    /// longer than the whole-request one; `max_in_flight` outside 1 to
    /// [`MAX_WEBHOOK_MAX_IN_FLIGHT`].
    pub fn resolve(file: &FileWebhooks) -> Result<Self> {
        let allow = file
            .allow
            .iter()
            .map(|entry| parse_allow(entry).map_err(|e| Error::validation(format!("[webhooks] allow: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let seconds = |key: &str, value: Option<u64>, default: u64| -> Result<std::time::Duration> {
            let v = value.unwrap_or(default);
            if !(1..=MAX_WEBHOOK_TIMEOUT_SECONDS).contains(&v) {
                return Err(Error::validation(format!(
                    "[webhooks] {key} must be 1 to {MAX_WEBHOOK_TIMEOUT_SECONDS} seconds, not {v}"
                )));
            }
            Ok(std::time::Duration::from_secs(v))
        };
        let connect_timeout = seconds(
            "connect_timeout_seconds",
            file.connect_timeout_seconds,
            DEFAULT_WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        )?;
        let timeout = seconds("timeout_seconds", file.timeout_seconds, DEFAULT_WEBHOOK_TIMEOUT_SECONDS)?;
        if connect_timeout > timeout {
            return Err(Error::validation(format!(
                "[webhooks] connect_timeout_seconds ({}) is longer than timeout_seconds ({}), which covers the \
                 connection too",
                connect_timeout.as_secs(),
                timeout.as_secs()
            )));
        }
        let max_in_flight = file.max_in_flight.unwrap_or(DEFAULT_WEBHOOK_MAX_IN_FLIGHT);
        if !(1..=MAX_WEBHOOK_MAX_IN_FLIGHT).contains(&max_in_flight) {
            return Err(Error::validation(format!(
                "[webhooks] max_in_flight must be 1 to {MAX_WEBHOOK_MAX_IN_FLIGHT}, not {max_in_flight}"
            )));
        }
        Ok(Self {
            allow,
            connect_timeout,
            timeout,
            max_in_flight,
        })
    }
}

/// One `[webhooks] allow` entry: `ADDR` or `ADDR/PREFIX`, host bits
/// cleared, an IPv4-mapped IPv6 network turned into its IPv4 one.
fn parse_allow(entry: &str) -> std::result::Result<ipnet::IpNet, String> {
    let text = entry.trim();
    let bare = text.trim_start_matches('[').replace(']', "");
    let net = match bare.parse::<ipnet::IpNet>() {
        Ok(net) => net,
        Err(_) => bare
            .parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| format!("{text:?} is not an IP address or CIDR network (e.g. 127.0.0.1, 10.1.0.0/16, ::1)"))?,
    };
    Ok(match net {
        ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => {
                ipnet::IpNet::V4(ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_err(|e| format!("{text:?}: {e}"))?)
            }
            None => net,
        },
        _ => net,
    }
    .trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(toml_text: &str) -> Result<HttpSettings> {
        let file: FileConfig = toml::from_str(toml_text).map_err(|e| Error::validation(e.to_string()))?;
        HttpSettings::resolve(&file.http, Path::new(""), None, MAX_LINE_BYTES)
    }

    #[test]
    fn http_defaults_bind_loopback_without_a_secret() {
        let h = http("").unwrap();
        assert_eq!((h.host.as_str(), h.port), ("127.0.0.1", 3777));
        assert!(h.secret.is_none());
        assert_eq!(h.idle_session_seconds, 1800);
        assert_eq!(h.max_body_bytes, MAX_LINE_BYTES);
        assert_eq!(h.rate_limit, RateLimits::default());
        assert!(!h.rate_limit.loopback);
        h.check_bind("127.0.0.1").unwrap();
        h.check_bind("localhost").unwrap();
        h.check_bind("::1").unwrap();
    }

    #[test]
    fn non_loopback_bind_without_a_secret_is_refused() {
        let h = http("").unwrap();
        let e = h.check_bind("0.0.0.0").unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        assert!(e.message.contains("RELAY_HTTP_SECRET"), "{}", e.message);
        let h = http("[http]\nsecret = \"0123456789abcdef0123\"").unwrap();
        h.check_bind("0.0.0.0").unwrap();
    }

    #[test]
    fn env_secret_overrides_the_config_file() {
        let file: FileConfig = toml::from_str("[http]\nsecret = \"from-the-config-file\"").unwrap();
        let h = HttpSettings::resolve(&file.http, Path::new(""), Some("from-the-environment".into()), 10).unwrap();
        assert_eq!(h.secret.unwrap().expose(), b"from-the-environment");
        assert_eq!(h.max_body_bytes, 10);
    }

    #[test]
    fn secret_file_is_read_trimmed_and_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hub.secret"), "s3cr3t-s3cr3t-s3cr3t\n").unwrap();
        let file: FileConfig = toml::from_str("[http]\nsecret_file = \"hub.secret\"").unwrap();
        let h = HttpSettings::resolve(&file.http, dir.path(), None, 10).unwrap();
        assert_eq!(h.secret.unwrap().expose(), b"s3cr3t-s3cr3t-s3cr3t");
        std::fs::write(dir.path().join("hub.secret"), "\n").unwrap();
        let e = HttpSettings::resolve(&file.http, dir.path(), None, 10).unwrap_err();
        assert!(e.message.contains("is empty"), "{}", e.message);
        let file: FileConfig = toml::from_str("[http]\nsecret_file = \"missing\"").unwrap();
        assert!(HttpSettings::resolve(&file.http, dir.path(), None, 10).is_err());
    }

    #[test]
    fn bad_http_values_are_refused_with_the_key_named() {
        for (text, needle) in [
            ("[http]\nsecret = \"short\"", "at least 16"),
            ("[http]\nsecret = \"has a space in it ok\"", "visible ASCII"),
            (
                "[http]\nsecret = \"0123456789abcdef\"\nsecret_file = \"x\"",
                "both secret and secret_file",
            ),
            ("[http]\nprevious_secrets = [\"short\"]", "previous_secrets"),
            ("[http]\nhost = \"http://x\"", "[http] host"),
            ("[http]\nallowed_hosts = [\"a b\"]", "allowed_hosts"),
            ("[http]\nallowed_origins = [\"example.com\"]", "allowed_origins"),
            (
                "[http]\nallowed_origins = [\"https://example.com/path\"]",
                "allowed_origins",
            ),
            ("[http]\ntrusted_proxies = [\"10.0.0.0/40\"]", "trusted_proxies"),
            ("[http]\nidle_session_seconds = 0", "idle_session_seconds"),
            ("[http.rate_limit]\nip_per_second = 5\nip_burst = 0", "ip_burst"),
            ("[http]\nport = 70000", "port"),
            ("[http]\nbogus = 1", "bogus"),
        ] {
            let e = http(text).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }

    #[test]
    fn http_lists_are_normalised() {
        let h = http(
            "[http]\nhost = \"[::1]\"\nallowed_hosts = [\"Relay.Example.com\", \"*\"]\n\
             allowed_origins = [\"HTTPS://App.Example.com:443/\", \"http://[::1]:8080\"]\n\
             trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n\
             [http.rate_limit]\nip_per_second = 0\nagent_per_second = 10\nloopback = true",
        )
        .unwrap();
        assert_eq!(h.host, "::1");
        assert_eq!(h.allowed_hosts, ["relay.example.com", "*"]);
        assert_eq!(h.allowed_origins, ["https://app.example.com", "http://[::1]:8080"]);
        assert_eq!(h.trusted_proxies.len(), 2);
        assert_eq!(h.rate_limit.per_ip, None);
        let agent = h.rate_limit.per_agent.unwrap();
        assert_eq!((agent.per_second.get(), agent.burst.get()), (10, 20));
        assert!(h.rate_limit.loopback);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let h = http("[http]\nsecret = \"do-not-print-me-please\"").unwrap();
        assert!(!format!("{h:?}").contains("do-not-print-me"));
    }
    fn webhooks(toml_text: &str) -> Result<WebhookSettings> {
        let file: FileConfig = toml::from_str(toml_text).map_err(|e| Error::validation(e.to_string()))?;
        WebhookSettings::resolve(&file.webhooks)
    }

    #[test]
    fn webhook_defaults_and_allowlist_parse() {
        let w = webhooks("").unwrap();
        assert_eq!(w, WebhookSettings::default());
        assert_eq!(
            (w.connect_timeout.as_secs(), w.timeout.as_secs(), w.max_in_flight),
            (5, 10, 64)
        );
        let w = webhooks(
            "[webhooks]\nallow = [\"127.0.0.1\", \"::1\", \"10.1.2.3/16\", \"[fd00::1]\", \"::ffff:192.168.0.0/112\"]\n\
             connect_timeout_seconds = 2\ntimeout_seconds = 3\nmax_in_flight = 4",
        )
        .unwrap();
        let shown: Vec<String> = w.allow.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "127.0.0.1/32",
                "::1/128",
                "10.1.0.0/16",
                "fd00::1/128",
                "192.168.0.0/16"
            ]
        );
        assert_eq!(
            (w.connect_timeout.as_secs(), w.timeout.as_secs(), w.max_in_flight),
            (2, 3, 4)
        );
    }

    #[test]
    fn bad_webhook_values_are_refused_with_the_key_named() {
        for (text, needle) in [
            ("[webhooks]\nallow = [\"localhost\"]", "[webhooks] allow"),
            ("[webhooks]\nallow = [\"10.0.0.0/33\"]", "[webhooks] allow"),
            ("[webhooks]\ntimeout_seconds = 0", "timeout_seconds"),
            ("[webhooks]\ntimeout_seconds = 1000", "timeout_seconds"),
            (
                "[webhooks]\nconnect_timeout_seconds = 9\ntimeout_seconds = 3",
                "longer than",
            ),
            ("[webhooks]\nmax_in_flight = 0", "max_in_flight"),
            ("[webhooks]\nbogus = 1", "bogus"),
        ] {
            let e = webhooks(text).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }
}
