//! Crash test: a child process (this test binary re-run with an environment variable) writes
//! key-value batches and samples in a loop and prints what was acknowledged; the parent
//! `kill -9`s it at random moments (20 times per engine), reopens the store and checks that it
//! opens, that every acknowledged key-value batch is present, and that every sample whose
//! append returned is there exactly once (the write-ahead log holds what no checkpoint did).
//! The same with samples 10 minutes apart: a window closes every few appends and nearly every
//! flush writes block files, so the kills fall during block writes too; no half block may be
//! visible and nothing may be lost or doubled. And on redb with a compaction after every move
//! of windows into blocks, so the kills fall during online compactions (their copy, the
//! key-value writes applied to it, the rename) too.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use model::storage::{KvBatch, KvStore};
use model::{Duration, Labels, Sample};
use store::{Engine, Store, StoreOptions};

const ENV_DIR: &str = "ALERTD_STORE_CRASH_DIR";
const ENV_ENGINE: &str = "ALERTD_STORE_CRASH_ENGINE";
const ENV_START: &str = "ALERTD_STORE_CRASH_START";
const ENV_STEP: &str = "ALERTD_STORE_CRASH_STEP_MS";
/// Set: the child compacts the engine after every move of windows into blocks.
const ENV_COMPACT: &str = "ALERTD_STORE_CRASH_COMPACT";
const SERIES: usize = 5;
const ROUNDS: u64 = 20;
const ROUND_STRIDE: u64 = 1_000_000;

fn labels(j: usize) -> Labels {
    Labels::from_pairs([("__name__", "crash"), ("j", &j.to_string())])
}

fn value(i: u64, j: usize) -> f64 {
    i as f64 * (j + 1) as f64
}

fn kv_value(i: u64) -> Vec<u8> {
    format!("value-{i}-").repeat(8).into_bytes()
}

fn opts(engine: Engine, dir: &str) -> StoreOptions {
    StoreOptions {
        path: dir.into(),
        engine,
        checkpoint_interval: Duration::from_millis(30),
        ..StoreOptions::default()
    }
}

/// The child's work loop; a no-op unless started by the parent.
#[test]
fn crash_child_process() {
    let (Ok(dir), Ok(engine), Ok(start)) = (
        std::env::var(ENV_DIR),
        std::env::var(ENV_ENGINE),
        std::env::var(ENV_START),
    ) else {
        return;
    };
    let engine: Engine = engine.parse().unwrap();
    let start: u64 = start.parse().unwrap();
    let step: i64 = std::env::var(ENV_STEP).unwrap().parse().unwrap();
    let store = Store::open(opts(engine, &dir)).unwrap();
    // Early flushes of closed chunks (without heads) all the time, between checkpoints.
    store.set_max_pending_bytes(1024);
    if std::env::var_os(ENV_COMPACT).is_some() {
        store.set_compact_min_free(0);
    }
    let mut out = std::io::stdout().lock();
    for i in start.. {
        let mut b = KvBatch::new();
        b.put("crash", i.to_be_bytes().to_vec(), kv_value(i));
        b.put("crash-meta", b"last".to_vec(), i.to_be_bytes().to_vec());
        store.write(b).unwrap();
        let batch: Vec<_> = (0..SERIES)
            .map(|j| (labels(j), Sample::new(i as i64 * step, value(i, j))))
            .collect();
        store.append(&batch).unwrap();
        // Both the key-value batch and the samples are acknowledged.
        writeln!(out, "ACK {i}").unwrap();
        if i % 50 == 0 {
            store.checkpoint().unwrap();
            writeln!(out, "CKPT {i}").unwrap();
            writeln!(out, "COMPACTIONS {}", store.stats().engine_compactions).unwrap();
        }
        out.flush().unwrap();
    }
}

/// The child's last acknowledged write, last checkpoint and compactions by then.
fn run_child(
    engine: Engine,
    dir: &str,
    (start, step, compact): (u64, i64, bool),
    kill_after: StdDuration,
) -> (Option<u64>, Option<u64>, Option<u64>) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    if compact {
        cmd.env(ENV_COMPACT, "1");
    }
    let mut child = cmd
        .args([
            "--exact",
            "crash_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_DIR, dir)
        .env(ENV_ENGINE, engine.as_str())
        .env(ENV_START, start.to_string())
        .env(ENV_STEP, step.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                match l {
                    Ok(l) => lines.lock().unwrap().push(l),
                    Err(_) => break,
                }
            }
        })
    };
    // Kill only once the child is writing, so each round really interrupts writes.
    let begin = Instant::now();
    while !lines.lock().unwrap().iter().any(|l| l.starts_with("ACK")) {
        assert!(
            begin.elapsed() < StdDuration::from_secs(60),
            "child never acknowledged a write"
        );
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        std::thread::sleep(StdDuration::from_millis(5));
    }
    std::thread::sleep(kill_after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    let lines = lines.lock().unwrap();
    let last = |p: &str| {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(p))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .max()
    };
    (last("ACK "), last("CKPT "), last("COMPACTIONS "))
}

