//! Ingest and query benchmark of the store on the reference workload.
//!
//! `cargo run --release -p store --example bench -- --engine sled|redb [--series 10000]
//! [--days 3] [--dir PATH]`
//!
//! Simulates `--series` series scraped every 15 s for `--days` days (time compressed: appended
//! as fast as possible, one 10,000-sample batch per scrape round), then prints CPU per 1,000
//! samples (process user+system time from /proc/self/stat, all threads, including generating
//! the values), bytes per sample on disk (directory size after close / samples), peak RSS
//! (VmHWM) and query times. `--queries-only` (with `--dir` holding a store written by an
//! earlier run with the same `--series` and `--days`) skips the ingest and measures the queries;
//! `--ingest-only` stops after the ingest figures (for a heap profile of the ingest).
//! `--no-compact` never compacts the engine after windows move to blocks (to tell the
//! compaction's share of the key-value write waits below).
//!
//! During the ingest a probe thread writes one key-value record (a silence-sized value) every
//! 50 ms, as the API does, and the bench prints the longest wait of such a write and how many
//! took over 100 ms and over 1 s (wall times: under load they include waiting for a core).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use model::storage::{KvBatch, KvStore};
use model::{Duration, Labels, Matcher, Sample};
use store::{Engine, Resolution, Store, StoreOptions};

const INTERVAL_MS: i64 = 15_000;
const T0: i64 = 1_700_000_000_000;

/// xorshift64* PRNG, seeded.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
enum Kind {
    /// 0/1 like `up` / `probe_success`: 1, with rare outages of a few scrapes.
    Up { down_left: u32 },
    /// A monotonically increasing counter with integer increments (requests, bytes).
    Counter { value: f64, rate: f64 },
    /// A latency in seconds: a per-series base with ±20 % full-precision noise.
    Latency { base: f64 },
}

impl Kind {
    fn next(&mut self, rng: &mut Rng) -> f64 {
        match self {
            Kind::Up { down_left } => {
                if *down_left > 0 {
                    *down_left -= 1;
                    0.0
                } else if rng.next().is_multiple_of(5_000) {
                    *down_left = 1 + (rng.next() % 8) as u32;
                    0.0
                } else {
                    1.0
                }
            }
            Kind::Counter { value, rate } => {
                *value += (*rate * (0.5 + rng.unit())).round();
                *value
            }
            Kind::Latency { base } => *base * (0.8 + 0.4 * rng.unit()),
        }
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / clk_tck()
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// (apparent size, allocated size as `du` counts it) of a directory tree.
fn dir_size(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let (a, b) = match e.metadata() {
            Ok(md) if md.is_dir() => dir_size(&e.path()),
            Ok(md) => (md.len(), md.blocks() * 512),
            Err(_) => (0, 0),
        };
        total = (total.0 + a, total.1 + b);
    }
    total
}

/// CPU time of the calling thread, in ms.
fn thread_cpu_ms() -> f64 {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as f64 * 1000.0 + t.tv_nsec() as f64 / 1e6)
        .unwrap_or(0.0)
}

/// A query's median wall time and median CPU time (ms) over `runs` runs: the wall time
/// includes waiting for a core on a loaded machine, the CPU time does not.
struct Timing {
    wall: f64,
    cpu: f64,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ms wall, {:.2} ms CPU", self.wall, self.cpu)
    }
}

