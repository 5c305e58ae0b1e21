//! `Store::backup_to` on both engines: a copy taken while other threads append samples and
//! write key-value state opens as a store of its own and holds everything acknowledged before
//! the backup started (samples still in the in-memory head included); a destination that exists
//! is refused; a copy of the same engine is produced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use model::storage::{KvBatch, KvStore};
use model::{Labels, Matcher, Sample};
use store::{Engine, Store, StoreError};

mod common;
// No background checkpoints: the backup's own checkpoint must bring the heads along.
use common::opts;

both_engines!(
    backup_under_write_load_opens_with_all_acknowledged_data,
    backup_refuses_an_existing_destination,
);

fn series(i: u32) -> Labels {
    Labels::from_pairs([("__name__", "probe_success"), ("probe", &format!("p{i}"))])
}

fn all(store: &Store) -> Vec<(Labels, Vec<Sample>)> {
    let m: Matcher = "__name__=\"probe_success\"".parse().unwrap();
    store
        .select(&[m], 0, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|s| (s.labels, s.samples))
        .collect()
}

fn backup_under_write_load_opens_with_all_acknowledged_data(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(engine, &dir.path().join("data"))).unwrap();
    // 20 series × 1,500 samples (6 h 15 min): the first windows in block files (written by the
    // backup's checkpoint), later chunks closed and written, the rest only in the heads.
    for t in 0..1500i64 {
        let batch: Vec<_> = (0..20)
            .map(|i| {
                (
                    series(i),
                    Sample::new(t * 15_000, (t + i64::from(i)) as f64),
                )
            })
            .collect();
        store.append(&batch).unwrap();
    }
    let mut b = KvBatch::new();
    b.put("silences", "s1", r#"{"id":"s1","comment":"before"}"#);
    store.write(b).unwrap();
    let before = all(&store);
    assert_eq!(before.len(), 20);

    // Writers keep going during the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut t = 1500i64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<_> = (0..20)
                    .map(|i| (series(i), Sample::new(t * 15_000, 1.0)))
                    .collect();
                store.append(&batch).unwrap();
                let mut b = KvBatch::new();
                b.put("acks", format!("a{t}"), "x");
                store.write(b).unwrap();
                if t % 50 == 0 {
                    store.checkpoint().unwrap();
                }
                t += 1;
            }
            t
        })
    };
    // Let the writer get going before the backup starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.scan_prefix("acks", b"").unwrap().len() < 20 {
        assert!(std::time::Instant::now() < deadline, "writer did not start");
        std::thread::yield_now();
    }
    let dest = dir.path().join("snapshots").join("one");
    let report = store.backup_to(&dest).unwrap();
    stop.store(true, Ordering::Relaxed);
    let written_to = writer.join().unwrap();
    assert!(written_to > 1520, "the writer ran during the backup");
    assert_eq!(report.path, dest);
    assert_eq!(report.engine, engine);
    assert!(report.entries > 20, "{report:?}");
    assert!(report.bytes > 0, "{report:?}");
    assert!(!dest.with_extension("partial").exists());
    let blocks = std::fs::read_dir(dest.join("blocks")).unwrap().count();
    assert!(blocks >= 2, "closed windows' block files copied: {blocks}");

    // The live store keeps working after the backup.
    store
        .append(&[(series(0), Sample::new(i64::MAX / 2, 2.0))])
        .unwrap();
    store.close().unwrap();

    let copy = Store::open(opts(engine, &dest)).unwrap();
    let restored = all(&copy);
    assert_eq!(restored.len(), 20);
    for ((l0, s0), (l1, s1)) in before.iter().zip(&restored) {
        assert_eq!(l0, l1);
        // Everything appended before the backup started, and a consistent prefix of what the
        // writer added meanwhile (equal values at equal times, no gaps).
        assert!(s1.len() >= s0.len(), "{l0}: {} < {}", s1.len(), s0.len());
        assert_eq!(&s1[..s0.len()], &s0[..], "{l0}");
        for (k, s) in s1.iter().enumerate() {
            assert_eq!(s.t, k as i64 * 15_000, "{l0}: gap at {k}");
        }
        assert!(
            s1.iter().all(|s| s.t < i64::MAX / 2),
            "sample after the backup"
        );
    }
    assert_eq!(
        copy.get("silences", b"s1").unwrap().as_deref(),
        Some(&br#"{"id":"s1","comment":"before"}"#[..])
    );
    let acks = copy.scan_prefix("acks", b"").unwrap();
    assert!(
        acks.len() >= 20,
        "acks written before the backup: {}",
        acks.len()
    );
    // The copy is a store of its own: writable, and reopens.
    copy.append(&[(series(99), Sample::new(1, 1.0))]).unwrap();
    copy.close().unwrap();
    drop(copy);
    let again = Store::open(opts(engine, &dest)).unwrap();
    assert_eq!(all(&again).len(), 21);
}

fn backup_refuses_an_existing_destination(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(engine, &dir.path().join("data"))).unwrap();
    let dest = dir.path().join("taken");
    std::fs::create_dir(&dest).unwrap();
    match store.backup_to(&dest) {
        Err(StoreError::Io { path, source }) => {
            assert_eq!(path, dest);
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // An empty store backs up too.
    let report = store.backup_to(&dir.path().join("empty")).unwrap();
    assert!(report.entries >= 2, "metadata is copied: {report:?}");
    drop(store);
    Store::open(opts(engine, &dir.path().join("empty"))).unwrap();
}
