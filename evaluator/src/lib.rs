//! The evaluator: Prometheus rule files, PromQL over the store, the alert state machine with
//! `for:` durations, templates, and `promtool`-style rule unit tests.

pub mod group;
pub mod promql;
pub mod rules;
pub mod template;

pub use rules::{Group, Rule, RuleError, RuleKind, RuleSet};
