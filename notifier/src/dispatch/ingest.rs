//! Ingest: alerts from the evaluator and API clients enter here (validated, merged with what is
//! held, persisted) and are routed to their groups.

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredAlert {
    pub(super) alert: Alert,
    pub(super) updated_at: Timestamp,
    /// `endsAt` was set by alertd from `resolve_timeout`.
    pub(super) timeout: bool,
}

/// The ingest stage's state: every alert the notifier holds, by fingerprint (kept in the
/// store's `notifier.alerts` area until it is resolved and out of every group).
#[derive(Debug, Default)]
pub(super) struct Alerts {
    by_fp: HashMap<Fingerprint, StoredAlert>,
}

impl Alerts {
    /// The alerts as stored, in the store's order (to be [`Alerts::restore`]d and routed).
    pub(super) fn stored(kv: &dyn KvStore) -> Result<Vec<StoredAlert>, NotifierError> {
        kv.scan_prefix(NS_ALERTS, b"")?
            .iter()
            .map(|(_, v)| decode("alert", v))
            .collect()
    }

    /// Holds a stored alert again (at startup; nothing to write).
    pub(super) fn restore(&mut self, sa: StoredAlert) {
        self.by_fp.insert(sa.alert.fingerprint(), sa);
    }

    /// Holds `sa`, replacing the alert of the same fingerprint.
    fn put(&mut self, fp: Fingerprint, sa: StoredAlert, batch: &mut KvBatch) {
        batch.put(NS_ALERTS, fp_key(fp), json(&sa));
        self.by_fp.insert(fp, sa);
    }

    /// Forgets the alert `fp`; returns it if it was held.
    pub(super) fn forget(&mut self, fp: Fingerprint, batch: &mut KvBatch) -> Option<StoredAlert> {
        batch.delete(NS_ALERTS, fp_key(fp));
        self.by_fp.remove(&fp)
    }

    /// The alert `fp`.
    pub(super) fn get(&self, fp: &Fingerprint) -> Option<&StoredAlert> {
        self.by_fp.get(fp)
    }

    /// Every held alert with its fingerprint.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Fingerprint, &StoredAlert)> {
        self.by_fp.iter()
    }

    /// Every held alert.
    pub(super) fn values(&self) -> impl Iterator<Item = &StoredAlert> {
        self.by_fp.values()
    }

    /// The fingerprints of the held alerts.
    pub(super) fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        self.by_fp.keys()
    }
}

impl Notifier {
    /// Ingests alerts (from the evaluator or Alertmanager API v2 clients). An alert without
    /// `ends_at` resolves `resolve_timeout` after this update unless it is sent again; an alert
    /// with `starts_at <= 0` starts at its end, or now (Alertmanager's rules). An update of a known alert keeps the earlier start.
    /// Persisted before returning (the API's promise to Alertmanager clients): when the store
    /// cannot take it, the alerts are still routed and the error is returned.
    pub fn ingest(&self, alerts: Vec<Alert>) -> Result<(), NotifierError> {
        self.ingest_with(alerts, true)
    }

    /// Like [`Notifier::ingest`], for alerts whose source sends them again anyway (the
    /// evaluator, alertd's alerts about itself): on a full disk their state waits in memory
    /// without an error (see [`Notifier::write`]).
    pub fn ingest_eventually(&self, alerts: Vec<Alert>) -> Result<(), NotifierError> {
        self.ingest_with(alerts, false)
    }

    pub(super) fn ingest_with(
        &self,
        alerts: Vec<Alert>,
        durable: bool,
    ) -> Result<(), NotifierError> {
        let now = self.clock.now_ms();
        for a in &alerts {
            if a.labels.is_empty() {
                return Err(NotifierError::InvalidAlert("an alert needs labels".into()));
            }
            if a.ends_at
                .is_some_and(|e| a.starts_at > 0 && e < a.starts_at)
            {
                return Err(NotifierError::InvalidAlert(format!(
                    "{}: endsAt is before startsAt",
                    a.labels
                )));
            }
        }
        let mut st = self.lock();
        let rt = self.routing();
        let mut batch = KvBatch::new();
        let mut no_restore = HashMap::new();
        for mut a in alerts {
            if a.starts_at <= 0 {
                a.starts_at = a.ends_at.unwrap_or(now);
            }
            let timeout = a.ends_at.is_none();
            if timeout {
                a.ends_at = Some(now + rt.resolve_timeout.as_millis_i64());
            }
            let fp = a.fingerprint();
            if let Some(old) = st.alerts.get(&fp) {
                // Merge with the stored alert when they overlap (Alertmanager's provider).
                let old_end = old.alert.ends_at.unwrap_or(i64::MAX);
                if a.starts_at <= old_end && old.alert.starts_at < a.starts_at {
                    a.starts_at = old.alert.starts_at;
                }
            }
            let sa = StoredAlert {
                alert: a.clone(),
                updated_at: now,
                timeout,
            };
            st.mute.observe(&a);
            st.alerts.put(fp, sa, &mut batch);
            if !st.groups.is_member(&fp) {
                self.route_alert(&mut st, &a, now, &mut no_restore, &mut batch);
            }
            if a.is_resolved_at(now) {
                Self::clear_ack(&mut st, fp, &a.labels, now, &mut batch);
            }
        }
        if durable {
            self.write_durable(batch)?;
        } else {
            self.write(batch)?;
        }
        Ok(())
    }
}
