//! Route and group: aggregation groups per route and group labels, their timers (`group_wait`,
//! `group_interval`), flushing a group into notifications, and Alertmanager's cleanup of empty
//! groups.

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct GroupState {
    pub(super) next_flush: Timestamp,
    pub(super) has_flushed: bool,
    /// The escalation clock: the group's first notification.
    pub(super) first_notified_at: Option<Timestamp>,
    /// Escalation tiers notified so far.
    pub(super) tiers_notified: BTreeSet<usize>,
}

#[derive(Debug)]
pub(super) struct Group {
    pub(super) route: usize,
    pub(super) key: String,
    pub(super) labels: Labels,
    pub(super) alerts: BTreeSet<Fingerprint>,
    pub(super) st: GroupState,
    /// Since when the group holds no alert. Alertmanager keeps an empty group (and its timer)
    /// until its dispatcher's next cleanup, every [`CLEANUP_INTERVAL`] since it started: an
    /// alert arriving meanwhile goes out at the group's next tick, not after `group_wait`.
    pub(super) empty_since: Option<Timestamp>,
}

/// Alertmanager's dispatcher drops empty groups on a ticker of this period (ms).
pub(super) const CLEANUP_INTERVAL: i64 = 30_000;

/// A group as shown by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    /// Group key.
    pub group_key: String,
    /// Group labels.
    pub labels: Labels,
    /// The route's receiver (or escalation policy name as `escalation:<name>`).
    pub receiver: String,
    /// Fingerprints of its alerts (16 hex digits).
    pub alerts: Vec<String>,
    /// When the escalation clock started.
    pub first_notified_at: Option<Timestamp>,
    /// Escalation tiers notified.
    pub tiers_notified: Vec<usize>,
}

impl State {
    /// Whether the cleanup after a group became empty at `since` has run by `now`.
    pub(super) fn cleaned_up(&self, since: Timestamp, now: Timestamp) -> bool {
        let k = ((since - self.started_at).max(1) + CLEANUP_INTERVAL - 1) / CLEANUP_INTERVAL;
        now >= self.started_at + k * CLEANUP_INTERVAL
    }
}

