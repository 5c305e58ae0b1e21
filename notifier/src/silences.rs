//! Silences with Alertmanager's semantics (create, update in place when allowed, otherwise
//! expire-and-replace so history is kept; expire; pending/active/expired; expired silences kept
//! for a retention period; limits on count and size), persisted through [`KvStore`] before any
//! call returns (Alertmanager only snapshots every 15 minutes).
//!
//! Muting is indexed: each silence with an equality matcher on a non-empty value is filed under
//! that (name, value), so checking an alert reads only the silences filed under its own labels
//! plus those without such a matcher — not every silence (bench/scaling.sh: 10,000 silences).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use model::storage::{KvBatch, KvStore, StorageError};
use model::{Clock, Duration, Labels, Silence, SilenceState, Timestamp};

const NS: &str = "notifier.silences";

/// Limits on silences (Alertmanager's `--silences.max-silences` and
/// `--silences.max-silence-size-bytes`); 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilenceLimits {
    /// At most this many pending or active silences.
    pub max_silences: usize,
    /// At most this many bytes per silence (JSON encoded).
    pub max_silence_size_bytes: usize,
}

impl Default for SilenceLimits {
    fn default() -> Self {
        SilenceLimits {
            max_silences: 10_000,
            max_silence_size_bytes: 64 * 1024,
        }
    }
}

/// Why a silence operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    /// No silence has this id.
    #[error("silence {0} not found")]
    NotFound(String),
    /// The silence has already expired.
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    /// The silence is malformed.
    #[error("invalid silence: {0}")]
    Invalid(String),
    /// A limit would be exceeded.
    #[error("silence limit exceeded: {0}")]
    Limit(String),
    /// Persisting failed; nothing changed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored silence could not be decoded.
    #[error("corrupt stored silence {0}: {1}")]
    Corrupt(String, String),
}

/// The silence store.
pub struct Silences {
    kv: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    limits: SilenceLimits,
    retention: Duration,
    inner: RwLock<Inner>,
}

/// The silences by id, and the index [`Silences::mutes`] reads. A silence's matchers never
/// change under its id (a change of matchers makes a new silence), so its place in the index is
/// fixed from insertion to removal.
#[derive(Default)]
struct Inner {
    map: BTreeMap<String, Silence>,
    /// name → value → ids of the silences filed under that equality matcher.
    by_eq: HashMap<String, HashMap<String, BTreeSet<String>>>,
    /// Ids of the silences without an equality matcher on a non-empty value.
    scan: BTreeSet<String>,
}

impl Inner {
    /// The equality matcher a silence is filed under: the first on a non-empty value.
    fn key(s: &Silence) -> Option<(&str, &str)> {
        s.matchers
            .iter()
            .find(|m| m.op == model::MatchOp::Equal && !m.value.is_empty())
            .map(|m| (m.name.as_str(), m.value.as_str()))
    }

    fn insert(&mut self, s: Silence) {
        if !self.map.contains_key(&s.id) {
            match Self::key(&s) {
                Some((n, v)) => {
                    self.by_eq
                        .entry(n.to_string())
                        .or_default()
                        .entry(v.to_string())
                        .or_default()
                        .insert(s.id.clone());
                }
                None => {
                    self.scan.insert(s.id.clone());
                }
            }
        }
        self.map.insert(s.id.clone(), s);
    }

    fn remove(&mut self, id: &str) {
        let Some(s) = self.map.remove(id) else { return };
        match Self::key(&s) {
            Some((n, v)) => {
                if let Some(values) = self.by_eq.get_mut(n) {
                    if let Some(ids) = values.get_mut(v) {
                        ids.remove(id);
                        if ids.is_empty() {
                            values.remove(v);
                        }
                    }
                    if values.is_empty() {
                        self.by_eq.remove(n);
                    }
                }
            }
            None => {
                self.scan.remove(id);
            }
        }
    }

    /// Ids of the silences that can match `labels`: filed under one of its labels, or unfiled.
    fn candidates<'a>(&'a self, labels: &Labels) -> BTreeSet<&'a str> {
        let mut ids: BTreeSet<&str> = self.scan.iter().map(String::as_str).collect();
        for l in labels.iter() {
            if let Some(found) = self.by_eq.get(&l.name).and_then(|v| v.get(&l.value)) {
                ids.extend(found.iter().map(String::as_str));
            }
        }
        ids
    }
}

