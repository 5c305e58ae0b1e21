//! The heads file on both engines: samples held only in memory survive a close and reopen
//! through it, a half-written `heads.tmp` left by a crash is ignored, and a damaged heads file
//! is refused with a clear error instead of restoring wrong samples.

use model::{Labels, Matcher, Sample};
use store::{Engine, Store, StoreError};

mod common;
use common::opts;

both_engines!(
    heads_survive_a_restart_and_a_leftover_temporary_file,
    damaged_heads_file_is_refused,
);

fn labels() -> Labels {
    Labels::from_pairs([("__name__", "temp"), ("room", "a")])
}

fn samples(store: &Store) -> Vec<Sample> {
    let m: Matcher = "__name__=\"temp\"".parse().unwrap();
    let mut got = store.select(&[m], 0, i64::MAX).unwrap();
    assert_eq!(got.len(), 1);
    got.remove(0).samples
}

/// 50 samples at 15 s: all in the open chunk, nothing in the engine but the labels.
fn store_with_head(dir: &std::path::Path, engine: Engine) -> Vec<Sample> {
    let store = Store::open(opts(engine, dir)).unwrap();
    let want: Vec<Sample> = (0..50)
        .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, 20.0 + i as f64 / 100.0))
        .collect();
    for s in &want {
        store.append(&[(labels(), *s)]).unwrap();
    }
    store.close().unwrap();
    want
}

fn heads_survive_a_restart_and_a_leftover_temporary_file(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let want = store_with_head(&path, engine);
    assert!(path.join("heads").is_file());
    std::fs::write(path.join("heads.tmp"), b"half a file").unwrap();
    let store = Store::open(opts(engine, &path)).unwrap();
    assert_eq!(samples(&store), want);
    assert_eq!(store.stats().chunks_written, 0);
}

fn damaged_heads_file_is_refused(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    store_with_head(&path, engine);
    let file = path.join("heads");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let err = Store::open(opts(engine, &path)).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("heads") && msg.contains("checksum mismatch"),
        "{msg}"
    );
}
