//! The `alertd` command line: flags, logging setup, and the process entry point used by
//! `main.rs`; alertd's manual pages ([`man`], written by `cli_common::man`).

pub(crate) mod man;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tracing::error;

use crate::daemon::{self, DaemonError};

/// `alertd` flags.
#[derive(Debug, Parser)]
#[command(
    name = "alertd",
    version = cli_common::VERSION,
    about = "Probes, rules and alert routing in one daemon",
    long_about = "Probes, rules and alert routing in one daemon.\n\n\
        Without a subcommand alertd runs the daemon: it probes services, scrapes metrics and \
        receives heartbeats, stores the results, evaluates Prometheus alert rules and routes \
        the alerts to receivers with Alertmanager semantics, as --config says. SIGHUP reloads \
        the configuration (only a fully valid file is applied); SIGTERM drains notifications, \
        checkpoints the store and exits 0."
)]
pub(crate) struct Args {
    /// Configuration file.
    #[arg(
        long = "config",
        visible_alias = "config.file",
        value_name = "FILE",
        default_value = "alertd.yaml",
        global = true
    )]
    pub config: PathBuf,
    /// Log format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Minimum level of log lines.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Without a subcommand, alertd runs the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `alertd` subcommands (without one, the daemon runs).
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Writes a consistent copy of the store of `--config`'s `storage.path` to DIR while no
    /// daemon runs (refused while one holds the store: use `POST /api/alertd/v1/snapshot`).
    Snapshot {
        /// The snapshot's directory (must not exist); restore by using it as `storage.path`.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Writes the manual pages (alertd.1, alertd-snapshot.1) into DIR, for packaging.
    #[command(hide = true)]
    Man {
        /// An existing directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Minimum log level (Prometheus's `--log.level` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogLevel {
    /// Everything, including debug detail.
    Debug,
    /// Normal operation.
    Info,
    /// Warnings and errors.
    Warn,
    /// Errors only.
    Error,
}

impl From<LogLevel> for tracing::Level {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }
}

/// Installs the global tracing subscriber (logs go to stderr).
pub(crate) fn init_logging(format: LogFormat, level: LogLevel) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::from(level))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The stack of every runtime thread (async workers and the blocking pool): API queries,
/// rules and templates evaluate PromQL there, and the parser and evaluator recurse once per
/// level of an expression. `evaluator::promql::limits` bounds that depth; its test
/// `max_depth_expressions_fit_in_a_small_stack` runs the deepest accepted expressions on half
/// of this (tokio's default, 2 MiB, is too small for them in an unoptimised build). Only the
/// pages a thread touches take memory.
pub(crate) const THREAD_STACK_BYTES: usize = 12 * 1024 * 1024;

/// Parses the command line, runs the daemon and returns the process exit code: 0 after a
/// clean shutdown, 1 when the daemon could not start or failed, 2 on a usage error.
pub fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format, args.log_level);
    match &args.command {
        Some(Command::Snapshot { out }) => return snapshot(&args.config, out),
        Some(Command::Man { dir }) => {
            return cli_common::man::write_or_report(man::alertd_pages(), dir);
        }
        None => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(THREAD_STACK_BYTES)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let clock: Arc<dyn model::Clock> = Arc::new(model::SystemClock);
    match runtime.block_on(daemon::run(args.config, clock)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(DaemonError::Config(e)) => {
            daemon::log_load_error(&e);
            error!("alertd refuses to start with an invalid configuration");
            ExitCode::FAILURE
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `alertd snapshot`: prints the snapshot's path and size; exit 1 when it failed.
fn snapshot(config: &std::path::Path, out: &std::path::Path) -> ExitCode {
    let cfg = match crate::config::load_file(config) {
        Ok(c) => c,
        Err(e) => {
            daemon::log_load_error(&e);
            return ExitCode::FAILURE;
        }
    };
    match crate::admin::snapshot_offline(&cfg.storage, out) {
        Ok(info) => {
            println!(
                "snapshot written to {} ({} engine, {} entries, {} bytes)",
                info.path.display(),
                info.engine,
                info.entries,
                info.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
