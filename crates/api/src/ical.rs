//! iCalendar (RFC 5545) text for appointments: a `VCALENDAR` of `VEVENT`s with CRLF line
//! ends, lines folded at 75 octets (§3.1), TEXT values escaped (§3.3.11), times in UTC. Mails
//! attach one event with a `METHOD` (RFC 5546: `REQUEST` for a booking or a change, `CANCEL`
//! for a cancellation).

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// The product identifier every calendar names.
pub const PRODID: &str = "-//healthcare-scheduling//appointments//EN";

/// An iTIP method (RFC 5546).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A booking or a change: the attendee's calendar adds or updates the event.
    Request,
    /// A cancellation: the attendee's calendar marks the event cancelled.
    Cancel,
}

/// A `VEVENT`'s `STATUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Booked.
    Confirmed,
    /// Held, not yet confirmed.
    Tentative,
    /// Cancelled.
    Cancelled,
}

/// One appointment as a `VEVENT`.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Stable across every version of the appointment ([`uid`]).
    pub uid: String,
    /// Bumped by every change.
    pub sequence: i64,
    /// When this text was made.
    pub stamp: DateTime<Utc>,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// The event's status.
    pub status: Status,
    /// The title calendar apps show.
    pub summary: &'a str,
    /// The organizer's address (required with a method).
    pub organizer: Option<&'a str>,
    /// The attendee's address.
    pub attendee: Option<&'a str>,
}

/// The UID of appointment `id` under `domain`: the same in every mail and feed.
pub fn uid(id: i64, domain: &str) -> String {
    format!("appointment-{id}@{domain}")
}

/// The domain of event UIDs: the mail sender's (`HEALTHCARE_MAIL_FROM`, so mails and feeds
/// name an appointment alike), else the public URL's host, else `healthcare.invalid`.
pub fn uid_domain(mail_from: Option<&str>, public_url: Option<&str>) -> String {
    let from_mail = mail_from
        .and_then(|f| f.parse::<lettre::message::Mailbox>().ok())
        .map(|m| m.email.domain().to_owned());
    let from_url = public_url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_owned));
    from_mail
        .or(from_url)
        .unwrap_or_else(|| "healthcare.invalid".to_owned())
}

/// A whole calendar: `method` (for a mail) and the events.
pub fn calendar(method: Option<Method>, events: &[Event<'_>]) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, &format!("PRODID:{PRODID}"));
    line(&mut out, "CALSCALE:GREGORIAN");
    if let Some(method) = method {
        line(
            &mut out,
            match method {
                Method::Request => "METHOD:REQUEST",
                Method::Cancel => "METHOD:CANCEL",
            },
        );
    }
    for event in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", text(&event.uid)));
        line(&mut out, &format!("SEQUENCE:{}", event.sequence.max(0)));
        line(&mut out, &format!("DTSTAMP:{}", utc(event.stamp)));
        line(&mut out, &format!("DTSTART:{}", utc(event.start)));
        line(&mut out, &format!("DTEND:{}", utc(event.end)));
        line(
            &mut out,
            match event.status {
                Status::Confirmed => "STATUS:CONFIRMED",
                Status::Tentative => "STATUS:TENTATIVE",
                Status::Cancelled => "STATUS:CANCELLED",
            },
        );
        line(&mut out, &format!("SUMMARY:{}", text(event.summary)));
        if let Some(organizer) = event.organizer {
            line(&mut out, &format!("ORGANIZER:mailto:{organizer}"));
        }
        if let Some(attendee) = event.attendee {
            line(
                &mut out,
                &format!("ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:{attendee}"),
            );
        }
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// A UTC date-time value (`20251220T103000Z`).
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value: backslash, semicolon and comma escaped, line breaks as `\n`, other control
/// characters dropped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so that no line is longer than 75 octets (a fold never
/// splits a UTF-8 character), ended by CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    let _ = write!(out, "\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(summary: &str) -> Event<'_> {
        let start = Utc.with_ymd_and_hms(2025, 12, 20, 10, 30, 0).unwrap();
        Event {
            uid: uid(42, "clinic.example"),
            sequence: 3,
            stamp: start,
            start,
            end: start + chrono::Duration::minutes(30),
            status: Status::Confirmed,
            summary,
            organizer: Some("desk@clinic.example"),
            attendee: Some("ann@example.org"),
        }
    }

    #[test]
    fn a_request_names_its_method_and_event_in_utc() {
        let text = calendar(Some(Method::Request), &[event("Appointment")]);
        assert!(
            text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{text}"
        );
        for expected in [
            "METHOD:REQUEST\r\n",
            "UID:appointment-42@clinic.example\r\n",
            "SEQUENCE:3\r\n",
            "DTSTART:20251220T103000Z\r\n",
            "DTEND:20251220T110000Z\r\n",
            "STATUS:CONFIRMED\r\n",
            "ORGANIZER:mailto:desk@clinic.example\r\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from {text}");
        }
        assert!(text.ends_with("END:VCALENDAR\r\n"));
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let summary =
            "Appointment with Dr. Müller-Lüdenscheidt, Ärztin für Allgemeinmedizin; Zimmer 4";
        let text = calendar(None, &[event(summary)]);
        for l in text.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        let unfolded = text.replace("\r\n ", "");
        assert!(
            unfolded.contains("SUMMARY:Appointment with Dr. Müller-Lüdenscheidt\\, Ärztin für Allgemeinmedizin\\; Zimmer 4\r\n"),
            "{unfolded}"
        );
    }
}
