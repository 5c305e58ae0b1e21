#!/usr/bin/env bash
# Side-by-side: the stack alertd replaces (Debian's prometheus, prometheus-alertmanager,
# prometheus-blackbox-exporter, prometheus-node-exporter) and alertd, on the same workloads in
# one run, on loopback. Prints a table with the ratios (stack / alertd).
#
#   bench/side-by-side.sh            # IDLE_SECONDS=60 PROBE_SECONDS=120 TARGETS=2000
#   WORKLOADS=4,5 bench/side-by-side.sh   # only the listed workloads (default: all, 1,2,3,4,5);
#                                         # 4 and 5 come from one run, either runs both
#
# Workloads:
#   1. idle RSS of the whole stack vs alertd on its quickstart config (after IDLE_SECONDS);
#   2. TARGETS HTTP targets probed every 15 s for PROBE_SECONDS: CPU per probe and peak RSS of
#      prometheus + blackbox_exporter vs alertd (CPU and RSS from /proc);
#   3. 10,000 alerts to notified: the notifier bench, which runs Alertmanager on the same load.
#   4. SERIES series (half gauges with random-walk values, half counters) scraped every second
#      for INGEST_SECONDS by prometheus and by alertd, each also evaluating the same 200 alerting
#      rules every 5 s: process CPU per 1,000 samples ingested (scraping, parsing, storing and
#      the rules; counted by each one's own samples-appended counter), and bytes per sample on
#      disk after a clean stop (data directory size / samples appended);
#   5. from the same run, the mean time of one round of the 200 rules (each one's own rule
#      group duration metric).
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE_SECONDS=${IDLE_SECONDS:-60}
PROBE_SECONDS=${PROBE_SECONDS:-120}
TARGETS=${TARGETS:-2000}
SERIES=${SERIES:-10000}
INGEST_SECONDS=${INGEST_SECONDS:-120}
WORKLOADS=${WORKLOADS:-1,2,3,4,5}
want() { [[ ",$WORKLOADS," == *",$1,"* ]]; }

pkgs=()
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
cargo build --release -q -p alertd
if want 3; then cargo build --release -q -p notifier --example bench; fi
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
ALERTD=$target_dir/release/alertd
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_http() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }
hz=$(getconf CLK_TCK)

# A target server with TARGETS paths (every path answers 200).
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

