//! Continued conversations (issue 13): a task may name the executor
//! session it continues; one task per session runs at a time.

/// Schema migration 9 (issue 13 scaffold: filled in by the feature).
pub(crate) const MIGRATION: &str = "-- schema 9: executor sessions (placeholder)";
