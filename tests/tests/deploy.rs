//! The deployment files: `deploy/alertd.service` passes `systemd-analyze verify` and keeps its
//! hardening; `deploy/install.sh` gives an installation that runs the way the unit runs it; the
//! Debian package (`deploy/build-deb.sh`, path in `ALERTD_DEB`) has its files and passes lintian,
//! and installs, upgrades, removes and purges cleanly under real systemd; `--version`, the
//! completion scripts and the manual pages come from the clap definitions.
//!
//! systemd is not PID 1 on these machines (nor in CI), so
//! `package_installs_upgrades_and_purges_under_systemd` boots a minimal Debian with systemd as
//! PID 1 in a `systemd-nspawn` container and installs the package there
//! (`deploy/test-in-nspawn.sh`). `installed_alertd_runs_as_the_unit_runs_it` also reproduces
//! what the unit asks for with the kernel's own mechanisms on the host: the `alertd` user from
//! install.sh (setpriv), no new privileges, an empty capability bounding set, a read-only file
//! system except the data directory (`ProtectSystem=strict` + `ReadWritePaths`, in a mount
//! namespace), an empty private /tmp and hidden /home and /root, the unit's working directory
//! and command line (the seccomp filter and the other `Protect*`/`Restrict*` settings are
//! checked in the container).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{
    bin, free_port, http, metric_value, on_path, repo_root, skip_outside_ci, wait_for, Signal,
};

fn unit_text() -> String {
    std::fs::read_to_string(repo_root().join("deploy/alertd.service")).unwrap()
}

