#!/usr/bin/env bash
# Scaling: each workload at three sizes, alertd and the stack it replaces (Debian's prometheus,
# blackbox_exporter, alertmanager) side by side where the stack has the feature, on loopback.
# Appends one row per (workload, size, peer) to a TSV as each finishes, then draws the plots
# from that file (bench/plot.py).
#
#   bench/scaling.sh                     # every workload at every size (about 45 minutes)
#   SIZES=1,2 bench/scaling.sh           # the first two sizes only
#   SIZES=small bench/scaling.sh         # smoke test: smallest size, alertd only, short windows,
#                                        # into a scratch file (about a minute)
#   WORKLOADS=probes,alerts PEERS=alertd OUT=/tmp/x.tsv bench/scaling.sh
#
# Workloads and sizes (index 1, 2, 3):
#   probes    HTTP targets probed every 15 s: 200, 2,000, 20,000 (one local HTTP server, a path
#             per target). CPU per probe (prometheus + blackbox_exporter for the stack), peak RSS,
#             bytes on disk after a clean stop, and the start drift: p99 of |gap - 15 s| between
#             consecutive probe_success samples of one target (their timestamps are the runs'
#             starts, read back through each one's /api/v1/query); a gap over 22.5 s or a target
#             without a sample is a missed interval.
#   series    scraped series at 15 s: 10,000, 100,000, 1,000,000 (bench/exporter.py, 50,000
#             series per target). CPU per 1,000 samples, peak RSS, bytes per sample on disk,
#             the slowest scrape (max scrape_duration_seconds).
#   rules     alerting rules every 15 s over 10,000 scraped series: 20, 200, 2,000. Process CPU
#             per rule evaluation (the 10,000 series' ingest included: at 20 rules it is most of
#             it), peak RSS, the mean rule round (each one's group duration metric); a missed
#             iteration means it does not keep up.
#   alerts    alerts through the notifier: 1,000, 10,000, 100,000 (notifier/examples/bench.rs:
#             batches of 100, one group per alert, webhook to a sink; Alertmanager on the same
#             load). CPU per alert, peak RSS, time until every alert is notified.
#   silences  10,000 alerts with 10, 1,000, 10,000 active silences that match none of them
#             (same bench, --silences): CPU per alert, time until all notified.
#   status    the status page with 20, 200, 2,000 probes and 90 days of history (alertd only:
#             the stack has no status page; alertd/examples/status_bench.rs): median time to
#             build the full page, peak RSS of the bench process.
#
# Every row carries the 1-minute load average before and after its run (`uptime`): on a shared
# machine the CPU and latency figures are only comparable within one load.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-1,2,3}
WORKLOADS=${WORKLOADS:-probes,series,rules,alerts,silences,status}
PEERS=${PEERS:-alertd,stack}
WARMUP=${WARMUP:-20}
MEASURE=${MEASURE:-60}
OUT=${OUT:-bench/results/scaling.tsv}
PLOTS=${PLOTS:-bench/plots}
if [ "$SIZES" = small ]; then
  SIZES=1 PEERS=${SMALL_PEERS:-alertd} WARMUP=3 MEASURE=15
  OUT=${SMALL_OUT:-$(mktemp -d)/scaling.tsv} PLOTS=${SMALL_PLOTS:-$(dirname "$OUT")/plots}
fi
want() { [[ ",$WORKLOADS," == *",$1,"* ]]; }
peer() { [[ ",$PEERS," == *",$1,"* ]]; }
size() { # $1 = workload's sizes "a b c", $2 = index
  local a; read -ra a <<<"$1"; echo "${a[$(($2 - 1))]}"
}

. bench/lib.sh
if peer stack; then install_stack; fi
# Two examples are called bench (the collector's and the notifier's) and share the file
# target/release/examples/bench: build and copy each on its own.
cargo build --release -q -p alertd --bin alertd --example status_bench
bench_init
cargo build --release -q -p collector --example bench
cp "$target_dir/release/examples/bench" "$work/collector-bench"
cargo build --release -q -p notifier --example bench
cp "$target_dir/release/examples/bench" "$work/notifier-bench"
# The probe targets: the collector bench's HTTP server (axum on one thread; 20,000 targets at
# 15 s are 1,333 connections a second, more than Python's http.server keeps up with).
"$work/collector-bench" serve > "$work/serve.port" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/serve.port" ] && break; sleep 0.1; done
tport=$(cat "$work/serve.port")
target_url() { echo "http://127.0.0.1:$tport/ok?t=$1"; }

