//! What the command lines of `alertd` and `alertctl` share, in a crate of its own so that
//! `alertctl` gets them without linking the daemon: the version string with the git commit
//! ([`VERSION`], from `build.rs`) and the manual pages generated from clap definitions
//! ([`man`]).

pub mod man;

/// `alertd --version` and `alertctl --version`: the workspace's version and the git commit it
/// was built from (`build.rs`; `unknown` when built outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ALERTD_GIT_COMMIT"),
    ")"
);
