//! `alertctl`, the command-line client of alertd: offline commands (`check config`, `check
//! rules`, `test rules`) and the commands that talk to a running alertd over its HTTP API
//! (`silence`, `alert`, `ack`, `unack`, `history`, `report`, `oncall`, `heartbeat`, `probe`,
//! `test receiver`,
//! `reload`, `status`), and `completion SHELL` (a shell completion script).
//!
//! Exit codes: 0 ok, 1 a check (or the operation) failed, 2 usage error, unreadable file or
//! connection error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

mod check;
mod client;
mod report;
mod rules;

/// Command-line flags shared by every subcommand (accepted before or after it).
#[derive(Debug, Parser)]
#[command(
    name = "alertctl",
    version = cli_common::VERSION,
    about = "Command-line client of alertd"
)]
struct Cli {
    /// alertd's base URL.
    #[arg(
        long,
        env = "ALERTD_URL",
        default_value = "http://127.0.0.1:9797",
        global = true
    )]
    url: String,
    /// Bearer token for alertd's API.
    #[arg(long, env = "ALERTD_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Readable text.
    Table,
    /// JSON for scripts.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check files offline.
    Check {
        #[command(subcommand)]
        what: CheckCommand,
    },
    /// Run tests: rule unit tests offline, or a test notification through a receiver.
    Test {
        #[command(subcommand)]
        what: TestCommand,
    },
    /// Add, query, expire and import silences (amtool-compatible flags).
    Silence {
        #[command(subcommand)]
        what: SilenceCommand,
    },
    /// Query alerts.
    Alert {
        #[command(subcommand)]
        what: AlertCommand,
    },
    /// Acknowledge firing alerts (stops repeats and escalation until they resolve); without
    /// selectors, lists the current acknowledgements.
    Ack(client::AckArgs),
    /// Remove acknowledgements (same selectors as `ack`).
    Unack(client::AckArgs),
    /// Notification history, newest first.
    History {
        /// Only this receiver.
        #[arg(long)]
        receiver: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Who is on call (now or --at TIME) and next, per schedule; `oncall override` adds,
    /// lists and removes overrides.
    Oncall(client::oncall::OncallArgs),
    /// The alert-fatigue report: per alert name, how often it fired and paged, how fast it was
    /// acknowledged and resolved, how often it resolved by itself; the noisiest receivers and
    /// hours.
    Report(report::ReportArgs),
    /// Heartbeats.
    Heartbeat {
        #[command(subcommand)]
        what: LsCommand,
    },
    /// Probes and scrape targets.
    Probe {
        #[command(subcommand)]
        what: LsCommand,
    },
    /// Ask alertd to reload its configuration file.
    Reload,
    /// Version, uptime, readiness and alert count of the running alertd.
    Status,
    /// Print the shell completion script for SHELL.
    ///
    /// The Debian package installs them; otherwise, e.g. `alertctl completion bash >
    /// ~/.local/share/bash-completion/completions/alertctl`, `alertctl completion zsh >
    /// ~/.zfunc/_alertctl` (with `fpath+=~/.zfunc` before `compinit`), `alertctl completion fish
    /// > ~/.config/fish/completions/alertctl.fish`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (alertctl.1 and one per subcommand) into DIR, for packaging.
    #[command(hide = true)]
    Man {
        /// An existing directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LsCommand {
    /// List with the current state.
    Ls,
}

#[derive(Debug, Subcommand)]
enum SilenceCommand {
    /// Add a silence; prints its id.
    Add(client::SilenceAdd),
    /// List silences (not expired ones, or only expired ones with --expired).
    Query {
        /// Matchers filtering the silences.
        #[arg(value_name = "MATCHER")]
        matchers: Vec<String>,
        /// Show expired silences instead.
        #[arg(long)]
        expired: bool,
        /// Print only the ids.
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Expire silences by id.
    Expire {
        /// Silence ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Import silences from `silence query -o json` output (a file, or stdin).
    Import {
        /// The JSON file (stdin when absent or `-`).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AlertCommand {
    /// List alerts (active ones unless a state flag is given).
    Query(client::AlertQuery),
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    /// Run rule unit tests in `promtool test rules` format (prints promtool's report).
    Rules {
        /// Test files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Send a clearly marked test notification through every integration of a receiver.
    Receiver {
        /// The receiver's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum CheckCommand {
    /// Validate alertd configuration files; prints every error as FILE:LINE:COL: message.
    Config {
        /// Configuration files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Validate Prometheus rule files; prints every error as FILE:LINE:COL with group and rule.
    Rules {
        /// Rule files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Lints to run, comma-separated: all, none, duplicate-rules, runbook (alerting rules
        /// without a runbook_url annotation), summary (without a summary annotation), min-for
        /// (for: shorter than --lint-min-for). `--lint` alone means all; a rule opts out with a
        /// comment above it: `# alertctl-lint: ignore min-for`.
        #[arg(
            long,
            value_name = "LINTS",
            num_args = 0..=1,
            require_equals = true,
            default_value = "duplicate-rules",
            default_missing_value = "all"
        )]
        lint: evaluator::lint::Checks,
        /// The shortest `for:` the min-for lint accepts.
        #[arg(long, value_name = "DURATION", default_value = "1m")]
        lint_min_for: model::Duration,
        /// Exit with status 3 when a lint finds something (as promtool's --lint-fatal).
        #[arg(long)]
        lint_fatal: bool,
    },
}

/// `alertctl completion SHELL`: the script on stdout (exit 2 when stdout is closed).
fn completion(shell: clap_complete::Shell) -> ExitCode {
    // Into memory first: clap_complete panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "alertctl", &mut script);
    match std::io::stdout().write_all(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alertctl: cannot write the completion script: {e}");
            ExitCode::from(2)
        }
    }
}

/// alertctl's manual: the clap definition and the sections clap knows nothing of.
fn man_pages() -> cli_common::man::Pages {
    use cli_common::man::Section;
    const SECTIONS: &[Section] = &[
        Section {
            title: "EXIT STATUS",
            items: &[
                ("0", "Success."),
                (
                    "1",
                    "A check failed (an invalid file, a failed rule test) or the operation \
                     failed (nothing matched an ack, a test notification failed, alertd \
                     answered 5xx).",
                ),
                (
                    "2",
                    "Usage error, unreadable file, or alertd could not be reached (check \
                     --url/ALERTD_URL) or refused the token (401: set --token/ALERTD_TOKEN).",
                ),
            ],
        },
        Section {
            title: "ENVIRONMENT",
            items: &[
                (
                    "ALERTD_URL",
                    "alertd's base URL (--url), http://127.0.0.1:9797 by default.",
                ),
                (
                    "ALERTD_TOKEN",
                    "The bearer token for alertd's API (--token).",
                ),
            ],
        },
        Section {
            title: "SEE ALSO",
            items: &[(
                "",
                "alertd(1), promtool(1), amtool(1); shell completions: alertctl completion SHELL.",
            )],
        },
    ];
    cli_common::man::Pages {
        cmd: Cli::command(),
        sections: SECTIONS,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let api = || client::Api::new(&cli.url, cli.token.clone(), cli.output);
    let online = |f: &dyn Fn(&client::Api) -> Result<(), client::Failure>| {
        client::finish(api().and_then(|a| f(&a)))
    };
    match &cli.command {
        Command::Check {
            what: CheckCommand::Config { files },
        } => check::config(files, cli.output),
        Command::Check {
            what:
                CheckCommand::Rules {
                    files,
                    lint,
                    lint_min_for,
                    lint_fatal,
                },
        } => {
            let lint = evaluator::lint::Options {
                checks: lint.clone(),
                min_for: *lint_min_for,
            };
            rules::check(files, &lint, *lint_fatal, cli.output)
        }
        Command::Test {
            what: TestCommand::Rules { files },
        } => rules::test(files, cli.output),
        Command::Test {
            what: TestCommand::Receiver { name },
        } => online(&|a| client::test_receiver(a, name)),
        Command::Silence { what } => match what {
            SilenceCommand::Add(args) => online(&|a| client::silence_add(a, args)),
            SilenceCommand::Query {
                matchers,
                expired,
                quiet,
            } => online(&|a| client::silence_query(a, matchers, *expired, *quiet)),
            SilenceCommand::Expire { ids } => online(&|a| client::silence_expire(a, ids)),
            SilenceCommand::Import { file } => {
                online(&|a| client::silence_import(a, file.as_deref()))
            }
        },
        Command::Alert {
            what: AlertCommand::Query(q),
        } => online(&|a| client::alert_query(a, q)),
        Command::Ack(args)
            if args.matchers.is_empty() && args.fingerprints.is_empty() && args.group.is_none() =>
        {
            online(&client::acks)
        }
        Command::Ack(args) => online(&|a| client::ack(a, args, false)),
        Command::Unack(args) => online(&|a| client::ack(a, args, true)),
        Command::History { receiver, limit } => {
            online(&|a| client::history(a, receiver.as_deref(), *limit))
        }
        Command::Oncall(args) => match &args.what {
            None => online(&|a| client::oncall::show(a, args)),
            Some(client::oncall::OncallCommand::Override { what }) => {
                online(&|a| client::oncall::overrides(a, what))
            }
        },
        Command::Report(args) => online(&|a| report::report(a, args)),
        Command::Heartbeat {
            what: LsCommand::Ls,
        } => online(&client::heartbeats),
        Command::Probe {
            what: LsCommand::Ls,
        } => online(&client::probes),
        Command::Reload => online(&client::reload),
        Command::Status => online(&client::status),
        Command::Completion { shell } => completion(*shell),
        Command::Man { dir } => cli_common::man::write_or_report(man_pages(), dir),
    }
}
