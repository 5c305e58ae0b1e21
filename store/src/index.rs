//! The in-memory series index: labels → series id, and postings (name → value → sorted ids).
//! Rebuilt from the persisted series records when the store opens.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use model::{Labels, MatchOp, Matcher};

/// Series ids in ascending order.
pub(crate) type Postings = Vec<u64>;

#[derive(Debug, Default)]
pub(crate) struct Index {
    by_labels: HashMap<Arc<Labels>, u64>,
    /// Every live id, ascending.
    all: Postings,
    postings: BTreeMap<String, BTreeMap<String, Postings>>,
}

fn insert_sorted(p: &mut Postings, id: u64) {
    if let Err(i) = p.binary_search(&id) {
        p.insert(i, id);
    }
}

fn remove_sorted(p: &mut Postings, id: u64) {
    if let Ok(i) = p.binary_search(&id) {
        p.remove(i);
    }
}

fn intersect(a: &[u64], b: &[u64]) -> Postings {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union<'a>(lists: impl Iterator<Item = &'a Postings>) -> Postings {
    let mut out: Postings = lists.flatten().copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn difference(a: &[u64], b: &[u64]) -> Postings {
    a.iter()
        .copied()
        .filter(|x| b.binary_search(x).is_err())
        .collect()
}

impl Index {
    pub(crate) fn get(&self, labels: &Labels) -> Option<u64> {
        self.by_labels.get(labels).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    pub(crate) fn insert(&mut self, labels: Arc<Labels>, id: u64) {
        for l in labels.iter() {
            let p = self
                .postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default();
            insert_sorted(p, id);
        }
        insert_sorted(&mut self.all, id);
        self.by_labels.insert(labels, id);
    }

    pub(crate) fn remove(&mut self, labels: &Labels, id: u64) {
        for l in labels.iter() {
            if let Some(values) = self.postings.get_mut(&l.name) {
                if let Some(p) = values.get_mut(&l.value) {
                    remove_sorted(p, id);
                    if p.is_empty() {
                        values.remove(&l.value);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(&l.name);
                }
            }
        }
        remove_sorted(&mut self.all, id);
        self.by_labels.remove(labels);
    }

    /// Ids of the series matching every matcher, ascending. A matcher that accepts `""` also
    /// selects series that lack the label.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Postings {
        // Most selective first: plain equality.
        let mut ordered: Vec<&Matcher> = matchers.iter().collect();
        ordered.sort_by_key(|m| match m.op {
            MatchOp::Equal if !m.value.is_empty() => 0,
            MatchOp::Regex => 1,
            _ => 2,
        });
        let mut acc: Option<Postings> = None;
        for m in ordered {
            let cur = acc.as_deref().unwrap_or(&self.all);
            let next = self.apply(m, cur);
            if next.is_empty() {
                return next;
            }
            acc = Some(next);
        }
        acc.unwrap_or_else(|| self.all.clone())
    }

    /// `within` ∩ (series matching `m`).
    fn apply(&self, m: &Matcher, within: &[u64]) -> Postings {
        let values = self.postings.get(&m.name);
        if m.op == MatchOp::Equal && !m.value.is_empty() {
            return values
                .and_then(|v| v.get(&m.value))
                .map(|p| intersect(within, p))
                .unwrap_or_default();
        }
        if m.matches_empty() {
            // Everything except the series whose value for the name is rejected.
            let rejected = values
                .map(|v| {
                    union(
                        v.iter()
                            .filter(|(val, _)| !m.matches_value(val))
                            .map(|x| x.1),
                    )
                })
                .unwrap_or_default();
            difference(within, &rejected)
        } else {
            let accepted = values
                .map(|v| {
                    union(
                        v.iter()
                            .filter(|(val, _)| m.matches_value(val))
                            .map(|x| x.1),
                    )
                })
                .unwrap_or_default();
            intersect(within, &accepted)
        }
    }

    pub(crate) fn label_names(&self) -> Vec<String> {
        self.postings.keys().cloned().collect()
    }

    pub(crate) fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .get(name)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Postings selection equals filtering every series with `Matcher::matches`.
        #[test]
        fn select_equals_brute_force(
            sets in proptest::collection::vec(
                proptest::collection::btree_map("[abc]", "[xyz]{0,2}", 0..3), 0..20),
            ms in proptest::collection::vec(("[abcd]", 0usize..4, "[xyz]{0,2}|[xyz]\\*|\\.\\*"), 0..3),
        ) {
            let mut idx = Index::default();
            let mut all = Vec::new();
            for (i, s) in sets.into_iter().enumerate() {
                let l = Labels::from_pairs(s);
                if idx.get(&l).is_none() {
                    idx.insert(Arc::new(l.clone()), i as u64);
                    all.push((i as u64, l));
                }
            }
            let ops = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::Regex, MatchOp::NotRegex];
            let matchers: Vec<Matcher> = ms
                .into_iter()
                .map(|(n, op, v)| {
                    let v = if ops[op].is_regex() { v } else { v.replace(['*', '.'], "") };
                    Matcher::new(n, ops[op], v).unwrap()
                })
                .collect();
            let want: Vec<u64> = all
                .iter()
                .filter(|(_, l)| matchers.iter().all(|m| m.matches(l)))
                .map(|(i, _)| *i)
                .collect();
            prop_assert_eq!(idx.select(&matchers), want);
            // Removing everything empties the index.
            for (i, l) in &all {
                idx.remove(l, *i);
            }
            prop_assert_eq!(idx.len(), 0);
            prop_assert!(idx.label_names().is_empty());
        }
    }
}
