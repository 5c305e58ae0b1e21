#!/bin/sh
# Prints /etc/alertd/alertd.yaml of a system installation: examples/quickstart.yaml with its
# store in /var/lib/alertd (the unit's StateDirectory) and the rule pack in /etc/alertd/rules.
# Used by deploy/install.sh and deploy/build-deb.sh (the Debian package's conffile). Fails,
# printing nothing, when the quickstart no longer has the lines it rewrites.
#
# Usage: deploy/system-config.sh [QUICKSTART] > alertd.yaml
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$(dirname "$here")/examples/quickstart.yaml}

out=$(
  printf '%s\n' \
    "# /etc/alertd/alertd.yaml, installed from alertd's examples/quickstart.yaml." \
    "# Check it with \`alertctl check config /etc/alertd/alertd.yaml\`, apply it with" \
    "# \`systemctl reload alertd\`; storage.* and api.listen need \`systemctl restart alertd\`." \
    "#"
  sed -e 's|^\(  path:\) data .*|\1 /var/lib/alertd           # the unit'"'"'s StateDirectory|' \
      -e 's|^  - \.\./rules/\*\.rules\.yml|  - rules/*.rules.yml|' \
      "$src"
)
for want in '^  path: /var/lib/alertd ' '^  - rules/\*\.rules\.yml$'; do
  printf '%s\n' "$out" | grep -q "$want" || {
    echo "$0: $src has no line the pattern '$want' could come from; update this script" >&2
    exit 1
  }
done
printf '%s\n' "$out"
