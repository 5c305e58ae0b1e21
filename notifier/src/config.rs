//! Configuration types for the notifier's sections of `alertd.yaml`: Alertmanager's `route`,
//! `receivers`, `inhibit_rules`, `time_intervals` / `mute_time_intervals` (same field names and
//! defaults), plus alertd's `escalations` and a route's `escalation`.
//!
//! Every struct refuses unknown keys, so a YAML parser that reports positions (serde-saphyr) gives
//! `line:col` errors for typos. Semantic checks that need the whole config (unknown receiver,
//! time interval or escalation names...) are done by [`NotifierConfig::validate`], which returns
//! every problem at once.

use std::collections::{BTreeMap, BTreeSet};

use model::{Duration, MatchOp, Matcher, Matchers};
use serde::{Deserialize, Serialize};

use crate::timeinterval::TimeInterval;

/// Alertmanager's default `group_wait`.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
/// Alertmanager's default `group_interval`.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
/// Alertmanager's default `repeat_interval`.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
pub use model::global::DEFAULT_RESOLVE_TIMEOUT;

pub use model::Secret;

/// A list of matchers as written in a route or inhibit rule: each entry is one matcher
/// (`severity="critical"`, `severity=critical`) or several (`{a="1", b=~"x|y"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatcherList(pub Vec<Matcher>);

impl Serialize for MatcherList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}
impl<'de> Deserialize<'de> for MatcherList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<String>::deserialize(d)?;
        let mut out = Vec::new();
        for it in items {
            let ms: Matchers = it.parse().map_err(serde::de::Error::custom)?;
            out.extend(ms.0);
        }
        Ok(MatcherList(out))
    }
}

/// Alertmanager's legacy `match_re` map: label name to regex (anchored), checked when parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegexMap(pub Vec<Matcher>);

impl Serialize for RegexMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, &str> = self
            .0
            .iter()
            .map(|m| (m.name.as_str(), m.value.as_str()))
            .collect();
        m.serialize(s)
    }
}
impl<'de> Deserialize<'de> for RegexMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        for (k, v) in null_as_empty_map(d)? {
            out.push(Matcher::new(k, MatchOp::Regex, v).map_err(serde::de::Error::custom)?);
        }
        Ok(RegexMap(out))
    }
}

/// A legacy `match`/`match_re` map read as Alertmanager reads it: a null map is empty, a null
/// value the empty string (`match_re: { severity: }` matches a missing or empty label).
pub(crate) fn null_as_empty_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let m = Option::<BTreeMap<String, Option<String>>>::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

fn equal_matchers(m: &BTreeMap<String, String>) -> Vec<Matcher> {
    m.iter()
        .filter_map(|(k, v)| Matcher::new(k.clone(), MatchOp::Equal, v.clone()).ok())
        .collect()
}

/// The `global:` section (one definition in `model`; the notifier uses its notification
/// defaults, the daemon fills in the effective `external_url`).
pub use model::global::Global;

/// The notifier's sections of the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// Global defaults.
    pub global: Global,
    /// The routing tree.
    pub route: Route,
    /// Receivers by name.
    pub receivers: Vec<Receiver>,
    /// Inhibition rules.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Named time intervals.
    pub time_intervals: Vec<NamedTimeInterval>,
    /// Named time intervals (Alertmanager's older section name; same meaning).
    pub mute_time_intervals: Vec<NamedTimeInterval>,
    /// Escalation policies (alertd extension).
    pub escalations: Vec<Escalation>,
    /// On-call schedules that escalation tiers can target (alertd extension).
    pub oncall_schedules: Vec<OncallSchedule>,
    /// Acknowledge and resolve targets by severity (alertd extension).
    pub response_targets: Vec<ResponseTarget>,
    /// Template files (globs) whose `{{ define }}` blocks fields may call; relative globs are
    /// resolved against the working directory (the daemon makes them absolute).
    pub templates: Vec<String>,
}

/// The top-level keys of [`NotifierConfig`] that are alertd's own, left out where the
/// configuration is shown as Alertmanager's (amtool refuses keys it does not know).
pub const ALERTD_ONLY_KEYS: [&str; 3] = ["escalations", "oncall_schedules", "response_targets"];

/// A node of the routing tree (Alertmanager's `route`). Unset timing and grouping options are
/// inherited from the parent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Route {
    /// The receiver (inherited when unset).
    pub receiver: Option<String>,
    /// Labels to group by; `['...']` groups by all labels.
    pub group_by: Option<Vec<String>>,
    /// Matchers (`severity="critical"`).
    pub matchers: MatcherList,
    /// Legacy equality matchers.
    #[serde(rename = "match", deserialize_with = "null_as_empty_map")]
    pub match_: BTreeMap<String, String>,
    /// Legacy regex matchers.
    pub match_re: RegexMap,
    /// Whether to go on matching siblings after this route matched.
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Wait before the first notification of a new group (30s).
    pub group_wait: Option<Duration>,
    /// Wait between notifications about changes of a group (5m).
    pub group_interval: Option<Duration>,
    /// Wait before repeating an unchanged notification (4h).
    pub repeat_interval: Option<Duration>,
    /// Time intervals during which notifications are muted.
    pub mute_time_intervals: Vec<String>,
    /// Time intervals outside of which notifications are muted.
    pub active_time_intervals: Vec<String>,
    /// Child routes.
    pub routes: Vec<Route>,
    /// Escalation policy (alertd extension): its tiers decide the receivers.
    pub escalation: Option<String>,
}

