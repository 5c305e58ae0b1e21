#!/usr/bin/env bash
# Installs alertd with deploy/install.sh into a minimal Debian system booted with systemd as
# PID 1 in a systemd-nspawn container, and checks that the unit really runs it: active, ready,
# hardened (alertd user, NoNewPrivs, no capabilities, seccomp, ProtectSystem, PrivateTmp),
# that `systemctl reload` keeps it running and that `systemctl stop` ends it with status 0.
#
# Usage (as root): deploy/test-in-nspawn.sh PATH/TO/alertd PATH/TO/alertctl
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
#                    curl; no procps: the unit must not depend on /bin/kill)
#   NSPAWN_WORKDIR   where the per-run copy goes (default /var/tmp)
#   NSPAWN_TIMEOUT   seconds to wait for boot and for readiness (default 90)
set -euo pipefail

usage() { echo "usage: $0 PATH/TO/alertd PATH/TO/alertctl" >&2; exit 2; }
[ $# -eq 2 ] || usage
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 2; }
alertd_bin=$(readlink -f "$1")
alertctl_bin=$(readlink -f "$2")
for b in "$alertd_bin" "$alertctl_bin"; do
  [ -f "$b" ] && [ -x "$b" ] || { echo "$0: $b is not an executable file" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${NSPAWN_CACHE:-/var/cache/alertd-nspawn}
suite=${NSPAWN_SUITE:-bookworm}
packages=${NSPAWN_PACKAGES:-systemd,systemd-sysv,dbus,curl}
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

# --- fresh copy, with the installer and binaries staged under /opt/alertd-src --------------
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
mkdir -p "$src/bin"
cp -r "$repo/deploy" "$repo/rules" "$repo/examples" "$src/"
install -m 0755 "$alertd_bin" "$src/bin/alertd"
install -m 0755 "$alertctl_bin" "$src/bin/alertctl"

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

log "running deploy/install.sh inside the container"
if ct /opt/alertd-src/deploy/install.sh /opt/alertd-src/bin >"$work/install.log" 2>&1; then
  pass "deploy/install.sh exited 0"
else
  fail "deploy/install.sh failed:"; sed 's/^/    /' "$work/install.log"
  exit 1
fi
check "alertd.service enabled" enabled "$(ct systemctl is-enabled alertd.service 2>&1 || true)"

active=
for _ in $(seq 1 20); do
  active=$(ct systemctl is-active alertd.service || true)
  [ "$active" = active ] && break
  sleep 0.5
done
check "alertd.service is-active" active "$active"

code=000
for _ in $(seq 1 "$wait_s"); do
  code=$(ct curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:9797/-/ready || true)
  [ "$code" = 200 ] && break
  sleep 1
done
check "GET http://127.0.0.1:9797/-/ready inside the container" 200 "$code"

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
  check "CapBnd" 0000000000000000 "$(field CapBnd)"
  check "CapEff" 0000000000000000 "$(field CapEff)"
  check "CapAmb" 0000000000000000 "$(field CapAmb)"
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
check "CapabilityBoundingSet=" "" "$(prop CapabilityBoundingSet)"
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

if [ "$failures" -ne 0 ]; then
  echo "--- journalctl -u alertd (last 30 lines) ---"
  ct journalctl -u alertd.service --no-pager -n 30 | sed 's/^/    /'
  log "$failures check(s) failed"
  exit 1
fi
log "all checks passed"
