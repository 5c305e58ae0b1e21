//! The collector: probes (HTTP, TLS, disk, PostgreSQL, MySQL), Prometheus scrapes and heartbeat
//! tracking, scheduled without drift, writing everything it learns to the store as time series.

pub mod config;
pub mod heartbeat;
