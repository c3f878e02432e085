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
//! ```
//!
//! The keyring itself never goes in this file (`relay backup` packs the
//! config next to the store; keys belong elsewhere).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cli::GlobalArgs;
use crate::clock::SystemClock;
use crate::crypto::{self, Codec, Keyring, KeyringSource};
use crate::error::{Error, ErrorCode, Result};
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
        Ok(Self {
            db,
            limits,
            retention,
            max_line_bytes: file.limits.max_line_bytes.unwrap_or(MAX_LINE_BYTES),
            config_file,
            keyring_sources,
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

    /// Opens the store these settings name, with the system clock, the
    /// configured limits and the keyring.
    ///
    /// Errors: those of [`Settings::keyring`] and [`Store::open`].
    pub fn open_store(&self) -> Result<Store> {
        let codec = Codec::new(self.keyring()?);
        Store::open_with(&self.db, Arc::new(SystemClock), self.limits, codec)
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
