//! Numbers and times formatted and parsed as Go does, where alertd must print what Prometheus or
//! Alertmanager print: `strconv.FormatFloat` / `fmt`'s `%e %f %g`, `strconv.ParseFloat`, and
//! `time.Time` in RFC 3339 as Go's JSON writes it. One implementation for the PromQL evaluator,
//! both template engines and the notification payloads.

use crate::clock::Timestamp;

/// Go's zero `time.Time` in RFC 3339 (`endsAt` of a firing alert, an unset time).
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Go's `strconv.FormatFloat(v, 'f', prec, 64)`; `None` is Go's precision -1 (the fewest digits
/// that read back as `v`).
pub fn format_f(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = non_finite(v) {
        return s.into();
    }
    match prec {
        None => format!("{v}"),
        Some(p) => format!("{v:.p$}"),
    }
}

/// Go's `strconv.FormatFloat(v, 'e', prec, 64)`: `1e+06`, `1.5e-07`, at least two exponent
/// digits; `None` is the shortest form.
pub fn format_e(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = non_finite(v) {
        return s.into();
    }
    let s = match prec {
        None => format!("{v:e}"),
        Some(p) => format!("{v:.p$e}"),
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go's `strconv.FormatFloat(v, 'g', prec, 64)`, which is also `fmt`'s `%v` of a float64
/// (`None`: shortest, exponent form from 1e6 and below 1e-4) and `%.<prec>g`.
pub fn format_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = non_finite(v) {
        return s.into();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    let e = match prec {
        None => format!("{:e}", v.abs()),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
    };
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let eprec = match prec {
        // Go decides on the exponent form with precision 6 for the shortest form.
        None => 6,
        Some(p) => {
            let p = p.max(1) as i32;
            if p > nd && nd >= dp {
                nd
            } else {
                p
            }
        }
    };
    let body = if exp < -4 || exp >= eprec {
        let mut m = digits[..1].to_string();
        if nd > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        format!("{m}e{es}{:02}", exp.abs())
    } else if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= nd {
        format!("{digits}{}", "0".repeat((dp - nd) as usize))
    } else {
        format!("{}.{}", &digits[..dp as usize], &digits[dp as usize..])
    };
    format!("{sign}{body}")
}

/// Go's `strconv.ParseFloat(s, 64)` for what Prometheus parses (`le` labels, test values,
/// template arguments): decimal and exponent forms, `Inf`/`+Inf`/`-Inf`/`Infinity` and `NaN`
/// in any case.
pub fn parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// A time (ms since the epoch) as Go's `time.Time` marshals to JSON in UTC: RFC 3339 with the
/// fraction's trailing zeros cut (`RFC3339Nano`), `Z`; [`GO_ZERO_TIME`] when out of range.
pub fn rfc3339(ms: Timestamp) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return GO_ZERO_TIME.into();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ms.rem_euclid(1000);
    if frac != 0 {
        let f = format!("{frac:03}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by Go 1.19 (`strconv.FormatFloat`), as Prometheus 2.42 prints them.
    #[test]
    fn floats_as_go_formats_them() {
        assert_eq!(format_g(1e6, None), "1e+06");
        assert_eq!(format_g(123456.0, None), "123456");
        assert_eq!(format_g(0.5, None), "0.5");
        assert_eq!(format_g(0.00001, None), "1e-05");
        assert_eq!(format_g(-0.0, None), "-0");
        assert_eq!(format_g(1234.5678, Some(4)), "1235");
        assert_eq!(format_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(format_g(100.0, Some(4)), "100");
        assert_eq!(format_g(0.000123, Some(4)), "0.000123");
        assert_eq!(format_g(f64::NAN, None), "NaN");
        assert_eq!(format_g(f64::NEG_INFINITY, Some(4)), "-Inf");
        assert_eq!(format_e(1500.0, None), "1.5e+03");
        assert_eq!(format_e(0.0, None), "0e+00");
        assert_eq!(format_e(1e-7, None), "1e-07");
        assert_eq!(format_e(2.5, Some(3)), "2.500e+00");
        assert_eq!(format_f(1e21, None), "1000000000000000000000");
        assert_eq!(format_f(0.1, None), "0.1");
        assert_eq!(format_f(2.71528, Some(2)), "2.72");
        assert_eq!(format_f(f64::INFINITY, Some(2)), "+Inf");
    }

    #[test]
    fn floats_parse_as_go_parses_them() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("-infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("0.25"), Some(0.25));
        assert_eq!(parse_float("x"), None);
    }

    #[test]
    fn times_as_go_json_writes_them() {
        assert_eq!(rfc3339(1_795_000_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(1_795_000_000_185), "2026-11-18T11:06:40.185Z");
        assert_eq!(rfc3339(1_795_000_000_100), "2026-11-18T11:06:40.1Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), GO_ZERO_TIME);
    }
}
