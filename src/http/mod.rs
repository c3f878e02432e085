//! The HTTP hub (SPEC §7): MCP Streamable HTTP at `/mcp`, `/health` and
//! `/api/snapshot`, behind the access layer in [`access`].

pub mod access;
pub mod endpoints;
pub mod proxy;
pub mod ratelimit;
