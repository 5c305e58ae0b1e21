//! `alertd`, the daemon.
fn main() {}
