//! Manual pages generated from the clap definitions (`clap_mangen`): `alertd man DIR` and
//! `alertctl man DIR` (hidden subcommands) write them, and `deploy/build-deb.sh` puts them into
//! the Debian package. A command gets one page, each subcommand one more (`alertctl-silence-add.1`,
//! as git does); the main page adds the sections clap knows nothing of (files, signals, exit
//! status) after the options.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    fn a_page_per_visible_subcommand_and_the_extra_sections_before_version() {
        let cmd = clap::Command::new("demo")
            .version(crate::VERSION)
            .about("A demo command")
            .arg(clap::Arg::new("flag").long("flag").help("A flag"))
            .subcommand(
                clap::Command::new("run")
                    .about("Runs")
                    .subcommand(clap::Command::new("fast").about("Runs fast")),
            )
            .subcommand(clap::Command::new("man").hide(true));
        const SECTIONS: &[Section] = &[Section {
            title: "EXIT STATUS",
            items: &[("0", "Success."), ("", "A plain paragraph.")],
        }];
        let dir = tempfile::tempdir().unwrap();
        let written = write(
            Pages {
                cmd,
                sections: SECTIONS,
            },
            dir.path(),
        )
        .unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo.1", "demo-run.1", "demo-run-fast.1"]);
        let main = std::fs::read_to_string(&written[0]).unwrap();
        let at = |s: &str| {
            main.find(s)
                .unwrap_or_else(|| panic!("{s:?} missing in:\n{main}"))
        };
        assert!(at(".SH OPTIONS") < at(".SH SUBCOMMANDS"));
        assert!(at(".SH SUBCOMMANDS") < at(".SH \"EXIT STATUS\""));
        assert!(at("A plain paragraph.") < at(".SH VERSION"));
        at(crate::VERSION);
        assert!(!main.contains("demo\\-man"), "{main}");
    }
}
