//! HTML rendering of a [`Snapshot`]. Every piece of text that comes from configuration, labels,
//! probe errors or alerts goes through [`Page::text`] (or [`escape`]); literal markup can only
//! be `&'static str` ([`Page::raw`]), so a dynamic string cannot reach the page unescaped.

use std::fmt::{self, Write};

use model::Timestamp;

use super::data::{Counts, WINDOWS};
use super::svg;
use super::{AlertSource, ProbeState, Snapshot};

/// Seconds between automatic refreshes of the pages.
pub(crate) const REFRESH_SECONDS: u32 = 30;

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and double- or single-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// An HTML document being written.
#[derive(Debug, Default)]
pub(crate) struct Page(String);

/// Writes formatted text into a [`Page`], escaped.
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

impl Page {
    fn with_capacity(n: usize) -> Self {
        Page(String::with_capacity(n))
    }
    /// Literal markup.
    pub(crate) fn raw(&mut self, s: &'static str) -> &mut Self {
        self.0.push_str(s);
        self
    }
    /// Text, escaped.
    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        escape_into(&mut self.0, s);
        self
    }
    /// Formatted text, escaped.
    pub(crate) fn fmt(&mut self, args: fmt::Arguments<'_>) -> &mut Self {
        let _ = Escaped(&mut self.0).write_fmt(args);
        self
    }
    /// An SVG built by [`super::svg`] (which escapes its texts).
    fn svg(&mut self, s: &str) -> &mut Self {
        self.0.push_str(s);
        self
    }
    /// The document.
    pub(crate) fn finish(self) -> String {
        self.0
    }
}

/// A ratio as a percentage with two decimals, rounded down so that 99.999 % never shows as
/// 100 % (exactly 1 is `100%`).
pub(crate) fn percent(r: f64) -> String {
    if r >= 1.0 {
        "100%".into()
    } else {
        format!("{:.2}%", (r * 10_000.0).floor() / 100.0)
    }
}

/// `2026-11-23 07:19:03 UTC`.
pub(crate) fn utc(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// `2026-11-23`.
fn date(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// A span in words: `45 s`, `12 min`, `3 h 5 min`, `4 d 2 h`.
pub(crate) fn span(ms: i64) -> String {
    let s = ms.abs() / 1000;
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s / 60)
    } else if s < 86_400 {
        let (h, m) = (s / 3600, s % 3600 / 60);
        if m == 0 {
            format!("{h} h")
        } else {
            format!("{h} h {m} min")
        }
    } else {
        let (d, h) = (s / 86_400, s % 86_400 / 3600);
        if h == 0 {
            format!("{d} d")
        } else {
            format!("{d} d {h} h")
        }
    }
}

/// `5 min ago` or `in 5 min`, relative to `now`.
pub(crate) fn relative(now: Timestamp, t: Timestamp) -> String {
    if t <= now {
        format!("{} ago", span(now - t))
    } else {
        format!("in {}", span(t - now))
    }
}