/// `step`: milliseconds between a series' samples; `compact`: see [`ENV_COMPACT`].
fn crash_loop(engine: Engine, step: i64, compact: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let dir = dir.to_str().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ engine.as_str().len() as u64;
    // Per round: (first seq, last acknowledged seq).
    let mut rounds: Vec<(u64, u64)> = Vec::new();
    let mut total_replayed = 0;
    let mut blocks_seen = 0;
    let mut compactions = 0;
    for round in 0..ROUNDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = StdDuration::from_millis(100 + rng % 900);
        let start = (round + 1) * ROUND_STRIDE;
        let (acked, ckpt, compacted) = run_child(engine, dir, (start, step, compact), kill_after);
        compactions += compacted.unwrap_or(0);
        let acked = acked.expect("at least one acknowledged write");
        rounds.push((start, acked));

        // The store must open after every crash and hold everything acknowledged so far.
        let store = Store::open(StoreOptions {
            checkpoint_interval: Duration::ZERO,
            ..opts(engine, dir)
        })
        .unwrap_or_else(|e| panic!("{engine}: reopen after kill -9 in round {round}: {e}"));
        let replayed = store.stats().wal_replayed_samples;
        total_replayed += replayed;
        for &(first, last) in &rounds {
            for i in first..=last {
                assert_eq!(
                    store.get("crash", &i.to_be_bytes()).unwrap(),
                    Some(kv_value(i)),
                    "{engine}: acknowledged KV batch {i} lost"
                );
            }
            let got = store
                .select(&[], first as i64 * step, last as i64 * step)
                .unwrap();
            assert_eq!(got.len(), SERIES, "{engine}: series lost");
            for s in &got {
                let j: usize = s.labels.get("j").unwrap().parse().unwrap();
                let want: Vec<Sample> = (first..=last)
                    .map(|i| Sample::new(i as i64 * step, value(i, j)))
                    .collect();
                assert_eq!(s.samples, want, "{engine}: appended samples of j={j} lost");
            }
        }
        // No garbage either: whatever survived past the checkpoint is what was written.
        for s in store.select(&[], 0, i64::MAX).unwrap() {
            let j: usize = s.labels.get("j").unwrap().parse().unwrap();
            for x in &s.samples {
                assert_eq!(
                    x.v,
                    value((x.t / step) as u64, j),
                    "{engine}: corrupt sample"
                );
            }
            assert!(
                s.samples.windows(2).all(|w| w[0].t < w[1].t),
                "{engine}: duplicated or unordered samples after restore"
            );
        }
        // Only committed blocks are left: no temporary file, no file without its record.
        let names = block_files(dir);
        assert!(
            names.iter().all(|n| n.ends_with(".blk")),
            "{engine}: {names:?}"
        );
        blocks_seen = blocks_seen.max(names.len());
        // An interrupted compaction's copy is gone; the database is whole.
        assert!(
            !std::path::Path::new(dir)
                .join("store.redb.compact")
                .exists(),
            "{engine}: compaction copy left after open"
        );
        let meta = store.get("crash-meta", b"last").unwrap().unwrap();
        assert!(u64::from_be_bytes(meta.try_into().unwrap()) >= acked);
        store.close().unwrap();
        eprintln!(
            "{engine} round {round}: killed after {kill_after:?}, acked up to {acked}, \
             checkpoint {ckpt:?}, {replayed} samples from the log, {} block files: ok",
            names.len()
        );
    }
    assert!(
        total_replayed > 0,
        "{engine}: no kill fell between checkpoints; the log was never needed"
    );
    if step >= 600_000 {
        assert!(blocks_seen > 0, "{engine}: no block was ever written");
    }
    if compact {
        assert!(compactions > 0, "{engine}: no compaction ran");
    }
}

fn block_files(dir: &str) -> Vec<String> {
    match std::fs::read_dir(std::path::Path::new(dir).join("blocks")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged_sled() {
    crash_loop(Engine::Sled, 1000, false);
}

#[test]
fn kill_9_loses_nothing_acknowledged_redb() {
    crash_loop(Engine::Redb, 1000, false);
}

#[test]
fn kill_9_during_block_writes_sled() {
    crash_loop(Engine::Sled, 600_000, false);
}

#[test]
fn kill_9_during_block_writes_redb() {
    crash_loop(Engine::Redb, 600_000, false);
}

#[test]
fn kill_9_during_compactions_redb() {
    crash_loop(Engine::Redb, 600_000, true);
}
