//! Shared types of alertd: labels and their fingerprints, label matchers, samples, alerts,
//! silences, Prometheus durations, the configuration file's schema and the injected clock.
//!
//! `model` is the one wire format shared by `alertd` and `alertctl`. It does no IO and knows no
//! async runtime; the only place in the workspace that reads the wall clock is [`clock`].

pub mod alert;
pub mod api;
pub mod clock;
pub mod config;
pub mod duration;
pub mod global;
pub mod gofmt;
pub mod gotemplate;
pub mod http;
pub mod labels;
pub mod matcher;
pub mod sample;
pub mod secret;
pub mod silence;
pub mod storage;

pub use alert::{Alert, AlertState};
pub use clock::{Clock, FakeClock, SystemClock, Timestamp};
pub use duration::{Duration, DurationError};
pub use labels::{Fingerprint, Label, Labels, LabelsError};
pub use matcher::{MatchOp, Matcher, MatcherError, Matchers};
pub use sample::Sample;
pub use secret::Secret;
pub use silence::{Silence, SilenceState};
