//! The alertd daemon: wiring of the pipeline and the reload path ([`daemon`]), the HTTP API on
//! axum (`http`), its own metrics (`metrics`), the heartbeat ping rate limit (`ratelimit`),
//! readiness ([`readiness`]), the outgoing heartbeat (`watchdog`), the status pages and badges
//! ([`status`]) and the command line ([`cli`]). The configuration is loaded and validated by
//! the `alertd-config` crate (`crate::config` here), which `alertctl check config` shares
//! without linking the daemon. `main.rs` is a thin shell around [`cli::main`].
//!
//! Only what is used from outside the crate is public: [`cli`] (the binary), [`daemon`],
//! [`readiness`] and [`status`] (the status page benchmark) and `api::prom` (the query API
//! fuzz target); every other module is `pub(crate)`.

pub(crate) mod admin;
pub mod api;
pub mod cli;
pub(crate) use alertd_config as config;
pub mod daemon;
pub(crate) mod http;
pub(crate) mod metrics;
pub(crate) mod ratelimit;
pub mod readiness;
pub(crate) mod server;
pub(crate) mod slack;
pub mod status;
pub(crate) mod storehealth;
pub(crate) mod watchdog;
