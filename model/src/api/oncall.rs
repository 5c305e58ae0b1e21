//! On-call DTOs of alertd's own API: `GET /api/alertd/v1/oncall[/{schedule}]?at=` and
//! `/api/alertd/v1/oncall/overrides` (times in RFC 3339).

use serde::{Deserialize, Serialize};

/// A person on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallPerson {
    /// The member's name.
    pub name: String,
    /// The receiver that reaches them.
    pub receiver: String,
}

/// Who is on call in one schedule at an instant, and the next hand-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallInfo {
    /// The schedule.
    pub schedule: String,
    /// The instant asked about.
    pub at: String,
    /// Paged first.
    pub primary: Option<OnCallPerson>,
    /// Next in line.
    pub secondary: Option<OnCallPerson>,
    /// The next change of who is on call (within two months), if any.
    pub next_handoff: Option<String>,
    /// Primary from then.
    pub next_primary: Option<OnCallPerson>,
    /// Secondary from then.
    pub next_secondary: Option<OnCallPerson>,
}

/// `POST /api/alertd/v1/oncall/overrides`: a member covers a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// The schedule.
    pub schedule: String,
    /// Who covers (a member of the schedule).
    pub member: String,
    /// From (RFC 3339).
    pub start: String,
    /// Until, exclusive (RFC 3339).
    pub end: String,
    /// Who asked.
    #[serde(default)]
    pub author: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// An override added through the API (also its stored form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallOverride {
    /// Its id.
    pub id: String,
    /// The schedule.
    pub schedule: String,
    /// Who covers.
    pub member: String,
    /// From (RFC 3339).
    pub start: String,
    /// Until, exclusive (RFC 3339).
    pub end: String,
    /// Who asked.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
}
