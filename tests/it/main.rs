//! Integration tests: the real `relay` binary driven through real MCP
//! clients (rmcp's, raw JSON-RPC lines, and the Python SDK).

#[path = "../support/mod.rs"]
mod support;

mod acks;
mod backup;
mod channels;
mod cli;
mod conformance;
mod dashboard_api;
mod dashboard_browser;
mod delivery;
mod doctor;
mod durability;
mod encryption;
mod guard;
mod hardening;
mod hooks;
mod http;
mod http_access;
mod identity;
mod init;
mod interop;
mod logging;
mod mcp_tasks;
mod messages;
mod protocol;
mod recover;
mod remote;
mod reservations;
mod schemas;
mod search;
mod sessions;
mod snapshots_human;
mod spawn;
mod tail;
mod tasks;
mod tokens;
mod wakeup;
mod webhooks;
mod worker;
