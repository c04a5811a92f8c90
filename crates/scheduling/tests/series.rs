//! Property test: series expansion (the `rrule` crate, on the wall clock) against an oracle
//! built from chrono-tz alone, over weeks around the DST changes of several zones.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, MappedLocalTime, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use healthcare_scheduling::series::expand;
use proptest::prelude::*;

/// Zones with a spring-forward and a fall-back in 2031 (and one without DST).
const ZONES: [&str; 5] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kolkata",
];

/// Days around the 2031 changes: late March, early April, early October, early November.
const AROUND: [(u32, u32); 4] = [(3, 20), (3, 30), (10, 1), (10, 28)];

/// The oracle's instant of `date` at wall-clock `time` in `tz`: chrono-tz's single or first
/// instant; in a gap, the offset before it (the UTC offset at noon the day before) read onto
/// the local time, as RFC 5545 §3.3.5 says.
fn oracle_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        MappedLocalTime::Single(t) | MappedLocalTime::Ambiguous(t, _) => t.with_timezone(&Utc),
        MappedLocalTime::None => {
            let noon_before = (date - Duration::days(1)).and_hms_opt(12, 0, 0).unwrap();
            let before = tz
                .from_local_datetime(&noon_before)
                .earliest()
                .unwrap()
                .offset()
                .fix();
            (local - Duration::seconds(i64::from(before.local_minus_utc()))).and_utc()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn daily_and_weekly_match_the_oracle(
        zone in 0..ZONES.len(),
        around in 0..AROUND.len(),
        offset_days in 0u32..12,
        hour in 0u32..24,
        minute in prop::sample::select(vec![0u32, 15, 30, 45]),
        weekly in any::<bool>(),
        interval in 1u32..4,
        count in 1u32..30,
    ) {
        let tz: Tz = ZONES[zone].parse().unwrap();
        let (month, day) = AROUND[around];
        let date = NaiveDate::from_ymd_opt(2031, month, day).unwrap() + Duration::days(i64::from(offset_days));
        let time = NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
        let first = oracle_instant(tz, date, time);
        let freq = if weekly { "WEEKLY" } else { "DAILY" };
        let rule = format!("FREQ={freq};INTERVAL={interval};COUNT={count}");
        let got = expand(&rule, first, tz).unwrap();
        // The first start itself may sit in a gap: the series' wall clock is where it landed.
        let start_local = first.with_timezone(&tz).naive_local();
        let step = if weekly { 7 } else { 1 } * i64::from(interval);
        let expected: Vec<DateTime<Utc>> = (0..i64::from(count))
            .map(|i| oracle_instant(tz, start_local.date() + Duration::days(i * step), start_local.time()))
            .collect();
        prop_assert_eq!(got, expected, "{} {} from {}", ZONES[zone], rule, first);
    }
}
