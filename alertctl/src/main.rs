//! `alertctl`, the command-line client of alertd.
fn main() {}
