"""The benchmarks' scrape target: N series, half two-decimal random-walk gauges, half integer
counters, new values on every scrape. Used by side-by-side.sh and ingest-size.sh.

    python3 bench/exporter.py PORT N
"""
import http.server, random, sys

random.seed(1)
n = int(sys.argv[2]); half = n // 2
gauges = [50.0] * half; counters = [0.0] * (n - half)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        out = ["# TYPE bench_value gauge"]
        for i in range(half):
            gauges[i] = round(gauges[i] + random.uniform(-1, 1), 2)
            out.append(f'bench_value{{shard="{i % 20}",i="{i}"}} {gauges[i]}')
        out.append("# TYPE bench_requests_total counter")
        for i in range(n - half):
            counters[i] += random.randint(0, 20)
            out.append(f'bench_requests_total{{shard="{i % 20}",i="{i}"}} {counters[i]:.0f}')
        body = ("\n".join(out) + "\n").encode()
        self.send_response(200); self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
