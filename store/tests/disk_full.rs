//! The store on a file system that fills up: a real, small tmpfs mounted for the test (tests
//! run as root, as CI does). Writes fail while the disk is full and nothing is lost or torn:
//! durable key-value writes report the error, deferred ones wait in memory (and are read
//! back), samples stay in the in-memory heads; once space is back, everything reaches the disk
//! and survives a reopen.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use model::storage::{KvBatch, KvStore};
use model::{Labels, MatchOp, Matcher, Sample};
use store::{Engine, Store};

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill it and needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system with `filler` until writes fail with ENOSPC.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("create filler");
        let block = vec![0xa5u8; 64 << 10];
        loop {
            match f.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())])
}

fn put(ns: &str, k: &str, v: &str) -> KvBatch {
    let mut b = KvBatch::new();
    b.put(ns, k.as_bytes().to_vec(), v.as_bytes().to_vec());
    b
}

#[test]
fn a_full_disk_degrades_and_recovers_without_loss() {
    let fs = SmallFs::mount("8m");
    let dir = fs.path().join("store");
    let store = Store::open(common::opts(Engine::Redb, &dir)).expect("open");
    store.write(put("silences", "a", "before")).expect("write");
    let t0 = 1_700_000_000_000i64;
    let batch: Vec<_> = (0..50)
        .map(|i| (labels(i), Sample { t: t0, v: i as f64 }))
        .collect();
    store.append(&batch).unwrap();
    store.checkpoint().expect("checkpoint with space");
    assert_eq!(store.health().failing_since, None);

    let filler = fs.fill();

    // Samples keep arriving (kept in memory) and checkpoints fail without losing them; a
    // large enough batch of new series and samples cannot fit in the full file system.
    for step in 1..=300i64 {
        let batch: Vec<_> = (0..200)
            .map(|i| {
                (
                    labels(i),
                    Sample {
                        t: t0 + step * 15_000,
                        v: (step * 1000 + i as i64) as f64,
                    },
                )
            })
            .collect();
        store.append(&batch).unwrap();
    }
    let err = store
        .checkpoint()
        .expect_err("a checkpoint cannot fit on a full disk");
    let h = store.health();
    assert!(h.failing_since.is_some(), "{h:?} after {err}");
    assert!(h.write_errors >= 1);
    assert!(h.last_error.is_some());

    // What is on disk stays readable (the engine reopens after redb's I/O error).
    assert_eq!(
        store.get("silences", b"a").unwrap().as_deref(),
        Some(&b"before"[..])
    );

    // A durable write reports the failure; a deferred one is accepted and read back.
    let big = "x".repeat(256 << 10);
    let durable = store.write(put("silences", "b", &big));
    assert!(durable.is_err(), "a durable write on a full disk must fail");
    assert_eq!(store.get("silences", b"b").unwrap(), None);
    store
        .write_eventually(put("alerts", "c", &big))
        .expect("deferred write is accepted");
    let mut del = KvBatch::new();
    del.delete("silences", b"a".to_vec());
    store.write_eventually(del).unwrap();
    assert_eq!(
        store.get("alerts", b"c").unwrap().as_deref(),
        Some(big.as_bytes())
    );
    assert_eq!(store.get("silences", b"a").unwrap(), None);
    assert_eq!(store.scan_prefix("silences", b"").unwrap(), vec![]);
    assert_eq!(store.health().deferred_entries, 2);

    // Queries still answer from memory, every sample is there.
    let all = |s: &Store| {
        s.select(
            &[Matcher::new("__name__", MatchOp::Equal, "m").unwrap()],
            t0,
            t0 + 301 * 15_000,
        )
        .unwrap()
        .into_iter()
        .map(|s| s.samples.len())
        .sum::<usize>()
    };
    assert_eq!(all(&store), 50 + 200 * 300);

    // Space comes back: the next writes reopen the engine and catch up.
    std::fs::remove_file(&filler).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match store.retry_deferred() {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(e) => panic!("the store did not recover after space came back: {e}"),
        }
    }
    store.checkpoint().expect("checkpoint after recovery");
    let h = store.health();
    assert_eq!(h.failing_since, None, "{h:?}");
    assert_eq!(h.deferred_entries, 0);
    store
        .write(put("silences", "d", "after"))
        .expect("durable write works again");
    store.close().unwrap();
    drop(store);

    // Nothing torn: it opens, and holds everything accepted.
    let store = Store::open(common::opts(Engine::Redb, &dir)).expect("reopen");
    assert_eq!(
        store.get("alerts", b"c").unwrap().as_deref(),
        Some(big.as_bytes())
    );
    assert_eq!(store.get("silences", b"a").unwrap(), None);
    assert_eq!(store.get("silences", b"b").unwrap(), None);
    assert_eq!(
        store.get("silences", b"d").unwrap().as_deref(),
        Some(&b"after"[..])
    );
    assert_eq!(all(&store), 50 + 200 * 300);
}
