//! Block files: closed windows leave the engine for blocks and read back the same, before and
//! after a restart; damaged blocks are reported and the rest of the data is still served;
//! block files without their record (a write interrupted before its commit) are removed on
//! open.

use std::path::{Path, PathBuf};

use model::{Labels, Matcher, Sample};
use store::{Engine, Resolution, Store};

mod common;
use common::opts;

both_engines!(
    closed_windows_read_back_from_blocks,
    damaged_series_data_leaves_out_only_that_series_window,
    damaged_index_leaves_out_only_that_block,
    uncommitted_block_files_are_removed_on_open
);

/// redb keeps its file at the high-water mark of the windows staged in it; after windows
/// moved to blocks the store compacts it (here at any size: the default waits for 8 MiB
/// free), and every sample still reads back.
#[test]
fn engine_is_compacted_after_windows_move_to_blocks() {
    const MANY: usize = 300;
    let size = |p: &Path| {
        std::fs::metadata(p.join(store::engine::REDB_FILE))
            .unwrap()
            .len()
    };
    let run = |path: &Path, min_free: u64| {
        let s = Store::open(opts(Engine::Redb, path)).unwrap();
        s.set_compact_min_free(min_free);
        ingest_precise(&s, MANY);
        s.close().unwrap();
        assert_precise(&s, MANY);
        (s.stats().engine_compactions, size(path))
    };
    let dir = tempfile::tempdir().unwrap();
    let (never, kept) = run(&dir.path().join("never"), u64::MAX);
    let (compactions, compacted) = run(&dir.path().join("always"), 0);
    assert_eq!(never, 0);
    assert!(compactions >= 1, "no compaction");
    assert!(
        compacted < kept,
        "compacted file {compacted} bytes, uncompacted {kept}"
    );
    assert_precise(
        &Store::open(opts(Engine::Redb, &dir.path().join("always"))).unwrap(),
        MANY,
    );
}

/// redb's compaction after windows moved to blocks is online: held in the middle of its copy
/// (by a hook that waits, so the order is fixed, not timed), a key-value write and a query
/// complete, and the write made meanwhile is in the compacted database, also after a reopen.
#[test]
fn key_value_writes_and_queries_go_on_during_a_compaction() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use model::storage::{KvBatch, KvStore};

    const MANY: usize = 100;
    // Generous: only a write that waits for the held compaction takes this long.
    const STUCK: Duration = Duration::from_secs(120);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let s = Store::open(opts(Engine::Redb, &path)).unwrap();
    s.set_compact_min_free(0);
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let held = AtomicBool::new(false);
    s.set_compact_hook(Some(Arc::new(move || {
        if !held.swap(true, Ordering::SeqCst) {
            let _ = entered_tx.send(());
            let _ = release_rx.lock().unwrap().recv();
        }
    })));
    let ingest = {
        let s = s.clone();
        std::thread::spawn(move || ingest_precise(&s, MANY))
    };
    entered.recv_timeout(STUCK).expect("no compaction started");
    // The compaction is held after its snapshot's copy: the copy lacks what is written now.
    let (done_tx, done) = mpsc::channel();
    {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut b = KvBatch::new();
            b.put("silences", b"during".to_vec(), b"1".to_vec());
            let w = s.write(b);
            let m: Matcher = r#"j="7""#.parse().unwrap();
            let q = s.select(&[m], 0, i64::MAX).map(|r| r.len());
            let _ = done_tx.send((w, q));
        });
    }
    let (w, q) = done
        .recv_timeout(STUCK)
        .expect("a key-value write or a query waited for the compaction");
    w.unwrap();
    assert_eq!(q.unwrap(), 1);
    release.send(()).unwrap();
    ingest.join().unwrap();
    assert!(s.stats().engine_compactions >= 1);
    let during = |s: &Store| s.get("silences", b"during").unwrap();
    assert_eq!(during(&s), Some(b"1".to_vec()), "lost by the switch");
    s.close().unwrap();
    drop(s);
    assert!(!path.join("store.redb.compact").exists());
    let s = Store::open(opts(Engine::Redb, &path)).unwrap();
    assert_eq!(during(&s), Some(b"1".to_vec()), "lost after a reopen");
    assert_precise(&s, MANY);
}

