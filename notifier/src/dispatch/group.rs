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

/// One aggregation group: the alerts of one route with the same group labels.
#[derive(Debug)]
pub(super) struct Group {
    route: usize,
    key: String,
    labels: Labels,
    alerts: BTreeSet<Fingerprint>,
    st: GroupState,
    /// Since when the group holds no alert. Alertmanager keeps an empty group (and its timer)
    /// until its dispatcher's next cleanup, every [`CLEANUP_INTERVAL`] since it started: an
    /// alert arriving meanwhile goes out at the group's next tick, not after `group_wait`.
    empty_since: Option<Timestamp>,
}

impl Group {
    /// Index of its route in [`Routing`]'s `routes`.
    pub(super) fn route(&self) -> usize {
        self.route
    }

    /// Its group key.
    pub(super) fn key(&self) -> &str {
        &self.key
    }

    /// Its alerts.
    pub(super) fn alerts(&self) -> &BTreeSet<Fingerprint> {
        &self.alerts
    }

    /// Its timers and escalation progress.
    pub(super) fn state(&self) -> &GroupState {
        &self.st
    }
}

/// The route-and-group stage's state: the aggregation groups, which groups each alert is in,
/// the flush schedule, and the alerts that left their last group. A group's [`GroupState`]
/// (timers and escalation progress) lives in the store's `notifier.groups` area while the group
/// holds alerts; the rest is rebuilt from the held alerts at startup and on reload.
#[derive(Debug)]
pub(super) struct Groups {
    groups: HashMap<String, Group>,
    /// Groups each alert belongs to.
    member_of: HashMap<Fingerprint, Vec<String>>,
    /// (next flush, group id); may hold stale entries, checked against the group when popped.
    schedule: BTreeSet<(Timestamp, String)>,
    /// Alerts that left their last group (forgotten once resolved).
    orphans: Vec<Fingerprint>,
    /// The dispatcher's start: cleanups of empty groups happen every [`CLEANUP_INTERVAL`] after.
    started_at: Timestamp,
}

/// What [`Groups::place`] did with an alert for one route.
pub(super) struct Placed {
    /// The group's id.
    pub(super) gid: String,
    /// An empty group of that id was past its cleanup and was dropped first.
    pub(super) dropped: bool,
    /// The alert was not in the group before.
    pub(super) added: bool,
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

impl Groups {
    /// No groups yet; the cleanup ticker starts at `now`.
    pub(super) fn new(now: Timestamp) -> Self {
        Groups {
            groups: HashMap::new(),
            member_of: HashMap::new(),
            schedule: BTreeSet::new(),
            orphans: Vec::new(),
            started_at: now,
        }
    }

    /// Whether the cleanup after a group became empty at `since` has run by `now`.
    fn cleaned_up(&self, since: Timestamp, now: Timestamp) -> bool {
        let k = ((since - self.started_at).max(1) + CLEANUP_INTERVAL - 1) / CLEANUP_INTERVAL;
        now >= self.started_at + k * CLEANUP_INTERVAL
    }

    /// The group `gid`.
    pub(super) fn get(&self, gid: &str) -> Option<&Group> {
        self.groups.get(gid)
    }

    /// Every group (empty ones waiting for their cleanup included).
    pub(super) fn values(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// The groups `fp` belongs to.
    pub(super) fn groups_of(&self, fp: &Fingerprint) -> impl Iterator<Item = &Group> {
        self.member_of
            .get(fp)
            .into_iter()
            .flatten()
            .filter_map(|gid| self.groups.get(gid))
    }

    /// Whether the alert `fp` is in some group.
    pub(super) fn is_member(&self, fp: &Fingerprint) -> bool {
        self.member_of.contains_key(fp)
    }

    /// Places alert `a` in its group under route `node`, creating the group (with the state in
    /// `restored`, or a fresh `group_wait` timer) as needed.
    pub(super) fn place(
        &mut self,
        node: &RouteNode,
        a: &Alert,
        now: Timestamp,
        restored: &mut HashMap<String, GroupState>,
        batch: &mut KvBatch,
    ) -> Placed {
        let fp = a.fingerprint();
        let key = node.group_key(&a.labels);
        let gid = format!("{}:{}", node.index, key);
        let wait = node.opts.group_wait.as_millis_i64();
        let cleaned = self.groups.get(&gid).and_then(|g| g.empty_since);
        let dropped = cleaned.is_some_and(|t| self.cleaned_up(t, now));
        if dropped {
            self.groups.remove(&gid);
        }
        let g = self.groups.entry(gid.clone()).or_insert_with(|| {
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
        let added = g.alerts.insert(fp);
        if added {
            g.empty_since = None;
            // Alertmanager: flush at once when the alert's own group_wait is already over.
            if !g.st.has_flushed && a.starts_at + wait < now && g.st.next_flush > now {
                g.st.next_flush = now;
                batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&g.st));
            }
            let next = g.st.next_flush;
            self.schedule.insert((next, gid.clone()));
            self.member_of.entry(fp).or_default().push(gid.clone());
        }
        Placed {
            gid,
            dropped,
            added,
        }
    }

    /// Takes the groups whose flush is due at `now` off the schedule.
    pub(super) fn pop_due(&mut self, now: Timestamp) -> Vec<String> {
        let mut due = Vec::new();
        while let Some((t, gid)) = self.schedule.first().cloned() {
            if t > now {
                break;
            }
            self.schedule.pop_first();
            if self.groups.get(&gid).is_some_and(|g| g.st.next_flush == t) {
                due.push(gid);
            }
        }
        due
    }

    /// Drops the empty groups whose cleanup has come (the cleanup after they became empty);
    /// returns their ids.
    pub(super) fn drop_cleaned(&mut self, now: Timestamp) -> Vec<String> {
        let empty: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.empty_since.is_some_and(|t| self.cleaned_up(t, now)))
            .map(|(gid, _)| gid.clone())
            .collect();
        for gid in &empty {
            self.groups.remove(gid);
        }
        empty
    }

