//! `/runbooks`: the runbooks of the default rule pack (docs/runbooks.md, compiled in) as one
//! HTML page. Headings carry GitHub's anchors (lower case, spaces as `-`, punctuation dropped),
//! so a rule's `runbook_url: "{{ $externalURL }}/runbooks#probedown"` lands on its section here,
//! and the same fragment works on the file in the repository.

use std::sync::LazyLock;

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

use super::render::{escape, CSS};

/// The Markdown source.
const SOURCE: &str = include_str!("../../../docs/runbooks.md");

/// The page, rendered once.
pub(crate) static PAGE: LazyLock<String> = LazyLock::new(|| render(SOURCE));

/// GitHub's anchor of a heading's text.
pub(crate) fn anchor(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The Markdown `source` as a whole HTML document, headings with ids.
fn render(source: &str) -> String {
    let events: Vec<Event<'_>> = Parser::new_ext(source, Options::ENABLE_TABLES).collect();
    // A heading's id is the anchor of its text, known only at its end: fill it in afterwards.
    let mut out = Vec::with_capacity(events.len());
    let mut open: Option<(usize, String)> = None;
    for e in events {
        match &e {
            Event::Start(Tag::Heading { .. }) => open = Some((out.len(), String::new())),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, text)) = &mut open {
                    text.push_str(t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((at, text)) = open.take() {
                    if let Event::Start(Tag::Heading { id, .. }) = &mut out[at] {
                        *id = Some(CowStr::from(anchor(&text)));
                    }
                }
            }
            _ => {}
        }
        out.push(e);
    }
    let title = source
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .unwrap_or("Runbooks");
    let mut doc = String::with_capacity(source.len() * 2);
    doc.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>",
    );
    doc.push_str(&escape(title));
    doc.push_str("</title><style>");
    doc.push_str(CSS);
    doc.push_str("</style></head><body><main class=\"runbooks\">");
    html::push_html(&mut doc, out.into_iter());
    doc.push_str("</main></body></html>");
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github() {
        assert_eq!(anchor("ProbeDown"), "probedown");
        assert_eq!(anchor("TLS certificates"), "tls-certificates");
        assert_eq!(anchor("alertd itself"), "alertd-itself");
    }

    /// Every alert of the default rule pack links to a section that exists.
    #[test]
    fn every_default_rule_has_its_section() {
        let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        let mut linked = 0;
        for entry in std::fs::read_dir(&rules).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().ends_with(".rules.yml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut alert = None;
            for line in text.lines().map(str::trim) {
                if let Some(a) = line.strip_prefix("- alert: ") {
                    alert = Some(a.to_string());
                }
                if let Some(url) = line.strip_prefix("runbook_url: ") {
                    let a = alert.take().expect("runbook_url before its alert");
                    let want = format!("\"{{{{ $externalURL }}}}/runbooks#{}\"", a.to_lowercase());
                    assert_eq!(url, want, "{}", path.display());
                    let id = format!("<h3 id=\"{}\">{a}</h3>", a.to_lowercase());
                    assert!(PAGE.contains(&id), "no section {id} for {}", path.display());
                    linked += 1;
                }
            }
            assert!(
                alert.is_none(),
                "{}: {alert:?} has no runbook_url",
                path.display()
            );
        }
        assert!(linked >= 30, "only {linked} rules link a runbook");
    }

    #[test]
    fn the_page_is_one_document_with_the_source_escaped() {
        let page = render("# T <x>\n\n## A b\n\ntext & `code`\n");
        assert!(page.starts_with("<!doctype html>"), "{page}");
        assert!(page.contains("<title>T &lt;x&gt;</title>"), "{page}");
        assert!(page.contains("<h2 id=\"a-b\">A b</h2>"), "{page}");
        assert!(page.contains("text &amp; <code>code</code>"), "{page}");
        assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
    }
}
