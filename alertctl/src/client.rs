//! The subcommands that talk to a running alertd over its HTTP API (`model::api` types):
//! silences, alerts, acks, history, heartbeats, probes, test notifications, reload and status.
//!
//! Exit codes: 0 ok; 1 the operation failed (nothing matched, a test notification failed, the
//! server failed); 2 usage or connection error (including 401 and other 4xx answers).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use model::api::{
    api_time, AckInfo, AckRequest, AckResponse, AlertGroup, AlertmanagerStatus, ApiMatcher,
    GettableAlert, GettableSilence, HeartbeatInfo, HistoryItem, PostSilenceResponse,
    PostableSilence, ProbeInfo, TestReceiverResponse,
};
use model::{Clock, Matchers};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Output;

pub mod oncall;

/// A failure with its exit code and a message that says what to do.
#[derive(Debug)]
pub struct Failure {
    /// 1 (failed) or 2 (usage or connection).
    pub code: u8,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::usage(format!("{e:#}"))
    }
}

pub(crate) type Result<T> = std::result::Result<T, Failure>;

/// Turns a command's result into the process exit code, printing the error.
pub fn finish(r: Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("alertctl: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// An API client for one alertd.
pub struct Api {
    url: String,
    token: Option<String>,
    http: Client,
    /// Output format.
    pub output: Output,
}

/// The message in an error body: a JSON string (Alertmanager), `{"error"}` (alertd),
/// `{"message"}` (Alertmanager's request errors) or the text itself.
fn error_message(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v
            .get("error")
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| body.trim().to_string()),
        Err(_) => body.trim().to_string(),
    }
}

impl Api {
    /// A client of the alertd at `url`.
    pub fn new(url: &str, token: Option<String>, output: Output) -> Result<Self> {
        let http = Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Api {
            url: url.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            http,
            output,
        })
    }

    fn send(&self, req: RequestBuilder) -> Result<Response> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().map_err(|e| {
            Failure::usage(format!(
                "cannot reach alertd at {}: {e} (is it running? set --url or ALERTD_URL)",
                self.url
            ))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().unwrap_or_default();
        let msg = error_message(&body);
        Err(match status {
            StatusCode::UNAUTHORIZED => Failure::usage(format!(
                "alertd refused the request (401 Unauthorized: {msg}); set --token or ALERTD_TOKEN to a token from api.tokens_file"
            )),
            StatusCode::NOT_FOUND => Failure::failed(format!("{msg} (404)")),
            s if s.is_client_error() => Failure::usage(format!("{msg} ({})", s.as_u16())),
            s => Failure::failed(format!("alertd answered {}: {msg}", s.as_u16())),
        })
    }

    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let resp = self.send(self.http.get(format!("{}{path}", self.url)).query(query))?;
        resp.json()
            .map_err(|e| Failure::failed(format!("unexpected answer from {path}: {e}")))
    }

    fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let resp = self.send(
            self.http
                .request(method, format!("{}{path}", self.url))
                .json(body),
        )?;
        resp.json()
            .map_err(|e| Failure::failed(format!("unexpected answer from {path}: {e}")))
    }

    /// Prints `items` as JSON, or as a table with `header` and one row per item.
    fn print_list<T: Serialize>(
        &self,
        items: &[T],
        header: &[&str],
        row: impl Fn(&T) -> Vec<String>,
    ) -> Result<()> {
        match self.output {
            Output::Json => self.print_json(&items),
            Output::Table => {
                let rows: Vec<Vec<String>> = items.iter().map(row).collect();
                table(header, &rows);
                Ok(())
            }
        }
    }

    pub(crate) fn print_json(&self, v: &impl Serialize) -> Result<()> {
        let s = serde_json::to_string_pretty(v).map_err(|e| anyhow!(e))?;
        println!("{s}");
        Ok(())
    }
}

/// Prints rows as a table with columns separated by two spaces.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// `2026-11-22T11:49:49.747Z` as `2026-11-22 11:49:49 UTC` (amtool's table form).
fn short_time(t: &str) -> String {
    match model::api::parse_time(t) {
        Ok(Some(ms)) => chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| t.to_string()),
        _ => "-".into(),
    }
}