/// Sample `i` of series `c{j}`: full precision, so the staged windows take some room.
fn precise(i: i64, j: usize) -> f64 {
    ((i * 7 + j as i64) as f64 * 0.37).sin()
}

/// Appends `N` rounds of `many` series `c{j}`, with a checkpoint every hour of samples.
fn ingest_precise(s: &Store, many: usize) {
    for i in 0..N {
        let batch: Vec<_> = (0..many)
            .map(|j| {
                let l = Labels::from_pairs([("__name__", "c"), ("j", &j.to_string())]);
                (l, Sample::new(T0 + i * STEP, precise(i, j)))
            })
            .collect();
        s.append(&batch).unwrap();
        if i % 60 == 59 {
            s.checkpoint().unwrap();
        }
    }
}

/// Every sample [`ingest_precise`] appended reads back.
fn assert_precise(s: &Store, many: usize) {
    let m: Matcher = r#"__name__="c""#.parse().unwrap();
    let got = s.select(&[m], 0, i64::MAX).unwrap();
    assert_eq!(got.len(), many);
    for x in got {
        let j: usize = x.labels.get("j").unwrap().parse().unwrap();
        let want: Vec<Sample> = (0..N)
            .map(|i| Sample::new(T0 + i * STEP, precise(i, j)))
            .collect();
        assert_eq!(x.samples, want, "series {j}");
    }
}

/// A compaction's copy left by a crash (before its rename) is deleted on open; the database
/// is the old, complete file.
#[test]
fn unfinished_compaction_copy_is_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let s = Store::open(opts(Engine::Redb, &path)).unwrap();
    let l = Labels::from_pairs([("__name__", "x")]);
    s.append(&[(l.clone(), Sample::new(T0, 1.0))]).unwrap();
    s.close().unwrap();
    drop(s);
    let copy = path.join("store.redb.compact");
    std::fs::write(&copy, b"half a database").unwrap();
    let s = Store::open(opts(Engine::Redb, &path)).unwrap();
    assert!(!copy.exists());
    let m: Matcher = r#"__name__="x""#.parse().unwrap();
    let got = s.select(&[m], 0, i64::MAX).unwrap();
    assert_eq!(got[0].samples, vec![Sample::new(T0, 1.0)]);
}

/// Aligned to 2 h (and to 4 h and 1 d windows' start does not matter here).
const T0: i64 = 1_700_006_400_000;
const STEP: i64 = 60_000;
const N: i64 = 720; // 12 h
const SERIES: usize = 3;

fn labels(j: usize) -> Labels {
    Labels::from_pairs([("__name__", "b"), ("j", &j.to_string())])
}

fn value(i: i64, j: usize) -> f64 {
    // A full-precision value, a counter and a 0/1 gauge.
    match j {
        0 => (i as f64 * 0.37).sin(),
        1 => (i * 17) as f64,
        _ => f64::from(u8::from(i % 50 != 0)),
    }
}

fn want(j: usize) -> Vec<Sample> {
    (0..N)
        .map(|i| Sample::new(T0 + i * STEP, value(i, j)))
        .collect()
}

fn fill(path: &Path, engine: Engine) {
    let s = Store::open(opts(engine, path)).unwrap();
    for i in 0..N {
        let batch: Vec<_> = (0..SERIES)
            .map(|j| (labels(j), Sample::new(T0 + i * STEP, value(i, j))))
            .collect();
        s.append(&batch).unwrap();
    }
    s.close().unwrap();
}

fn all(s: &Store) -> Vec<Vec<Sample>> {
    let m: Matcher = r#"__name__="b""#.parse().unwrap();
    let got = s.select(&[m], 0, i64::MAX).unwrap();
    (0..SERIES)
        .map(|j| {
            got.iter()
                .find(|x| x.labels == labels(j))
                .map(|x| x.samples.clone())
                .unwrap_or_default()
        })
        .collect()
}

fn raw_blocks(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(path.join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("raw_"))
        .collect();
    v.sort();
    v
}

