//! Store behaviour on both engines: selection by every matcher type, head/disk merging across
//! reopen, out-of-order drops, staleness markers, rollups against a naive computation,
//! retention (data and disk), the key-value area, and engine/format mismatches.

use std::path::Path;

use model::sample::STALE_NAN_BITS;
use model::storage::{KvBatch, KvStore, SeriesStore};
use model::{Duration, Labels, Matcher, Sample};
use store::{Engine, Resolution, Store, StoreError, StoreOptions};

mod common;
use common::opts;

both_engines!(
    select_by_each_matcher_type,
    samples_survive_reopen_and_merge_head_with_disk,
    out_of_order_samples_are_dropped_and_counted,
    stale_markers_and_special_values_survive_bit_exactly,
    rollups_equal_naive_computation,
    retention_frees_data_and_disk,
    kv_area_is_namespaced_ordered_and_persistent,
    refuses_directory_of_other_engine,
    closed_store_refuses_writes,
);

fn m(s: &str) -> Matcher {
    s.parse().unwrap()
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn names(store: &Store, ms: &[Matcher]) -> Vec<String> {
    let mut v: Vec<String> = store
        .select(ms, 0, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|s| s.labels.get_or_empty("instance").to_string())
        .collect();
    v.sort();
    v
}

fn select_by_each_matcher_type(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(opts(engine, dir.path())).unwrap();
    let series = [
        l(&[("__name__", "up"), ("instance", "a"), ("job", "node")]),
        l(&[("__name__", "up"), ("instance", "b"), ("job", "blackbox")]),
        l(&[("__name__", "up"), ("instance", "c")]),
        l(&[
            ("__name__", "probe_success"),
            ("instance", "d"),
            ("job", "node"),
        ]),
    ];
    let batch: Vec<_> = series
        .iter()
        .map(|l| (l.clone(), Sample::new(1000, 1.0)))
        .collect();
    s.append(&batch).unwrap();

    assert_eq!(names(&s, &[m(r#"__name__="up""#)]), ["a", "b", "c"]);
    assert_eq!(names(&s, &[m(r#"job="node""#)]), ["a", "d"]);
    // != accepts "", so series without `job` match too.
    assert_eq!(
        names(&s, &[m(r#"__name__="up""#), m(r#"job!="node""#)]),
        ["b", "c"]
    );
    assert_eq!(names(&s, &[m(r#"job=~"node|black.*""#)]), ["a", "b", "d"]);
    assert_eq!(
        names(&s, &[m(r#"job=~"bl.*|""#), m(r#"__name__="up""#)]),
        ["b", "c"]
    );
    assert_eq!(names(&s, &[m(r#"job!~"node""#)]), ["b", "c"]);
    assert_eq!(names(&s, &[m(r#"job!~".+""#)]), ["c"]);
    assert_eq!(names(&s, &[m(r#"job="""#)]), ["c"]);
    assert_eq!(names(&s, &[m(r#"nope="x""#)]), Vec::<String>::new());
    assert_eq!(names(&s, &[]), ["a", "b", "c", "d"]);

    assert_eq!(s.label_names(), ["__name__", "instance", "job"]);
    assert_eq!(s.label_values("job"), ["blackbox", "node"]);
    assert_eq!(s.label_values("missing"), Vec::<String>::new());
    assert_eq!(s.series(&[m(r#"job="node""#)]).len(), 2);
    assert_eq!(s.stats().series, 4);

    // The index is rebuilt on reopen.
    s.close().unwrap();
    drop(s);
    let s = Store::open(opts(engine, dir.path())).unwrap();
    assert_eq!(names(&s, &[m(r#"job!~"node""#)]), ["b", "c"]);
    assert_eq!(s.label_values("job"), ["blackbox", "node"]);
}

fn samples_survive_reopen_and_merge_head_with_disk(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let a = l(&[("__name__", "x"), ("instance", "a")]);
    let b = l(&[("__name__", "x"), ("instance", "b")]);
    let mut want_a = Vec::new();
    let mut want_b = Vec::new();
    {
        let s = Store::open(opts(engine, dir.path())).unwrap();
        // 1000 samples: several closed chunks plus an open head; irregular gaps on b.
        for i in 0..1000i64 {
            let sa = Sample::new(i * 15_000, (i % 7) as f64);
            let sb = Sample::new(i * 15_000 + (i % 3) * 7, i as f64 * 0.1);
            want_a.push(sa);
            want_b.push(sb);
            s.append(&[(a.clone(), sa), (b.clone(), sb)]).unwrap();
            if i == 500 {
                s.checkpoint().unwrap();
            }
        }
        let got = s.select(&[m(r#"instance="a""#)], 0, i64::MAX).unwrap();
        assert_eq!(got[0].samples, want_a);
        assert!(s.stats().chunks_written > 0);
        s.close().unwrap();
    }
    let s = Store::open(opts(engine, dir.path())).unwrap();
    let got = s.select(&[m(r#"__name__="x""#)], 0, i64::MAX).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].samples, want_a);
    assert_eq!(got[1].samples, want_b);
    // Inclusive sub-ranges cutting through chunks.
    let got = s
        .select(&[m(r#"instance="a""#)], 15_000 * 130, 15_000 * 250)
        .unwrap();
    assert_eq!(got[0].samples, want_a[130..=250]);
    assert!(s.select(&[], 15_000 * 1000, i64::MAX).unwrap().is_empty());
    // Appending continues after the restored head.
    s.append(&[(a.clone(), Sample::new(1000 * 15_000, 42.0))])
        .unwrap();
    let got = s
        .select(&[m(r#"instance="a""#)], 999 * 15_000, i64::MAX)
        .unwrap();
    assert_eq!(got[0].samples.len(), 2);
    assert_eq!(got[0].samples[1].v, 42.0);
}

fn out_of_order_samples_are_dropped_and_counted(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let a = l(&[("__name__", "x")]);
    {
        let s = Store::open(opts(engine, dir.path())).unwrap();
        s.append(&[
            (a.clone(), Sample::new(100, 1.0)),
            (a.clone(), Sample::new(50, 2.0)),
            (a.clone(), Sample::new(100, 3.0)),
            (a.clone(), Sample::new(200, 4.0)),
        ])
        .unwrap();
        assert_eq!(s.stats().samples_ingested, 2);
        assert_eq!(s.stats().out_of_order_dropped, 2);
        s.close().unwrap();
    }
    // The newest timestamp is remembered across a restart.
    let s = Store::open(opts(engine, dir.path())).unwrap();
    s.append(&[(a.clone(), Sample::new(150, 9.0))]).unwrap();
    assert_eq!(s.stats().out_of_order_dropped, 1);
    let got = s.select(&[], 0, 1000).unwrap();
    assert_eq!(
        got[0].samples,
        [Sample::new(100, 1.0), Sample::new(200, 4.0)]
    );
}

fn stale_markers_and_special_values_survive_bit_exactly(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let a = l(&[("__name__", "x")]);
    let values = [
        f64::from_bits(STALE_NAN_BITS),
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        1e-310,
        f64::MAX,
        f64::from_bits(STALE_NAN_BITS),
        0.5,
    ];
    let want: Vec<Sample> = (0..300)
        .map(|i| Sample::new(i * 1000 + (i * i) % 17, values[i as usize % values.len()]))
        .collect();
    {
        let s = Store::open(opts(engine, dir.path())).unwrap();
        let batch: Vec<_> = want.iter().map(|x| (a.clone(), *x)).collect();
        s.append(&batch).unwrap();
        s.close().unwrap();
    }
    let s = Store::open(opts(engine, dir.path())).unwrap();
    let got = &s.select(&[], 0, i64::MAX).unwrap()[0].samples;
    let bits = |v: &[Sample]| v.iter().map(|x| (x.t, x.v.to_bits())).collect::<Vec<_>>();
    assert_eq!(bits(got), bits(&want));
    assert!(got[0].is_stale() && !got[1].is_stale());
}

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn rollups_equal_naive_computation(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let a = l(&[("__name__", "lat"), ("instance", "a")]);
    let mut rng = Rng(7);
    let mut samples = Vec::new();
    let mut t = 1_700_000_000_000i64;
    for i in 0..3000 {
        t += 5_000 + (rng.next() % 40_000) as i64;
        let v = if i % 97 == 0 {
            f64::from_bits(STALE_NAN_BITS)
        } else {
            (rng.next() % 10_000) as f64 / 1000.0
        };
        samples.push(Sample::new(t, v));
    }
    let (first, last) = (samples[0].t, t);
    let check = |s: &Store, res: Resolution| {
        let w = res.width_ms();
        let mut naive: std::collections::BTreeMap<i64, (u64, f64, f64, f64)> = Default::default();
        for x in samples.iter().filter(|x| !x.is_stale()) {
            let b = x.t - x.t.rem_euclid(w);
            let e = naive
                .entry(b)
                .or_insert((0, f64::INFINITY, f64::NEG_INFINITY, 0.0));
            e.0 += 1;
            e.1 = e.1.min(x.v);
            e.2 = e.2.max(x.v);
            e.3 += x.v;
        }
        // A window that cuts off buckets at both ends.
        let (lo, hi) = (first + 3 * w, last - 2 * w);
        let got = s
            .select_rollups(&[m(r#"__name__="lat""#)], lo, hi, res)
            .unwrap();
        let got = &got[0].buckets;
        let want: Vec<_> = naive.range(lo..=hi).collect();
        assert_eq!(got.len(), want.len(), "{res:?}");
        for (g, (t, (c, mn, mx, sum))) in got.iter().zip(want) {
            assert_eq!((g.t, g.count, g.min, g.max), (*t, *c, *mn, *mx), "{res:?}");
            assert!((g.sum - sum).abs() < 1e-9, "{res:?} {} {}", g.sum, sum);
            assert!((g.avg() - sum / *c as f64).abs() < 1e-9);
        }
    };
    {
        let s = Store::open(opts(engine, dir.path())).unwrap();
        for chunk in samples.chunks(100) {
            let batch: Vec<_> = chunk.iter().map(|x| (a.clone(), *x)).collect();
            s.append(&batch).unwrap();
        }
        check(&s, Resolution::FiveMinutes);
        check(&s, Resolution::OneHour);
        s.close().unwrap();
    }
    // Same answers from disk after a restart.
    let s = Store::open(opts(engine, dir.path())).unwrap();
    check(&s, Resolution::FiveMinutes);
    check(&s, Resolution::OneHour);
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let md = e.metadata().unwrap();
        total += if md.is_dir() {
            dir_size(&e.path())
        } else {
            md.len()
        };
    }
    total
}

fn retention_frees_data_and_disk(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000i64;
    let mut o = opts(engine, dir.path());
    o.retention_raw = Duration::from_secs(86_400);
    o.retention_rollups = Duration::from_secs(2 * 86_400);
    let s = Store::open(o).unwrap();
    let mut rng = Rng(3);
    // "old" series stop after day 1; "live" ones continue to day 4. Noisy values so the
    // data takes real space.
    for step in 0..(4 * day / 60_000) {
        let t = step * 60_000;
        let mut batch = Vec::new();
        for i in 0..40 {
            if i < 20 && t > day {
                continue;
            }
            let kind = if i < 20 { "old" } else { "live" };
            let labels = l(&[("__name__", "x"), ("kind", kind), ("i", &i.to_string())]);
            batch.push((
                labels,
                Sample::new(t, (rng.next() % 1_000_000) as f64 / 7.0),
            ));
        }
        s.append(&batch).unwrap();
    }
    s.checkpoint().unwrap();
    let before = dir_size(dir.path());
    let now = 4 * day;

    let r = s.apply_retention(now).unwrap();
    // Raw data before day 3 and rollups before day 2 are gone; the old series entirely.
    // Closed windows live in block files, which go whole.
    assert!(r.block_files_deleted > 0, "{r:?}");
    let blocks: Vec<String> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &blocks {
        // `kind_window_seq.blk`: no block of a window that ended before its cutoff is left.
        let mut parts = name.trim_end_matches(".blk").split('_');
        let (kind, window) = (parts.next().unwrap(), parts.next().unwrap());
        let window: i64 = window.parse().unwrap();
        let (len, cut) = match kind {
            "raw" => (2 * 3_600_000, now - day),
            "5m" => (4 * 3_600_000, now - 2 * day),
            _ => (day, now - 2 * day),
        };
        assert!(window + len > cut, "{name} survived retention");
    }
    assert!(blocks.iter().any(|b| b.starts_with("raw_")), "{blocks:?}");
    assert_eq!(r.series_dropped, 20, "{r:?}");
    assert_eq!(s.stats().series, 20);
    assert!(s.select(&[m(r#"kind="old""#)], 0, now).unwrap().is_empty());
    assert_eq!(s.label_values("kind"), ["live"]);
    let live = s.select(&[m(r#"i="25""#)], 0, now).unwrap();
    let first = live[0].samples[0].t;
    // Whole chunks are deleted: at most one chunk (120 samples) older than the cutoff stays.
    assert!(
        (3 * day - 120 * 60_000..=3 * day).contains(&first),
        "{first}"
    );
    let roll = s
        .select_rollups(&[m(r#"i="25""#)], 0, now, Resolution::FiveMinutes)
        .unwrap();
    assert!(
        roll[0].buckets[0].t >= 2 * day - 48 * 300_000,
        "{}",
        roll[0].buckets[0].t
    );
    s.close().unwrap();
    drop(s);
    let after = dir_size(dir.path());
    eprintln!("{engine}: directory {before} -> {after} bytes after retention");
    match engine {
        // redb: compact() gives the space back to the file system.
        Engine::Redb => assert!(after * 10 < before * 7, "{before} -> {after}"),
        // sled: reclaims segments by itself, but the file does not necessarily shrink; the
        // deletions must at least not make it grow much.
        Engine::Sled => assert!(after < before * 2, "{before} -> {after}"),
    }
    // And the result survives a reopen.
    let s = Store::open(opts(engine, dir.path())).unwrap();
    assert_eq!(s.stats().series, 20);
    assert!(s.select(&[m(r#"kind="old""#)], 0, now).unwrap().is_empty());
}

fn kv_area_is_namespaced_ordered_and_persistent(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(opts(engine, dir.path())).unwrap();
        let mut b = KvBatch::new();
        b.put("silences", b"b".to_vec(), b"2".to_vec());
        b.put("silences", b"a".to_vec(), b"1".to_vec());
        b.put("silences", vec![0xff, 0xff], b"max".to_vec());
        b.put("silence", b"a".to_vec(), b"other namespace".to_vec());
        b.put("silencesx", b"a".to_vec(), b"other namespace".to_vec());
        KvStore::write(&s, b).unwrap();
        let mut d = KvBatch::new();
        d.delete("silences", b"b".to_vec());
        d.put("acks", b"k".to_vec(), b"v".to_vec());
        KvStore::write(&s, d).unwrap();
        let mut bad = KvBatch::new();
        bad.put("acks", b"ok".to_vec(), b"v".to_vec());
        bad.put("a\0b", b"k".to_vec(), b"v".to_vec());
        let e = KvStore::write(&s, bad).unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
        assert_eq!(
            KvStore::get(&s, "acks", b"ok").unwrap(),
            None,
            "a refused batch writes nothing"
        );
        drop(s); // no close: KV writes are durable on their own
    }
    let s = Store::open(opts(engine, dir.path())).unwrap();
    let all = s.scan_prefix("silences", b"").unwrap();
    assert_eq!(
        all,
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (vec![0xff, 0xff], b"max".to_vec())
        ]
    );
    assert_eq!(s.scan_prefix("silences", &[0xff]).unwrap().len(), 1);
    assert_eq!(s.scan_prefix("silence", b"").unwrap().len(), 1);
    assert_eq!(
        KvStore::get(&s, "acks", b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(KvStore::get(&s, "silences", b"b").unwrap(), None);
    // The KV area does not show up as series.
    assert_eq!(s.stats().series, 0);
}

fn refuses_directory_of_other_engine(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    Store::open(opts(engine, dir.path()))
        .unwrap()
        .close()
        .unwrap();
    let other = match engine {
        Engine::Sled => Engine::Redb,
        Engine::Redb => Engine::Sled,
    };
    let e = Store::open(opts(other, dir.path())).unwrap_err();
    assert!(
        matches!(e, StoreError::WrongEngine { found, .. } if found == engine),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("set storage.engine: {engine}")),
        "{e}"
    );
}

fn closed_store_refuses_writes(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(opts(engine, dir.path())).unwrap();
    let clone = s.clone();
    s.append(&[(l(&[("a", "b")]), Sample::new(1, 1.0))])
        .unwrap();
    s.close().unwrap();
    assert!(matches!(
        clone.append(&[(l(&[("a", "b")]), Sample::new(2, 1.0))]),
        Err(StoreError::Closed)
    ));
    assert!(KvStore::write(&clone, {
        let mut b = KvBatch::new();
        b.put("n", b"k".to_vec(), b"v".to_vec());
        b
    })
    .is_err());
    // Reads still work.
    assert_eq!(SeriesStore::select(&clone, &[], 0, 10).unwrap().len(), 1);
}

#[test]
fn engine_names_deserialize_lowercase() {
    #[derive(serde::Deserialize)]
    struct C {
        engine: Engine,
    }
    let c: C = serde_json::from_str(r#"{"engine":"redb"}"#).unwrap();
    assert_eq!(c.engine, Engine::Redb);
    assert!(serde_json::from_str::<C>(r#"{"engine":"Sled"}"#).is_err());
    assert_eq!("sled".parse::<Engine>().unwrap(), Engine::Sled);
    assert!("rocksdb"
        .parse::<Engine>()
        .unwrap_err()
        .to_string()
        .contains("sled or redb"));
    assert_eq!(StoreOptions::default().engine, Engine::Redb);
    assert_eq!(
        StoreOptions::default().checkpoint_interval,
        Duration::from_secs(60)
    );
}

#[test]
fn background_thread_checkpoints_without_close() {
    for engine in [Engine::Sled, Engine::Redb] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(engine, dir.path());
        o.checkpoint_interval = Duration::from_millis(20);
        let s = Store::open(o.clone()).unwrap();
        s.append(&[(l(&[("a", "b")]), Sample::new(1, 1.0))])
            .unwrap();
        // Bounded wait for the background thread (real time: it is a real thread).
        let start = std::time::Instant::now();
        while s.stats().checkpoints < 2 && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            s.stats().checkpoints >= 2,
            "{engine}: no background checkpoint"
        );
        // Dropping every handle stops the thread and releases the files for a reopen.
        drop(s);
        let s = Store::open(opts(engine, dir.path())).unwrap();
        assert_eq!(
            s.select(&[], 0, 10).unwrap()[0].samples,
            [Sample::new(1, 1.0)]
        );
    }
}

mod model_based {
    //! The store against `model::storage::MemStorage` (the reference semantics): random
    //! appends over several chunk windows (with out-of-order samples), checkpoints, reopens and
    //! selections with random matchers and ranges.

    use super::*;
    use model::storage::MemStorage;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Append(Vec<(usize, i64, u8)>),
        Checkpoint,
        Reopen,
        Select(usize, i64, i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => proptest::collection::vec((0usize..30, 0i64..3_000, any::<u8>()), 1..60)
                .prop_map(Step::Append),
            1 => Just(Step::Checkpoint),
            1 => Just(Step::Reopen),
            3 => (0usize..6, 0i64..40, 0i64..40).prop_map(|(m, a, b)| Step::Select(m, a, b)),
        ]
    }

    fn matchers(i: usize) -> Vec<Matcher> {
        let all = [
            vec![],
            vec![m(r#"i=~"0|29""#)],
            vec![m(r#"i="7""#)],
            vec![m(r#"even="1""#), m(r#"i!="4""#)],
            vec![m(r#"even!~"1""#)],
            vec![m(r#"i=~"1.*""#)],
        ];
        all[i].clone()
    }

    fn run(engine: Engine, steps: Vec<Step>) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(opts(engine, dir.path())).unwrap();
        store.set_max_pending_bytes(256);
        let mem = MemStorage::new();
        // Ten minutes per time unit: a few hundred steps cross many 2 h windows.
        let unit = 600_000i64 / 4;
        let mut clock = [0i64; 30];
        for s in steps {
            match s {
                Step::Append(rows) => {
                    let batch: Vec<_> = rows
                        .into_iter()
                        .map(|(j, dt, v)| {
                            // Mostly increasing per series; sometimes older (out of order).
                            let t = if v % 5 == 0 {
                                clock[j] - dt
                            } else {
                                clock[j] + dt
                            };
                            clock[j] = clock[j].max(t);
                            let labels = Labels::from_pairs([
                                ("__name__", "m".to_string()),
                                ("i", j.to_string()),
                                ("even", if j % 2 == 0 { "1" } else { "" }.to_string()),
                            ]);
                            (labels, Sample::new(t * unit / 100, f64::from(v) / 4.0))
                        })
                        .collect();
                    store.append(&batch).unwrap();
                    SeriesStore::append(&mem, &batch).unwrap();
                }
                Step::Checkpoint => store.checkpoint().unwrap(),
                Step::Reopen => {
                    store.close().unwrap();
                    drop(store);
                    store = Store::open(opts(engine, dir.path())).unwrap();
                    store.set_max_pending_bytes(256);
                }
                Step::Select(mi, a, b) => {
                    let (a, b) = (a.min(b) * unit * 10, a.max(b) * unit * 10);
                    let ms = matchers(mi);
                    let got = store.select(&ms, a, b).unwrap();
                    let want = SeriesStore::select(&mem, &ms, a, b).unwrap();
                    // The borrowing select hands over the same series in the same order.
                    let mut each = Vec::new();
                    store
                        .select_each(&ms, a, b, &mut |labels, samples| {
                            each.push(model::storage::Series {
                                labels: labels.clone(),
                                samples: samples.to_vec(),
                            })
                        })
                        .unwrap();
                    prop_assert_eq!(&each, &want);
                    prop_assert_eq!(got, want);
                }
            }
        }
        let got = store.select(&[], i64::MIN, i64::MAX).unwrap();
        let want = SeriesStore::select(&mem, &[], i64::MIN, i64::MAX).unwrap();
        prop_assert_eq!(got, want);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn sled_matches_mem_storage(steps in proptest::collection::vec(step(), 1..60)) {
            run(Engine::Sled, steps)?;
        }

        #[test]
        fn redb_matches_mem_storage(steps in proptest::collection::vec(step(), 1..60)) {
            run(Engine::Redb, steps)?;
        }
    }
}
