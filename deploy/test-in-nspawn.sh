#!/usr/bin/env bash
# Installs the Debian package (deploy/build-deb.sh) with `apt-get install ./alertd_*.deb` into
# a minimal Debian system booted with systemd as PID 1 in a systemd-nspawn container, and checks
# the package's life there:
#   - install: the unit is enabled, active and ready, runs alertd hardened (the alertd system
#     user, NoNewPrivs, only CAP_NET_RAW (icmp probes), seccomp, ProtectSystem, PrivateTmp); the configuration
#     is root:alertd 0640 and a conffile; `man alertd` and the completions are there;
#     `systemctl reload` keeps the same process, `systemctl stop` ends it with status 0;
#   - upgrade to UPGRADE.deb (a higher version): the service is restarted, an edited
#     /etc/alertd/alertd.yaml and the data are kept;
#   - `apt-get remove`: the service is stopped, /var/lib/alertd and the configuration are kept;
#   - `apt-get purge`: /var/lib/alertd and /etc/alertd are gone, the alertd user stays.
#
# Usage (as root): deploy/test-in-nspawn.sh PACKAGE.deb UPGRADE.deb
#
# Needs systemd-nspawn and debootstrap (installed with apt-get when missing) and a Debian
# mirror (the host's apt source, or NSPAWN_MIRROR). The host needs no systemd:
# the container runs with --register=no --keep-unit (no machined, no bus) in its own network
# namespace (--private-network: only loopback, so port 9797 never clashes with the host).
#
# Environment:
#   NSPAWN_CACHE     where the debootstrapped root file system is kept (default
#                    /var/cache/alertd-nspawn); a second run copies it instead of bootstrapping
#   NSPAWN_SUITE     Debian suite (default bookworm)
#   NSPAWN_MIRROR    Debian mirror URL (default: the host's, from `apt-cache policy`, else
#                    http://deb.debian.org/debian)
#   NSPAWN_PACKAGES  packages added to the minbase variant (default systemd,systemd-sysv,dbus,
#                    curl,man-db; no procps: the unit must not depend on /bin/kill)
#   NSPAWN_WORKDIR   where the per-run copy goes (default /var/tmp)
#   NSPAWN_TIMEOUT   seconds to wait for boot and for readiness (default 90)
set -euo pipefail

usage() { echo "usage: $0 PACKAGE.deb UPGRADE.deb" >&2; exit 2; }
[ $# -eq 2 ] || usage
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 2; }
deb=$(readlink -f "$1")
upgrade_deb=$(readlink -f "$2")
for d in "$deb" "$upgrade_deb"; do
  [ "$(dpkg-deb -f "$d" Package 2>/dev/null)" = alertd ] ||
    { echo "$0: $d is not a package of alertd" >&2; exit 2; }
