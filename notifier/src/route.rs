//! The routing tree: which routes (and so receivers and grouping options) an alert goes to, and
//! the group keys Alertmanager computes (`<route key>:<group labels>`).

use model::{Duration, Labels, Matcher};

use crate::config::{Route, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL};

/// How a route groups alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `['...']`: every label.
    All,
    /// These label names.
    Labels(Vec<String>),
}

/// A route's effective options (after inheritance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOpts {
    /// The receiver (used when there is no escalation policy).
    pub receiver: String,
    /// Grouping.
    pub group_by: GroupBy,
    /// Wait before a new group's first notification.
    pub group_wait: Duration,
    /// Wait between notifications about a changed group.
    pub group_interval: Duration,
    /// Wait before repeating an unchanged notification.
    pub repeat_interval: Duration,
    /// Time intervals muting this route.
    pub mute_time_intervals: Vec<String>,
    /// Time intervals outside of which this route is muted.
    pub active_time_intervals: Vec<String>,
    /// Escalation policy, if any (inherited unless the route names its own receiver).
    pub escalation: Option<String>,
}

/// One node of the compiled routing tree.
#[derive(Debug, Clone)]
pub struct RouteNode {
    /// Index in depth-first order (the root is 0): a stable id while the config is unchanged.
    pub index: usize,
    /// Alertmanager's route key (`{}/{service="db"}`).
    pub key: String,
    /// Own matchers, sorted as Alertmanager sorts them.
    pub matchers: Vec<Matcher>,
    /// Whether matching goes on with the next sibling.
    pub continue_: bool,
    /// Effective options.
    pub opts: RouteOpts,
    /// Children.
    pub routes: Vec<RouteNode>,
}

fn matchers_string(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(","))
}

impl RouteNode {
    /// Compiles the tree from the config's root route (unset options take Alertmanager's defaults).
    pub fn new(root: &Route) -> RouteNode {
        let defaults = RouteOpts {
            receiver: String::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            escalation: None,
        };
        let mut next = 0;
        Self::build(root, &defaults, None, &mut next)
    }

    fn build(r: &Route, parent: &RouteOpts, parent_key: Option<&str>, next: &mut usize) -> Self {
        let index = *next;
        *next += 1;
        let matchers = r.all_matchers();
        let key = match parent_key {
            Some(p) => format!("{p}/{}", matchers_string(&matchers)),
            None => matchers_string(&matchers),
        };
        let opts = RouteOpts {
            receiver: r
                .receiver
                .clone()
                .unwrap_or_else(|| parent.receiver.clone()),
            group_by: match &r.group_by {
                // Alertmanager 0.25: an empty list is unset, and inherits.
                None => parent.group_by.clone(),
                Some(g) if g.is_empty() => parent.group_by.clone(),
                Some(g) if g.iter().any(|l| l == "...") => GroupBy::All,
                Some(g) => {
                    let mut g = g.clone();
                    g.sort();
                    g.dedup();
                    GroupBy::Labels(g)
                }
            },
            group_wait: r.group_wait.unwrap_or(parent.group_wait),
            group_interval: r.group_interval.unwrap_or(parent.group_interval),
            repeat_interval: r.repeat_interval.unwrap_or(parent.repeat_interval),
            mute_time_intervals: r.mute_time_intervals.clone(),
            active_time_intervals: r.active_time_intervals.clone(),
            escalation: match (&r.escalation, &r.receiver) {
                (Some(e), _) => Some(e.clone()),
                (None, Some(_)) => None,
                (None, None) => parent.escalation.clone(),
            },
        };
        let routes = r
            .routes
            .iter()
            .map(|c| Self::build(c, &opts, Some(&key), next))
            .collect();
        RouteNode {
            index,
            key,
            matchers,
            continue_: r.continue_,
            opts,
            routes,
        }
    }

    /// The routes `labels` go to (Alertmanager's `Route.Match`): the deepest matching routes,
    /// going on past a match only where `continue` is set; the node itself when no child matches.
    pub fn match_labels(&self, labels: &Labels) -> Vec<&RouteNode> {
        if !self.matchers.iter().all(|m| m.matches(labels)) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for c in &self.routes {
            let m = c.match_labels(labels);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !c.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// The labels of `labels` this route groups by.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.opts.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels.keep(names),
        }
    }

    /// Alertmanager's group key for an alert with `labels` on this route.
    pub fn group_key(&self, labels: &Labels) -> String {
        format!("{}:{}", self.key, self.group_labels(labels))
    }

