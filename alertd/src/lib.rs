//! The alertd daemon: configuration loading and validation ([`config`]), wiring of the pipeline
//! and the reload path ([`daemon`]), the HTTP API on axum (`http`), its own metrics
//! (`metrics`), the heartbeat ping rate limit (`ratelimit`), readiness ([`readiness`]),
//! secrets ([`secret`]), the remote_write queues (`remotewrite`), the outgoing heartbeat (`watchdog`), the status pages and badges ([`status`]) and the command line ([`cli`]).
//! `main.rs` is a thin shell around [`cli::main`].
//!
//! Only what is used from outside the crate is public: [`cli`] (the binaries), [`config`]
//! (`alertctl check config`, the config fuzz target), [`daemon`], [`readiness`] and [`status`]
//! (the status page benchmark) and `api::prom` (the query API fuzz target); every other module
//! is `pub(crate)`.

pub(crate) mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub(crate) mod http;
pub(crate) mod metrics;
pub(crate) mod ratelimit;
pub mod readiness;
pub(crate) mod remotewrite;
pub mod secret;
pub(crate) mod server;
pub(crate) mod slack;
pub mod status;
pub(crate) mod storehealth;
pub(crate) mod tls;
pub(crate) mod watchdog;
