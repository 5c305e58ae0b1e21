//! Mute: silences, inhibition and time intervals decide which alerts and routes are quiet now.
//! (Acknowledgements, which stop repeats and escalation but not the first notification, are
//! the `acks` stage.)

#[allow(clippy::wildcard_imports)]
use super::*;

/// The mute stage's state: the inhibitor, fed every held alert (in memory; rebuilt from the
/// held alerts at startup and on reload). Silences are [`Silences`], with their own lock and
/// storage; time intervals are part of the [`Routing`].
#[derive(Debug)]
pub(super) struct Mute {
    inhibitor: Inhibitor,
}

impl Mute {
    /// Inhibition by these rules, with no alerts yet.
    pub(super) fn new(rules: &[crate::config::InhibitRule]) -> Self {
        Mute {
            inhibitor: Inhibitor::new(rules),
        }
    }

    /// Records (or updates) a held alert as a possible inhibition source.
    pub(super) fn observe(&mut self, a: &Alert) {
        self.inhibitor.observe(a);
    }

    /// Forgets an alert the notifier no longer holds.
    pub(super) fn forget(&mut self, a: &Alert) {
        self.inhibitor.forget(a);
    }

    /// The alert inhibiting `labels` at `now`, if any.
    pub(super) fn inhibited_by(&self, labels: &Labels, now: Timestamp) -> Option<Fingerprint> {
        self.inhibitor.inhibited_by(labels, now)
    }

    /// Whether an alert with `labels` is silenced or inhibited at `now`.
    pub(super) fn mutes(&self, silences: &Silences, labels: &Labels, now: Timestamp) -> bool {
        !silences.mutes(labels, now).is_empty() || self.inhibited_by(labels, now).is_some()
    }
}

impl Notifier {
    pub(super) fn time_muted(&self, node: &RouteNode, now: Timestamp) -> bool {
        let rt = self.routing();
        let inside = |names: &[String]| {
            names.iter().any(|n| {
                rt.intervals
                    .get(n)
                    .is_some_and(|ivs| crate::timeinterval::any_contains(ivs, now))
            })
        };
        inside(&node.opts.mute_time_intervals)
            || (!node.opts.active_time_intervals.is_empty()
                && !inside(&node.opts.active_time_intervals))
    }
}
