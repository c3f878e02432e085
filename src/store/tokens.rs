//! Finding an agent by its token (the hub's `X-Agent-Token`, SPEC §7).

use rusqlite::OptionalExtension;

use super::Store;
use crate::error::Result;

impl Store {
    /// The active agent whose token is `token`, by its SHA-256.
    pub fn agent_for_token(&self, token: &str) -> Result<Option<String>> {
        let hash = crate::token::hash(token);
        self.read(|c, _| {
            Ok(c.prepare_cached(
                "SELECT name FROM agents WHERE token_hash = ?1 AND auth_state IN ('active', 'rotation_grace')",
            )?
            .query_row([hash], |r| r.get(0))
            .optional()?)
        })
    }
}
