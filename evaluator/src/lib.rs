//! The evaluator: Prometheus rule files, PromQL over the store, the alert state machine with
//! `for:` durations, templates, and `promtool`-style rule unit tests.
//!
//! - [`rules`]: loading rule files (`RuleSet::load`), errors located as `file:line:col`.
//! - [`promql`]: `instant_query` / `range_query` over a [`model::storage::SeriesStore`].
//! - [`group`]: one group's evaluation and the alert state machine, persisted in a KV store.
//! - [`manager`]: concurrent group loops on the injected clock, alerts out on a channel.
//! - [`source`]: groups whose queries run at a remote Prometheus-compatible query API.
//! - [`template`]: Go templates in labels and annotations.
//! - [`unittest`]: `promtool test rules` files.

pub mod group;
pub mod lint;
pub mod manager;
pub mod promql;
pub mod rules;
pub mod source;
pub mod template;
pub mod unittest;
pub mod yaml;

pub use group::{ActiveAlert, EvalContext, GroupState, RuleHealth};
pub use manager::{AlertSender, GroupStats, GroupStatus, Manager, ReloadError, RuleStatus};
pub use rules::{Group, Rule, RuleError, RuleKind, RuleSet};
pub use source::{QuerySource, SourceBuilder, SourceConfig, SourceError};