start_stack() { # $1 = number of HTTP targets; sets stack_pids, prom_pid, bb_pid
  local n=$1
  local d=$work/stack-$n
  mkdir -p "$d"
  local nport bport aport pport
  nport=$(port); bport=$(port); aport=$(port); pport=$(port)
  cat > "$d/am.yml" <<EOF
route: { receiver: hook }
receivers: [{ name: hook, webhook_configs: [{ url: 'http://127.0.0.1:9/' }] }]
EOF
  cat > "$d/bb.yml" <<EOF
modules:
  http_2xx: { prober: http, timeout: 5s, http: { preferred_ip_protocol: ip4 } }
EOF
  {
    echo "global: { scrape_interval: 15s, evaluation_interval: 15s }"
    echo "alerting: { alertmanagers: [{ static_configs: [{ targets: ['127.0.0.1:$aport'] }] }] }"
    echo "scrape_configs:"
    echo "  - job_name: node"
    echo "    static_configs: [{ targets: ['127.0.0.1:$nport'] }]"
    echo "  - job_name: blackbox"
    echo "    metrics_path: /probe"
    echo "    params: { module: [http_2xx] }"
    echo "    static_configs:"
    echo "      - targets:"
    for i in $(seq 1 "$n"); do echo "        - http://127.0.0.1:$tport/t$i"; done
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
  wait_http "http://127.0.0.1:$pport/-/ready"
}
stop_pids() { for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }

start_alertd() { # $1 = number of HTTP targets (0: the quickstart); sets alertd_pid
  local n=$1
  local d=$work/alertd-$n ap
  mkdir -p "$d"
  ap=$(port)
  sed -e "s/127.0.0.1:9797/127.0.0.1:$ap/g" -e "s#\.\./rules/#$PWD/rules/#" examples/quickstart.yaml > "$d/alertd.yaml"
  if [ "$n" -gt 0 ]; then
    {
      echo "api: { listen: '127.0.0.1:$ap' }"
      echo "storage: { path: data }"
      echo "rule_files: ['$PWD/rules/*.rules.yml']"
      echo "probes:"
      for i in $(seq 1 "$n"); do
        echo "  - { name: t$i, http: { url: 'http://127.0.0.1:$tport/t$i' }, interval: 15s, timeout: 5s }"
      done
    } > "$d/alertd.yaml"
  fi
  (cd "$d" && exec "$ALERTD" --config alertd.yaml) >/dev/null 2>&1 &
  alertd_pid=$!; pids+=($alertd_pid)
  wait_http "http://127.0.0.1:$ap/-/ready"
}

echo "side-by-side on $(nproc) cores, $(date -u +%Y-%m-%d), $(prometheus --version 2>&1 | head -1)"

stack_rss='' alertd_rss='' stack_us='' alertd_us='' stack_hwm='' alertd_hwm='' notif='' ingest=''

# 1. Idle RSS.
if want 1; then
start_stack 2; sleep "$IDLE_SECONDS"
stack_rss=0; for p in "${stack_pids[@]}"; do stack_rss=$((stack_rss + $(rss_kib "$p"))); done
stop_pids "${stack_pids[@]}"
start_alertd 0; sleep "$IDLE_SECONDS"
alertd_rss=$(rss_kib "$alertd_pid"); stop_pids "$alertd_pid"
fi

# 2. TARGETS HTTP targets.
if want 2; then
probes=$((TARGETS * PROBE_SECONDS / 15))
start_stack "$TARGETS"; sleep 20
c0=$(( $(cpu_ticks "$prom_pid") + $(cpu_ticks "$bb_pid") )); sleep "$PROBE_SECONDS"
c1=$(( $(cpu_ticks "$prom_pid") + $(cpu_ticks "$bb_pid") ))
stack_us=$(( (c1 - c0) * 1000000 / hz / probes ))
stack_hwm=$(( $(hwm_kib "$prom_pid") + $(hwm_kib "$bb_pid") ))
stop_pids "${stack_pids[@]}"
start_alertd "$TARGETS"; sleep 20
c0=$(cpu_ticks "$alertd_pid"); sleep "$PROBE_SECONDS"; c1=$(cpu_ticks "$alertd_pid")
alertd_us=$(( (c1 - c0) * 1000000 / hz / probes ))
alertd_hwm=$(hwm_kib "$alertd_pid")
stop_pids "$alertd_pid"
fi

# 3. 10,000 alerts (the notifier bench runs Alertmanager on the same load).
if want 3; then
notif=$("$target_dir/release/examples/bench" 2>&1 | grep -E '^(alertd|Alertmanager):')
fi

# 4 and 5. SERIES series at 1 s and 200 rules at 5 s, on prometheus and on alertd.
if want 4 || want 5; then
eport=$(port)
python3 bench/exporter.py "$eport" "$SERIES" >/dev/null 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$eport/metrics"
rules=$work/bench.rules.yml
{
  echo "groups:"
  echo "  - name: bench"
  echo "    interval: 5s"
  echo "    rules:"
  for k in $(seq 0 199); do
    s=$((k % 20))
    case $((k % 4)) in
      0) e="avg by (shard) (bench_value{shard=\"$s\"}) > 1e9" ;;
      1) e="max_over_time(bench_value{shard=\"$s\"}[1m]) > 1e9" ;;
      2) e="sum by (shard) (rate(bench_requests_total{shard=\"$s\"}[1m])) > 1e9" ;;
      3) e="count(bench_value{shard=\"$s\"} > 50) > 1e9" ;;
    esac
    echo "      - { alert: Bench$k, expr: '$e', for: 1m, labels: { severity: warning } }"
  done
} > "$rules"
promtool check rules "$rules" >/dev/null
metric() { # $1 = URL of /metrics, $2 = series (with labels: that one; without: the sum over all)
  local body
  body=$(curl -fsS "$1")  # read whole first: awk stops early, and curl must not see a closed pipe
  awk -v m="$2" '
    $1 == m { print $2; found = 1; exit }
    index(m, "{") == 0 && index($1, m "{") == 1 { sum += $2; n++ }
    END { if (!found) { if (n) print sum; else { print "no series " m > "/dev/stderr"; exit 1 } } }' <<<"$body"
}
ingest_run() { # $1 = pid, $2 = metrics URL, $3 = samples counter, $4 = rule sum, $5 = rule count
  sleep 20
  local c0 s0 c1 s1
  c0=$(cpu_ticks "$1"); s0=$(metric "$2" "$3")
  sleep "$INGEST_SECONDS"
  c1=$(cpu_ticks "$1"); s1=$(metric "$2" "$3")
  cpu_per_k=$(python3 -c "print(f'{($c1 - $c0) / $hz * 1e6 / (($s1 - $s0) / 1000):.0f}')")
  local rsum rcount
  rsum=$(metric "$2" "$4"); rcount=$(metric "$2" "$5")
  rule_ms=$(python3 -c "print(f'{$rsum / $rcount * 1000:.2f}')")
  samples_total=$(metric "$2" "$3")
}
d=$work/ingest-prom; mkdir -p "$d"; pport=$(port)
cat > "$d/prom.yml" <<EOF
global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 5s }
rule_files: ['$rules']
scrape_configs:
  - job_name: bench
    static_configs: [{ targets: ['127.0.0.1:$eport'] }]