impl Route {
    /// This route's own matchers: `match`, then `match_re`, then `matchers`, sorted as
    /// Alertmanager sorts them (by name, value, then type). A legacy `match_re` value is the
    /// anchored regex Alertmanager 0.25 builds from it (`^(?:fr.*)$`), as its route key shows.
    pub fn all_matchers(&self) -> Vec<Matcher> {
        let mut v = equal_matchers(&self.match_);
        v.extend(
            self.match_re.0.iter().filter_map(|m| {
                Matcher::new(m.name.clone(), m.op, format!("^(?:{})$", m.value)).ok()
            }),
        );
        v.extend(self.matchers.0.iter().cloned());
        v.sort_by(|a, b| {
            (a.name.as_str(), a.value.as_str(), a.op).cmp(&(
                b.name.as_str(),
                b.value.as_str(),
                b.op,
            ))
        });
        v
    }
}

/// Prometheus's `http_config` and its parts (one definition in `model`).
pub use model::http::{Authorization, BasicAuth, HttpConfig, TlsConfig};

/// A named receiver with its integrations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Receiver {
    /// Unique name.
    pub name: String,
    /// Slack integrations.
    pub slack_configs: Vec<SlackConfig>,
    /// Email integrations.
    pub email_configs: Vec<EmailConfig>,
    /// Webhook integrations.
    pub webhook_configs: Vec<WebhookConfig>,
    /// PagerDuty integrations.
    pub pagerduty_configs: Vec<crate::receivers::config::PagerdutyConfig>,
    /// Opsgenie integrations.
    pub opsgenie_configs: Vec<crate::receivers::config::OpsgenieConfig>,
    /// Discord integrations.
    pub discord_configs: Vec<crate::receivers::config::DiscordConfig>,
    /// Telegram integrations.
    pub telegram_configs: Vec<crate::receivers::config::TelegramConfig>,
    /// Microsoft Teams integrations.
    pub msteams_configs: Vec<crate::receivers::config::MsteamsConfig>,
    /// ntfy integrations (alertd extension).
    pub ntfy_configs: Vec<crate::receivers::config::NtfyConfig>,
    /// Webex integrations.
    pub webex_configs: Vec<crate::receivers::config::WebexConfig>,
    /// VictorOps integrations.
    pub victorops_configs: Vec<crate::receivers::config::VictoropsConfig>,
    /// Pushover integrations.
    pub pushover_configs: Vec<crate::receivers::config::PushoverConfig>,
    /// alertd extension: where a notification goes as well when this receiver keeps failing
    /// for `receiver_failing_after` (another receiver's name).
    pub fallback: Option<String>,
    /// Alertmanager 0.25's receiver types alertd lacks, read only so that validation can name
    /// them (`receiver "X": wechat_configs is not supported yet`).
    #[serde(skip_serializing)]
    pub wechat_configs: Option<Unsupported>,
    /// Not supported yet (see `wechat_configs`).
    #[serde(skip_serializing)]
    pub sns_configs: Option<Unsupported>,
}

impl Receiver {
    /// The Alertmanager receiver types this receiver uses that alertd does not have.
    pub fn unsupported_types(&self) -> Vec<&'static str> {
        [
            ("wechat_configs", &self.wechat_configs),
            ("sns_configs", &self.sns_configs),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k)
        .collect()
    }
}

/// A setting Alertmanager has and this version does not implement (read so that validation
/// can name it).
pub use model::global::Unsupported;

/// A field of a Slack attachment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackField {
    /// Title.
    pub title: String,
    /// Value.
    pub value: String,
    /// Shown side by side.
    pub short: Option<bool>,
}

/// Slack integration (Alertmanager's `slack_configs`, plus alertd's bot mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Send resolved notifications (default false).
    pub send_resolved: bool,
    /// Incoming-webhook URL (default `global.slack_api_url`).
    pub api_url: Option<Secret>,
    /// File holding the webhook URL.
    pub api_url_file: Option<String>,
    /// Channel (`#ops` or `@user`).
    pub channel: Option<String>,
    /// Bot user name.
    pub username: Option<String>,
    /// Attachment colour (default: danger when firing, good when resolved).
    pub color: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Title link (default the alert source).
    pub title_link: Option<String>,
    /// Pretext.
    pub pretext: Option<String>,
    /// Text.
    pub text: Option<String>,
    /// Attachment fields.
    pub fields: Vec<SlackField>,
    /// Whether fields are short by default.
    pub short_fields: bool,
    /// Footer.
    pub footer: Option<String>,
    /// Fallback text.
    pub fallback: Option<String>,
    /// Callback id.
    pub callback_id: Option<String>,
    /// Emoji icon.
    pub icon_emoji: Option<String>,
    /// Icon URL.
    pub icon_url: Option<String>,
    /// Image URL.
    pub image_url: Option<String>,
    /// Thumbnail URL.
    pub thumb_url: Option<String>,
    /// Link names.
    pub link_names: bool,
    /// Fields with markdown.
    pub mrkdwn_in: Vec<String>,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// Bot mode (alertd): a bot token for `chat.postMessage` (needs `channel`).
    pub bot_token: Option<Secret>,
    /// Bot mode: file holding the bot token.
    pub bot_token_file: Option<String>,
    /// Bot mode: the Slack Web API base URL (default `https://slack.com/api`).
    pub bot_api_url: Option<String>,
    /// Messages per second allowed to this integration (alertd; default 1).
    pub rate_limit_per_second: Option<u32>,
    /// Bot mode: the Slack app's signing secret. When set, firing messages carry an
    /// "Acknowledge" button, whose clicks Slack sends to alertd's
    /// `/api/alertd/v1/slack/interactions` signed with this secret.
    pub signing_secret: Option<Secret>,
    /// Bot mode: file holding the signing secret.
    pub signing_secret_file: Option<String>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            send_resolved: false,
            api_url: None,
            api_url_file: None,
            channel: None,
            username: None,
            color: None,
            title: None,
            title_link: None,
            pretext: None,
            text: None,
            fields: Vec::new(),
            short_fields: false,
            footer: None,
            fallback: None,
            callback_id: None,
            icon_emoji: None,
            icon_url: None,
            image_url: None,
            thumb_url: None,
            link_names: false,
            mrkdwn_in: vec!["fallback".into(), "pretext".into(), "text".into()],
            http_config: None,
            bot_token: None,
            bot_token_file: None,
            bot_api_url: None,
            rate_limit_per_second: None,
            signing_secret: None,
            signing_secret_file: None,
        }
    }
}

