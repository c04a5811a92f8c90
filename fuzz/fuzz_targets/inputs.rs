//! Request bodies: arbitrary bytes through the lenient JSON object reader and every input
//! parser of the domain. No input may panic; accepted inputs respect the documented bounds;
//! refused ones carry at least one field error that serialises to a JSON object.
#![no_main]

use chrono::NaiveDate;
use healthcare_domain::{
    AppointmentChanges, Credentials, DoctorChanges, FieldErrors, MappingChanges, NewAppointment,
    NewDoctor, NewMapping, NewPatient, NewUser, PatientChanges, RawObject, RefreshRequest,
    UserChanges,
};
use libfuzzer_sys::fuzz_target;

fn refused(e: &FieldErrors) {
    assert!(!e.is_empty(), "refused without a reason");
    let v = serde_json::to_value(e).expect("field errors serialise");
    assert!(v.is_object(), "{v}");
}

fn clean(s: &str, max: usize) {
    assert!(s.chars().count() <= max, "too long: {s:?}");
    assert!(!s.contains('\0'), "NUL kept: {s:?}");
    assert_eq!(s, s.trim(), "not trimmed: {s:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<RawObject>(data) else {
        return;
    };
    let today = NaiveDate::from_ymd_opt(2025, 6, 1).expect("date");
    match NewPatient::parse(&body, today) {
        Ok(p) => {
            clean(&p.first_name, 100);
            clean(&p.last_name, 100);
            assert!(!p.first_name.is_empty() && !p.last_name.is_empty());
            assert!(p.date_of_birth <= today);
            assert!(p.date_of_birth >= NaiveDate::from_ymd_opt(1900, 1, 1).expect("date"));
            clean(&p.contact_number, 15);
        }
        Err(e) => refused(&e),
    }
    if let Err(e) = PatientChanges::parse(&body, today) {
        refused(&e);
    }
    match NewDoctor::parse(&body) {
        Ok(d) => {
            clean(&d.license_number, 50);
            assert!((0..=80).contains(&d.experience_years));
        }
        Err(e) => refused(&e),
    }
    if let Err(e) = DoctorChanges::parse(&body) {
        refused(&e);
    }
    if let Err(e) = NewMapping::parse(&body) {
        refused(&e);
    }
    if let Err(e) = MappingChanges::parse(&body) {
        refused(&e);
    }
    match NewAppointment::parse(&body) {
        Ok(a) => {
            assert!((5..=480).contains(&a.duration_minutes));
            assert!(a.end() > a.start);
        }
        Err(e) => refused(&e),
    }
    match AppointmentChanges::parse(&body) {
        Ok(c) => {
            if let Some(d) = c.duration_minutes {
                assert!((5..=480).contains(&d));
            }
        }
        Err(e) => refused(&e),
    }
    if let Err(e) = NewUser::parse(&body) {
        refused(&e);
    }
    if let Err(e) = UserChanges::parse(&body) {
        refused(&e);
    }
    if let Err(e) = Credentials::parse(&body) {
        refused(&e);
    }
    if let Err(e) = RefreshRequest::parse(&body) {
        refused(&e);
    }
});
