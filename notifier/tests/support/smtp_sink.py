"""A real SMTP server on loopback for alertd's email tests (aiosmtpd).

usage: smtp_sink.py OUTDIR PORT MODE   (MODE: starttls | implicit | plain | https)
Writes each received message to OUTDIR/msgN.json, prints READY, runs until stdin closes.
AUTH (PLAIN/LOGIN) accepts only alertd / s3cret. A certificate for "localhost" signed by a fresh CA
(OUTDIR/ca.pem, which the client trusts through ca_file) is made at start.
"""
import json
import warnings
import os
import ssl
import subprocess
import sys

warnings.simplefilter("ignore")


def write_message(n, record):
    """Writes OUTDIR/msgN.json whole or not at all (a temporary name, then a rename): the tests
    poll for these files while the sink writes them."""
    path = os.path.join(outdir, f"msg{n}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(path + ".tmp", path)

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

outdir, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cert, key = os.path.join(outdir, "cert.pem"), os.path.join(outdir, "key.pem")
ca, ca_key = os.path.join(outdir, "ca.pem"), os.path.join(outdir, "ca.key")
csr, ext = os.path.join(outdir, "leaf.csr"), os.path.join(outdir, "leaf.ext")
with open(ext, "w") as f:
    f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
for cmd in (
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "1",
     "-subj", "/CN=alertd test CA"],
    ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
    ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
     "-days", "1", "-extfile", ext],
):
    subprocess.run(["openssl", *cmd], check=True, capture_output=True)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


class Handler:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        login = None
        if session.auth_data is not None and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        write_message(self.n, {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf8", "replace"),
            "login": login,
            "starttls": session.ssl is not None and mode == "starttls",
        })
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"alertd"
          and auth_data.password == b"s3cret")
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


if mode == "https":
    # An HTTPS endpoint with the same certificate, for the webhook side of the TLS tests.
    import http.server
    import threading

    class Hook(http.server.BaseHTTPRequestHandler):
        n = 0

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            Hook.n += 1
            write_message(Hook.n, {"data": body.decode("utf8", "replace")})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print("READY", flush=True)
    sys.stdin.read()
    sys.exit(0)

kw = dict(hostname="127.0.0.1", port=port, authenticator=authenticator, auth_required=True)
if mode == "starttls":
    kw.update(tls_context=ctx, require_starttls=True)
elif mode == "implicit":
    kw.update(ssl_context=ctx, auth_require_tls=False)
else:
    kw.update(auth_require_tls=False)
controller = Controller(Handler(), **kw)
controller.start()
print("READY", flush=True)
sys.stdin.read()
controller.stop()