impl Notifier {
    /// Places an alert in the groups of the routes it matches (creating groups as needed).
    pub(super) fn route_alert(
        &self,
        st: &mut State,
        a: &Alert,
        now: Timestamp,
        restored: &mut HashMap<String, GroupState>,
        batch: &mut KvBatch,
    ) {
        let rt = self.routing();
        let fp = a.fingerprint();
        let nodes = rt.tree.match_labels(&a.labels);
        for node in nodes {
            let key = node.group_key(&a.labels);
            let gid = format!("{}:{}", node.index, key);
            let wait = node.opts.group_wait.as_millis_i64();
            let cleaned = st.groups.get(&gid).and_then(|g| g.empty_since);
            if cleaned.is_some_and(|t| st.cleaned_up(t, now)) {
                st.groups.remove(&gid);
                st.escalating.remove(&gid);
            }
            let g = st.groups.entry(gid.clone()).or_insert_with(|| {
                let st = restored.remove(&gid).unwrap_or_else(|| {
                    let s = GroupState {
                        next_flush: now + wait,
                        ..GroupState::default()
                    };
                    batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&s));
                    s
                });
                Group {
                    route: node.index,
                    key,
                    labels: node.group_labels(&a.labels),
                    alerts: BTreeSet::new(),
                    st,
                    empty_since: None,
                }
            });
            if g.alerts.insert(fp) {
                g.empty_since = None;
                // Alertmanager: flush at once when the alert's own group_wait is already over.
                if !g.st.has_flushed && a.starts_at + wait < now && g.st.next_flush > now {
                    g.st.next_flush = now;
                    batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&g.st));
                }
                let next = g.st.next_flush;
                st.schedule.insert((next, gid.clone()));
                if node.opts.escalation.is_some() {
                    st.escalating.insert(gid.clone());
                }
                st.member_of.entry(fp).or_default().push(gid);
            }
        }
    }

    /// Flushes a group: queues a notification for each receiver integration that needs one.
    /// `only` restricts to some receivers (an escalation tier just reached); a full flush also
    /// schedules the next one and drops the resolved alerts from the group.
    pub(super) fn flush(
        &self,
        st: &mut State,
        gid: &str,
        now: Timestamp,
        only: Option<&[String]>,
        batch: &mut KvBatch,
        report: &mut TickReport,
    ) {
        let rt = self.routing();
        let Some(g) = st.groups.get(gid) else { return };
        let node = &rt.routes[g.route];
        if g.alerts.is_empty() {
            // Alertmanager's flush of an empty group sends nothing; its timer runs on.
            if only.is_none() {
                let next = now + node.opts.group_interval.as_millis_i64();
                if let Some(g) = st.groups.get_mut(gid) {
                    g.st.next_flush = next;
                }
                st.schedule.insert((next, gid.to_string()));
            }
            return;
        }
        let mut firing = BTreeSet::new();
        let mut resolved = BTreeSet::new();
        let mut snaps = Vec::new();
        let mut all_resolved_fps = Vec::new();
        let mut acked = true;
        for fp in &g.alerts {
            let Some(sa) = st.alerts.get(fp) else {
                continue;
            };
            let is_resolved = sa.alert.is_resolved_at(now);
            if is_resolved {
                all_resolved_fps.push(*fp);
            }
            if self.muted(st, &sa.alert.labels, now) {
                continue;
            }
            if is_resolved {
                resolved.insert(fp.0);
            } else {
                firing.insert(fp.0);
                if !st.acks.contains(fp) {
                    acked = false;
                }
            }
            snaps.push((is_resolved, NotifiedAlert::from_alert(&sa.alert, now)));
        }
        let acked = acked && !firing.is_empty();
        let group_key = g.key.clone();
        let group_labels = g.labels.clone();
        let mut gst = g.st.clone();
        let time_muted = self.time_muted(node, now);
        if only.is_none() {
            gst.has_flushed = true;
            gst.next_flush = now + node.opts.group_interval.as_millis_i64();
        }
        if !time_muted && !firing.is_empty() && gst.first_notified_at.is_none() {
            gst.first_notified_at = Some(now);
            if let Some(tiers) = node
                .opts
                .escalation
                .as_ref()
                .and_then(|e| rt.escalations.get(e))
            {
                for (i, (after, _)) in tiers.iter().enumerate() {
                    if after.as_millis() == 0 {
                        gst.tiers_notified.insert(i);
                    }
                }
            }
        }
        let receivers = match only {
            Some(o) => o.to_vec(),
            None => self.group_receivers(node, &gst),
        };
        // Alertmanager's pipeline stops when muting leaves no alert: nothing is sent and the
        // notification log keeps what was last sent (so an alert that was silenced the whole
        // time is not sent again when its silence ends).
        if !time_muted && !snaps.is_empty() {
            for r in &receivers {
                let Some(integs) = rt.integrations.get(r) else {
                    continue;
                };
                for integ in integs {
                    let nk = nflog_key(&group_key, r, &integ.name());
                    if !st.nflog.needs_update(
                        &nk,
                        &firing,
                        &resolved,
                        integ.send_resolved,
                        node.opts.repeat_interval,
                        acked,
                        now,
                    ) {
                        continue;
                    }
                    let alerts: Vec<NotifiedAlert> = snaps
                        .iter()
                        .filter(|(res, _)| !*res || integ.send_resolved)
                        .map(|(_, a)| a.clone())
                        .collect();
                    if !alerts.is_empty() {
                        let n = Notification::new(
                            r,
                            &group_key,
                            group_labels.clone(),
                            alerts,
                            &rt.external_url,
                        );
                        let q = self.enqueue(st, gid, r, integ.index, n, now, batch);
                        report.queued.push(q);
                    }
                    st.nflog.record(nk, &firing, &resolved, now, batch);
                }
            }
        }
        if only.is_none() && gst.first_notified_at.is_some() {
            // When notified alerts resolved, for the fatigue report (whatever `send_resolved`).
            let gone: Vec<Alert> = all_resolved_fps
                .iter()
                .filter_map(|fp| st.alerts.get(fp).map(|sa| sa.alert.clone()))
                .collect();
            let gone: Vec<&Alert> = gone.iter().collect();
            let receiver = match &node.opts.escalation {
                Some(e) => format!("escalation:{e}"),
                None => node.opts.receiver.clone(),
            };
            Self::record_resolved(st, &group_key, &receiver, &gone, now, batch);
        }
        let Some(g) = st.groups.get_mut(gid) else {
            return;
        };
        g.st = gst;
        if only.is_none() {
            for fp in &all_resolved_fps {
                g.alerts.remove(fp);
            }
        }
        let empty = g.alerts.is_empty();
        if only.is_none() {
            for fp in &all_resolved_fps {
                if let Some(m) = st.member_of.get_mut(fp) {
                    m.retain(|x| x != gid);
                    if m.is_empty() {
                        st.member_of.remove(fp);
                        st.orphans.push(*fp);
                    }
                }
            }
        }
        if empty {
            // Kept (in memory only) until the next cleanup, as Alertmanager does.
            batch.delete(NS_GROUPS, gid.as_bytes().to_vec());
            if let Some(g) = st.groups.get_mut(gid) {
                g.empty_since.get_or_insert(now);
                // A re-fire starts its escalation again.
                g.st.first_notified_at = None;
                g.st.tiers_notified.clear();
                st.schedule.insert((g.st.next_flush, gid.to_string()));
            }
        } else if let Some(g) = st.groups.get(gid) {
            let next = g.st.next_flush;
            batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&g.st));
            st.schedule.insert((next, gid.to_string()));
        }
    }

    /// The aggregation groups.
    pub fn groups(&self) -> Vec<GroupView> {
        let st = self.lock();
        let rt = self.routing();
        let mut v: Vec<GroupView> = st
            .groups
            .values()
            .filter(|g| !g.alerts.is_empty())
            .map(|g| {
                let node = &rt.routes[g.route];
                GroupView {
                    group_key: g.key.clone(),
                    labels: g.labels.clone(),
                    receiver: match &node.opts.escalation {
                        Some(e) => format!("escalation:{e}"),
                        None => node.opts.receiver.clone(),
                    },
                    alerts: g.alerts.iter().map(|f| f.to_string()).collect(),
                    first_notified_at: g.st.first_notified_at,
                    tiers_notified: g.st.tiers_notified.iter().copied().collect(),
                }
            })
            .collect();
        v.sort_by(|a, b| a.group_key.cmp(&b.group_key));
        v
    }
}
