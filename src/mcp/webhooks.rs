//! `register_webhook`, `list_webhooks`, `delete_webhook` (SPEC §3.1, §7).

use serde_json::Value;

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};

impl RelayServer {
    /// `register_webhook`.
    pub(crate) async fn register_webhook(&self, _call: &Call, _a: args::RegisterWebhook) -> Result<Value> {
        Err(Error::internal("register_webhook is not built yet"))
    }

    /// `list_webhooks`.
    pub(crate) async fn list_webhooks(&self, _call: &Call) -> Result<Value> {
        Err(Error::internal("list_webhooks is not built yet"))
    }

    /// `delete_webhook`.
    pub(crate) async fn delete_webhook(&self, _call: &Call, _a: args::DeleteWebhook) -> Result<Value> {
        Err(Error::internal("delete_webhook is not built yet"))
    }
}
