//! `alertctl oncall [SCHEDULE] [--at TIME]` (who is on call and next) and `alertctl oncall
//! override add|list|rm` over `/api/alertd/v1/oncall`.

use model::api::api_time;
use model::api::oncall::{OnCallInfo, OnCallOverride, OnCallPerson, OverrideRequest};

use super::{login_name, now_ms, parse_rfc3339, short_time, Api, Failure, Result};
use crate::Output;

/// Flags of `oncall`.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct OncallArgs {
    /// Overrides.
    #[command(subcommand)]
    pub what: Option<OncallCommand>,
    /// Only this schedule (default: every schedule).
    pub schedule: Option<String>,
    /// At this time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
}

/// `oncall` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OncallCommand {
    /// Add, list and remove overrides (a member covers a time range).
    Override {
        #[command(subcommand)]
        what: OverrideCommand,
    },
}

/// `oncall override` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OverrideCommand {
    /// MEMBER covers SCHEDULE from --start (default now) until --end or for --duration;
    /// prints the override's id.
    Add {
        /// The schedule.
        schedule: String,
        /// The member who covers.
        member: String,
        /// From (RFC 3339; default now).
        #[arg(long)]
        start: Option<String>,
        /// Until (RFC 3339).
        #[arg(long, conflicts_with = "duration")]
        end: Option<String>,
        /// For this long (e.g. 8h).
        #[arg(short = 'd', long)]
        duration: Option<String>,
        /// Why.
        #[arg(short = 'c', long, default_value = "")]
        comment: String,
        /// Who asks (default: the login name).
        #[arg(short = 'a', long)]
        author: Option<String>,
    },
    /// List overrides (of SCHEDULE if given).
    List {
        /// Only this schedule.
        schedule: Option<String>,
    },
    /// Remove overrides by id.
    Rm {
        /// Override ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

fn name(p: &Option<OnCallPerson>) -> String {
    p.as_ref()
        .map_or_else(|| "-".into(), |p| format!("{} ({})", p.name, p.receiver))
}

/// `oncall [SCHEDULE] [--at TIME]`.
pub fn show(api: &Api, a: &OncallArgs) -> Result<()> {
    let mut query = Vec::new();
    if let Some(at) = &a.at {
        query.push(("at", api_time(parse_rfc3339("--at", at)?)));
    }
    let v: Vec<OnCallInfo> = match &a.schedule {
        Some(s) => vec![api.get(&format!("/api/alertd/v1/oncall/{s}"), &query)?],
        None => api.get("/api/alertd/v1/oncall", &query)?,
    };
    api.print_list(
        &v,
        &[
            "SCHEDULE",
            "PRIMARY",
            "SECONDARY",
            "NEXT HAND-OFF",
            "NEXT PRIMARY",
            "NEXT SECONDARY",
        ],
        |i| {
            vec![
                i.schedule.clone(),
                name(&i.primary),
                name(&i.secondary),
                i.next_handoff.as_deref().map_or("-".into(), short_time),
                name(&i.next_primary),
                name(&i.next_secondary),
            ]
        },
    )
}

/// `oncall override ...`.
pub fn overrides(api: &Api, what: &OverrideCommand) -> Result<()> {
    match what {
        OverrideCommand::Add {
            schedule,
            member,
            start,
            end,
            duration,
            comment,
            author,
        } => {
            let from = match start {
                Some(s) => parse_rfc3339("--start", s)?,
                None => now_ms(),
            };
            let until = match (end, duration) {
                (Some(e), _) => parse_rfc3339("--end", e)?,
                (None, Some(d)) => {
                    let d: model::Duration = d
                        .parse()
                        .map_err(|e| Failure::usage(format!("--duration: {e} (e.g. 8h)")))?;
                    from + d.as_millis_i64()
                }
                (None, None) => return Err(Failure::usage("give --end or --duration")),
            };
            let body = OverrideRequest {
                schedule: schedule.clone(),
                member: member.clone(),
                start: api_time(from),
                end: api_time(until),
                author: author.clone().unwrap_or_else(login_name),
                comment: comment.clone(),
            };
            let o: OnCallOverride = api.send_json(
                reqwest::Method::POST,
                "/api/alertd/v1/oncall/overrides",
                &body,
            )?;
            match api.output {
                Output::Json => api.print_json(&o),
                Output::Table => {
                    println!("{}", o.id);
                    Ok(())
                }
            }
        }
        OverrideCommand::List { schedule } => {
            let q: Vec<(&str, String)> = schedule.iter().map(|s| ("schedule", s.clone())).collect();
            let v: Vec<OnCallOverride> = api.get("/api/alertd/v1/oncall/overrides", &q)?;
            api.print_list(
                &v,
                &[
                    "ID", "SCHEDULE", "MEMBER", "START", "END", "AUTHOR", "COMMENT",
                ],
                |o| {
                    vec![
                        o.id.clone(),
                        o.schedule.clone(),
                        o.member.clone(),
                        short_time(&o.start),
                        short_time(&o.end),
                        o.author.clone(),
                        o.comment.clone(),
                    ]
                },
            )
        }
        OverrideCommand::Rm { ids } => {
            for id in ids {
                api.send(
                    api.http
                        .delete(format!("{}/api/alertd/v1/oncall/overrides/{id}", api.url)),
                )?;
            }
            Ok(())
        }
    }
}