/// Parses matcher arguments as amtool does: each is `name=value` (also `!=`, `=~`, `!~`,
/// quoted or not) or a braced list; a first argument without an operator means
/// `alertname=<arg>`.
pub fn parse_matchers(args: &[String]) -> Result<Matchers> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let text = if i == 0 && !a.contains(['=', '~', '{']) {
            format!("alertname={a}")
        } else {
            a.clone()
        };
        let ms: Matchers = text
            .parse()
            .map_err(|e| Failure::usage(format!("invalid matcher {a:?}: {e}")))?;
        out.extend(ms.0);
    }
    Ok(Matchers(out))
}

/// The login name (`$USER`, `$LOGNAME`, else the user database's name of the current uid),
/// the default author, as amtool uses it.
pub fn login_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| "unknown".into())
}

fn now_ms() -> i64 {
    model::SystemClock.now_ms()
}

fn parse_rfc3339(flag: &str, s: &str) -> Result<i64> {
    model::api::parse_time(s).ok().flatten().ok_or_else(|| {
        Failure::usage(format!(
            "{flag}: expected an RFC 3339 time such as 2026-11-22T12:00:00Z, got {s:?}"
        ))
    })
}

/// Flags of `silence add`.
#[derive(Debug, Clone, clap::Args)]
pub struct SilenceAdd {
    /// Matchers (`alertname=X`, `instance=~"web.*"`, ...); a first argument without an
    /// operator is an alertname.
    #[arg(required = true, value_name = "MATCHER")]
    pub matchers: Vec<String>,
    /// How long the silence lasts (from --start).
    #[arg(short = 'd', long, default_value = "1h")]
    pub duration: String,
    /// When the silence ends (RFC 3339); overrides --duration.
    #[arg(short = 'e', long)]
    pub end: Option<String>,
    /// When the silence starts (RFC 3339; default now).
    #[arg(long)]
    pub start: Option<String>,
    /// Why.
    #[arg(short = 'c', long, default_value = "")]
    pub comment: String,
    /// Who (default: the login name).
    #[arg(short = 'a', long)]
    pub author: Option<String>,
}

/// `silence add`: prints the new silence's id.
pub fn silence_add(api: &Api, a: &SilenceAdd) -> Result<()> {
    let ms = parse_matchers(&a.matchers)?;
    let start = match &a.start {
        Some(s) => parse_rfc3339("--start", s)?,
        None => now_ms(),
    };
    let end = match &a.end {
        Some(e) => parse_rfc3339("--end", e)?,
        None => {
            let d: model::Duration = a
                .duration
                .parse()
                .map_err(|e| Failure::usage(format!("--duration: {e} (e.g. 30m, 2h, 1d)")))?;
            start + d.as_millis_i64()
        }
    };
    if end <= start {
        return Err(Failure::usage(
            "the silence must end after it starts (check --end/--duration)",
        ));
    }
    let body = PostableSilence {
        id: None,
        matchers: ms.iter().map(ApiMatcher::from).collect(),
        starts_at: api_time(start),
        ends_at: api_time(end),
        created_by: a.author.clone().unwrap_or_else(login_name),
        comment: a.comment.clone(),
    };
    let r: PostSilenceResponse = api.send_json(reqwest::Method::POST, "/api/v2/silences", &body)?;
    match api.output {
        Output::Json => api.print_json(&r),
        Output::Table => {
            println!("{}", r.silence_id);
            Ok(())
        }
    }
}

/// `silence query`: non-expired silences (or only expired ones with `expired`).
pub fn silence_query(api: &Api, matchers: &[String], expired: bool, quiet: bool) -> Result<()> {
    let ms = parse_matchers(matchers)?;
    let q: Vec<(&str, String)> = ms.iter().map(|m| ("filter", m.to_string())).collect();
    let all: Vec<GettableSilence> = api.get("/api/v2/silences", &q)?;
    let v: Vec<GettableSilence> = all
        .into_iter()
        .filter(|s| (s.status.state == "expired") == expired)
        .collect();
    if quiet {
        for s in &v {
            println!("{}", s.id);
        }
        return Ok(());
    }
    api.print_list(
        &v,
        &["ID", "Matchers", "Ends At", "Created By", "Comment"],
        |s| {
            vec![
                s.id.clone(),
                s.matchers_text(),
                short_time(&s.ends_at),
                s.created_by.clone(),
                s.comment.clone(),
            ]
        },
    )
}

