#!/usr/bin/env python3
"""Start-up to the first answered request, without a process spawn per try.

Starts `healthcare serve` on DATABASE (migrations already applied), connects and sends
`GET /api/health/` every 0.5 ms until it answers 200, prints the milliseconds, stops the
server with SIGTERM (a clean stop), and repeats.

    BIN=target/release/healthcare python3 tests/load/startup.py sqlite:///path/bench.db 5
"""
import os
import socket
import subprocess
import sys
import time

url = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
port = int(os.environ.get("PORT", "18083"))
env = dict(os.environ, DATABASE_URL=url, BCRYPT_COST="4", RUST_LOG="warn",
           HEALTHCARE_BIND=f"127.0.0.1:{port}")
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    server = subprocess.Popen([os.environ.get("BIN", "target/release/healthcare"), "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /api/health/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    break
        except OSError:
            time.sleep(0.0005)
    times.append(round((time.perf_counter() - t0) * 1000, 1))
    server.terminate()
    server.wait()
    time.sleep(0.3)
print(url, times)
