//! Readers of the write-ahead log (remote_write's): a reader tails every appended sample in
//! order, a hold keeps segments past checkpoints and across a restart, a restart does not
//! replay held segments twice, and the hold limit deletes held segments (the reader counts
//! them as skipped).

use std::path::Path;

use model::{Duration, Labels, Sample};
use store::{Engine, Store, StoreOptions, WalEntry, WalRead, WalReader};

fn opts(dir: &Path) -> StoreOptions {
    StoreOptions {
        path: dir.to_path_buf(),
        engine: Engine::Redb,
        checkpoint_interval: Duration::ZERO,
        ..StoreOptions::default()
    }
}

fn labels(j: usize) -> Labels {
    Labels::from_pairs([("__name__", "h"), ("j", &j.to_string())])
}

fn append(store: &Store, range: std::ops::Range<i64>) {
    for i in range {
        let batch: Vec<_> = (0..3)
            .map(|j| (labels(j), Sample::new(i * 1000, i as f64 * 10.0 + j as f64)))
            .collect();
        store.append(&batch).unwrap();
    }
}

/// Reads until idle: every sample as (labels, t, v), resolving ids through the records'
/// series entries and the store.
fn drain(store: &Store, r: &mut WalReader) -> Vec<(Labels, i64, f64)> {
    let mut names = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut entries = Vec::new();
    while r.next(&mut entries).unwrap() == WalRead::Record {
        for e in entries.drain(..) {
            match e {
                WalEntry::Series(id, l) => {
                    names.insert(id, l);
                }
                WalEntry::Sample(id, s) => {
                    let l = names
                        .get(&id)
                        .cloned()
                        .or_else(|| store.series_labels(id))
                        .expect("labels of every series");
                    out.push((l, s.t, s.v));
                }
            }
        }
    }
    out
}

fn expected(range: std::ops::Range<i64>) -> Vec<(Labels, i64, f64)> {
    range
        .flat_map(|i| (0..3).map(move |j| (labels(j), i * 1000, i as f64 * 10.0 + j as f64)))
        .collect()
}

#[test]
fn a_reader_tails_the_log_and_a_hold_keeps_it_across_checkpoints_and_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(opts(tmp.path())).unwrap();
    let start = store.wal_oldest().unwrap();
    store.set_wal_hold("q", start).unwrap();
    let mut r = store.wal_reader(start);
    append(&store, 0..10);
    assert_eq!(drain(&store, &mut r), expected(0..10));
    // Nothing new: idle, and the position stays.
    let at = r.position();
    assert!(drain(&store, &mut r).is_empty());
    assert_eq!(r.position(), at);
    // Checkpoints cut the log; the held segment stays, and the reader goes on into the next.
    store.checkpoint().unwrap();
    append(&store, 10..20);
    store.checkpoint().unwrap();
    append(&store, 20..25);
    assert_eq!(drain(&store, &mut r), expected(10..25));
    let mut again = store.wal_reader(start);
    assert_eq!(
        drain(&store, &mut again),
        expected(0..25),
        "held from the start"
    );
    assert_eq!(again.skipped_segments(), 0);
    // A hold moved past the first two segments releases them at the next checkpoint.
    store.set_wal_hold("q", r.position()).unwrap();
    store.checkpoint().unwrap();
    let mut from_start = store.wal_reader(start);
    let rest = drain(&store, &mut from_start);
    assert_eq!(rest, expected(20..25));
    assert!(from_start.skipped_segments() >= 2);
    // A restart: the hold is persisted, the samples are not replayed twice.
    let pos = r.position();
    drop(r);
    store.close().unwrap();
    drop(store);
    let store = Store::open(opts(tmp.path())).unwrap();
    assert_eq!(store.wal_hold("q"), Some(pos));
    assert_eq!(store.stats().wal_replayed_samples, 0);
    let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|s| s.samples.len() == 25));
    // After the restart the reader resumes: series created before it come from the store.
    let mut r = store.wal_reader(pos);
    append(&store, 25..30);
    assert_eq!(drain(&store, &mut r), expected(25..30));
    store.release_wal_hold("q").unwrap();
    assert!(store.wal_holds().is_empty());
    store.checkpoint().unwrap();
    // Without holds a checkpoint empties the log again.
    assert!(std::fs::read_dir(tmp.path().join("wal"))
        .unwrap()
        .filter_map(|e| e.ok())
        .all(|e| !e.file_name().to_string_lossy().starts_with('0')));
}

#[test]
fn held_segments_over_the_limit_are_deleted_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(opts(tmp.path())).unwrap();
    let start = store.wal_oldest().unwrap();
    store.set_wal_hold("stuck", start).unwrap();
    for k in 0..4 {
        append(&store, k * 10..k * 10 + 10);
        store.checkpoint().unwrap();
    }
    assert_eq!(store.stats().wal_released_segments, 0);
    let mut r = store.wal_reader(start);
    assert_eq!(drain(&store, &mut r), expected(0..40));
    // A limit of one segment's worth (each holds ten rounds of the same size).
    let seg = std::fs::metadata(tmp.path().join("wal").join(format!("{:08}", start.segment)))
        .unwrap()
        .len();
    store.set_wal_hold_limit(seg);
    append(&store, 40..50);
    store.checkpoint().unwrap();
    assert_eq!(store.stats().wal_released_segments, 4);
    let mut r = store.wal_reader(start);
    assert_eq!(drain(&store, &mut r), expected(40..50));
    assert_eq!(r.skipped_segments(), 4);
    assert_eq!(
        store.wal_hold("stuck"),
        Some(start),
        "the hold itself stays"
    );
}

#[test]
fn a_torn_tail_of_a_finished_segment_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(opts(tmp.path())).unwrap();
    let start = store.wal_oldest().unwrap();
    store.set_wal_hold("q", start).unwrap();
    append(&store, 0..5);
    store.checkpoint().unwrap();
    append(&store, 5..8);
    let seg = tmp.path().join("wal").join(format!("{:08}", start.segment));
    let len = std::fs::metadata(&seg).unwrap().len();
    // A half record at the end of the first segment, as a crash mid-write leaves it.
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2]);
    std::fs::write(&seg, &bytes).unwrap();
    let mut r = store.wal_reader(start);
    assert_eq!(drain(&store, &mut r), expected(0..8));
    assert_eq!(r.skipped_bytes(), bytes.len() as u64 - len);
}