/// Email integration (Alertmanager's `email_configs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Send resolved notifications (default false).
    pub send_resolved: bool,
    /// Recipients (comma-separated).
    pub to: String,
    /// Sender (default `global.smtp_from`).
    pub from: Option<String>,
    /// `host:port` (default `global.smtp_smarthost`); port 465 means implicit TLS.
    pub smarthost: Option<String>,
    /// EHLO name (default `global.smtp_hello`).
    pub hello: Option<String>,
    /// SMTP user.
    pub auth_username: Option<String>,
    /// SMTP password.
    pub auth_password: Option<Secret>,
    /// File holding the SMTP password.
    pub auth_password_file: Option<String>,
    /// CRAM-MD5 secret (not supported: refused by validation).
    pub auth_secret: Option<Secret>,
    /// PLAIN identity.
    pub auth_identity: Option<String>,
    /// Require STARTTLS (default `global.smtp_require_tls`, true).
    pub require_tls: Option<bool>,
    /// TLS settings.
    pub tls_config: Option<TlsConfig>,
    /// HTML body (default: Alertmanager-like HTML).
    pub html: Option<String>,
    /// Plain-text body (default: Alertmanager-like text).
    pub text: Option<String>,
    /// Extra headers (`Subject` overrides the default subject).
    pub headers: BTreeMap<String, String>,
}

/// Webhook integration (Alertmanager's `webhook_configs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Send resolved notifications (default true).
    pub send_resolved: bool,
    /// Target URL.
    pub url: Option<Secret>,
    /// File holding the URL.
    pub url_file: Option<String>,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// At most this many alerts per message (0 = all).
    pub max_alerts: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            send_resolved: true,
            url: None,
            url_file: None,
            http_config: None,
            max_alerts: 0,
        }
    }
}

/// An inhibition rule: alerts matching `target_matchers` are muted while an alert matching
/// `source_matchers` fires with equal values for the `equal` labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InhibitRule {
    /// Matchers for source alerts.
    pub source_matchers: MatcherList,
    /// Matchers for target alerts.
    pub target_matchers: MatcherList,
    /// Legacy source equality matchers.
    #[serde(deserialize_with = "null_as_empty_map")]
    pub source_match: BTreeMap<String, String>,
    /// Legacy source regex matchers.
    pub source_match_re: RegexMap,
    /// Legacy target equality matchers.
    #[serde(deserialize_with = "null_as_empty_map")]
    pub target_match: BTreeMap<String, String>,
    /// Legacy target regex matchers.
    pub target_match_re: RegexMap,
    /// Labels that must have equal values in source and target.
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// All source matchers (legacy forms included).
    pub fn all_source_matchers(&self) -> Vec<Matcher> {
        let mut v = equal_matchers(&self.source_match);
        v.extend(self.source_match_re.0.iter().cloned());
        v.extend(self.source_matchers.0.iter().cloned());
        v
    }
    /// All target matchers (legacy forms included).
    pub fn all_target_matchers(&self) -> Vec<Matcher> {
        let mut v = equal_matchers(&self.target_match);
        v.extend(self.target_match_re.0.iter().cloned());
        v.extend(self.target_matchers.0.iter().cloned());
        v
    }
}

/// A named list of time intervals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamedTimeInterval {
    /// Name used by routes.
    pub name: String,
    /// The intervals (any may match).
    pub time_intervals: Vec<TimeInterval>,
}

/// An escalation policy (alertd extension).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Escalation {
    /// Name used by routes.
    pub name: String,
    /// Tiers, each notified `after` the group's first notification.
    pub tiers: Vec<EscalationTier>,
}

/// One tier of an escalation policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationTier {
    /// Delay from the group's first notification: a duration, or `ack_target` (the group's
    /// `response_targets` acknowledge time).
    pub after: TierAfter,
    /// Receivers notified from then on.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Whoever is on call in these schedules, resolved when the tier sends.
    #[serde(default)]
    pub oncall: Vec<OncallTarget>,
}

/// When an escalation tier fires, counted from the group's first notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierAfter {
    /// A fixed delay.
    Fixed(Duration),
    /// The acknowledge target of the group's alerts (the shortest of its firing alerts').
    AckTarget,
}

