//! remote_write: alertd sends every sample it stores to a Prometheus-compatible receiver
//! (Prometheus with `--web.enable-remote-write-receiver`, VictoriaMetrics, Mimir, Thanos
//! Receive) with remote write 1.0 (protobuf + snappy), reading from the store's write-ahead log
//! as Prometheus does.
//!
//! Each `remote_write:` entry is a [`Queue`]: a thread tails the store's write-ahead log
//! ([`store::Store::wal_reader`]) from the queue's last sent position, resolves series ids to
//! labels (the log's own series records, else the store's index), adds `external_labels`,
//! applies `write_relabel_configs`, and hands rounds of up to `queue_config.capacity` samples
//! to the sender task over a channel of one: the queue's memory is at most three rounds
//! whatever the receiver does. The sender splits a round by series over up to `max_shards`
//! concurrent requests of at most `max_samples_per_send` samples, retries 5xx (and 429 with
//! `retry_on_http_429`) and network errors with backoff from `min_backoff` to `max_backoff`
//! without end, drops a request answered with another 4xx (counted as failed, as Prometheus
//! does), and only then moves the queue's hold in the log ([`store::Store::set_wal_hold`]) past
//! the round. The hold is persisted, so a restart resumes after the last round sent, and it
//! keeps the log's segments on disk while the receiver is down, up to the store's hold limit
//! (beyond it the oldest segments go: counted in `wal_segments_skipped`).
//!
//! Samples of one series are sent in order (one series is in one request per round, rounds go
//! one after the other). After a crash, the round in flight may be sent again; receivers
//! accept a repeated sample (same time and value).

pub mod config;
#[cfg(feature = "queue")]
pub mod proto;
#[cfg(feature = "queue")]
mod queue;
#[cfg(feature = "queue")]
mod relabel;
#[cfg(feature = "source")]
pub mod source;

pub use config::{validate, QueueConfig, RelabelConfig, RemoteWriteConfig};
#[cfg(feature = "queue")]
pub use queue::{check, hold_names, Queue, QueueStats, RemoteError};