mkdir -p "$(dirname "$OUT")"
machine="$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME")"
[ -s "$OUT" ] || printf 'date\tmachine\tworkload\tsize\tpeer\tcpu_per_unit\tcpu_unit\tpeak_rss_mib\tdisk_bytes\tlatency\tlatency_unit\tkeeps_up\tload_before\tload_after\tnote\n' > "$OUT"
load1() { awk '{print $1}' /proc/loadavg; }
row() { # workload size peer cpu cpu_unit rss_mib disk latency latency_unit keeps_up load_before note
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$machine" \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "${11}" "$(load1)" "${12}" | tee -a "$OUT"
}
metric0() { metric "$@" 2>/dev/null || echo 0; }  # a counter not exported yet is 0
kib_mib() { python3 -c "print(f'{$1 / 1024:.1f}')"; }

# Reads /api/v1/query?query=probe_success[W] (JSON on stdin) for $1 targets; prints the p99
# start drift in ms, the missed intervals, and the runs that started after $2 (epoch seconds).
drift() {
  python3 -c '
import json, sys
n, t0, every = int(sys.argv[1]), float(sys.argv[2]), 15.0
res = json.load(sys.stdin)["data"]["result"]
drift, missed, runs = [], n - len(res), 0
for s in res:
    ts = sorted(float(v[0]) for v in s["values"])
    runs += sum(1 for t in ts if t > t0)
    for a, b in zip(ts, ts[1:]):
        gap = b - a
        if gap > 1.5 * every: missed += 1
        drift.append(abs(gap - every))
drift.sort()
p99 = drift[min(len(drift) - 1, int(len(drift) * 0.99))] * 1000 if drift else float("nan")
print(f"{p99:.1f} {missed} {runs}")' "$1" "$2"
}

# --- probes -------------------------------------------------------------------------------
probes_run() { # $1 = targets, $2 = peer
  local n=$1 lb c0 c1 t0 rss disk base d pids_cpu
  lb=$(load1)
  if [ "$2" = alertd ]; then
    PROBE_RULES=0 start_alertd "$n"; base=http://127.0.0.1:$ap; d=$alertd_dir; pids_cpu=$alertd_pid
  else
    start_stack "$n"; base=http://127.0.0.1:$pport; d=$prom_dir; pids_cpu="$prom_pid $bb_pid"
  fi
  sleep "$WARMUP"
  cpu_sum() { local p s=0; for p in $pids_cpu; do s=$((s + $(cpu_ticks "$p"))); done; echo $s; }
  c0=$(cpu_sum); t0=$(date +%s.%N)
  sleep "$MEASURE"
  c1=$(cpu_sum)
  rss=0; for p in $pids_cpu; do rss=$((rss + $(hwm_kib "$p"))); done
  local dm us p99 missed runs ok
  dm=$(curl -fsS "$base/api/v1/query" --data-urlencode "query=probe_success[$((MEASURE + WARMUP - 2))s]" | drift "$n" "$t0")
  if [ "$2" = alertd ]; then stop_pids "$alertd_pid"; disk=$(du -sb "$d/data" | cut -f1)
  else stop_pids "${stack_pids[@]}"; disk=$(du -sb "$d/tsdb" | cut -f1); fi
  read -r p99 missed runs <<<"$dm"
  us=$(python3 -c "print(f'{($c1 - $c0) / $hz * 1e6 / $runs:.0f}' if $runs > 0 else 'nan')")
  ok=yes; python3 -c "import sys; sys.exit(0 if $missed == 0 and $p99 < 1000 else 1)" || ok=no
  row probes "$n" "$2" "$us" "µs per probe" "$(kib_mib "$rss")" "$disk" "$p99" "ms start drift p99" "$ok" "$lb" "$runs runs in ${MEASURE}s, $missed missed"
}

