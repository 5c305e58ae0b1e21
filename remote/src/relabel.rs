//! `write_relabel_configs`: Prometheus's relabelling of a series' labels before it is sent.

use model::Labels;
use regex::Regex;

use crate::config::RelabelConfig;

/// A relabel step with its regex compiled (anchored, as Prometheus anchors it).
#[derive(Debug, Clone)]
pub(crate) struct Relabel {
    cfg: RelabelConfig,
    re: Regex,
}

impl Relabel {
    /// Compiles the steps (the config was validated: a bad regex matches nothing).
    pub(crate) fn compile(cfgs: &[RelabelConfig]) -> Vec<Relabel> {
        cfgs.iter()
            .map(|c| Relabel {
                cfg: c.clone(),
                re: Regex::new(&format!("^(?:{})$", c.regex))
                    .unwrap_or_else(|_| Regex::new("[^\\s\\S]").expect("a valid regex")),
            })
            .collect()
    }
}

/// Applies the steps in order; `None` when a step drops the series or no label is left.
pub(crate) fn process(labels: &Labels, steps: &[Relabel]) -> Option<Labels> {
    let mut l = labels.clone();
    for s in steps {
        let c = &s.cfg;
        let val = c
            .source_labels
            .iter()
            .map(|n| l.get_or_empty(n))
            .collect::<Vec<_>>()
            .join(&c.separator);
        match c.action.as_str() {
            "keep" if !s.re.is_match(&val) => return None,
            "drop" if s.re.is_match(&val) => return None,
            "keepequal" if val != l.get_or_empty(&c.target_label) => return None,
            "dropequal" if val == l.get_or_empty(&c.target_label) => return None,
            "lowercase" => l.set(c.target_label.clone(), val.to_lowercase()),
            "uppercase" => l.set(c.target_label.clone(), val.to_uppercase()),
            "replace" => {
                let Some(caps) = s.re.captures(&val) else {
                    continue;
                };
                let mut target = String::new();
                caps.expand(&c.target_label, &mut target);
                if !model::labels::is_valid_label_name(&target) {
                    continue;
                }
                let mut value = String::new();
                caps.expand(&c.replacement, &mut value);
                if value.is_empty() {
                    l.remove(&target);
                } else {
                    l.set(target, value);
                }
            }
            "labelmap" => {
                let mut out = l.clone();
                for lb in l.iter() {
                    if let Some(caps) = s.re.captures(&lb.name) {
                        let mut name = String::new();
                        caps.expand(&c.replacement, &mut name);
                        if model::labels::is_valid_label_name(&name) {
                            out.set(name, lb.value.clone());
                        }
                    }
                }
                l = out;
            }
            "labeldrop" | "labelkeep" => {
                let drop = c.action == "labeldrop";
                let names: Vec<String> = l
                    .iter()
                    .filter(|lb| s.re.is_match(&lb.name) == drop)
                    .map(|lb| lb.name.clone())
                    .collect();
                l = l.drop_names(&names);
            }
            _ => {}
        }
    }
    (!l.is_empty()).then_some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> Vec<Relabel> {
        let c: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).unwrap();
        Relabel::compile(&c)
    }

    #[test]
    fn actions_behave_as_prometheus_documents_them() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", "a:9100")]);
        let s = step("- {source_labels: [job], regex: node, action: drop}");
        assert_eq!(process(&l, &s), None);
        let s = step("- {source_labels: [job], regex: no.*, action: keep}");
        assert_eq!(process(&l, &s), Some(l.clone()));
        let s = step("- {source_labels: [job], regex: nod, action: keep}");
        assert_eq!(process(&l, &s), None, "anchored");
        let s = step(
            "- {source_labels: [instance], regex: '(.*):(\\d+)', target_label: host, replacement: '$1'}",
        );
        assert_eq!(process(&l, &s).unwrap().get("host"), Some("a"));
        let s = step("- {source_labels: [nothere], target_label: job, replacement: ''}");
        assert_eq!(process(&l, &s).unwrap().get("job"), None, "empty removes");
        let s = step("- {regex: 'inst.*', action: labeldrop}");
        assert_eq!(process(&l, &s).unwrap().get("instance"), None);
        let s = step("- {regex: '__name__|job', action: labelkeep}");
        assert_eq!(process(&l, &s).unwrap().len(), 2);
        let s = step("- {regex: '(j.*)', replacement: 'x_$1', action: labelmap}");
        assert_eq!(process(&l, &s).unwrap().get("x_job"), Some("node"));
        let s = step("- {source_labels: [job], target_label: J, action: uppercase}");
        assert_eq!(process(&l, &s).unwrap().get("J"), Some("NODE"));
    }
}
