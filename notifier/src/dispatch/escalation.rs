//! Escalation: tiers of receivers notified while a group keeps firing unacknowledged.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The escalation stage's state: the groups whose route has an escalation policy (rebuilt from
/// the groups at startup and on reload). A group's escalation clock and the tiers it reached
/// are part of its persisted [`GroupState`], so they survive restarts with the group.
#[derive(Debug, Default)]
pub(super) struct Escalation {
    escalating: BTreeSet<String>,
}

impl Escalation {
    /// The group `gid` is escalated by its route's policy.
    pub(super) fn watch(&mut self, gid: String) {
        self.escalating.insert(gid);
    }

    /// The group `gid` is gone.
    pub(super) fn forget(&mut self, gid: &str) {
        self.escalating.remove(gid);
    }

    /// Forgets every group (a reload regroups).
    pub(super) fn clear(&mut self) {
        self.escalating.clear();
    }
}

impl Notifier {
    /// Receivers of a group now: the route's receiver, or the receivers of every notified tier.
    pub(super) fn group_receivers(&self, node: &RouteNode, g: &GroupState) -> Vec<String> {
        let rt = self.routing();
        match node
            .opts
            .escalation
            .as_ref()
            .and_then(|e| rt.escalations.get(e))
        {
            None => vec![node.opts.receiver.clone()],
            Some(tiers) => {
                let mut v: Vec<String> = Vec::new();
                for (i, tier) in tiers.iter().enumerate() {
                    if g.tiers_notified.contains(&i) {
                        for r in &self.tier_receivers(&rt, tier, self.clock.now_ms()) {
                            if !v.contains(r) {
                                v.push(r.clone());
                            }
                        }
                    }
                }
                v
            }
        }
    }

    /// Notifies the escalation tiers whose time has come, of groups that still fire,
    /// unacknowledged and not muted.
    pub(super) fn escalate_due(
        &self,
        st: &mut State,
        now: Timestamp,
        batch: &mut KvBatch,
        report: &mut TickReport,
    ) {
        let rt = self.routing();
        let mut escalate: Vec<(String, usize, Vec<String>)> = Vec::new();
        for gid in &st.escalation.escalating {
            let Some(g) = st.groups.get(gid) else {
                continue;
            };
            let node = &rt.routes[g.route()];
            let Some(tiers) = node
                .opts
                .escalation
                .as_ref()
                .and_then(|e| rt.escalations.get(e))
            else {
                continue;
            };
            let Some(t0) = g.state().first_notified_at else {
                continue;
            };
            for (i, tier) in tiers.iter().enumerate() {
                let due = self
                    .tier_delay(&rt, st, g, tier)
                    .is_some_and(|d| now >= t0 + d);
                if !g.state().tiers_notified.contains(&i) && due {
                    escalate.push((gid.clone(), i, self.tier_receivers(&rt, tier, now)));
                }
            }
        }
        escalate.sort();
        for (gid, tier, rs) in escalate {
            let Some(g) = st.groups.get(&gid) else {
                continue;
            };
            // A tier fires only while the group fires, unacknowledged and not muted.
            let mut firing = 0;
            let mut acked = false; // any acknowledged firing alert halts the escalation
            for fp in g.alerts() {
                let Some(sa) = st.alerts.get(fp) else {
                    continue;
                };
                if sa.alert.is_resolved_at(now)
                    || st.mute.mutes(&self.silences, &sa.alert.labels, now)
                {
                    continue;
                }
                firing += 1;
                acked |= st.acks.contains(fp);
            }
            if firing == 0 || acked {
                continue;
            }
            st.groups.mark_tier(&gid, tier);
            self.flush(st, &gid, now, Some(&rs), batch, report);
        }
    }
}
