//! The words the store compares: an agent's declared status, its
//! auth_state, its presence, the capabilities that gate tools and the
//! transport a call came over (SPEC §2, §6). Each is an enum whose
//! `as_str` is the stored and wire form, so a word is spelt once, here,
//! and a typo is a compile error instead of a silent mismatch.
//!
//! Every type prints ([`Display`](std::fmt::Display)), parses
//! ([`FromStr`](std::str::FromStr), unknown words are
//! [`ErrorCode::Validation`](crate::ErrorCode::Validation)) and
//! (de)serialises as that same string, so JSON and database values are
//! unchanged from when they were plain strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::Millis;
use crate::error::{Error, Result};

/// Declares a unit enum of words with `as_str`, `ALL`, `Display`,
/// `FromStr` (an unknown word is a validation error naming `$what` and
/// the words allowed) and string serde.
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every word, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and wire form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::Error;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($word => Ok(Self::$variant),)+
                    _ => Err($crate::error::Error::validation(format!(
                        concat!("invalid ", $what, " {:?}: use one of {}"),
                        s,
                        [$($word),+].join(", ")
                    ))),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(|e: $crate::error::Error| ::serde::de::Error::custom(e.message))
            }
        }

        impl ::rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> ::rusqlite::Result<::rusqlite::types::ToSqlOutput<'_>> {
                Ok(::rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl ::rusqlite::types::FromSql for $name {
            fn column_result(v: ::rusqlite::types::ValueRef<'_>) -> ::rusqlite::types::FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e: $crate::error::Error| ::rusqlite::types::FromSqlError::Other(e.message.into()))
            }
        }
    };
}
pub(crate) use words;

words! {
    /// An agent's declared status (`set_status`, SPEC §2).
    pub enum Status("status") {
        /// Available (the default).
        Online = "online",
        /// Working; tasks stay assigned while its presence lapses.
        Busy = "busy",
        /// Away for a while; tasks stay assigned too.
        Away = "away",
        /// Gone: left out of discovery and routing.
        Offline = "offline",
    }
}

impl Status {
    /// Whether the agent said it means to come back (busy or away): the
    /// lease sweep does not re-route its tasks (issue #3).
    pub fn is_coming_back(self) -> bool {
        matches!(self, Self::Busy | Self::Away)
    }
}

words! {
    /// An agent's credential state (SPEC §2).
    pub enum AuthState("auth_state") {
        /// Its token is valid.
        Active = "active",
        /// The old and new token are both valid until a deadline.
        RotationGrace = "rotation_grace",
        /// Revoked; a one-time recovery token may re-register it.
        RecoveryPending = "recovery_pending",
        /// Revoked for good.
        Revoked = "revoked",
    }
}

impl AuthState {
    /// Whether the agent may act: not revoked, not waiting for recovery.
    pub fn may_act(self) -> bool {
        matches!(self, Self::Active | Self::RotationGrace)
    }
}

words! {
    /// The transport a call came over, recorded in the audit log.
    pub enum Transport("transport") {
        /// `relay serve` on stdin/stdout.
        Stdio = "stdio",
        /// The HTTP hub.
        Http = "http",
        /// A `relay` subcommand (and direct library calls).
        Cli = "cli",
        /// `relay worker`.
        Worker = "worker",
    }
}

/// Presence computed from `last_seen` (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Seen within [`ONLINE_WITHIN_MS`].
    Online,
    /// Seen within [`STALE_WITHIN_MS`].
    Stale,
    /// Not seen for longer.
    Offline,
}

/// An agent is `online` when seen in the last 10 minutes.
pub const ONLINE_WITHIN_MS: Millis = 10 * 60 * 1000;
/// An agent is `stale` when seen in the last 60 minutes (and not online).
pub const STALE_WITHIN_MS: Millis = 60 * 60 * 1000;

impl Presence {
    /// The presence of an agent last seen at `last_seen`, at time `now`.
    pub fn at(last_seen: Millis, now: Millis) -> Self {
        let age = now - last_seen;
        if age < ONLINE_WITHIN_MS {
            Self::Online
        } else if age < STALE_WITHIN_MS {
            Self::Stale
        } else {
            Self::Offline
        }
    }
}

/// Whether an agent is offline for discovery and routing: by presence,
/// or by its declared status.
pub fn is_offline(status: Status, last_seen: Millis, now: Millis) -> bool {
    status == Status::Offline || Presence::at(last_seen, now) == Presence::Offline
}

