//! `/report?since=30d&self_resolved_within=5m&tz=UTC&limit=100`: the alert-fatigue report as a
//! page (the same parameters and figures as `GET /api/alertd/v1/report`, computed by
//! `notifier::report`), for the monthly review of which alerts are worth keeping.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use model::api::{fmt_num, FatigueReport};

use super::render::{percent, seconds, Page, CSS};
use crate::api::own::{make_report, ReportQuery};
use crate::daemon::App;

pub(crate) async fn page(State(app): State<Arc<App>>, Query(q): Query<ReportQuery>) -> Response {
    match make_report(app, &q).await {
        Ok(r) => super::html(render(&r)),
        Err(e) => e.into_response(),
    }
}

fn opt_seconds(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), seconds)
}

/// The page of `r`; every text from the report is escaped ([`Page::text`]).
pub(crate) fn render(r: &FatigueReport) -> String {
    let mut p = Page::default();
    p.raw(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>alertd: alert-fatigue report</title><style>",
    );
    p.raw(CSS).raw("</style></head><body>");
    p.raw("<header><h1>Alert-fatigue report</h1><p class=\"meta\"><a href=\"/\">status page</a> · last ");
    p.text(&r.window).raw(" (from <time>").text(&r.covered_from);
    p.raw("</time>) · self-resolved: within ")
        .text(&r.self_resolved_within)
        .raw(" of the first notification, without an ack · hours in ")
        .text(&r.time_zone)
        .raw(" · <a href=\"/api/alertd/v1/report?since=");
    p.text(&r.window)
        .raw("&amp;self_resolved_within=")
        .text(&r.self_resolved_within)
        .raw("&amp;tz=")
        .text(&r.time_zone)
        .raw("\">JSON</a> · CSV: <code>alertctl report --since ")
        .text(&r.window)
        .raw(" --format csv</code></p>");
    if let Some(n) = &r.note {
        p.raw("<p class=\"summary warn\" id=\"note\">")
            .text(n)
            .raw("</p>");
    }
    p.raw("</header><main>");

    p.raw("<section id=\"alerts\"><h2>Alerts</h2>");
    if r.alerts.is_empty() {
        p.raw("<p class=\"muted\">No notification in this window.</p>");
    } else {
        p.raw(
            "<div class=\"scroll\"><table><thead><tr><th>Alert</th><th>Fired</th>\
             <th>Notifications</th><th>Acknowledged</th><th>Time to ack<br>median / p90</th>\
             <th>Resolved</th><th>Time to resolve<br>median / p90</th>\
             <th>Resolved by itself</th></tr></thead><tbody>",
        );
        for a in &r.alerts {
            p.raw("<tr><td><strong>")
                .text(&a.alertname)
                .raw("</strong></td><td class=\"num\">");
            p.fmt(format_args!("{}", a.fired))
                .raw("</td><td class=\"num\">");
            p.fmt(format_args!("{}", a.notifications))
                .raw("</td><td class=\"num\">");
            p.fmt(format_args!("{} ", a.acknowledged))
                .raw("<span class=\"muted\">(")
                .text(&percent(a.acknowledged_share))
                .raw(")</span></td><td class=\"num\">");
            p.text(&opt_seconds(a.ack_median_seconds))
                .raw(" / ")
                .text(&opt_seconds(a.ack_p90_seconds))
                .raw("</td><td class=\"num\">");
            p.fmt(format_args!("{}", a.resolved))
                .raw("</td><td class=\"num\">");
            p.text(&opt_seconds(a.resolve_median_seconds))
                .raw(" / ")
                .text(&opt_seconds(a.resolve_p90_seconds))
                .raw("</td><td class=\"num\">");
            p.fmt(format_args!("{} ", a.self_resolved))
                .raw("<span class=\"muted\">(")
                .text(&percent(a.self_resolved_share))
                .raw(")</span><div class=\"bar\" title=\"likely not actionable\"><span class=\"")
                .raw(if a.self_resolved_share >= 0.5 {
                    "bad"
                } else {
                    "warn"
                })
                .raw("\" style=\"width:");
            p.text(&fmt_num(a.self_resolved_share * 100.0))
                .raw("%\"></span></div></td></tr>");
        }
        if r.alerts_omitted > 0 {
            p.raw("<tr class=\"omitted\"><td colspan=\"8\" class=\"muted\">")
                .fmt(format_args!(
                    "{} more alert names not shown (limit)",
                    r.alerts_omitted
                ))
                .raw("</td></tr>");
        }
        p.raw("</tbody></table></div>");
    }
    p.raw("</section>");

    p.raw("<section id=\"receivers\"><h2>Noisiest receivers</h2>");
    if r.receivers.is_empty() {
        p.raw("<p class=\"muted\">None.</p>");
    } else {
        p.raw(
            "<div class=\"scroll\"><table><thead><tr><th>Receiver</th><th>Notifications</th>\
             <th>Failed deliveries</th></tr></thead><tbody>",
        );
        for x in &r.receivers {
            p.raw("<tr><td>")
                .text(&x.receiver)
                .raw("</td><td class=\"num\">");
            p.fmt(format_args!("{}", x.notifications))
                .raw("</td><td class=\"num\">");
            p.fmt(format_args!("{}", x.failed)).raw("</td></tr>");
        }
        p.raw("</tbody></table></div>");
    }
    p.raw("</section>");

    p.raw("<section id=\"hours\"><h2>Notifications by hour of day (")
        .text(&r.time_zone)
        .raw(")</h2>");
    let max = r.hours.iter().map(|h| h.notifications).max().unwrap_or(0);
    if max == 0 {
        p.raw("<p class=\"muted\">None.</p>");
    } else {
        p.raw("<div class=\"scroll\"><table><tbody>");
        for h in &r.hours {
            p.raw("<tr><td class=\"num\">")
                .fmt(format_args!("{:02}:00", h.hour))
                .raw("</td><td class=\"num\">");
            p.fmt(format_args!("{}", h.notifications))
                .raw("</td><td style=\"width:80%\"><div class=\"bar\"><span style=\"width:");
            p.text(&fmt_num(h.notifications as f64 * 100.0 / max as f64))
                .raw("%\"></span></div></td></tr>");
        }
        p.raw("</tbody></table></div>");
    }
    p.raw("</section></main><footer>alertd ");
    p.text(env!("CARGO_PKG_VERSION")).raw(" · generated ");
    p.text(&r.generated_at);
    p.raw("</footer></body></html>");
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::api::{AlertFatigue, HourNoise, ReceiverNoise};

    #[test]
    fn every_text_from_the_report_is_escaped() {
        let evil = "<script>x</script>&\"'";
        let r = FatigueReport {
            generated_at: "2026-12-07T00:00:00.000Z".into(),
            window: "30d".into(),
            covered_from: "2026-11-30T00:00:00.000Z".into(),
            history_retention: "7d".into(),
            window_truncated: true,
            note: Some(format!("note {evil}")),
            self_resolved_within: "5m".into(),
            time_zone: evil.into(),
            alerts: vec![AlertFatigue {
                alertname: evil.into(),
                fired: 3,
                notifications: 7,
                acknowledged: 1,
                acknowledged_share: 1.0 / 3.0,
                ack_median_seconds: Some(90.0),
                ack_p90_seconds: None,
                resolved: 3,
                resolve_median_seconds: Some(180.0),
                resolve_p90_seconds: Some(1200.0),
                self_resolved: 2,
                self_resolved_share: 2.0 / 3.0,
            }],
            alerts_omitted: 4,
            receivers: vec![ReceiverNoise {
                receiver: evil.into(),
                notifications: 7,
                failed: 1,
            }],
            hours: (0..24)
                .map(|h| HourNoise {
                    hour: h,
                    notifications: u64::from(h == 9) * 7,
                })
                .collect(),
        };
        let page = render(&r);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;&amp;&quot;&#39;"));
        assert!(page.contains("note &lt;script&gt;"));
        assert!(page.contains("<td class=\"num\">3</td><td class=\"num\">7</td>"));
        assert!(page.contains("1 <span class=\"muted\">(33.33%)</span>"));
        assert!(page.contains("1 min / –"), "{page}");
        assert!(page.contains("3 min / 20 min"), "{page}");
        assert!(page.contains("style=\"width:66.667%\""));
        assert!(page.contains("4 more alert names not shown"));
        assert!(page.contains("09:00</td><td class=\"num\">7</td>"));
    }
}
