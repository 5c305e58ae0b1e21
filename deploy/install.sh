#!/bin/sh
# Installs alertd as a systemd service from a source build, the second way next to the Debian
# package (deploy/build-deb.sh; README "Deployment"):
#   - a system user and group `alertd` (no login shell, no home),
#   - /usr/local/bin/alertd (and alertctl when it was built),
#   - /etc/alertd/alertd.yaml from examples/quickstart.yaml with storage.path /var/lib/alertd
#     (an existing file is never overwritten) and the default rule pack in /etc/alertd/rules,
#   - /var/lib/alertd (owned by alertd, mode 0700; systemd's StateDirectory= keeps it so),
#   - /etc/systemd/system/alertd.service, then `systemctl daemon-reload` and
#     `systemctl enable --now alertd` when systemd runs this machine.
#
# Usage (as root, from the repository): cargo build --release && deploy/install.sh [BINARY_DIR]
# BINARY_DIR defaults to target/release. DESTDIR=/some/root installs into a staging root (for
# packaging and tests); the user is still created on this machine and systemctl is not called.
# Upgrade: build the new version and run the script again (binaries and the unit are replaced,
# the configuration and data are kept), then `systemctl restart alertd`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bindir_src=${1:-$repo/target/release}
dest=${DESTDIR:-}

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 2; }
[ -x "$bindir_src/alertd" ] || {
  echo "install.sh: $bindir_src/alertd not found; run 'cargo build --release' first" >&2
  exit 2
}

if ! getent group alertd >/dev/null; then
  groupadd --system alertd
fi
if ! getent passwd alertd >/dev/null; then
  useradd --system --gid alertd --no-create-home --home-dir /var/lib/alertd \
    --shell /usr/sbin/nologin --comment "alertd monitoring" alertd
fi

install -d -m 0755 "$dest/usr/local/bin" "$dest/etc/systemd/system"
install -m 0755 "$bindir_src/alertd" "$dest/usr/local/bin/alertd"
if [ -x "$bindir_src/alertctl" ]; then
  install -m 0755 "$bindir_src/alertctl" "$dest/usr/local/bin/alertctl"
fi

# Configuration: readable by alertd, not by everyone (it may name secret files next to it).
install -d -m 0750 -g alertd "$dest/etc/alertd" "$dest/etc/alertd/rules"
for f in "$repo"/rules/*.rules.yml; do
  install -m 0640 -g alertd "$f" "$dest/etc/alertd/rules/"
done
if [ ! -e "$dest/etc/alertd/alertd.yaml" ]; then
  "$here/system-config.sh" "$repo/examples/quickstart.yaml" > "$dest/etc/alertd/alertd.yaml.new"
  chmod 0640 "$dest/etc/alertd/alertd.yaml.new"
  chgrp alertd "$dest/etc/alertd/alertd.yaml.new"
  mv "$dest/etc/alertd/alertd.yaml.new" "$dest/etc/alertd/alertd.yaml"
fi

install -d -m 0700 -o alertd -g alertd "$dest/var/lib/alertd"
# The unit runs the packaged /usr/bin/alertd; this installation's is in /usr/local/bin.
sed 's|^ExecStart=/usr/bin/alertd |ExecStart=/usr/local/bin/alertd |' "$here/alertd.service" \
  > "$dest/etc/systemd/system/alertd.service"
chmod 0644 "$dest/etc/systemd/system/alertd.service"
grep -q '^ExecStart=/usr/local/bin/alertd ' "$dest/etc/systemd/system/alertd.service"

"$dest/usr/local/bin/alertd" --version
if [ -z "$dest" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now alertd
  echo "alertd installed and started: journalctl -u alertd -f"
else
  echo "alertd installed${dest:+ into $dest}; systemd is not running here, so it was not started"
fi