EOF
prometheus --config.file="$d/prom.yml" --storage.tsdb.path="$d/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >/dev/null 2>&1 &
p=$!; pids+=($p)
wait_http "http://127.0.0.1:$pport/-/ready"
ingest_run "$p" "http://127.0.0.1:$pport/metrics" prometheus_tsdb_head_samples_appended_total \
  'prometheus_rule_group_duration_seconds_sum' 'prometheus_rule_group_duration_seconds_count'
prom_cpu_k=$cpu_per_k; prom_rule_ms=$rule_ms; prom_samples=$samples_total
stop_pids "$p"
prom_bytes=$(du -sb "$d/tsdb" | cut -f1)

d=$work/ingest-alertd; mkdir -p "$d"; ap=$(port)
cat > "$d/alertd.yaml" <<EOF
global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 5s }
api: { listen: '127.0.0.1:$ap' }
storage: { path: data }
rule_files: ['$rules']
scrape_configs:
  - job_name: bench
    static_configs: [{ targets: ['127.0.0.1:$eport'] }]
EOF
(cd "$d" && exec "$ALERTD" --config alertd.yaml) >/dev/null 2>&1 &
p=$!; pids+=($p)
wait_http "http://127.0.0.1:$ap/-/ready"
ingest_run "$p" "http://127.0.0.1:$ap/metrics" alertd_store_samples_ingested_total \
  alertd_rule_group_duration_seconds_total alertd_rule_group_iterations_total
alertd_cpu_k=$cpu_per_k; alertd_rule_ms=$rule_ms; alertd_samples=$samples_total
stop_pids "$p"
alertd_bytes=$(du -sb "$d/data" | cut -f1)
ingest="$prom_cpu_k $alertd_cpu_k $prom_bytes $prom_samples $alertd_bytes $alertd_samples $prom_rule_ms $alertd_rule_ms"
fi

python3 - "$stack_rss" "$alertd_rss" "$stack_us" "$alertd_us" "$stack_hwm" "$alertd_hwm" "$TARGETS" "$notif" "$SERIES" "$ingest" "$WORKLOADS" <<'EOF'
import re, sys
sr, ar, su, au, sh, ah, n, notif, series, ingest, workloads = sys.argv[1:]
want = set(workloads.split(","))
rows = []
if sr:
    sr, ar = int(sr), int(ar)
    rows.append(("idle RSS, whole stack vs alertd (quickstart)", f"{sr/1024:.1f} MiB", f"{ar/1024:.1f} MiB", sr / max(ar, 1)))
if su:
    su, au, sh, ah = map(int, (su, au, sh, ah))
    rows.append((f"CPU per probe, {n} HTTP targets at 15 s", f"{su} µs", f"{au} µs", su / max(au, 1)))
    rows.append((f"peak RSS, {n} HTTP targets", f"{sh/1024:.1f} MiB", f"{ah/1024:.1f} MiB", sh / max(ah, 1)))
m = {k: re.findall(r"([\d.]+) (s|µs|MiB)", v) for k, v in (l.split(":", 1) for l in notif.splitlines())}
if "alertd" in m and "Alertmanager" in m:
    for i, what in enumerate(["10,000 alerts: time until all notified", "10,000 alerts: CPU per alert", "10,000 alerts: peak RSS"]):
        (a, u), (s, _) = m["alertd"][i], m["Alertmanager"][i]
        rows.append((what, f"{s} {u}", f"{a} {u}", float(s) / max(float(a), 1e-9)))
if ingest:
    pc, ac, pb, ps, ab, as_, pr, ar_ = ingest.split()
    pbs, abs_ = int(pb) / float(ps), int(ab) / float(as_)
    if "4" in want:
        rows.append((f"CPU per 1,000 samples, {series} series at 1 s + 200 rules", f"{pc} µs", f"{ac} µs", float(pc) / max(float(ac), 1e-9)))
        rows.append((f"bytes per sample on disk after the run ({float(ps):.0f} / {float(as_):.0f} samples)", f"{pbs:.2f} B", f"{abs_:.2f} B", pbs / max(abs_, 1e-9)))
    if "5" in want:
        rows.append((f"one round of 200 rules over {series} series (mean)", f"{pr} ms", f"{ar_} ms", float(pr) / max(float(ar_), 1e-9)))
print("| workload | Prometheus stack | alertd | stack / alertd |")
print("|---|---|---|---|")
for w, s, a, r in rows:
    print(f"| {w} | {s} | {a} | {r:.1f}x |")
EOF
