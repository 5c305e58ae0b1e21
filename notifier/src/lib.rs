//! The notifier: Alertmanager-style routing, grouping, dedup (a persistent notification log),
//! silences, inhibition, acknowledgements, escalation tiers, and the Slack, email and webhook
//! receivers with a persisted outbound queue. Only this crate sends notifications.
//!
//! The daemon parses the notifier's config sections into [`config::NotifierConfig`], checks them
//! with [`config::NotifierConfig::validate`], and drives a [`Notifier`].

pub mod api;
pub mod config;
pub mod dispatch;
pub mod inhibit;
pub mod payload;
pub mod receivers;
pub mod route;
pub mod silences;
pub mod template;
pub mod timeinterval;

pub use dispatch::{
    Ack, AckEvent, AckTarget, AlertView, DeliveryReport, GroupView, HistoryEntry, Notifier,
    NotifierError, NotifierOptions, QueuedNotification, TickReport,
};
