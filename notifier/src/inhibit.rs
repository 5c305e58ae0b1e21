//! Inhibition (Alertmanager's semantics): an alert matching a rule's target matchers is muted
//! while an alert matching its source matchers fires with the same values for the `equal`
//! labels (a missing label equals a missing label). An alert matching both sides is not
//! inhibited by an alert that also matches both sides.

use std::collections::HashMap;

use model::{Alert, Fingerprint, Labels, Matcher, Timestamp};

use crate::config::InhibitRule;

/// Source alerts of one rule with the same `equal` values: labels and end.
type SourceSet = HashMap<Fingerprint, (Labels, Option<Timestamp>)>;

#[derive(Debug)]
struct Rule {
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
    /// Source alerts by the values of their `equal` labels.
    sources: HashMap<Vec<String>, SourceSet>,
}

/// The inhibitor: fed every alert the notifier holds, asked whether labels are muted.
#[derive(Debug, Default)]
pub struct Inhibitor {
    rules: Vec<Rule>,
}

fn matches_all(ms: &[Matcher], l: &Labels) -> bool {
    ms.iter().all(|m| m.matches(l))
}

impl Inhibitor {
    /// An inhibitor for these rules, with no alerts yet.
    pub fn new(rules: &[InhibitRule]) -> Self {
        Inhibitor {
            rules: rules
                .iter()
                .map(|r| Rule {
                    source: r.all_source_matchers(),
                    target: r.all_target_matchers(),
                    equal: r.equal.clone(),
                    sources: HashMap::new(),
                })
                .collect(),
        }
    }

    /// Records (or updates) an alert as a possible source.
    pub fn observe(&mut self, a: &Alert) {
        let fp = a.fingerprint();
        for r in &mut self.rules {
            if matches_all(&r.source, &a.labels) {
                let key: Vec<String> = r
                    .equal
                    .iter()
                    .map(|n| a.labels.get_or_empty(n).to_string())
                    .collect();
                r.sources
                    .entry(key)
                    .or_default()
                    .insert(fp, (a.labels.clone(), a.ends_at));
            }
        }
    }

    /// Forgets an alert (deleted from the notifier).
    pub fn forget(&mut self, a: &Alert) {
        let fp = a.fingerprint();
        for r in &mut self.rules {
            let key: Vec<String> = r
                .equal
                .iter()
                .map(|n| a.labels.get_or_empty(n).to_string())
                .collect();
            if let Some(m) = r.sources.get_mut(&key) {
                m.remove(&fp);
                if m.is_empty() {
                    r.sources.remove(&key);
                }
            }
        }
    }

    /// The fingerprint of an alert inhibiting `labels` at `now`, if any.
    pub fn inhibited_by(&self, labels: &Labels, now: Timestamp) -> Option<Fingerprint> {
        let own = labels.fingerprint();
        for r in &self.rules {
            if !matches_all(&r.target, labels) {
                continue;
            }
            let exclude_two_sided = matches_all(&r.source, labels);
            let key: Vec<String> = r
                .equal
                .iter()
                .map(|n| labels.get_or_empty(n).to_string())
                .collect();
            let Some(cands) = r.sources.get(&key) else {
                continue;
            };
            for (fp, (sl, ends)) in cands {
                if *fp == own || ends.is_some_and(|e| e <= now) {
                    continue;
                }
                if exclude_two_sided && matches_all(&r.target, sl) {
                    continue;
                }
                return Some(*fp);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifierConfig;

    fn alert(pairs: &[(&str, &str)], ends: Option<Timestamp>) -> Alert {
        Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::empty(),
            starts_at: 0,
            ends_at: ends,
            generator_url: String::new(),
        }
    }

    #[test]
    fn alertmanager_doc_rule_critical_inhibits_warning_with_equal_labels() {
        let c = NotifierConfig::from_yaml(crate::config::tests::DOC_EXAMPLE).unwrap();
        let mut ih = Inhibitor::new(&c.inhibit_rules);
        let crit = alert(
            &[
                ("alertname", "Down"),
                ("cluster", "c1"),
                ("service", "api"),
                ("severity", "critical"),
            ],
            None,
        );
        ih.observe(&crit);
        let warn = Labels::from_pairs([
            ("alertname", "Down"),
            ("cluster", "c1"),
            ("service", "api"),
            ("severity", "warning"),
        ]);
        assert_eq!(ih.inhibited_by(&warn, 10), Some(crit.fingerprint()));
        // A different `equal` value is not inhibited.
        let other = Labels::from_pairs([
            ("alertname", "Down"),
            ("cluster", "c2"),
            ("service", "api"),
            ("severity", "warning"),
        ]);
        assert_eq!(ih.inhibited_by(&other, 10), None);
        // The source itself is not a target.
        assert_eq!(ih.inhibited_by(&crit.labels, 10), None);
        // Once the source resolves, nothing is inhibited.
        ih.observe(&alert(
            &[
                ("alertname", "Down"),
                ("cluster", "c1"),
                ("service", "api"),
                ("severity", "critical"),
            ],
            Some(5),
        ));
        assert_eq!(ih.inhibited_by(&warn, 10), None);
        assert!(ih.inhibited_by(&warn, 4).is_some());
        ih.forget(&crit);
        assert_eq!(ih.inhibited_by(&warn, 4), None);
    }

    #[test]
    fn legacy_forms_missing_labels_and_two_sided_rules() {
        let c = NotifierConfig::from_yaml(
            r#"
route: { receiver: r }
receivers: [{ name: r }]
inhibit_rules:
  - source_match: { alertname: NodeDown }
    target_match_re: { alertname: ".+" }
    equal: [instance, zone]
"#,
        )
        .unwrap();
        let mut ih = Inhibitor::new(&c.inhibit_rules);
        let a = alert(&[("alertname", "NodeDown"), ("instance", "h1")], None);
        ih.observe(&a);
        // `zone` missing on both sides counts as equal.
        let t = Labels::from_pairs([("alertname", "DiskFull"), ("instance", "h1")]);
        assert!(ih.inhibited_by(&t, 0).is_some());
        let t2 = Labels::from_pairs([("alertname", "DiskFull"), ("instance", "h1"), ("zone", "a")]);
        assert!(ih.inhibited_by(&t2, 0).is_none());
        // Two NodeDown alerts match both sides: neither inhibits the other.
        let b = alert(
            &[("alertname", "NodeDown"), ("instance", "h1"), ("job", "x")],
            None,
        );
        ih.observe(&b);
        assert!(ih.inhibited_by(&b.labels, 0).is_none());
        assert!(ih.inhibited_by(&a.labels, 0).is_none());
    }
}
