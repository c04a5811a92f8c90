//! FHIR search parameter values (R4 §3.1.1.4, "Search"): prefixed dates, references, token
//! lists and paging. Each parser names what it refused; the API answers 400 with it.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use healthcare_domain::raw::{
    parse_date_filter, saturating_int, DateFilter, DateFilterError, YEARS,
};

/// The page size when `_count` is not given.
pub const DEFAULT_COUNT: i64 = 50;

/// The largest page (`_count` above it is read as it).
pub const MAX_COUNT: i64 = 1000;

/// A time range from prefixed `date` values, all of which must hold: `[from, until)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub until: Option<DateTime<Utc>>,
}

impl Range {
    /// Narrows the range by one prefixed value (`ge2026-12-01`, `lt2026-12-08T10:00:00Z`,
    /// `2026-12`): the value stands for the whole span of its precision (a day, a month, a
    /// second); `eq` (or no prefix) keeps the span, `ge` / `gt` / `le` / `lt` its edges.
    pub fn narrow(&mut self, value: &str) -> Result<(), String> {
        let value = value.trim();
        let (prefix, rest) = match value.get(..2) {
            Some(p @ ("eq" | "ge" | "gt" | "le" | "lt")) => (p, &value[2..]),
            Some("ne" | "sa" | "eb" | "ap") => {
                return Err(format!(
                    "The prefix of \"{value}\" is not supported: use eq, ge, gt, le or lt."
                ))
            }
            _ => ("eq", value),
        };
        let (low, high) = span(rest)?;
        let (from, until) = match prefix {
            "ge" => (Some(low), None),
            "gt" => (Some(high), None),
            "le" => (None, Some(high)),
            "lt" => (None, Some(low)),
            _ => (Some(low), Some(high)),
        };
        if let Some(f) = from {
            self.from = Some(self.from.map_or(f, |old| old.max(f)));
        }
        if let Some(u) = until {
            self.until = Some(self.until.map_or(u, |old| old.min(u)));
        }
        Ok(())
    }
}

fn midnight(d: NaiveDate) -> Option<DateTime<Utc>> {
    d.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

/// The span `[low, high)` a date or date-time value stands for.
fn span(value: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let wrong = || {
        format!("\"{value}\" is not a FHIR date: use YYYY, YYYY-MM, YYYY-MM-DD or a date-time with a time zone (2026-12-08T09:30:00Z).")
    };
    let out_of_range = || {
        format!(
            "Dates must be between {} and {}.",
            YEARS.start(),
            YEARS.end()
        )
    };
    let year_of = |s: &str| -> Result<i32, String> {
        let y = s.parse::<i32>().map_err(|_| wrong())?;
        if YEARS.contains(&y) {
            Ok(y)
        } else {
            Err(out_of_range())
        }
    };
    let bytes = value.as_bytes();
    if bytes.len() == 4 && bytes.iter().all(u8::is_ascii_digit) {
        let y = year_of(value)?;
        let low = NaiveDate::from_ymd_opt(y, 1, 1).and_then(midnight);
        let high = NaiveDate::from_ymd_opt(y + 1, 1, 1).and_then(midnight);
        return low.zip(high).ok_or_else(wrong);
    }
    if bytes.len() == 7 && bytes[4] == b'-' {
        let y = year_of(&value[..4])?;
        let m = value[5..].parse::<u32>().map_err(|_| wrong())?;
        let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(wrong)?;
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        return midnight(first)
            .zip(next.and_then(midnight))
            .ok_or_else(wrong);
    }
    match parse_date_filter(value) {
        Ok(DateFilter::Date(d)) => midnight(d)
            .zip(d.succ_opt().and_then(midnight))
            .ok_or_else(wrong),
        Ok(DateFilter::Instant(t)) => {
            // The value's own precision: a minute, a second, or a fraction of one.
            let time = value.split_once(['T', 't']).map_or("", |(_, t)| t);
            let digits = time.split(['Z', 'z', '+', '-']).next().unwrap_or_default();
            let width = match digits.len() {
                5 => Duration::minutes(1),
                8 => Duration::seconds(1),
                _ => Duration::milliseconds(1),
            };
            Ok((t, t + width))
        }
        Err(DateFilterError::OutOfRange) => Err(out_of_range()),
        Err(_) => Err(wrong()),
    }
}

/// A date search on a `date` element (`Patient.birthDate`): the days `[from, until)`.
pub fn days(range: Range) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let day = |t: DateTime<Utc>, up: bool| {
        let d = t.date_naive();
        // A bound inside a day counts the whole day on the side it opens.
        if up && t.time() != chrono::NaiveTime::MIN {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        }
    };
    (
        range.from.map(|t| day(t, true)),
        range.until.map(|t| day(t, true)),
    )
}

