//! alertctl validates configurations without linking the daemon: its dependency tree (what
//! `cargo build -p alertctl` compiles and links) holds none of the store's engines, the HTTP
//! server or the database clients of the collector's probes. The config loader is the
//! `alertd-config` crate, which takes the collector without its `db-probes` feature.

use std::process::Command;

/// What must never be in alertctl's tree: redb and sled (the store), axum (alertd's HTTP
/// server), tokio-postgres and mysql_async (the database probes), and the crates that own them.
const FORBIDDEN: &[&str] = &[
    "redb",
    "sled",
    "axum",
    "tokio-postgres",
    "mysql_async",
    "store",
    "alertd",
];

/// The package names of `cargo tree -p alertctl -e normal` (normal dependencies of the host
/// target, features as a build of alertctl alone resolves them), one per line.
fn alertctl_tree() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--manifest-path",
            manifest,
            "-p",
            "alertctl",
        ])
        .args(["-e", "normal", "--prefix", "none", "--format", "{p}"])
        .output()
        .expect("cannot run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn alertctl_links_neither_the_store_nor_the_http_server_nor_database_clients() {
    let tree = alertctl_tree();
    // The tree is real: alertctl itself, the config loader and the collector it validates with.
    for want in [
        "alertctl",
        "alertd-config",
        "collector",
        "notifier",
        "evaluator",
    ] {
        assert!(tree.iter().any(|p| p == want), "{want} missing: {tree:?}");
    }
    let found: Vec<&String> = tree
        .iter()
        .filter(|p| FORBIDDEN.contains(&p.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "alertctl's dependency tree gained {found:?}; `alertctl check config` must not link \
         the daemon (see alertctl/tests/deps.rs)"
    );
}
