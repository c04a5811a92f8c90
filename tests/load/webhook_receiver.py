"""The load bench's webhook receiver (tests/load/run.sh): answers every POST 204 at once and
keeps, per request, when it arrived and the event's `created_at` (written in the change's
transaction), so the bench can report the dispatcher's delivery rate and the delay from commit
to delivery. One asyncio loop with keep-alive connections, standard library only, so the
receiver is not what bounds the rate; it does not verify signatures (the test suite does).

usage: webhook_receiver.py PORT_FILE
  GET /stats -> {"count", "first", "last", "p50_ms", "p99_ms"}; DELETE /stats resets.
"""
import asyncio
import json
import os
import sys
import time
from datetime import datetime

seen = []  # (arrival, delay seconds)


def stats():
    delays = sorted(d for _, d in seen)
    arrivals = [a for a, _ in seen]

    def pick(q):
        return round(1000 * delays[min(len(delays) - 1, int(q * len(delays)))], 1) if delays else None

    return json.dumps({"count": len(delays), "first": min(arrivals, default=None),
                       "last": max(arrivals, default=None), "p50_ms": pick(0.50),
                       "p99_ms": pick(0.99)}).encode()


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = time.time()
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if method == "POST":
                created = json.loads(body)["created_at"].replace("Z", "+00:00")
                seen.append((arrived, arrived - datetime.fromisoformat(created).timestamp()))
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            elif method == "GET":
                out = stats()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
            else:
                seen.clear()
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    async with server:
        await server.serve_forever()


asyncio.run(main())
