"""The benchmarks' scrape target: N series, half two-decimal random-walk gauges, half integer
counters, new values on every scrape. Used by side-by-side.sh, ingest-size.sh and scaling.sh.

    python3 bench/exporter.py PORT N          # one target on PORT
    python3 bench/exporter.py 0 N K           # K targets on free ports (port 0: printed one a line),
                                              # each with its share of the N series
"""
import http.server, random, sys, threading

random.seed(1)


def handler(first, n):
    half = n // 2
    gauges = [50.0] * half
    counters = [0.0] * (n - half)
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            with lock:
                out = ["# TYPE bench_value gauge"]
                for k in range(half):
                    i = first + k
                    gauges[k] = round(gauges[k] + random.uniform(-1, 1), 2)
                    out.append(f'bench_value{{shard="{i % 20}",i="{i}"}} {gauges[k]}')
                out.append("# TYPE bench_requests_total counter")
                for k in range(n - half):
                    i = first + k
                    counters[k] += random.randint(0, 20)
                    out.append(f'bench_requests_total{{shard="{i % 20}",i="{i}"}} {counters[k]:.0f}')
                body = ("\n".join(out) + "\n").encode()
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
