//! The JSON form of a UTC timestamp, written without `core::fmt`: the same text as chrono's
//! serde form (RFC 3339, `Z`, fractional seconds only when present, in groups of 3, 6 or 9
//! digits), e.g. `2026-03-01T09:00:00Z`. Every served record carries four of them, so this is on
//! the hot path of every response.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// Serializes `t` exactly as chrono's `Serialize` would.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write(t, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => serde::Serialize::serialize(t, serializer),
    }
}

/// Serializes an optional timestamp as [`serialize`] does, `null` when absent.
pub fn serialize_option<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, serializer),
        None => serializer.serialize_none(),
    }
}

/// Writes `t` into `buf`; `None` for years outside 0000-9999 or a leap second (left to chrono).
fn write<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    *buf = *b"0000-00-00T00:00:00.000000000Z";
    digits(&mut buf[0..4], year);
    digits(&mut buf[5..7], t.month());
    digits(&mut buf[8..10], t.day());
    digits(&mut buf[11..13], t.hour());
    digits(&mut buf[14..16], t.minute());
    digits(&mut buf[17..19], t.second());
    // Fraction digits in groups of 3, as many as needed (chrono's `SecondsFormat::AutoSi`).
    let end = match (nanos, nanos % 1_000_000, nanos % 1_000) {
        (0, _, _) => 19,
        (_, 0, _) => {
            digits(&mut buf[20..23], nanos / 1_000_000);
            23
        }
        (_, _, 0) => {
            digits(&mut buf[20..26], nanos / 1_000);
            26
        }
        _ => {
            digits(&mut buf[20..29], nanos);
            29
        }
    };
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

/// Writes the low decimal digits of `value` into `out`, zero-padded to its length.
fn digits(out: &mut [u8], mut value: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn ours(t: &DateTime<Utc>) -> String {
        let mut out = Vec::new();
        serialize(t, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn examples() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        assert_eq!(ours(&t), "\"2026-03-01T09:00:00Z\"");
        let t = t + chrono::Duration::microseconds(1500);
        assert_eq!(ours(&t), "\"2026-03-01T09:00:00.001500Z\"");
        let optional = |t: Option<DateTime<Utc>>| {
            let mut out = Vec::new();
            serialize_option(&t, &mut serde_json::Serializer::new(&mut out)).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(optional(Some(t)), ours(&t));
        assert_eq!(optional(None), "null");
    }

    proptest! {
        #[test]
        fn same_text_as_chrono(secs in -70_000_000_000i64..300_000_000_000, nanos in prop_oneof![
            Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000),
            (0u32..1_000_000).prop_map(|u| u * 1_000), 0u32..1_000_000_000,
        ]) {
            let t = DateTime::<Utc>::from_timestamp(secs, nanos).unwrap();
            prop_assert_eq!(ours(&t), serde_json::to_string(&t).unwrap());
        }
    }
}