impl Default for TierAfter {
    fn default() -> Self {
        TierAfter::Fixed(Duration::ZERO)
    }
}

impl Serialize for TierAfter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TierAfter::Fixed(d) => d.serialize(s),
            TierAfter::AckTarget => s.serialize_str("ack_target"),
        }
    }
}

impl<'de> Deserialize<'de> for TierAfter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = TierAfter;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as 5m, or ack_target")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TierAfter, E> {
                if v == "ack_target" {
                    Ok(TierAfter::AckTarget)
                } else {
                    v.parse().map(TierAfter::Fixed).map_err(E::custom)
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// "Whoever is on call in schedule X" (alertd extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OncallTarget {
    /// The schedule's name.
    pub schedule: String,
    /// Which of its on-call people.
    #[serde(default)]
    pub role: OncallRole,
}

/// Primary or secondary on call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OncallRole {
    /// The person on call.
    #[default]
    Primary,
    /// The next in line (see `oncall` module).
    Secondary,
}

/// An on-call schedule (alertd extension): see the `oncall` module for how it is read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallSchedule {
    /// Name used by escalation tiers, the API and `alertctl oncall`.
    pub name: String,
    /// IANA time zone of the layers that set none (default UTC).
    pub time_zone: Option<String>,
    /// The people, each reached through a receiver.
    pub members: Vec<OncallMember>,
    /// Rotation layers; where several are active, the later one decides.
    pub layers: Vec<OncallLayer>,
    /// Fixed overrides (the API adds more at run time).
    pub overrides: Vec<OncallOverride>,
}

/// A person of a schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallMember {
    /// The person's name (unique within the schedule).
    pub name: String,
    /// The receiver that reaches them (a Slack user or channel, an email address, a pager...).
    pub receiver: String,
}

/// How long one shift of a layer lasts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// One day.
    Daily,
    /// Seven days.
    #[default]
    Weekly,
    /// `length` (whole days are counted on the calendar, anything else in elapsed time).
    Custom,
}

/// A rotation layer of a schedule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallLayer {
    /// Shift length kind.
    pub rotation: Rotation,
    /// Shift length of a `custom` rotation.
    pub length: Option<Duration>,
    /// The date (`YYYY-MM-DD`, in the layer's time zone) on which the first member's first
    /// shift starts, at `handoff_time`.
    pub start: String,
    /// Local time of the hand-off (`HH:MM`, default `00:00`).
    pub handoff_time: Option<String>,
    /// IANA time zone (default: the schedule's).
    pub time_zone: Option<String>,
    /// Members in rotation order.
    pub members: Vec<String>,
    /// Restricts the layer to these local hours (`HH:MM-HH:MM`, may wrap past midnight):
    /// follow-the-sun layers.
    pub hours: Option<String>,
}

/// A member covering a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallOverride {
    /// Who covers.
    pub member: String,
    /// From (RFC 3339).
    pub start: String,
    /// Until, exclusive (RFC 3339).
    pub end: String,
}

/// Response targets of one severity (alertd extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseTarget {
    /// The `severity` label value; unset: every severity without an entry of its own.
    pub severity: Option<String>,
    /// Acknowledge within this long of the first notification.
    pub acknowledge_within: Option<Duration>,
    /// Resolve within this long of the alert's start.
    pub resolve_within: Option<Duration>,
}

/// One semantic problem of a configuration, with the path of the offending key
/// (`route.routes[1].receiver`); the loader finds its position.
pub use model::config::PathError as ConfigError;

/// Checks a templated field against the configured template files.
pub(crate) fn check_template(
    err: &mut impl FnMut(String, String),
    templates: &Option<crate::gotemplate::Templates>,
    path: String,
    text: &Option<String>,
) {
    let (Some(t), Some(text)) = (templates, text) else {
        return;
    };
    if !text.contains("{{") || crate::template::is_default_ref(Some(text)) {
        return;
    }
    if let Err(e) = t.check(&path, text) {
        err(path, e.to_string());
    }
}

impl NotifierConfig {
    /// Parses the notifier's sections from YAML (serde-saphyr; errors carry line and column).
    pub fn from_yaml(yaml: &str) -> Result<Self, serde_saphyr::Error> {
        serde_saphyr::from_str(yaml)
    }

