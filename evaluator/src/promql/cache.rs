//! Results of subexpressions shared between the queries of one rule group evaluation.
//!
//! The rules of a group are evaluated at the same time, and they often repeat a subexpression:
//! the same selector, or the same expression compared with different thresholds (a warning and a
//! critical rule, `x / y * 100 < 10` and `x / y * 100 < 5`). An [`EvalCache`] handed to
//! [`super::instant_query_cached`] keeps the value of every vector selector, operator, function
//! call and aggregation of an expression (not the expression itself) evaluated at the query
//! time, keyed by the subexpression's text; a later query at the same time reads the value
//! instead of fetching and computing it again. A PromQL value at a time depends only on the
//! stored series the subexpression's selectors match, so a hit gives what evaluating would
//! give, as long as those series are unchanged: whoever appends to the store between queries
//! calls [`EvalCache::invalidate`] with what was appended, which drops every entry one of whose
//! selectors matches an appended series (a rule reading the series an earlier rule of the group
//! wrote sees them).

use std::collections::HashMap;

use model::{Labels, MatchOp, Matcher, Sample, Timestamp};

use super::eval::{InstantSample, QueryOptions};

/// The most instant-vector elements an [`EvalCache`] holds over all its entries; values that
/// would exceed it are not kept.
pub const MAX_CACHED_ELEMENTS: usize = 200_000;

/// A cached subexpression value.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    Scalar(f64),
    Vector(Vec<InstantSample>),
}

#[derive(Debug)]
struct Entry {
    /// The matchers of every selector in the subexpression, each with the metric name it
    /// requires (an `__name__=` matcher), if any.
    selectors: Vec<(Option<String>, Vec<Matcher>)>,
    value: Cached,
}

/// Subexpression values of queries at one time (see the module documentation). Bounded by
/// [`MAX_CACHED_ELEMENTS`]; meant to live for one group evaluation.
#[derive(Debug, Default)]
pub struct EvalCache {
    /// The query time and options the entries were evaluated with.
    at: Option<(Timestamp, QueryOptions)>,
    entries: HashMap<String, Entry>,
    elements: usize,
    hits: u64,
}

impl EvalCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops every entry that may read one of `appended`'s series (one of the entry's
    /// selectors matches its labels).
    pub fn invalidate(&mut self, appended: &[(Labels, Sample)]) {
        if self.entries.is_empty() || appended.is_empty() {
            return;
        }
        // Appends are mostly a rule's own series (`ALERTS`, `ALERTS_FOR_STATE`, a recorded
        // name): a selector requiring another name is passed over without matching.
        let mut names: Vec<&str> = Vec::new();
        for (l, _) in appended {
            let n = l.get_or_empty("__name__");
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let before = self.entries.len();
        self.entries.retain(|_, e| {
            !e.selectors.iter().any(|(name, ms)| {
                name.as_deref().is_none_or(|n| names.contains(&n))
                    && appended
                        .iter()
                        .any(|(l, _)| ms.iter().all(|m| m.matches(l)))
            })
        });
        if self.entries.len() != before {
            self.elements = self.entries.values().map(|e| e.value.len()).sum();
        }
    }

    /// How many subexpression values were read from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Prepares for a query at `t` with `opts`: entries of another time or options are dropped.
    pub(crate) fn begin(&mut self, t: Timestamp, opts: QueryOptions) {
        if self.at != Some((t, opts)) {
            self.entries.clear();
            self.elements = 0;
            self.at = Some((t, opts));
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub(crate) fn get(&mut self, key: &str) -> Option<Cached> {
        let v = self.entries.get(key).map(|e| e.value.clone());
        if v.is_some() {
            self.hits += 1;
        }
        v
    }

    pub(crate) fn insert(&mut self, key: String, selectors: Vec<Vec<Matcher>>, value: Cached) {
        let n = value.len();
        if self.elements + n > MAX_CACHED_ELEMENTS {
            return;
        }
        let selectors = selectors
            .into_iter()
            .map(|ms| {
                let name = ms
                    .iter()
                    .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
                    .map(|m| m.value.clone());
                (name, ms)
            })
            .collect();
        self.elements += n;
        if let Some(old) = self.entries.insert(key, Entry { selectors, value }) {
            self.elements -= old.value.len();
        }
    }
}

impl Cached {
    fn len(&self) -> usize {
        match self {
            Cached::Scalar(_) => 1,
            Cached::Vector(v) => v.len().max(1),
        }
    }
}
