//! Alertmanager's default notification texts (titles, bodies) rendered from a group's data.

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