    /// Every named time interval, from both `time_intervals` and `mute_time_intervals`.
    pub fn all_time_intervals(&self) -> impl Iterator<Item = &NamedTimeInterval> + '_ {
        self.time_intervals
            .iter()
            .chain(self.mute_time_intervals.iter())
    }

    /// Checks what the types alone cannot: references between sections, required fields,
    /// unsupported features. Returns every problem found (empty when the config is valid).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        let mut err = |path: String, message: String| errs.push(ConfigError::new(path, message));

        let templates = match crate::gotemplate::Templates::load(&self.templates, None) {
            Ok(t) => Some(t),
            Err(e) => {
                err("templates".into(), e.to_string());
                None
            }
        };
        let mut receivers = BTreeSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            let p = format!("receivers[{i}]");
            if r.name.is_empty() {
                err(format!("{p}.name"), "missing receiver name".into());
            } else if !receivers.insert(r.name.as_str()) {
                err(
                    format!("{p}.name"),
                    format!("duplicate receiver name {:?}", r.name),
                );
            }
            for t in r.unsupported_types() {
                err(
                    format!("{p}.{t}"),
                    format!(
                        "receiver {:?}: {t} is not supported yet (see the README's list of \
                         receiver types)",
                        r.name
                    ),
                );
            }
            for (j, s) in r.slack_configs.iter().enumerate() {
                let p = format!("{p}.slack_configs[{j}]");
                let bot = s.bot_token.is_some() || s.bot_token_file.is_some();
                if bot {
                    if s.channel.is_none() {
                        err(format!("{p}.channel"), "bot mode needs a channel".into());
                    }
                    if s.bot_token.is_some() && s.bot_token_file.is_some() {
                        err(
                            p.clone(),
                            "at most one of bot_token and bot_token_file".into(),
                        );
                    }
                    if s.signing_secret.is_some() && s.signing_secret_file.is_some() {
                        err(
                            p.clone(),
                            "at most one of signing_secret and signing_secret_file".into(),
                        );
                    }
                } else if s.signing_secret.is_some() || s.signing_secret_file.is_some() {
                    err(
                        format!("{p}.signing_secret"),
                        "the Acknowledge button needs bot mode (bot_token or bot_token_file): \
                         an incoming webhook cannot receive button clicks"
                            .into(),
                    );
                } else if s.api_url.is_none()
                    && s.api_url_file.is_none()
                    && self.global.slack_api_url.is_none()
                {
                    err(
                        format!("{p}.api_url"),
                        "no api_url, api_url_file, bot_token or global slack_api_url".into(),
                    );
                }
                if s.api_url.is_some() && s.api_url_file.is_some() {
                    err(p.clone(), "at most one of api_url and api_url_file".into());
                }
                for (name, v) in [
                    ("title", &s.title),
                    ("text", &s.text),
                    ("pretext", &s.pretext),
                    ("fallback", &s.fallback),
                    ("title_link", &s.title_link),
                    ("footer", &s.footer),
                    ("color", &s.color),
                    ("username", &s.username),
                    ("channel", &s.channel),
                ] {
                    check_template(&mut err, &templates, format!("{p}.{name}"), v);
                }
                if s.rate_limit_per_second == Some(0) {
                    err(
                        format!("{p}.rate_limit_per_second"),
                        "must be at least 1".into(),
                    );
                }
                check_http(&mut err, &p, s.http_config.as_ref());
            }
            for (j, e) in r.email_configs.iter().enumerate() {
                let p = format!("{p}.email_configs[{j}]");
                if e.to.trim().is_empty() {
                    err(format!("{p}.to"), "missing to address".into());
                }
                if e.from.is_none() && self.global.smtp_from.is_none() {
                    err(
                        format!("{p}.from"),
                        "no from and no global smtp_from".into(),
                    );
                }
                match e.smarthost.as_ref().or(self.global.smtp_smarthost.as_ref()) {
                    None => err(
                        format!("{p}.smarthost"),
                        "no smarthost and no global smtp_smarthost".into(),
                    ),
                    Some(h) => {
                        if crate::receivers::email::split_host_port(h).is_none() {
                            err(
                                format!("{p}.smarthost"),
                                format!("expected host:port, got {h:?}"),
                            );
                        }
                    }
                }
                if e.auth_password.is_some() && e.auth_password_file.is_some() {
                    err(
                        p.clone(),
                        "at most one of auth_password and auth_password_file".into(),
                    );
                }
                if e.auth_secret.is_some() {
                    err(
                        format!("{p}.auth_secret"),
                        "CRAM-MD5 is not supported".into(),
                    );
                }
                if e.auth_identity.as_deref().is_some_and(|i| !i.is_empty()) {
                    err(
                        format!("{p}.auth_identity"),
                        "a PLAIN identity other than the user name is not supported".into(),
                    );
                }
                check_template(&mut err, &templates, format!("{p}.html"), &e.html);
                check_template(&mut err, &templates, format!("{p}.text"), &e.text);
                for (k, v) in &e.headers {
                    check_template(
                        &mut err,
                        &templates,
                        format!("{p}.headers.{k}"),
                        &Some(v.clone()),
                    );
                }
                if let Some(t) = &e.tls_config {
                    if t.cert_file.is_some() || t.key_file.is_some() {
                        err(
                            format!("{p}.tls_config"),
                            "client certificates are not supported yet".into(),
                        );
                    }
                }
            }
            crate::receivers::config::validate(&mut err, &templates, &self.global, &p, r);
            for (j, w) in r.webhook_configs.iter().enumerate() {
                let p = format!("{p}.webhook_configs[{j}]");
                match (&w.url, &w.url_file) {
                    (None, None) => err(format!("{p}.url"), "missing url or url_file".into()),
                    (Some(_), Some(_)) => err(p.clone(), "at most one of url and url_file".into()),
                    (Some(u), None) if reqwest::Url::parse(u.expose()).is_err() => {
                        err(format!("{p}.url"), "not a valid URL".into());
                    }
                    _ => {}
                }
                check_http(&mut err, &p, w.http_config.as_ref());
            }
        }
        if self
            .global
            .smtp_auth_identity
            .as_deref()
            .is_some_and(|i| !i.is_empty())
        {
            err(
                "global.smtp_auth_identity".into(),
                "a PLAIN identity other than the user name is not supported".into(),
            );
        }
        if let Some(h) = &self.global.http_config {
            check_http(&mut err, "global", Some(h));
        }
        if self.global.smtp_auth_secret.is_some() {
            err(
                "global.smtp_auth_secret".into(),
                "CRAM-MD5 is not supported".into(),
            );
        }

        let mut intervals = BTreeSet::new();
        for (i, t) in self.time_intervals.iter().enumerate() {
            if !intervals.insert(t.name.as_str()) {
                err(
                    format!("time_intervals[{i}].name"),
                    format!("duplicate time interval {:?}", t.name),
                );
            }
        }
        for (i, t) in self.mute_time_intervals.iter().enumerate() {
            if !intervals.insert(t.name.as_str()) {
                err(
                    format!("mute_time_intervals[{i}].name"),
                    format!("duplicate time interval {:?}", t.name),
                );
            }
        }

        for (i, r) in self.receivers.iter().enumerate() {
            if let Some(f) = &r.fallback {
                if f == &r.name {
                    err(
                        format!("receivers[{i}].fallback"),
                        "a receiver cannot fall back to itself".into(),
                    );
                } else if !receivers.contains(f.as_str()) {
                    err(
                        format!("receivers[{i}].fallback"),
                        format!("unknown receiver {f:?}"),
                    );
                }
            }
        }

        let mut escalations = BTreeSet::new();
        for (i, e) in self.escalations.iter().enumerate() {
            let p = format!("escalations[{i}]");
            if e.name.is_empty() {
                err(format!("{p}.name"), "missing escalation name".into());
            } else if !escalations.insert(e.name.as_str()) {
                err(
                    format!("{p}.name"),
                    format!("duplicate escalation {:?}", e.name),
                );
            }
            if e.tiers.is_empty() {
                err(
                    format!("{p}.tiers"),
                    "an escalation needs at least one tier".into(),
                );
            }
            for (j, t) in e.tiers.iter().enumerate() {
                if t.receivers.is_empty() && t.oncall.is_empty() {
                    err(format!("{p}.tiers[{j}].receivers"), "no receivers".into());
                }
                for r in &t.receivers {
                    if !receivers.contains(r.as_str()) {
                        err(
                            format!("{p}.tiers[{j}].receivers"),
                            format!("unknown receiver {r:?}"),
                        );
                    }
                }
            }
        }

        crate::oncall::validate(self, &receivers, &mut err);

        // The root route.
        let root = &self.route;
        if root.receiver.is_none() {
            err(
                "route.receiver".into(),
                "the root route needs a receiver".into(),
            );
        }
        if !root.all_matchers().is_empty() {
            err(
                "route".into(),
                "the root route must not have matchers".into(),
            );
        }
        if root.continue_ {
            err(
                "route.continue".into(),
                "the root route cannot have continue".into(),
            );
        }
        if !root.mute_time_intervals.is_empty() || !root.active_time_intervals.is_empty() {
            err(
                "route".into(),
                "the root route cannot have mute_time_intervals or active_time_intervals".into(),
            );
        }
        let ctx = RouteCheck {
            receivers: &receivers,
            intervals: &intervals,
            escalations: &escalations,
        };
        ctx.check(root, "route", &mut errs);

        for (i, r) in self.inhibit_rules.iter().enumerate() {
            let legacy = [
                ("source_match", r.source_match.keys().collect::<Vec<_>>()),
                (
                    "source_match_re",
                    r.source_match_re.0.iter().map(|m| &m.name).collect(),
                ),
                ("target_match", r.target_match.keys().collect()),
                (
                    "target_match_re",
                    r.target_match_re.0.iter().map(|m| &m.name).collect(),
                ),
            ];
            for (key, names) in legacy {
                for l in names {
                    if !model::labels::is_valid_label_name(l) {
                        errs.push(ConfigError::new(
                            format!("inhibit_rules[{i}].{key}"),
                            format!("invalid label name {l:?}"),
                        ));
                    }
                }
            }
            for l in &r.equal {
                if !model::labels::is_valid_label_name(l) {
                    errs.push(ConfigError::new(
                        format!("inhibit_rules[{i}].equal"),
                        format!("invalid label name {l:?}"),
                    ));
                }
            }
        }
        errs
    }
}

