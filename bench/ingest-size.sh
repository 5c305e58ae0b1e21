#!/usr/bin/env bash
# Bytes per sample on disk for alertd alone: the ingest of bench/side-by-side.sh (SERIES series,
# half two-decimal random-walk gauges, half integer counters, scraped every second) for
# INGEST_SECONDS, then a clean stop, `du -sb` of the data directory, and what each kind of record in the
# database takes (store's `inspect` example).
#
#   bench/ingest-size.sh            # INGEST_SECONDS=100 SERIES=10000
set -euo pipefail
cd "$(dirname "$0")/.."
INGEST_SECONDS=${INGEST_SECONDS:-100}
SERIES=${SERIES:-10000}
cargo build --release -q -p alertd
cargo build --release -q -p store --example inspect
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
eport=$(port); ap=$(port)
python3 bench/exporter.py "$eport" "$SERIES" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$eport/metrics" 2>/dev/null && break; sleep 0.2; done
cat > "$work/alertd.yaml" <<EOF
global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 5s }
api: { listen: '127.0.0.1:$ap' }
storage: { path: data }
scrape_configs:
  - job_name: bench
    static_configs: [{ targets: ['127.0.0.1:$eport'] }]
EOF
(cd "$work" && exec "$target_dir/release/alertd" --config alertd.yaml) >"$work/log" 2>&1 &
p=$!; pids+=($p)
sleep "$INGEST_SECONDS"
samples=$(curl -fsS "http://127.0.0.1:$ap/metrics" | awk '$1 == "alertd_store_samples_ingested_total" { print $2 }')
kill "$p"; wait "$p" || true
bytes=$(du -sb "$work/data" | cut -f1)
ls -l "$work/data"
"$target_dir/release/examples/inspect" "$work/data"
python3 -c "print(f'{$samples:.0f} samples, {$bytes} bytes -> {$bytes / $samples:.2f} bytes per sample')"
