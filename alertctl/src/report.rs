//! `alertctl report`: the alert-fatigue report (`GET /api/alertd/v1/report`) as a table, JSON
//! or CSV (`model::api::FatigueReport::to_csv`).

use std::io::Write;

use clap::{Args, ValueEnum};
use model::api::FatigueReport;

use crate::client::{table, Api, Failure, Result};
use crate::Output;

/// The report's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Readable text: the alerts, the noisiest receivers and hours.
    Table,
    /// The API's JSON answer.
    Json,
    /// One row per alert name, with a header (RFC 4180), for spreadsheets.
    Csv,
}

/// `alertctl report` flags.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The window, up to now (at most 366d; the notifier keeps 7d of history).
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    since: String,
    /// An alert resolved this soon after its first notification, without an ack, counts as
    /// resolved by itself (likely not actionable).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    self_resolved_within: String,
    /// Time zone of the hours of day (IANA name).
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    tz: String,
    /// At most this many alert names (the noisiest).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Output format (default: the global --output).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

/// Seconds in Prometheus duration syntax, to the second (`3m10s`).
fn secs(v: Option<f64>) -> String {
    v.map_or_else(
        || "-".into(),
        |s| model::Duration::from_secs(s.round().max(0.0) as u64).to_string(),
    )
}

/// A count with its share: `2 (14%)`.
fn count_share(n: u64, share: f64) -> String {
    format!("{n} ({:.0}%)", share * 100.0)
}

/// `report`.
pub fn report(api: &Api, a: &ReportArgs) -> Result<()> {
    let q = [
        ("since", a.since.clone()),
        ("self_resolved_within", a.self_resolved_within.clone()),
        ("tz", a.tz.clone()),
        ("limit", a.limit.to_string()),
    ];
    let r: FatigueReport = api.get("/api/alertd/v1/report", &q)?;
    let format = a.format.unwrap_or(match api.output {
        Output::Table => Format::Table,
        Output::Json => Format::Json,
    });
    match format {
        Format::Json => api.print_json(&r),
        Format::Csv => std::io::stdout()
            .write_all(r.to_csv().as_bytes())
            .map_err(|e| Failure::usage(format!("cannot write the report: {e}"))),
        Format::Table => {
            print_table(&r);
            Ok(())
        }
    }
}

fn print_table(r: &FatigueReport) {
    println!(
        "Alert-fatigue report: last {} (from {}), self-resolved = within {} without an ack",
        r.window, r.covered_from, r.self_resolved_within
    );
    if let Some(n) = &r.note {
        println!("Note: {n}");
    }
    println!();
    let rows: Vec<Vec<String>> = r
        .alerts
        .iter()
        .map(|a| {
            vec![
                a.alertname.clone(),
                a.fired.to_string(),
                a.notifications.to_string(),
                count_share(a.acknowledged, a.acknowledged_share),
                format!(
                    "{} / {}",
                    secs(a.ack_median_seconds),
                    secs(a.ack_p90_seconds)
                ),
                format!(
                    "{} / {}",
                    secs(a.resolve_median_seconds),
                    secs(a.resolve_p90_seconds)
                ),
                count_share(a.self_resolved, a.self_resolved_share),
            ]
        })
        .collect();
    table(
        &[
            "Alert",
            "Fired",
            "Sent",
            "Acked",
            "Ack p50 / p90",
            "Resolve p50 / p90",
            "Self-resolved",
        ],
        &rows,
    );
    if r.alerts_omitted > 0 {
        println!("({} more alert names not shown: --limit)", r.alerts_omitted);
    }
    println!();
    let rows: Vec<Vec<String>> = r
        .receivers
        .iter()
        .map(|x| {
            vec![
                x.receiver.clone(),
                x.notifications.to_string(),
                x.failed.to_string(),
            ]
        })
        .collect();
    table(&["Receiver", "Sent", "Failed"], &rows);
    println!();
    let hours: Vec<String> = r
        .noisiest_hours()
        .iter()
        .take(5)
        .map(|h| format!("{:02}:00 ({})", h.hour, h.notifications))
        .collect();
    println!(
        "Noisiest hours ({}): {}",
        r.time_zone,
        if hours.is_empty() {
            "-".to_string()
        } else {
            hours.join(", ")
        }
    );
}
