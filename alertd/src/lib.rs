//! The alertd daemon: configuration loading and validation ([`config`]), wiring of the pipeline
//! ([`daemon`]), the HTTP API on axum ([`http`]), its own metrics ([`metrics`]), readiness
//! ([`readiness`]), logging and signal handling. `main.rs` is a thin shell around [`cli`].

pub mod config;
pub mod secret;
