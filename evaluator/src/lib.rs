//! The evaluator: Prometheus rule files, PromQL over the store, the alert state machine with
//! `for:` durations, templates, and `promtool`-style rule unit tests.
//!
//! Not built yet (issue "Evaluator"); the daemon refuses configs that need it.
