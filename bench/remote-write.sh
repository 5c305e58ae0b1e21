#!/usr/bin/env bash
# remote_write side by side: Debian's Prometheus 2.42 and alertd scrape the same SERIES series
# every 15 s and remote-write them to the same VictoriaMetrics (each with its own external label
# `sender`), in one run. Prints:
#
#   1. CPU per 1,000 samples sent: each process's CPU over WINDOW_SECONDS with remote_write,
#      minus its CPU over WINDOW_SECONDS just before without it (same process, remote_write
#      added by a reload: SIGHUP), divided by the samples it sent meanwhile (its own counter:
#      prometheus_remote_storage_samples_total / alertd_remote_storage_samples_total); the
#      whole process's CPU per 1,000 samples is printed too;
#   2. peak RSS of each while the receiver is stopped for OUTAGE_SECONDS (RSS read every 2 s),
#      next to its RSS just before the outage;
#   3. the time each takes to catch up once the receiver is back: until its highest timestamp
#      sent is within one scrape interval of the time the receiver came back.
#
#   bench/remote-write.sh          # SERIES=10000 WINDOW_SECONDS=180 OUTAGE_SECONDS=600
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-10000}
WINDOW_SECONDS=${WINDOW_SECONDS:-180}
OUTAGE_SECONDS=${OUTAGE_SECONDS:-600}
CATCHUP_LIMIT=${CATCHUP_LIMIT:-900}

for b in prometheus victoria-metrics; do
  command -v "$b" >/dev/null || { echo "$b is not installed (apt-get install prometheus victoria-metrics)" >&2; exit 1; }
done
source bench/lib.sh
bench_init
cargo build --release -q -p alertd
# lib.sh's `metric` prints sums with awk's 6 digits; timestamps need all of theirs.
metric_sum() { # $1 = URL of /metrics, $2 = series name: the sum over its label sets (0 if none)
  local body
  body=$(curl -fsS "$1")
  awk -v m="$2" '$1 == m || index($1, m "{") == 1 { sum += $2 } END { printf "%.3f\n", sum }' <<<"$body"
}
now() { date +%s.%N; }

eport=$(port)
python3 bench/exporter.py "$eport" "$SERIES" >/dev/null 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$eport/metrics"

vport=$(port)
start_vm() {
  victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vport" \
    -loggerLevel=ERROR >/dev/null 2>&1 &
  vm_pid=$!; pids+=($vm_pid)
  wait_http "http://127.0.0.1:$vport/health" 150
}
start_vm
rw_url="http://127.0.0.1:$vport/api/v1/write"

# Both start without remote_write; the same file with it is swapped in by a reload.
pd=$work/prom; mkdir -p "$pd"; pport=$(port)
# The scrape of the exporter as `sender` $1, then $2 (lines of the sender's own), with
# remote_write when $3 = 1: the same for both but for those.
scrape_cfg() {
  echo "global: { scrape_interval: 15s, scrape_timeout: 10s, external_labels: { sender: $1 } }"
  if [ -n "$2" ]; then echo "$2"; fi
  echo "scrape_configs:"
  echo "  - job_name: bench"
  echo "    static_configs: [{ targets: ['127.0.0.1:$eport'] }]"
  if [ "$3" = 1 ]; then echo "remote_write: [{ url: '$rw_url' }]"; fi
}
prom_cfg() { scrape_cfg prometheus "" "$1"; }
prom_cfg 0 > "$pd/prom.yml"
prometheus --config.file="$pd/prom.yml" --storage.tsdb.path="$pd/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$pd/log" 2>&1 &
prom_pid=$!; pids+=($prom_pid)
wait_http "http://127.0.0.1:$pport/-/ready"

