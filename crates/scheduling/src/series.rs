//! Recurring appointments: the starts of a series, from an RFC 5545 `RRULE` expanded in the
//! series' time zone (the `rrule` crate does the expansion).
//!
//! The rule is expanded on the **wall clock**: the first start's local date and time in the
//! zone, taken as a floating time, so every occurrence keeps that local time across daylight
//! saving changes; each local occurrence is then placed in the zone ([`place`]): an ambiguous
//! time (clocks fell back) is its first instant, a time that does not exist (clocks sprang
//! forward) is read with the offset before the gap, so it moves forward by the gap's length
//! (RFC 5545 §3.3.5: 02:30 on the day New York springs forward is 03:30 EDT).
//!
//! Supported: `FREQ` DAILY, WEEKLY or MONTHLY with `INTERVAL`, `COUNT`, `UNTIL`, `BYDAY` and
//! `BYMONTHDAY`. A rule that makes more than [`MAX_OCCURRENCES`] occurrences is refused, never
//! cut short.

use chrono::{DateTime, Duration, MappedLocalTime, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Most occurrences one series may have.
pub const MAX_OCCURRENCES: usize = 104;
/// Longest rule text accepted, characters.
pub const MAX_RULE_LEN: usize = 500;
/// The rule parts a series may use.
pub const RULE_PARTS: [&str; 6] = ["FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY"];
/// The frequencies a series may use.
pub const FREQUENCIES: [&str; 3] = ["DAILY", "WEEKLY", "MONTHLY"];

/// Why a rule cannot make a series (the API answers 400 on `rrule`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    /// Not an RRULE the `rrule` crate reads, or one it finds invalid.
    #[error("Not a valid RFC 5545 RRULE: {0}")]
    Syntax(String),
    /// A frequency other than DAILY, WEEKLY or MONTHLY.
    #[error("FREQ must be DAILY, WEEKLY or MONTHLY.")]
    Frequency,
    /// A rule part outside [`RULE_PARTS`].
    #[error("{0} is not supported: use FREQ, INTERVAL, COUNT, UNTIL, BYDAY and BYMONTHDAY.")]
    Part(String),
    /// More than [`MAX_OCCURRENCES`] occurrences.
    #[error("The rule makes more than 104 occurrences: end it sooner with COUNT or UNTIL.")]
    TooMany,
    /// No occurrence at all.
    #[error("The rule makes no occurrence.")]
    Empty,
}

/// The starts of the series whose first start is `first`, by `rule`, in `tz` (see the module
/// documentation), earliest first. `rule` may carry the `RRULE:` prefix.
pub fn expand(rule: &str, first: DateTime<Utc>, tz: Tz) -> Result<Vec<DateTime<Utc>>, SeriesError> {
    let rule = rule.trim();
    let rule = rule.strip_prefix("RRULE:").unwrap_or(rule);
    if rule.len() > MAX_RULE_LEN {
        return Err(SeriesError::Syntax(format!(
            "longer than {MAX_RULE_LEN} characters"
        )));
    }
    let mut frequency = None;
    let mut utc_until = false;
    let (mut by_day, mut by_month_day) = (None, None);
    for part in rule.split(';') {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| SeriesError::Syntax(format!("{part:?} is not NAME=VALUE")))?;
        let key = key.trim().to_ascii_uppercase();
        if !RULE_PARTS.contains(&key.as_str()) {
            return Err(SeriesError::Part(key));
        }
        match key.as_str() {
            "FREQ" => frequency = Some(value.trim().to_ascii_uppercase()),
            "UNTIL" => utc_until = value.trim().ends_with(['Z', 'z']),
            "BYDAY" => by_day = Some(value),
            "BYMONTHDAY" => by_month_day = Some(value),
            _ => {}
        }
    }
    let frequency = match frequency {
        Some(f) if FREQUENCIES.contains(&f.as_str()) => f,
        Some(_) => return Err(SeriesError::Frequency),
        None => return Err(SeriesError::Syntax("FREQ is required".into())),
    };
    check_by_parts(&frequency, by_day, by_month_day)?;
    let parsed: rrule::RRule<rrule::Unvalidated> = rule
        .parse()
        .map_err(|e: rrule::RRuleError| SeriesError::Syntax(e.to_string()))?;
    let floating = |local: NaiveDateTime| rrule::Tz::UTC.from_utc_datetime(&local);
    let start = first.with_timezone(&tz).naive_local();
    // An UNTIL in UTC (as RFC 5545 asks of a zoned DTSTART) is compared on the same wall
    // clock as the occurrences; a floating one is that wall clock already.
    let parsed = match parsed.get_until().copied() {
        Some(until) if utc_until => {
            let local = until.with_timezone(&Utc).with_timezone(&tz).naive_local();
            parsed.until(floating(local))
        }
        Some(until) => parsed.until(floating(until.naive_local())),
        None => parsed,
    };
    if parsed
        .get_until()
        .is_some_and(|until| until.naive_utc() < start)
    {
        return Err(SeriesError::Syntax(
            "UNTIL is before the first appointment".into(),
        ));
    }
    let set = parsed
        .build(floating(start))
        .map_err(|e| SeriesError::Syntax(e.to_string()))?;
    let limit = u16::try_from(MAX_OCCURRENCES + 1).unwrap_or(u16::MAX);
    let dates = set.all(limit).dates;
    if dates.len() > MAX_OCCURRENCES {
        return Err(SeriesError::TooMany);
    }
    if dates.is_empty() {
        return Err(SeriesError::Empty);
    }
    Ok(dates
        .iter()
        .filter_map(|d| place(tz, d.naive_utc()))
        .collect())
}