# --- series and rules -----------------------------------------------------------------------
exporter_start() { # $1 = series; sets eports (space-separated ports), exp_pid
  local shards=$(( ($1 + 49999) / 50000 ))
  python3 bench/exporter.py 0 "$1" "$shards" > "$work/exporter.ports" 2>/dev/null &
  exp_pid=$!; pids+=($exp_pid)
  for _ in $(seq 100); do [ "$(wc -l < "$work/exporter.ports")" -ge "$shards" ] && break; sleep 0.1; done
  eports=$(tr '\n' ' ' < "$work/exporter.ports")
}
scrape_config() { # the bench job, every 15 s; $1 = rule file or ''
  local p
  echo "global: { scrape_interval: 15s, scrape_timeout: 10s, evaluation_interval: 15s }"
  [ -z "$1" ] || echo "rule_files: ['$1']"
  echo "scrape_configs:"
  echo "  - job_name: bench"
  echo "    static_configs:"
  echo "      - targets:"
  for p in $eports; do echo "        - 127.0.0.1:$p"; done
}
ingest_run() { # $1 = peer, $2 = rule file or '', $3 = tag; sets i_cpu_s i_samples i_rss i_disk i_base i_rsum i_rcount i_missed
  local d=$work/ingest-$1-$3 pid base samples rsum rcount missed
  mkdir -p "$d"
  if [ "$1" = alertd ]; then
    ap=$(port)
    { echo "api: { listen: '127.0.0.1:$ap' }"; echo "storage: { path: data }"; scrape_config "$2"; } > "$d/alertd.yaml"
    start_alertd_config "$d"; pid=$alertd_pid; base=http://127.0.0.1:$ap
    samples=alertd_store_samples_ingested_total
    rsum=alertd_rule_group_duration_seconds_total rcount=alertd_rule_group_iterations_total
    missed=alertd_rule_group_iterations_missed_total
  else
    pport=$(port)
    scrape_config "$2" > "$d/prom.yml"
    prometheus --config.file="$d/prom.yml" --storage.tsdb.path="$d/tsdb" \
      --web.listen-address="127.0.0.1:$pport" >/dev/null 2>&1 &
    pid=$!; pids+=($pid); base=http://127.0.0.1:$pport
    wait_http "$base/-/ready" 300
    samples=prometheus_tsdb_head_samples_appended_total
    rsum=prometheus_rule_group_duration_seconds_sum rcount=prometheus_rule_group_duration_seconds_count
    missed=prometheus_rule_group_iterations_missed_total
  fi
  sleep "$WARMUP"
  local c0 c1 s0 s1 r0 r1 n0 n1 m0 m1
  c0=$(cpu_ticks "$pid"); s0=$(metric0 "$base/metrics" "$samples")
  if [ -n "$2" ]; then r0=$(metric0 "$base/metrics" "$rsum"); n0=$(metric0 "$base/metrics" "$rcount"); m0=$(metric0 "$base/metrics" "$missed"); fi
  sleep "$MEASURE"
  c1=$(cpu_ticks "$pid"); s1=$(metric0 "$base/metrics" "$samples")
  if [ -n "$2" ]; then r1=$(metric0 "$base/metrics" "$rsum"); n1=$(metric0 "$base/metrics" "$rcount"); m1=$(metric0 "$base/metrics" "$missed"); fi
  i_slowest=$(curl -fsS "$base/api/v1/query" --data-urlencode "query=max(max_over_time(scrape_duration_seconds[$((MEASURE + WARMUP - 2))s]))" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print("%.0f" % (float(r[0]["value"][1]) * 1000) if r else "nan")')
  i_cpu_s=$(python3 -c "print(($c1 - $c0) / $hz)")
  i_samples=$(python3 -c "print($s1 - $s0)")
  i_rss=$(hwm_kib "$pid")
  if [ -n "$2" ]; then
    i_rounds=$(python3 -c "print($n1 - $n0)")
    i_round_ms=$(python3 -c "n = $n1 - $n0; print(f'{($r1 - $r0) / n * 1000:.2f}' if n > 0 else 'nan')")
    i_missed=$(python3 -c "print(int($m1 - $m0))")
  fi
  stop_pids "$pid"
  if [ "$1" = alertd ]; then i_disk=$(du -sb "$d/data" | cut -f1); else i_disk=$(du -sb "$d/tsdb" | cut -f1); fi
  i_total=$(python3 -c "print($s1)")
  rm -rf "$d"
}
series_run() { # $1 = series, $2 = peer
  local lb us bps ok expected
  lb=$(load1)
  ingest_run "$2" '' "s$1"
  us=$(python3 -c "print(f'{$i_cpu_s * 1e6 / ($i_samples / 1000):.0f}' if $i_samples > 0 else 'nan')")
  expected=$(python3 -c "print($1 * ($MEASURE // 15))")
  ok=yes; python3 -c "import sys; sys.exit(0 if $i_samples >= 0.95 * $expected and float('$i_slowest') < 10000 else 1)" || ok=no
  row series "$1" "$2" "$us" "µs per 1,000 samples" "$(kib_mib "$i_rss")" "$i_disk" "$i_slowest" "ms slowest scrape" "$ok" "$lb" \
    "$(python3 -c "print(f'{$i_samples:.0f} samples in ${MEASURE}s (expected {$expected:.0f}); {$i_disk / max($i_total, 1):.2f} B per sample on disk')")"
}
rules_run() { # $1 = rules, $2 = peer (over RULE_SERIES series)
  local lb per ok f=$work/rules-$1.yml
  lb=$(load1)
  write_bench_rules "$1" 15s "$f"
  ingest_run "$2" "$f" "r$1"
  per=$(python3 -c "e = $i_rounds * $1; print(f'{$i_cpu_s * 1e6 / e:.0f}' if e > 0 else 'nan')")
  ok=yes; [ "$i_missed" = 0 ] && [ "${i_rounds%.*}" -gt 0 ] || ok=no
  row rules "$1" "$2" "$per" "µs CPU per rule evaluation" "$(kib_mib "$i_rss")" "" "$i_round_ms" "ms rule round (mean)" "$ok" "$lb" \
    "$i_rounds rounds, $i_missed missed, over ${RULE_SERIES:-10000} series; process CPU $(python3 -c "print(f'{$i_cpu_s:.1f}')") s in ${MEASURE}s (the series' ingest included)"
}

# --- the notifier ---------------------------------------------------------------------------
notifier_run() { # $1 = workload, $2 = size, $3 = extra bench arguments
  local lb out am=--no-alertmanager
  lb=$(load1)
  peer stack && am=
  out=$("$work/notifier-bench" $3 $am 2>&1 || true)
  python3 - "$1" "$2" "$out" <<'EOF' | while IFS=$'\t' read -r peer cpu rss lat ok note; do
import re, sys
workload, size, out = sys.argv[1:]
for name, peer in (("alertd", "alertd"), ("Alertmanager", "stack")):
    m = re.search(rf"^{name}:\s+([\d.]+) s until all delivered, ([\d.]+) µs CPU per alert, peak RSS ([\d.]+) MiB", out, re.M)
    if m:
        print(f"{peer}\t{m[2]}\t{m[3]}\t{float(m[1]) * 1000:.0f}\tyes\t")
    elif name == "alertd" or "did not deliver" in out:
        print(f"{peer}\tnan\tnan\tnan\tno\tdid not deliver every alert in time")
EOF
    row "$1" "$2" "$peer" "$cpu" "µs per alert" "$rss" "" "$lat" "ms until all notified" "$ok" "$lb" "$note"
  done
}

# --- the status page ------------------------------------------------------------------------
status_run() { # $1 = probes
  local lb out ms kib
  lb=$(load1)
  out=$(/usr/bin/time -f 'maxrss %M' "$target_dir/release/examples/status_bench" "$1" 2>&1)
  ms=$(sed -n 's/^full page (\/): .* median \([0-9.]*\) ms.*/\1/p' <<<"$out")
  kib=$(sed -n 's/^maxrss //p' <<<"$out")
  row status "$1" alertd "$ms" "ms CPU+wait per page" "$(kib_mib "$kib")" "" "$ms" "ms full page (median of 20)" yes "$lb" \
    "$(grep -E '^(seeded|public page)' <<<"$out" | tr '\n' ';')"
}

echo "scaling on $machine, $(date -u +%Y-%m-%dT%H:%MZ), sizes $SIZES, peers $PEERS, load $(load1) -> $OUT" >&2
for idx in ${SIZES//,/ }; do
  if want probes; then for p in alertd stack; do peer $p && probes_run "$(size '200 2000 20000' "$idx")" $p; done; fi
  if want series; then
    n=$(size '10000 100000 1000000' "$idx"); exporter_start "$n"
    for p in alertd stack; do peer $p && series_run "$n" $p; done
    stop_pids "$exp_pid"
  fi
  if want rules; then
    exporter_start "${RULE_SERIES:-10000}"
    for p in alertd stack; do peer $p && rules_run "$(size '20 200 2000' "$idx")" $p; done
    stop_pids "$exp_pid"
  fi
  if want alerts; then n=$(size '1000 10000 100000' "$idx"); notifier_run alerts "$n" "--alerts $n"; fi
  if want silences; then n=$(size '10 1000 10000' "$idx"); notifier_run silences "$n" "--alerts ${SILENCE_ALERTS:-10000} --silences $n"; fi
  if want status; then status_run "$(size '20 200 2000' "$idx")"; fi
done
/usr/bin/python3 bench/plot.py "$OUT" "$PLOTS"
