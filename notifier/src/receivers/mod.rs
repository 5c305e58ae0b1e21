//! The integrations that deliver notifications: webhook, Slack and email.

pub mod email;
