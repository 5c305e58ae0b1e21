//! Label sets: sorted by name, unique names, with the stable 64-bit fingerprint that Prometheus
//! and Alertmanager compute (FNV-1a over `name 0xff value 0xff` in name order), so alert
//! fingerprints equal Alertmanager's.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// One label: a name and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The label name.
    pub name: String,
    /// The label value (never empty inside [`Labels`]).
    pub value: String,
}

/// Why a label name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelsError {
    /// Label names match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}: expected [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidName(String),
}

/// A set of labels sorted by name. Labels with empty values are dropped, as in Prometheus, where
/// an empty value and a missing label are the same thing.
///
/// The labels are shared: a clone is a reference count, and a set is copied when a shared one
/// is changed ([`Labels::set`], [`Labels::remove`]); removing the first label of a shared set
/// (`__name__`, which PromQL drops from most results) copies nothing either. Series labels pass
/// through selects and operators many times per rule evaluation without being copied.
#[derive(Clone)]
pub struct Labels {
    /// The labels, of which the first `skip` are not part of this set.
    all: Arc<Vec<Label>>,
    skip: usize,
}

impl Labels {
    fn new(v: Vec<Label>) -> Self {
        Labels {
            all: Arc::new(v),
            skip: 0,
        }
    }

    fn as_slice(&self) -> &[Label] {
        &self.all[self.skip..]
    }
}

impl Default for Labels {
    fn default() -> Self {
        Labels::empty()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.as_slice()).finish()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        (Arc::ptr_eq(&self.all, &other.all) && self.skip == other.skip)
            || self.as_slice() == other.as_slice()
    }
}

impl Eq for Labels {}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

/// The stable 64-bit fingerprint of a label set, shown as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Fingerprint)
    }
}

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

fn fnv_add(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Whether `name` is a valid Prometheus label name.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        static EMPTY: OnceLock<Arc<Vec<Label>>> = OnceLock::new();
        Labels {
            all: EMPTY.get_or_init(|| Arc::new(Vec::new())).clone(),
            skip: 0,
        }
    }

    /// Builds a label set from pairs; later duplicates win, empty values are dropped.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let map: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        Labels::new(
            map.into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(name, value)| Label { name, value })
                .collect(),
        )
    }

    /// Like [`Labels::from_pairs`], but refuses invalid label names.
    pub fn try_from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, LabelsError> {
        let l = Self::from_pairs(pairs);
        let bad = l
            .iter()
            .find(|l| !is_valid_label_name(&l.name))
            .map(|bad| bad.name.clone());
        match bad {
            Some(name) => Err(LabelsError::InvalidName(name)),
            None => Ok(l),
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        let l = self.as_slice();
        l.binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| l[i].value.as_str())
    }

    /// The value of `name`, or `""` when absent (Prometheus semantics).
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Sets `name` to `value` (removes it when `value` is empty).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        let skip = self.skip;
        match self.as_slice().binary_search_by(|l| l.name.cmp(&name)) {
            Ok(i) if value.is_empty() => {
                self.remove_at(i);
            }
            Ok(i) if self.as_slice()[i].value == value => {}
            Ok(i) => Arc::make_mut(&mut self.all)[skip + i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.all).insert(skip + i, Label { name, value }),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .as_slice()
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()?;
        Some(self.remove_at(i))
    }

    /// Removes the label at `i` of the set; the first one of a shared set is hidden, not copied.
    fn remove_at(&mut self, i: usize) -> String {
        if i == 0 && Arc::get_mut(&mut self.all).is_none() {
            let value = self.all[self.skip].value.clone();
            self.skip += 1;
            return value;
        }
        let skip = self.skip;
        Arc::make_mut(&mut self.all).remove(skip + i).value
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Label> + '_ {
        self.as_slice().iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Only the named labels (`by (...)`).
    pub fn keep(&self, names: &[impl AsRef<str>]) -> Labels {
        Labels::new(
            self.iter()
                .filter(|l| names.iter().any(|n| n.as_ref() == l.name))
                .cloned()
                .collect(),
        )
    }

    /// All but the named labels (`without (...)`).
    pub fn drop_names(&self, names: &[impl AsRef<str>]) -> Labels {
        Labels::new(
            self.iter()
                .filter(|l| !names.iter().any(|n| n.as_ref() == l.name))
                .cloned()
                .collect(),
        )
    }

    /// The Prometheus/Alertmanager fingerprint of this set.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = FNV_OFFSET;
        for l in self.iter() {
            h = fnv_add(h, l.name.as_bytes());
            h = fnv_add(h, &[SEPARATOR]);
            h = fnv_add(h, l.value.as_bytes());
            h = fnv_add(h, &[SEPARATOR]);
        }
        Fingerprint(h)
    }
}

