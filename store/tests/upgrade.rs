//! Stores written by older formats open with this version and are upgraded in place to format
//! 3. Format 1 (heads as `H` records in the engine, Gorilla-only blocks): its samples read
//! back, and the first checkpoint moves the heads into the heads file and deletes the `H`
//! records. Format 2 (version 2 blocks, the decimal mode): its chunks read back next to the
//! version 3 ones written after the upgrade.

use model::{Labels, Matcher, Sample};
use store::engine::{open_engine, BatchOp};
use store::{Engine, Store};

mod common;
use common::opts;

both_engines!(
    format_1_store_opens_and_is_upgraded,
    format_2_store_opens_and_is_upgraded
);

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
        Some(&b"alertd-store/3"[..])
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

fn format_2_store_opens_and_is_upgraded(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    // A version 2 chunk (decimal mode, one interleaved stream) of nine samples, as format 2
    // wrote it.
    let chunk: &[u8] = &[
        128, 9, 0, 0, 1, 139, 207, 229, 104, 0, 63, 224, 0, 0, 0, 0, 0, 0, 195, 169, 245, 255, 151,
        10, 31, 242, 48, 1, 220, 94, 255, 177, 0, 0, 0, 0, 0, 6, 255, 203, 131, 251, 225, 101, 160,
        188, 0, 0, 0, 48, 1, 220, 0, 127, 25, 135, 175, 74, 170, 170, 170, 223, 249, 103, 252, 149,
        85, 85, 85, 85, 85, 88, 0, 236, 0, 2, 0, 0, 0, 0, 0, 1, 127, 229, 159, 243, 140, 204, 204,
        204, 204, 205, 0,
    ];
    let vals = [
        0.5f64,
        0.5,
        12.25,
        f64::from_bits(model::sample::STALE_NAN_BITS),
        -3.0e9,
        1.0 / 3.0,
        7.0,
        7.25,
        0.1 + 0.2,
    ];
    let mut want: Vec<(i64, u64)> = (0..9i64)
        .zip(vals)
        .map(|(i, v)| (1_700_000_000_000 + i * 15_000 + (i % 2) * 7, v.to_bits()))
        .collect();
    let last_t = want.last().unwrap().0;
    {
        let db = open_engine(engine, &path).unwrap();
        let ord = |t: i64| ((t as u64) ^ (1 << 63)).to_be_bytes();
        let window = 1_700_000_000_000i64 - 1_700_000_000_000i64.rem_euclid(7_200_000);
        // `C ord(window) id ord(last_t)`, `S id`, `L id` (last chunk, 5 m and 1 h block).
        let chunk_key = [&[b'C'][..], &ord(window), &7u64.to_be_bytes(), &ord(last_t)].concat();
        let labels = [&[1u8, 8][..], b"__name__", &[2], b"up"].concat();
        let last: Vec<u8> = [last_t, i64::MIN, i64::MIN]
            .iter()
            .flat_map(|t| t.to_be_bytes())
            .collect();
        db.write(&[
            BatchOp::Put(b"Mformat".to_vec(), b"alertd-store/2".to_vec()),
            BatchOp::Put(b"Mengine".to_vec(), engine.as_str().as_bytes().to_vec()),
            BatchOp::Put([&[b'S'][..], &7u64.to_be_bytes()].concat(), labels),
            BatchOp::Put([&[b'L'][..], &7u64.to_be_bytes()].concat(), last),
            BatchOp::Put(chunk_key, chunk.to_vec()),
        ])
        .unwrap();
    }
    let bits = |s: &[Sample]| s.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>();

    let store = Store::open(opts(engine, &path)).unwrap();
    assert_eq!(bits(&samples(&store)), want);
    // New samples: 130 of them, so a version 3 chunk is closed and written next to the old one.
    let up = Labels::from_pairs([("__name__", "up")]);
    for i in 1..=130i64 {
        let s = Sample::new(last_t + i * 15_000, i as f64);
        store.append(&[(up.clone(), s)]).unwrap();
        want.push((s.t, s.v.to_bits()));
    }
    store.close().unwrap();
    assert_eq!(bits(&samples(&store)), want);
    drop(store);

    let db = open_engine(engine, &path).unwrap();
    assert_eq!(
        db.get(b"Mformat").unwrap().as_deref(),
        Some(&b"alertd-store/3"[..])
    );
    let mut chunks = Vec::new();
    db.scan(b"C", b"D", &mut |_, v| {
        chunks.push(v[0] & 0xC0);
        true
    })
    .unwrap();
    assert_eq!(
        chunks,
        [0x80, 0xC0],
        "the old version 2 chunk and a new version 3 one"
    );
    drop(db);

    let store = Store::open(opts(engine, &path)).unwrap();
    assert_eq!(bits(&samples(&store)), want);
}