/// `silence expire ID...`.
pub fn silence_expire(api: &Api, ids: &[String]) -> Result<()> {
    for id in ids {
        api.send(api.http.delete(format!("{}/api/v2/silence/{id}", api.url)))?;
    }
    Ok(())
}

/// `silence import [FILE]`: posts every silence of amtool's `silence query -o json` output
/// (from FILE or stdin); a silence whose id alertd does not know is created under a new id, as
/// `amtool silence import` does. Expired silences are skipped. Prints the ids.
pub fn silence_import(api: &Api, file: Option<&std::path::Path>) -> Result<()> {
    let mut text = String::new();
    match file.filter(|f| f.as_os_str() != "-") {
        Some(f) => {
            text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
        }
    }
    let silences: Vec<GettableSilence> = serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "expected the JSON array of `amtool silence query -o json` / `alertctl -o json silence query`: {e}"
        ))
    })?;
    let mut ids = Vec::new();
    for s in silences.into_iter().filter(|s| s.status.state != "expired") {
        let mut body = PostableSilence {
            id: Some(s.id.clone()).filter(|i| !i.is_empty()),
            matchers: s.matchers,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            created_by: s.created_by,
            comment: s.comment,
        };
        let r: Result<PostSilenceResponse> =
            api.send_json(reqwest::Method::POST, "/api/v2/silences", &body);
        let r = match r {
            Err(f) if f.message.contains("not found") => {
                body.id = None;
                api.send_json(reqwest::Method::POST, "/api/v2/silences", &body)
            }
            other => other,
        }?;
        ids.push(r.silence_id);
    }
    match api.output {
        Output::Json => api.print_json(&ids),
        Output::Table => {
            for id in ids {
                println!("{id}");
            }
            Ok(())
        }
    }
}

/// Flags of `alert query`.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertQuery {
    /// Matchers; a first argument without an operator is an alertname.
    #[arg(value_name = "MATCHER")]
    pub matchers: Vec<String>,
    /// Show active alerts (the default when no state flag is given).
    #[arg(short = 'a', long)]
    pub active: bool,
    /// Show silenced alerts.
    #[arg(short = 's', long)]
    pub silenced: bool,
    /// Show inhibited alerts.
    #[arg(short = 'i', long)]
    pub inhibited: bool,
    /// Show unprocessed alerts.
    #[arg(short = 'u', long)]
    pub unprocessed: bool,
    /// Only alerts for receivers matching this regex.
    #[arg(short = 'r', long)]
    pub receiver: Option<String>,
}

/// `alert query`: with no state flag, active alerts only (amtool's default).
pub fn alert_query(api: &Api, a: &AlertQuery) -> Result<()> {
    let ms = parse_matchers(&a.matchers)?;
    let any = a.active || a.silenced || a.inhibited || a.unprocessed;
    let flag = |b: bool| b.to_string();
    let mut q: Vec<(&str, String)> = vec![
        ("active", flag(a.active || !any)),
        ("silenced", flag(a.silenced)),
        ("inhibited", flag(a.inhibited)),
        ("unprocessed", flag(a.unprocessed)),
    ];
    q.extend(ms.iter().map(|m| ("filter", m.to_string())));
    if let Some(r) = &a.receiver {
        q.push(("receiver", r.clone()));
    }
    let v: Vec<GettableAlert> = api.get("/api/v2/alerts", &q)?;
    api.print_list(
        &v,
        &[
            "Alertname",
            "Starts At",
            "Summary",
            "State",
            "Acked",
            "Fingerprint",
        ],
        |a| {
            vec![
                a.labels.get_or_empty("alertname").to_string(),
                short_time(&a.starts_at),
                a.annotations.get_or_empty("summary").to_string(),
                a.status.state.clone(),
                a.ack
                    .as_ref()
                    .map(|k| format!("by {}", k.author))
                    .unwrap_or_default(),
                a.fingerprint.clone(),
            ]
        },
    )?;
    // The table also says what is coming: alerts whose rule holds but whose `for:` has not
    // passed yet (the JSON output stays Alertmanager's list).
    if matches!(api.output, Output::Table) && (a.active || !any) && a.receiver.is_none() {
        let pending = pending_alerts(api, &ms)?;
        if !pending.is_empty() {
            println!("\nPending (their rule holds; each fires at the time shown, then is notified after its route's group_wait):");
            let rows: Vec<Vec<String>> = pending
                .iter()
                .map(|p| {
                    vec![
                        p.labels.get_or_empty("alertname").to_string(),
                        short_time(&api_time(p.active_at)),
                        short_time(&api_time(p.fires_at)),
                        p.summary.clone(),
                    ]
                })
                .collect();
            table(
                &["Alertname", "Pending Since", "Fires At", "Summary"],
                &rows,
            );
        }
    }
    Ok(())
}

