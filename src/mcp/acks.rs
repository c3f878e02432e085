//! `acknowledge_message` and `get_outstanding` (SPEC §9 receipts):
//! protocol only; the rules (who may acknowledge, what "delivered" means,
//! the order of what is outstanding) are the store's
//! ([`crate::store::acks`]).

use serde_json::{Value, json};

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};
use crate::store::acks::DEFAULT_OUTSTANDING_LIMIT;
use crate::store::messages::page_limit;

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))
}

impl RelayServer {
    /// `acknowledge_message {message_id, note?}`: returns `{message_id,
    /// thread_id, sender, acknowledged_at, note}`.
    ///
    /// Errors: those of [`crate::store::Store::acknowledge_message`].
    pub(crate) async fn acknowledge_message(&self, call: &Call, a: args::AcknowledgeMessage) -> Result<Value> {
        to_value(
            self.with_caller(call, move |s, c| {
                s.acknowledge_message(c, a.message_id, a.note.as_deref())
            })
            .await?,
        )
    }

    /// `get_outstanding {limit? = 20}`: returns `{count, total, overdue,
    /// messages}`, each message with its `receipts`.
    ///
    /// Errors: [`crate::ErrorCode::Validation`] (limit outside 1-100),
    /// [`crate::ErrorCode::AuthFailed`].
    pub(crate) async fn get_outstanding(&self, call: &Call, a: args::GetOutstanding) -> Result<Value> {
        let limit = page_limit(Some(a.limit.unwrap_or(DEFAULT_OUTSTANDING_LIMIT)))?;
        let out = self.with_caller(call, move |s, c| s.get_outstanding(c, limit)).await?;
        Ok(json!({
            "count": out.messages.len(),
            "total": out.total,
            "overdue": out.overdue,
            "messages": out.messages,
        }))
    }
}
