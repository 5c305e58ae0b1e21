//! Alertmanager's default notification texts rendered natively from a notification's data:
//! the subject `[FIRING:N] <group label values> (<other common label values>)`, the link back to
//! alertd, the plain-text alert list, and alertd's Slack body (labels, annotations, runbook link)
//! and severity colour. Custom Go templates are not supported (the config validation says so).

use std::fmt::Write;

use crate::payload::{Notification, NotifiedAlert};

/// Whether a configured template string is absent or one of Alertmanager's default template
/// references (`{{ template "slack.default.title" . }}`), which alertd renders natively.
pub fn is_default_ref(s: Option<&str>) -> bool {
    let Some(s) = s else { return true };
    let t = s.trim();
    t.starts_with("{{") && t.ends_with("}}") && {
        let inner = t[2..t.len() - 2]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        inner.starts_with("template \"") && inner.contains(".default.") && inner.ends_with(" .")
    }
}

/// The configured text when it is plain text; `None` when unset or a default reference.
pub fn literal(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !is_default_ref(Some(s)))
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Alertmanager's `__subject`: `[FIRING:2] DiskFull (warning)` or `[RESOLVED] DiskFull `.
pub fn subject(n: &Notification) -> String {
    let mut s = String::from("[");
    s.push_str(&n.status.to_uppercase());
    if n.status == "firing" {
        // Alerts cut from a storm summary are firing ones.
        let _ = write!(s, ":{}", n.firing().count() as u64 + n.truncated_alerts);
    }
    s.push_str("] ");
    let vals: Vec<&str> = n.group_labels.iter().map(|l| l.value.as_str()).collect();
    s.push_str(&vals.join(" "));
    s.push(' ');
    if n.common_labels.len() > n.group_labels.len() {
        let rest: Vec<&str> = n
            .common_labels
            .iter()
            .filter(|l| n.group_labels.get(&l.name).is_none())
            .map(|l| l.value.as_str())
            .collect();
        let _ = write!(s, "({})", rest.join(" "));
    }
    s
}

/// Alertmanager's `__alertmanagerURL`: the alert list filtered to the receiver.
pub fn alertmanager_url(n: &Notification) -> String {
    format!(
        "{}/#/alerts?receiver={}",
        n.external_url,
        query_escape(&n.receiver)
    )
}

/// Alertmanager's `__text_alert_list` for some alerts.
pub fn text_alert_list<'a>(alerts: impl Iterator<Item = &'a NotifiedAlert>) -> String {
    let mut s = String::new();
    for a in alerts {
        s.push_str("Labels:\n");
        for l in a.labels.iter() {
            let _ = writeln!(s, " - {} = {}", l.name, l.value);
        }
        s.push_str("Annotations:\n");
        for l in a.annotations.iter() {
            let _ = writeln!(s, " - {} = {}", l.name, l.value);
        }
        let _ = writeln!(s, "Source: {}", a.generator_url);
    }
    s
}

/// The plain-text email body: Alertmanager's `email.default.text` layout.
pub fn email_text(n: &Notification) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", subject(n).trim_end());
    let _ = writeln!(s, "View in alertd: {}\n", alertmanager_url(n));
    let firing: Vec<&NotifiedAlert> = n.firing().collect();
    if !firing.is_empty() {
        let _ = writeln!(s, "[{}] Firing\n", firing.len());
        s.push_str(&text_alert_list(firing.into_iter()));
        s.push('\n');
    }
    let resolved: Vec<&NotifiedAlert> = n.resolved().collect();
    if !resolved.is_empty() {
        let _ = writeln!(s, "[{}] Resolved\n", resolved.len());
        s.push_str(&text_alert_list(resolved.into_iter()));
    }
    s
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML email body (a compact version of Alertmanager's `email.default.html`).
pub fn email_html(n: &Notification) -> String {
    let mut s = String::new();
    let colour = if n.status == "firing" {
        "#E6522C"
    } else {
        "#68B90F"
    };
    let _ = write!(
        s,
        "<!DOCTYPE html><html><head><meta charset=\"UTF-8\"><title>{}</title></head><body>\
         <table width=\"100%\"><tr><td style=\"background-color:{colour};color:#fff;padding:10px\">\
         {} </td></tr>",
        html_escape(&subject(n)),
        html_escape(&format!(
            "{} {} for {}",
            n.alerts.len(),
            if n.alerts.len() == 1 {
                "alert"
            } else {
                "alerts"
            },
            n.group_labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(" ")
        ))
    );
    let _ = write!(
        s,
        "<tr><td><a href=\"{}\">View in alertd</a></td></tr>",
        html_escape(&alertmanager_url(n))
    );
    for (title, list) in [
        ("Firing", n.firing().collect::<Vec<_>>()),
        ("Resolved", n.resolved().collect::<Vec<_>>()),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "<tr><td><strong>[{}] {title}</strong></td></tr>",
            list.len()
        );
        for a in list {
            s.push_str("<tr><td><strong>Labels</strong><br />");
            for l in a.labels.iter() {
                let _ = write!(
                    s,
                    "{} = {}<br />",
                    html_escape(&l.name),
                    html_escape(&l.value)
                );
            }
            if !a.annotations.is_empty() {
                s.push_str("<strong>Annotations</strong><br />");
                for l in a.annotations.iter() {
                    let _ = write!(
                        s,
                        "{} = {}<br />",
                        html_escape(&l.name),
                        html_escape(&l.value)
                    );
                }
            }
            let _ = write!(
                s,
                "<a href=\"{}\">Source</a><br /></td></tr>",
                html_escape(&a.generator_url)
            );
        }
    }
    s.push_str("</table></body></html>");
    s
}