/// Bytes with a binary unit: `512 B`, `1.5 GiB`.
pub(crate) fn bytes(b: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Seconds as a duration: `0.4 ms`, `850 ms`, `12.3 s`, `5 min`.
pub(crate) fn seconds(s: f64) -> String {
    if s < 0.01 {
        format!("{:.1} ms", s * 1000.0)
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else {
        span((s * 1000.0) as i64)
    }
}

pub(crate) const CSS: &str = "\
:root{--bg:#f6f7f9;--fg:#1d2330;--muted:#667085;--card:#fff;--line:#e3e6eb;--up:#1a7f37;\
--down:#c62828;--flap:#b45309;--maint:#5b5fc7;--pend:#8a8f98;--chart:#2563eb}\
@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e6e8eb;--muted:#9aa3ad;\
--card:#1a1f26;--line:#2b323c;--chart:#60a5fa}}\
*{box-sizing:border-box}\
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;\
background:var(--bg);color:var(--fg)}\
header,main,footer{max-width:1200px;margin:0 auto;padding:12px 16px}main{padding-top:0}header{padding-bottom:0}main>section:first-child>h2{margin-top:14px}\
header h1{font-size:1.4em;margin:8px 0 4px}\
h2{font-size:1.1em;margin:24px 0 8px}h3{font-size:1em;margin:0;overflow-wrap:anywhere}\
.summary{font-weight:600;padding:10px 14px;border-radius:8px;color:#fff;margin:8px 0}\
.summary.ok{background:var(--up)}.summary.bad{background:var(--down)}\
.summary.warn{background:var(--flap)}\
.meta,.muted,footer{color:var(--muted);font-size:.9em}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}\
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px;\
min-width:0}\
.card.down{border-left:4px solid var(--down)}.card.flapping{border-left:4px solid var(--flap)}\
.card.maintenance{border-left:4px solid var(--maint)}\
.head{display:flex;gap:8px;align-items:center}.head h3{flex:1}\
.pill{display:inline-block;border-radius:999px;padding:1px 9px;font-size:.8em;font-weight:600;\
color:#fff;text-transform:uppercase;letter-spacing:.03em;white-space:nowrap}\
.pill.up{background:var(--up)}.pill.down{background:var(--down)}\
.pill.flapping,.pill.late,.pill.running{background:var(--flap)}\
.pill.maintenance,.pill.silenced,.pill.inhibited,.pill.acked{background:var(--maint)}\
.pill.pending,.pill.new,.pill.no-data{background:var(--pend)}\
.kind{color:var(--muted);font-size:.85em}\
.target,.labels{color:var(--muted);font-size:.85em;overflow-wrap:anywhere;margin-top:2px}\
.label{display:inline-block;background:var(--bg);border:1px solid var(--line);border-radius:4px;\
padding:0 5px;margin:2px 4px 0 0;font-size:.9em}\
.uptime{display:grid;grid-template-columns:repeat(4,1fr);gap:4px;margin:10px 0 6px}\
.uptime div{text-align:center}.uptime dt{color:var(--muted);font-size:.8em}\
.uptime dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}\
.chart{width:100%;height:48px;display:block;background:var(--bg);border-radius:4px}\
.chart .line{fill:none;stroke:var(--chart);stroke-width:1.5;vector-effect:non-scaling-stroke}\
.chart .dot{fill:var(--chart)}\
.chart .grid{stroke:var(--line);stroke-width:1;vector-effect:non-scaling-stroke}\
.charthint{display:flex;justify-content:space-between;color:var(--muted);font-size:.75em}\
.check{font-size:.85em;color:var(--muted);margin:6px 0 0}\
.reason{font-size:.85em;color:var(--down);margin:4px 0 0;overflow-wrap:anywhere}\
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}\
table{border-collapse:collapse;width:100%;font-size:.9em}\
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}\
th{color:var(--muted);font-weight:600;white-space:nowrap}tr:last-child td{border-bottom:0}\
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}\
.bar{height:8px;background:var(--line);border-radius:4px;overflow:hidden;min-width:80px}\
.bar span{display:block;height:100%;background:var(--up)}\
.bar span.warn{background:var(--flap)}.bar span.bad{background:var(--down)}\
.errors{color:var(--down)}\
@media (max-width:600px){body{font-size:14px}header,main,footer{padding:8px 10px}\
.cards{grid-template-columns:1fr}th,td{padding:6px 7px}}";

fn head(p: &mut Page, title: &str) {
    p.raw(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
    );
    p.raw("<meta http-equiv=\"refresh\" content=\"")
        .fmt(format_args!("{REFRESH_SECONDS}"))
        .raw("\">");
    p.raw("<title>").text(title).raw("</title><style>");
    p.raw(CSS);
    p.raw("</style></head><body>");
}

fn state_label(s: ProbeState) -> &'static str {
    s.as_str()
}

fn uptime_cells(p: &mut Page, counts: &[Counts; 4]) {
    p.raw("<dl class=\"uptime\">");
    for ((name, _), c) in WINDOWS.iter().zip(counts) {
        p.raw("<div><dt>").text(name).raw("</dt><dd data-window=\"");
        p.text(name).raw("\" data-up=\"");
        p.fmt(format_args!("{}", c.up)).raw("\" data-total=\"");
        p.fmt(format_args!("{}", c.total)).raw("\" title=\"");
        p.fmt(format_args!("{} of {} checks succeeded", c.up, c.total))
            .raw("\">");
        match c.ratio() {
            Some(r) => p.text(&percent(r)),
            None => p.raw("–"),
        };
        p.raw("</dd></div>");
    }
    p.raw("</dl>");
}

fn summary_line(p: &mut Page, snap: &Snapshot) {
    let count = |s: ProbeState| snap.probes.iter().filter(|p| p.state == s).count();
    let (down, flap) = (count(ProbeState::Down), count(ProbeState::Flapping));
    let firing = snap.alerts.len();
    let class = if down > 0 {
        "bad"
    } else if flap > 0 || firing > 0 {
        "warn"
    } else {
        "ok"
    };
    p.raw("<p class=\"summary ")
        .raw(class)
        .raw("\" id=\"summary\">");
    if down == 0 && flap == 0 {
        p.fmt(format_args!("All {} probes up", snap.probes.len()));
    } else {
        p.fmt(format_args!("{down} of {} probes down", snap.probes.len()));
        if flap > 0 {
            p.fmt(format_args!(", {flap} flapping"));
        }
    }
    if snap.alert_source == AlertSource::Notifier || firing > 0 || !snap.alerts.is_empty() {
        p.fmt(format_args!(
            " · {firing} alert{} firing",
            if firing == 1 { "" } else { "s" }
        ));
    }
    p.raw("</p>");
}

/// The full status page.
pub(crate) fn full_page(snap: &Snapshot, started: std::time::Instant) -> String {
    let mut p = Page::with_capacity(16_384 + snap.probes.len() * 2_500);
    head(&mut p, "alertd status");
    p.raw("<header><h1>alertd status</h1>");
    summary_line(&mut p, snap);
    p.raw("<p class=\"meta\">Updated <time id=\"now\" data-ms=\"");
    p.fmt(format_args!("{}", snap.now)).raw("\">");
    p.text(&utc(snap.now));
    p.raw("</time> · refreshes every ")
        .fmt(format_args!("{REFRESH_SECONDS}"))
        .raw(" s · <a href=\"/report\">alert-fatigue report</a>");
    p.raw("</p>");
    if !snap.errors.is_empty() {
        p.raw("<ul class=\"errors\">");
        for e in &snap.errors {
            p.raw("<li>").text(e).raw("</li>");
        }
        p.raw("</ul>");
    }
    p.raw("</header><main>");
    alerts_section(&mut p, snap);
    pending_section(&mut p, snap);
    probes_section(&mut p, snap);
    certs_section(&mut p, snap);
    disks_section(&mut p, snap);
    databases_section(&mut p, snap);
    heartbeats_section(&mut p, snap);
    remote_write_section(&mut p, snap);
    silences_section(&mut p, snap);
    p.raw("</main><footer>alertd ");
    p.text(env!("CARGO_PKG_VERSION"));
    p.fmt(format_args!(
        " · rendered in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    ));
    p.raw("</footer></body></html>");
    p.finish()
}

/// The most characters of one text (a label value, a comment) shown on the page; longer ones
/// end in `…`.
pub(crate) const MAX_TEXT_CHARS: usize = 300;

/// `s`, cut to [`MAX_TEXT_CHARS`].
fn cut(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(MAX_TEXT_CHARS) {
        None => s.into(),
        Some((i, _)) => format!("{}…", &s[..i]).into(),
    }
}

/// A last table row counting the `total - shown` rows left out.
fn omitted_row(p: &mut Page, total: usize, shown: usize, columns: usize, what: &str) {
    if total > shown {
        p.raw("<tr class=\"omitted\"><td colspan=\"")
            .fmt(format_args!("{columns}"))
            .raw("\" class=\"muted\">")
            .fmt(format_args!(
                "{} more {what} not shown (api.limits.status_page_rows is {shown})",
                total - shown
            ))
            .raw("</td></tr>");
    }
}

/// Time left to the alert's response targets: `ack in 3 min` (until acknowledged; `ack
/// overdue 2 min` past it), `resolve in 52 min`.
fn respond_by(p: &mut Page, now: Timestamp, a: &super::AlertRow) {
    let mut left = |what: &str, t: Timestamp| {
        p.raw("<br><span class=\"");
        if t > now {
            p.raw("muted\">")
                .text(what)
                .raw(" in ")
                .text(&span(t - now));
        } else {
            p.raw("pill down\">")
                .text(what)
                .raw(" overdue ")
                .text(&span(now - t));
        }
        p.raw("</span>");
    };
    if let (Some(t), None) = (a.respond_by.0, &a.ack) {
        left("ack", t);
    }
    if let Some(t) = a.respond_by.1 {
        left("resolve", t);
    }
}

fn alerts_section(p: &mut Page, snap: &Snapshot) {
    p.raw("<section id=\"alerts\"><h2>Firing alerts");
    p.fmt(format_args!(" ({})", snap.alerts.len())).raw("</h2>");
    if snap.alerts.is_empty() {
        p.raw("<p class=\"muted\">No alerts firing.</p>");
    } else {
        p.raw(
            "<div class=\"scroll\"><table><thead><tr><th>Alert</th><th>Severity</th>\
             <th>Since</th><th>State</th><th>Escalation</th><th>Labels</th></tr></thead><tbody>",
        );
        for a in snap.alerts.iter().take(snap.max_rows) {
            p.raw("<tr><td><strong>")
                .text(a.labels.get_or_empty("alertname"))
                .raw("</strong>");
            if !a.summary.is_empty() {
                p.raw("<br><span class=\"muted\">")
                    .text(&cut(&a.summary))
                    .raw("</span>");
            }
            p.raw("</td><td>")
                .text(a.labels.get("severity").unwrap_or("–"))
                .raw("</td><td class=\"num\" title=\"");
            p.text(&utc(a.since)).raw("\">");
            p.text(&relative(snap.now, a.since)).raw("</td><td>");
            let mut any = false;
            if !a.silenced_by.is_empty() {
                p.raw("<span class=\"pill silenced\" title=\"")
                    .text(&a.silenced_by.join(", "))
                    .raw("\">silenced</span> ");
                any = true;
            }
            if !a.inhibited_by.is_empty() {
                p.raw("<span class=\"pill inhibited\">inhibited</span> ");
                any = true;
            }
            if let Some((who, comment)) = &a.ack {
                p.raw("<span class=\"pill acked\">acknowledged</span> ")
                    .raw("<span class=\"muted\">by ")
                    .text(who);
                if !comment.is_empty() {
                    p.raw(": ").text(&cut(comment));
                }
                p.raw("</span>");
                any = true;
            }
            if !any {
                p.raw("<span class=\"pill down\">firing</span>");
            }
            respond_by(p, snap.now, a);
            p.raw("</td><td>");
            match &a.tier {
                Some((policy, t, of)) => {
                    p.text(policy).fmt(format_args!(": tier {t}"));
                    if *of > 0 {
                        p.fmt(format_args!(" of {of}"));
                    }
                }
                None => {
                    p.raw("–");
                }
            }
            p.raw("</td><td>");
            for l in a.labels.iter().filter(|l| l.name != "alertname") {
                p.raw("<span class=\"label\">")
                    .text(&cut(&l.name))
                    .raw("=")
                    .text(&cut(&l.value))
                    .raw("</span>");
            }
            p.raw("</td></tr>");
        }
        omitted_row(p, snap.alerts.len(), snap.max_rows, 6, "alerts");
        p.raw("</tbody></table></div>");
    }
    if snap.alert_source == AlertSource::Evaluator {
        p.raw(
            "<p class=\"muted\">No receivers configured: alerts come straight from the rules \
             (no silences, acknowledgements or escalations).</p>",
        );
    }
    p.raw("</section>");
}

/// The page notifications link to (`/graph?g0.expr=...`): the expression, its value now, and
/// the alerting rules using it with their alerts.
pub(crate) fn graph_page(v: &super::graph::GraphView) -> String {
    let mut p = Page::with_capacity(4_096 + v.rows.len() * 200);
    head(&mut p, "alertd: expression");
    p.raw(
        "<header><h1>Expression</h1><p class=\"meta\"><a href=\"/\">status page</a> · \
           evaluated <time>",
    );
    p.text(&utc(v.now))
        .raw("</time></p></header><main><section><pre>");
    p.text(&v.expr).raw("</pre>");
    match &v.error {
        Some(e) => {
            p.raw("<ul class=\"errors\"><li>").text(e).raw("</li></ul>");
        }
        None if v.rows.is_empty() => {
            p.raw("<p class=\"muted\">Empty result: the condition does not hold now.</p>");
        }
        None => {
            p.raw(
                "<div class=\"scroll\"><table><thead><tr><th>Series</th><th>Value</th>\
                   </tr></thead><tbody>",
            );
            for (labels, value) in &v.rows {
                p.raw("<tr><td>");
                for l in labels.iter() {
                    p.raw("<span class=\"label\">")
                        .text(&l.name)
                        .raw("=")
                        .text(&l.value)
                        .raw("</span>");
                }
                p.raw("</td><td class=\"num\">")
                    .text(value)
                    .raw("</td></tr>");
            }
            p.raw("</tbody></table></div>");
            if v.more > 0 {
                p.raw("<p class=\"muted\">")
                    .fmt(format_args!("{} more series not shown.", v.more))
                    .raw("</p>");
            }
        }
    }
    p.raw("</section>");
    for r in &v.rules {
        p.raw("<section><h2>Rule ")
            .text(&r.name)
            .raw("</h2><p class=\"muted\">group ");
        p.text(&r.group);
        if r.for_seconds > 0.0 {
            p.raw(" · fires after the condition held for ")
                .text(&span((r.for_seconds * 1000.0) as i64));
        }
        p.raw("</p>");
        if r.alerts.is_empty() {
            p.raw("<p class=\"muted\">No alert pending or firing.</p>");
        }
        for (labels, state, since) in &r.alerts {
            p.raw("<p><span class=\"pill ")
                .raw(if *state == model::AlertState::Firing {
                    "down\">firing"
                } else {
                    "pending\">pending"
                })
                .raw("</span> since ")
                .text(&utc(*since))
                .raw(" ");
            for l in labels.iter() {
                p.raw("<span class=\"label\">")
                    .text(&l.name)
                    .raw("=")
                    .text(&l.value)
                    .raw("</span>");
            }
            p.raw("</p>");
        }
        p.raw("</section>");
    }
    p.raw("</main></body></html>");
    p.finish()
}

/// Alerts waiting out their `for:`, with when they fire: so a new user sees that something is
/// coming, and when.
fn pending_section(p: &mut Page, snap: &Snapshot) {
    if snap.pending.is_empty() {
        return;
    }
    p.raw("<section id=\"pending\"><h2>Pending alerts");
    p.fmt(format_args!(" ({})", snap.pending.len())).raw(
        "</h2><p class=\"muted\">Their rule's condition holds; each fires when it has \
              held for the rule's <code>for:</code>, and is notified after the route's \
              <code>group_wait</code>.</p>",
    );
    p.raw(
        "<div class=\"scroll\"><table><thead><tr><th>Alert</th><th>Severity</th>\
         <th>Pending since</th><th>Fires at</th><th>Labels</th></tr></thead><tbody>",
    );
    for a in &snap.pending {
        p.raw("<tr><td><strong>")
            .text(a.labels.get_or_empty("alertname"))
            .raw("</strong>");
        if !a.summary.is_empty() {
            p.raw("<br><span class=\"muted\">")
                .text(&a.summary)
                .raw("</span>");
        }
        p.raw("</td><td>")
            .text(a.labels.get("severity").unwrap_or("–"))
            .raw("</td><td class=\"num\" title=\"");
        p.text(&utc(a.active_since)).raw("\">");
        p.text(&relative(snap.now, a.active_since))
            .raw("</td><td class=\"num\" title=\"");
        p.text(&utc(a.fires_at)).raw("\">");
        p.text(&utc(a.fires_at));
        if a.fires_at > snap.now {
            p.raw(" <span class=\"muted\">(in ")
                .text(&span(a.fires_at - snap.now))
                .raw(")</span>");
        }
        p.raw("</td><td>");
        for l in a.labels.iter().filter(|l| l.name != "alertname") {
            p.raw("<span class=\"label\">")
                .text(&l.name)
                .raw("=")
                .text(&l.value)
                .raw("</span>");
        }
        p.raw("</td></tr>");
    }
    p.raw("</tbody></table></div></section>");
}

fn probes_section(p: &mut Page, snap: &Snapshot) {
    p.raw("<section id=\"probes\"><h2>Probes");
    p.fmt(format_args!(" ({})", snap.probes.len())).raw("</h2>");
    if snap.probes.is_empty() {
        p.raw("<p class=\"muted\">No probes configured.</p></section>");
        return;
    }
    p.raw("<div class=\"cards\">");
    for pr in &snap.probes {
        let st = state_label(pr.state);
        p.raw("<article class=\"card probe ")
            .raw(st)
            .raw("\" data-probe=\"")
            .text(&pr.name)
            .raw("\" data-state=\"")
            .raw(st)
            .raw("\"><div class=\"head\"><h3>")
            .text(&pr.name)
            .raw("</h3><span class=\"kind\">")
            .raw(pr.kind)
            .raw("</span><span class=\"pill ")
            .raw(st)
            .raw("\">")
            .raw(st)
            .raw("</span></div>");
        if !pr.target.is_empty() {
            p.raw("<div class=\"target\">")
                .text(&pr.target)
                .raw("</div>");
        }
        if !pr.labels.is_empty() {
            p.raw("<div class=\"labels\">");
            for (k, v) in &pr.labels {
                p.raw("<span class=\"label\">")
                    .text(k)
                    .raw("=")
                    .text(v)
                    .raw("</span>");
            }
            p.raw("</div>");
        }
        uptime_cells(p, &pr.uptime);
        let max = pr.response.iter().map(|(_, v)| *v).fold(f64::NAN, f64::max);
        let label = if max.is_finite() {
            format!(
                "{}: response time over 24 h, peak {}",
                pr.name,
                seconds(max)
            )
        } else {
            format!("{}: no response times in the last 24 h", pr.name)
        };
        p.svg(&svg::response_chart(&pr.response, snap.now, &label));
        p.raw("<div class=\"charthint\"><span>24 h ago</span><span>");
        if max.is_finite() {
            p.raw("peak ").text(&seconds(max));
        } else {
            p.raw("no data");
        }
        p.raw("</span><span>now</span></div><p class=\"check\">");
        match pr.last_check {
            Some(t) => {
                p.raw("Last check <span title=\"")
                    .text(&utc(t))
                    .raw("\">")
                    .text(&relative(snap.now, t))
                    .raw("</span>");
                if let Some(d) = pr.last_duration {
                    p.raw(" (").text(&seconds(d)).raw(")");
                }
                if pr.consecutive_failures > 1 {
                    p.fmt(format_args!(
                        " · {} failures in a row",
                        pr.consecutive_failures
                    ));
                }
            }
            None => {
                p.raw("Not checked yet");
            }
        }
        if !pr.silenced_by.is_empty() {
            p.raw(" · silenced by ").text(&pr.silenced_by.join(", "));
        }
        p.raw("</p>");
        if pr.last_success == Some(false) {
            if let Some(r) = &pr.reason {
                p.raw("<p class=\"reason\">").text(r).raw("</p>");
            }
        }
        p.raw("</article>");
    }
    p.raw("</div></section>");
}

fn certs_section(p: &mut Page, snap: &Snapshot) {
    if snap.certs.is_empty() {
        return;
    }
    p.raw(
        "<section id=\"certificates\"><h2>Certificates</h2><div class=\"scroll\"><table>\
         <thead><tr><th>Probe</th><th>Target</th><th>Expires</th><th>Days left</th></tr>\
         </thead><tbody>",
    );
    for c in &snap.certs {
        let days = (c.expires - snap.now) as f64 / 86_400_000.0;
        let class = if days < 7.0 {
            "pill down"
        } else if days < 21.0 {
            "pill flapping"
        } else {
            "pill up"
        };
        p.raw("<tr><td>")
            .text(&c.probe)
            .raw("</td><td>")
            .text(&c.instance)
            .raw("</td><td class=\"num\">")
            .text(&date(c.expires))
            .raw("</td><td class=\"num\"><span class=\"")
            .raw(class)
            .raw("\">")
            .fmt(format_args!("{:.0} d", days.floor()))
            .raw("</span></td></tr>");
    }
    p.raw("</tbody></table></div></section>");
}

fn disks_section(p: &mut Page, snap: &Snapshot) {
    if snap.disks.is_empty() {
        return;
    }
    p.raw(
        "<section id=\"disks\"><h2>Disks</h2><div class=\"scroll\"><table><thead><tr>\
         <th>Source</th><th>Mount</th><th>Used</th><th></th><th>Free</th>\
         <th>Full (predicted)</th></tr></thead><tbody>",
    );
    for d in &snap.disks {
        let used = if d.size > 0.0 {
            ((d.size - d.avail) / d.size).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let class = if used >= 0.9 {
            "bad"
        } else if used >= 0.8 {
            "warn"
        } else {
            "ok"
        };
        p.raw("<tr data-mount=\"")
            .text(&d.mountpoint)
            .raw("\"><td>")
            .text(&d.source)
            .raw("</td><td>")
            .text(&d.mountpoint)
            .raw("<br><span class=\"muted\">")
            .text(&d.device)
            .raw("</span></td><td class=\"num\">")
            .fmt(format_args!("{:.1}%", used * 100.0))
            .raw("</td><td><div class=\"bar\" role=\"img\" aria-label=\"")
            .fmt(format_args!("{:.0}% used", used * 100.0))
            .raw("\"><span class=\"")
            .raw(class)
            .raw("\" style=\"width:")
            .fmt(format_args!("{:.1}", used * 100.0))
            .raw("%\"></span></div></td><td class=\"num\">")
            .text(&bytes(d.avail))
            .raw(" of ")
            .text(&bytes(d.size))
            .raw("</td><td class=\"num\">");
        match d.full_at {
            Some(t) => {
                p.text(&date(t))
                    .raw("<br><span class=\"muted\">")
                    .text(&relative(snap.now, t))
                    .raw("</span>");
            }
            None => {
                p.raw("not filling");
            }
        }
        p.raw("</td></tr>");
    }
    p.raw(
        "</tbody></table></div><p class=\"muted\">Predicted from a straight line fitted to free \
         space over the last 6 h (as PromQL's predict_linear).</p></section>",
    );
}

fn databases_section(p: &mut Page, snap: &Snapshot) {
    if snap.databases.is_empty() {
        return;
    }
    p.raw(
        "<section id=\"databases\"><h2>Database replication</h2><div class=\"scroll\"><table>\
         <thead><tr><th>Probe</th><th>Kind</th><th>Role</th><th>Lag</th><th>Note</th></tr>\
         </thead><tbody>",
    );
    for d in &snap.databases {
        p.raw("<tr><td>")
            .text(&d.probe)
            .raw("</td><td>")
            .raw(d.kind)
            .raw("</td><td>")
            .text(&d.role)
            .raw("</td><td class=\"num\">");
        match d.lag {
            Some(l) => p.text(&seconds(l)),
            None => p.raw("–"),
        };
        p.raw("</td><td>")
            .text(d.note.as_deref().unwrap_or(""))
            .raw("</td></tr>");
    }
    p.raw("</tbody></table></div></section>");
}

fn heartbeats_section(p: &mut Page, snap: &Snapshot) {
    if snap.heartbeats.is_empty() {
        return;
    }
    p.raw(
        "<section id=\"heartbeats\"><h2>Heartbeats</h2><div class=\"scroll\"><table><thead>\
         <tr><th>Job</th><th>State</th><th>Last ping</th><th>Next expected</th>\
         <th>Down if none by</th><th>Last run</th></tr></thead><tbody>",
    );
    for hv in &snap.heartbeats {
        let h = &hv.status;
        let st = h.state.as_str();
        p.raw("<tr data-heartbeat=\"")
            .text(&h.name)
            .raw("\"><td>")
            .text(&h.name)
            .raw("</td><td><span class=\"pill ")
            .raw(st)
            .raw("\">")
            .raw(st)
            .raw("</span></td><td class=\"num\">");
        match h.last_ping {
            Some(t) => p
                .raw("<span title=\"")
                .text(&utc(t))
                .raw("\">")
                .text(&relative(snap.now, t))
                .raw("</span>"),
            None => p.raw("never"),
        };
        for t in [hv.expected, h.deadline] {
            p.raw("</td><td class=\"num\">");
            match t {
                Some(t) => p
                    .text(&utc(t))
                    .raw("<br><span class=\"muted\">")
                    .text(&relative(snap.now, t))
                    .raw("</span>"),
                None => p.raw("–"),
            };
        }
        p.raw("</td><td class=\"num\">");
        if let Some(c) = h.last_exit_code {
            p.fmt(format_args!("exit {c}"));
        }
        if let Some(d) = h.last_duration_seconds {
            p.raw(", took ").text(&seconds(d));
        }
        p.raw("</td></tr>");
    }
    p.raw("</tbody></table></div></section>");
}

fn remote_write_section(p: &mut Page, snap: &Snapshot) {
    if snap.remote_write.is_empty() {
        return;
    }
    p.raw(
        "<section id=\"remote-write\"><h2>Remote write</h2><div class=\"scroll\"><table>\
         <thead><tr><th>Queue</th><th>Receiver</th><th>State</th><th>Newest sent</th>\
         <th>Pending</th><th>Sent</th><th>Refused</th></tr></thead><tbody>",
    );
    for q in &snap.remote_write {
        let st = if q.failing { "down" } else { "up" };
        p.raw("<tr data-remote-write=\"")
            .text(&q.name)
            .raw("\"><td>")
            .text(&q.name)
            .raw("</td><td>")
            .text(&q.url)
            .raw("</td><td><span class=\"pill ")
            .raw(st)
            .raw("\"");
        if let Some(e) = &q.last_error {
            p.raw(" title=\"").text(e).raw("\"");
        }
        p.raw(">")
            .raw(if q.failing { "failing" } else { "ok" })
            .raw("</span></td><td class=\"num\">");
        if q.highest_sent_timestamp_ms > 0 {
            p.raw("<span title=\"")
                .text(&utc(q.highest_sent_timestamp_ms))
                .raw("\">")
                .text(&relative(snap.now, q.highest_sent_timestamp_ms))
                .raw("</span>");
        } else {
            p.raw("never");
        }
        for n in [q.samples_pending, q.samples_sent, q.samples_failed] {
            p.raw("</td><td class=\"num\">").fmt(format_args!("{n}"));
        }
        p.raw("</td></tr>");
    }
    p.raw("</tbody></table></div></section>");
}

fn silences_section(p: &mut Page, snap: &Snapshot) {
    if snap.alert_source == AlertSource::Evaluator && snap.silences.is_empty() {
        return;
    }
    p.raw("<section id=\"silences\"><h2>Silences");
    p.fmt(format_args!(" ({})", snap.silences.len()))
        .raw("</h2>");
    if snap.silences.is_empty() {
        p.raw("<p class=\"muted\">No active silences.</p></section>");
        return;
    }
    p.raw(
        "<div class=\"scroll\"><table><thead><tr><th>Matchers</th><th>Until</th><th>By</th>\
         <th>Comment</th></tr></thead><tbody>",
    );
    for s in snap.silences.iter().take(snap.max_rows) {
        p.raw("<tr><td>");
        for m in s.matchers.iter() {
            p.raw("<span class=\"label\">")
                .text(&cut(&m.name))
                .text(m.op.as_str())
                .text(&cut(&format!("{:?}", m.value)))
                .raw("</span>");
        }
        p.raw("</td><td class=\"num\">");
        if s.starts_at > snap.now {
            p.raw("starts ")
                .text(&relative(snap.now, s.starts_at))
                .raw(", ");
        }
        p.text(&utc(s.ends_at))
            .raw("<br><span class=\"muted\">")
            .text(&relative(snap.now, s.ends_at))
            .raw("</span></td><td>")
            .text(&cut(&s.created_by))
            .raw("</td><td>")
            .text(&cut(&s.comment))
            .raw("</td></tr>");
    }
    omitted_row(p, snap.silences.len(), snap.max_rows, 4, "silences");
    p.raw("</tbody></table></div></section>");
}

/// What the public page says for a state: customers see up, down, degraded (flapping),
/// maintenance or no data.
pub(crate) fn public_state(s: ProbeState) -> (&'static str, &'static str) {
    match s {
        ProbeState::Up => ("up", "Operational"),
        ProbeState::Down => ("down", "Down"),
        ProbeState::Flapping => ("flapping", "Degraded"),
        ProbeState::Maintenance => ("maintenance", "Maintenance"),
        ProbeState::Pending => ("no-data", "No data"),
    }
}

/// The public page: probe names, states and uptime only.
pub(crate) fn public_page(snap: &Snapshot) -> String {
    let mut p = Page::with_capacity(4_096 + snap.probes.len() * 600);
    head(&mut p, "Service status");
    p.raw("<header><h1>Service status</h1>");
    let down = snap
        .probes
        .iter()
        .filter(|x| matches!(x.state, ProbeState::Down | ProbeState::Flapping))
        .count();
    if down == 0 {
        p.raw("<p class=\"summary ok\" id=\"summary\">All systems operational</p>");
    } else {
        p.raw("<p class=\"summary bad\" id=\"summary\">")
            .fmt(format_args!(
                "{down} of {} services have problems",
                snap.probes.len()
            ))
            .raw("</p>");
    }
    p.raw("<p class=\"meta\">Updated ")
        .text(&utc(snap.now))
        .raw("</p></header><main><div class=\"cards\">");
    for pr in &snap.probes {
        let (class, text) = public_state(pr.state);
        p.raw("<article class=\"card probe ")
            .raw(class)
            .raw("\" data-probe=\"")
            .text(&pr.name)
            .raw("\" data-state=\"")
            .raw(class)
            .raw("\"><div class=\"head\"><h3>")
            .text(&pr.name)
            .raw("</h3><span class=\"pill ")
            .raw(class)
            .raw("\">")
            .raw(text)
            .raw("</span></div>");
        uptime_cells(&mut p, &pr.uptime);
        p.raw("</article>");
    }
    p.raw("</div></main><footer>Uptime is the share of successful checks in each period.</footer></body></html>");
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::super::data::Counts;
    use super::super::{
        AlertRow, CertView, DbView, DiskView, HeartbeatView, PendingRow, ProbeView,
    };
    use super::*;
    use collector::heartbeat::{HeartbeatState, HeartbeatStatus};
    use model::{Labels, Matcher, Matchers, Silence};

    const EVIL: &str = "<evil x='1'>\"&";

    fn snapshot() -> Snapshot {
        let now = 1_800_000_000_000;
        let labels = Labels::from_pairs([("alertname", EVIL), ("severity", EVIL), ("x", EVIL)]);
        let up = Counts { up: 9.0, total: 10 };
        Snapshot {
            now,
            probes: vec![ProbeView {
                name: EVIL.into(),
                kind: "http",
                target: EVIL.into(),
                labels: [(EVIL.to_string(), EVIL.to_string())].into(),
                state: ProbeState::Down,
                last_success: Some(false),
                last_check: Some(now - 5_000),
                last_duration: Some(0.25),
                reason: Some(EVIL.into()),
                consecutive_failures: 3,
                uptime: [up; 4],
                response: vec![(now - 600_000, 0.2), (now - 300_000, 0.4)],
                silenced_by: vec![EVIL.into()],
            }],
            certs: vec![CertView {
                probe: EVIL.into(),
                instance: EVIL.into(),
                expires: now + 10 * 86_400_000,
            }],
            disks: vec![DiskView {
                source: EVIL.into(),
                mountpoint: EVIL.into(),
                device: EVIL.into(),
                size: 100.0,
                avail: 5.0,
                full_at: Some(now + 86_400_000),
            }],
            databases: vec![DbView {
                probe: EVIL.into(),
                kind: "mysql",
                role: EVIL.into(),
                lag: None,
                note: Some(EVIL.into()),
            }],
            heartbeats: vec![HeartbeatView {
                status: HeartbeatStatus {
                    name: EVIL.into(),
                    state: HeartbeatState::Late,
                    last_ping: Some(now - 60_000),
                    last_success: Some(now - 60_000),
                    deadline: Some(now + 60_000),
                    last_exit_code: Some(0),
                    last_duration_seconds: Some(3.0),
                    last_body: Some(EVIL.into()),
                },
                expected: Some(now + 30_000),
            }],
            alerts: vec![AlertRow {
                labels,
                summary: EVIL.into(),
                since: now - 3_600_000,
                silenced_by: vec![EVIL.into()],
                inhibited_by: vec![EVIL.into()],
                ack: Some((EVIL.into(), EVIL.into())),
                tier: Some((EVIL.into(), 2, 3)),
                respond_by: (Some(now - 60_000), Some(now + 600_000)),
            }],
            alert_source: AlertSource::Notifier,
            pending: vec![PendingRow {
                labels: Labels::from_pairs([("alertname", EVIL), ("probe", EVIL)]),
                summary: EVIL.into(),
                active_since: now - 60_000,
                fires_at: now + 60_000,
            }],
            silences: vec![Silence {
                id: EVIL.into(),
                matchers: Matchers(vec![Matcher::new("x", model::MatchOp::Equal, EVIL).unwrap()]),
                starts_at: now - 1,
                ends_at: now + 3_600_000,
                updated_at: now,
                created_by: EVIL.into(),
                comment: EVIL.into(),
            }],
            errors: vec![EVIL.into()],
            remote_write: vec![remote::QueueStats {
                name: EVIL.into(),
                url: EVIL.into(),
                failing: true,
                last_error: Some(EVIL.into()),
                highest_sent_timestamp_ms: now - 60_000,
                samples_pending: 7,
                ..Default::default()
            }],
            max_rows: 500,
        }
    }

    #[test]
    fn long_lists_and_long_texts_are_cut_with_a_count() {
        let mut snap = snapshot();
        let (alert, silence) = (snap.alerts[0].clone(), snap.silences[0].clone());
        let mut big = alert.clone();
        big.labels = Labels::from_pairs([("alertname", "big"), ("x", &"v".repeat(100_000))]);
        snap.alerts = vec![big];
        snap.alerts.extend(std::iter::repeat_n(alert, 40));
        snap.silences = vec![silence; 30];
        snap.max_rows = 10;
        let html = full_page(&snap, std::time::Instant::now());
        assert!(html.contains("31 more alerts not shown (api.limits.status_page_rows is 10)"));
        assert!(html.contains("20 more silences not shown"));
        assert!(html.contains(&format!("{}…", "v".repeat(MAX_TEXT_CHARS))));
        assert!(!html.contains(&"v".repeat(MAX_TEXT_CHARS + 1)));
        assert!(html.len() < 100_000, "{} bytes", html.len());
        // The counts in the headings stay true.
        assert!(html.contains("Firing alerts (41)"), "{html}");
    }

    #[test]
    fn every_dynamic_text_is_escaped() {
        let snap = snapshot();
        let html = full_page(&snap, std::time::Instant::now());
        assert!(!html.contains("<evil"), "{html}");
        assert!(!html.contains("'1'"), "{html}");
        // Name, target, label key and value, reason, silence id; cert probe and instance;
        // disk source, mount (twice) and device; db probe, role, note; heartbeat; alert name,
        // severity, label, summary, silence and ack texts, policy; silence matcher, author and
        // comment; the error.
        let n = html
            .matches("&lt;evil x=&#39;1&#39;&gt;&quot;&amp;")
            .count();
        assert!(n >= 25, "{n}: {html}");
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        assert!(html.contains("data-state=\"down\""));
        assert!(html.contains(">90.00%</dd>"));
        assert!(html.contains("tier 2 of 3"));
        assert!(html.contains("width:95.0%"));
        // A pending alert with when it fires.
        assert!(html.contains("<section id=\"pending\"><h2>Pending alerts (1)</h2>"));
        assert!(html.contains(&format!(
            "{} <span class=\"muted\">(in 1 min)</span>",
            utc(snap.now + 60_000)
        )));
        // Heartbeat: next expected (deadline less grace) and the deadline.
        assert!(html.contains(">in 30 s</span>") && html.contains(">in 1 min</span>"));
        // Remote write: a line per queue.
        assert!(html.contains("<section id=\"remote-write\">") && html.contains(">failing</span>"));
        assert!(
            html.contains(">1 min ago</span></td><td class=\"num\">7</td>"),
            "{html}"
        );
        // No script at all: the page refreshes with a meta tag.
        assert!(!html.contains("<script"));
        let public = public_page(&Snapshot {
            probes: snap.probes.clone(),
            ..snapshot()
        });
        assert!(!public.contains("<evil"), "{public}");
    }

    #[test]
    fn graph_page_shows_the_result_and_the_rules_escaped() {
        let v = super::super::graph::GraphView {
            now: 1_800_000_000_000,
            expr: EVIL.into(),
            rows: vec![(Labels::from_pairs([("probe", EVIL)]), "0".into())],
            more: 2,
            error: None,
            rules: vec![super::super::graph::RuleView {
                group: EVIL.into(),
                name: EVIL.into(),
                for_seconds: 120.0,
                alerts: vec![(
                    Labels::from_pairs([("alertname", EVIL)]),
                    model::AlertState::Pending,
                    1_799_999_000_000,
                )],
            }],
        };
        let html = graph_page(&v);
        assert!(!html.contains("<evil"), "{html}");
        assert_eq!(
            html.matches("&lt;evil x=&#39;1&#39;&gt;").count(),
            5,
            "{html}"
        );
        assert!(html.contains("<td class=\"num\">0</td>"), "{html}");
        assert!(html.contains("2 more series not shown."));
        assert!(
            html.contains("fires after the condition held for 2 min"),
            "{html}"
        );
        assert!(html.contains(">pending</span>"));
        let err = graph_page(&super::super::graph::GraphView {
            error: Some("parse error: x".into()),
            ..v
        });
        assert!(err.contains("<li>parse error: x</li>"));
    }

    #[test]
    fn public_page_shows_only_names_states_and_uptime() {
        let snap = snapshot();
        let html = public_page(&snap);
        // The name is there (escaped); nothing else of the snapshot's texts is: every EVIL
        // field but the name would add an occurrence.
        assert_eq!(html.matches("&lt;evil").count(), 2, "{html}"); // data-probe and h3
        assert!(html.contains(">Down</span>"));
        assert!(html.contains(">90.00%</dd>"));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.99999), "99.99%");
        assert_eq!(percent(0.5), "50.00%");
        assert_eq!(span(45_000), "45 s");
        assert_eq!(span(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(span(2 * 86_400_000), "2 d");
        assert_eq!(relative(100_000, 40_000), "1 min ago");
        assert_eq!(relative(0, 7_200_000), "in 2 h");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(10.0), "10 B");
        assert_eq!(seconds(0.0123), "12 ms");
        assert_eq!(seconds(0.00042), "0.4 ms");
        assert_eq!(seconds(2.5), "2.5 s");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
    }
}
