//! The notifier: Alertmanager-style routing, grouping, dedup (a persistent notification log),
//! silences, inhibition, acknowledgements, escalation tiers, and the Slack, email and webhook
//! receivers with a persisted outbound queue. Only this crate sends notifications.
//!
//! # Use from the daemon
//!
//! 1. Parse the notifier's sections into [`config::NotifierConfig`] (serde, unknown keys refused;
//!    [`config::NotifierConfig::from_yaml`] uses serde-saphyr for `line:col` errors) and report
//!    every problem of [`config::NotifierConfig::validate`].
//! 2. [`Notifier::new`] with a [`model::storage::KvStore`] (state survives restarts) and a
//!    [`model::Clock`].
//! 3. Feed alerts with [`Notifier::ingest`] (Alertmanager API v2 posts go through
//!    [`api::PostableAlert::into_alert`] first) or the evaluator's channel given to
//!    [`Notifier::run`], which ticks ([`Notifier::tick`]) and delivers
//!    ([`Notifier::deliver_due`]) until shut down. Tests call `tick`/`deliver_due` themselves
//!    on a `FakeClock`.
//! 4. Read and change state: [`Notifier::silences`] (create/edit/expire), [`Notifier::ack`] /
//!    [`Notifier::unack`] / [`Notifier::acks`] / [`Notifier::ack_log`], [`Notifier::alerts`]
//!    and [`Notifier::groups`] (shown through [`api::GettableAlert`]), [`Notifier::history`],
//!    [`Notifier::queued`], [`Notifier::test_receiver`], [`Notifier::fatigue_report`] (the
//!    alert-fatigue report, computed by [`report`]).
//!
//! A config reload is [`Notifier::reload`] (or [`Notifier::prepare`], which can fail and changes
//! nothing, then [`Notifier::apply`]): the same notifier, with its state, under the new sections.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod gotemplate;
pub mod inhibit;
pub mod interactions;
pub mod oncall;
pub mod payload;
pub mod receivers;
pub mod report;
pub mod route;
pub mod silences;
pub mod template;
pub mod timeinterval;

pub use dispatch::{
    Ack, AckEvent, AckTarget, AlertView, DeliveryReport, DeliveryStats, GroupView, HistoryEntry,
    Notifier, NotifierError, NotifierOptions, QueuedNotification, Routing, TickReport,
};
pub use report::{AlertTimes, HistoryKind, ReportParams};
