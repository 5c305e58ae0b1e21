//! A store written by format 1 (heads as `H` records in the engine, Gorilla-only blocks) opens
//! with this version: its samples read back, the format is upgraded to 2, and the first
//! checkpoint moves the heads into the heads file and deletes the `H` records.

use model::{Labels, Matcher, Sample};
use store::engine::{open_engine, BatchOp};
use store::{Engine, Store};

mod common;
use common::opts;

both_engines!(format_1_store_opens_and_is_upgraded);

fn bytes_with_len(b: &[u8]) -> Vec<u8> {
    let mut out = (b.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

fn samples(store: &Store) -> Vec<Sample> {
    let m: Matcher = "__name__=\"up\"".parse().unwrap();
    let mut got = store.select(&[m], 0, i64::MAX).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, Labels::from_pairs([("__name__", "up")]));
    got.remove(0).samples
}

fn format_1_store_opens_and_is_upgraded(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    // A version 1 chunk (written by the Gorilla-only encoder) of six samples.
    let chunk: &[u8] = &[
        0, 6, 0, 0, 1, 139, 207, 229, 104, 0, 63, 224, 0, 0, 0, 0, 0, 0, 195, 169, 245, 255, 150,
        20, 63, 228, 96, 3, 177, 123, 254, 196, 0, 0, 0, 0, 0, 27, 255, 44, 31, 223, 11, 45, 5,
        224, 0, 0, 1, 128, 14, 192, 7, 241, 152, 122, 244, 170, 170, 170, 168,
    ];
    let want: Vec<(i64, u64)> = [0.5f64, 0.5, 12.25, f64::NAN, -3.0e9, 1.0 / 3.0]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let i = i as i64;
            let bits = if i == 3 {
                model::sample::STALE_NAN_BITS
            } else {
                v.to_bits()
            };
            (1_700_000_000_000 + i * 15_000 + (i % 2) * 7, bits)
        })
        .collect();
    {
        let db = open_engine(engine, &path).unwrap();
        let id = |tag: u8| {
            let mut k = vec![tag];
            k.extend_from_slice(&7u64.to_be_bytes());
            k
        };
        // Labels: count, then (len name len value) per label.
        let labels = [&[1u8, 8][..], b"__name__", &[2], b"up"].concat();
        // The head: the open chunk, then per resolution no open bucket and an empty block.
        let mut head = bytes_with_len(chunk);
        for _ in 0..2 {
            head.push(0);
            head.extend(bytes_with_len(&[0, 0]));
        }
        db.write(&[
            BatchOp::Put(b"Mformat".to_vec(), b"alertd-store/1".to_vec()),
            BatchOp::Put(b"Mengine".to_vec(), engine.as_str().as_bytes().to_vec()),
            BatchOp::Put(id(b'S'), labels),
            BatchOp::Put(id(b'H'), head),
        ])
        .unwrap();
    }
    let bits = |s: &[Sample]| s.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>();

    let store = Store::open(opts(engine, &path)).unwrap();
    assert_eq!(bits(&samples(&store)), want);
    store
        .append(&[(
            Labels::from_pairs([("__name__", "up")]),
            Sample::new(1_700_000_100_000, 1.5),
        )])
        .unwrap();
    store.close().unwrap();
    drop(store);
    assert!(path.join("heads").exists());

    let db = open_engine(engine, &path).unwrap();
    assert_eq!(
        db.get(b"Mformat").unwrap().as_deref(),
        Some(&b"alertd-store/2"[..])
    );
    let mut h_records = 0;
    db.scan(b"H", b"I", &mut |_, _| {
        h_records += 1;
        true
    })
    .unwrap();
    assert_eq!(h_records, 0, "H records left after the first checkpoint");
    drop(db);

    let store = Store::open(opts(engine, &path)).unwrap();
    let mut want = want;
    want.push((1_700_000_100_000, 1.5f64.to_bits()));
    assert_eq!(bits(&samples(&store)), want);
}
