//! Lints over loaded rules (`alertctl check rules --lint`): rules that load and run fine but make
//! poor alerts or conflicting series. Each finding is located at its rule like a load error.
//!
//! - `duplicate-rules` (promtool's lint, and its default): two rules of a file with the same
//!   name and the same labels write the same series.
//! - `runbook`: an alerting rule without a `runbook_url` annotation.
//! - `summary`: an alerting rule without a `summary` annotation.
//! - `min-for`: an alerting rule whose `for:` is shorter than a minimum (one bad evaluation
//!   pages someone).
//!
//! A rule can opt out of checks with a comment in the lines right above it (or at the end of
//! its first line): `# alertctl-lint: ignore min-for, runbook` (`ignore all` for every check).
//! The reason belongs in the same comment block.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use model::Duration;

use crate::rules::{RuleError, RuleKind, RuleSet};

/// One check of the linter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// Two rules of one file with the same name and labels.
    DuplicateRules,
    /// An alerting rule without `runbook_url`.
    Runbook,
    /// An alerting rule without `summary`.
    Summary,
    /// An alerting rule with `for:` below the minimum.
    MinFor,
}

impl Check {
    /// Every check, in the order findings are named.
    pub const ALL: [Check; 4] = [
        Check::DuplicateRules,
        Check::Runbook,
        Check::Summary,
        Check::MinFor,
    ];

    /// The check's name on the command line and in ignore comments.
    pub fn name(self) -> &'static str {
        match self {
            Check::DuplicateRules => "duplicate-rules",
            Check::Runbook => "runbook",
            Check::Summary => "summary",
            Check::MinFor => "min-for",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A check's name that is not one of [`Check::ALL`] (nor `all` / `none`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown lint {0:?}: expected all, none, duplicate-rules, runbook, summary or min-for")]
pub struct UnknownCheck(pub String);

/// Which checks run: parsed from a comma-separated list (`all`, `none`, or check names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks(pub BTreeSet<Check>);

impl FromStr for Checks {
    type Err = UnknownCheck;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = BTreeSet::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => set.extend(Check::ALL),
                "none" => {}
                _ => {
                    set.insert(
                        Check::ALL
                            .into_iter()
                            .find(|c| c.name() == part)
                            .ok_or_else(|| UnknownCheck(part.to_string()))?,
                    );
                }
            }
        }
        Ok(Checks(set))
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The checks that run.
    pub checks: Checks,
    /// The shortest `for:` the `min-for` check accepts.
    pub min_for: Duration,
}

impl Default for Options {
    /// promtool's default (`duplicate-rules` only), and a one-minute minimum `for:`.
    fn default() -> Self {
        Options {
            checks: Checks([Check::DuplicateRules].into()),
            min_for: Duration::from_secs(60),
        }
    }
}

/// One finding: which check, located and worded like a load error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check that found it.
    pub check: Check,
    /// Where, and what.
    pub at: RuleError,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.at, self.check)
    }
}

/// What a rule writes: its file, name and labels.
type SeriesKey<'a> = (&'a Path, &'a str, &'a BTreeMap<String, String>);

/// Lints every rule of `set`; `source` gives a file's text (for the ignore comments; a file it
/// cannot give is linted without them). Findings in file, line, column order.
pub fn lint(
    set: &RuleSet,
    opts: &Options,
    mut source: impl FnMut(&Path) -> Option<String>,
) -> Vec<Finding> {
    let mut texts: HashMap<&Path, Option<String>> = HashMap::new();
    let mut findings = Vec::new();
    // The first rule's position per series written: file, name and labels.
    let mut seen: HashMap<SeriesKey<'_>, (u64, u64)> = HashMap::new();
    for g in &set.groups {
        let text = texts
            .entry(g.file.as_path())
            .or_insert_with(|| source(&g.file));
        for (i, r) in g.rules.iter().enumerate() {
            let ignored = text
                .as_deref()
                .map(|t| ignored_checks(t, r.line))
                .unwrap_or_default();
            let mut found = |check: Check, message: String| {
                if opts.checks.0.contains(&check) && !ignored.contains(&check) {
                    findings.push(Finding {
                        check,
                        at: RuleError {
                            file: g.file.clone(),
                            line: r.line,
                            column: r.column,
                            group: Some(g.name.clone()),
                            rule: Some((i + 1, r.name.clone())),
                            message,
                        },
                    });
                }
            };
            match seen.entry((g.file.as_path(), r.name.as_str(), &r.labels)) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    let (l, c) = *first.get();
                    found(
                        Check::DuplicateRules,
                        format!(
                            "same name and labels as the rule at line {l}, column {c}: both \
                             write the same series"
                        ),
                    );
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((r.line, r.column));
                }
            }
            let RuleKind::Alerting {
                for_, annotations, ..
            } = &r.kind
            else {
                continue;
            };
            if !annotations.contains_key("runbook_url") {
                found(Check::Runbook, "no runbook_url annotation".into());
            }
            if !annotations.contains_key("summary") {
                found(Check::Summary, "no summary annotation".into());
            }
            if *for_ < opts.min_for {
                found(
                    Check::MinFor,
                    format!(
                        "for: {for_} is shorter than {}: a single bad evaluation notifies",
                        opts.min_for
                    ),
                );
            }
        }
    }
    findings.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.column, a.check).cmp(&(
            &b.at.file,
            b.at.line,
            b.at.column,
            b.check,
        ))
    });
    findings
}

