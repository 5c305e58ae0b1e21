//! Mute: silences, inhibition and time intervals decide which alerts and routes are quiet now.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Notifier {
    pub(super) fn muted(&self, st: &State, labels: &Labels, now: Timestamp) -> bool {
        !self.silences.mutes(labels, now).is_empty()
            || st.inhibitor.inhibited_by(labels, now).is_some()
    }

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