ad=$work/alertd; mkdir -p "$ad"; aport=$(port)
alertd_cfg() { scrape_cfg alertd "api: { listen: '127.0.0.1:$aport' }
storage: { path: data }" "$1"; }
alertd_cfg 0 > "$ad/alertd.yaml"
(cd "$ad" && exec "$ALERTD" --config alertd.yaml) >"$ad/log" 2>&1 &
alertd_pid=$!; pids+=($alertd_pid)
wait_http "http://127.0.0.1:$aport/-/ready"
pm="http://127.0.0.1:$pport/metrics"; am="http://127.0.0.1:$aport/metrics"

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
sleep 30 # the first scrapes, the heads filled
# Window 1: no remote_write.
p0=$(cpu_ticks "$prom_pid"); a0=$(cpu_ticks "$alertd_pid")
sleep "$WINDOW_SECONDS"
p1=$(cpu_ticks "$prom_pid"); a1=$(cpu_ticks "$alertd_pid")
# Window 2: with remote_write (a reload adds it; a short pause lets both start sending).
prom_cfg 1 > "$pd/prom.yml"; kill -HUP "$prom_pid"
alertd_cfg 1 > "$ad/alertd.yaml"; kill -HUP "$alertd_pid"
sleep 30
p2=$(cpu_ticks "$prom_pid"); a2=$(cpu_ticks "$alertd_pid")
ps2=$(metric_sum "$pm" prometheus_remote_storage_samples_total); as2=$(metric_sum "$am" alertd_remote_storage_samples_total)
sleep "$WINDOW_SECONDS"
p3=$(cpu_ticks "$prom_pid"); a3=$(cpu_ticks "$alertd_pid")
ps3=$(metric_sum "$pm" prometheus_remote_storage_samples_total); as3=$(metric_sum "$am" alertd_remote_storage_samples_total)
echo "load after the windows: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The outage.
prom_rss0=$(rss_kib "$prom_pid"); alertd_rss0=$(rss_kib "$alertd_pid")
kill "$vm_pid"; wait "$vm_pid" 2>/dev/null || true
prom_peak=$prom_rss0; alertd_peak=$alertd_rss0
end=$(( $(date +%s) + OUTAGE_SECONDS ))
while [ "$(date +%s)" -lt "$end" ]; do
  r=$(rss_kib "$prom_pid"); [ "$r" -gt "$prom_peak" ] && prom_peak=$r
  r=$(rss_kib "$alertd_pid"); [ "$r" -gt "$alertd_peak" ] && alertd_peak=$r
  sleep 2
done
prom_pending=$(metric_sum "$pm" prometheus_remote_storage_samples_pending)
alertd_pending=$(metric_sum "$am" alertd_remote_storage_samples_pending)
start_vm
back=$(date +%s)
prom_catchup=""; alertd_catchup=""
while [ -z "$prom_catchup" ] || [ -z "$alertd_catchup" ]; do
  t=$(now)
  if python3 -c "import sys; sys.exit(0 if $t - $back < $CATCHUP_LIMIT else 1)"; then :; else break; fi
  if [ -z "$prom_catchup" ]; then
    h=$(metric_sum "$pm" prometheus_remote_storage_queue_highest_sent_timestamp_seconds)
    python3 -c "import sys; sys.exit(0 if $h >= $back - 15 else 1)" && prom_catchup=$(python3 -c "print(f'{$t - $back:.1f}')")
  fi
  if [ -z "$alertd_catchup" ]; then
    h=$(metric_sum "$am" alertd_remote_storage_queue_highest_sent_timestamp_seconds)
    python3 -c "import sys; sys.exit(0 if $h >= $back - 15 else 1)" && alertd_catchup=$(python3 -c "print(f'{$t - $back:.1f}')")
  fi
  sleep 1
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$hz" "$p0 $p1 $p2 $p3 $ps2 $ps3" "$a0 $a1 $a2 $a3 $as2 $as3" \
  "$prom_rss0 $prom_peak $prom_pending" "$alertd_rss0 $alertd_peak $alertd_pending" \
  "${prom_catchup:-none}" "${alertd_catchup:-none}" "$WINDOW_SECONDS" "$OUTAGE_SECONDS" "$CATCHUP_LIMIT" "$SERIES" <<'EOF'
import sys
hz = float(sys.argv[1])
def cpu(v):
    c0, c1, c2, c3, s2, s3 = map(float, v.split())
    sent = s3 - s2
    base = (c1 - c0) / hz  # seconds of CPU per window without remote_write
    with_rw = (c3 - c2) / hz
    per_k = lambda s: s * 1e6 / (sent / 1000) if sent > 0 else float("nan")
    return sent, per_k(with_rw - base), per_k(with_rw)
window, outage, limit, series = sys.argv[8], sys.argv[9], sys.argv[10], sys.argv[11]
ps, pm, pw = cpu(sys.argv[2]); as_, am, aw = cpu(sys.argv[3])
pr0, prp, ppend = map(float, sys.argv[4].split()); ar0, arp, apend = map(float, sys.argv[5].split())
pc, ac = sys.argv[6], sys.argv[7]
fmt = lambda c: f"{c} s" if c != "none" else f"not within {limit} s"
ratio = lambda a, b: f"{a / b:.1f}x" if b > 0 else "-"
print(f"remote_write, {series} series scraped every 15 s, to VictoriaMetrics (windows of {window} s, outage {outage} s)")
print(f"| measure | Prometheus 2.42 | alertd | ratio |")
print(f"|---|---|---|---|")
print(f"| samples sent in the window | {ps:.0f} | {as_:.0f} | |")
print(f"| CPU per 1,000 samples sent (remote_write's share) | {pm:.0f} µs | {am:.0f} µs | {ratio(pm, am)} |")
print(f"| CPU per 1,000 samples sent (whole process) | {pw:.0f} µs | {aw:.0f} µs | {ratio(pw, aw)} |")
print(f"| RSS before the outage | {pr0 / 1024:.1f} MiB | {ar0 / 1024:.1f} MiB | {ratio(pr0, ar0)} |")
print(f"| peak RSS during the outage | {prp / 1024:.1f} MiB | {arp / 1024:.1f} MiB | {ratio(prp, arp)} |")
print(f"| samples pending at the end of the outage | {ppend:.0f} | {apend:.0f} | |")
print(f"| time to catch up after the outage | {fmt(pc)} | {fmt(ac)} | |")
EOF
