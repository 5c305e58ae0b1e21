# Shell functions shared by the benches (sourced by side-by-side.sh and scaling.sh; not run).
# The caller sets `set -euo pipefail`, cds to the repository root, then calls bench_init.

# Debian's Prometheus stack, installed if missing (package scripts must not start services).
install_stack() {
  local pkgs=()
  command -v prometheus >/dev/null || pkgs+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || pkgs+=(prometheus-alertmanager)
  command -v prometheus-blackbox-exporter >/dev/null || pkgs+=(prometheus-blackbox-exporter)
  command -v prometheus-node-exporter >/dev/null || pkgs+=(prometheus-node-exporter)
  if [ ${#pkgs[@]} -gt 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
}

# A scratch directory ($work), the processes to stop on exit ($pids), the release build's
# directory ($target_dir) and alertd ($ALERTD).
bench_init() {
  target_dir=${CARGO_TARGET_DIR:-$PWD/target}
  ALERTD=$target_dir/release/alertd
  work=$(mktemp -d)
  pids=()
  hz=$(getconf CLK_TCK)
  trap bench_cleanup EXIT
}
bench_cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_http() { for _ in $(seq "${2:-100}"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }
stop_pids() { for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }

# A Python HTTP server on $tport answering 200 "ok" on every path.
start_target_server() {
  tport=$(port)
  python3 - "$tport" >/dev/null 2>&1 <<'EOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
  pids+=($!)
}

# The probe targets' URLs: target_url I.
target_url() { echo "http://127.0.0.1:$tport/t$1"; }

# The stack probing $1 HTTP targets (target_url 1..$1) every ${PROBE_INTERVAL:-15s}: node_exporter,
# blackbox_exporter, Alertmanager, Prometheus. Sets stack_pids, prom_pid, bb_pid, prom_dir, pport.
start_stack() {
  local n=$1
  local d=$work/stack-$n
  mkdir -p "$d"
  local nport bport aport
  nport=$(port); bport=$(port); aport=$(port); pport=$(port)
  prom_dir=$d
  cat > "$d/am.yml" <<EOF
route: { receiver: hook }
receivers: [{ name: hook, webhook_configs: [{ url: 'http://127.0.0.1:9/' }] }]
EOF
  cat > "$d/bb.yml" <<EOF
modules:
  http_2xx: { prober: http, timeout: 5s, http: { preferred_ip_protocol: ip4 } }
EOF
  {
    echo "global: { scrape_interval: ${PROBE_INTERVAL:-15s}, evaluation_interval: 15s }"
    echo "alerting: { alertmanagers: [{ static_configs: [{ targets: ['127.0.0.1:$aport'] }] }] }"
    echo "scrape_configs:"
    echo "  - job_name: node"
    echo "    static_configs: [{ targets: ['127.0.0.1:$nport'] }]"
    echo "  - job_name: blackbox"
    echo "    metrics_path: /probe"
    echo "    params: { module: [http_2xx] }"
    echo "    static_configs:"
    echo "      - targets:"
    for i in $(seq 1 "$n"); do echo "        - $(target_url "$i")"; done
    echo "    relabel_configs:"
    echo "      - { source_labels: [__address__], target_label: __param_target }"
    echo "      - { source_labels: [__param_target], target_label: instance }"
    echo "      - { target_label: __address__, replacement: '127.0.0.1:$bport' }"
  } > "$d/prom.yml"
  prometheus-node-exporter --web.listen-address="127.0.0.1:$nport" >/dev/null 2>&1 &
  stack_pids=($!)
  prometheus-blackbox-exporter --config.file="$d/bb.yml" --web.listen-address="127.0.0.1:$bport" >/dev/null 2>&1 &
  bb_pid=$!; stack_pids+=($bb_pid)
  prometheus-alertmanager --config.file="$d/am.yml" --storage.path="$d/am" \
    --web.listen-address="127.0.0.1:$aport" --cluster.listen-address= >/dev/null 2>&1 &
  stack_pids+=($!)
  prometheus --config.file="$d/prom.yml" --storage.tsdb.path="$d/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >/dev/null 2>&1 &
  prom_pid=$!; stack_pids+=($prom_pid)
  pids+=("${stack_pids[@]}")
  wait_http "http://127.0.0.1:$pport/-/ready" 300
}

# alertd probing $1 HTTP targets (0: the quickstart config), with the repository's rules unless
# PROBE_RULES=0. Sets alertd_pid, alertd_dir, ap.
start_alertd() {
  local n=$1
  local d=$work/alertd-$n
  mkdir -p "$d"
  ap=$(port)
  alertd_dir=$d
  sed -e "s/127.0.0.1:9797/127.0.0.1:$ap/g" -e "s#\.\./rules/#$PWD/rules/#" examples/quickstart.yaml > "$d/alertd.yaml"
  if [ "$n" -gt 0 ]; then
    {
      echo "api: { listen: '127.0.0.1:$ap' }"
      echo "storage: { path: data }"
      [ "${PROBE_RULES:-1}" = 0 ] || echo "rule_files: ['$PWD/rules/*.rules.yml']"
      echo "probes:"
      for i in $(seq 1 "$n"); do
        echo "  - { name: t$i, http: { url: '$(target_url "$i")' }, interval: ${PROBE_INTERVAL:-15s}, timeout: 5s }"
      done
    } > "$d/alertd.yaml"
  fi
  start_alertd_config "$d"
}

# alertd on the alertd.yaml of directory $1 (its api.listen must be 127.0.0.1:$ap).
start_alertd_config() {
  (cd "$1" && exec "$ALERTD" --config alertd.yaml) >"$1/log" 2>&1 &
  alertd_pid=$!; pids+=($alertd_pid)
  wait_http "http://127.0.0.1:$ap/-/ready" 300
}

# One value from a /metrics page: $1 = URL, $2 = series (with labels: that one; without: the
# sum over all of that name).
metric() {
  local body
  body=$(curl -fsS "$1")  # read whole first: awk stops early, and curl must not see a closed pipe
  awk -v m="$2" '
    $1 == m { print $2; found = 1; exit }
    index(m, "{") == 0 && index($1, m "{") == 1 { sum += $2; n++ }
    END { if (!found) { if (n) print sum; else { print "no series " m > "/dev/stderr"; exit 1 } } }' <<<"$body"
}

# $1 alerting rules in one group evaluated every $2 over the exporter's series (bench/exporter.py),
# written to file $3 and checked with promtool: four kinds in turn, each over one of 20 shards.
write_bench_rules() {
  local n=$1 every=$2 file=$3 k s e
  {
    echo "groups:"
    echo "  - name: bench"
    echo "    interval: $every"
    echo "    rules:"
    for k in $(seq 0 $((n - 1))); do
      s=$((k % 20))
      case $((k % 4)) in
        0) e="avg by (shard) (bench_value{shard=\"$s\"}) > 1e9" ;;
        1) e="max_over_time(bench_value{shard=\"$s\"}[1m]) > 1e9" ;;
        2) e="sum by (shard) (rate(bench_requests_total{shard=\"$s\"}[1m])) > 1e9" ;;
        3) e="count(bench_value{shard=\"$s\"} > 50) > 1e9" ;;
      esac
      echo "      - { alert: Bench$k, expr: '$e', for: 1m, labels: { severity: warning } }"
    done
  } > "$file"
  promtool check rules "$file" >/dev/null
}
