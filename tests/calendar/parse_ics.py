"""Parses a calendar feed with the `icalendar` library (an independent RFC 5545 parser) for the
calendar tests: reads the feed from standard input and prints one JSON object, the calendar's
properties and its events, or {"error": ...} when it does not parse.
usage: parse_ics.py < feed.ics
"""
import json
import sys

from icalendar import Calendar

raw = sys.stdin.buffer.read()
try:
    cal = Calendar.from_ical(raw)
    out = {
        "version": str(cal.get("VERSION")),
        "prodid": str(cal.get("PRODID")),
        "method": None if cal.get("METHOD") is None else str(cal.get("METHOD")),
        # Every line ends in CRLF and none is longer than 75 octets (RFC 5545 3.1).
        "crlf": raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b""),
        "longest_line": max(len(line) for line in raw.split(b"\r\n")),
        "events": [
            {
                "uid": str(ev.get("UID")),
                "sequence": int(ev.get("SEQUENCE")),
                "status": str(ev.get("STATUS")),
                "summary": str(ev.get("SUMMARY")),
                "dtstart": ev.decoded("DTSTART").isoformat(),
                "dtend": ev.decoded("DTEND").isoformat(),
                "dtstamp": ev.decoded("DTSTAMP").isoformat(),
                "description": None if ev.get("DESCRIPTION") is None else str(ev.get("DESCRIPTION")),
            }
            for ev in cal.walk()
            if ev.name == "VEVENT"
        ],
    }
except Exception as e:  # the test fails on a feed that does not parse
    out = {"error": repr(e)}
print(json.dumps(out))
