//! On-call overrides added through the API: kept in memory and in the KV store's
//! `notifier.oncall_overrides` area (each write durable before the call returns), applied after
//! the configuration's own overrides.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use model::api::oncall::{OnCallOverride, OverrideRequest};
use model::api::{api_time, parse_time};
use model::storage::{KvBatch, KvStore, StorageError};
use model::Timestamp;

use super::Cover;

const NS: &str = "notifier.oncall_overrides";

/// At most this many overrides are held (overrides that have ended are dropped when one is
/// added).
pub const MAX_OVERRIDES: usize = 1000;

/// Why an override operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    /// The request is malformed or names an unknown schedule or member.
    #[error("{0}")]
    Invalid(String),
    /// No override has this id.
    #[error("no override {0:?}")]
    NotFound(String),
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored override could not be decoded.
    #[error("corrupt stored on-call override: {0}")]
    Corrupt(String),
}

/// An override with its times parsed.
#[derive(Debug, Clone)]
struct Entry {
    wire: OnCallOverride,
    start: Timestamp,
    end: Timestamp,
}

/// The API's overrides, by id.
pub struct OverrideStore {
    kv: Arc<dyn KvStore>,
    by_id: Mutex<BTreeMap<String, Entry>>,
}

impl std::fmt::Debug for OverrideStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverrideStore").finish_non_exhaustive()
    }
}

fn entry(wire: OnCallOverride) -> Result<Entry, OverrideError> {
    let t = |s: &str, what: &str| {
        parse_time(s)
            .map_err(|e| OverrideError::Invalid(e.0))?
            .ok_or_else(|| OverrideError::Invalid(format!("{what} is required")))
    };
    let start = t(&wire.start, "start")?;
    let end = t(&wire.end, "end")?;
    if end <= start {
        return Err(OverrideError::Invalid("end must be after start".into()));
    }
    Ok(Entry { wire, start, end })
}

impl OverrideStore {
    /// Loads the stored overrides.
    pub fn open(kv: Arc<dyn KvStore>) -> Result<Self, OverrideError> {
        let mut by_id = BTreeMap::new();
        for (_, v) in kv.scan_prefix(NS, b"")? {
            let w: OnCallOverride =
                serde_json::from_slice(&v).map_err(|e| OverrideError::Corrupt(e.to_string()))?;
            let e = entry(w).map_err(|e| OverrideError::Corrupt(e.to_string()))?;
            by_id.insert(e.wire.id.clone(), e);
        }
        Ok(OverrideStore {
            kv,
            by_id: Mutex::new(by_id),
        })
    }

    /// Adds an override once `check(schedule, member)` accepts it; durable when it returns.
    pub fn add(
        &self,
        req: OverrideRequest,
        now: Timestamp,
        check: impl FnOnce(&str, &str) -> Result<(), String>,
    ) -> Result<OnCallOverride, OverrideError> {
        check(&req.schedule, &req.member).map_err(OverrideError::Invalid)?;
        let e = entry(OnCallOverride {
            id: uuid::Uuid::new_v4().to_string(),
            schedule: req.schedule,
            member: req.member,
            start: req.start,
            end: req.end,
            author: req.author,
            comment: req.comment,
            created_at: api_time(now),
        })?;
        // Stored with times normalised.
        let mut e = e;
        e.wire.start = api_time(e.start);
        e.wire.end = api_time(e.end);
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let mut batch = KvBatch::new();
        let ended: Vec<String> = by_id
            .values()
            .filter(|e| e.end <= now)
            .map(|e| e.wire.id.clone())
            .collect();
        if by_id.len() - ended.len() >= MAX_OVERRIDES {
            return Err(OverrideError::Invalid(format!(
                "too many on-call overrides (at most {MAX_OVERRIDES}); delete some first"
            )));
        }
        for id in &ended {
            batch.delete(NS, id.as_bytes().to_vec());
        }
        batch.put(
            NS,
            e.wire.id.clone().into_bytes(),
            serde_json::to_vec(&e.wire).unwrap_or_default(),
        );
        self.kv.write(batch)?;
        for id in &ended {
            by_id.remove(id);
        }
        by_id.insert(e.wire.id.clone(), e.clone());
        Ok(e.wire)
    }

    /// Deletes an override; durable when it returns.
    pub fn delete(&self, id: &str) -> Result<(), OverrideError> {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        if !by_id.contains_key(id) {
            return Err(OverrideError::NotFound(id.to_string()));
        }
        let mut batch = KvBatch::new();
        batch.delete(NS, id.as_bytes().to_vec());
        self.kv.write(batch)?;
        by_id.remove(id);
        Ok(())
    }

    /// Every override (of `schedule` if given), by start.
    pub fn list(&self, schedule: Option<&str>) -> Vec<OnCallOverride> {
        let by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<&Entry> = by_id
            .values()
            .filter(|e| schedule.is_none_or(|s| e.wire.schedule == s))
            .collect();
        v.sort_by(|a, b| (a.start, &a.wire.created_at).cmp(&(b.start, &b.wire.created_at)));
        v.into_iter().map(|e| e.wire.clone()).collect()
    }

    /// The overrides of `schedule` as the schedule applies them (oldest added first, so the
    /// newest wins).
    pub fn covers(&self, schedule: &str) -> Vec<Cover> {
        let by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<&Entry> = by_id
            .values()
            .filter(|e| e.wire.schedule == schedule)
            .collect();
        v.sort_by(|a, b| a.wire.created_at.cmp(&b.wire.created_at));
        v.into_iter()
            .map(|e| Cover {
                member: e.wire.member.clone(),
                start: e.start,
                end: e.end,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::storage::MemStorage;

    #[test]
    fn overrides_are_durable_and_checked() {
        let kv: Arc<dyn KvStore> = Arc::new(MemStorage::default());
        let s = OverrideStore::open(kv.clone()).unwrap();
        let req = |start: &str, end: &str| OverrideRequest {
            schedule: "ops".into(),
            member: "carol".into(),
            start: start.into(),
            end: end.into(),
            author: "me".into(),
            comment: String::new(),
        };
        let ok = |_: &str, _: &str| Ok(());
        let o = s
            .add(
                req("2026-03-18T12:00:00Z", "2026-03-18T18:00:00+00:00"),
                0,
                ok,
            )
            .unwrap();
        assert_eq!(o.end, "2026-03-18T18:00:00.000Z");
        assert!(matches!(
            s.add(req("2026-03-18T12:00:00Z", "2026-03-18T11:00:00Z"), 0, ok),
            Err(OverrideError::Invalid(_))
        ));
        assert!(matches!(
            s.add(req("2026-03-18T12:00:00Z", "2026-03-18T13:00:00Z"), 0, |_, _| Err(
                "unknown member".into()
            )),
            Err(OverrideError::Invalid(m)) if m == "unknown member"
        ));
        // Reopened from the store.
        let s2 = OverrideStore::open(kv.clone()).unwrap();
        assert_eq!(s2.list(None), vec![o.clone()]);
        assert_eq!(s2.covers("ops")[0].member, "carol");
        assert!(s2.covers("other").is_empty());
        s2.delete(&o.id).unwrap();
        assert!(matches!(s2.delete(&o.id), Err(OverrideError::NotFound(_))));
        assert!(OverrideStore::open(kv).unwrap().list(None).is_empty());
    }
}
