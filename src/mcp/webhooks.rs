//! `register_webhook`, `list_webhooks`, `delete_webhook` (SPEC §3.1, §7).
//! The rules live in [`crate::store::webhooks`]; the SSRF guard's check of
//! a literal address in [`crate::webhook::Handle::check_url`].

use serde_json::{Value, json};

use super::args;
use super::session::{Call, RelayServer};
use crate::error::Result;
use crate::store::webhooks::NewWebhook;

impl RelayServer {
    /// `register_webhook` → `{webhook}` ([`crate::store::webhooks::Webhook`]).
    /// Errors: `VALIDATION`, `SSRF_REFUSED`, `CAP_DENIED`, `AUTH_FAILED`.
    pub(crate) async fn register_webhook(&self, call: &Call, a: args::RegisterWebhook) -> Result<Value> {
        let handle = self.runtime.webhooks().clone();
        let guard = handle.clone();
        let webhook = self
            .with_caller(call, move |s, c| {
                let new = NewWebhook {
                    url: &a.url,
                    events: &a.events,
                    secret: a.secret.as_deref(),
                    agent_filter: a.agent_filter.as_deref(),
                };
                s.register_webhook(c, &new, |url| guard.check_url(url))
            })
            .await?;
        handle.kick();
        Ok(json!({ "webhook": webhook }))
    }

    /// `list_webhooks` → `{count, webhooks}`, each with `health` and
    /// `dead_letters` ([`crate::store::webhooks::WebhookStatus`]).
    /// Errors: `AUTH_FAILED`.
    pub(crate) async fn list_webhooks(&self, call: &Call) -> Result<Value> {
        let webhooks = self.with_caller(call, |s, c| s.list_webhooks(c)).await?;
        Ok(json!({ "count": webhooks.len(), "webhooks": webhooks }))
    }

    /// `delete_webhook` → `{deleted: 1}`.
    /// Errors: `NOT_FOUND`, `NOT_PARTY`, `AUTH_FAILED`.
    pub(crate) async fn delete_webhook(&self, call: &Call, a: args::DeleteWebhook) -> Result<Value> {
        let id = a.webhook_id;
        self.with_caller(call, move |s, c| s.delete_webhook(c, id)).await?;
        Ok(json!({ "deleted": 1 }))
    }
}
