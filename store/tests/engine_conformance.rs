//! Model-based test of both key-value engines against a `BTreeMap`: random puts, deletes,
//! batches, gets and range scans, with reopens in between and a final reopen-and-compare.

use std::collections::BTreeMap;

use proptest::prelude::*;
use store::engine::{open_engine, BatchOp, KvEngine};
use store::Engine;

#[derive(Debug, Clone)]
enum Step {
    Batch(Vec<BatchOp>),
    Get(Vec<u8>),
    Scan(Vec<u8>, Vec<u8>, usize),
    Last(Vec<u8>, Vec<u8>),
    Reopen,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet with 0x00 and 0xff so prefixes and bounds collide often.
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1), Just(b'a'), Just(0xff)],
        0..4,
    )
}

fn op() -> impl Strategy<Value = BatchOp> {
    prop_oneof![
        3 => (key(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(k, v)| BatchOp::Put(k, v)),
        1 => key().prop_map(BatchOp::Delete),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => proptest::collection::vec(op(), 0..8).prop_map(Step::Batch),
        2 => key().prop_map(Step::Get),
        2 => (key(), key(), 0usize..6).prop_map(|(a, b, n)| Step::Scan(a, b, n)),
        1 => (key(), key()).prop_map(|(a, b)| Step::Last(a, b)),
        1 => Just(Step::Reopen),
    ]
}

fn scan_all(e: &dyn KvEngine) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    e.scan(&[], &[0xff; 8], &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        true
    })
    .unwrap();
    out
}

fn run(engine: Engine, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut e = open_engine(engine, dir.path()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for s in steps {
        match s {
            Step::Batch(ops) => {
                e.write(&ops).unwrap();
                for op in ops {
                    match op {
                        BatchOp::Put(k, v) => {
                            model.insert(k, v);
                        }
                        BatchOp::Delete(k) => {
                            model.remove(&k);
                        }
                    }
                }
            }
            Step::Get(k) => prop_assert_eq!(e.get(&k).unwrap(), model.get(&k).cloned()),
            Step::Scan(a, b, limit) => {
                let mut got = Vec::new();
                e.scan(&a, &b, &mut |k, v| {
                    got.push((k.to_vec(), v.to_vec()));
                    got.len() < limit
                })
                .unwrap();
                let want: Vec<_> = if a < b {
                    model
                        .range(a.clone()..b.clone())
                        .take(limit.max(1))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                } else {
                    Vec::new()
                };
                prop_assert_eq!(got, want);
            }
            Step::Last(a, b) => {
                let want = if a < b {
                    model
                        .range(a.clone()..b.clone())
                        .next_back()
                        .map(|(k, v)| (k.clone(), v.clone()))
                } else {
                    None
                };
                prop_assert_eq!(e.last(&a, &b).unwrap(), want);
            }
            Step::Reopen => {
                drop(e);
                e = open_engine(engine, dir.path()).unwrap();
            }
        }
    }
    drop(e);
    let e = open_engine(engine, dir.path()).unwrap();
    let want: Vec<_> = model.into_iter().collect();
    prop_assert_eq!(scan_all(e.as_ref()), want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sled_matches_btreemap(steps in proptest::collection::vec(step(), 1..40)) {
        run(Engine::Sled, steps)?;
    }

    #[test]
    fn redb_matches_btreemap(steps in proptest::collection::vec(step(), 1..40)) {
        run(Engine::Redb, steps)?;
    }
}

#[test]
fn engines_refuse_each_others_directories() {
    for (a, b) in [(Engine::Sled, Engine::Redb), (Engine::Redb, Engine::Sled)] {
        let dir = tempfile::tempdir().unwrap();
        drop(open_engine(a, dir.path()).unwrap());
        let err = open_engine(b, dir.path()).err().expect("must refuse");
        let msg = err.to_string();
        assert!(msg.contains(&format!("holds a {a} store")), "{msg}");
    }
}
