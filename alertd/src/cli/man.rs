//! alertd's manual pages (written by the hidden `alertd man DIR`): its clap definition and the
//! sections clap knows nothing of, rendered by `cli_common::man`.

use clap::CommandFactory;
use cli_common::man::{Pages, Section};

/// alertd's manual.
pub(crate) fn alertd_pages() -> Pages {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alertd_pages_have_the_options_the_extra_sections_and_the_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = cli_common::man::write(alertd_pages(), dir.path()).unwrap();
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
            cli_common::VERSION,
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