/// The id of a reference parameter to a `kind` resource: `12`, `Kind/12`, or an absolute URL
/// ending in `Kind/12`.
pub fn reference(value: &str, kind: &str) -> Result<i64, String> {
    let value = value.trim();
    let id = match value.rsplit_once('/') {
        None => value,
        Some((head, id)) if head == kind || head.ends_with(&format!("/{kind}")) => id,
        Some(_) => {
            return Err(format!(
                "\"{value}\" is not a reference to a {kind}: use {kind}/<id>."
            ))
        }
    };
    healthcare_domain::ids::parse_record_id(id)
        .ok_or_else(|| format!("\"{value}\" does not name a {kind} of this server."))
}

/// `_count`: a page size (0 answers only the total); above [`MAX_COUNT`] reads as it.
pub fn count(value: Option<&str>) -> Result<i64, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(DEFAULT_COUNT),
        Some(v) => saturating_int(v)
            .filter(|n| *n >= 0)
            .map(|n| n.min(MAX_COUNT))
            .ok_or_else(|| format!("\"{v}\" is not a page size: use a whole number from 0.")),
    }
}

/// `_offset` (in the `next` and `previous` links): matches skipped.
pub fn offset(value: Option<&str>) -> Result<i64, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => saturating_int(v)
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("\"{v}\" is not an offset: use a whole number from 0.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc())
    }

    fn range(values: &[&str]) -> Result<Range, String> {
        let mut r = Range::default();
        for v in values {
            r.narrow(v)?;
        }
        Ok(r)
    }

    #[test]
    fn prefixes_take_the_edges_of_the_values_span() {
        let r = range(&["ge2026-12-01", "lt2026-12-08"]).unwrap_or_default();
        assert_eq!(r.from, at("2026-12-01T00:00:00Z"));
        assert_eq!(r.until, at("2026-12-08T00:00:00Z"));
        let r = range(&["gt2026-12-01", "le2026-12-08"]).unwrap_or_default();
        assert_eq!(r.from, at("2026-12-02T00:00:00Z"));
        assert_eq!(r.until, at("2026-12-09T00:00:00Z"));
        let r = range(&["2026-12"]).unwrap_or_default();
        assert_eq!(r.from, at("2026-12-01T00:00:00Z"));
        assert_eq!(r.until, at("2027-01-01T00:00:00Z"));
        let r = range(&["eq2026"]).unwrap_or_default();
        assert_eq!(r.until, at("2027-01-01T00:00:00Z"));
        let r = range(&["gt2026-12-08T10:00:00+01:00"]).unwrap_or_default();
        assert_eq!(r.from, at("2026-12-08T09:00:01Z"));
        let r = range(&["le2026-12-08T10:00Z"]).unwrap_or_default();
        assert_eq!(r.until, at("2026-12-08T10:01:00Z"));
        // Repeated values all hold: the narrowest bounds win.
        let r = range(&[
            "ge2026-01-01",
            "ge2026-06-01",
            "lt2027-01-01",
            "lt2026-07-01",
        ])
        .unwrap_or_default();
        assert_eq!(r.from, at("2026-06-01T00:00:00Z"));
        assert_eq!(r.until, at("2026-07-01T00:00:00Z"));
    }

    #[test]
    fn bad_dates_and_prefixes_are_named() {
        for bad in [
            "ne2026-01-01",
            "ap2026",
            "2026-13",
            "2026-02-30",
            "2026-12-08T10:00:00",
            "yesterday",
            "ge",
            "1800",
            "",
        ] {
            assert!(range(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_name_their_kind() {
        assert_eq!(reference("12", "Patient"), Ok(12));
        assert_eq!(reference("Patient/12", "Patient"), Ok(12));
        assert_eq!(reference("http://x/fhir/R4/Patient/12", "Patient"), Ok(12));
        assert!(reference("Practitioner/12", "Patient").is_err());
        assert!(reference("Patient/abc", "Patient").is_err());
        assert!(reference("Patient/0", "Patient").is_err());
    }

    #[test]
    fn counts_are_capped_and_offsets_checked() {
        assert_eq!(count(None), Ok(DEFAULT_COUNT));
        assert_eq!(count(Some("0")), Ok(0));
        assert_eq!(count(Some("5000")), Ok(MAX_COUNT));
        assert!(count(Some("-1")).is_err());
        assert!(count(Some("x")).is_err());
        assert_eq!(offset(Some("20")), Ok(20));
        assert!(offset(Some("-20")).is_err());
    }

    #[test]
    fn birth_dates_search_whole_days() {
        let r = range(&["1990-05-01"]).unwrap_or_default();
        let (from, until) = days(r);
        assert_eq!(from, NaiveDate::from_ymd_opt(1990, 5, 1));
        assert_eq!(until, NaiveDate::from_ymd_opt(1990, 5, 2));
    }
}
