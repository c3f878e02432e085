//! `relay://` resource URIs (SPEC §3.2): one type that parses and prints
//! them, so no handler compares URI strings of its own.

use std::fmt;
use std::str::FromStr;

use rmcp::ErrorData;
use rmcp::model::ResourceTemplate;
use serde_json::{Value, json};

use crate::error::{Error, ErrorCode, Result};
use crate::store::{Caller, Store, validate};

/// A resource relay serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceUri {
    /// `relay://inbox/{agent}`: that agent's unread mail, the mail it
    /// still owes an acknowledgement, what it waits for from others, and
    /// its open tasks (readable by the agent itself only; see
    /// [`crate::store::inbox::InboxView`]).
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

/// The resource template for tasks (MCP resources, RFC 6570 level 1).
pub const TASK_URI_TEMPLATE: &str = "relay://task/{id}";
/// The resource template for channels.
pub const CHANNEL_URI_TEMPLATE: &str = "relay://channel/{name}";
/// The resource template for inboxes (only your own can be read).
pub const INBOX_URI_TEMPLATE: &str = "relay://inbox/{agent}";

/// The resource templates `resources/templates/list` returns.
pub fn templates() -> Vec<ResourceTemplate> {
    let mut task = ResourceTemplate::new(TASK_URI_TEMPLATE, "task");
    task.description = Some("A task you posted or were given: state, result, attempts and history (JSON).".into());
    task.mime_type = Some("application/json".into());
    let mut channel = ResourceTemplate::new(CHANNEL_URI_TEMPLATE, "channel");
    channel.description = Some("The newest posts of a channel you joined (JSON; reading moves no cursor).".into());
    channel.mime_type = Some("application/json".into());
    let mut inbox = ResourceTemplate::new(INBOX_URI_TEMPLATE, "inbox");
    inbox.description = Some(
        "Your unread messages, messages you read that still wait for your acknowledgement (awaiting_ack), how many \
         of yours wait for others' acknowledgements (outstanding), and your open tasks (JSON; reading marks nothing \
         read)."
            .into(),
    );
    inbox.mime_type = Some("application/json".into());
    vec![task, channel, inbox]
}

/// The JSON of resource `uri` as `caller` may see it; with `check_only`,
/// only whether it may, by reads that write nothing and wait for no lock.
///
/// Errors: [`ErrorCode::NotFound`] for another agent's inbox, and what
/// `get_task` / `get_channel_messages` return for tasks and channels the
/// caller may not read.
pub(crate) fn resource_json(store: &Store, caller: Caller<'_>, uri: &ResourceUri, check_only: bool) -> Result<Value> {
    match uri {
        ResourceUri::Inbox(agent) if agent != caller.agent => Err(Error::not_found("only your own inbox can be read")),
        ResourceUri::Inbox(_) if check_only => Ok(Value::Null),
        ResourceUri::Task(id) if check_only => store.may_read_task(caller, *id).map(|()| Value::Null),
        ResourceUri::Channel(name) if check_only => store.may_read_channel(caller, name).map(|()| Value::Null),
        ResourceUri::Inbox(_) => to_json(store.inbox(caller)?),
        ResourceUri::Task(id) => {
            let (task, events) = store.get_task(caller, *id)?;
            Ok(json!({ "task": task, "events": events }))
        }
        ResourceUri::Channel(name) => to_json(store.get_channel_messages(caller, name, false, 50)?),
    }
}

fn to_json<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))
}

/// The JSON-RPC error for a resource that cannot be read: one
/// resource-not-found (-32002, MCP 2025-06-18 §Resources "Error
/// Handling") for every unknown or forbidden URI alike, so a caller learns
/// nothing about resources it may not see; store failures are internal
/// errors.
pub(crate) fn resource_error(uri: &str, err: Option<Error>) -> ErrorData {
    match err {
        Some(e)
            if !matches!(
                e.code,
                ErrorCode::NotFound
                    | ErrorCode::NotParty
                    | ErrorCode::NotMember
                    | ErrorCode::AuthFailed
                    | ErrorCode::Validation
            ) =>
        {
            ErrorData::internal_error(e.message.clone(), Some(e.to_json()))
        }
        _ => ErrorData::resource_not_found(
            format!("resource not found: {uri} (or this session may not read it)"),
            Some(json!({ "uri": uri })),
        ),
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
