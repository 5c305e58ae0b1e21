//! The write-ahead log through the store: samples appended after the last checkpoint come
//! back after a crash, torn and damaged log tails are cut at the last whole record, and a
//! checkpoint empties the log.
//!
//! A crash is a store that is leaked (`std::mem::forget`: no checkpoint on drop, files as the
//! process left them) and whose directory is copied and opened elsewhere.

use std::path::{Path, PathBuf};

use model::{Duration, Labels, Sample};
use store::{Engine, Store, StoreOptions};

fn opts(dir: &Path, engine: Engine) -> StoreOptions {
    StoreOptions {
        path: dir.to_path_buf(),
        engine,
        checkpoint_interval: Duration::ZERO,
        ..StoreOptions::default()
    }
}

fn labels(j: usize) -> Labels {
    Labels::from_pairs([("__name__", "w"), ("j", &j.to_string())])
}

/// Appends rounds `range` (one batch each, three series, sample time `i` s).
fn append(store: &Store, range: std::ops::RangeInclusive<i64>) {
    for i in range {
        let batch: Vec<_> = (0..3)
            .map(|j| (labels(j), Sample::new(i * 1000, i as f64 + j as f64 / 8.0)))
            .collect();
        store.append(&batch).unwrap();
    }
}

/// The rounds present per series (each must hold the same, in order, without duplicates).
fn rounds(store: &Store) -> Vec<i64> {
    let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(got.len(), 3);
    let first: Vec<i64> = got[0].samples.iter().map(|s| s.t / 1000).collect();
    for s in &got {
        let j: f64 = s.labels.get("j").unwrap().parse().unwrap();
        let ts: Vec<i64> = s.samples.iter().map(|s| s.t / 1000).collect();
        assert_eq!(ts, first);
        for x in &s.samples {
            assert_eq!(x.v, (x.t / 1000) as f64 + j / 8.0);
        }
    }
    first
}

/// Leaks `store` (a crash) and copies its directory to a new one.
fn crash_copy(store: Store, dir: &Path, tmp: &Path, name: &str) -> PathBuf {
    std::mem::forget(store);
    let to = tmp.join(name);
    copy_dir(dir, &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The log's segments, ascending.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Where each record of a segment ends (walking the documented framing: a 13-byte magic,
/// then per record a u32 LE length, a u32 CRC and the body).
fn record_ends(seg: &Path) -> Vec<usize> {
    let b = std::fs::read(seg).unwrap();
    assert!(b.starts_with(b"alertd-wal/1\n"));
    let mut pos = 13;
    let mut ends = Vec::new();
    while pos < b.len() {
        let len = u32::from_le_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 8 + len;
        ends.push(pos);
    }
    assert_eq!(pos, b.len());
    ends
}

#[test]
fn samples_after_the_last_checkpoint_survive_a_crash_on_both_engines() {
    for engine in [Engine::Redb, Engine::Sled] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("store");
        let store = Store::open(opts(&dir, engine)).unwrap();
        append(&store, 1..=200);
        store.checkpoint().unwrap();
        append(&store, 201..=300);
        let copy = crash_copy(store, &dir, tmp.path(), "crashed");
        let store = Store::open(opts(&copy, engine)).unwrap();
        assert_eq!(rounds(&store), (1..=300).collect::<Vec<_>>(), "{engine}");
        assert_eq!(store.stats().wal_replayed_samples, 300, "{engine}");
        // Crash again before any checkpoint: the old log and the new one are both read.
        append(&store, 301..=310);
        let again = crash_copy(store, &copy, tmp.path(), "again");
        let store = Store::open(opts(&again, engine)).unwrap();
        assert_eq!(rounds(&store), (1..=310).collect::<Vec<_>>(), "{engine}");
        // A checkpoint empties the log: the segments before it are gone.
        store.checkpoint().unwrap();
        let left: u64 = segments(&again)
            .iter()
            .map(|s| std::fs::metadata(s).unwrap().len())
            .sum();
        assert_eq!(
            left, 0,
            "{engine}: the log holds nothing after a checkpoint"
        );
        store.close().unwrap();
        drop(store);
        let store = Store::open(opts(&again, engine)).unwrap();
        assert_eq!(rounds(&store), (1..=310).collect::<Vec<_>>(), "{engine}");
        assert_eq!(store.stats().wal_replayed_samples, 0);
    }
}

#[test]
fn a_torn_tail_is_cut_at_the_last_whole_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let store = Store::open(opts(&dir, Engine::Redb)).unwrap();
    append(&store, 1..=50);
    let copy = crash_copy(store, &dir, tmp.path(), "crashed");
    let segs = segments(&copy);
    assert_eq!(segs.len(), 1);
    let ends = record_ends(&segs[0]);
    assert_eq!(ends.len(), 50);
    // Tear the last record anywhere inside it: rounds 1-49 stay, 50 is dropped and counted.
    let bytes = std::fs::read(&segs[0]).unwrap();
    for cut in [ends[48] + 1, (ends[48] + ends[49]) / 2, ends[49] - 1] {
        let torn = tmp.path().join(format!("torn-{cut}"));
        copy_dir(&copy, &torn);
        std::fs::write(
            torn.join("wal").join(segs[0].file_name().unwrap()),
            &bytes[..cut],
        )
        .unwrap();
        let store = Store::open(opts(&torn, Engine::Redb)).unwrap();
        assert_eq!(rounds(&store), (1..=49).collect::<Vec<_>>());
        assert_eq!(store.stats().wal_dropped_bytes, (cut - ends[48]) as u64);
        // The store goes on: new appends land in a new segment and survive the next crash.
        append(&store, 60..=61);
        let after = crash_copy(store, &torn, tmp.path(), &format!("after-{cut}"));
        let store = Store::open(opts(&after, Engine::Redb)).unwrap();
        let mut want: Vec<i64> = (1..=49).collect();
        want.extend([60, 61]);
        assert_eq!(rounds(&store), want);
        store.close().unwrap();
    }
}

#[test]
fn a_damaged_record_drops_the_rest_of_its_segment_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let store = Store::open(opts(&dir, Engine::Redb)).unwrap();
    append(&store, 1..=50);
    let copy = crash_copy(store, &dir, tmp.path(), "crashed");
    let seg = segments(&copy).remove(0);
    let ends = record_ends(&seg);
    let mut bytes = std::fs::read(&seg).unwrap();
    // One flipped bit in the body of round 31's record.
    bytes[ends[29] + 12] ^= 0x04;
    std::fs::write(&seg, &bytes).unwrap();
    let store = Store::open(opts(&copy, Engine::Redb)).unwrap();
    assert_eq!(rounds(&store), (1..=30).collect::<Vec<_>>());
    assert_eq!(
        store.stats().wal_dropped_bytes,
        (ends[49] - ends[29]) as u64
    );
    store.close().unwrap();
}
