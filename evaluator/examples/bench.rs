//! Rule evaluation benchmark: 200 alerting rules (150 thresholds on node_* series, 50 on
//! probe_* series) over 200 targets, all `for: 1m` with templated annotations, evaluated round
//! after round over an in-memory store indexed by metric name. Prints the time per round and per-rule p50/p99.
//!
//! `cargo run --release -p evaluator --example bench`

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use evaluator::group::{EvalContext, GroupState};
use evaluator::rules::parse_rule_file;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use model::storage::{Series, SeriesStore, StorageError};
use model::{Labels, MatchOp, Matcher, Sample};

const TARGETS: usize = 200;
const STEP_MS: i64 = 15_000;
const HISTORY: i64 = 41; // 10 minutes of 15s samples before the first round
const ROUNDS: i64 = 30;

fn rules_yaml() -> String {
    let mut y = String::from("groups:\n");
    let node_exprs = [
        "node_load1 > {t}",
        "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < {t}",
        "(node_filesystem_avail_bytes{fstype!=\"tmpfs\"} / node_filesystem_size_bytes) * 100 < {t}",
        "rate(node_cpu_seconds_total{mode=\"idle\"}[5m]) < {t} / 100",
        "node_filesystem_files_free / node_filesystem_files * 100 < {t}",
        "predict_linear(node_filesystem_avail_bytes[10m], 4 * 3600) < {t}",
    ];
    let probe_exprs = [
        "probe_success == 0 and on(instance) probe_duration_seconds > {t} / 100",
        "probe_duration_seconds > {t} / 10",
        "(probe_ssl_earliest_cert_expiry - time()) / 86400 < {t}",
        "probe_http_status_code >= 495 + {t}",
        "avg_over_time(probe_success[5m]) < {t} / 100",
    ];
    for (g, (count, exprs, prefix)) in [
        (150, &node_exprs[..], "Node"),
        (50, &probe_exprs[..], "Probe"),
    ]
    .into_iter()
    .enumerate()
    {
        for chunk in 0..(count / 25) {
            let _ = writeln!(y, "  - name: bench-{g}-{chunk}\n    rules:");
            for r in 0..25 {
                let i = chunk * 25 + r;
                let e = exprs[i % exprs.len()].replace("{t}", &(5 + i % 10).to_string());
                let _ = writeln!(
                    y,
                    "      - alert: {prefix}Alert{i}\n        expr: '{e}'\n        for: 1m\n        labels:\n          severity: warning\n        annotations:\n          summary: '{{{{ $labels.instance }}}} value {{{{ $value | humanize }}}}'\n          description: 'rule {i} on {{{{ $labels.instance }}}}: {{{{ printf \"%.2f\" $value }}}}'"
                );
            }
        }
    }
    y
}

fn load(store: &IndexedStore, now: i64) {
    let mut batch = Vec::new();
    for t in 0..TARGETS {
        let inst = format!("host-{t}:9100");
        let l = |name: &str, extra: &[(&str, &str)]| {
            let mut p = vec![
                ("__name__", name.to_string()),
                ("instance", inst.clone()),
                ("job", "node".to_string()),
            ];
            p.extend(extra.iter().map(|(a, b)| (*a, b.to_string())));
            Labels::from_pairs(p)
        };
        let probe = |name: &str| {
            Labels::from_pairs([
                ("__name__", name.to_string()),
                ("instance", format!("https://site-{t}.example")),
                ("job", "blackbox".to_string()),
            ])
        };
        // 1 target in 40 is unhealthy and makes every rule fire for it.
        let bad = t % 40 == 0;
        let b = |healthy: f64, unhealthy: f64| if bad { unhealthy } else { healthy };
        for k in 0..HISTORY + ROUNDS {
            let ts = now - (HISTORY - 1 - k) * STEP_MS;
            let kf = k as f64;
            let fs = [
                ("mountpoint", "/"),
                ("fstype", "ext4"),
                ("device", "/dev/sda1"),
            ];
            for (lab, v) in [
                (l("node_load1", &[]), b(1.0, 50.0)),
                (l("node_memory_MemAvailable_bytes", &[]), b(4e9, 1e8)),
                (l("node_memory_MemTotal_bytes", &[]), 8e9),
                (
                    l("node_filesystem_avail_bytes", &fs),
                    b(5e10, 3e9 - kf * 1e7),
                ),
                (l("node_filesystem_size_bytes", &fs), 1e11),
                (l("node_filesystem_files_free", &fs), b(1e6, 1e4)),
                (l("node_filesystem_files", &fs), 2e6),
                (
                    l("node_cpu_seconds_total", &[("mode", "idle"), ("cpu", "0")]),
                    kf * 15.0 * b(0.9, 0.01),
                ),
                (probe("probe_success"), b(1.0, 0.0)),
                (probe("probe_duration_seconds"), b(0.1, 2.0)),
                (
                    probe("probe_ssl_earliest_cert_expiry"),
                    (now / 1000) as f64 + 86400.0 * b(90.0, 3.0),
                ),
                (probe("probe_http_status_code"), b(200.0, 503.0)),
            ] {
                batch.push((lab, Sample::new(ts, v)));
            }
        }
    }
    store.append(&batch).expect("append");
}

/// An in-memory store with a metric-name index, standing in for the real store (which indexes
/// series); `MemStorage` scans every series per select and would dominate the figures.
#[derive(Default)]
struct IndexedStore {
    inner: RwLock<Index>,
    /// Time spent in `select` (ns), to tell store cost from evaluator cost.
    select_ns: AtomicU64,
}

#[derive(Default)]
struct Index {
    by_name: HashMap<String, Vec<(Labels, Vec<Sample>)>>,
    pos: HashMap<Labels, (String, usize)>,
}