/// The RFC 5545 §3.3.10 rules for `BYDAY` and `BYMONTHDAY` that the `rrule` crate does not
/// enforce (it would expand such a rule to other dates than asked): a numbered `BYDAY` (`1MO`,
/// `-1FR`) only with `MONTHLY`; no `BYMONTHDAY` with `WEEKLY`; month days 1 to 31 or -31 to -1.
fn check_by_parts(
    frequency: &str,
    by_day: Option<&str>,
    by_month_day: Option<&str>,
) -> Result<(), SeriesError> {
    let numbered = |day: &str| {
        day.trim()
            .starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
    };
    if frequency != "MONTHLY" && by_day.is_some_and(|days| days.split(',').any(numbered)) {
        return Err(SeriesError::Syntax(
            "a numbered BYDAY (1MO, -1FR) is allowed only with FREQ=MONTHLY".into(),
        ));
    }
    let Some(days) = by_month_day else {
        return Ok(());
    };
    if frequency == "WEEKLY" {
        return Err(SeriesError::Syntax(
            "BYMONTHDAY is not allowed with FREQ=WEEKLY".into(),
        ));
    }
    for day in days.split(',') {
        match day.trim().parse::<i32>() {
            Ok(d) if (1..=31).contains(&d.unsigned_abs()) => {}
            _ => {
                return Err(SeriesError::Syntax(format!(
                    "BYMONTHDAY {:?} is not a day of the month (1 to 31, or -31 to -1)",
                    day.trim()
                )))
            }
        }
    }
    Ok(())
}

