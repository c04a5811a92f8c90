"""An SMTP server for the mail tests: aiosmtpd (a real SMTP implementation that is not ours)
takes every message; each is parsed with Python's email package and its calendar attachment
with the `icalendar` library (an independent RFC 5545 parser), then logged as one JSON line.

usage: smtp_sink.py PORT_FILE LOG_FILE
  The bound port is written to PORT_FILE once the server answers.
  env PORT (default: a free one): the port to listen on.
  env REFUSE_FIRST (default 0): answer this many messages with a temporary failure (451)
    before taking any.
  env STEP_DELAY (default 0): seconds to wait before answering each MAIL FROM and RCPT TO
    (a slow server); each such command is logged as a line {"command": ..., "at": ...}.
  env TLS (default none): `starttls` (STARTTLS offered and required before MAIL) or `implicit`
    (TLS from the first byte, as on port 465), with a certificate for 127.0.0.1 and localhost
    issued by a new private CA (`trustme`), whose certificate is written to `ca.pem` beside
    PORT_FILE.
"""
import asyncio
import email
import email.policy
import json
import os
import socket
import sys
import threading
import time

from aiosmtpd.controller import Controller
from icalendar import Calendar

PORT_FILE, LOG_FILE = sys.argv[1:3]
REFUSE_FIRST = int(os.environ.get("REFUSE_FIRST", "0"))
STEP_DELAY = float(os.environ.get("STEP_DELAY", "0"))
lock = threading.Lock()
refused = 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe(envelope):
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    entry = {
        "mail_from": envelope.mail_from,
        "rcpt_tos": envelope.rcpt_tos,
        "from": str(msg["From"]),
        "to": str(msg["To"]),
        "subject": str(msg["Subject"]),
        "text": "",
        "calendar": None,
        "raw": envelope.content.decode("utf-8", "replace"),
    }
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "text/plain" and not part.get_filename():
            entry["text"] += part.get_content()
        elif ctype == "text/calendar":
            data = part.get_payload(decode=True)
            try:
                cal = Calendar.from_ical(data)
                events = [c for c in cal.walk() if c.name == "VEVENT"]
                ev = events[0]
                entry["calendar"] = {
                    "content_type": str(part["Content-Type"]),
                    "method": str(cal.get("METHOD")),
                    "prodid": str(cal.get("PRODID")),
                    "version": str(cal.get("VERSION")),
                    "events": len(events),
                    "uid": str(ev.get("UID")),
                    "sequence": int(ev.get("SEQUENCE")),
                    "status": str(ev.get("STATUS")),
                    "summary": str(ev.get("SUMMARY")),
                    "dtstart": ev.decoded("DTSTART").isoformat(),
                    "dtend": ev.decoded("DTEND").isoformat(),
                    "dtstamp": ev.decoded("DTSTAMP").isoformat(),
                    "organizer": str(ev.get("ORGANIZER")),
                    "attendee": str(ev.get("ATTENDEE")),
                }
            except Exception as e:  # the test fails on a calendar that does not parse
                entry["calendar"] = {"error": repr(e)}
    return entry


def log(entry):
    with lock, open(LOG_FILE, "a") as f:
        f.write(json.dumps(entry) + "\n")


async def slow_step(command):
    if STEP_DELAY:
        log({"command": command, "at": time.time()})
        await asyncio.sleep(STEP_DELAY)


class Handler:
    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        await slow_step("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await slow_step("RCPT")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        global refused
        with lock:
            if refused < REFUSE_FIRST:
                refused += 1
                return "451 4.3.0 Try again later"
        entry = describe(envelope)
        entry["at"] = time.time()
        log(entry)
        return "250 Message accepted"


def tls_context():
    import ssl

    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(os.path.join(os.path.dirname(PORT_FILE), "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


port = int(os.environ.get("PORT", "0")) or free_port()
TLS = os.environ.get("TLS", "none")
if TLS == "starttls":
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            tls_context=tls_context(), require_starttls=True)
elif TLS == "implicit":
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            ssl_context=tls_context())
else:
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
controller.start()
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(port))
os.replace(PORT_FILE + ".tmp", PORT_FILE)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    controller.stop()
