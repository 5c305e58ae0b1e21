//! Slack integration.

use crate::config::{Global, SlackConfig};
use crate::payload::Notification;

use super::{BuildError, SendError};

/// A Slack target.
#[derive(Debug)]
pub struct Slack {}

impl Slack {
    /// Builds the integration.
    pub fn new(path: &str, _c: &SlackConfig, _g: &Global) -> Result<Self, BuildError> {
        Err(BuildError::Invalid {
            path: path.to_string(),
            message: "Slack is not implemented yet".into(),
        })
    }
    /// Posts the message; returns the message id in bot mode.
    pub async fn send(&self, _n: &Notification) -> Result<Option<String>, SendError> {
        Err(SendError::Permanent("Slack is not implemented yet".into()))
    }
}