    /// Takes the alerts that left their last group since the last call.
    pub(super) fn take_orphans(&mut self) -> Vec<Fingerprint> {
        std::mem::take(&mut self.orphans)
    }

    /// Starts a regrouping (a reload): forgets every group and returns the states of those
    /// holding alerts, to be reused by [`Groups::place`] for the groups that still exist.
    pub(super) fn regroup(&mut self) -> HashMap<String, GroupState> {
        let kept = self
            .groups
            .drain()
            .filter(|(_, g)| !g.alerts.is_empty())
            .map(|(gid, g)| (gid, g.st))
            .collect();
        self.member_of.clear();
        self.schedule.clear();
        self.orphans.clear();
        kept
    }

    /// After a regrouping: the alerts of `held` no group took are orphans (forgotten at the
    /// next tick once resolved).
    pub(super) fn orphan_unplaced<'a>(&mut self, held: impl Iterator<Item = &'a Fingerprint>) {
        self.orphans = held.filter(|fp| !self.is_member(fp)).copied().collect();
    }

    /// An escalation tier of `gid` was reached.
    pub(super) fn mark_tier(&mut self, gid: &str, tier: usize) {
        if let Some(g) = self.groups.get_mut(gid) {
            g.st.tiers_notified.insert(tier);
        }
    }

    /// A full flush of an empty group: nothing is sent, its timer runs on to `next`.
    fn reschedule(&mut self, gid: &str, next: Timestamp) {
        if let Some(g) = self.groups.get_mut(gid) {
            g.st.next_flush = next;
        }
        self.schedule.insert((next, gid.to_string()));
    }

    /// A flush of `gid` is over: its state becomes `gst`; a full flush drops its `resolved`
    /// alerts. A group left empty is kept (in memory only) until the next cleanup, as
    /// Alertmanager does, and a re-fire starts its escalation again.
    fn flushed(
        &mut self,
        gid: &str,
        gst: GroupState,
        full: bool,
        resolved: &[Fingerprint],
        now: Timestamp,
        batch: &mut KvBatch,
    ) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        g.st = gst;
        if full {
            for fp in resolved {
                g.alerts.remove(fp);
            }
            for fp in resolved {
                if let Some(m) = self.member_of.get_mut(fp) {
                    m.retain(|x| x != gid);
                    if m.is_empty() {
                        self.member_of.remove(fp);
                        self.orphans.push(*fp);
                    }
                }
            }
        }
        if g.alerts.is_empty() {
            batch.delete(NS_GROUPS, gid.as_bytes().to_vec());
            g.empty_since.get_or_insert(now);
            g.st.first_notified_at = None;
            g.st.tiers_notified.clear();
            self.schedule.insert((g.st.next_flush, gid.to_string()));
        } else {
            batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&g.st));
            self.schedule.insert((g.st.next_flush, gid.to_string()));
        }
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
        for node in rt.tree.match_labels(&a.labels) {
            let placed = st.groups.place(node, a, now, restored, batch);
            if placed.dropped {
                st.escalation.forget(&placed.gid);
            }
            if placed.added && node.opts.escalation.is_some() {
                st.escalation.watch(placed.gid);
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
                st.groups.reschedule(gid, next);
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
            if st.mute.mutes(&self.silences, &sa.alert.labels, now) {
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
                for (i, tier) in tiers.iter().enumerate() {
                    if tier.immediate() {
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
                        let q = st.queue.enqueue(gid, r, integ.index, n, now, batch);
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
        st.groups
            .flushed(gid, gst, only.is_none(), &all_resolved_fps, now, batch);
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
