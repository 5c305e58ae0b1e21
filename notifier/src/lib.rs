//! The notifier: Alertmanager-style routing, grouping, dedup, silences, inhibition, acks,
//! escalation tiers, and the Slack, email and webhook receivers. Only this crate sends
//! notifications.
//!
//! Not built yet (issue "Notifier"); the daemon refuses configs that need it.