impl std::fmt::Debug for Silences {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Silences")
            .field("limits", &self.limits)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

fn state_rank(s: SilenceState) -> u8 {
    match s {
        SilenceState::Active => 0,
        SilenceState::Pending => 1,
        SilenceState::Expired => 2,
    }
}

impl Silences {
    /// Loads the silences stored in `kv`.
    pub fn open(
        kv: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
        limits: SilenceLimits,
        retention: Duration,
    ) -> Result<Self, SilenceError> {
        let mut map = Inner::default();
        for (k, v) in kv.scan_prefix(NS, b"")? {
            let id = String::from_utf8_lossy(&k).into_owned();
            let mut s: Silence = serde_json::from_slice(&v)
                .map_err(|e| SilenceError::Corrupt(id.clone(), e.to_string()))?;
            s.id = id;
            map.insert(s);
        }
        Ok(Silences {
            kv,
            clock,
            limits,
            retention,
            inner: RwLock::new(map),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn validate(&self, s: &Silence) -> Result<(), SilenceError> {
        if s.matchers.is_empty() {
            return Err(SilenceError::Invalid(
                "at least one matcher is required".into(),
            ));
        }
        if s.matchers.iter().all(|m| m.matches_empty()) {
            return Err(SilenceError::Invalid(
                "at least one matcher must not match the empty string".into(),
            ));
        }
        if s.ends_at < s.starts_at {
            return Err(SilenceError::Invalid(
                "end time must not be before start time".into(),
            ));
        }
        if s.created_by.trim().is_empty() {
            return Err(SilenceError::Invalid("createdBy is required".into()));
        }
        if self.limits.max_silence_size_bytes > 0 {
            let n = serde_json::to_vec(s).map(|v| v.len()).unwrap_or(usize::MAX);
            if n > self.limits.max_silence_size_bytes {
                return Err(SilenceError::Limit(format!(
                    "silence is {n} bytes, the limit is {}",
                    self.limits.max_silence_size_bytes
                )));
            }
        }
        Ok(())
    }

    /// Creates a silence (empty `id`) or updates one, as Alertmanager does: the silence is changed
    /// in place when its matchers are unchanged and the new times are allowed for its state
    /// (active: same start, end not in the past; pending: start not in the past); otherwise the
    /// old silence is expired (kept in history) and a new one with a new id replaces it.
    /// Returns the id. Persisted before returning.
    pub fn set(&self, mut s: Silence) -> Result<String, SilenceError> {
        let now = self.clock.now_ms();
        let mut map = self.write();
        let prev = if s.id.is_empty() {
            None
        } else {
            Some(
                map.map
                    .get(&s.id)
                    .cloned()
                    .ok_or_else(|| SilenceError::NotFound(s.id.clone()))?,
            )
        };
        s.updated_at = now;
        self.validate(&s)?;
        let mut batch = KvBatch::new();
        let mut expired_prev = None;
        if let Some(prev) = &prev {
            if can_update(prev, &s, now) {
                put(&mut batch, &s);
                self.kv.write(batch)?;
                map.insert(s.clone());
                return Ok(s.id);
            }
            if prev.state_at(now) != SilenceState::Expired {
                let mut p = prev.clone();
                expire_at(&mut p, now);
                put(&mut batch, &p);
                expired_prev = Some(p);
            }
        }
        if s.ends_at <= now {
            return Err(SilenceError::Invalid(
                "end time can't be in the past".into(),
            ));
        }
        if self.limits.max_silences > 0 {
            let live = map
                .map
                .values()
                .filter(|x| x.state_at(now) != SilenceState::Expired)
                .count()
                - usize::from(expired_prev.is_some());
            if live >= self.limits.max_silences {
                return Err(SilenceError::Limit(format!(
                    "{live} active or pending silences, the limit is {}",
                    self.limits.max_silences
                )));
            }
        }
        s.id = uuid::Uuid::new_v4().to_string();
        if s.starts_at < now {
            s.starts_at = now;
        }
        put(&mut batch, &s);
        self.kv.write(batch)?;
        if let Some(p) = expired_prev {
            map.insert(p);
        }
        map.insert(s.clone());
        Ok(s.id)
    }

    /// Expires a silence now (a pending one moves straight to expired).
    pub fn expire(&self, id: &str) -> Result<(), SilenceError> {
        let now = self.clock.now_ms();
        let mut map = self.write();
        let mut s = map
            .map
            .get(id)
            .cloned()
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        if s.state_at(now) == SilenceState::Expired {
            return Err(SilenceError::AlreadyExpired(id.to_string()));
        }
        expire_at(&mut s, now);
        let mut batch = KvBatch::new();
        put(&mut batch, &s);
        self.kv.write(batch)?;
        map.insert(s);
        Ok(())
    }

    /// The silence with this id.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.read().map.get(id).cloned()
    }

    /// Every silence (expired ones within retention too): active first, then pending, then
    /// expired, each by end time, as Alertmanager lists them.
    pub fn list(&self) -> Vec<Silence> {
        let now = self.clock.now_ms();
        let mut v: Vec<Silence> = self.read().map.values().cloned().collect();
        v.sort_by_key(|s| (state_rank(s.state_at(now)), s.ends_at, s.id.clone()));
        v
    }

    /// Ids of the silences muting `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: Timestamp) -> Vec<String> {
        let inner = self.read();
        inner
            .candidates(labels)
            .into_iter()
            .filter_map(|id| inner.map.get(id))
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Whether any active silence exists (a cheap pre-check).
    pub fn any_active(&self, now: Timestamp) -> bool {
        self.read()
            .map
            .values()
            .any(|s| s.state_at(now) == SilenceState::Active)
    }

    /// Drops silences expired for longer than the retention; returns how many.
    pub fn gc(&self, now: Timestamp) -> Result<usize, SilenceError> {
        let mut map = self.write();
        let old: Vec<String> = map
            .map
            .values()
            .filter(|s| s.ends_at + self.retention.as_millis_i64() < now)
            .map(|s| s.id.clone())
            .collect();
        if old.is_empty() {
            return Ok(0);
        }
        let mut batch = KvBatch::new();
        for id in &old {
            batch.delete(NS, id.as_bytes().to_vec());
        }
        // Housekeeping: on a full disk the deletes wait in memory rather than fail the tick.
        self.kv.write_eventually(batch)?;
        for id in &old {
            map.remove(id);
        }
        Ok(old.len())
    }
}

fn put(batch: &mut KvBatch, s: &Silence) {
    let v = serde_json::to_vec(s).unwrap_or_default();
    batch.put(NS, s.id.as_bytes().to_vec(), v);
}

fn expire_at(s: &mut Silence, now: Timestamp) {
    match s.state_at(now) {
        SilenceState::Pending => {
            s.starts_at = now;
            s.ends_at = now;
        }
        SilenceState::Active => s.ends_at = now,
        SilenceState::Expired => {}
    }
    s.updated_at = now;
}

fn can_update(a: &Silence, b: &Silence, now: Timestamp) -> bool {
    if a.matchers != b.matchers {
        return false;
    }
    match a.state_at(now) {
        SilenceState::Active => b.starts_at == a.starts_at && b.ends_at >= now,
        SilenceState::Pending => b.starts_at >= now,
        SilenceState::Expired => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::storage::MemStorage;
    use model::FakeClock;

    const H: i64 = 3_600_000;

    fn setup() -> (Arc<MemStorage>, FakeClock, Silences) {
        let kv = Arc::new(MemStorage::new());
        let clock = FakeClock::new(1_000 * H);
        let s = Silences::open(
            kv.clone(),
            Arc::new(clock.clone()),
            SilenceLimits::default(),
            Duration::from_secs(120 * 3600),
        )
        .unwrap();
        (kv, clock, s)
    }
    fn sil(m: &str, start: Timestamp, end: Timestamp) -> Silence {
        Silence {
            id: String::new(),
            matchers: m.parse().unwrap(),
            starts_at: start,
            ends_at: end,
            updated_at: 0,
            created_by: "me".into(),
            comment: "maintenance".into(),
        }
    }

    /// The index answers what a scan of every silence answers: equality-filed, regex-only and
    /// empty-value matchers, matchers changed by an update (a new id), expired and collected
    /// silences, and after a reopen.
    #[test]
    fn indexed_muting_agrees_with_a_full_scan() {
        let (kv, clock, s) = setup();
        let now = clock.now_ms();
        let mut ids = Vec::new();
        for m in [
            r#"{instance="db1"}"#,
            r#"{instance="db1", alertname="Disk"}"#,
            r#"{alertname="Disk", instance=~"db.*"}"#,
            r#"{alertname=~"Disk|Cpu"}"#,
            r#"{team="", alertname="Cpu"}"#,
            r#"{instance=~"web.*", severity!="page"}"#,
        ] {
            ids.push(s.set(sil(m, now, now + H)).unwrap());
        }
        // A change of matchers expires the old silence and makes a new one.
        let mut changed = s.get(&ids[0]).unwrap();
        changed.matchers = r#"{instance="db2"}"#.parse().unwrap();
        let new_id = s.set(changed).unwrap();
        assert_ne!(new_id, ids[0]);
        s.expire(&ids[5]).unwrap();
        let alerts = [
            Labels::from_pairs([("alertname", "Disk"), ("instance", "db1")]),
            Labels::from_pairs([("alertname", "Disk"), ("instance", "db2")]),
            Labels::from_pairs([("alertname", "Cpu"), ("instance", "web1")]),
            Labels::from_pairs([("alertname", "Cpu"), ("job", "node")]),
            Labels::from_pairs([("alertname", "Mem"), ("instance", "web1")]),
        ];
        let scan = |s: &Silences, l: &Labels, now: Timestamp| -> Vec<String> {
            let mut v: Vec<String> = s
                .list()
                .into_iter()
                .filter(|x| x.mutes(l, now))
                .map(|x| x.id)
                .collect();
            v.sort();
            v
        };
        for l in &alerts {
            assert_eq!(s.mutes(l, now), scan(&s, l, now), "{l:?}");
        }
        let db2 = s.mutes(&alerts[1], now);
        assert!(
            db2.len() == 3 && db2.contains(&new_id),
            "instance=db2, Disk with db.*, Disk|Cpu: {db2:?}"
        );
        assert_eq!(
            s.mutes(&alerts[3], now).len(),
            2,
            "the regex-only silence and the one filed under alertname=Cpu"
        );
        let s2 = Silences::open(
            kv,
            Arc::new(clock.clone()),
            SilenceLimits::default(),
            Duration::from_secs(3600),
        )
        .unwrap();
        for l in &alerts {
            assert_eq!(s2.mutes(l, now), s.mutes(l, now), "after a reopen: {l:?}");
        }
        // Collected once expired beyond the retention: gone from the index too.
        clock.advance_ms(3 * H);
        let later = clock.now_ms();
        assert_eq!(s2.gc(later).unwrap(), 7);
        assert!(s2.read().by_eq.is_empty() && s2.read().scan.is_empty());
        for l in &alerts {
            assert!(s2.mutes(l, later).is_empty());
        }
    }

    #[test]
    fn create_mute_expire_and_survive_reopen() {
        let (kv, clock, s) = setup();
        let now = clock.now_ms();
        let id = s
            .set(sil(
                r#"{alertname="Disk", instance=~"db.*"}"#,
                now - H,
                now + H,
            ))
            .unwrap();
        let got = s.get(&id).unwrap();
        assert_eq!(got.starts_at, now, "a start in the past is moved to now");
        let l = Labels::from_pairs([("alertname", "Disk"), ("instance", "db1")]);
        assert_eq!(s.mutes(&l, now), vec![id.clone()]);
        assert!(s
            .mutes(
                &Labels::from_pairs([("alertname", "Disk"), ("instance", "web")]),
                now
            )
            .is_empty());
        // Persisted at once: a reopened store sees it.
        let s2 = Silences::open(
            kv.clone(),
            Arc::new(clock.clone()),
            SilenceLimits::default(),
            Duration::from_secs(3600),
        )
        .unwrap();
        assert_eq!(s2.get(&id).unwrap(), got);
        clock.advance_ms(1000);
        s.expire(&id).unwrap();
        assert_eq!(
            s.get(&id).unwrap().state_at(clock.now_ms()),
            SilenceState::Expired
        );
        assert!(matches!(
            s.expire(&id),
            Err(SilenceError::AlreadyExpired(_))
        ));
        assert!(matches!(s.expire("nope"), Err(SilenceError::NotFound(_))));
        let s3 = Silences::open(
            kv,
            Arc::new(clock.clone()),
            SilenceLimits::default(),
            Duration::from_secs(3600),
        )
        .unwrap();
        assert_eq!(
            s3.get(&id).unwrap().state_at(clock.now_ms()),
            SilenceState::Expired
        );
    }

    #[test]
    fn editing_keeps_history_like_alertmanager() {
        let (_kv, clock, s) = setup();
        let now = clock.now_ms();
        let id = s.set(sil(r#"alertname="A""#, now, now + H)).unwrap();
        clock.advance_ms(60_000);
        // Extending an active silence with the same matchers and start: updated in place.
        let mut e = s.get(&id).unwrap();
        e.ends_at = now + 2 * H;
        e.comment = "longer".into();
        assert_eq!(s.set(e).unwrap(), id);
        assert_eq!(s.get(&id).unwrap().ends_at, now + 2 * H);
        // Changing the matchers of an active silence: the old one expires, a new one replaces it.
        let mut e = s.get(&id).unwrap();
        e.matchers = r#"alertname="B""#.parse().unwrap();
        let id2 = s.set(e).unwrap();
        assert_ne!(id2, id);
        let t = clock.now_ms();
        assert_eq!(s.get(&id).unwrap().state_at(t), SilenceState::Expired);
        assert_eq!(s.get(&id).unwrap().ends_at, t);
        assert_eq!(s.get(&id2).unwrap().state_at(t), SilenceState::Active);
        assert_eq!(s.list().len(), 2);
        assert_eq!(s.list()[0].id, id2, "active first");
        // A pending silence may move its start, as long as it is not in the past.
        let pid = s.set(sil(r#"alertname="C""#, t + H, t + 2 * H)).unwrap();
        let mut p = s.get(&pid).unwrap();
        p.starts_at = t + 30 * 60_000;
        assert_eq!(s.set(p).unwrap(), pid);
        assert_eq!(s.get(&pid).unwrap().state_at(t), SilenceState::Pending);
        // Expiring a pending silence sets both times to now.
        s.expire(&pid).unwrap();
        let p = s.get(&pid).unwrap();
        assert_eq!((p.starts_at, p.ends_at), (t, t));
        // Editing an expired silence creates a new one.
        let mut p = s.get(&pid).unwrap();
        p.ends_at = t + H;
        let pid2 = s.set(p).unwrap();
        assert_ne!(pid2, pid);
        assert!(matches!(
            s.set(Silence {
                id: "ghost".into(),
                ..sil("a=\"1\"", t, t + H)
            }),
            Err(SilenceError::NotFound(_))
        ));
    }

    #[test]
    fn invalid_silences_and_limits() {
        let kv = Arc::new(MemStorage::new());
        let clock = FakeClock::new(1_000 * H);
        let now = clock.now_ms();
        let s = Silences::open(
            kv,
            Arc::new(clock.clone()),
            SilenceLimits {
                max_silences: 2,
                max_silence_size_bytes: 400,
            },
            Duration::from_secs(3600),
        )
        .unwrap();
        for (bad, why) in [
            (sil(r#"a=~".*""#, now, now + H), "empty string"),
            (sil(r#"a="1""#, now, now - H), "before start"),
            (sil(r#"a="1""#, now - 2 * H, now - H), "in the past"),
            (
                Silence {
                    created_by: String::new(),
                    ..sil(r#"a="1""#, now, now + H)
                },
                "createdBy",
            ),
            (
                Silence {
                    comment: "x".repeat(500),
                    ..sil(r#"a="1""#, now, now + H)
                },
                "bytes",
            ),
        ] {
            let e = s.set(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{e} should mention {why}");
        }
        let a = s.set(sil(r#"a="1""#, now, now + H)).unwrap();
        s.set(sil(r#"a="2""#, now, now + H)).unwrap();
        let e = s.set(sil(r#"a="3""#, now, now + H)).unwrap_err();
        assert!(matches!(e, SilenceError::Limit(_)), "{e}");
        // Expired ones do not count.
        s.expire(&a).unwrap();
        s.set(sil(r#"a="3""#, now, now + H)).unwrap();
    }

    #[test]
    fn expired_silences_are_kept_for_the_retention_then_dropped() {
        let (kv, clock, s) = setup();
        let now = clock.now_ms();
        let id = s.set(sil(r#"a="1""#, now, now + H)).unwrap();
        clock.advance_ms(H + 1);
        assert_eq!(s.gc(clock.now_ms()).unwrap(), 0);
        assert!(s.get(&id).is_some());
        clock.advance_ms(120 * H);
        assert_eq!(s.gc(clock.now_ms()).unwrap(), 1);
        assert!(s.get(&id).is_none());
        assert!(kv.scan_prefix(NS, b"").unwrap().is_empty());
    }
}
