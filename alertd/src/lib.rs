//! The alertd daemon: configuration loading and validation ([`config`]), wiring of the pipeline
//! and the reload path ([`daemon`]), the HTTP API on axum ([`http`]), its own metrics
//! ([`metrics`]), the heartbeat ping rate limit ([`ratelimit`]), readiness ([`readiness`]),
//! secrets ([`secret`]), the outgoing heartbeat ([`watchdog`]), the status pages and badges ([`status`]) and the command line ([`cli`]).
//! `main.rs` is a thin shell around [`cli::main`].

pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod http;
pub mod metrics;
pub mod ratelimit;
pub mod readiness;
pub mod secret;
pub mod server;
pub mod slack;
pub mod status;
pub mod storehealth;
pub mod tls;
pub mod watchdog;