    /// Every node, depth first (root first).
    pub fn walk(&self) -> Vec<&RouteNode> {
        let mut out = vec![self];
        for c in &self.routes {
            out.extend(c.walk());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifierConfig;

    fn tree(yaml: &str) -> RouteNode {
        let c = NotifierConfig::from_yaml(yaml).unwrap();
        RouteNode::new(&c.route)
    }
    fn recv(t: &RouteNode, pairs: &[(&str, &str)]) -> Vec<String> {
        t.match_labels(&Labels::from_pairs(pairs.iter().copied()))
            .iter()
            .map(|r| r.opts.receiver.clone())
            .collect()
    }

    #[test]
    fn routes_alertmanager_doc_example() {
        let t = tree(crate::config::tests::DOC_EXAMPLE);
        assert_eq!(
            recv(&t, &[("service", "foo1"), ("severity", "critical")]),
            ["team-X-pager"]
        );
        assert_eq!(recv(&t, &[("service", "baz")]), ["team-X-mails"]);
        assert_eq!(
            recv(&t, &[("service", "files"), ("severity", "critical")]),
            ["team-Y-pager"]
        );
        assert_eq!(recv(&t, &[("service", "database")]), ["team-DB-pager"]);
        assert_eq!(
            recv(&t, &[("service", "database"), ("owner", "team-Y")]),
            ["team-Y-pager"]
        );
        // continue: true on the team-X owner route goes on to the team-Y sibling, which does not
        // match here.
        assert_eq!(
            recv(&t, &[("service", "database"), ("owner", "team-X")]),
            ["team-X-pager"]
        );
        assert_eq!(recv(&t, &[("service", "other")]), ["team-X-mails"]);
        // Inheritance of options.
        let r = t.match_labels(&Labels::from_pairs([
            ("service", "foo2"),
            ("severity", "critical"),
        ]));
        assert_eq!(r[0].opts.repeat_interval, Duration::from_secs(3 * 3600));
        assert_eq!(r[0].opts.group_wait, Duration::from_secs(30));
        assert_eq!(
            r[0].opts.group_by,
            GroupBy::Labels(vec!["alertname".into(), "cluster".into(), "service".into()])
        );
        let db = t.match_labels(&Labels::from_pairs([
            ("service", "database"),
            ("owner", "team-X"),
        ]));
        assert_eq!(
            db[0].opts.group_by,
            GroupBy::Labels(vec![
                "alertname".into(),
                "cluster".into(),
                "database".into()
            ])
        );
    }

    #[test]
    fn continue_collects_every_matching_sibling() {
        let t = tree(
            r#"
route:
  receiver: default
  routes:
    - matchers: [team="a"]
      receiver: a
      continue: true
    - matchers: [severity="critical"]
      receiver: pager
    - matchers: [team="a"]
      receiver: never
receivers: [{name: default}, {name: a}, {name: pager}, {name: never}]
"#,
        );
        assert_eq!(
            recv(&t, &[("team", "a"), ("severity", "critical")]),
            ["a", "pager"]
        );
        assert_eq!(recv(&t, &[("team", "a")]), ["a", "never"]);
        assert_eq!(recv(&t, &[("team", "b")]), ["default"]);
    }

    #[test]
    fn group_keys_are_alertmanagers() {
        // The fixture's payloads: root route grouped by alertname.
        let t =
            tree("route: { receiver: sink, group_by: [alertname] }\nreceivers: [{name: sink}]\n");
        let l = Labels::from_pairs([
            ("alertname", "DiskFull"),
            ("instance", "host-0"),
            ("severity", "warning"),
        ]);
        assert_eq!(t.group_key(&l), r#"{}:{alertname="DiskFull"}"#);
        let t = tree(crate::config::tests::DOC_EXAMPLE);
        let l = Labels::from_pairs([
            ("alertname", "X"),
            ("cluster", "c1"),
            ("service", "foo1"),
            ("severity", "critical"),
        ]);
        let r = t.match_labels(&l);
        assert_eq!(
            r[0].group_key(&l),
            r#"{}/{service=~"foo1|foo2|baz"}/{severity="critical"}:{alertname="X", cluster="c1", service="foo1"}"#
        );
        let all = tree("route: { receiver: s, group_by: ['...'] }\nreceivers: [{name: s}]\n");
        assert_eq!(all.group_labels(&l), l);
        let none = tree("route: { receiver: s }\nreceivers: [{name: s}]\n");
        assert_eq!(none.group_key(&l), "{}:{}");
    }

    #[test]
    fn empty_group_by_inherits_and_legacy_regexes_are_anchored_in_the_key() {
        // Alertmanager 0.25: `group_by: []` is unset (the parent's grouping), and a legacy
        // `match_re` value appears in the route key as the anchored regex it compiled.
        let t = tree(
            r#"
route:
  receiver: r
  group_by: [alertname]
  routes:
    - match_re: { team: 'fr.*' }
      group_by: []
receivers: [{name: r}]
"#,
        );
        let l = Labels::from_pairs([("alertname", "W"), ("team", "front")]);
        let r = t.match_labels(&l);
        assert_eq!(
            r[0].opts.group_by,
            GroupBy::Labels(vec!["alertname".into()])
        );
        assert_eq!(
            r[0].group_key(&l),
            r#"{}/{team=~"^(?:fr.*)$"}:{alertname="W"}"#
        );
        assert!(t
            .match_labels(&Labels::from_pairs([("team", "back")]))
            .iter()
            .all(|n| n.index == 0));
    }

    #[test]
    fn escalation_is_inherited_until_a_route_names_a_receiver() {
        let t = tree(
            r#"
route:
  receiver: r
  routes:
    - matchers: [a="1"]
      escalation: oncall
      routes:
        - matchers: [b="1"]
        - matchers: [b="2"]
          receiver: r
receivers: [{name: r}]
escalations: [{ name: oncall, tiers: [{ after: 0s, receivers: [r] }] }]
"#,
        );
        let e = |p: &[(&str, &str)]| {
            t.match_labels(&Labels::from_pairs(p.iter().copied()))[0]
                .opts
                .escalation
                .clone()
        };
        assert_eq!(e(&[("a", "1"), ("b", "1")]).as_deref(), Some("oncall"));
        assert_eq!(e(&[("a", "1"), ("b", "2")]), None);
        assert_eq!(e(&[("a", "2")]), None);
        assert_eq!(t.walk().len(), 4);
    }
}
