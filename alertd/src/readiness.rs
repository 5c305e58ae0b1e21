//! Readiness: `/-/ready` answers 200 only once every [`Condition`] holds (docs/design.md
//! "API": the store is open, the rules are loaded and the first evaluation has run).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// One condition of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Condition {
    /// The store is open and its state recovered.
    StoreOpen,
    /// The rule files are loaded.
    RulesLoaded,
    /// The evaluator has run its first evaluation.
    FirstEvalDone,
}

impl Condition {
    /// Every condition, in the order they are normally met.
    pub(crate) const ALL: [Condition; 3] = [
        Condition::StoreOpen,
        Condition::RulesLoaded,
        Condition::FirstEvalDone,
    ];

    /// The condition's name as shown by `/-/ready`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Condition::StoreOpen => "store_open",
            Condition::RulesLoaded => "rules_loaded",
            Condition::FirstEvalDone => "first_eval_done",
        }
    }

    fn index(self) -> usize {
        match self {
            Condition::StoreOpen => 0,
            Condition::RulesLoaded => 1,
            Condition::FirstEvalDone => 2,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of conditions met so far; shared between the pipeline stages and the HTTP API.
#[derive(Debug, Default)]
pub struct Readiness {
    flags: [AtomicBool; 3],
}

impl Readiness {
    /// Nothing met yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Marks `c` as met.
    pub(crate) fn set(&self, c: Condition) {
        self.flags[c.index()].store(true, Ordering::SeqCst);
    }
    /// Marks `c` as no longer met.
    #[cfg(test)]
    pub(crate) fn clear(&self, c: Condition) {
        self.flags[c.index()].store(false, Ordering::SeqCst);
    }
    /// Whether `c` is met.
    pub(crate) fn is_set(&self, c: Condition) -> bool {
        self.flags[c.index()].load(Ordering::SeqCst)
    }
    /// The conditions not met yet.
    pub(crate) fn pending(&self) -> Vec<Condition> {
        Condition::ALL
            .into_iter()
            .filter(|c| !self.is_set(*c))
            .collect()
    }
    /// Whether every condition is met.
    #[cfg(test)]
    pub(crate) fn is_ready(&self) -> bool {
        self.pending().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_all_conditions_hold() {
        let r = Readiness::new();
        assert!(!r.is_ready());
        assert_eq!(r.pending(), Condition::ALL.to_vec());
        r.set(Condition::StoreOpen);
        r.set(Condition::FirstEvalDone);
        assert_eq!(r.pending(), vec![Condition::RulesLoaded]);
        r.set(Condition::RulesLoaded);
        assert!(r.is_ready());
        r.clear(Condition::StoreOpen);
        assert!(!r.is_ready());
        assert_eq!(Condition::FirstEvalDone.to_string(), "first_eval_done");
    }
}
