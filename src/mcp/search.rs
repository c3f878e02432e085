//! `search_messages` (SPEC §9 search): protocol only; the rules are the store's ([`crate::store::search`]).

use serde_json::Value;

use super::args;
use super::session::{Call, RelayServer};
use crate::error::{Error, Result};
use crate::store::search::SearchRequest;

impl RelayServer {
    /// `search_messages {query, from?, thread_id?, channel?, since?,
    /// limit?}`: returns `{count, results, capped, partial}`, each result
    /// `{kind, id, from, to, channel, thread_id, created_at, snippet,
    /// score}`, best first.
    ///
    /// Errors: those of [`crate::store::Store::search_messages`].
    pub(crate) async fn search_messages(&self, call: &Call, a: args::SearchMessages) -> Result<Value> {
        let req = SearchRequest {
            query: a.query,
            from: a.from,
            thread_id: a.thread_id,
            channel: a.channel,
            since: a.since,
            limit: a.limit,
        };
        let found = self.with_caller(call, move |s, c| s.search_messages(c, &req)).await?;
        serde_json::to_value(found).map_err(|e| Error::internal(format!("cannot serialise the result: {e}")))
    }
}
