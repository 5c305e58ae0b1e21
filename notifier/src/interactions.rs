//! Slack's "Acknowledge" button (bot mode with a `signing_secret`): firing messages carry a
//! button whose value names the alert group; a click reaches alertd as a Slack interaction
//! request (`application/x-www-form-urlencoded`, `payload=<JSON>`), signed by Slack with the
//! app's signing secret (`X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:<ts>:<body>")`). A
//! valid click acknowledges every firing alert of the group — stopping repeats and escalation
//! like `alertctl ack` — and the reply is posted to the interaction's `response_url` in the
//! channel.

use ring::hmac;
use serde_json::{json, Value};

use crate::receivers::Kind;
use crate::{AckTarget, Notifier, NotifierError};
use model::Fingerprint;

/// The button's `action_id` (and its block's `block_id`).
pub const ACK_ACTION: &str = "alertd_ack";

/// Slack refuses requests older than five minutes; so do we (replay protection).
const MAX_SKEW_SECS: i64 = 300;

/// The button's value for a group: a digest of the group key (Slack limits values to 2,000
/// characters; group keys can be longer).
pub fn button_value(group_key: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, group_key.as_bytes());
    let hex: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("g1:{hex}")
}

/// Why an interaction request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InteractionError {
    /// No Slack integration has a signing secret: the button is not enabled.
    #[error("no slack_configs entry has a signing_secret: Slack interactions are disabled")]
    NotConfigured,
    /// The signature headers are missing or malformed, or no signing secret matches.
    #[error("invalid Slack signature")]
    BadSignature,
    /// The request's timestamp is more than five minutes away from now.
    #[error("Slack request timestamp is more than {MAX_SKEW_SECS}s away from now")]
    Stale,
    /// The body is not an interaction payload alertd understands.
    #[error("invalid Slack interaction payload: {0}")]
    BadPayload(String),
    /// Acknowledging failed.
    #[error(transparent)]
    Notifier(#[from] NotifierError),
}

/// What a valid click did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// Who clicked (Slack user name, or id).
    pub user: String,
    /// The acknowledged group's key, when it is still known.
    pub group_key: Option<String>,
    /// The alerts acknowledged.
    pub acknowledged: Vec<Fingerprint>,
    /// Where Slack takes the reply.
    pub response_url: Option<String>,
    /// The reply's text.
    pub reply: String,
}

impl Notifier {
    /// Signing secrets of the Slack integrations that show the button.
    fn slack_signing_secrets(&self) -> Vec<(hmac::Key, reqwest::Client)> {
        self.routing()
            .integrations
            .values()
            .flatten()
            .filter_map(|i| match &i.kind {
                Kind::Slack(s) => s.signing_secret().map(|sec| {
                    (
                        hmac::Key::new(hmac::HMAC_SHA256, sec.expose().trim().as_bytes()),
                        s.client().clone(),
                    )
                }),
                _ => None,
            })
            .collect()
    }

    /// Handles one Slack interaction request: checks the signature (`timestamp` and
    /// `signature` are the `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers, `body`
    /// the raw body) and acknowledges the clicked group. Other interactions are accepted and
    /// ignored (Slack wants a 200 for every request). Durable before it returns.
    pub fn slack_interaction(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<Interaction, InteractionError> {
        let keys = self.slack_signing_secrets();
        if keys.is_empty() {
            return Err(InteractionError::NotConfigured);
        }
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| InteractionError::BadSignature)?;
        let now = self.clock().now_ms() / 1000;
        if (now - ts).abs() > MAX_SKEW_SECS {
            return Err(InteractionError::Stale);
        }
        let tag = signature
            .trim()
            .strip_prefix("v0=")
            .and_then(decode_hex)
            .ok_or(InteractionError::BadSignature)?;
        let mut signed = format!("v0:{ts}:").into_bytes();
        signed.extend_from_slice(body);
        if !keys
            .iter()
            .any(|(k, _)| hmac::verify(k, &signed, &tag).is_ok())
        {
            return Err(InteractionError::BadSignature);
        }

        let payload = form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| InteractionError::BadPayload("no payload field".into()))?;
        let v: Value = serde_json::from_str(&payload)
            .map_err(|e| InteractionError::BadPayload(e.to_string()))?;
        let user = ["username", "name", "id"]
            .iter()
            .find_map(|k| v["user"][k].as_str().filter(|s| !s.is_empty()))
            .unwrap_or("someone")
            .to_string();
        let response_url = v["response_url"].as_str().map(str::to_string);
        let value = v["actions"].as_array().and_then(|a| {
            a.iter()
                .find(|x| x["action_id"] == ACK_ACTION)
                .and_then(|x| x["value"].as_str())
        });
        let Some(value) = value else {
            return Ok(Interaction {
                user,
                group_key: None,
                acknowledged: Vec::new(),
                response_url: None,
                reply: String::new(),
            });
        };
        let group_key = self
            .groups()
            .into_iter()
            .map(|g| g.group_key)
            .find(|k| button_value(k) == value);
        let (acknowledged, reply) = match &group_key {
            Some(k) => {
                let fps = self.ack(
                    &AckTarget::Group(k.clone()),
                    &format!("{user} (Slack)"),
                    "acknowledged with the Slack button",
                )?;
                let reply = if fps.is_empty() {
                    format!("Nothing to acknowledge: the alerts have resolved ({user} clicked).")
                } else {
                    format!(
                        ":white_check_mark: Acknowledged by {user}: {} alert(s); no more \
                         repeats or escalation until they resolve.",
                        fps.len()
                    )
                };
                (fps, reply)
            }
            None => (
                Vec::new(),
                format!("Nothing to acknowledge: this alert group has resolved ({user} clicked)."),
            ),
        };
        Ok(Interaction {
            user,
            group_key,
            acknowledged,
            response_url,
            reply,
        })
    }

    /// Posts `i`'s reply to its `response_url` (in the channel, without replacing the original
    /// message); errors are logged, as Slack has already been answered.
    pub async fn reply_to_slack(&self, i: &Interaction) {
        let Some(url) = &i.response_url else { return };
        if i.reply.is_empty() {
            return;
        }
        let Some((_, client)) = self.slack_signing_secrets().into_iter().next() else {
            return;
        };
        let body = json!({
            "response_type": "in_channel",
            "replace_original": false,
            "text": i.reply,
        });
        match client.post(url).json(&body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "Slack response_url refused the reply"),
            Err(e) => tracing::warn!(error = %e.without_url(), "Slack response_url unreachable"),
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_values_are_short_and_stable() {
        let v = button_value(&"x".repeat(10_000));
        assert_eq!(v.len(), 35);
        assert_eq!(v, button_value(&"x".repeat(10_000)));
        assert_ne!(v, button_value("{}:{alertname=\"A\"}"));
    }

    #[test]
    fn hex_decoding_refuses_garbage() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("é0"), None);
    }
}
