//! Full-text search over messages (SPEC §9): SQLite FTS5, bm25-ranked, over exactly what the caller may read.

/// Schema migration 7 (issue 13 scaffold: filled in by the feature).
pub(crate) const MIGRATION: &str = "-- schema 7: search (placeholder)";
