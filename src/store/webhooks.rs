//! Webhook subscriptions and deliveries (SPEC §7).
