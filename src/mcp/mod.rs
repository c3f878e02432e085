//! MCP server.
use std::sync::Arc;
pub async fn serve_stdio(_s: Arc<crate::store::Store>, _a: Option<String>, _c: crate::config::Settings) -> anyhow::Result<()> { Ok(()) }