impl fmt::Display for Labels {
    /// Prometheus notation: `{a="1", b="2"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Labels {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        Labels::from_pairs(iter)
    }
}

impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for l in self.iter() {
            m.serialize_entry(&l.name, &l.value)?;
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Labels::try_from_pairs(map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Removing the first label of a shared set hides it instead of copying the set; the
    /// result behaves as a set without it everywhere (equality, order, hash, changes).
    #[test]
    fn shared_sets_copy_on_change_and_hide_a_removed_first_label() {
        use std::hash::{BuildHasher, RandomState};
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a"), ("x", "1")]);
        let mut b = a.clone();
        assert_eq!(b.remove("__name__").as_deref(), Some("up"));
        assert!(
            Arc::ptr_eq(&a.all, &b.all),
            "the first label was hidden, not copied"
        );
        let plain = Labels::from_pairs([("job", "a"), ("x", "1")]);
        assert_eq!(b, plain);
        assert_eq!(b.cmp(&plain), std::cmp::Ordering::Equal);
        let h = RandomState::new();
        assert_eq!(h.hash_one(&b), h.hash_one(&plain));
        assert_eq!(b.fingerprint(), plain.fingerprint());
        assert_eq!(b.to_string(), "{job=\"a\", x=\"1\"}");
        assert_eq!(b.get("__name__"), None);
        assert_eq!(
            (b.len(), b.iter().next().map(|l| l.name.as_str())),
            (2, Some("job"))
        );
        b.set("job", "b");
        b.set("a", "0");
        assert_eq!(
            b,
            Labels::from_pairs([("a", "0"), ("job", "b"), ("x", "1")])
        );
        assert_eq!(b.remove("x").as_deref(), Some("1"));
        assert_eq!(b, Labels::from_pairs([("a", "0"), ("job", "b")]));
        // the original is untouched
        assert_eq!(a.get("__name__"), Some("up"));
        assert_eq!(a.len(), 3);
        // a set of its own is changed in place
        let mut c = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        c.remove("__name__");
        assert_eq!((c.skip, c.all.len()), (0, 1));
        assert_eq!(
            format!("{c:?}"),
            format!("{:?}", Labels::from_pairs([("job", "a")]))
        );
    }

    #[test]
    fn fingerprint_equals_alertmanager() {
        // From tests/fixtures/alertmanager_api_v2_alerts.json.
        let l = Labels::from_pairs([
            ("alertname", "TargetDown"),
            ("instance", "host-2"),
            ("severity", "warning"),
        ]);
        assert_eq!(l.fingerprint().to_string(), "26d69826b319f5c2");
        let l = Labels::from_pairs([
            ("severity", "warning"),
            ("instance", "host-0"),
            ("alertname", "TargetDown"),
        ]);
        assert_eq!(l.fingerprint().to_string(), "4453876f76c4caec");
    }

    #[test]
    fn sorted_deduped_and_empty_values_dropped() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
        assert_eq!(l.get("c"), None);
        assert_eq!(l.get_or_empty("c"), "");
    }

    #[test]
    fn set_and_remove_keep_order() {
        let mut l = Labels::from_pairs([("b", "2")]);
        l.set("a", "1");
        l.set("c", "3");
        l.set("b", "");
        assert_eq!(l.to_string(), r#"{a="1", c="3"}"#);
        assert_eq!(l.remove("a").as_deref(), Some("1"));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn invalid_names_refused_on_deserialize() {
        let e = serde_json::from_str::<Labels>(r#"{"1a":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("invalid label name"), "{e}");
        let ok: Labels = serde_json::from_str(r#"{"b":"2","a":"1"}"#).unwrap();
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"a":"1","b":"2"}"#);
    }

    proptest! {
        #[test]
        fn fingerprint_ignores_input_order(
            pairs in proptest::collection::btree_map("[a-z_]{1,5}", "[ -~]{1,5}", 0..8)
        ) {
            let fwd = Labels::from_pairs(pairs.clone());
            let rev = Labels::from_pairs(pairs.into_iter().rev());
            prop_assert_eq!(fwd.fingerprint(), rev.fingerprint());
            prop_assert_eq!(&fwd, &rev);
        }

        #[test]
        fn keep_and_drop_partition(
            pairs in proptest::collection::btree_map("[a-d]", "[a-z]{1,3}", 0..4),
            names in proptest::collection::vec("[a-d]", 0..4)
        ) {
            let l = Labels::from_pairs(pairs);
            prop_assert_eq!(l.keep(&names).len() + l.drop_names(&names).len(), l.len());
        }
    }
}
