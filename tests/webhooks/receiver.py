"""A webhook receiver for the notification tests: every POST is verified with the Standard
Webhooks reference library for Python (`standardwebhooks`, an implementation that is not
ours), then answered 204, or 500 with probability FAIL_RATE, and logged as one JSON line.

usage: receiver.py PORT_FILE LOG_FILE SECRET_FILE
  The bound port is written to PORT_FILE. SECRET_FILE holds the subscription's secret (read
  again for every request, so the test can write it once the subscription exists).
  env FAIL_RATE (default 0): share of requests answered 500 after verification.
  env PORT (default 0, any free one): the port to listen on.
  env SLOW_FIRST (default 0): seconds to wait before answering the first request of each
    webhook-id (later attempts of the same event are answered at once).
"""
import json
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

PORT_FILE, LOG_FILE, SECRET_FILE = sys.argv[1:4]
FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))
PORT = int(os.environ.get("PORT", "0"))
SLOW_FIRST = float(os.environ.get("SLOW_FIRST", "0"))
lock = threading.Lock()
seen = set()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        started = time.time()
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            with open(SECRET_FILE) as f:
                secret = f.read().strip()
            Webhook(secret).verify(body, headers)
            verified = True
        except Exception as e:  # noqa: BLE001 - any failure is a failed verification
            verified = repr(e)
        payload = json.loads(body)
        data = payload.get("data", {})
        record = next((v for v in data.values() if isinstance(v, dict)), {})
        with lock:
            first = headers.get("webhook-id") not in seen
            seen.add(headers.get("webhook-id"))
        if first and SLOW_FIRST > 0:
            time.sleep(SLOW_FIRST)
        status = 500 if random.random() < FAIL_RATE else 204
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()
        line = {
            "webhook_id": headers.get("webhook-id"),
            "id": payload.get("id"),
            "type": payload.get("type"),
            "record": record.get("id"),
            "verified": verified,
            "status": status,
            "start": started,
            "end": time.time(),
        }
        with lock, open(LOG_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")

    def log_message(self, *args):
        pass


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