/// Slack attachment colour by status and severity: resolved `good`; firing `danger` for
/// critical/error/page (and unknown), `warning` for warning, blue for info.
pub fn slack_color(n: &Notification) -> String {
    if n.status != "firing" {
        return "good".into();
    }
    let sev = n
        .firing()
        .map(|a| a.labels.get_or_empty("severity").to_ascii_lowercase())
        .max_by_key(|s| match s.as_str() {
            "critical" | "error" | "page" => 3,
            "warning" => 2,
            "info" | "none" => 1,
            _ => 3,
        })
        .unwrap_or_default();
    match sev.as_str() {
        "warning" => "warning".into(),
        "info" | "none" => "#439FE0".into(),
        _ => "danger".into(),
    }
}

/// alertd's default Slack text: for each alert its summary, severity, description, runbook link
/// and labels.
pub fn slack_text(n: &Notification) -> String {
    let mut s = String::new();
    for a in &n.alerts {
        let title = a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("title"))
            .unwrap_or_else(|| a.labels.get_or_empty("alertname"));
        let _ = write!(s, "*Alert:* {title}");
        if let Some(sev) = a.labels.get("severity") {
            let _ = write!(s, " - `{sev}`");
        }
        if !a.is_firing() {
            s.push_str(" (resolved)");
        }
        s.push('\n');
        if let Some(d) = a.annotations.get("description") {
            let _ = writeln!(s, "*Description:* {d}");
        }
        if let Some(r) = a
            .annotations
            .get("runbook_url")
            .or_else(|| a.annotations.get("runbook"))
        {
            let _ = writeln!(s, "*Runbook:* <{r}|:spiral_note_pad:>");
        }
        s.push_str("*Details:*\n");
        for l in a.labels.iter() {
            let _ = writeln!(s, "  • *{}:* `{}`", l.name, l.value);
        }
    }
    if n.truncated_alerts > 0 {
        let _ = writeln!(s, "_{} more alerts firing_", n.truncated_alerts);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    fn note(status: &[&str]) -> Notification {
        let alerts = status
            .iter()
            .enumerate()
            .map(|(i, st)| NotifiedAlert {
                status: st.to_string(),
                labels: Labels::from_pairs([
                    ("alertname", "DiskFull".to_string()),
                    ("instance", format!("host-{i}")),
                    ("severity", "warning".to_string()),
                ]),
                annotations: Labels::from_pairs([
                    ("summary", "Disk almost full"),
                    ("runbook_url", "https://runbooks/disk"),
                ]),
                starts_at: String::new(),
                ends_at: String::new(),
                generator_url: "http://gen".into(),
                fingerprint: String::new(),
            })
            .collect();
        Notification::new(
            "team a",
            "{}:{}",
            Labels::from_pairs([("alertname", "DiskFull")]),
            alerts,
            "http://alertd",
        )
    }

    #[test]
    fn subject_matches_alertmanager_default() {
        assert_eq!(
            subject(&note(&["firing", "firing", "resolved"])),
            "[FIRING:2] DiskFull (warning)"
        );
        assert_eq!(
            subject(&note(&["resolved"])),
            "[RESOLVED] DiskFull (host-0 warning)"
        );
        assert_eq!(
            alertmanager_url(&note(&["firing"])),
            "http://alertd/#/alerts?receiver=team+a"
        );
    }

    #[test]
    fn texts_carry_labels_annotations_runbook_and_colour() {
        let n = note(&["firing"]);
        let t = slack_text(&n);
        assert!(t.contains("*Alert:* Disk almost full - `warning`"), "{t}");
        assert!(t.contains("<https://runbooks/disk|:spiral_note_pad:>"));
        assert!(t.contains("*instance:* `host-0`"));
        assert_eq!(slack_color(&n), "warning");
        assert_eq!(slack_color(&note(&["resolved"])), "good");
        let e = email_text(&n);
        assert!(e.contains("Labels:\n - alertname = DiskFull\n"), "{e}");
        assert!(e.contains("Source: http://gen"));
        let h = email_html(&n);
        assert!(h.contains("[FIRING:1] DiskFull"));
        assert!(h.contains("runbook_url = https://runbooks/disk"));
        assert!(is_default_ref(Some(
            r#"{{ template "slack.default.title" . }}"#
        )));
        assert!(!is_default_ref(Some("{{ .CommonLabels.x }}")));
        assert_eq!(literal(Some("plain")), Some("plain"));
    }
}