/// The instant of a local date-time in `tz` as RFC 5545 §3.3.5 reads it: an ambiguous time is
/// its first instant; a time in a gap is read with the UTC offset before the gap (it moves
/// forward by the gap's length). `None` only at the edges of the representable range.
pub fn place(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => Some(t.with_timezone(&Utc)),
        MappedLocalTime::Ambiguous(earliest, _) => Some(earliest.with_timezone(&Utc)),
        MappedLocalTime::None => {
            // Gaps last at most a few hours: the offset a day earlier is the one before it.
            let before = local.checked_sub_signed(Duration::days(1))?;
            let offset = tz.offset_from_local_datetime(&before).earliest()?.fix();
            let utc =
                local.checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())))?;
            Some(utc.and_utc())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Timelike};

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn weekly_keeps_the_wall_clock_across_dst() {
        // 09:00 in Berlin each Monday from 2030-03-18 (CET, UTC+1) over the 2030-03-31 change.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let starts = expand("FREQ=WEEKLY;COUNT=4", utc(2030, 3, 18, 8, 0), tz).unwrap();
        let local: Vec<_> = starts
            .iter()
            .map(|s| s.with_timezone(&tz).time().hour())
            .collect();
        assert_eq!(local, [9, 9, 9, 9]);
        assert_eq!(starts[1], utc(2030, 3, 25, 8, 0));
        assert_eq!(starts[2], utc(2030, 4, 1, 7, 0), "after the change: UTC+2");
    }

    #[test]
    fn a_time_in_the_gap_moves_forward_by_the_gap() {
        // 02:30 in New York, daily over the 2030-03-10 spring-forward (02:00 -> 03:00).
        let tz: Tz = "America/New_York".parse().unwrap();
        let starts = expand("FREQ=DAILY;COUNT=3", utc(2030, 3, 9, 7, 30), tz).unwrap();
        let local: Vec<_> = starts
            .iter()
            .map(|s| s.with_timezone(&tz).naive_local().time())
            .map(|t| (t.hour(), t.minute()))
            .collect();
        assert_eq!(local, [(2, 30), (3, 30), (2, 30)]);
        assert_eq!(starts[1], utc(2030, 3, 10, 7, 30));
    }

    #[test]
    fn an_ambiguous_time_is_its_first_instant() {
        // 01:30 in New York on 2030-11-03 happens twice; the first is EDT (UTC-4).
        let tz: Tz = "America/New_York".parse().unwrap();
        let local = NaiveDate::from_ymd_opt(2030, 11, 3)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        assert_eq!(place(tz, local), Some(utc(2030, 11, 3, 5, 30)));
    }

    #[test]
    fn bounds_and_parts() {
        let tz = chrono_tz::UTC;
        let first = utc(2030, 1, 7, 9, 0);
        assert_eq!(
            expand("FREQ=DAILY;COUNT=104", first, tz).unwrap().len(),
            104
        );
        assert_eq!(
            expand("FREQ=DAILY;COUNT=105", first, tz),
            Err(SeriesError::TooMany)
        );
        assert_eq!(expand("FREQ=DAILY", first, tz), Err(SeriesError::TooMany));
        assert_eq!(
            expand("FREQ=YEARLY;COUNT=2", first, tz),
            Err(SeriesError::Frequency)
        );
        assert_eq!(
            expand("FREQ=DAILY;COUNT=2;BYHOUR=9", first, tz),
            Err(SeriesError::Part("BYHOUR".into()))
        );
        assert!(matches!(
            expand("FREQ=DAILY;COUNT=x", first, tz),
            Err(SeriesError::Syntax(_))
        ));
        assert!(matches!(
            expand("nonsense", first, tz),
            Err(SeriesError::Syntax(_))
        ));
        // Mondays and Thursdays, every other week, until a UTC instant.
        let starts = expand(
            "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20300131T235959Z",
            first,
            tz,
        )
        .unwrap();
        let days: Vec<u32> = starts.iter().map(|s| s.date_naive().day0() + 1).collect();
        assert_eq!(days, [7, 10, 21, 24]);
        // The 15th of each month.
        let monthly = expand(
            "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=3",
            utc(2030, 1, 15, 9, 0),
            tz,
        );
        assert_eq!(monthly.unwrap()[2], utc(2030, 3, 15, 9, 0));
    }

    #[test]
    fn parts_the_rfc_forbids_are_refused() {
        let tz = chrono_tz::UTC;
        // A Tuesday.
        let first = utc(2031, 2, 4, 10, 0);
        for rule in [
            "FREQ=WEEKLY;BYDAY=1MO;COUNT=3",
            "FREQ=WEEKLY;BYDAY=MO,-1FR;COUNT=3",
            "FREQ=DAILY;BYDAY=+2TU;COUNT=3",
            "FREQ=WEEKLY;BYMONTHDAY=4;COUNT=3",
            "FREQ=MONTHLY;BYMONTHDAY=0;COUNT=3",
            "FREQ=MONTHLY;BYMONTHDAY=-32;COUNT=3",
            "FREQ=MONTHLY;BYMONTHDAY=-2147483648;COUNT=3",
            "FREQ=MONTHLY;BYMONTHDAY=4,x;COUNT=3",
            "FREQ=DAILY;UNTIL=20310101T000000Z",
        ] {
            let refused = expand(rule, first, tz);
            assert!(
                matches!(refused, Err(SeriesError::Syntax(_))),
                "{rule}: {refused:?}"
            );
        }
        // The allowed forms of the same parts.
        let monthly = expand("FREQ=MONTHLY;BYDAY=1MO;COUNT=2", first, tz).unwrap();
        assert_eq!(monthly, [utc(2031, 3, 3, 10, 0), utc(2031, 4, 7, 10, 0)]);
        let last_days = expand("FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=2", first, tz).unwrap();
        assert_eq!(
            last_days,
            [utc(2031, 2, 28, 10, 0), utc(2031, 3, 31, 10, 0)]
        );
        let weekly = expand("FREQ=WEEKLY;BYDAY=TU,FR;COUNT=3", first, tz).unwrap();
        assert_eq!(weekly[2], utc(2031, 2, 11, 10, 0));
    }

    use chrono::Datelike;
}