done
version=$(dpkg-deb -f "$deb" Version)
upgrade_version=$(dpkg-deb -f "$upgrade_deb" Version)
dpkg --compare-versions "$version" lt "$upgrade_version" ||
  { echo "$0: $upgrade_deb ($upgrade_version) is not newer than $deb ($version)" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${NSPAWN_CACHE:-/var/cache/alertd-nspawn}
suite=${NSPAWN_SUITE:-bookworm}
packages=${NSPAWN_PACKAGES:-systemd,systemd-sysv,dbus,curl,man-db}
workparent=${NSPAWN_WORKDIR:-/var/tmp}
wait_s=${NSPAWN_TIMEOUT:-90}
machine=alertd-test-$$

t0=$(date +%s)
log() { printf '[%4ss] %s\n' "$(($(date +%s) - t0))" "$*"; }

# --- tools -----------------------------------------------------------------------------------
if ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing systemd-container and debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends systemd-container debootstrap >/dev/null
fi
for c in nsenter flock curl; do
  command -v "$c" >/dev/null || { echo "$0: $c is missing" >&2; exit 2; }
done

# --- mirror: the host's, as apt resolved it (both .list and deb822 .sources files) ----------
# `apt-cache policy` lists each source it has indexes for as "PRIO URI SUITE/COMPONENT ...".
mirror=${NSPAWN_MIRROR:-$(apt-cache policy 2>/dev/null |
  awk -v s="$suite" '$3 == s "/main" && m == "" { m = $2 } END { print m }')}
mirror=${mirror:-http://deb.debian.org/debian}

# --- cached root file system ---------------------------------------------------------------
key=$(printf '%s\n' "$suite" "$packages" | sha256sum | cut -c1-12)
rootfs_cache=$cache/rootfs-$suite-$key
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$rootfs_cache/.complete" ]; then
  log "using cached root file system $rootfs_cache"
else
  log "debootstrap $suite (minbase + $packages) from $mirror into $rootfs_cache"
  rm -rf "$rootfs_cache" "$rootfs_cache.tmp"
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs_cache.tmp" "$mirror" \
      >"$cache/debootstrap.log" 2>&1; then
    tail -n 30 "$cache/debootstrap.log" >&2
    echo "$0: debootstrap failed (log: $cache/debootstrap.log)" >&2
    exit 1
  fi
  rm -f "$rootfs_cache.tmp"/var/cache/apt/archives/*.deb
  rm -rf "$rootfs_cache.tmp"/var/lib/apt/lists/*
  touch "$rootfs_cache.tmp/.complete"
  mv "$rootfs_cache.tmp" "$rootfs_cache"
  log "debootstrap done: $(du -sh "$rootfs_cache" | cut -f1)"
fi

# --- fresh copy, with the packages staged under /opt/alertd-src/{v1,v2} ----------------------
work=$(mktemp -d "$workparent/alertd-nspawn.XXXXXX")
root=$work/root
nspawn_pid=
leader=

cleanup() {
  local rc=$?
  set +e
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGTERM makes systemd-nspawn ask the container's systemd for a clean poweroff.
    kill -TERM "$nspawn_pid"
    for _ in $(seq 1 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
  fi
  # Killing PID 1 of the container kills everything in its PID namespace.
  [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null && kill -KILL "$leader"
  [ -n "$nspawn_pid" ] && wait "$nspawn_pid" 2>/dev/null
  if [ $rc -ne 0 ] && [ -s "$work/console.log" ]; then
    echo "--- container console (last 40 lines) ---" >&2
    tail -n 40 "$work/console.log" >&2
  fi
  if findmnt -rn -o TARGET | grep -q "^$work"; then
    echo "$0: mounts left under $work; not removing it" >&2
  else
    rm -rf "$work"
  fi
  rm -rf "/run/systemd/nspawn/propagate/$machine"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "copying root file system into $root"
cp -a --reflink=auto "$rootfs_cache" "$root"
rm -f "$root/.complete"
src=$root/opt/alertd-src
mkdir -p "$src/v1" "$src/v2"
cp "$deb" "$src/v1/"
cp "$upgrade_deb" "$src/v2/"

# --- boot --------------------------------------------------------------------------------------
log "booting container $machine"
setsid systemd-nspawn --quiet --boot --directory="$root" --machine="$machine" \
  --register=no --keep-unit --private-network --console=read-only \
  </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!

mypidns=$(readlink /proc/self/ns/pid)
for _ in $(seq 1 $((wait_s * 2))); do
  kill -0 "$nspawn_pid" 2>/dev/null || { echo "$0: systemd-nspawn exited early" >&2; exit 1; }
  for p in $(pgrep -P "$nspawn_pid" || true); do
    if [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" != "$mypidns" ] &&
       [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then
      leader=$p
    fi
  done
  [ -n "$leader" ] && break
  sleep 0.5
done
[ -n "$leader" ] || { echo "$0: container's systemd did not start" >&2; exit 1; }

# Runs a command inside the container (all of its namespaces), with a clean environment.
ct() { nsenter --target "$leader" --all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"; }

state=$(ct timeout "$wait_s" systemctl is-system-running --wait 2>/dev/null || true)
log "container booted (leader pid $leader, system state: ${state:-unknown})"

# --- checks --------------------------------------------------------------------------------
failures=0
pass() { printf 'ok   - %s\n' "$*"; }
fail() { printf 'FAIL - %s\n' "$*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass "$1: $3"; else fail "$1: expected '$2', got '$3'"; fi
}
prop() { ct systemctl show -P "$1" alertd.service; }

check "PID 1 in the container" systemd "$(ct cat /proc/1/comm)"
if [ "$state" = running ]; then
  pass "container's system state: running"
else
  fail "container's system state is '${state:-unknown}'; failed units:" \
    "$(ct systemctl --failed --plain --no-legend --no-pager | awk '{print $1}' | xargs)"
fi

# apt-get install ./alertd_*.deb in DIR (v1, v2) of /opt/alertd-src; the log in $work.
apt_install() {
  ct sh -c "cd /opt/alertd-src/$1 && DEBIAN_FRONTEND=noninteractive apt-get install -y ./alertd_*.deb" \
    >"$work/apt-$1.log" 2>&1
}
# Waits until the unit is active and alertd answers /-/ready; checks both.
wait_ready() { # wait_ready WHEN
  local active= code=000
  for _ in $(seq 1 20); do
    active=$(ct systemctl is-active alertd.service || true)
    [ "$active" = active ] && break
    sleep 0.5
  done
  check "alertd.service is-active$1" active "$active"
  for _ in $(seq 1 "$wait_s"); do
    code=$(ct curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:9797/-/ready || true)
    [ "$code" = 200 ] && break
    sleep 1
  done
  check "GET http://127.0.0.1:9797/-/ready inside the container$1" 200 "$code"
}
# owner:group mode of a path in the container.
perms() { ct stat -c '%U:%G %a' "$1" 2>&1; }

log "apt-get install ./$(basename "$deb") inside the container"
if apt_install v1; then
  pass "apt-get install ./$(basename "$deb") exited 0"
else
  fail "apt-get install ./$(basename "$deb") failed:"; sed 's/^/    /' "$work/apt-v1.log"
  exit 1
fi
check "installed version" "$version" "$(ct dpkg-query -W -f '${Version}' alertd)"
case "$(ct alertd --version)" in
  "alertd "*" (commit "*")") pass "alertd --version: $(ct alertd --version)";;
  *) fail "alertd --version: '$(ct alertd --version 2>&1)'";; esac
check "alertctl in /usr/bin" /usr/bin/alertctl "$(ct sh -c 'command -v alertctl')"
check "alertd.service enabled" enabled "$(ct systemctl is-enabled alertd.service 2>&1 || true)"
# (Debian 12's merged /usr: systemd may name it /lib/systemd/system/alertd.service.)
check "unit file" /usr/lib/systemd/system/alertd.service "$(ct readlink -f "$(prop FragmentPath)")"
wait_ready ""

user=$(ct getent passwd alertd || true)
check "alertd's shell" /usr/sbin/nologin "$(cut -d: -f7 <<<"$user")"
uid=$(cut -d: -f3 <<<"$user")
if [ -n "$uid" ] && [ "$uid" -lt 1000 ]; then pass "alertd is a system user (uid $uid)";
else fail "alertd is not a system user: '$user'"; fi
check "/etc/alertd" "root:alertd 750" "$(perms /etc/alertd)"
check "/etc/alertd/alertd.yaml" "root:alertd 640" "$(perms /etc/alertd/alertd.yaml)"
check "/etc/alertd/rules/uptime.rules.yml" "root:alertd 640" "$(perms /etc/alertd/rules/uptime.rules.yml)"
check "/var/lib/alertd" "alertd:alertd 700" "$(perms /var/lib/alertd)"
conffiles=$(ct dpkg-query -W -f '${Conffiles}' alertd)
for f in /etc/alertd/alertd.yaml /etc/alertd/rules/uptime.rules.yml; do
  if grep -q "^ $f " <<<"$conffiles"; then pass "$f is a conffile"; else fail "$f is no conffile"; fi
done
if ct grep -q '^  path: /var/lib/alertd ' /etc/alertd/alertd.yaml; then
  pass "storage.path in /etc/alertd/alertd.yaml is /var/lib/alertd"
else fail "storage.path in /etc/alertd/alertd.yaml is not /var/lib/alertd"; fi
if ct alertctl check config /etc/alertd/alertd.yaml >"$work/check.log" 2>&1; then
  pass "alertctl check config /etc/alertd/alertd.yaml"
else fail "alertctl check config /etc/alertd/alertd.yaml: $(cat "$work/check.log")"; fi

# Manual pages (man-db in the container) and completions.
for page in alertd:SIGHUP alertctl:ALERTD_URL alertctl-silence-add:--duration; do
  if ct env MANPAGER=cat MANWIDTH=100 man "${page%%:*}" 2>/dev/null | grep -q -- "${page#*:}"; then
    pass "man ${page%%:*} shows ${page#*:}"
  else fail "man ${page%%:*} does not show ${page#*:}"; fi
done
for f in /usr/share/bash-completion/completions/alertctl /usr/share/zsh/vendor-completions/_alertctl \
  /usr/share/fish/vendor_completions.d/alertctl.fish; do
  if ct test -s "$f"; then pass "completion $f"; else fail "completion $f missing"; fi
done
# bash completes `alertctl sil` to `silence` with the installed script.
words=$(ct bash -c '. /usr/share/bash-completion/completions/alertctl
  COMP_WORDS=(alertctl sil); COMP_CWORD=1; _alertctl alertctl sil alertctl; echo "${COMPREPLY[*]}"' 2>&1)
check "bash completion of 'alertctl sil'" silence "$words"

pid=$(prop MainPID)
if [ -z "$pid" ] || [ "$pid" = 0 ]; then
  fail "alertd has no main PID"
else
  status=$(ct cat "/proc/$pid/status")
  field() { awk -v f="$1:" '$1 == f { print $2 }' <<<"$status"; }
  check "main process (pid $pid in the container) is alertd" alertd "$(field Name)"
  check "Uid is the alertd user's" "$(ct id -u alertd)" "$(field Uid)"
  check "Gid is the alertd group's" "$(ct getent group alertd | cut -d: -f3)" "$(field Gid)"
  check "NoNewPrivs" 1 "$(field NoNewPrivs)"
  check "CapBnd" 0000000000002000 "$(field CapBnd)"
  check "CapEff" 0000000000002000 "$(field CapEff)"
  check "CapAmb" 0000000000002000 "$(field CapAmb)"
  check "Seccomp (2 = filter)" 2 "$(field Seccomp)"

  # Not a failure: without CAP_SYS_RESOURCE (e.g. a VM whose hard limit is lower) systemd
  # clamps LimitNOFILE= to the hard limit it inherited.
  nofile=$(ct awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")
  echo "info - open files limit of alertd: $nofile (LimitNOFILE=$(prop LimitNOFILE))"

  mounts=$(ct cat "/proc/$pid/mountinfo")
  opts() { awk -v m="$1" '$5 == m { o = $6 } END { print o }' <<<"$mounts"; }
  mroot() { awk -v m="$1" '$5 == m { r = $4 } END { print r }' <<<"$mounts"; }
  case ",$(opts /)," in *,ro,*) pass "ProtectSystem=strict: / is read-only for alertd";;
    *) fail "ProtectSystem=strict: / is mounted '$(opts /)' for alertd";; esac
  case ",$(opts /var/lib/alertd)," in *,rw,*) pass "/var/lib/alertd is writable for alertd";;
    *) fail "/var/lib/alertd is mounted '$(opts /var/lib/alertd)' for alertd";; esac
  case "$(mroot /tmp)" in *systemd-private-*alertd.service*) pass "PrivateTmp: /tmp is $(mroot /tmp)";;
    *) fail "PrivateTmp: /tmp of alertd is '$(mroot /tmp)'";; esac
  case ",$(opts /home)," in *,ro,*) pass "ProtectHome: /home is inaccessible/read-only";;
    *) fail "ProtectHome: /home is '$(opts /home)'";; esac
fi

check "User=" alertd "$(prop User)"
check "ProtectSystem=" strict "$(prop ProtectSystem)"
check "PrivateTmp=" yes "$(prop PrivateTmp)"
check "NoNewPrivileges=" yes "$(prop NoNewPrivileges)"
check "CapabilityBoundingSet=" cap_net_raw "$(prop CapabilityBoundingSet)"
check "RestrictAddressFamilies=" "AF_INET AF_INET6 AF_NETLINK AF_UNIX" \
  "$(prop RestrictAddressFamilies | tr ' ' '\n' | sort | xargs)"
scf=$(prop SystemCallFilter)
# An allow-list (@system-service) minus @privileged: read stays, setuid and chown are gone.
if [ -n "$scf" ] && [[ " $scf " == *" read "* ]] && [[ " $scf " != *" setuid "* ]] &&
   [[ " $scf " != *" chown "* ]]; then
  pass "SystemCallFilter= is an allow-list without @privileged ($(wc -w <<<"$scf") syscalls)"
else
  fail "SystemCallFilter= is '${scf:0:120}...'"
fi

# reload: SIGHUP via ExecReload; alertd must keep running with the same PID.
since=$(ct date '+%Y-%m-%d %H:%M:%S')
if ct systemctl reload alertd.service >"$work/reload.log" 2>&1; then
  pass "systemctl reload alertd exited 0"
else
  fail "systemctl reload alertd failed: $(tr '\n' ' ' <"$work/reload.log")"
  ct journalctl -u alertd.service --since "$since" --no-pager -o cat | sed 's/^/    /'
fi
sleep 2
check "alertd.service is-active after reload" active "$(ct systemctl is-active alertd.service || true)"
check "MainPID unchanged by reload" "$pid" "$(prop MainPID)"
check "NRestarts after reload" 0 "$(prop NRestarts)"
if ct journalctl -u alertd.service --since "$since" --no-pager -o cat | grep -qi 'reloaded'; then
  pass "alertd logged the configuration reload"
else
  fail "alertd did not log a configuration reload"
fi

# stop: SIGTERM; alertd must drain and exit 0.
if ct systemctl stop alertd.service >"$work/stop.log" 2>&1; then
  pass "systemctl stop alertd exited 0"
else
  fail "systemctl stop alertd failed: $(tr '\n' ' ' <"$work/stop.log")"
fi
check "ActiveState after stop" inactive "$(prop ActiveState)"
check "Result after stop" success "$(prop Result)"
check "ExecMainCode after stop (1 = exited)" 1 "$(prop ExecMainCode)"
check "ExecMainStatus after stop" 0 "$(prop ExecMainStatus)"

# --- upgrade: the edited configuration and the data are kept, the service restarts ------------
ct systemctl start alertd.service
wait_ready " (started again)"
store_inode=$(ct stat -c %i /var/lib/alertd/store.redb 2>&1)
# An administrator's edit: a comment and a label on every alert sent out.
ct sed -i -e '1i # edited by test-in-nspawn.sh' \
  -e 's|^  external_labels: {} |  external_labels: { site: nspawn }|' /etc/alertd/alertd.yaml
edited=$(ct sha256sum /etc/alertd/alertd.yaml | cut -c1-64)
if ct grep -q '^  external_labels: { site: nspawn }' /etc/alertd/alertd.yaml; then
  pass "edited /etc/alertd/alertd.yaml (external_labels)"
else fail "could not edit /etc/alertd/alertd.yaml"; fi
pid_before=$(prop MainPID)
log "apt-get install ./$(basename "$upgrade_deb") (upgrade to $upgrade_version)"
if apt_install v2; then
  pass "apt-get install ./$(basename "$upgrade_deb") exited 0"
else
  fail "upgrade failed:"; sed 's/^/    /' "$work/apt-v2.log"
fi
check "version after upgrade" "$upgrade_version" "$(ct dpkg-query -W -f '${Version}' alertd)"
check "edited /etc/alertd/alertd.yaml kept by the upgrade (sha256)" "$edited" \
  "$(ct sha256sum /etc/alertd/alertd.yaml | cut -c1-64)"
if ct sh -c 'ls /etc/alertd/*.dpkg-* 2>/dev/null' | grep -q .; then
  fail "the upgrade left $(ct sh -c 'ls /etc/alertd/*.dpkg-*' | xargs)"
else pass "no .dpkg-new/.dpkg-dist/.dpkg-old next to the configuration"; fi
check "/etc/alertd/alertd.yaml after the upgrade" "root:alertd 640" "$(perms /etc/alertd/alertd.yaml)"
check "alertd.service enabled after the upgrade" enabled "$(ct systemctl is-enabled alertd.service 2>&1 || true)"
wait_ready " after the upgrade"
pid_after=$(prop MainPID)
if [ -n "$pid_after" ] && [ "$pid_after" != 0 ] && [ "$pid_after" != "$pid_before" ]; then
  pass "the upgrade restarted alertd (pid $pid_before -> $pid_after)"
else fail "the upgrade did not restart alertd (pid $pid_before -> $pid_after)"; fi
check "store kept by the upgrade (inode of /var/lib/alertd/store.redb)" "$store_inode" \
  "$(ct stat -c %i /var/lib/alertd/store.redb 2>&1)"

# --- remove: stopped, data and configuration kept ---------------------------------------------
alertd_procs() { # alertd processes in the container (no procps there)
  ct sh -c 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = alertd ] && echo "${p#/proc/}"; done; true'
}
check "alertd processes before remove" 1 "$(alertd_procs | wc -l)"
log "apt-get remove alertd"
if ct env DEBIAN_FRONTEND=noninteractive apt-get remove -y alertd >"$work/remove.log" 2>&1; then
  pass "apt-get remove alertd exited 0"
else fail "apt-get remove alertd failed:"; sed 's/^/    /' "$work/remove.log"; fi
check "package state after remove" config-files "$(ct dpkg-query -W -f '${db:Status-Status}' alertd)"
check "alertd processes after remove" "" "$(alertd_procs | xargs)"
check "alertd.service after remove" inactive "$(ct systemctl is-active alertd.service || true)"
code=$(ct curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:9797/-/ready || true)
check "GET /-/ready after remove (000 = refused)" 000 "$code"
check "/usr/bin/alertd after remove" no "$(ct test -e /usr/bin/alertd && echo yes || echo no)"
check "store kept by remove (inode of /var/lib/alertd/store.redb)" "$store_inode" \
  "$(ct stat -c %i /var/lib/alertd/store.redb 2>&1)"
check "edited /etc/alertd/alertd.yaml kept by remove (sha256)" "$edited" \
  "$(ct sha256sum /etc/alertd/alertd.yaml 2>&1 | cut -c1-64)"

# --- purge: data and configuration gone, the user stays -----------------------------------------
log "apt-get purge alertd"
if ct env DEBIAN_FRONTEND=noninteractive apt-get purge -y alertd >"$work/purge.log" 2>&1; then
  pass "apt-get purge alertd exited 0"
else fail "apt-get purge alertd failed:"; sed 's/^/    /' "$work/purge.log"; fi
case "$(ct dpkg-query -W -f '${db:Status-Status}' alertd 2>/dev/null || true)" in
  ""|not-installed) pass "package after purge: not installed";;
  *) fail "package after purge: $(ct dpkg-query -W -f '${db:Status-Status}' alertd)";; esac
check "/var/lib/alertd after purge" no "$(ct test -e /var/lib/alertd && echo yes || echo no)"
check "/etc/alertd after purge" no "$(ct test -e /etc/alertd && echo yes || echo no)"
check "alertd user after purge" alertd "$(ct getent passwd alertd | cut -d: -f1)"

if [ "$failures" -ne 0 ]; then
  echo "--- journalctl -u alertd (last 30 lines) ---"
  ct journalctl -u alertd.service --no-pager -n 30 | sed 's/^/    /'
  log "$failures check(s) failed"
  exit 1
fi
log "all checks passed"
