//! alertd's own metrics (`/metrics`), exposed with prometheus-client in the OpenMetrics text
//! format.

use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`to_text_format`]'s output (Prometheus text format 0.0.4).
pub(crate) const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics (as Prometheus does); scrapers that only
/// speak the classic text format (0.0.4) get that instead.
pub(crate) fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// Rewrites OpenMetrics text (what prometheus-client encodes) as Prometheus text format 0.0.4:
/// no `# EOF`/`# UNIT` lines, counter metadata named after the `_total` samples, `info` metrics
/// as gauges named `<name>_info`, `unknown` as `untyped`.
pub(crate) fn to_text_format(openmetrics: &str) -> String {
    let mut types: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for l in openmetrics.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            if let Some((name, t)) = rest.split_once(' ') {
                types.insert(name, t);
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for l in openmetrics.lines() {
        if l == "# EOF" || l.starts_with("# UNIT ") {
            continue;
        }
        let meta = l
            .strip_prefix("# TYPE ")
            .map(|r| ("TYPE", r))
            .or_else(|| l.strip_prefix("# HELP ").map(|r| ("HELP", r)));
        if let Some((kw, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, tail) = match (types.get(name).copied(), kw) {
                (Some("counter"), _) => (format!("{name}_total"), tail),
                (Some("info"), "TYPE") => (format!("{name}_info"), "gauge"),
                (Some("info"), _) => (format!("{name}_info"), tail),
                (Some("unknown"), "TYPE") => (name.to_string(), "untyped"),
                _ => (name.to_string(), tail),
            };
            out.push_str(&format!("# {kw} {name} {tail}\n"));
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Labels of the HTTP request metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct HttpLabels {
    /// The route pattern (e.g. `/-/reload`), or `unmatched`.
    pub handler: String,
    /// The response status code.
    pub code: u16,
}

/// The daemon's metric handles and their registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    reload_successful: Gauge,
    reload_success_ts: Gauge<f64, AtomicU64>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
    watchdog_healthy: Gauge,
    watchdog_pings: Family<ResultLabel, Counter>,
}

/// A `result` label: `success` or `failure`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    /// `success` or `failure`.
    pub result: &'static str,
}

fn duration_histogram() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 4.0, 8))
}

