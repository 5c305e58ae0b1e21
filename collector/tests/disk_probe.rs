//! The `disk` probe on this machine's real filesystems, cross-checked with coreutils.

mod common;

use std::sync::Arc;

use collector::config::Defaults;
use collector::probe_once;
use common::probe;
use model::SystemClock;

fn sh(args: &[&str]) -> String {
    let o = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?}");
    String::from_utf8(o.stdout).unwrap()
}

#[tokio::test]
async fn path_reports_its_containing_mount_like_df() {
    let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let p = dir.path().to_str().unwrap();
    let r = probe_once(
        &probe(&format!("name: data\ndisk: {{ path: '{p}' }}\n")),
        &Defaults::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    assert!(r.failure.is_none(), "{:?}", r.failure);
    let mp = sh(&["stat", "--format=%m", p]).trim().to_string();
    let (l, size) = r
        .series
        .iter()
        .find(|(l, _)| l.get("__name__") == Some("node_filesystem_size_bytes"))
        .unwrap();
    assert_eq!(
        l.get("mountpoint"),
        Some(mp.as_str()),
        "mount point as stat(1) says"
    );
    assert_eq!(l.get("probe"), Some("data"));
    let fstype = sh(&["stat", "-f", "--format=%T", p]).trim().to_string();
    assert!(l.get("fstype").is_some() && l.get("device").is_some());
    let df_size: f64 = sh(&["df", "-B1", "--output=size", p])
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(*size, df_size, "size as df(1) says (fs {fstype})");
    let get = |n: &str| r.value(n, &[]).unwrap();
    assert!(get("node_filesystem_avail_bytes") <= get("node_filesystem_free_bytes"));
    assert!(get("node_filesystem_free_bytes") <= *size);
    assert!(get("node_filesystem_files") > 0.0);
    assert_eq!(get("node_filesystem_readonly"), 0.0);
    assert_eq!(get("probe_success"), 1.0);
}

#[tokio::test]
async fn all_mounts_skip_pseudo_filesystems() {
    let r = probe_once(
        &probe("name: all\ndisk: {}\n"),
        &Defaults::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mps: Vec<&str> = r
        .series
        .iter()
        .filter(|(l, _)| l.get("__name__") == Some("node_filesystem_size_bytes"))
        .map(|(l, _)| l.get("mountpoint").unwrap())
        .collect();
    assert!(mps.contains(&"/"), "{mps:?}");
    assert!(
        !mps.iter()
            .any(|m| *m == "/proc" || m.starts_with("/sys") || m.starts_with("/dev")),
        "{mps:?}"
    );
    assert!(r.series.iter().all(|(l, _)| !matches!(
        l.get("fstype"),
        Some("proc" | "sysfs" | "cgroup2" | "devpts")
    )));
}

#[tokio::test]
async fn missing_path_fails_clearly() {
    let r = probe_once(
        &probe("name: gone\ndisk: { path: /nonexistent/alertd-test }\n"),
        &Defaults::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let f = r.failure.unwrap();
    assert!(
        f.message.contains("/nonexistent/alertd-test"),
        "{}",
        f.message
    );
}