/// The marker of an ignore comment.
const IGNORE: &str = "alertctl-lint: ignore";

/// The checks a rule starting on 1-based `line` opts out of: ignore comments in the block of
/// comment lines right above it, or at the end of the line itself.
fn ignored_checks(text: &str, line: u64) -> BTreeSet<Check> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(idx) = usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .filter(|&i| i < lines.len())
    else {
        return BTreeSet::new();
    };
    let mut comments = Vec::new();
    if let Some((_, c)) = lines[idx].split_once(" #") {
        comments.push(c);
    }
    for l in lines[..idx].iter().rev() {
        match l.trim_start().strip_prefix('#') {
            Some(c) => comments.push(c),
            None => break,
        }
    }
    let mut set = BTreeSet::new();
    for c in comments {
        let Some((_, list)) = c.split_once(IGNORE) else {
            continue;
        };
        for name in list.split([',', ' ']).map(str::trim) {
            if name == "all" {
                set.extend(Check::ALL);
            } else if let Some(check) = Check::ALL.into_iter().find(|c| c.name() == name) {
                set.insert(check);
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rule_file;

    const FILE: &str = "\
groups:
  - name: g
    rules:
      - alert: NoAnnotations
        expr: up == 0
      - alert: Good
        expr: up == 0
        for: 5m
        annotations:
          summary: down
          runbook_url: https://runbooks/good
      # A certificate's expiry does not flap.
      # alertctl-lint: ignore min-for
      - alert: Expiry
        expr: up == 0
        annotations: { summary: s, runbook_url: r }
      - alert: Short  # alertctl-lint: ignore runbook, summary
        expr: up == 0
        for: 30s
      - record: job:up
        expr: up
      - record: job:up
        expr: up
      - record: job:up
        expr: up
        labels: { a: b }
";

    fn run(checks: &str) -> Vec<String> {
        let groups = parse_rule_file(Path::new("r.yml"), FILE).unwrap();
        let set = RuleSet { groups };
        let opts = Options {
            checks: checks.parse().unwrap(),
            min_for: Duration::from_secs(60),
        };
        lint(&set, &opts, |_| Some(FILE.to_string()))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_check_finds_its_rules_and_ignore_comments_hold() {
        assert_eq!(
            run("all"),
            [
                "r.yml:4:9: group \"g\", rule 1, \"NoAnnotations\": no runbook_url annotation [runbook]",
                "r.yml:4:9: group \"g\", rule 1, \"NoAnnotations\": no summary annotation [summary]",
                "r.yml:4:9: group \"g\", rule 1, \"NoAnnotations\": for: 0s is shorter than 1m: a single bad evaluation notifies [min-for]",
                "r.yml:17:9: group \"g\", rule 4, \"Short\": for: 30s is shorter than 1m: a single bad evaluation notifies [min-for]",
                "r.yml:22:9: group \"g\", rule 6, \"job:up\": same name and labels as the rule at line 20, column 9: both write the same series [duplicate-rules]",
            ]
        );
    }

    #[test]
    fn checks_are_chosen_by_name() {
        assert_eq!(run("none"), Vec::<String>::new());
        assert_eq!(run("duplicate-rules").len(), 1);
        assert_eq!(run("runbook,min-for").len(), 3);
        assert_eq!(
            "bogus".parse::<Checks>().unwrap_err().to_string(),
            "unknown lint \"bogus\": expected all, none, duplicate-rules, runbook, summary or min-for"
        );
        assert_eq!(
            Options::default().checks,
            "duplicate-rules".parse().unwrap()
        );
    }

    #[test]
    fn a_file_without_text_is_linted_without_ignore_comments() {
        let groups = parse_rule_file(Path::new("r.yml"), FILE).unwrap();
        let set = RuleSet { groups };
        let opts = Options {
            checks: "min-for".parse().unwrap(),
            min_for: Duration::from_secs(60),
        };
        assert_eq!(lint(&set, &opts, |_| None).len(), 3);
    }
}
