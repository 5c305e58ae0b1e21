//! Helpers for the end-to-end tests: locating and starting the real `alertd` binary.