/// Every `Key=value` line of the unit's sections, in order.
fn directives(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn directive(text: &str, key: &str) -> String {
    directives(text)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .next_back()
        .unwrap_or_else(|| panic!("{key}= missing in deploy/alertd.service"))
}

#[test]
fn unit_file_verifies_and_keeps_its_hardening() {
    let text = unit_text();
    for (key, want) in [
        ("User", "alertd"),
        ("Group", "alertd"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/alertd"),
        ("StateDirectory", "alertd"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", "CAP_NET_RAW"),
        ("AmbientCapabilities", "CAP_NET_RAW"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        (
            "RestrictAddressFamilies",
            "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        ),
        ("SystemCallArchitectures", "native"),
        ("ExecReload", "/bin/sh -c \"kill -HUP $$MAINPID\""),
        ("ConfigurationDirectoryMode", "0750"),
        ("Restart", "on-failure"),
        ("StandardOutput", "journal"),
        ("StandardError", "journal"),
    ] {
        assert_eq!(directive(&text, key), want, "{key}=");
    }
    assert!(directives(&text).contains(&("SystemCallFilter".into(), "@system-service".into())));

    let analyze = Path::new("/usr/bin/systemd-analyze");
    assert!(
        analyze.exists(),
        "systemd-analyze not found: apt-get install systemd (.ci/run does)"
    );
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("alertd.service");
    let exec = format!("ExecStart={}", bin("alertd").display());
    std::fs::write(&unit, text.replace("ExecStart=/usr/bin/alertd", &exec)).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Complaints about the unit name the file; other units of the machine are not ours.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("alertd.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{stderr}");

    // The exposure score systemd computes for the unit's sandboxing (0 = fully locked down,
    // 10 = unprotected); the hardening above gives about 1.5 ("OK").
    let out = Command::new(analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("exposure level for alertd.service: ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(score <= 2.0, "exposure {score}:\n{report}");
}

/// Removes the test's installation root (under /var/lib, not /tmp: the private /tmp of the
/// sandbox would hide it).
struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `id -u [USER]`.
fn id_u(user: Option<&str>) -> u32 {
    let out = Command::new("id").arg("-u").args(user).output().unwrap();
    assert!(out.status.success(), "id -u {user:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn proc_status(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn installed_alertd_runs_as_the_unit_runs_it() {
    assert_eq!(
        id_u(None),
        0,
        "this test installs alertd (user, files) and needs root, as CI has"
    );
    let root = Root(PathBuf::from(format!(
        "/var/lib/alertd-e2e-{}",
        std::process::id()
    )));
    let dest = root.0.join("root");
    std::fs::create_dir_all(&dest).unwrap();

    // A clean install into DESTDIR (the user is created on this machine).
    let bindir = bin("alertd").parent().unwrap().to_path_buf();
    let out = Command::new(repo_root().join("deploy/install.sh"))
        .arg(&bindir)
        .env("DESTDIR", &dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let etc = dest.join("etc/alertd");
    let data = dest.join("var/lib/alertd");
    for f in [
        "usr/local/bin/alertd",
        "usr/local/bin/alertctl",
        "etc/alertd/alertd.yaml",
    ] {
        assert!(dest.join(f).is_file(), "{f} not installed");
    }
    assert!(dest.join("etc/systemd/system/alertd.service").is_file());
    assert!(etc.join("rules/uptime.rules.yml").is_file());
    let alertd_uid = id_u(Some("alertd"));
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(&data).unwrap();
        assert_eq!(m.uid(), alertd_uid);
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        let m = std::fs::metadata(etc.join("alertd.yaml")).unwrap();
        assert_eq!(
            m.permissions().mode() & 0o777,
            0o640,
            "config not world-readable"
        );
    }
    // The installed config, moved into the test's root and onto a free port.
    let port = free_port();
    let cfg_path = etc.join("alertd.yaml");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    assert!(cfg.contains("path: /var/lib/alertd"), "{cfg}");
    let cfg = cfg
        .replace(
            "path: /var/lib/alertd",
            &format!("path: {}", data.display()),
        )
        .replace("127.0.0.1:9797", &format!("127.0.0.1:{port}"));
    std::fs::write(&cfg_path, cfg).unwrap();
    let check = Command::new(dest.join("usr/local/bin/alertctl"))
        .args(["check", "config"])
        .arg(&cfg_path)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    // The unit as install.sh installed it (running /usr/local/bin/alertd), its command line and
    // sandbox with its paths inside the test's root.
    let text = std::fs::read_to_string(dest.join("etc/systemd/system/alertd.service")).unwrap();
    assert!(
        text.contains("\nExecStart=/usr/local/bin/alertd --config /etc/alertd/alertd.yaml\n"),
        "{text}"
    );
    // install.sh changes nothing but ExecStart's path.
    let packaged = unit_text();
    assert_eq!(text.lines().count(), packaged.lines().count());
    let changed: Vec<(&str, &str)> = text
        .lines()
        .zip(packaged.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [(
            "ExecStart=/usr/local/bin/alertd --config /etc/alertd/alertd.yaml",
            "ExecStart=/usr/bin/alertd --config /etc/alertd/alertd.yaml"
        )]
    );
    // The unit's absolute paths of the installation, moved under the test's root.
    let map = |v: &str| {
        v.split_whitespace()
            .map(|w| {
                if ["/usr/local/bin/", "/etc/alertd", "/var/lib/alertd"]
                    .iter()
                    .any(|p| w.starts_with(p))
                {
                    format!("{}{w}", dest.display())
                } else {
                    w.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let exec: Vec<String> = map(&directive(&text, "ExecStart"))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let rw = map(&directive(&text, "ReadWritePaths"));
    let workdir = map(&directive(&text, "WorkingDirectory"));
    let user = directive(&text, "User");
    assert_eq!(directive(&text, "PrivateTmp"), "yes");
    assert_eq!(directive(&text, "ProtectHome"), "yes");
    let sandbox = r#"
        # ProtectSystem=strict: every mount read-only but the API file systems.
        for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
          case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
          mount -o remount,bind,ro "$m" 2>/dev/null || true
        done
        # ReadWritePaths=
        mount --bind "$RW" "$RW" && mount -o remount,bind,rw "$RW"
        # PrivateTmp=yes, ProtectHome=yes
        mount -t tmpfs -o mode=1777 tmpfs /tmp
        mount -t tmpfs -o mode=0755 tmpfs /home
        mount -t tmpfs -o mode=0700 tmpfs /root
        cd "$WORKDIR"
        # User=, NoNewPrivileges=yes, CapabilityBoundingSet= (empty), AmbientCapabilities=
        exec setpriv --reuid="$UNIT_USER" --regid="$UNIT_USER" --init-groups --no-new-privs \
          --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@"
    "#;
    let log_path = root.0.join("alertd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-ec",
            sandbox,
            "sh",
        ])
        .args(&exec)
        .env("RW", &rw)
        .env("WORKDIR", &workdir)
        .env("UNIT_USER", &user)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let pid = child.id();
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let ready = wait_for(Duration::from_secs(30), || {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("alertd exited with {s}:\n{}", read_log());
        }
        (http(port, "GET", "/-/ready").ok()?.status == 200).then_some(())
    });
    assert!(ready.is_some(), "not ready:\n{}", read_log());
    // unshare and sh exec'd: the pid is alertd's, running as the unit says.
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.starts_with(&exec[0]), "{cmdline:?}");
    let uids = proc_status(pid, "Uid");
    assert!(
        uids.split_whitespace().all(|u| u == alertd_uid.to_string()),
        "Uid: {uids}"
    );
    assert_eq!(proc_status(pid, "NoNewPrivs"), "1");
    assert_eq!(proc_status(pid, "CapBnd"), "0000000000000000");
    assert_eq!(proc_status(pid, "CapEff"), "0000000000000000");
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root_mount = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap();
    assert!(
        root_mount.split_whitespace().nth(5).unwrap().contains("ro"),
        "{root_mount}"
    );

    // Probes, scrapes and the store work inside the sandbox: the store is written in the data
    // directory and alertd's own scrape is stored.
    let scraped = wait_for(Duration::from_secs(30), || {
        let m = http(port, "GET", "/metrics").ok()?.body;
        metric_value(&m, "alertd_store_samples_ingested_total")
            .or_else(|| metric_value(&m, "alertd_store_samples_ingested"))
            .filter(|n| *n > 0.0)
    });
    assert!(scraped.is_some(), "nothing stored:\n{}", read_log());
    assert!(data.join("store.redb").is_file());
    // A snapshot is written under the data directory, the one writable place.
    let r = http(port, "POST", "/api/alertd/v1/snapshot").unwrap();
    assert_eq!(r.status, 200, "{r:?}\n{}", read_log());
    assert!(
        r.body
            .contains(&data.join("snapshots").display().to_string()),
        "{r:?}"
    );

    // ExecReload: SIGHUP reloads and keeps running.
    let send = |sig: Signal| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
    };
    send(Signal::SIGHUP);
    let reloaded = wait_for(Duration::from_secs(10), || {
        read_log().contains("configuration reloaded").then_some(())
    });
    assert!(reloaded.is_some(), "{}", read_log());
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "SIGHUP stopped alertd"
    );
    assert_eq!(http(port, "GET", "/-/ready").unwrap().status, 200);

    // systemctl stop: SIGTERM, clean exit 0 (Restart=on-failure would not restart it).
    send(Signal::SIGTERM);
    let status = wait_for(Duration::from_secs(30), || child.try_wait().ok().flatten())
        .unwrap_or_else(|| panic!("alertd did not exit on SIGTERM:\n{}", read_log()));
    assert_eq!(status.code(), Some(0), "{}", read_log());
}

/// The Debian package built by `deploy/build-deb.sh` (cargo-deb, from the release build): the
/// path in `ALERTD_DEB`, which `.ci/run` sets after building it. `None` (skipped) without it
/// outside CI.
fn package() -> Option<PathBuf> {
    match std::env::var_os("ALERTD_DEB") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "ALERTD_DEB={} is no file", p.display());
            Some(p)
        }
        None => {
            skip_outside_ci(
                "ALERTD_DEB is not set (deploy/build-deb.sh builds the package and prints its \
                 path)",
                ".ci/run must build the package with deploy/build-deb.sh and export ALERTD_DEB",
            );
            None
        }
    }
}

/// `dpkg-deb ARGS`: its stdout; panics on failure.
fn dpkg_deb(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new("dpkg-deb").args(args).output().unwrap();
    assert!(out.status.success(), "dpkg-deb {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The package's contents and control data, and Debian's own checker: `lintian` reports no
/// error (warnings and infos are printed, not failures).
#[test]
fn package_has_its_files_and_passes_lintian() {
    let Some(deb) = package() else { return };
    let field = |name: &str| {
        dpkg_deb(&["-f".as_ref(), deb.as_os_str(), name.as_ref()])
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "alertd");
    // The package version follows the crate's (revision 1 unless --deb-version overrides it).
    assert!(
        field("Version").starts_with(env!("CARGO_PKG_VERSION")),
        "{}",
        field("Version")
    );
    // dpkg-shlibdeps' dependencies of the binaries (glibc, libgcc for unwinding), and passwd
    // for useradd in postinst; nothing else.
    let depends = field("Depends");
    let names: Vec<&str> = depends
        .split(',')
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .collect();
    assert!(names.contains(&"libc6"), "{depends}");
    assert!(names.contains(&"passwd"), "{depends}");
    assert!(
        names
            .iter()
            .all(|n| ["libc6", "libgcc-s1", "passwd"].contains(n)),
        "{depends}"
    );

    let listing = dpkg_deb(&["-c".as_ref(), deb.as_os_str()]);
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" .{path}")) || l.contains(&format!(" .{path} ->")))
    };
    for (path, mode) in [
        ("/usr/bin/alertd", "-rwxr-xr-x"),
        ("/usr/bin/alertctl", "-rwxr-xr-x"),
        ("/usr/lib/systemd/system/alertd.service", "-rw-r--r--"),
        ("/etc/alertd/alertd.yaml", "-rw-r--r--"),
        ("/etc/alertd/rules/uptime.rules.yml", "-rw-r--r--"),
        ("/usr/share/man/man1/alertd.1.gz", "-rw-r--r--"),
        ("/usr/share/man/man1/alertctl.1.gz", "-rw-r--r--"),
        (
            "/usr/share/man/man1/alertctl-silence-add.1.gz",
            "-rw-r--r--",
        ),
        (
            "/usr/share/bash-completion/completions/alertctl",
            "-rw-r--r--",
        ),
        ("/usr/share/zsh/vendor-completions/_alertctl", "-rw-r--r--"),
        (
            "/usr/share/fish/vendor_completions.d/alertctl.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/alertd/copyright", "-rw-r--r--"),
        ("/usr/share/doc/alertd/changelog.Debian.gz", "-rw-r--r--"),
    ] {
        let line = entry(path).unwrap_or_else(|| panic!("{path} not in the package:\n{listing}"));
        assert!(line.starts_with(mode), "{line}");
        assert!(
            line.contains(" root/root ") || line.contains(" 0/0 "),
            "{line}"
        );
    }
    // Test files of the rule pack stay out of /etc.
    assert!(!listing.contains(".test.yml"), "{listing}");

    // Control files: the conffiles, and the maintainer scripts with cargo-deb's systemd part.
    let control = tempfile::tempdir().unwrap();
    dpkg_deb(&["-e".as_ref(), deb.as_os_str(), control.path().as_os_str()]);
    let read = |f: &str| std::fs::read_to_string(control.path().join(f)).unwrap_or_default();
    let conffiles = read("conffiles");
    for f in [
        "/etc/alertd/alertd.yaml",
        "/etc/alertd/rules/uptime.rules.yml",
    ] {
        assert!(conffiles.lines().any(|l| l == f), "{f}: {conffiles}");
    }
    let postinst = read("postinst");
    assert!(!postinst.contains("#DEBHELPER#"), "{postinst}");
    let user = postinst
        .find("useradd --system")
        .expect("useradd in postinst");
    let enable = postinst
        .find("deb-systemd-helper enable alertd.service")
        .expect("unit enabled in postinst");
    let restart = postinst
        .find("_dh_action=restart")
        .expect("restart on upgrade in postinst");
    assert!(user < enable && enable < restart, "{postinst}");
    assert!(
        read("prerm").contains("deb-systemd-invoke stop alertd.service"),
        "{}",
        read("prerm")
    );
    assert!(read("postrm").contains("rm -rf /var/lib/alertd"));
    // The debhelper token is replaced once, where it stands (not in a comment): two snippets
    // each (enable + start/restart; daemon-reload + mask/purge).
    for script in ["postinst", "postrm"] {
        let text = read(script);
        assert_eq!(
            text.matches("# Automatically added by cargo-deb").count(),
            2,
            "{script}:\n{text}"
        );
    }

    if on_path("lintian").is_none() {
        skip_outside_ci(
            "lintian is missing",
            ".ci/run must install the Debian package lintian",
        );
        return;
    }
    let out = Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("lintian {}:\n{report}", deb.display());
    assert!(
        out.status.success() && !report.lines().any(|l| l.starts_with("E: ")),
        "lintian reports errors ({}):\n{report}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real thing: `deploy/test-in-nspawn.sh` boots a minimal Debian 12 (debootstrap, cached
/// under `NSPAWN_CACHE`) with systemd as PID 1 in a `systemd-nspawn` container and installs the
/// package there with `apt-get install ./alertd_*.deb`: the unit is enabled and started, systemd
/// runs alertd as the unit says (active and ready, as the `alertd` user with no new privileges,
/// only CAP_NET_RAW (icmp probes) and a seccomp filter, `/` read-only but the data directory, a private
/// `/tmp`), `systemctl reload` keeps the same process, `systemctl stop` exits 0; `man alertd`
/// and the completions work. Then an upgrade to a package of a higher version (the same
/// binaries, repackaged with `deploy/build-deb.sh --no-build --deb-version`) restarts alertd and
/// keeps an edited `/etc/alertd/alertd.yaml` and the store; `apt-get remove` stops alertd and
/// keeps `/var/lib/alertd`; `apt-get purge` removes it.
///
/// Needs root, `systemd-nspawn` (package systemd-container), `debootstrap`, a Debian mirror,
/// cargo-deb and the package (`ALERTD_DEB`): skipped without them, except in CI (`CI=true`),
/// where `.ci/run` provides them.
#[test]
fn package_installs_upgrades_and_purges_under_systemd() {
    let missing: Vec<&str> = ["systemd-nspawn", "debootstrap", "cargo-deb"]
        .into_iter()
        .filter(|c| on_path(c).is_none())
        .collect();
    let root = id_u(None) == 0;
    if !missing.is_empty() || !root {
        skip_outside_ci(
            &format!(
                "needs root and systemd-nspawn, debootstrap, cargo-deb (missing: {missing:?}, \
                 root: {root})"
            ),
            ".ci/run must install the Debian packages systemd-container and debootstrap and \
             cargo-deb, and run as root",
        );
        return;
    }
    let Some(deb) = package() else { return };

    // The same binaries and files under a higher version: no second compile.
    let version = dpkg_deb(&["-f".as_ref(), deb.as_os_str(), "Version".as_ref()]);
    let upgrade_version = format!("{}+upgrade1", version.trim());
    let upgrade_dir = tempfile::tempdir().unwrap();
    let out = Command::new(repo_root().join("deploy/build-deb.sh"))
        .args(["--no-build", "--fast", "--deb-version", &upgrade_version])
        .arg("--output")
        .arg(upgrade_dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run deploy/build-deb.sh");
    assert!(
        out.status.success(),
        "deploy/build-deb.sh --no-build --deb-version {upgrade_version} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let upgrade = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim(),
    );
    assert!(upgrade.is_file(), "{}", upgrade.display());

    let out = Command::new(repo_root().join("deploy/test-in-nspawn.sh"))
        .arg(&deb)
        .arg(&upgrade)
        .stdin(Stdio::null())
        .output()
        .expect("run deploy/test-in-nspawn.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "deploy/test-in-nspawn.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // The script's own verdicts: every check line is `ok`, and the decisive ones are there.
    assert!(!stdout.contains("FAIL - "), "{stdout}");
    for want in [
        "ok   - alertd.service is-active: active",
        "ok   - GET http://127.0.0.1:9797/-/ready inside the container: 200",
        "ok   - Seccomp (2 = filter): 2",
        "ok   - NoNewPrivs: 1",
        "ok   - systemctl reload alertd exited 0",
        "ok   - ExecMainStatus after stop: 0",
        "ok   - /etc/alertd/alertd.yaml is a conffile",
        "ok   - man alertd shows SIGHUP",
        "ok   - bash completion of 'alertctl sil': silence",
        &format!("ok   - version after upgrade: {upgrade_version}"),
        "ok   - edited /etc/alertd/alertd.yaml kept by the upgrade (sha256)",
        "ok   - alertd.service is-active after the upgrade: active",
        "ok   - the upgrade restarted alertd",
        "ok   - alertd processes after remove: ",
        "ok   - store kept by remove",
        "ok   - /var/lib/alertd after purge: no",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
}

/// `--version` of both binaries names the git commit they were built from (build.rs), or
/// `unknown` outside a git checkout.
#[test]
fn binaries_report_version_and_commit() {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    for name in ["alertd", "alertctl"] {
        let out = Command::new(bin(name)).arg("--version").output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{name} {} (commit {head})\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// `alertctl completion SHELL` prints scripts that complete its subcommands; bash's is run.
#[test]
fn completion_scripts_complete_subcommands() {
    let script = |shell: &str| {
        let out = Command::new(bin("alertctl"))
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(script("zsh").starts_with("#compdef alertctl"));
    assert!(script("fish").contains("complete -c alertctl"));
    for shell in ["zsh", "fish", "bash"] {
        let s = script(shell);
        for sub in ["silence", "ack", "completion", "check"] {
            assert!(s.contains(sub), "{shell}: {sub} missing");
        }
        // The hidden `man` subcommand is for packaging only.
        assert!(!s.contains("alertctl__man"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertctl.bash");
    std::fs::write(&path, script("bash")).unwrap();
    // What bash offers after `alertctl sil<TAB>`, `alertctl silence <TAB>` and `alertctl -o <TAB>`.
    let complete = |words: &str| {
        let code = format!(
            ". {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _alertctl alertctl \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             echo \"${{COMPREPLY[*]}}\"",
            path.display()
        );
        let out = Command::new("bash").args(["-c", &code]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("alertctl sil"), "silence");
    let silence: Vec<String> = complete("alertctl silence ''")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    for sub in ["add", "query", "expire", "import"] {
        assert!(silence.iter().any(|s| s == sub), "{silence:?}");
    }
    assert_eq!(complete("alertctl -o ''"), "table json");
}

/// `alertctl man DIR` (hidden, for the package) writes a page for alertctl and each visible
/// subcommand; `man` renders them.
#[test]
fn alertctl_man_pages_cover_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("alertctl"))
        .arg("man")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for want in [
        "alertctl.1",
        "alertctl-check.1",
        "alertctl-check-config.1",
        "alertctl-check-rules.1",
        "alertctl-silence-add.1",
        "alertctl-silence-import.1",
        "alertctl-ack.1",
        "alertctl-completion.1",
        "alertctl-status.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} not in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("-man")), "{pages:?}");
    assert!(!pages.iter().any(|p| p.contains("-help")), "{pages:?}");
    let main = std::fs::read_to_string(dir.path().join("alertctl.1")).unwrap();
    for want in [
        ".SH \"EXIT STATUS\"",
        "ALERTD_TOKEN",
        "alertctl\\-silence(1)",
    ] {
        assert!(main.contains(want), "{want:?} missing:\n{main}");
    }
    if let Some(man) = on_path("man") {
        let out = Command::new(man)
            .arg("-l")
            .arg(dir.path().join("alertctl-silence-add.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(text.contains("--duration"), "{text}");
    }
}
