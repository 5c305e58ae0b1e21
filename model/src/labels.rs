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
/// is changed ([`Labels::set`], [`Labels::remove`]). Series labels pass through selects and
/// operators many times per rule evaluation without being copied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Arc<Vec<Label>>);

impl Default for Labels {
    fn default() -> Self {
        Labels::empty()
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
        Labels(EMPTY.get_or_init(|| Arc::new(Vec::new())).clone())
    }

    /// Builds a label set from pairs; later duplicates win, empty values are dropped.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let map: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        Labels(Arc::new(
            map.into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(name, value)| Label { name, value })
                .collect(),
        ))
    }

    /// Like [`Labels::from_pairs`], but refuses invalid label names.
    pub fn try_from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, LabelsError> {
        let l = Self::from_pairs(pairs);
        match l.0.iter().find(|l| !is_valid_label_name(&l.name)) {
            Some(bad) => Err(LabelsError::InvalidName(bad.name.clone())),
            None => Ok(l),
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The value of `name`, or `""` when absent (Prometheus semantics).
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Sets `name` to `value` (removes it when `value` is empty).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.0.binary_search_by(|l| l.name.cmp(&name)) {
            Ok(i) if value.is_empty() => {
                Arc::make_mut(&mut self.0).remove(i);
            }
            Ok(i) if self.0[i].value == value => {}
            Ok(i) => Arc::make_mut(&mut self.0)[i].value = value,
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.0).insert(i, Label { name, value }),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()?;
        Some(Arc::make_mut(&mut self.0).remove(i).value)
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Label> + '_ {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Only the named labels (`by (...)`).
    pub fn keep(&self, names: &[impl AsRef<str>]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|l| names.iter().any(|n| n.as_ref() == l.name))
                .cloned()
                .collect(),
        ))
    }

    /// All but the named labels (`without (...)`).
    pub fn drop_names(&self, names: &[impl AsRef<str>]) -> Labels {
        Labels(Arc::new(
            self.0
                .iter()
                .filter(|l| !names.iter().any(|n| n.as_ref() == l.name))
                .cloned()
                .collect(),
        ))
    }

    /// The Prometheus/Alertmanager fingerprint of this set.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = FNV_OFFSET;
        for l in self.0.iter() {
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
        for (i, l) in self.0.iter().enumerate() {
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
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for l in self.0.iter() {
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
