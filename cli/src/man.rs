//! Manual pages generated from the clap definitions (`clap_mangen`): `alertd man DIR` and
//! `alertctl man DIR` (hidden subcommands) write them, and `deploy/build-deb.sh` puts them into
//! the Debian package. A command gets one page, each subcommand one more (`alertctl-silence-add.1`,
//! as git does); the main page adds the sections clap knows nothing of (files, signals, exit
//! status) after the options.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

/// A section of a main page: its title and its items, each a term and its text (an empty term
/// makes a plain paragraph).
#[derive(Debug, Clone, Copy)]
pub struct Section {
    /// The heading, e.g. `FILES`.
    pub title: &'static str,
    /// `(term, text)` pairs.
    pub items: &'static [(&'static str, &'static str)],
}

/// The manual of one command: its definition and the extra sections of its main page.
#[derive(Debug)]
pub struct Pages {
    /// The command, as the binary parses it.
    pub cmd: clap::Command,
    /// Sections after OPTIONS and SUBCOMMANDS.
    pub sections: &'static [Section],
}

/// alertd's manual.
pub fn alertd_pages() -> Pages {
    Pages {
        cmd: super::Args::command(),
        sections: ALERTD_SECTIONS,
    }
}

const ALERTD_SECTIONS: &[Section] = &[
    Section {
        title: "SIGNALS",
        items: &[
            (
                "SIGHUP",
                "Reload the configuration file (also POST /-/reload). Only a fully valid file is \
                 applied; otherwise the running configuration stays and the error is logged.",
            ),
            (
                "SIGTERM, SIGINT",
                "Drain queued notifications, checkpoint the store and exit with status 0.",
            ),
        ],
    },
    Section {
        title: "EXIT STATUS",
        items: &[
            ("0", "Clean shutdown, or the subcommand succeeded."),
            (
                "1",
                "The daemon could not start (an invalid configuration: every error is logged as \
                 FILE:LINE:COL) or failed; the subcommand failed.",
            ),
            ("2", "Usage error."),
        ],
    },
    Section {
        title: "FILES",
        items: &[
            (
                "/etc/alertd/alertd.yaml",
                "The configuration the packaged systemd unit starts alertd with \
                 (alertctl check config validates it offline).",
            ),
            (
                "/etc/alertd/rules/",
                "The default rule pack (Prometheus rule files), loaded by rule_files.",
            ),
            (
                "/var/lib/alertd/",
                "storage.path of the packaged configuration: the time-series store, alert \
                 state, silences, acknowledgements, the notification queue; snapshots/ holds \
                 the snapshots taken with POST /api/alertd/v1/snapshot.",
            ),
            (
                "alertd.service",
                "The hardened systemd unit: systemctl reload alertd sends SIGHUP, logs go to \
                 the journal (journalctl -u alertd).",
            ),
        ],
    },
    Section {
        title: "SEE ALSO",
        items: &[(
            "",
            "alertctl(1), promtool(1), amtool(1), systemctl(1), journalctl(1); the README in \
             /usr/share/doc/alertd/.",
        )],
    },
];

/// Writes the pages of `pages` into `dir` (which must exist) and returns their paths, the main
/// page first.
pub fn write(pages: Pages, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut cmd = pages.cmd.disable_help_subcommand(true);
    cmd.build();
    let man = Man::new(cmd.clone());
    let main = dir.join(man.get_filename());
    let mut out = std::io::BufWriter::new(std::fs::File::create(&main)?);
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = Roff::new();
    for section in pages.sections {
        roff.control("SH", [section.title]);
        for (term, text) in section.items {
            if term.is_empty() {
                roff.control("PP", []);
            } else {
                roff.control("TP", []).text([bold(*term)]);
            }
            roff.text([roman(*text)]);
        }
    }
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    out.flush()?;
    let mut written = vec![main];
    subcommand_pages(&cmd, dir, &mut written)?;
    Ok(written)
}

/// One page for each visible subcommand, recursively (names from clap's display names,
/// `alertctl-silence-add`).
fn subcommand_pages(
    cmd: &clap::Command,
    dir: &Path,
    out: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push(Man::new(sub.clone()).generate_to(dir)?);
        subcommand_pages(sub, dir, out)?;
    }
    Ok(())
}

/// The hidden `man DIR` subcommand of alertd and alertctl: prints each page written; exit 1
/// (with the reason) when one could not be written.
pub fn write_or_report(pages: Pages, dir: &Path) -> ExitCode {
    match write(pages, dir) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write manual pages into {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alertd_pages_have_the_options_the_extra_sections_and_the_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = write(alertd_pages(), dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        // The hidden `man` subcommand gets no page.
        assert_eq!(names, ["alertd.1", "alertd-snapshot.1"]);
        let main = std::fs::read_to_string(&written[0]).unwrap();
        assert!(main.starts_with(".ie") || main.starts_with(".TH"), "{main}");
        for want in [
            ".TH alertd 1",
            "\\-\\-config",
            "\\-\\-log.level",
            "alertd\\-snapshot(1)",
            ".SH SIGNALS",
            "SIGHUP",
            ".SH FILES",
            "/etc/alertd/alertd.yaml",
            ".SH VERSION",
            super::super::VERSION,
        ] {
            assert!(main.contains(want), "{want:?} missing in:\n{main}");
        }
        assert!(!main.contains("alertd\\-man"), "{main}");
        // Sections in the usual order: options, subcommands, the extra ones, version.
        let at = |s: &str| main.find(s).unwrap();
        assert!(at(".SH OPTIONS") < at(".SH SUBCOMMANDS"));
        assert!(at(".SH SUBCOMMANDS") < at(".SH SIGNALS"));
        assert!(at("SEE ALSO") < at(".SH VERSION"));
        let snapshot = std::fs::read_to_string(&written[1]).unwrap();
        assert!(snapshot.contains("\\-\\-out"), "{snapshot}");
    }
}