/// A pending alert of the rules, as `alert query` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAlert {
    /// Its labels.
    pub labels: model::Labels,
    /// The `summary` annotation.
    pub summary: String,
    /// Since when the rule's condition holds (ms).
    pub active_at: model::Timestamp,
    /// When it fires if the condition keeps holding: `active_at` + the rule's `for:` (ms).
    pub fires_at: model::Timestamp,
}

/// The rules' pending alerts matching `ms`, soonest first (from `/api/v1/rules`, which gives
/// each rule's `for:` as `duration` with its alerts' `activeAt`).
fn pending_alerts(api: &Api, ms: &Matchers) -> Result<Vec<PendingAlert>> {
    let v: serde_json::Value = api.get("/api/v1/rules", &[("type", "alert".to_string())])?;
    let mut out = pending_from_rules(&v);
    out.retain(|p| ms.matches(&p.labels));
    Ok(out)
}

/// The pending alerts in a `/api/v1/rules` answer, soonest first.
pub fn pending_from_rules(v: &serde_json::Value) -> Vec<PendingAlert> {
    let empty = Vec::new();
    let mut out = Vec::new();
    let groups = v["data"]["groups"].as_array().unwrap_or(&empty);
    for r in groups
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap_or(&empty))
    {
        let hold = (r["duration"].as_f64().unwrap_or(0.0) * 1000.0) as i64;
        for a in r["alerts"].as_array().unwrap_or(&empty) {
            if a["state"] != "pending" {
                continue;
            }
            let Ok(Some(active_at)) = model::api::parse_time(a["activeAt"].as_str().unwrap_or(""))
            else {
                continue;
            };
            let Ok(labels) = serde_json::from_value::<model::Labels>(a["labels"].clone()) else {
                continue;
            };
            out.push(PendingAlert {
                labels,
                summary: a["annotations"]["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                active_at,
                fires_at: active_at.saturating_add(hold),
            });
        }
    }
    out.sort_by(|a, b| (a.fires_at, &a.labels).cmp(&(b.fires_at, &b.labels)));
    out
}

/// Selectors and metadata of `ack` / `unack`.
#[derive(Debug, Clone, clap::Args)]
pub struct AckArgs {
    /// Matchers selecting firing alerts (all must match).
    #[arg(value_name = "MATCHER")]
    pub matchers: Vec<String>,
    /// Alert fingerprints (16 hex digits, as `alert query` shows them).
    #[arg(long = "fingerprint", value_name = "FP")]
    pub fingerprints: Vec<String>,
    /// A group key.
    #[arg(long)]
    pub group: Option<String>,
    /// Why.
    #[arg(short = 'c', long, default_value = "")]
    pub comment: String,
    /// Who (default: the login name).
    #[arg(short = 'a', long)]
    pub author: Option<String>,
}

