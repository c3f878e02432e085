//! `relay://` resource URIs (SPEC §3.2): one type that parses and prints
//! them, so no handler compares URI strings of its own.

use std::fmt;
use std::str::FromStr;

use crate::store::validate;

/// A resource relay serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceUri {
    /// `relay://inbox/{agent}`: that agent's unread mail and open tasks
    /// (readable by the agent itself only).
    Inbox(String),
    /// `relay://task/{id}`: a task, for its requester and assignee.
    Task(i64),
    /// `relay://channel/{name}`: a channel's newest posts, for members.
    Channel(String),
}

/// The URI is not one relay serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownResource;

impl FromStr for ResourceUri {
    type Err = UnknownResource;

    /// Parses `relay://inbox/NAME`, `relay://task/ID` (a positive
    /// integer) or `relay://channel/NAME`, with names as SPEC §2 and §3.1
    /// allow them.
    fn from_str(uri: &str) -> Result<Self, Self::Err> {
        let rest = uri.strip_prefix("relay://").ok_or(UnknownResource)?;
        let (kind, key) = rest.split_once('/').ok_or(UnknownResource)?;
        match kind {
            "inbox" if validate::agent_name(key).is_ok() => Ok(Self::Inbox(key.to_owned())),
            "task" => match key.parse::<i64>() {
                Ok(id) if id > 0 && id.to_string() == key => Ok(Self::Task(id)),
                _ => Err(UnknownResource),
            },
            "channel" if validate::channel_name(key).is_ok() => Ok(Self::Channel(key.to_owned())),
            _ => Err(UnknownResource),
        }
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inbox(agent) => write!(f, "relay://inbox/{agent}"),
            Self::Task(id) => write!(f, "relay://task/{id}"),
            Self::Channel(name) => write!(f, "relay://channel/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_and_anything_else_is_unknown() {
        for uri in ["relay://inbox/alice", "relay://task/7", "relay://channel/dev-ops"] {
            assert_eq!(uri.parse::<ResourceUri>().unwrap().to_string(), uri);
        }
        for uri in [
            "relay://task/0",
            "relay://task/+7",
            "relay://task/07",
            "relay://task/x",
            "relay://inbox/bad name",
            "relay://channel/Dev",
            "relay://other/1",
            "file:///etc/passwd",
            "relay://inbox",
        ] {
            assert_eq!(uri.parse::<ResourceUri>(), Err(UnknownResource), "{uri}");
        }
    }
}
