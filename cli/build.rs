//! Gives `alertd --version` and `alertctl --version` the git commit they are built from:
//! `ALERTD_GIT_COMMIT` is the abbreviated hash of HEAD (`git rev-parse --short=12 HEAD`), the
//! value of the environment variable `ALERTD_GIT_COMMIT` when it is set (a build from a source
//! tarball that knows its commit), or `unknown` outside a git checkout or without git.
//! Uncommitted changes are not detected: the hash names the commit the tree started from.

use std::path::Path;
use std::process::Command;

/// `git ARGS` in the package directory, trimmed; `None` when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ALERTD_GIT_COMMIT");
    let commit = std::env::var("ALERTD_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // Run again when HEAD moves: HEAD itself (another branch checked out), the branch's ref (a
    // commit) and packed-refs (where `git gc` moves refs). A path that does not exist would make
    // cargo run this script on every build, so only existing ones are named.
    let mut watched = vec![
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=ALERTD_GIT_COMMIT={commit}");
}