/// `ack` (or `unack` with `remove`): prints the alerts changed; exit 1 when none matched.
pub fn ack(api: &Api, a: &AckArgs, remove: bool) -> Result<()> {
    let matchers = if a.matchers.is_empty() {
        Vec::new()
    } else {
        parse_matchers(&a.matchers)?
            .iter()
            .map(|m| m.to_string())
            .collect()
    };
    if matchers.is_empty() && a.fingerprints.is_empty() && a.group.is_none() {
        return Err(Failure::usage(
            "select alerts with matchers (alertctl ack alertname=X), --fingerprint or --group",
        ));
    }
    let body = AckRequest {
        matchers,
        fingerprints: a.fingerprints.clone(),
        group: a.group.clone(),
        author: a.author.clone().unwrap_or_else(login_name),
        comment: a.comment.clone(),
    };
    let method = if remove {
        reqwest::Method::DELETE
    } else {
        reqwest::Method::POST
    };
    let r: AckResponse = api.send_json(method, "/api/alertd/v1/acks", &body)?;
    match api.output {
        Output::Json => api.print_json(&r),
        Output::Table => {
            let verb = if remove {
                "unacknowledged"
            } else {
                "acknowledged"
            };
            for x in &r.alerts {
                println!("{verb} {} {}", x.fingerprint, x.labels);
            }
            Ok(())
        }
    }
}

/// `ack` without selectors: the current acknowledgements.
pub fn acks(api: &Api) -> Result<()> {
    let v: Vec<AckInfo> = api.get("/api/alertd/v1/acks", &[])?;
    api.print_list(
        &v,
        &["Fingerprint", "Labels", "Author", "At", "Comment"],
        |a| {
            vec![
                a.fingerprint.clone(),
                a.labels.to_string(),
                a.author.clone(),
                short_time(&a.at),
                a.comment.clone(),
            ]
        },
    )
}

/// `history`.
pub fn history(api: &Api, receiver: Option<&str>, limit: usize) -> Result<()> {
    let mut q = vec![("limit", limit.to_string())];
    if let Some(r) = receiver {
        q.push(("receiver", r.to_string()));
    }
    let v: Vec<HistoryItem> = api.get("/api/alertd/v1/history", &q)?;
    api.print_list(
        &v,
        &[
            "At",
            "Receiver",
            "Integration",
            "Status",
            "Alerts",
            "Attempt",
            "Result",
            "Error",
        ],
        |h| {
            vec![
                short_time(&h.at),
                h.receiver.clone(),
                h.integration.clone(),
                h.status.clone(),
                h.alerts_summary(),
                h.attempt.to_string(),
                h.result.clone(),
                h.error.clone().unwrap_or_default(),
            ]
        },
    )
}

/// `heartbeat ls`.
pub fn heartbeats(api: &Api) -> Result<()> {
    let v: Vec<HeartbeatInfo> = api.get("/api/alertd/v1/heartbeats", &[])?;
    let t = |o: &Option<String>| o.as_deref().map_or("-".into(), short_time);
    api.print_list(
        &v,
        &["Name", "State", "Last Success", "Deadline", "Exit Code"],
        |h| {
            vec![
                h.name.clone(),
                h.state.clone(),
                t(&h.last_success),
                t(&h.deadline),
                h.last_exit_code.map_or("-".into(), |c| c.to_string()),
            ]
        },
    )
}

/// `probe ls`.
pub fn probes(api: &Api) -> Result<()> {
    let v: Vec<ProbeInfo> = api.get("/api/alertd/v1/probes", &[])?;
    api.print_list(
        &v,
        &[
            "Name", "Kind", "State", "Last Run", "Duration", "Failures", "Error",
        ],
        |p| {
            vec![
                p.name.clone(),
                p.kind.clone(),
                p.state.clone(),
                p.last_run.as_deref().map_or("-".into(), short_time),
                format!("{:.3}s", p.last_duration_seconds),
                p.consecutive_failures.to_string(),
                p.last_error.clone().unwrap_or_default(),
            ]
        },
    )
}

/// `test receiver NAME`: exit 1 when an integration failed.
pub fn test_receiver(api: &Api, name: &str) -> Result<()> {
    let path = format!("/api/alertd/v1/receivers/{name}/test");
    let r: TestReceiverResponse = api.send_json(reqwest::Method::POST, &path, &())?;
    match api.output {
        Output::Json => api.print_json(&r)?,
        Output::Table if r.integrations.is_empty() => {
            println!(
                "receiver {} has no integrations: nothing was sent",
                r.receiver
            );
        }
        Output::Table => {
            for i in &r.integrations {
                match &i.error {
                    None => println!("{} {}: test notification sent", r.receiver, i.name),
                    Some(e) => println!("{} {}: FAILED: {e}", r.receiver, i.name),
                }
            }
        }
    }
    if r.integrations.iter().all(|i| i.ok) {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "the test notification to receiver {name:?} failed"
        )))
    }
}

