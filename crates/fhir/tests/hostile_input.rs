//! Whatever a client sends, the FHIR parsers answer with a value or a refusal, never a panic:
//! search parameter values of any text, and posted resources of any JSON shape.
#![allow(clippy::unwrap_used, missing_docs)]

use healthcare_domain::RawObject;
use healthcare_fhir::booking::{self, Refusal};
use healthcare_fhir::search::{self, Range};
use proptest::prelude::*;

/// JSON values of any shape, with the strings and numbers a booking reads.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        prop_oneof![
            Just("Appointment".to_owned()),
            Just("booked".to_owned()),
            Just("pending".to_owned()),
            Just("Patient/1".to_owned()),
            Just("Practitioner/1".to_owned()),
            Just("2130-01-01T10:00:00Z".to_owned()),
            Just("2130-01-01T10:30:00+14:00".to_owned()),
            ".{0,24}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("resourceType".to_owned()),
            Just("status".to_owned()),
            Just("start".to_owned()),
            Just("end".to_owned()),
            Just("minutesDuration".to_owned()),
            Just("participant".to_owned()),
            Just("actor".to_owned()),
            Just("reference".to_owned()),
            Just("reasonCode".to_owned()),
            Just("text".to_owned()),
            Just("description".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn search_values_never_panic(value in ".{0,40}", prefix in "(eq|ge|gt|le|lt|ne|)") {
        let mut range = Range::default();
        let _ = range.narrow(&format!("{prefix}{value}"));
        let _ = search::days(range);
        let _ = search::reference(&value, "Patient");
        let _ = search::count(Some(&value));
        let _ = search::offset(Some(&value));
    }

    #[test]
    fn dates_of_any_digits_never_panic(y in 0u32..10_000, m in 0u32..14, d in 0u32..33, h in 0u32..26, s in 0u32..62) {
        // A value without a prefix that is read stands for a span that is not empty.
        for v in [
            format!("{y:04}"),
            format!("{y:04}-{m:02}"),
            format!("{y:04}-{m:02}-{d:02}"),
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{s:02}Z"),
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{s:02}:{s:02}.5-14:00"),
        ] {
            let mut range = Range::default();
            if range.narrow(&v).is_ok() {
                let (from, until) = (range.from.unwrap(), range.until.unwrap());
                prop_assert!(from < until, "{v}: {from} .. {until}");
            }
            let mut after = Range::default();
            if after.narrow(&format!("gt{v}")).is_ok() {
                prop_assert!(after.from.is_some() && after.until.is_none());
            }
        }
    }

    #[test]
    fn posted_resources_never_panic(body in json()) {
        if let Ok(raw) = serde_json::from_value::<RawObject>(body) {
            match booking::parse(&raw) {
                Ok(a) => prop_assert!(a.duration_minutes >= 5 && a.duration_minutes <= 480),
                Err(Refusal::Malformed(e) | Refusal::Rule(e)) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
