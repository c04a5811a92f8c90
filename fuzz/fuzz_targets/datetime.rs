//! Date-time parsing: arbitrary text through `parse_datetime` and the appointment parser. No
//! panic; an accepted date-time carried an explicit offset, round-trips through RFC 3339, and
//! an accepted appointment's end is representable.
#![no_main]

use chrono::{DateTime, SecondsFormat};
use healthcare_domain::{parse_datetime, NewAppointment, Raw, RawObject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, i64)| {
    let (text, minutes) = input;
    if let Some(t) = parse_datetime(text) {
        let s = text.trim();
        assert!(s.len() <= 40);
        // Never a naive date-time: the text ends with Z or a numeric offset.
        let last = s.chars().last().expect("non-empty");
        assert!(
            last == 'Z' || last == 'z' || last.is_ascii_digit(),
            "accepted {text:?}"
        );
        assert!(
            s.contains(['Z', 'z', '+']) || s[10..].contains('-'),
            "naive {text:?}"
        );
        let again = DateTime::parse_from_rfc3339(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .expect("round trip");
        assert_eq!(again, t);
    }
    let body = RawObject::from_pairs([
        ("doctor", Raw::Int(1)),
        ("patient", Raw::Int(2)),
        ("appointment_datetime", Raw::Str(text.to_owned())),
        ("duration_minutes", Raw::Int(minutes)),
    ]);
    if let Ok(a) = NewAppointment::parse(&body) {
        assert!(a.end() > a.start);
        assert_eq!(
            (a.end() - a.start).num_minutes(),
            i64::from(a.duration_minutes)
        );
    }
});
