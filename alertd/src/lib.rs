//! The alertd daemon: wiring of the pipeline and the reload path ([`daemon`]), the HTTP API on
//! axum (`http`), its own metrics (`metrics`), the heartbeat ping rate limit (`ratelimit`),
//! readiness ([`readiness`]), the remote_write queues (`remotewrite`), the outgoing heartbeat (`watchdog`), the status pages and badges
//! ([`status`]) and the command line ([`cli`]). The configuration is loaded and validated by
//! the `alertd-config` crate (`crate::config` here), which `alertctl check config` shares
//! without linking the daemon. `main.rs` is a thin shell around [`cli::main`].
//!
//! Only what is used from outside the crate is public, item by item: `cli::main` (the binary),
//! `daemon::{App, Pipeline}`, `readiness::Readiness` and the status page's renderers and data
//! queries (the status page benchmark) and `api::prom`'s parameter checks and evaluation (the
//! query API fuzz target); everything else is `pub(crate)`, and `unreachable_pub` names any
//! `pub` item no other crate can reach.

// Items are `pub(crate)` unless another crate uses them; this lint names any `pub` left over.
#![warn(unreachable_pub)]

pub(crate) mod admin;
pub mod api;
pub mod cli;
pub(crate) use alertd_config as config;
pub mod daemon;
pub(crate) mod http;
pub(crate) mod metrics;
pub(crate) mod ratelimit;
pub mod readiness;
pub(crate) mod remotewrite;
pub(crate) mod server;
pub(crate) mod slack;
pub mod status;
pub(crate) mod storehealth;
pub(crate) mod watchdog;
