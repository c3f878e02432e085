//! relay: a durable, local-first, MCP-native coordination relay for AI
//! coding agents.
//!
//! Agents (Claude Code, Codex, Cursor, …) each run `relay serve` from their
//! MCP config; every process shares one SQLite store ([`store`]) through
//! which they register, message each other and post to channels. The MCP
//! server lives in [`mcp`]; the task worker in [`worker`]; each subcommand in
//! [`commands`].

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod logging;
pub mod mcp;
pub mod remote;
pub mod store;
pub mod token;
pub mod watch;
pub mod webhook;
pub mod worker;

pub use error::{Error, ErrorCode, Result};