pub(crate) fn check_http(err: &mut impl FnMut(String, String), p: &str, h: Option<&HttpConfig>) {
    let Some(h) = h else { return };
    if h.tls_config
        .as_ref()
        .is_some_and(|t| t.server_name.is_some())
    {
        err(
            format!("{p}.http_config.tls_config.server_name"),
            "server_name is not supported for HTTP receivers".into(),
        );
    }
    if let Some(t) = &h.tls_config {
        if t.cert_file.is_some() || t.key_file.is_some() {
            err(
                format!("{p}.http_config.tls_config"),
                "client certificates are not supported yet".into(),
            );
        }
    }
    let n = [
        h.authorization.is_some(),
        h.basic_auth.is_some(),
        h.bearer_token.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if n > 1 {
        err(
            format!("{p}.http_config"),
            "at most one of authorization, basic_auth and bearer_token".into(),
        );
    }
}

struct RouteCheck<'a> {
    receivers: &'a BTreeSet<&'a str>,
    intervals: &'a BTreeSet<&'a str>,
    escalations: &'a BTreeSet<&'a str>,
}

impl RouteCheck<'_> {
    fn check(&self, r: &Route, path: &str, errs: &mut Vec<ConfigError>) {
        let mut err =
            |p: &str, message: String| errs.push(ConfigError::new(format!("{path}{p}"), message));
        if let Some(rc) = &r.receiver {
            if !self.receivers.contains(rc.as_str()) {
                err(".receiver", format!("unknown receiver {rc:?}"));
            }
        }
        if let Some(e) = &r.escalation {
            if !self.escalations.contains(e.as_str()) {
                err(".escalation", format!("unknown escalation policy {e:?}"));
            }
        }
        for t in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
            if !self.intervals.contains(t.as_str()) {
                err("", format!("unknown time interval {t:?}"));
            }
        }
        if let Some(g) = &r.group_by {
            let mut seen = BTreeSet::new();
            for l in g {
                if l == "..." {
                    if g.len() > 1 {
                        err(
                            ".group_by",
                            "cannot have wildcard group_by (`...`) and other labels".into(),
                        );
                    }
                } else if !model::labels::is_valid_label_name(l) {
                    err(".group_by", format!("invalid label name {l:?}"));
                } else if !seen.insert(l) {
                    err(".group_by", format!("duplicate label {l:?}"));
                }
            }
        }
        // Alertmanager 0.25 refuses invalid label names in the legacy maps.
        for (key, names) in [
            (".match", r.match_.keys().collect::<Vec<_>>()),
            (".match_re", r.match_re.0.iter().map(|m| &m.name).collect()),
        ] {
            for l in names {
                if !model::labels::is_valid_label_name(l) {
                    err(key, format!("invalid label name {l:?}"));
                }
            }
        }
        if r.group_interval == Some(Duration::ZERO) {
            err(".group_interval", "must be greater than 0".into());
        }
        if r.repeat_interval == Some(Duration::ZERO) {
            err(".repeat_interval", "must be greater than 0".into());
        }
        for (i, c) in r.routes.iter().enumerate() {
            self.check(c, &format!("{path}.routes[{i}]"), errs);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Alertmanager's documentation example (`doc/examples/simple.yml`, abridged to the receiver
    /// kinds alertd has), plus escalations.
    pub(crate) const DOC_EXAMPLE: &str = r#"
global:
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
  smtp_auth_username: 'alertmanager'
  smtp_auth_password: 'password'
route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-Y-pager
    - matchers:
        - service="database"
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers:
            - owner="team-X"
          receiver: team-X-pager
          continue: true
        - matchers:
            - owner="team-Y"
          receiver: team-Y-pager
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]
receivers:
  - name: 'team-X-mails'
    email_configs:
      - to: 'team-X+alerts@example.org'
  - name: 'team-X-pager'
    email_configs:
      - to: 'team-X+alerts-critical@example.org'
  - name: 'team-Y-mails'
    email_configs:
      - to: 'team-Y+alerts@example.org'
  - name: 'team-Y-pager'
    slack_configs:
      - api_url: https://hooks.slack.com/services/T/B/secret
        channel: '#pager'
  - name: 'team-DB-pager'
    webhook_configs:
      - url: http://127.0.0.1:9/hook
