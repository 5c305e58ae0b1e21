//! `alertctl`, the command-line client of alertd. This version implements the offline
//! commands (`check config`, `check rules`, `test rules`); the subcommands that talk to a running
//! alertd come with the HTTP API.
//!
//! Exit codes: 0 ok, 1 a check failed, 2 usage error, unreadable file or connection error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod check;
mod rules;

/// Command-line flags shared by every subcommand (accepted before or after it).
#[derive(Debug, Parser)]
#[command(name = "alertctl", version, about = "Command-line client of alertd")]
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
    /// Run tests offline.
    Test {
        #[command(subcommand)]
        what: TestCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    /// Run rule unit tests in `promtool test rules` format (prints promtool's report).
    Rules {
        /// Test files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `url` and `token` are used by the API subcommands; `check` works offline.
    let _ = (&cli.url, &cli.token);
    match cli.command {
        Command::Check {
            what: CheckCommand::Config { files },
        } => check::config(&files, cli.output),
        Command::Check {
            what: CheckCommand::Rules { files },
        } => rules::check(&files, cli.output),
        Command::Test {
            what: TestCommand::Rules { files },
        } => rules::test(&files, cli.output),
    }
}
