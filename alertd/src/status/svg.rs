//! Inline SVG: the 24 h response-time chart of a probe and shields-style badges. Every text
//! that comes from configuration or data is escaped ([`super::render::escape`]).

use std::fmt::Write;

use model::Timestamp;

use super::data::DAY;
use super::render::escape;

/// Width of the chart's view box (it scales to its container).
const CHART_W: f64 = 300.0;
/// Height of the chart's view box.
const CHART_H: f64 = 48.0;
/// A gap longer than this between points breaks the line.
const GAP_MS: i64 = 15 * 60_000;

/// A response-time chart of `points` (bucket start, seconds) over `[now - 24h, now]`, as an
/// inline `<svg>`; `label` becomes its accessible title.
pub(crate) fn response_chart(points: &[(Timestamp, f64)], now: Timestamp, label: &str) -> String {
    let max = points
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let mut svg = String::with_capacity(256 + points.len() * 14);
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {CHART_W} {CHART_H}\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"{}\"><title>{}</title>",
        escape(label),
        escape(label)
    );
    // Grid line at half height.
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{h}\" x2=\"{CHART_W}\" y2=\"{h}\" class=\"grid\"/>",
        h = CHART_H / 2.0
    );
    if max > 0.0 {
        let from = now - DAY;
        let x = |t: Timestamp| ((t - from) as f64 / DAY as f64 * CHART_W).clamp(0.0, CHART_W);
        // Two pixels of headroom so a peak's stroke is not cut.
        let y = |v: f64| CHART_H - 2.0 - (v / max) * (CHART_H - 4.0);
        let mut d = String::new();
        let mut prev: Option<Timestamp> = None;
        for (t, v) in points.iter().filter(|(_, v)| v.is_finite()) {
            let cmd = match prev {
                Some(p) if t - p <= GAP_MS => 'L',
                _ => 'M',
            };
            let _ = write!(d, "{cmd}{:.1} {:.1}", x(*t), y(*v));
            prev = Some(*t);
        }
        // A lone point is a dot.
        let _ = write!(svg, "<path class=\"line\" d=\"{d}\"/>");
        if points.len() == 1 {
            let (t, v) = points[0];
            let _ = write!(
                svg,
                "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.5\"/>",
                x(t),
                y(v)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Badge colours (shields.io's palette).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadgeColor {
    /// Up, or uptime ≥ 99.9 %.
    Green,
    /// Uptime ≥ 99 %.
    Yellow,
    /// Uptime ≥ 95 %.
    Orange,
    /// Down, or uptime below 95 %.
    Red,
    /// No data or maintenance.
    Grey,
}

impl BadgeColor {
    fn hex(self) -> &'static str {
        match self {
            BadgeColor::Green => "#4c1",
            BadgeColor::Yellow => "#dfb317",
            BadgeColor::Orange => "#fe7d37",
            BadgeColor::Red => "#e05d44",
            BadgeColor::Grey => "#9f9f9f",
        }
    }

    /// The colour for an uptime ratio (0..=1).
    pub(crate) fn for_uptime(r: f64) -> Self {
        if r >= 0.999 {
            BadgeColor::Green
        } else if r >= 0.99 {
            BadgeColor::Yellow
        } else if r >= 0.95 {
            BadgeColor::Orange
        } else {
            BadgeColor::Red
        }
    }
}

/// Approximate width in pixels of `s` in 11 px Verdana (what shields.io badges use).
fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| match c {
            'i' | 'l' | '|' | '.' | ',' | ':' | ';' | '\'' | '!' | 'j' => 3.5,
            ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '-' => 4.5,
            'm' | 'w' | 'M' | 'W' => 10.5,
            '%' => 12.0,
            '0'..='9' => 7.0,
            'A'..='Z' => 7.5,
            _ => 6.8,
        })
        .sum()
}

/// A flat shields-style badge `label | value`.
pub(crate) fn badge(label: &str, value: &str, color: BadgeColor) -> String {
    let lw = (text_width(label) + 10.0).round();
    let vw = (text_width(value) + 10.0).round();
    let w = lw + vw;
    let (label_e, value_e) = (escape(label), escape(value));
    let mut s = String::with_capacity(1024);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" \
         aria-label=\"{label_e}: {value_e}\"><title>{label_e}: {value_e}</title>\
         <linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" \
         stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
         <clipPath id=\"r\"><rect width=\"{w}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
         <g clip-path=\"url(#r)\"><rect width=\"{lw}\" height=\"20\" fill=\"#555\"/>\
         <rect x=\"{lw}\" width=\"{vw}\" height=\"20\" fill=\"{c}\"/>\
         <rect width=\"{w}\" height=\"20\" fill=\"url(#s)\"/></g>\
         <g fill=\"#fff\" text-anchor=\"middle\" \
         font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"{lx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{label_e}</text>\
         <text x=\"{lx}\" y=\"14\">{label_e}</text>\
         <text x=\"{vx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{value_e}</text>\
         <text x=\"{vx}\" y=\"14\">{value_e}</text></g></svg>",
        c = color.hex(),
        lx = lw / 2.0,
        vx = lw + vw / 2.0,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_escapes_and_sizes_its_texts() {
        let b = badge("uptime 30d", "99.95%", BadgeColor::Green);
        assert!(
            b.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{b}"
        );
        assert!(b.contains(">uptime 30d</text>") && b.contains(">99.95%</text>"));
        assert!(b.contains("fill=\"#4c1\""));
        let evil = badge("<script>", "a&b\"", BadgeColor::Red);
        assert!(!evil.contains("<script>"), "{evil}");
        assert!(evil.contains("&lt;script&gt;") && evil.contains("a&amp;b&quot;"));
        // Longer texts make wider badges.
        let w = |s: &str| -> f64 {
            let i = s.find("width=\"").unwrap() + 7;
            s[i..i + s[i..].find('"').unwrap()].parse().unwrap()
        };
        assert!(w(&badge("status", "down", BadgeColor::Red)) < w(&b));
        assert_eq!(BadgeColor::for_uptime(0.9995), BadgeColor::Green);
        assert_eq!(BadgeColor::for_uptime(0.995), BadgeColor::Yellow);
        assert_eq!(BadgeColor::for_uptime(0.96), BadgeColor::Orange);
        assert_eq!(BadgeColor::for_uptime(0.5), BadgeColor::Red);
    }

    #[test]
    fn chart_breaks_lines_at_gaps_and_scales_to_the_maximum() {
        let now = 10 * DAY;
        let from = now - DAY;
        let pts = [
            (from, 0.1),
            (from + 300_000, 0.2),
            // A gap of an hour starts a new segment.
            (from + 3_900_000, 0.05),
        ];
        let svg = response_chart(&pts, now, "web <b>");
        assert!(svg.contains("aria-label=\"web &lt;b&gt;\""), "{svg}");
        assert!(svg.contains("d=\"M0.0 24.0L1.0 2.0M13.5 35.0\""), "{svg}");
        // No data: just the frame.
        let empty = response_chart(&[], now, "x");
        assert!(!empty.contains("<path"), "{empty}");
    }
}
