//! On call in the dispatcher: escalation tiers' receivers resolved from the schedules when a
//! tier sends, `after: ack_target` from the response targets, and what the API and the status
//! page read (who is on call, overrides, response deadlines). The schedule logic itself is in
//! `crate::oncall`.

#[allow(clippy::wildcard_imports)]
use super::*;

use model::api::oncall::{OnCallInfo, OnCallOverride, OnCallPerson, OverrideRequest};
use model::api::{api_time, Ack as ApiAck};

use crate::config::{ResponseTarget, TierAfter};
use crate::oncall::{OverrideError, Tier, HANDOFF_HORIZON_MS};

/// An alert's response deadlines (for the status page).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseDeadline {
    /// The alert's labels.
    pub labels: Labels,
    /// Acknowledge by (ms): the first notification of its group plus the target (its start
    /// plus the target before any notification).
    pub ack_by: Option<Timestamp>,
    /// Resolve by (ms): its start plus the target.
    pub resolve_by: Option<Timestamp>,
    /// Its ack, if acknowledged.
    pub ack: Option<ApiAck>,
}

impl Notifier {
    /// The receivers of `tier` now (its fixed ones, then whoever is on call).
    pub(super) fn tier_receivers(&self, rt: &Routing, tier: &Tier, now: Timestamp) -> Vec<String> {
        rt.oncall
            .tier_receivers(tier, now, &|s| self.overrides.covers(s))
    }

    /// How long after the group's first notification `tier` fires (ms); `None`: not yet known
    /// (no alert has a target).
    pub(super) fn tier_delay(
        &self,
        rt: &Routing,
        st: &State,
        g: &Group,
        tier: &Tier,
    ) -> Option<i64> {
        match tier.after {
            TierAfter::Fixed(d) => Some(d.as_millis_i64()),
            TierAfter::AckTarget => g
                .alerts()
                .iter()
                .filter_map(|fp| st.alerts.get(fp))
                .filter_map(|sa| rt.oncall.target(&sa.alert.labels)?.acknowledge_within)
                .map(Duration::as_millis_i64)
                .min(),
        }
    }

    /// The API's on-call overrides.
    pub fn oncall_overrides(&self) -> &crate::oncall::OverrideStore {
        &self.overrides
    }

    /// Adds an override after checking its schedule and member against the configuration.
    pub fn add_oncall_override(
        &self,
        req: OverrideRequest,
    ) -> Result<OnCallOverride, OverrideError> {
        let rt = self.routing();
        self.overrides
            .add(req, self.clock.now_ms(), |schedule, member| {
                let s = rt
                    .oncall
                    .schedules
                    .get(schedule)
                    .ok_or_else(|| format!("unknown on-call schedule {schedule:?}"))?;
                match s.receiver_of(member) {
                    Some(_) => Ok(()),
                    None => Err(format!("{member:?} is not a member of {schedule:?}")),
                }
            })
    }

    /// Names of the on-call schedules.
    pub fn oncall_schedules(&self) -> Vec<String> {
        let mut v: Vec<String> = self.routing().oncall.schedules.keys().cloned().collect();
        v.sort();
        v
    }

    /// Who is on call in `schedule` at `at`, and the next hand-off; `None` for an unknown
    /// schedule.
    pub fn on_call(&self, schedule: &str, at: Timestamp) -> Option<OnCallInfo> {
        let rt = self.routing();
        let s = rt.oncall.schedules.get(schedule)?;
        let extra = self.overrides.covers(schedule);
        let person = |m: Option<String>| {
            m.map(|name| OnCallPerson {
                receiver: s.receiver_of(&name).unwrap_or_default().to_string(),
                name,
            })
        };
        let now = s.on_call(at, &extra);
        let next = s.next_handoff(at, &extra, HANDOFF_HORIZON_MS);
        let (next_at, next_who) = match next {
            Some((t, w)) => (Some(api_time(t)), w),
            None => (None, crate::oncall::OnCall::default()),
        };
        Some(OnCallInfo {
            schedule: schedule.to_string(),
            at: api_time(at),
            primary: person(now.primary),
            secondary: person(now.secondary),
            next_handoff: next_at,
            next_primary: person(next_who.primary),
            next_secondary: person(next_who.secondary),
        })
    }

    /// The response target of an alert with `labels`.
    pub fn response_target(&self, labels: &Labels) -> Option<ResponseTarget> {
        self.routing().oncall.target(labels).cloned()
    }

    /// Response deadlines of every firing alert that has a response target.
    pub fn response_deadlines(&self) -> Vec<ResponseDeadline> {
        let now = self.clock.now_ms();
        let rt = self.routing();
        let st = self.lock();
        let mut v: Vec<ResponseDeadline> = st
            .alerts
            .values()
            .filter(|sa| !sa.alert.is_resolved_at(now))
            .filter_map(|sa| {
                let t = rt.oncall.target(&sa.alert.labels)?;
                let fp = sa.alert.fingerprint();
                let notified = st
                    .groups
                    .groups_of(&fp)
                    .filter_map(|g| g.state().first_notified_at)
                    .min()
                    .unwrap_or(sa.alert.starts_at);
                Some(ResponseDeadline {
                    labels: sa.alert.labels.clone(),
                    ack_by: t.acknowledge_within.map(|d| notified + d.as_millis_i64()),
                    resolve_by: t
                        .resolve_within
                        .map(|d| sa.alert.starts_at + d.as_millis_i64()),
                    ack: st.acks.get(&fp).cloned(),
                })
            })
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }
}