impl Metrics {
    /// Registers every metric; `version` goes into `alertd_build_info`.
    pub(crate) fn new(version: &str) -> Self {
        let mut registry = Registry::default();
        let build = Info::new(vec![("version".to_string(), version.to_string())]);
        registry.register("alertd_build", "alertd build information", build);
        let reload_successful = Gauge::default();
        registry.register(
            "alertd_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            reload_successful.clone(),
        );
        let reload_success_ts = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "alertd_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            reload_success_ts.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "alertd_http_requests",
            "HTTP requests served, by handler and status code",
            http_requests.clone(),
        );
        let http_duration =
            Family::<HttpLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        registry.register(
            "alertd_http_request_duration_seconds",
            "HTTP request latencies, by handler and status code",
            http_duration.clone(),
        );
        let watchdog_healthy = Gauge::default();
        registry.register(
            "alertd_watchdog_pipeline_healthy",
            "Whether the watchdog found the pipeline healthy at its last check",
            watchdog_healthy.clone(),
        );
        let watchdog_pings = Family::<ResultLabel, Counter>::default();
        registry.register(
            "alertd_watchdog_pings",
            "Pings sent to watchdog.url, by result",
            watchdog_pings.clone(),
        );
        Metrics {
            registry,
            reload_successful,
            reload_success_ts,
            http_requests,
            http_duration,
            watchdog_healthy,
            watchdog_pings,
        }
    }

    /// Exports the store's counters (series, samples ingested, out-of-order drops, chunks and
    /// bytes written, checkpoints), read from [`store::Store::stats`] at every scrape.
    pub(crate) fn register_store(&mut self, store: store::Store) {
        self.registry
            .register_collector(Box::new(StoreCollector(store)));
    }

    /// Exports the pipeline's own counters, read at every scrape: rule groups (evaluations,
    /// failures, duration, missed iterations), collector runs by kind, and the notifier's queue
    /// length and delivery attempts.
    pub(crate) fn register_pipeline(&mut self, p: &crate::daemon::Pipeline) {
        self.registry
            .register_collector(Box::new(PipelineCollector {
                rules: p.evaluator().clone(),
                runs: p.collector().run_counters(),
                notifier: p.notifier().clone(),
            }));
        self.registry
            .register_collector(Box::new(RemoteCollector(p.remote().clone())));
    }

    /// Exports the heartbeat ping rate limit's counters and table size, read at every scrape.
    pub(crate) fn register_ping_limits(
        &mut self,
        guard: std::sync::Arc<crate::ratelimit::PingGuard>,
    ) {
        self.registry
            .register_collector(Box::new(PingLimitCollector(guard)));
    }

    /// Records the outcome of a (re)load; `now_ms` is the clock's time of a success.
    pub(crate) fn record_reload(&self, success: bool, now_ms: i64) {
        self.reload_successful.set(i64::from(success));
        if success {
            self.reload_success_ts.set(now_ms as f64 / 1000.0);
        }
    }

    /// Records one watchdog check: whether the pipeline was healthy and, if so, whether the
    /// ping went through.
    pub(crate) fn record_watchdog(&self, healthy: bool, sent: bool) {
        self.watchdog_healthy.set(i64::from(healthy));
        if healthy {
            let result = if sent { "success" } else { "failure" };
            self.watchdog_pings
                .get_or_create(&ResultLabel { result })
                .inc();
        }
    }

    /// Records one served HTTP request.
    pub(crate) fn record_request(&self, handler: &str, code: u16, seconds: f64) {
        let labels = HttpLabels {
            handler: handler.to_string(),
            code,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration.get_or_create(&labels).observe(seconds);
    }

    /// Every metric in the OpenMetrics text format.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Reads [`store::StoreStats`] when `/metrics` is encoded.
#[derive(Debug)]
struct StoreCollector(store::Store);

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        let h = self.0.health();
        let gauges = [
            (
                "alertd_store_series",
                "Series in the store's index",
                s.series,
            ),
            (
                "alertd_store_write_failing",
                "1 while the store's writes fail (disk full?): samples and state wait in memory",
                u64::from(h.failing_since.is_some()),
            ),
            (
                "alertd_store_deferred_entries",
                "State entries waiting in memory for the disk to take them",
                h.deferred_entries as u64,
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let counters = [
            (
                "alertd_store_samples_ingested",
                "Samples accepted by the store",
                s.samples_ingested,
            ),
            (
                "alertd_store_out_of_order_samples_dropped",
                "Samples dropped because they were not newer than their series' newest",
                s.out_of_order_dropped,
            ),
            (
                "alertd_store_chunks_written",
                "Compressed chunks written",
                s.chunks_written,
            ),
            (
                "alertd_store_bytes_written",
                "Encoded chunk and rollup bytes written",
                s.bytes_written,
            ),
            (
                "alertd_store_checkpoints",
                "Successful checkpoints of in-memory heads",
                s.checkpoints,
            ),
            (
                "alertd_store_checkpoint_errors",
                "Failed checkpoints (data kept in memory for the next try)",
                s.checkpoint_errors,
            ),
            (
                "alertd_store_write_errors",
                "Writes to the store's engine that failed",
                h.write_errors,
            ),
            (
                "alertd_store_wal_released_segments",
                "Write-ahead log segments held for remote_write deleted over the hold limit",
                s.wal_released_segments,
            ),
        ];
        for (name, help, v) in counters {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        Ok(())
    }
}

/// Reads every `remote_write` queue's [`remote::QueueStats`] when `/metrics` is encoded:
/// Prometheus's `prometheus_remote_storage_*` as `alertd_remote_storage_*`, labelled with
/// `remote_name` and `url`.
#[derive(Debug)]
struct RemoteCollector(std::sync::Arc<crate::remotewrite::RemoteWriters>);

type RemoteLabels = [(&'static str, String); 2];
/// A metric of a queue: name, help, and how to read it from the queue's counters.
type RemoteMetric<T> = (&'static str, &'static str, fn(&remote::QueueStats) -> T);

impl Collector for RemoteCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let l = |q: &remote::QueueStats| -> RemoteLabels {
            [("remote_name", q.name.clone()), ("url", q.url.clone())]
        };
        let gauges: [RemoteMetric<f64>; 3] = [
            (
                "alertd_remote_storage_samples_pending",
                "Samples read from the write-ahead log and not yet sent",
                |q| q.samples_pending as f64,
            ),
            (
                "alertd_remote_storage_queue_highest_sent_timestamp_seconds",
                "Time of the newest sample the receiver accepted",
                |q| q.highest_sent_timestamp_ms as f64 / 1000.0,
            ),
            (
                "alertd_remote_storage_failing",
                "1 while the last request to the receiver failed",
                |q| f64::from(u8::from(q.failing)),
            ),
        ];
        for (name, help, f) in gauges {
            let rows: Vec<(RemoteLabels, ConstGauge<f64>)> = stats
                .iter()
                .map(|q| (l(q), ConstGauge::new(f(q))))
                .collect();
            encode_rows(&mut encoder, name, help, &rows)?;
        }
        let counters: [RemoteMetric<u64>; 6] = [
            (
                "alertd_remote_storage_samples",
                "Samples the receiver accepted",
                |q| q.samples_sent,
            ),
            (
                "alertd_remote_storage_samples_failed",
                "Samples the receiver refused for good (4xx), dropped",
                |q| q.samples_failed,
            ),
            (
                "alertd_remote_storage_samples_retried",
                "Samples sent again after a failed request",
                |q| q.samples_retried,
            ),
            (
                "alertd_remote_storage_samples_dropped",
                "Samples not sent: write_relabel_configs dropped their series",
                |q| q.samples_dropped,
            ),
            (
                "alertd_remote_storage_bytes",
                "Compressed request bytes the receiver accepted",
                |q| q.bytes_sent,
            ),
            (
                "alertd_remote_storage_wal_segments_skipped",
                "Write-ahead log segments deleted (storage hold limit) before the queue sent them",
                |q| q.wal_segments_skipped,
            ),
        ];
        for (name, help, f) in counters {
            let rows: Vec<(RemoteLabels, ConstCounter<u64>)> = stats
                .iter()
                .map(|q| (l(q), ConstCounter::new(f(q))))
                .collect();
            encode_rows(&mut encoder, name, help, &rows)?;
        }
        Ok(())
    }
}

/// Reads [`crate::ratelimit::PingLimitStats`] when `/metrics` is encoded.
#[derive(Debug)]
struct PingLimitCollector(std::sync::Arc<crate::ratelimit::PingGuard>);

impl Collector for PingLimitCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        let counters = [
            (
                "alertd_ping_rate_limited",
                "Heartbeat pings refused with 429 by api.ping_rate_limit (not recorded)",
                s.limited,
            ),
            (
                "alertd_ping_rate_limit_overflow",
                "Heartbeat pings from clients beyond api.ping_rate_limit.max_clients, limited \
                 together in one shared bucket",
                s.overflowed,
            ),
        ];
        for (name, help, v) in counters {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let gauges = [
            (
                "alertd_ping_rate_limit_clients",
                "Client addresses the ping rate limit tracks now",
                s.clients,
            ),
            (
                "alertd_ping_rate_limit_max_clients",
                "api.ping_rate_limit.max_clients (0 when the limit is off)",
                s.max_clients,
            ),
        ];
        for (name, help, v) in gauges {
            let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

/// Reads the evaluator's, collector's and notifier's counters when `/metrics` is encoded.
struct PipelineCollector {
    rules: std::sync::Arc<std::sync::Mutex<evaluator::Manager>>,
    runs: collector::RunCounters,
    notifier: std::sync::Arc<notifier::Notifier>,
}

impl std::fmt::Debug for PipelineCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineCollector").finish_non_exhaustive()
    }
}

/// One labelled family of constant values: name, help, type, and (labels, value) rows.
fn encode_rows<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(L, M)],
) -> Result<(), std::fmt::Error> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let mut family = encoder.encode_descriptor(name, help, None, first.1.metric_type())?;
    for (labels, m) in rows {
        m.encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

type RuleLabels = [(&'static str, String); 1];
type DeliveryLabels = [(&'static str, String); 2];

impl Collector for PipelineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        {
            let m = &self.rules;
            let stats = m
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .stats();
            let l = |g: &evaluator::GroupStats| -> RuleLabels {
                [("rule_group", g.rule_group.clone())]
            };
            let counter =
                |f: fn(&evaluator::GroupStats) -> u64| -> Vec<(RuleLabels, ConstCounter<u64>)> {
                    stats
                        .iter()
                        .map(|g| (l(g), ConstCounter::new(f(g))))
                        .collect()
                };
            let gauge =
                |f: fn(&evaluator::GroupStats) -> f64| -> Vec<(RuleLabels, ConstGauge<f64>)> {
                    stats
                        .iter()
                        .map(|g| (l(g), ConstGauge::new(f(g))))
                        .collect()
                };
            encode_rows(
                e,
                "alertd_rule_evaluations",
                "Rule evaluations, by rule group",
                &counter(|g| g.rule_evaluations),
            )?;
            encode_rows(
                e,
                "alertd_rule_evaluation_failures",
                "Rule evaluations that failed (query error or results not written), by rule group",
                &counter(|g| g.rule_failures),
            )?;
            encode_rows(
                e,
                "alertd_rule_group_iterations",
                "Rule group evaluation rounds run",
                &counter(|g| g.iterations),
            )?;
            encode_rows(
                e,
                "alertd_rule_group_iterations_missed",
                "Rule group evaluation rounds skipped because evaluation fell behind",
                &counter(|g| g.iterations_missed),
            )?;
            let total: Vec<(RuleLabels, ConstCounter<f64>)> = stats
                .iter()
                .map(|g| (l(g), ConstCounter::new(g.duration_seconds_total)))
                .collect();
            encode_rows(e, "alertd_rule_group_duration_seconds", "Time spent evaluating the rule group, summed over every round (divide its rate by the rate of alertd_rule_group_iterations_total for the mean)", &total)?;
            encode_rows(
                e,
                "alertd_rule_group_last_duration_seconds",
                "Duration of the rule group's last evaluation",
                &gauge(|g| g.last_duration_seconds),
            )?;
            encode_rows(
                e,
                "alertd_rule_group_interval_seconds",
                "The rule group's evaluation interval",
                &gauge(|g| g.interval_seconds),
            )?;
            encode_rows(
                e,
                "alertd_rule_group_last_evaluation_timestamp_seconds",
                "When the rule group was last evaluated",
                &gauge(|g| g.last_evaluation.map_or(0.0, |t| t as f64 / 1000.0)),
            )?;
            encode_rows(
                e,
                "alertd_rule_group_rules",
                "Rules in the rule group",
                &gauge(|g| g.rules as f64),
            )?;
            let source_up: Vec<(RuleLabels, ConstGauge<f64>)> = stats
                .iter()
                .filter_map(|g| {
                    g.source_up
                        .map(|up| (l(g), ConstGauge::new(if up { 1.0 } else { 0.0 })))
                })
                .collect();
            encode_rows(
                e,
                "alertd_rule_group_source_up",
                "For rule groups with a source: whether every query of the last evaluation was answered by it",
                &source_up,
            )?;
        }
        {
            let runs = &self.runs;
            let snap = runs.snapshot();
            let l = |k: &str| -> RuleLabels { [("kind", k.to_string())] };
            let counter =
                |f: fn(&collector::RunStats) -> u64| -> Vec<(RuleLabels, ConstCounter<u64>)> {
                    snap.iter()
                        .map(|(k, s)| (l(k), ConstCounter::new(f(s))))
                        .collect()
                };
            encode_rows(e, "alertd_probe_runs", "Probe and scrape runs finished, by kind (http, tls, tcp, icmp, dns, grpc, disk, postgres, mysql, scrape)", &counter(|s| s.runs))?;
            encode_rows(
                e,
                "alertd_probe_run_failures",
                "Probe and scrape runs that failed, by kind",
                &counter(|s| s.failures),
            )?;
            encode_rows(
                e,
                "alertd_probe_runs_skipped",
                "Runs skipped because no run slot was free for a whole interval, by kind",
                &counter(|s| s.skipped),
            )?;
            let secs: Vec<(RuleLabels, ConstCounter<f64>)> = snap
                .iter()
                .map(|(k, s)| (l(k), ConstCounter::new(s.duration_seconds_total)))
                .collect();
            encode_rows(
                e,
                "alertd_probe_run_duration_seconds",
                "Time spent in probe and scrape runs, summed, by kind",
                &secs,
            )?;
        }
        let queue = self.notifier.queue_len();
        let g = ConstGauge::new(i64::try_from(queue).unwrap_or(i64::MAX));
        g.encode(e.encode_descriptor(
            "alertd_notification_queue_length",
            "Notifications waiting in the outbound queue (including those being sent)",
            None,
            g.metric_type(),
        )?)?;
        {
            let n = &self.notifier;
            let stats = n.delivery_stats();
            let l = |d: &notifier::DeliveryStats| -> DeliveryLabels {
                [
                    ("integration", d.integration.to_string()),
                    ("receiver", d.receiver.clone()),
                ]
            };
            let rows = |f: fn(&notifier::DeliveryStats) -> u64| -> Vec<(DeliveryLabels, ConstCounter<u64>)> {
                stats.iter().map(|d| (l(d), ConstCounter::new(f(d)))).collect()
            };
            encode_rows(
                e,
                "alertd_notifications",
                "Notification delivery attempts, by integration type and receiver",
                &rows(|d| d.attempts),
            )?;
            encode_rows(
                e,
                "alertd_notifications_failed",
                "Notification delivery attempts that failed, by integration type and receiver",
                &rows(|d| d.failed),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_renames_counter_and_info_metadata_and_drops_eof() {
        let m = Metrics::new("1.2.3");
        m.record_request("/-/healthy", 200, 0.002);
        let text = to_text_format(&m.encode().unwrap());
        assert!(!text.contains("# EOF"), "{text}");
        assert!(text.contains("# TYPE alertd_build_info gauge\n"), "{text}");
        assert!(
            text.contains("# TYPE alertd_http_requests_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP alertd_http_requests_total HTTP requests"),
            "{text}"
        );
        assert!(
            text.contains("alertd_http_requests_total{handler=\"/-/healthy\",code=\"200\"} 1\n")
        );
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )));
        assert!(!wants_openmetrics(Some(
            "text/plain;version=0.0.4;q=1,*/*;q=0.1"
        )));
        assert!(!wants_openmetrics(None));
    }

    #[test]
    fn encodes_build_info_reload_and_http_metrics() {
        let m = Metrics::new("1.2.3");
        m.record_reload(true, 1_700_000_000_500);
        m.record_reload(false, 1_700_000_999_000);
        m.record_request("/-/healthy", 200, 0.002);
        let text = m.encode().unwrap();
        assert!(
            text.contains("alertd_build_info{version=\"1.2.3\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("alertd_config_last_reload_successful 0\n"),
            "{text}"
        );
        assert!(
            text.contains("alertd_config_last_reload_success_timestamp_seconds 1700000000.5\n"),
            "{text}"
        );
        assert!(
            text.contains("alertd_http_requests_total{handler=\"/-/healthy\",code=\"200\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "alertd_http_request_duration_seconds_count{handler=\"/-/healthy\",code=\"200\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