/// `reload`: asks alertd to re-read its configuration.
pub fn reload(api: &Api) -> Result<()> {
    let resp = api.send(api.http.post(format!("{}/-/reload", api.url)))?;
    let text = resp.text().unwrap_or_default();
    match api.output {
        Output::Json => api.print_json(&serde_json::json!({ "status": "success" })),
        Output::Table => {
            print!("{text}");
            Ok(())
        }
    }
}

/// `status`: version, uptime, readiness and the cluster state; the Alertmanager-form
/// configuration with `-o json`.
pub fn status(api: &Api) -> Result<()> {
    let s: AlertmanagerStatus = api.get("/api/v2/status", &[])?;
    let ready = api
        .http
        .get(format!("{}/-/ready", api.url))
        .send()
        .ok()
        .map(|r| (r.status().is_success(), r.text().unwrap_or_default()));
    let groups: Vec<AlertGroup> = api.get("/api/v2/alerts/groups", &[])?;
    let firing: usize = groups.iter().map(|g| g.alerts.len()).sum();
    match api.output {
        Output::Json => api.print_json(&serde_json::json!({
            "status": s,
            "ready": ready.as_ref().map(|r| r.0),
            "alerts": firing,
        })),
        Output::Table => {
            println!("alertd {} at {}", s.version_info.version, api.url);
            println!("Started:  {}", short_time(&s.uptime));
            match ready {
                Some((true, _)) => println!("Ready:    yes"),
                Some((false, t)) => println!("Ready:    no ({})", t.trim()),
                None => println!("Ready:    unknown"),
            }
            println!("Alerts:   {firing} in {} groups", groups.len());
            println!("Cluster:  {}", s.cluster.status);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_args_follow_amtool() {
        let ms = parse_matchers(&["HighLatency".into(), "instance=~web.*".into()]).unwrap();
        assert_eq!(
            ms.to_string(),
            "{alertname=\"HighLatency\", instance=~\"web.*\"}"
        );
        let ms = parse_matchers(&["{job=\"node\",severity!=\"info\"}".into()]).unwrap();
        assert_eq!(ms.0.len(), 2);
        assert!(parse_matchers(&["a=b".into(), "bad".into()]).is_err());
    }

    #[test]
    fn error_bodies_of_every_api_are_understood() {
        assert_eq!(error_message("\"silence not found\""), "silence not found");
        assert_eq!(error_message(r#"{"code":400,"message":"bad"}"#), "bad");
        assert_eq!(
            error_message(r#"{"error":"no matching firing alert"}"#),
            "no matching firing alert"
        );
        assert_eq!(error_message("plain text\n"), "plain text");
    }
}

#[cfg(test)]
mod pending_tests {
    use super::*;

    #[test]
    fn pending_alerts_fire_at_active_since_plus_for() {
        // The shape alertd's (and Prometheus's) /api/v1/rules answers with.
        let v: serde_json::Value = serde_json::from_str(
            r#"{"status":"success","data":{"groups":[{"name":"g","rules":[
              {"name":"ProbeDown","type":"alerting","duration":120,"alerts":[
                {"labels":{"alertname":"ProbeDown","probe":"web"},"annotations":{"summary":"web is down"},
                 "state":"pending","activeAt":"2026-12-07T06:00:00Z"},
                {"labels":{"alertname":"ProbeDown","probe":"db"},"annotations":{},
                 "state":"firing","activeAt":"2026-12-07T05:00:00Z"}]},
              {"name":"DiskFull","type":"alerting","duration":0,"alerts":[]}]}]}}"#,
        )
        .unwrap();
        let p = pending_from_rules(&v);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].labels.get("probe"), Some("web"));
        assert_eq!(p[0].summary, "web is down");
        assert_eq!(p[0].fires_at - p[0].active_at, 120_000);
        assert_eq!(
            short_time(&api_time(p[0].fires_at)),
            "2026-12-07 06:02:00 UTC"
        );
    }
}
