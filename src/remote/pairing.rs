//! What `relay pair` leaves on this machine (SPEC §7), under the config
//! dir (the directory of `--config`/`RELAY_CONFIG`, else the platform
//! config dir; Linux `~/.config/relay`):
//!
//! ```text
//! <config dir>/                  0700
//!   paired.toml                  0600  one [agents.NAME] table per pairing
//!   tokens/NAME.token            0600  the agent's token (rly_…), one line
//!   hook-cursors/NAME.json       0600  what `relay hook --hub` reported
//! ```
//!
//! `paired.toml`:
//!
//! ```toml
//! [agents.laptop-claude]
//! hub = "http://10.0.0.5:3777"          # the hub's base URL (its /mcp is found from it)
//! token_file = "/home/me/.config/relay/tokens/laptop-claude.token"
//! paired_at = "2026-08-01T09:30:00.000Z"
//! ```
//!
//! Every file is written to a temporary name (0600) and renamed into
//! place, so a reader never sees half a file and a crash leaves the old
//! one. The token never appears in `paired.toml`, in a log or in argv.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The pairing file's name, in the config dir.
pub const PAIRED_FILE: &str = "paired.toml";
/// The directory of token files, in the config dir.
pub const TOKENS_DIR: &str = "tokens";
/// The directory of remote hook cursors, in the config dir.
pub const HOOK_CURSORS_DIR: &str = "hook-cursors";

/// The config dir: the directory holding `config` (`--config` or
/// `RELAY_CONFIG`) when one is named, else the platform config dir from
/// `directories` (Linux `~/.config/relay`), as [`crate::config`] finds
/// `config.toml`.
///
/// Errors: [`crate::ErrorCode::Internal`] when no home directory is known
/// and no config file is named.
pub fn config_dir(config: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = config {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return Ok(dir.to_owned());
    }
    crate::config::default_config_path()
        .and_then(|p| p.parent().map(Path::to_owned))
        .ok_or_else(|| Error::internal("cannot find a config directory; pass --config PATH or set RELAY_CONFIG"))
}

/// One agent paired with a hub from this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pairing {
    /// The hub's base URL (no `/mcp`), e.g. `http://10.0.0.5:3777`.
    pub hub: String,
    /// The file holding the agent's token (absolute).
    pub token_file: PathBuf,
    /// When `relay pair` registered it (RFC 3339).
    pub paired_at: String,
}

/// `paired.toml`: pairings by agent name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pairings {
    /// Agent name → its pairing.
    #[serde(default)]
    pub agents: BTreeMap<String, Pairing>,
}

impl Pairings {
    /// Reads `<dir>/paired.toml`; a missing file is no pairings.
    ///
    /// Errors: [`crate::ErrorCode::Validation`] for a file that cannot be
    /// read or is not a pairing file (the path is named).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(PAIRED_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| Error::validation(format!("{} is not a relay pairing file: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::validation(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Writes `<dir>/paired.toml` (0600, atomically; `dir` made 0700).
    ///
    /// Errors: I/O failures ([`crate::ErrorCode::Internal`] or
    /// [`crate::ErrorCode::StorageFull`]).
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::internal(format!("pairings: {e}")))?;
        let path = dir.join(PAIRED_FILE);
        write_private(
            &path,
            format!("# Written by `relay pair`: the hubs this machine's agents are paired with.\n{text}").as_bytes(),
        )?;
        Ok(path)
    }

    /// The pairing of `agent`, if any.
    pub fn get(&self, agent: &str) -> Option<&Pairing> {
        self.agents.get(agent)
    }
}

/// Where `relay pair` keeps `agent`'s token: `<dir>/tokens/NAME.token`.
/// `agent` must be a valid agent name (no path separators).
pub fn token_path(dir: &Path, agent: &str) -> PathBuf {
    dir.join(TOKENS_DIR).join(format!("{agent}.token"))
}

/// Where the remote hook keeps `agent`'s cursor: `<dir>/hook-cursors/NAME.json`.
pub fn hook_cursor_path(dir: &Path, agent: &str) -> PathBuf {
    dir.join(HOOK_CURSORS_DIR).join(format!("{agent}.json"))
}

/// Writes `bytes` to `path` with mode 0600, atomically, creating missing
/// parent directories with mode 0700: [`crate::store::write_private`].
pub use crate::store::write_private;

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn pairings_round_trip_in_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        assert_eq!(Pairings::load(&conf).unwrap(), Pairings::default());
        let mut p = Pairings::default();
        p.agents.insert(
            "laptop".into(),
            Pairing {
                hub: "http://10.0.0.5:3777".into(),
                token_file: token_path(&conf, "laptop"),
                paired_at: "2026-08-01T00:00:00.000Z".into(),
            },
        );
        let path = p.save(&conf).unwrap();
        assert_eq!(Pairings::load(&conf).unwrap(), p);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&conf), 0o700);
        assert_eq!(
            config_dir(Some(&conf.join("config.toml"))).unwrap(),
            conf,
            "the config dir is --config's directory"
        );
    }
}