/// (data start, index start, index end) of a block file.
fn layout(file: &[u8]) -> (usize, usize, usize) {
    let foot = file.len() - 20;
    let index = u64::from_be_bytes(file[foot..foot + 8].try_into().unwrap()) as usize;
    (18, index, foot)
}

fn window_of(p: &Path) -> i64 {
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    name.split('_').nth(1).unwrap().parse().unwrap()
}

fn closed_windows_read_back_from_blocks(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), engine);
    // 12 h of data: the windows that ended 2 h or more before the newest sample are blocks.
    let blocks = raw_blocks(dir.path());
    assert_eq!(
        blocks.iter().map(|b| window_of(b)).collect::<Vec<_>>(),
        (0..4).map(|k| T0 + k * 7_200_000).collect::<Vec<_>>(),
        "{blocks:?}"
    );
    let s = Store::open(opts(engine, dir.path())).unwrap();
    let got = all(&s);
    for (j, g) in got.iter().enumerate() {
        assert_eq!(g, &want(j), "series {j}");
    }
    // Rollups from blocks and engine agree with the samples.
    let m: Matcher = r#"j="1""#.parse().unwrap();
    let r = s
        .select_rollups(&[m], 0, i64::MAX, Resolution::FiveMinutes)
        .unwrap();
    let buckets = &r[0].buckets;
    assert_eq!(buckets.len(), (N * STEP / 300_000) as usize);
    assert!(buckets.iter().all(|b| b.count == 5));
}

fn damaged_series_data_leaves_out_only_that_series_window(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), engine);
    let block = raw_blocks(dir.path())[1].clone();
    let w = window_of(&block);
    let mut bytes = std::fs::read(&block).unwrap();
    let (data, index, _) = layout(&bytes);
    bytes[(data + index) / 2] ^= 0x55;
    std::fs::write(&block, &bytes).unwrap();

    let s = Store::open(opts(engine, dir.path())).unwrap();
    let got = all(&s);
    let mut damaged = 0;
    for (j, g) in got.iter().enumerate() {
        let full = want(j);
        if g == &full {
            continue;
        }
        damaged += 1;
        // Exactly that window's samples are missing; everything else is served.
        let rest: Vec<Sample> = full
            .into_iter()
            .filter(|x| x.t < w || x.t >= w + 7_200_000)
            .collect();
        assert_eq!(g, &rest, "series {j}");
    }
    assert_eq!(damaged, 1, "one series' data was damaged");
}

fn damaged_index_leaves_out_only_that_block(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), engine);
    let block = raw_blocks(dir.path())[2].clone();
    let w = window_of(&block);
    let mut bytes = std::fs::read(&block).unwrap();
    let (_, index, end) = layout(&bytes);
    bytes[(index + end) / 2] ^= 0x01;
    std::fs::write(&block, &bytes).unwrap();

    let s = Store::open(opts(engine, dir.path())).unwrap();
    let got = all(&s);
    for (j, g) in got.iter().enumerate() {
        let rest: Vec<Sample> = want(j)
            .into_iter()
            .filter(|x| x.t < w || x.t >= w + 7_200_000)
            .collect();
        assert_eq!(g, &rest, "series {j}");
    }
    // The store keeps working: appends and a checkpoint go on.
    s.append(&[(labels(0), Sample::new(T0 + N * STEP, 1.0))])
        .unwrap();
    s.checkpoint().unwrap();
}

fn uncommitted_block_files_are_removed_on_open(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), engine);
    let blocks = dir.path().join("blocks");
    let real = raw_blocks(dir.path());
    // A block renamed into place whose engine batch never ran, and a temporary file.
    let stray = blocks.join("raw_1600000000000_0.blk");
    std::fs::copy(&real[0], &stray).unwrap();
    let tmp = blocks.join("raw_1600000000000_1.tmp");
    std::fs::write(&tmp, b"half a block").unwrap();

    let s = Store::open(opts(engine, dir.path())).unwrap();
    assert!(!stray.exists() && !tmp.exists());
    assert_eq!(raw_blocks(dir.path()), real);
    let got = all(&s);
    for (j, g) in got.iter().enumerate() {
        assert_eq!(g, &want(j), "series {j}");
    }
}
