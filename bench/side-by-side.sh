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

. bench/lib.sh
install_stack
cargo build --release -q -p alertd
if want 3; then cargo build --release -q -p notifier --example bench; fi
bench_init
start_target_server

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
write_bench_rules 200 5s "$rules"
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