"#;

    #[test]
    fn parses_alertmanager_doc_example_with_defaults() {
        let c = NotifierConfig::from_yaml(DOC_EXAMPLE).unwrap();
        assert_eq!(c.validate(), vec![]);
        assert_eq!(c.route.repeat_interval, Some(Duration::from_secs(3 * 3600)));
        assert_eq!(c.route.routes.len(), 3);
        assert!(c.route.routes[2].routes[0].continue_);
        let m = &c.route.routes[0].matchers.0[0];
        assert_eq!((m.name.as_str(), m.op), ("service", MatchOp::Regex));
        let r = &c.receivers[3].slack_configs[0];
        assert!(!r.send_resolved, "slack send_resolved defaults to false");
        assert!(!c.receivers[0].email_configs[0].send_resolved);
        assert!(c.receivers[4].webhook_configs[0].send_resolved);
        assert_eq!(c.receivers[4].webhook_configs[0].max_alerts, 0);
        assert_eq!(c.global.resolve_timeout, DEFAULT_RESOLVE_TIMEOUT);
        assert!(c.global.smtp_require_tls);
        // Secrets print as <secret>, in Debug and when serialized.
        assert!(!format!("{c:?}").contains("\"password\""));
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("/B/secret"), "{json}");
        assert!(!json.contains("\"password\""), "{json}");
        assert!(json.contains("<secret>"));
        assert_eq!(
            r.api_url.as_ref().unwrap().expose(),
            "https://hooks.slack.com/services/T/B/secret"
        );
    }

    #[test]
    fn the_slack_button_needs_bot_mode() {
        let c = NotifierConfig::from_yaml(
            "route: { receiver: a }\nreceivers:\n  - name: a\n    slack_configs:\n      \
             - { api_url: 'https://hooks.slack.com/x', signing_secret: s }\n      \
             - { bot_token: t, channel: '#c', signing_secret: s, signing_secret_file: f }\n",
        )
        .unwrap();
        let errs: Vec<String> = c.validate().iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("slack_configs[0].signing_secret") && errs[0].contains("bot mode")
        );
        assert!(errs[1].contains("at most one of signing_secret and signing_secret_file"));
    }

    #[test]
    fn legacy_match_forms_and_group_by_wildcard() {
        let c = NotifierConfig::from_yaml(
            r#"
route:
  receiver: a
  group_by: ['...']
  routes:
    - match: { service: db }
      match_re: { severity: "crit.*" }
      matchers: ['{team="x", env!="dev"}']
      receiver: a
receivers: [{ name: a }]
"#,
        )
        .unwrap();
        assert_eq!(c.validate(), vec![]);
        let ms = c.route.routes[0].all_matchers();
        let names: Vec<_> = ms.iter().map(|m| m.to_string()).collect();
        assert_eq!(
            names,
            vec![
                r#"env!="dev""#,
                r#"service="db""#,
                r#"severity=~"^(?:crit.*)$""#,
                r#"team="x""#
            ]
        );
        assert_eq!(c.route.group_by.as_deref(), Some(&["...".to_string()][..]));
    }

    #[test]
    fn legacy_maps_with_invalid_label_names_are_refused() {
        // Alertmanager 0.25: `invalid label name "foo-bar"` for match, match_re and the
        // inhibition rules' legacy maps.
        let c = NotifierConfig::from_yaml(
            r#"
route:
  receiver: a
  routes:
    - match: { foo-bar: x }
    - match_re: { 1x: "y.*" }
inhibit_rules:
  - source_match: { a-b: x }
    target_match_re: { c.d: x }
receivers: [{ name: a }]
"#,
        )
        .unwrap();
        let errs: Vec<String> = c.validate().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            [
                r#"route.routes[0].match: invalid label name "foo-bar""#,
                r#"route.routes[1].match_re: invalid label name "1x""#,
                r#"inhibit_rules[0].source_match: invalid label name "a-b""#,
                r#"inhibit_rules[0].target_match_re: invalid label name "c.d""#,
            ]
        );
    }

    #[test]
    fn alertmanager_receiver_types_alertd_lacks_are_named() {
        let c = NotifierConfig::from_yaml(
            "route: { receiver: w }\nreceivers:\n  - name: w\n    wechat_configs: \
             [{ corp_id: k }]\n    sns_configs: [{}]\n",
        )
        .unwrap();
        let errs: Vec<String> = c.validate().iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "receivers[0].wechat_configs: receiver \"w\": wechat_configs is not supported \
                 yet"
            ),
            "{errs:?}"
        );
        assert!(errs[1].contains("sns_configs is not supported yet"));
        // Not echoed in the configuration shown by /api/v2/status.
        let yaml = serde_json::to_string(&c).unwrap();
        assert!(!yaml.contains("wechat"), "{yaml}");
    }

    #[test]
    fn unknown_keys_are_errors_with_line_and_column() {
        let e = NotifierConfig::from_yaml("route:\n  receiver: a\n  group_wiat: 30s\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("group_wiat"), "{e}");
        assert!(e.contains("line 3") || e.contains("3:"), "{e}");
        let e = NotifierConfig::from_yaml("route:\n  receiver: a\n  matchers: ['a=~\"(\"']\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("regex"), "{e}");
        let e = NotifierConfig::from_yaml("route:\n  group_wait: 5 minutes\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("duration"), "{e}");
    }

    #[test]
    fn validate_reports_every_semantic_error() {
        let c = NotifierConfig::from_yaml(
            r#"
route:
  receiver: nope
  routes:
    - receiver: a
      mute_time_intervals: [never-defined]
      escalation: ghost
      group_by: ['...', x]
    - receiver: a
      group_interval: 0s
escalations:
  - name: oncall
    tiers: [{ after: 5m, receivers: [a, missing] }]
receivers:
  - name: a
    webhook_configs: [{}]
    slack_configs: [{ title: '{{ .CommonLabels.foo | nosuchfunc }}' }]
    email_configs: [{ to: x@y.z, from: a@b.c, smarthost: 'h:25', auth_identity: other }]
  - name: a
"#,
        )
        .unwrap();
        let errs: Vec<String> = c.validate().iter().map(|e| e.to_string()).collect();
        let want = [
            "route.receiver: unknown receiver \"nope\"",
            "route.routes[0]: unknown time interval \"never-defined\"",
            "route.routes[0].escalation: unknown escalation policy \"ghost\"",
            "route.routes[0].group_by: cannot have wildcard",
            "route.routes[1].group_interval: must be greater than 0",
            "escalations[0].tiers[0].receivers: unknown receiver \"missing\"",
            "receivers[0].webhook_configs[0].url: missing url",
            "receivers[0].slack_configs[0].api_url: no api_url",
            "receivers[0].slack_configs[0].title: template receivers[0].slack_configs[0].title: ",
            "receivers[1].name: duplicate receiver name",
            "receivers[0].email_configs[0].auth_identity: a PLAIN identity",
        ];
        for w in want {
            assert!(
                errs.iter().any(|e| e.starts_with(w)),
                "missing {w:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
    }

    #[test]
    fn secret_files_and_time_intervals_parse() {
        let c = NotifierConfig::from_yaml(
            r#"
route: { receiver: s, mute_time_intervals: [] }
receivers:
  - name: s
    slack_configs: [{ api_url_file: /etc/alertd/slack, send_resolved: true }]
    email_configs: [{ to: a@b.c, from: x@y.z, smarthost: 'mail:587', auth_password_file: /p }]
time_intervals:
  - name: offhours
    time_intervals:
      - times: [{ start_time: '17:00', end_time: '24:00' }]
        weekdays: ['monday:friday']
        location: Europe/Oslo
mute_time_intervals:
  - name: holidays
    time_intervals: [{ months: ['december'], days_of_month: ['24:26'] }]
"#,
        )
        .unwrap();
        assert_eq!(c.validate(), vec![]);
        assert!(c.receivers[0].slack_configs[0].send_resolved);
        assert_eq!(c.all_time_intervals().count(), 2);
    }
}