impl SeriesStore for IndexedStore {
    fn append(&self, batch: &[(Labels, Sample)]) -> Result<(), StorageError> {
        let mut ix = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        for (l, smp) in batch {
            let (name, i) = match ix.pos.get(l) {
                Some(p) => p.clone(),
                None => {
                    let name = l.get_or_empty("__name__").to_string();
                    let v = ix.by_name.entry(name.clone()).or_default();
                    v.push((l.clone(), Vec::new()));
                    let p = (name, v.len() - 1);
                    ix.pos.insert(l.clone(), p.clone());
                    p
                }
            };
            let samples = &mut ix.by_name.get_mut(&name).expect("indexed")[i].1;
            if samples.last().is_none_or(|x| x.t < smp.t) {
                samples.push(*smp);
            }
        }
        Ok(())
    }

    fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let t0 = Instant::now();
        let r = self.select_inner(matchers, start, end);
        self.select_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    fn select_each(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        f: &mut dyn FnMut(&Labels, &[Sample]),
    ) -> Result<(), StorageError> {
        let t0 = Instant::now();
        self.each_inner(matchers, start, end, f);
        self.select_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl IndexedStore {
    fn select_inner(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let mut out = Vec::new();
        self.each_inner(matchers, start, end, &mut |l, samples| {
            out.push(Series {
                labels: l.clone(),
                samples: samples.to_vec(),
            })
        });
        Ok(out)
    }

    /// Every matching series with its samples in `[start, end]`, borrowed (`select` copies
    /// them out of here).
    fn each_inner(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        f: &mut dyn FnMut(&Labels, &[Sample]),
    ) {
        let ix = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let by_name = matchers
            .iter()
            .position(|m| m.name == "__name__" && m.op == MatchOp::Equal);
        let buckets: Vec<&Vec<(Labels, Vec<Sample>)>> = match by_name {
            Some(i) => ix.by_name.get(&matchers[i].value).into_iter().collect(),
            None => ix.by_name.values().collect(),
        };
        // The name's bucket holds only series of that name: its matcher needs no checking.
        let rest: Vec<&Matcher> = matchers
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != by_name)
            .map(|(_, m)| m)
            .collect();
        for b in buckets {
            for (l, samples) in b {
                if !rest.iter().all(|m| m.matches(l)) {
                    continue;
                }
                let lo = samples.partition_point(|x| x.t < start);
                let n = samples[lo..].partition_point(|x| x.t <= end);
                if n > 0 {
                    f(l, &samples[lo..lo + n]);
                }
            }
        }
    }
}

/// CPU time this thread has used (ns), from `/proc/thread-self/schedstat` (0 where missing):
/// the machine is shared, so the wall time of a round alone says little.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let now: i64 = 1_700_000_000_000;
    let store = Arc::new(IndexedStore::default());
    load(&store, now);
    let groups = parse_rule_file(Path::new("bench.rules.yml"), &rules_yaml()).expect("rules");
    let rule_count: usize = groups.iter().map(|g| g.rules.len()).sum();
    let ctx = EvalContext::new(store.clone() as Arc<dyn SeriesStore>);
    let mut states: Vec<GroupState> = groups
        .into_iter()
        .map(|g| GroupState::new(g, ctx.clone()))
        .collect();
    let rounds = ROUNDS;
    let mut round_ms = Vec::new();
    let mut round_cpu_ms = Vec::new();
    let mut rule_ms = Vec::new();
    let mut firing = 0;
    let mut select_ms = Vec::new();
    for r in 0..rounds {
        // rounds 15 s apart over the same data window, so `for: 1m` alerts become firing
        let ts = now + r * STEP_MS;
        store.select_ns.store(0, Ordering::Relaxed);
        let t0 = Instant::now();
        let cpu0 = thread_cpu_ns();
        for g in &mut states {
            g.eval(ts);
        }
        let el = t0.elapsed().as_secs_f64() * 1000.0;
        let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e6;
        if r >= 5 {
            round_ms.push(el);
            round_cpu_ms.push(cpu);
            select_ms.push(store.select_ns.load(Ordering::Relaxed) as f64 / 1e6);
            for g in &states {
                rule_ms.extend(g.rules.iter().map(|x| x.evaluation_seconds * 1000.0));
            }
        }
        firing = states
            .iter()
            .flat_map(|g| g.alerts())
            .filter(|(_, a)| a.state == model::AlertState::Firing)
            .count();
    }
    round_ms.sort_by(f64::total_cmp);
    round_cpu_ms.sort_by(f64::total_cmp);
    rule_ms.sort_by(f64::total_cmp);
    select_ms.sort_by(f64::total_cmp);
    let series = store.select(&[], 0, i64::MAX).map(|s| s.len()).unwrap_or(0);
    println!("rules: {rule_count} alerting rules, {TARGETS} targets, {series} series in store, {firing} alerts firing");
    println!(
        "per round (all groups sequentially, {} rounds): median {:.2} ms, min {:.2} ms, max {:.2} ms",
        round_ms.len(),
        pct(&round_ms, 0.5),
        round_ms[0],
        round_ms[round_ms.len() - 1]
    );
    println!(
        "CPU time per round (this thread): median {:.2} ms, min {:.2} ms, max {:.2} ms",
        pct(&round_cpu_ms, 0.5),
        round_cpu_ms[0],
        round_cpu_ms[round_cpu_ms.len() - 1]
    );
    println!(
        "of which in the store's select (copying series out): median {:.2} ms",
        pct(&select_ms, 0.5)
    );
    println!(
        "per rule: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pct(&rule_ms, 0.5),
        pct(&rule_ms, 0.99),
        rule_ms[rule_ms.len() - 1]
    );
}
