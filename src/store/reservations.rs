//! File reservations (SPEC §9): leases on globs within a project root, exclusive or shared, with a TTL on the injectable clock.

/// Schema migration 8 (issue 13 scaffold: filled in by the feature).
pub(crate) const MIGRATION: &str = "-- schema 8: reservations (placeholder)";
