//! `acknowledge_message` and `get_outstanding` (SPEC §9 receipts): protocol only; the rules are the store's ([`crate::store::acks`]).

use serde_json::Value;

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};

impl RelayServer {
    /// `acknowledge_message` (SPEC §9). Not yet implemented (issue 13 scaffold).
    pub(crate) async fn acknowledge_message(&self, _call: &Call, _a: args::AcknowledgeMessage) -> Result<Value> {
        Err(Error::internal("acknowledge_message is not implemented yet"))
    }
    /// `get_outstanding` (SPEC §9). Not yet implemented (issue 13 scaffold).
    pub(crate) async fn get_outstanding(&self, _call: &Call, _a: args::GetOutstanding) -> Result<Value> {
        Err(Error::internal("get_outstanding is not implemented yet"))
    }
}
