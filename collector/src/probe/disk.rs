//! The `disk` probe: `statvfs` of one path (reported for the mount that contains it, as
//! node_exporter does) or of every real mount (pseudo filesystems and node_exporter's default
//! excluded mount points skipped), as `node_filesystem_*` series labelled `device`, `fstype`,
//! `mountpoint`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use model::Labels;
use rustix::fs::StatVfsMountFlags;

use super::{Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::DiskProbeConfig;

/// node_exporter 1.5's default `--collector.filesystem.fs-types-exclude`.
const PSEUDO_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
];

/// node_exporter 1.5's default `--collector.filesystem.mount-points-exclude`.
fn excluded_mountpoint(mp: &str) -> bool {
    let under = |p: &str| mp == p || mp.starts_with(&format!("{p}/"));
    under("/dev")
        || under("/proc")
        || under("/sys")
        || mp.starts_with("/run/credentials/")
        || mp.starts_with("/var/lib/docker/")
        || mp.starts_with("/var/lib/containers/storage/")
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    pub mountpoint: String,
    pub fstype: String,
    pub device: String,
}

/// Undoes the kernel's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo` text; malformed lines are skipped with a debug log.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mountpoint = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let device = r.next()?;
            Some(Mount {
                mountpoint: unescape(mountpoint),
                fstype: fstype.to_string(),
                device: unescape(device),
            })
        })
        .collect()
}

/// The mount containing `path` (longest mount point that is a path prefix; later mounts on
/// the same point hide earlier ones).
pub(crate) fn containing_mount<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(Path::new(&m.mountpoint)))
        .max_by_key(|(i, m)| (m.mountpoint.len(), *i))
        .map(|(_, m)| m)
}

/// A prepared `disk` probe.
pub(crate) struct DiskProbe {
    pub base: Labels,
    path: Option<PathBuf>,
}

impl DiskProbe {
    pub(crate) fn new(base: Labels, cfg: &DiskProbeConfig) -> Self {
        DiskProbe {
            base,
            path: cfg.path.clone(),
        }
    }

    pub(crate) async fn run(&self) -> Outcome {
        let base = self.base.clone();
        let path = self.path.clone();
        // statvfs can block on a hung network filesystem: keep it off the async workers.
        match tokio::task::spawn_blocking(move || collect(&base, path.as_deref())).await {
            Ok(o) => o,
            Err(e) => {
                let mut b = SeriesBuf::new(&self.base);
                b.push("probe_success", &[], 0.0);
                Outcome {
                    explicit: Vec::new(),
                    series: b.out,
                    failure: Some(Failure::new(
                        FailureKind::Local,
                        format!("disk probe task: {e}"),
                    )),
                }
            }
        }
    }
}

fn collect(base: &Labels, path: Option<&Path>) -> Outcome {
    let started = Instant::now();
    let mut b = SeriesBuf::new(base);
    let failure = collect_into(&mut b, path).err();
    b.push_result(started, &failure);
    Outcome {
        explicit: Vec::new(),
        series: b.out,
        failure,
    }
}

fn collect_into(b: &mut SeriesBuf<'_>, path: Option<&Path>) -> Result<(), Failure> {
    let local = |m: String| Failure::new(FailureKind::Local, m);
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| local(format!("reading /proc/self/mountinfo: {e}")))?;
    let mounts = parse_mountinfo(&text);
    match path {
        Some(p) => {
            let canon =
                std::fs::canonicalize(p).map_err(|e| local(format!("{}: {e}", p.display())))?;
            let m = containing_mount(&mounts, &canon)
                .ok_or_else(|| local(format!("no mount contains {}", canon.display())))?;
            // statvfs of the path itself: it is what the operator asked about.
            stat_one(b, m, &canon).map_err(|e| local(format!("statvfs {}: {e}", canon.display())))
        }
        None => {
            let mut seen = std::collections::HashSet::new();
            let mut errors = Vec::new();
            // Later mounts on the same point hide earlier ones: walk from the end.
            for m in mounts.iter().rev() {
                if PSEUDO_FS.contains(&m.fstype.as_str())
                    || excluded_mountpoint(&m.mountpoint)
                    || !seen.insert(m.mountpoint.clone())
                {
                    continue;
                }
                if let Err(e) = stat_one(b, m, Path::new(&m.mountpoint)) {
                    errors.push(format!("{}: {e}", m.mountpoint));
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                Err(local(format!("statvfs failed: {}", errors.join("; "))))
            }
        }
    }
}

fn stat_one(b: &mut SeriesBuf<'_>, m: &Mount, at: &Path) -> Result<(), rustix::io::Errno> {
    let labels = [
        ("device", m.device.as_str()),
        ("fstype", m.fstype.as_str()),
        ("mountpoint", m.mountpoint.as_str()),
    ];
    match rustix::fs::statvfs(at) {
        Ok(s) => {
            let bs = s.f_frsize as f64;
            b.push(
                "node_filesystem_size_bytes",
                &labels,
                s.f_blocks as f64 * bs,
            );
            b.push("node_filesystem_free_bytes", &labels, s.f_bfree as f64 * bs);
            b.push(
                "node_filesystem_avail_bytes",
                &labels,
                s.f_bavail as f64 * bs,
            );
            b.push("node_filesystem_files", &labels, s.f_files as f64);
            b.push("node_filesystem_files_free", &labels, s.f_ffree as f64);
            let ro = s.f_flag.contains(StatVfsMountFlags::RDONLY);
            b.push(
                "node_filesystem_readonly",
                &labels,
                if ro { 1.0 } else { 0.0 },
            );
            b.push("node_filesystem_device_error", &labels, 0.0);
            Ok(())
        }
        Err(e) => {
            b.push("node_filesystem_device_error", &labels, 1.0);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 27 0:25 / /run rw - tmpfs tmpfs rw
31 27 254:1 / /srv/my\\040data rw - xfs /dev/vdb rw
32 31 254:2 / /srv/my\\040data/db rw - ext4 /dev/vdc rw
";

    #[test]
    fn mountinfo_parsing_and_containment() {
        let m = parse_mountinfo(INFO);
        assert_eq!(m.len(), 5);
        assert_eq!(m[3].mountpoint, "/srv/my data");
        let f = |p: &str| containing_mount(&m, Path::new(p)).unwrap().device.clone();
        assert_eq!(f("/srv/my data/db/x"), "/dev/vdc");
        assert_eq!(f("/srv/my data/dbx"), "/dev/vdb");
        assert_eq!(f("/etc/passwd"), "/dev/vda");
        assert_eq!(f("/"), "/dev/vda");
    }

    #[test]
    fn pseudo_filesystems_and_mountpoints_are_excluded() {
        assert!(PSEUDO_FS.contains(&"proc"));
        assert!(excluded_mountpoint("/dev/shm"));
        assert!(excluded_mountpoint("/sys"));
        assert!(!excluded_mountpoint("/devices"));
        assert!(!excluded_mountpoint("/"));
    }
}
