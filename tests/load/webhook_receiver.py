"""The load bench's webhook receiver (tests/load/run.sh): answers every POST 204 at once and
keeps, per request, when it arrived and the event's `created_at` (written in the change's
transaction), so the bench can report the dispatcher's delivery rate and the delay from commit
to delivery. Standard library only; it does not verify signatures (the test suite does).

usage: webhook_receiver.py PORT_FILE
  GET /stats -> {"count", "first", "last", "p50_ms", "p99_ms"}; DELETE /stats resets.
"""
import json
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = []  # (arrival, delay seconds)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        arrived = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        created = datetime.fromisoformat(json.loads(body)["created_at"].replace("Z", "+00:00"))
        with lock:
            seen.append((arrived, arrived - created.timestamp()))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            delays = sorted(d for _, d in seen)
            arrivals = [a for a, _ in seen]
        pick = lambda q: round(1000 * delays[min(len(delays) - 1, int(q * len(delays)))], 1) if delays else None
        body = json.dumps({"count": len(delays), "first": min(arrivals, default=None),
                           "last": max(arrivals, default=None), "p50_ms": pick(0.50),
                           "p99_ms": pick(0.99)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self):
        with lock:
            seen.clear()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