fn time_query<T>(runs: usize, mut f: impl FnMut() -> T) -> (Timing, T) {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut out = None;
    for _ in 0..runs {
        let (t, c) = (Instant::now(), thread_cpu_ms());
        out = Some(f());
        cpu.push(thread_cpu_ms() - c);
        wall.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let timing = Timing {
        wall: wall[wall.len() / 2],
        cpu: cpu[cpu.len() / 2],
    };
    (timing, out.expect("runs > 0"))
}

fn main() -> anyhow::Result<()> {
    let mut engine = Engine::Sled;
    let mut n_series = 10_000usize;
    let mut days = 3.0f64;
    let mut dir: Option<PathBuf> = None;
    let mut queries_only = false;
    let mut ingest_only = false;
    let mut no_compact = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--engine" => engine = val()?.parse()?,
            "--series" => n_series = val()?.parse()?,
            "--days" => days = val()?.parse()?,
            "--dir" => dir = Some(PathBuf::from(val()?)),
            "--queries-only" => queries_only = true,
            "--ingest-only" => ingest_only = true,
            "--no-compact" => no_compact = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let tmp = tempfile::tempdir()?;
    let path = dir.unwrap_or_else(|| tmp.path().join("store"));
    let rounds = (days * 86_400_000.0 / INTERVAL_MS as f64) as i64;

    let mut rng = Rng(0x5eed);
    let mut kinds = Vec::with_capacity(n_series);
    let mut batch: Vec<(Labels, Sample)> = Vec::with_capacity(n_series);
    for i in 0..n_series {
        let (name, kind) = match i % 10 {
            0..=4 => ("probe_success", Kind::Up { down_left: 0 }),
            5..=7 => (
                "http_requests_total",
                Kind::Counter {
                    value: 0.0,
                    rate: (1 + rng.next() % 1000) as f64,
                },
            ),
            _ => (
                "probe_duration_seconds",
                Kind::Latency {
                    base: 0.005 + rng.unit() * 0.5,
                },
            ),
        };
        kinds.push(kind);
        let labels = Labels::from_pairs([
            ("__name__", name.to_string()),
            ("job", "bench".to_string()),
            ("instance", format!("host-{:05}.example.internal:9100", i)),
            ("shard", (i % 10).to_string()),
        ]);
        batch.push((labels, Sample::new(0, 0.0)));
    }
    println!(
        "workload: {n_series} series, 15 s interval, {days} days = {rounds} rounds, {} samples",
        rounds * n_series as i64
    );
    println!(
        "value mix: 50% 0/1 up-style gauges (rare outages of 1-8 scrapes), 30% counters \
         (integer increments, per-series rate 1-1000 +-50%), 20% latencies (per-series base \
         5-505 ms, +-20% uniform full-precision noise); timestamps exactly 15 s apart; \
         seeded xorshift64*"
    );

    let opts = StoreOptions {
        path: path.clone(),
        engine,
        ..StoreOptions::default()
    };
    if queries_only {
        anyhow::ensure!(path.exists(), "--queries-only needs --dir with a store");
        let store = Store::open(StoreOptions {
            checkpoint_interval: Duration::ZERO,
            ..opts
        })?;
        let (before, t) = (dir_size(&path), Instant::now());
        store.apply_retention(T0 + rounds * INTERVAL_MS)?;
        println!(
            "apply_retention (redb compacts): {:.2} s, directory {} -> {} bytes allocated",
            t.elapsed().as_secs_f64(),
            before.1,
            dir_size(&path).1
        );
        return queries(&store, rounds);
    }
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    let store = Arc::new(Store::open(opts.clone())?);
    if no_compact {
        store.set_compact_min_free(u64::MAX);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || kv_probe(&store, &stop))
    };
    for r in 0..rounds {
        let t = T0 + r * INTERVAL_MS;
        for ((_, s), k) in batch.iter_mut().zip(kinds.iter_mut()) {
            *s = Sample::new(t, k.next(&mut rng));
        }
        store.append(&batch)?;
    }
    stop.store(true, Ordering::Relaxed);
    let kv = probe
        .join()
        .map_err(|_| anyhow::anyhow!("probe thread panicked"))??;
    store.close()?;
    let stats = store.stats();
    drop(store);
    let cpu = cpu_seconds() - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    let samples = stats.samples_ingested;
    let size = dir_size(&path);
    println!("engine: {engine}");
    println!(
        "ingest: {samples} samples in {wall:.1} s wall, {cpu:.1} s CPU -> {:.3} ms CPU per 1000 samples",
        cpu * 1e6 / samples as f64
    );
    println!(
        "disk: {} bytes allocated (du) -> {:.3} bytes/sample; apparent size {} bytes -> {:.3} bytes/sample (whole directory after close)",
        size.1,
        size.1 as f64 / samples as f64,
        size.0,
        size.0 as f64 / samples as f64
    );
    println!(
        "payload: {} bytes of chunks and rollup blocks -> {:.3} bytes/sample before engine overhead",
        stats.bytes_written,
        stats.bytes_written as f64 / samples as f64
    );
    println!(
        "stats: series {} chunks_written {} checkpoints {} out_of_order {} engine_compactions {} (longest {} ms)",
        stats.series,
        stats.chunks_written,
        stats.checkpoints,
        stats.out_of_order_dropped,
        stats.engine_compactions,
        stats.engine_compaction_max_ms
    );
    println!(
        "key-value writes during the ingest: {} (one per 50 ms), longest {:.1} ms, {} over 100 ms, {} over 1 s",
        kv.writes, kv.longest_ms, kv.over_100ms, kv.over_1s
    );
    println!(
        "peak RSS after ingest (VmHWM): {:.1} MiB",
        vm_hwm_kib() as f64 / 1024.0
    );
    if ingest_only {
        return Ok(());
    }

    let t = Instant::now();
    let store = Store::open(StoreOptions {
        checkpoint_interval: Duration::ZERO,
        ..opts
    })?;
    println!("reopen: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    let t = Instant::now();
    // Nothing is old enough to expire; this measures what the engine's compaction gives back.
    let r = store.apply_retention(T0 + rounds * INTERVAL_MS)?;
    let compacted = dir_size(&path);
    println!(
        "apply_retention (deletes nothing here; redb compacts): {:.1} s, {r:?}, disk {} bytes allocated -> {:.3} bytes/sample (apparent {:.3})",
        t.elapsed().as_secs_f64(),
        compacted.1,
        compacted.1 as f64 / samples as f64,
        compacted.0 as f64 / samples as f64
    );
    queries(&store, rounds)
}

/// What [`kv_probe`] measured.
struct KvWaits {
    writes: u64,
    longest_ms: f64,
    over_100ms: u64,
    over_1s: u64,
}

/// Writes a key-value record every 50 ms until `stop`, timing each write.
fn kv_probe(store: &Store, stop: &AtomicBool) -> anyhow::Result<KvWaits> {
    let mut w = KvWaits {
        writes: 0,
        longest_ms: 0.0,
        over_100ms: 0,
        over_1s: 0,
    };
    let value = vec![b'x'; 400];
    while !stop.load(Ordering::Relaxed) {
        let mut batch = KvBatch::new();
        batch.put("silences", (w.writes % 100).to_be_bytes(), value.clone());
        let t = Instant::now();
        store.write(batch)?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        w.writes += 1;
        w.longest_ms = w.longest_ms.max(ms);
        w.over_100ms += u64::from(ms > 100.0);
        w.over_1s += u64::from(ms > 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(w)
}

fn queries(store: &Store, rounds: i64) -> anyhow::Result<()> {
    let end = T0 + (rounds - 1) * INTERVAL_MS;
    let one: Vec<Matcher> = vec![r#"instance="host-00008.example.internal:9100""#.parse()?];
    let thousand: Vec<Matcher> = vec![r#"shard="8""#.parse()?];
    let hour = 3_600_000;
    let month = 30 * 86_400_000;
    let (ms, r) = time_query(5, || store.select(&one, end - hour, end));
    let r = r?;
    println!(
        "query 1h raw, 1 series: {ms} ({} samples)",
        r.iter().map(|s| s.samples.len()).sum::<usize>()
    );
    let (ms, r) = time_query(5, || store.select(&thousand, end - hour, end));
    let r = r?;
    println!(
        "query 1h raw, {} series: {ms} ({} samples)",
        r.len(),
        r.iter().map(|s| s.samples.len()).sum::<usize>()
    );
    for res in [Resolution::OneHour, Resolution::FiveMinutes] {
        let (ms, r) = time_query(5, || store.select_rollups(&one, end - month, end, res));
        let r = r?;
        println!(
            "query 30d rollups {res:?}, 1 series: {ms} ({} buckets)",
            r.iter().map(|s| s.buckets.len()).sum::<usize>()
        );
        let (ms, r) = time_query(3, || store.select_rollups(&thousand, end - month, end, res));
        let r = r?;
        println!(
            "query 30d rollups {res:?}, {} series: {ms} ({} buckets)",
            r.len(),
            r.iter().map(|s| s.buckets.len()).sum::<usize>()
        );
    }
    println!(
        "peak RSS overall (VmHWM): {:.1} MiB",
        vm_hwm_kib() as f64 / 1024.0
    );
    Ok(())
}
