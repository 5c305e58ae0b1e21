//! Email over SMTP with lettre.

/// Splits `host:port` (IPv6 as `[::1]:25`); `None` when malformed.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    let port: u16 = p.parse().ok()?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() {
        return None;
    }
    Some((h.to_string(), port))
}

use crate::config::{EmailConfig, Global};
use crate::payload::Notification;

use super::{BuildError, SendError};

/// An email target.
#[derive(Debug)]
pub struct Email {}

impl Email {
    /// Builds the integration.
    pub fn new(
        path: &str,
        _c: &EmailConfig,
        _g: &Global,
        _timeout: std::time::Duration,
    ) -> Result<Self, BuildError> {
        Err(BuildError::Invalid {
            path: path.to_string(),
            message: "email is not implemented yet".into(),
        })
    }
    /// Sends the message.
    pub async fn send(&self, _n: &Notification) -> Result<(), SendError> {
        Err(SendError::Permanent("email is not implemented yet".into()))
    }
}
