//! `search_messages` (SPEC §9 search): protocol only; the rules are the store's ([`crate::store::search`]).

use serde_json::Value;

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};

impl RelayServer {
    /// `search_messages` (SPEC §9). Not yet implemented (issue 13 scaffold).
    pub(crate) async fn search_messages(&self, _call: &Call, _a: args::SearchMessages) -> Result<Value> {
        Err(Error::internal("search_messages is not implemented yet"))
    }
}
