//! Acknowledgements and receipts (SPEC §9): per-recipient delivered, read and acknowledged state of a message sent with `ack_required`.

/// Schema migration 6 (issue 13 scaffold: filled in by the feature).
pub(crate) const MIGRATION: &str = "-- schema 6: acks (placeholder)";
