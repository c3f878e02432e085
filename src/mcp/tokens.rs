//! `rotate_token` and `revoke_token` (SPEC §2 auth_state, §3.1).

use serde_json::Value;

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};

impl RelayServer {
    /// `rotate_token`.
    pub(crate) async fn rotate_token(&self, _call: &Call, _a: args::RotateToken) -> Result<Value> {
        Err(Error::internal("rotate_token is not built yet"))
    }

    /// `revoke_token`.
    pub(crate) async fn revoke_token(&self, _call: &Call, _a: args::RevokeToken) -> Result<Value> {
        Err(Error::internal("revoke_token is not built yet"))
    }
}
