"""The benchmarks' scrape target: N series, half two-decimal random-walk gauges, half integer
counters, new values on every scrape. Used by side-by-side.sh, ingest-size.sh and scaling.sh.

    python3 bench/exporter.py PORT N          # one target on PORT
    python3 bench/exporter.py 0 N K           # K targets on free ports (port 0: printed one a line),
                                              # each with its share of the N series
"""
import http.server, random, sys, threading

random.seed(1)
# Cheap enough for a million series a scrape in one Python process: the label part of every line
# is built once; a gauge moves by a step of -1.00..1.00 and a counter by 0..20, drawn from tables
# of random steps at a random offset per scrape; values are printed from a table of cents.
STEPS = [random.randint(-100, 100) for _ in range(4096)]
INCS = [random.randint(0, 20) for _ in range(4096)]
LIMIT = 100_000  # gauges stay within -1000.00..1000.00
CENTS = [repr(c / 100) for c in range(-LIMIT, LIMIT + 1)]


def handler(first, n):
    half = n // 2
    gauge_labels = [f'bench_value{{shard="{i % 20}",i="{i}"}} ' for i in range(first, first + half)]
    counter_labels = [f'bench_requests_total{{shard="{i % 20}",i="{i}"}} ' for i in range(first, first + n - half)]
    gauges = [5000] * half  # cents
    counters = [0] * (n - half)
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            nonlocal gauges, counters
            with lock:
                o = random.randrange(4096)
                gauges = [min(LIMIT, max(-LIMIT, g + STEPS[(i + o) & 4095])) for i, g in enumerate(gauges)]
                o = random.randrange(4096)
                counters = [c + INCS[(i + o) & 4095] for i, c in enumerate(counters)]
                body = "".join((
                    "# TYPE bench_value gauge\n",
                    "\n".join(map(str.__add__, gauge_labels, (CENTS[g + LIMIT] for g in gauges))),
                    "\n# TYPE bench_requests_total counter\n",
                    "\n".join(map(str.__add__, counter_labels, map(str, counters))),
                    "\n",
                )).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    return H


port, n = int(sys.argv[1]), int(sys.argv[2])
k = int(sys.argv[3]) if len(sys.argv) > 3 else 1
servers = []
for j in range(k):
    first, last = n * j // k, n * (j + 1) // k
    servers.append(http.server.ThreadingHTTPServer(("127.0.0.1", port), handler(first, last - first)))
if port == 0:
    print("\n".join(str(s.server_address[1]) for s in servers), flush=True)
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