/// A capability (SPEC §2). The six that gate tools are variants; any other
/// well-formed name (`rust`, `python`) is a routing label that
/// `post_task`'s `required_capabilities` may ask for, kept as
/// [`Capability::Other`]. Stored, printed and serialised as its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Post and update tasks.
    Tasks,
    /// Send broadcasts.
    Broadcast,
    /// Create and post to channels.
    Channels,
    /// Register webhooks.
    Webhooks,
    /// Open agent terminals (`spawn_agent`).
    Spawn,
    /// Revoke and rotate other agents' tokens.
    Admin,
    /// A routing label that gates no tool.
    Other(String),
}

impl Capability {
    /// The capabilities that gate tools.
    pub const GATES: [Self; 6] = [
        Self::Tasks,
        Self::Broadcast,
        Self::Channels,
        Self::Webhooks,
        Self::Spawn,
        Self::Admin,
    ];

    /// The name, e.g. `tasks`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tasks => "tasks",
            Self::Broadcast => "broadcast",
            Self::Channels => "channels",
            Self::Webhooks => "webhooks",
            Self::Spawn => "spawn",
            Self::Admin => "admin",
            Self::Other(name) => name,
        }
    }

    /// Whether `held` (a stored capability list) contains this capability.
    pub fn held_in(&self, held: &[String]) -> bool {
        held.iter().any(|c| c == self.as_str())
    }
}

/// Capabilities a session that is not bound to an agent may grant a new
/// agent it registers. The rest (`admin`, `spawn`, `webhooks`) only the
/// operator grants, with `relay serve --capabilities`.
pub const SELF_SERVICE_CAPABILITIES: [Capability; 3] = [Capability::Tasks, Capability::Broadcast, Capability::Channels];

impl From<&str> for Capability {
    fn from(name: &str) -> Self {
        Self::GATES
            .into_iter()
            .find(|c| c.as_str() == name)
            .unwrap_or_else(|| Self::Other(name.to_owned()))
    }
}

impl From<String> for Capability {
    fn from(name: String) -> Self {
        match Self::from(name.as_str()) {
            Self::Other(_) => Self::Other(name),
            gate => gate,
        }
    }
}

impl FromStr for Capability {
    type Err = Error;

    /// Any well-formed capability name (see
    /// [`validate::capabilities`](super::validate::capabilities)).
    fn from_str(s: &str) -> Result<Self> {
        super::validate::capabilities(&[s.to_owned()])?;
        Ok(Self::from(s))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e: Error| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn every_word_round_trips_through_display_from_str_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy
                + fmt::Display
                + FromStr<Err = Error>
                + Serialize
                + for<'de> Deserialize<'de>
                + PartialEq
                + fmt::Debug,
        {
            for &w in all {
                let s = w.to_string();
                assert_eq!(s.parse::<T>().unwrap(), w);
                assert_eq!(serde_json::to_value(w).unwrap(), serde_json::Value::String(s.clone()));
                assert_eq!(serde_json::from_value::<T>(serde_json::Value::String(s)).unwrap(), w);
            }
        }
        check(Status::ALL);
        check(AuthState::ALL);
        check(Transport::ALL);
        check(super::super::events::Kind::ALL);
    }

    #[test]
    fn the_stored_words_are_the_ones_the_schema_allows() {
        let words = |all: &[&str]| all.join(",");
        assert_eq!(
            words(&Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "online,busy,away,offline"
        );
        assert_eq!(
            words(&AuthState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            "active,rotation_grace,recovery_pending,revoked"
        );
    }

    #[test]
    fn an_unknown_status_is_a_validation_error_that_lists_the_words() {
        let e = "sleeping".parse::<Status>().unwrap_err();
        assert_eq!(e.code, ErrorCode::Validation);
        assert_eq!(
            e.message,
            "invalid status \"sleeping\": use one of online, busy, away, offline"
        );
    }

    #[test]
    fn capabilities_are_gates_or_routing_labels_and_print_as_their_names() {
        assert_eq!(Capability::from("tasks"), Capability::Tasks);
        assert_eq!(Capability::from("rust"), Capability::Other("rust".into()));
        assert_eq!("admin".parse::<Capability>().unwrap(), Capability::Admin);
        assert_eq!("Bad Cap".parse::<Capability>().unwrap_err().code, ErrorCode::Validation);
        for c in Capability::GATES {
            assert_eq!(Capability::from(c.to_string()), c);
        }
        assert_eq!(serde_json::to_value(Capability::Other("go".into())).unwrap(), "go");
        assert!(Capability::Tasks.held_in(&["rust".into(), "tasks".into()]));
        assert!(!Capability::Admin.held_in(&["tasks".into()]));
    }
}
