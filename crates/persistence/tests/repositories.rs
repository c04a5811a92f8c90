//! Every repository function and every database invariant, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use healthcare_domain::*;
use healthcare_persistence::appointments::{self, AppointmentFilter, AppointmentOrder};
use healthcare_persistence::doctors::{self, DoctorFilter};
use healthcare_persistence::mappings::{self, MappingFilter};
use healthcare_persistence::patients::{self, PatientFilter};
use healthcare_persistence::testing::{
    sample_doctor as new_doctor, sample_patient as new_patient, TestDb,
};
use healthcare_persistence::{both_backends, throttle, tokens, users, Page, StoreError};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, h, m, 0).unwrap()
}

#[derive(Clone, Copy)]
struct Fixture {
    admin: UserId,
    d1: DoctorId,
    d2: DoctorId,
    p1: PatientId,
    p2: PatientId,
}

fn fixture(t: &TestDb) -> Fixture {
    t.db.write(move |c| {
        let admin = users::create(c, "admin", "", "hash", Role::Admin)?.id;
        let d1 = doctors::create(c, &new_doctor("L-1"))?.id;
        let d2 = doctors::create(c, &new_doctor("L-2"))?.id;
        let p1 = patients::create(c, &new_patient("Ann", None))?.id;
        let p2 = patients::create(c, &new_patient("Bob", None))?.id;
        Ok(Fixture {
            admin,
            d1,
            d2,
            p1,
            p2,
        })
    })
    .unwrap()
}

fn book(
    t: &TestDb,
    f: &Fixture,
    doctor: DoctorId,
    patient: PatientId,
    start: DateTime<Utc>,
    minutes: i32,
) -> Result<Appointment, StoreError> {
    let input = NewAppointment {
        doctor,
        patient,
        start,
        duration_minutes: minutes,
        reason: "check-up".into(),
        status: healthcare_domain::AppointmentStatus::Scheduled,
    };
    let admin = f.admin;
    t.db.write({
        let input = input.clone();
        move |c| appointments::create(c, &input, Scope::All, admin)
    })
}

fn set_status(
    t: &TestDb,
    id: AppointmentId,
    status: AppointmentStatus,
) -> Result<Appointment, StoreError> {
    let changes = AppointmentChanges {
        status: Some(status),
        ..Default::default()
    };
    t.db.write({
        let changes = changes.clone();
        move |c| appointments::update(c, id, Scope::All, &changes, Role::Staff)
    })
}

both_backends! {
    outbox_payloads_hold_the_record_as_served => |t: &TestDb| {
        use diesel::prelude::*;
        use healthcare_persistence::schema::outbox_events::dsl as o;
        let f = fixture(t);
        let booked = book(t, &f, f.d1, f.p1, at(9, 0), 30).unwrap();
        let (event_id, kind, payload, appointment): (String, String, String, Option<i64>) = t
            .db
            .read(|c| {
                Ok(healthcare_persistence::on_backend!(c, |c| o::outbox_events
                    .order(o::id.desc())
                    .select((o::event_id, o::kind, o::payload, o::appointment_id))
                    .first(c))?)
            })
            .unwrap();
        assert_eq!(kind, "appointment.created");
        assert_eq!(appointment, Some(booked.id.0));
        // Compact JSON, its keys in this order, the record as the API serves it.
        assert!(payload.starts_with("{\"created_at\":\""), "{payload}");
        let parsed: serde_json::Value = serde_json::from_str(&payload).unwrap();
        let keys: Vec<&str> = parsed.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["created_at", "data", "id", "type"]);
        assert_eq!(parsed["id"], serde_json::json!(event_id));
        assert_eq!(parsed["type"], "appointment.created");
        assert_eq!(parsed["data"], serde_json::json!({"appointment": serde_json::to_value(&booked).unwrap()}));
        let created = chrono::DateTime::parse_from_rfc3339(parsed["created_at"].as_str().unwrap());
        assert!(created.is_ok(), "{payload}");
    };
    patients_crud => |t: &TestDb| {
        let f = fixture(t);
        let owner = t.db.write(move |c| users::create(c, "pat", "", "h", Role::Patient)).unwrap().id;
        let own = t.db.write(move |c| patients::create(c, &new_patient("Cleo", Some(owner)))).unwrap();
        assert_eq!(own.user, Some(owner));
        assert!(own.age >= 35);
        // Scope: the owner sees only their record.
        let mine = t.db.read(|c| patients::list(c, Scope::OwnedBy(owner), &PatientFilter::default(), Page::default())).unwrap();
        assert_eq!(mine.total, 1);
        assert_eq!(mine.items[0].id, own.id);
        assert!(matches!(t.db.read(|c| patients::find(c, f.p1, Scope::OwnedBy(owner))), Err(StoreError::NotFound)));
        // Search with LIKE metacharacters is literal.
        let s = PatientFilter { search: Some("an".into()), ..Default::default() };
        let found = t.db.read(|c| patients::list(c, Scope::All, &s, Page::default())).unwrap();
        assert_eq!(found.items.iter().map(|p| p.first_name.as_str()).collect::<Vec<_>>(), ["Ann"]);
        let s = PatientFilter { search: Some("%".into()), ..Default::default() };
        assert_eq!(t.db.read(|c| patients::list(c, Scope::All, &s, Page::default())).unwrap().total, 0);
        // A name prefix (FHIR's `name`) starts a first or a last name; birth dates are a range.
        let count = |s: PatientFilter| t.db.read(move |c| patients::list(c, Scope::All, &s, Page::default())).unwrap().total;
        assert_eq!(count(PatientFilter { name_prefix: Some("AN".into()), ..Default::default() }), 1);
        assert_eq!(count(PatientFilter { name_prefix: Some("do".into()), ..Default::default() }), 3);
        assert_eq!(count(PatientFilter { name_prefix: Some("oe".into()), ..Default::default() }), 0);
        assert_eq!(count(PatientFilter { search: Some("oe".into()), ..Default::default() }), 3);
        let day = |d| chrono::NaiveDate::from_ymd_opt(1990, 5, d);
        assert_eq!(count(PatientFilter { born_from: day(17), born_until: day(18), ..Default::default() }), 3);
        assert_eq!(count(PatientFilter { born_from: day(18), ..Default::default() }), 0);
        assert_eq!(count(PatientFilter { born_until: day(17), ..Default::default() }), 0);
        // Pagination.
        let page = t.db.read(|c| patients::list(c, Scope::All, &PatientFilter::default(), Page { limit: 2, offset: 1 })).unwrap();
        assert_eq!((page.total, page.items.len()), (3, 2));
        // Update.
        let changes = PatientChanges { last_name: Some("Smith".into()), user: Some(None), ..Default::default() };
        let updated = t.db.write({ let changes = changes.clone(); move |c| patients::update(c, own.id, Scope::All, &changes) }).unwrap();
        assert_eq!((updated.last_name.as_str(), updated.user), ("Smith", None));
        // Missing owner account is a typed missing reference.
        let bad = PatientChanges { user: Some(Some(UserId(999))), ..Default::default() };
        assert!(matches!(t.db.write({ let bad = bad.clone(); move |c| patients::update(c, own.id, Scope::All, &bad) }), Err(StoreError::MissingReference { field: "user", id: 999 })));
        // Archive: gone from lists and finds, still in the table.
        t.db.write(move |c| patients::archive(c, own.id, Scope::All)).unwrap();
        assert!(matches!(t.db.read(|c| patients::find(c, own.id, Scope::All)), Err(StoreError::NotFound)));
        assert_eq!(t.db.read(|c| patients::list(c, Scope::All, &PatientFilter::default(), Page::default())).unwrap().total, 2);
    };

    doctors_crud_and_unique_license => |t: &TestDb| {
        let f = fixture(t);
        let dup = t.db.write(move |c| doctors::create(c, &new_doctor("L-1")));
        assert!(matches!(dup, Err(StoreError::Duplicate { field: "license_number" })), "{dup:?}");
        let changes = DoctorChanges { license_number: Some("L-2".into()), ..Default::default() };
        assert!(matches!(t.db.write({ let changes = changes.clone(); move |c| doctors::update(c, f.d1, &changes) }), Err(StoreError::Duplicate { field: "license_number" })));
        let changes = DoctorChanges { hospital: Some("Mercy".into()), experience_years: Some(11), ..Default::default() };
        let d = t.db.write({ let changes = changes.clone(); move |c| doctors::update(c, f.d1, &changes) }).unwrap();
        assert_eq!((d.hospital.as_str(), d.experience_years), ("Mercy", 11));
        // Linking accounts: must exist, must be a doctor account, one doctor per account.
        let acc = t.db.write(move |c| users::create(c, "drh", "", "h", Role::Doctor)).unwrap().id;
        let link = DoctorChanges { user: Some(Some(acc)), ..Default::default() };
        t.db.write({ let link = link.clone(); move |c| doctors::update(c, f.d1, &link) }).unwrap();
        assert_eq!(t.db.read(|c| doctors::for_user(c, acc)).unwrap(), Some(f.d1));
        assert!(matches!(t.db.write({ let link = link.clone(); move |c| doctors::update(c, f.d2, &link) }), Err(StoreError::Duplicate { field: "user" })));
        let pat = t.db.write(move |c| users::create(c, "p", "", "h", Role::Patient)).unwrap().id;
        let bad = DoctorChanges { user: Some(Some(pat)), ..Default::default() };
        assert!(matches!(t.db.write({ let bad = bad.clone(); move |c| doctors::update(c, f.d2, &bad) }), Err(StoreError::Invalid { field: "user", .. })));
        // Filters.
        let mut other = new_doctor("L-3");
        other.specialization = Specialization::Cardiology;
        other.last_name = "Wilson".into();
        t.db.write({ let other = other.clone(); move |c| doctors::create(c, &other) }).unwrap();
        let by_spec = DoctorFilter { specialization: Some(Specialization::Cardiology), ..Default::default() };
        assert_eq!(t.db.read(|c| doctors::list(c, &by_spec, Page::default())).unwrap().total, 1);
        let by_search = DoctorFilter { search: Some("wIlS".into()), ..Default::default() };
        assert_eq!(t.db.read(|c| doctors::list(c, &by_search, Page::default())).unwrap().total, 1);
        let by_code = DoctorFilter { search: Some("car".into()), ..Default::default() };
        assert_eq!(t.db.read(|c| doctors::list(c, &by_code, Page::default())).unwrap().total, 1);
        let by_prefix = DoctorFilter { name_prefix: Some("WIL".into()), ..Default::default() };
        assert_eq!(t.db.read(|c| doctors::list(c, &by_prefix, Page::default())).unwrap().total, 1);
        let inside = DoctorFilter { name_prefix: Some("ilson".into()), ..Default::default() };
        assert_eq!(t.db.read(|c| doctors::list(c, &inside, Page::default())).unwrap().total, 0);
        // Archive refused with future appointments, allowed after cancelling.
        let a = book(t, &f, f.d2, f.p1, Utc::now() + Duration::days(3), 30).unwrap();
        assert!(matches!(t.db.write(move |c| doctors::archive(c, f.d2)), Err(StoreError::HasFutureAppointments { count: 1 })));
        set_status(t, a.id, AppointmentStatus::Cancelled).unwrap();
        t.db.write(move |c| doctors::archive(c, f.d2)).unwrap();
        assert!(matches!(t.db.read(|c| doctors::find(c, f.d2)), Err(StoreError::NotFound)));
        // Booking with an archived doctor is a missing reference.
        let err = book(t, &f, f.d2, f.p2, at(9, 0), 30);
        assert!(matches!(err, Err(StoreError::MissingReference { field: "doctor", .. })), "{err:?}");
    };

    mappings_one_per_pair => |t: &TestDb| {
        let f = fixture(t);
        let input = NewMapping { doctor: f.d1, patient: f.p1, reason_for_assignment: "GP".into(), is_active: true };
        let m = t.db.write({ let input = input.clone(); move |c| mappings::create(c, &input, Scope::All, f.admin) }).unwrap();
        assert_eq!((m.doctor, m.patient, m.assigned_by), (f.d1, f.p1, Some(f.admin)));
        assert!(matches!(t.db.write({ let input = input.clone(); move |c| mappings::create(c, &input, Scope::All, f.admin) }), Err(StoreError::Duplicate { .. })));
        let missing = NewMapping { doctor: DoctorId(999), ..input.clone() };
        assert!(matches!(t.db.write({ let missing = missing.clone(); move |c| mappings::create(c, &missing, Scope::All, f.admin) }), Err(StoreError::MissingReference { field: "doctor", id: 999 })));
        // Read with the assigner's username (one join) and the day it was assigned.
        assert_eq!(m.assigned_by_username.as_deref(), Some("admin"));
        assert_eq!(m.assigned_date, m.created_at.date_naive());
        assert_eq!(t.db.read(move |c| mappings::find(c, m.id, Scope::All)).unwrap(), m);
        let listed = t.db.read(|c| mappings::list(c, Scope::All, MappingFilter::default(), Page::default())).unwrap();
        assert_eq!(listed.items, std::slice::from_ref(&m));
        // The patient's active mappings, each with its doctor's record.
        let of = t.db.read(|c| mappings::of_patient(c, f.p1, Scope::All)).unwrap();
        assert_eq!(of.iter().map(|w| (w.mapping.id, w.doctor_details.id)).collect::<Vec<_>>(), [(m.id, f.d1)]);
        assert_eq!(of[0].mapping, m);
        assert_eq!(of[0].doctor_details, t.db.read(|c| doctors::find(c, f.d1)).unwrap());
        // Doctor scope sees its own mappings and the mapped patient.
        let mine = t.db.read(|c| mappings::list(c, Scope::DoctorOf(f.d1), MappingFilter::default(), Page::default())).unwrap();
        assert_eq!(mine.total, 1);
        assert!(t.db.read(|c| patients::find(c, f.p1, Scope::DoctorOf(f.d1))).is_ok());
        assert!(t.db.read(|c| patients::find(c, f.p2, Scope::DoctorOf(f.d1))).is_err());
        assert_eq!(t.db.read(|c| mappings::list(c, Scope::DoctorOf(f.d2), MappingFilter::default(), Page::default())).unwrap().total, 0);
        // Update and deactivate (DELETE) keep the row.
        let ch = MappingChanges { reason_for_assignment: Some("follow-up".into()), is_active: None };
        assert_eq!(t.db.write({ let ch = ch.clone(); move |c| mappings::update(c, m.id, Scope::All, &ch, f.admin) }).unwrap().reason_for_assignment, "follow-up");
        t.db.write(move |c| mappings::deactivate(c, m.id, Scope::All, f.admin)).unwrap();
        assert!(!t.db.read(|c| mappings::find(c, m.id, Scope::All)).unwrap().is_active);
        assert!(t.db.read(|c| mappings::of_patient(c, f.p1, Scope::All)).unwrap().is_empty());
        // Re-assigning reactivates the same row, keeping the first assignment.
        let again = t.db.write({ let input = input.clone(); move |c| mappings::create(c, &input, Scope::All, f.admin) }).unwrap();
        assert_eq!((again.id, again.is_active), (m.id, true));
        assert_eq!((again.assigned_by, again.assigned_date), (m.assigned_by, m.assigned_date));
        let active = MappingFilter { is_active: Some(true), patient: Some(f.p1), ..Default::default() };
        assert_eq!(t.db.read(|c| mappings::list(c, Scope::All, active, Page::default())).unwrap().total, 1);
        // A mapping without a known assigner reads with no username (the left join finds none).
        let id = m.id.0;
        t.db.write(move |c| {
            diesel::RunQueryDsl::execute(diesel::sql_query(format!("UPDATE mappings SET assigned_by = NULL WHERE id = {id}")), c)?;
            Ok(())
        }).unwrap();
        let orphan = t.db.read(move |c| mappings::find(c, m.id, Scope::All)).unwrap();
        assert_eq!((orphan.assigned_by, orphan.assigned_by_username.as_deref()), (None, None));
        assert_eq!(t.db.read(|c| mappings::of_patient(c, f.p1, Scope::All)).unwrap()[0].mapping, orphan);
    };

    overlap_rules => |t: &TestDb| {
        let f = fixture(t);
        let a = book(t, &f, f.d1, f.p1, at(10, 0), 30).unwrap();
        assert_eq!(a.end_datetime, at(10, 30));
        // Same doctor, overlapping: doctor conflict. Different patient.
        assert!(matches!(book(t, &f, f.d1, f.p2, at(10, 15), 30), Err(StoreError::DoctorConflict)));
        // Containing and contained intervals.
        assert!(matches!(book(t, &f, f.d1, f.p2, at(9, 0), 120), Err(StoreError::DoctorConflict)));
        assert!(matches!(book(t, &f, f.d1, f.p2, at(10, 10), 5), Err(StoreError::DoctorConflict)));
        // Same patient, other doctor: patient conflict.
        assert!(matches!(book(t, &f, f.d2, f.p1, at(10, 29), 30), Err(StoreError::PatientConflict)));
        // Touching intervals are fine, on both sides.
        let before = book(t, &f, f.d1, f.p2, at(9, 30), 30).unwrap();
        let after = book(t, &f, f.d1, f.p1, at(10, 30), 30).unwrap();
        // A long appointment far earlier does not block (the 480-minute window bound).
        book(t, &f, f.d2, f.p2, at(1, 0), 480).unwrap();
        assert!(matches!(book(t, &f, f.d2, f.p1, at(8, 59), 10), Err(StoreError::DoctorConflict)));
        book(t, &f, f.d2, f.p1, at(9, 0), 10).unwrap();
        // Cancelling frees the slot.
        set_status(t, a.id, AppointmentStatus::Cancelled).unwrap();
        let replacement = book(t, &f, f.d1, f.p2, at(10, 0), 30).unwrap();
        // Rescheduling into a conflict is refused; into a free slot is allowed.
        let into = AppointmentChanges { start: Some(at(10, 0)), ..Default::default() };
        assert!(matches!(t.db.write({ let into = into.clone(); move |c| appointments::update(c, before.id, Scope::All, &into, Role::Staff) }), Err(StoreError::DoctorConflict)));
        let lengthen = AppointmentChanges { duration_minutes: Some(45), ..Default::default() };
        assert!(matches!(t.db.write({ let lengthen = lengthen.clone(); move |c| appointments::update(c, replacement.id, Scope::All, &lengthen, Role::Staff) }), Err(StoreError::DoctorConflict)));
        let free = AppointmentChanges { start: Some(at(14, 0)), duration_minutes: Some(60), ..Default::default() };
        let moved = t.db.write({ let free = free.clone(); move |c| appointments::update(c, after.id, Scope::All, &free, Role::Staff) }).unwrap();
        assert_eq!((moved.appointment_datetime, moved.end_datetime), (at(14, 0), at(15, 0)));
        // Moving to another doctor is checked too.
        let other_doc = AppointmentChanges { doctor: Some(f.d2), start: Some(at(1, 30)), ..Default::default() };
        assert!(matches!(t.db.write({ let other_doc = other_doc.clone(); move |c| appointments::update(c, moved.id, Scope::All, &other_doc, Role::Staff) }), Err(StoreError::DoctorConflict)));
        // Completed and no-show appointments block nothing; archived ones neither.
        set_status(t, replacement.id, AppointmentStatus::Completed).unwrap();
        let c2 = book(t, &f, f.d1, f.p1, at(10, 0), 30).unwrap();
        t.db.write(move |c| appointments::archive(c, c2.id, Scope::All)).unwrap();
        assert!(matches!(t.db.read(|c| appointments::find(c, c2.id, Scope::All)), Err(StoreError::NotFound)));
        book(t, &f, f.d1, f.p1, at(10, 0), 30).unwrap();
        // Final states are final; only SCHEDULED may move.
        assert!(matches!(set_status(t, replacement.id, AppointmentStatus::Scheduled), Err(StoreError::Invalid { field: "status", .. })));
        let mv = AppointmentChanges { start: Some(at(18, 0)), ..Default::default() };
        assert!(matches!(t.db.write({ let mv = mv.clone(); move |c| appointments::update(c, replacement.id, Scope::All, &mv, Role::Staff) }), Err(StoreError::Invalid { .. })));
        // A patient may cancel but not complete.
        let pat_done = AppointmentChanges { status: Some(AppointmentStatus::Completed), ..Default::default() };
        assert!(matches!(t.db.write({ let pat_done = pat_done.clone(); move |c| appointments::update(c, moved.id, Scope::All, &pat_done, Role::Patient) }), Err(StoreError::Forbidden)));
    };

    appointment_lists_filters_and_scope => |t: &TestDb| {
        let f = fixture(t);
        let a1 = book(t, &f, f.d1, f.p1, at(9, 0), 30).unwrap();
        let a2 = book(t, &f, f.d1, f.p2, at(11, 0), 30).unwrap();
        let a3 = book(t, &f, f.d2, f.p1, at(8, 0), 30).unwrap();
        set_status(t, a2.id, AppointmentStatus::NoShow).unwrap();
        let list = |filter: AppointmentFilter, scope: Scope| {
            t.db.read(|c| appointments::list(c, scope, &filter, Page::default())).unwrap().items.iter().map(|a| a.id).collect::<Vec<_>>()
        };
        assert_eq!(list(AppointmentFilter::default(), Scope::All), [a3.id, a1.id, a2.id]);
        assert_eq!(list(AppointmentFilter { order: AppointmentOrder::StartDesc, ..Default::default() }, Scope::All), [a2.id, a1.id, a3.id]);
        assert_eq!(list(AppointmentFilter { order: AppointmentOrder::Id, ..Default::default() }, Scope::All), [a1.id, a2.id, a3.id]);
        assert_eq!(list(AppointmentFilter { doctor: Some(f.d1), ..Default::default() }, Scope::All), [a1.id, a2.id]);
        assert_eq!(list(AppointmentFilter { patient: Some(f.p1), ..Default::default() }, Scope::All), [a3.id, a1.id]);
        assert_eq!(list(AppointmentFilter { statuses: vec![AppointmentStatus::NoShow], ..Default::default() }, Scope::All), [a2.id]);
        assert_eq!(list(AppointmentFilter { statuses: vec![AppointmentStatus::NoShow, AppointmentStatus::Scheduled], ..Default::default() }, Scope::All).len(), 3);
        assert_eq!(list(AppointmentFilter { from: Some(at(9, 0)), until: Some(at(11, 0)), ..Default::default() }, Scope::All), [a1.id]);
        assert_eq!(list(AppointmentFilter::default(), Scope::DoctorOf(f.d2)), [a3.id]);
        assert!(list(AppointmentFilter::default(), Scope::Nothing).is_empty());
        let owner = t.db.write(move |c| users::create(c, "owner", "", "h", Role::Patient)).unwrap().id;
        let ch = PatientChanges { user: Some(Some(owner)), ..Default::default() };
        t.db.write({ let ch = ch.clone(); move |c| patients::update(c, f.p2, Scope::All, &ch) }).unwrap();
        assert_eq!(list(AppointmentFilter::default(), Scope::OwnedBy(owner)), [a2.id]);
        // A doctor sees patients they have appointments with.
        assert!(t.db.read(|c| patients::find(c, f.p2, Scope::DoctorOf(f.d1))).is_ok());
        // A patient cannot book for someone else's record.
        let input = NewAppointment { doctor: f.d2, patient: f.p1, start: at(15, 0), duration_minutes: 30, reason: String::new(), status: healthcare_domain::AppointmentStatus::Scheduled };
        assert!(matches!(t.db.write({ let input = input.clone(); move |c| appointments::create(c, &input, Scope::OwnedBy(owner), owner) }), Err(StoreError::MissingReference { field: "patient", .. })));
        // Archiving a patient with future appointments is refused.
        let future = book(t, &f, f.d2, f.p2, Utc::now() + Duration::days(1), 30).unwrap();
        assert!(matches!(t.db.write(move |c| patients::archive(c, f.p2, Scope::All)), Err(StoreError::HasFutureAppointments { count: 1 })));
        t.db.write(move |c| appointments::archive(c, future.id, Scope::All)).unwrap();
        t.db.write(move |c| patients::archive(c, f.p2, Scope::All)).unwrap();
    };

    users_tokens_and_failures => |t: &TestDb| {
        let first = t.db.write(move |c| users::register(c, "Alice", "a@example.org", "h1")).unwrap();
        assert_eq!(first.role, Role::Admin);
        let second = t.db.write(move |c| users::register(c, "bob", "", "h2")).unwrap();
        assert_eq!(second.role, Role::Patient);
        assert!(matches!(t.db.write(move |c| users::register(c, "ALICE", "", "h")), Err(StoreError::Duplicate { field: "username" })));
        let row = t.db.read(|c| users::find_by_username(c, "aLiCe")).unwrap().unwrap();
        assert_eq!(row.password_hash, "h1");
        let facts = t.db.read(|c| users::caller(c, second.id, "no-such-session")).unwrap().unwrap();
        assert_eq!((facts.role, facts.is_active, facts.doctor, facts.token_version, facts.session_live), (Role::Patient, true, None, 0, false));
        assert_eq!(t.db.read(|c| users::list(c, Page::default())).unwrap().total, 2);
        // Signing secret: generated once, then stable.
        let s1 = t.db.write(move |c| tokens::signing_secret(c, || "one".into())).unwrap();
        let s2 = t.db.write(move |c| tokens::signing_secret(c, || "two".into())).unwrap();
        assert_eq!((s1.as_str(), s2.as_str()), ("one", "one"));
        // Sessions, refresh rotation and reuse detection.
        let now = Utc::now();
        t.db.write(move |c| tokens::start_session(c, "fam", second.id, "j1", now + Duration::hours(1), now)).unwrap();
        let live = |t: &TestDb, sid: &'static str| t.db.read(move |c| users::caller(c, second.id, sid)).unwrap().unwrap().session_live;
        assert!(live(t, "fam"));
        let r = t.db.write(move |c| tokens::use_refresh(c, "j1", now)).unwrap();
        assert_eq!(r, tokens::RefreshOutcome::Rotated { user: second.id, family: "fam".into() });
        t.db.write(move |c| tokens::record_refresh(c, "j2", second.id, "fam", now + Duration::hours(1))).unwrap();
        assert_eq!(t.db.write(move |c| tokens::use_refresh(c, "j1", now)).unwrap(), tokens::RefreshOutcome::Reused);
        // The whole family and its session are now revoked, including the fresh j2.
        assert!(!live(t, "fam"));
        assert_eq!(t.db.write(move |c| tokens::use_refresh(c, "j2", now)).unwrap(), tokens::RefreshOutcome::Reused);
        assert_eq!(t.db.write(move |c| tokens::use_refresh(c, "nope", now)).unwrap(), tokens::RefreshOutcome::Unknown);
        // An owner's password change ends their other sessions only.
        t.db.write(move |c| tokens::start_session(c, "s-a", second.id, "ja", now + Duration::hours(1), now)).unwrap();
        t.db.write(move |c| tokens::start_session(c, "s-b", second.id, "jb", now + Duration::hours(1), now)).unwrap();
        t.db.write(move |c| users::change_password(c, second.id, "h3", "s-a")).unwrap();
        assert!(live(t, "s-a"));
        assert!(!live(t, "s-b"));
        assert_eq!(t.db.write(move |c| tokens::use_refresh(c, "jb", now)).unwrap(), tokens::RefreshOutcome::Reused);
        // Deactivation moves the token version and revokes every session.
        t.db.write(move |c| tokens::record_refresh(c, "j3", second.id, "s-a", now + Duration::hours(1))).unwrap();
        let off = users::UserUpdate { is_active: Some(false), ..Default::default() };
        let u = t.db.write({ let off = off.clone(); move |c| users::update(c, second.id, &off) }).unwrap();
        assert!(!u.is_active);
        assert!(!live(t, "s-a"));
        assert_eq!(t.db.read(move |c| users::caller(c, second.id, "s-a")).unwrap().unwrap().token_version, 1);
        assert_eq!(t.db.write(move |c| tokens::use_refresh(c, "j3", now)).unwrap(), tokens::RefreshOutcome::Reused);
        // Deactivating an inactive account again moves nothing.
        t.db.write(move |c| users::update(c, second.id, &off)).unwrap();
        assert_eq!(t.db.read(move |c| users::caller(c, second.id, "s-a")).unwrap().unwrap().token_version, 1);
        // Login throttling: a bucket full of failures refuses, with the wait until its oldest
        // counted failure leaves the window.
        let limits = throttle::LoginLimits {
            per_user_address: throttle::Bucket { max: 3, window: Duration::minutes(15) },
            per_address: throttle::Bucket { max: 5, window: Duration::minutes(15) },
            per_user: throttle::Bucket { max: 7, window: Duration::hours(1) },
        };
        let admit = |t: &TestDb, user: &'static str, ip: &'static str| t.db.write(move |c| throttle::admit_login(c, user, ip, now, &limits)).unwrap();
        for _ in 0..3 {
            assert!(matches!(admit(t, "bob", "10.0.0.1"), throttle::Admission::Admitted(_)));
        }
        assert!(matches!(admit(t, "bob", "10.0.0.1"), throttle::Admission::Throttled(s) if (899..=900).contains(&s)));
        // Another address for the same username is still admitted; a success there clears
        // only that address's failures.
        let throttle::Admission::Admitted(ok) = admit(t, "bob", "10.0.0.2") else { panic!("admitted") };
        t.db.write(move |c| throttle::login_succeeded(c, ok, "bob", "10.0.0.2")).unwrap();
        // The per-address bucket counts every username.
        assert!(matches!(admit(t, "eve", "10.0.0.1"), throttle::Admission::Admitted(_)));
        assert!(matches!(admit(t, "mallory", "10.0.0.1"), throttle::Admission::Admitted(_)));
        assert!(matches!(admit(t, "trent", "10.0.0.1"), throttle::Admission::Throttled(_)));
        // The per-username bucket counts every address.
        for ip in ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"] {
            assert!(matches!(admit(t, "bob", ip), throttle::Admission::Admitted(_)));
        }
        assert!(matches!(admit(t, "bob", "10.0.1.5"), throttle::Admission::Throttled(_)));
        // Registrations per address.
        let bucket = throttle::Bucket { max: 2, window: Duration::hours(1) };
        for expected in [true, true, false] {
            let a = t.db.write(move |c| throttle::admit_registration(c, "10.9.9.9", now, bucket)).unwrap();
            assert_eq!(matches!(a, throttle::Admission::Admitted(_)), expected);
        }
        assert!(t.db.write(move |c| tokens::purge(c, now + Duration::hours(2), now + Duration::hours(2))).unwrap() >= 1);
    };

    migrations_down_and_up_again => |t: &TestDb| {
        use healthcare_persistence::migrations;
        let mut conn = t.db.conn().unwrap();
        assert!(migrations::is_up_to_date(&mut conn).unwrap());
        migrations::revert_all(&mut conn).unwrap();
        assert!(!migrations::is_up_to_date(&mut conn).unwrap());
        assert!(!migrations::run_pending(&mut conn).unwrap().is_empty());
        assert!(migrations::is_up_to_date(&mut conn).unwrap());
        drop(conn);
        fixture(t);
    };
}

/// A staff account, a patient account and a patient record it owns, for the reactivation rules.
fn accounts(t: &TestDb) -> (UserId, UserId, PatientId) {
    t.db.write(|c| {
        let staff = users::create(c, "staff", "", "hash", Role::Staff)?.id;
        let pat = users::create(c, "pat", "", "hash", Role::Patient)?.id;
        let own = patients::create(c, &new_patient("Pat", Some(pat)))?.id;
        Ok((staff, pat, own))
    })
    .unwrap()
}

fn assign(
    t: &TestDb,
    input: &NewMapping,
    scope: Scope,
    by: UserId,
    may: mappings::MayReactivate,
) -> Result<mappings::Assigned, StoreError> {
    let input = input.clone();
    t.db.write(move |c| mappings::assign(c, &input, scope, by, may))
}

fn history(t: &TestDb, id: MappingId) -> mappings::MappingHistory {
    t.db.read(move |c| mappings::history(c, id, Scope::All))
        .unwrap()
}

both_backends! {
    reactivation_keeps_the_first_assignment_and_records_who => |t: &TestDb| {
        use mappings::{Assigned, MayReactivate::{Any, OwnDeactivation}};
        let f = fixture(t);
        let (staff, pat, own) = accounts(t);
        let mine = Scope::OwnedBy(pat);
        let input = NewMapping { doctor: f.d1, patient: own, reason_for_assignment: "GP".into(), is_active: true };
        let Ok(Assigned::Created(m)) = assign(t, &input, mine, pat, OwnDeactivation) else { panic!("created") };
        assert_eq!((m.assigned_by, m.reactivated_by, m.reactivated_at), (Some(pat), None, None));
        assert_eq!(history(t, m.id), mappings::MappingHistory { deactivated_by: None, deactivated_at: None, reactivated_by: None, reactivated_at: None });
        // An active pair is a duplicate, whoever asks.
        assert!(matches!(assign(t, &input, Scope::All, staff, Any), Err(StoreError::Duplicate { .. })));
        // Staff deactivates it (DELETE): recorded.
        t.db.write(move |c| mappings::deactivate(c, m.id, Scope::All, staff)).unwrap();
        let off = history(t, m.id);
        assert_eq!(off.deactivated_by, Some(staff));
        assert!(off.deactivated_at.is_some_and(|at| at >= m.created_at));
        // A DELETE of an inactive mapping keeps the first deactivation on record.
        t.db.write(move |c| mappings::deactivate(c, m.id, Scope::All, f.admin)).unwrap();
        assert_eq!(history(t, m.id), off);
        // The patient may not undo staff's decision, and nothing changes.
        let again = NewMapping { reason_for_assignment: "I want him back".into(), ..input.clone() };
        assert!(matches!(assign(t, &again, mine, pat, OwnDeactivation), Err(StoreError::Forbidden)));
        let unchanged = t.db.read(move |c| mappings::find(c, m.id, Scope::All)).unwrap();
        assert!(unchanged.version > m.version, "the deactivation changed the version");
        assert_eq!(unchanged, Mapping { is_active: false, version: unchanged.version, ..m.clone() });
        // Staff may: same row, first assignment kept, reason kept (none given), who and when recorded.
        let blank = NewMapping { reason_for_assignment: String::new(), ..input.clone() };
        let Ok(Assigned::Reactivated(back)) = assign(t, &blank, Scope::All, staff, Any) else { panic!("reactivated") };
        assert_eq!((back.id, back.is_active, back.assigned_by, back.assigned_date, back.created_at), (m.id, true, Some(pat), m.assigned_date, m.created_at));
        assert_eq!(back.reason_for_assignment, "GP");
        assert_eq!(back.reactivated_by, Some(staff));
        assert!(back.reactivated_at.is_some_and(|at| at >= off.deactivated_at.unwrap_or_default()));
        assert_eq!(history(t, m.id).deactivated_by, Some(staff), "the last deactivation stays on record");
        // PATCH is_active=false records the deactivation, once; a non-empty reason replaces the old one.
        let off = MappingChanges { reason_for_assignment: None, is_active: Some(false) };
        t.db.write({ let off = off.clone(); move |c| mappings::update(c, m.id, Scope::All, &off, f.admin) }).unwrap();
        let patched = history(t, m.id);
        assert_eq!(patched.deactivated_by, Some(f.admin));
        t.db.write(move |c| mappings::update(c, m.id, Scope::All, &off, staff)).unwrap();
        assert_eq!(history(t, m.id), patched);
        let second = NewMapping { reason_for_assignment: "second opinion".into(), ..input.clone() };
        let Ok(Assigned::Reactivated(back)) = assign(t, &second, Scope::All, f.admin, Any) else { panic!("reactivated") };
        assert_eq!((back.reason_for_assignment.as_str(), back.reactivated_by, back.assigned_by), ("second opinion", Some(f.admin), Some(pat)));
        // PATCH is_active=true records a reactivation too.
        t.db.write(move |c| mappings::deactivate(c, m.id, Scope::All, staff)).unwrap();
        let on = MappingChanges { reason_for_assignment: None, is_active: Some(true) };
        let patched = t.db.write(move |c| mappings::update(c, m.id, Scope::All, &on, staff)).unwrap();
        assert_eq!((patched.is_active, patched.reactivated_by), (true, Some(staff)));
    };

    a_patient_may_reactivate_only_what_they_deactivated => |t: &TestDb| {
        use mappings::{Assigned, MayReactivate::{Any, OwnDeactivation}};
        let f = fixture(t);
        let (staff, pat, own) = accounts(t);
        let mine = Scope::OwnedBy(pat);
        // Created inactive by the patient: their own deactivation.
        let inactive = NewMapping { doctor: f.d2, patient: own, reason_for_assignment: String::new(), is_active: false };
        let Ok(Assigned::Created(m)) = assign(t, &inactive, mine, pat, OwnDeactivation) else { panic!("created") };
        assert!(!m.is_active);
        assert_eq!(history(t, m.id).deactivated_by, Some(pat));
        // Asking again for an inactive mapping of an existing pair is a duplicate.
        assert!(matches!(assign(t, &inactive, mine, pat, OwnDeactivation), Err(StoreError::Duplicate { .. })));
        let active = NewMapping { is_active: true, ..inactive.clone() };
        let Ok(Assigned::Reactivated(back)) = assign(t, &active, mine, pat, OwnDeactivation) else { panic!("reactivated") };
        assert_eq!((back.id, back.reactivated_by, back.assigned_by), (m.id, Some(pat), Some(pat)));
        // A mapping made inactive before deactivations were recorded: nobody is known to have
        // done it, so only staff may bring it back.
        let id = m.id.0;
        t.db.write(move |c| {
            diesel::RunQueryDsl::execute(diesel::sql_query(format!("UPDATE mappings SET is_active = false, deactivated_by = NULL, deactivated_at = NULL WHERE id = {id}")), c)?;
            Ok(())
        }).unwrap();
        assert!(matches!(assign(t, &active, mine, pat, OwnDeactivation), Err(StoreError::Forbidden)));
        assert!(matches!(assign(t, &active, Scope::All, staff, Any), Ok(Assigned::Reactivated(_))));
        // A pair the patient cannot see is a missing reference, as before.
        let other = NewMapping { patient: f.p1, ..active.clone() };
        assert!(matches!(assign(t, &other, mine, pat, OwnDeactivation), Err(StoreError::MissingReference { field: "patient", .. })));
    };

    a_deactivation_committed_meanwhile_is_not_overridden => |t: &TestDb| {
        use mappings::{Assigned, MayReactivate::OwnDeactivation};
        let f = fixture(t);
        let (staff, pat, own) = accounts(t);
        let inactive = NewMapping { doctor: f.d1, patient: own, reason_for_assignment: String::new(), is_active: false };
        let Ok(Assigned::Created(m)) = assign(t, &inactive, Scope::OwnedBy(pat), pat, OwnDeactivation) else { panic!("created") };
        // Staff takes over the deactivation in a transaction still open when the patient's
        // reactivation starts (it read the patient's own deactivation before the change).
        let begin = if t.url.starts_with("sqlite") { "BEGIN IMMEDIATE" } else { "BEGIN" };
        let (locked, go) = std::sync::mpsc::channel();
        let active = NewMapping { is_active: true, ..inactive.clone() };
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                use diesel::connection::SimpleConnection;
                let mut conn = t.db.conn().unwrap();
                conn.batch_execute(&format!("{begin}; UPDATE mappings SET deactivated_by = {} WHERE id = {}", staff.0, m.id.0)).unwrap();
                locked.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300));
                conn.batch_execute("COMMIT").unwrap();
            });
            go.recv().unwrap();
            assign(t, &active, Scope::OwnedBy(pat), pat, OwnDeactivation)
        });
        assert!(matches!(outcome, Err(StoreError::Forbidden)), "{outcome:?}");
        assert!(!t.db.read(move |c| mappings::find(c, m.id, Scope::All)).unwrap().is_active);
    };
}

fn hold(
    t: &TestDb,
    f: &Fixture,
    patient: PatientId,
    start: DateTime<Utc>,
    seconds: i64,
) -> Result<Appointment, StoreError> {
    let input = NewAppointment {
        doctor: f.d1,
        patient,
        start,
        duration_minutes: 30,
        reason: String::new(),
        status: AppointmentStatus::Pending,
    };
    let admin = f.admin;
    t.db.write(move |c| {
        appointments::book(c, &input, Scope::All, admin, Duration::seconds(seconds))
    })
}

both_backends! {
    versions_grow_with_every_change_sql_included => |t: &TestDb| {
        use diesel::connection::SimpleConnection;
        use healthcare_persistence::audit::Resource;
        use healthcare_persistence::versions;
        let f = fixture(t);
        let p1 = f.p1;
        let version = |t: &TestDb| t.db.write(move |c| versions::locked(c, Resource::Patient, p1.0)).unwrap();
        assert_eq!(version(t), Some(1));
        let changes = PatientChanges { first_name: Some("Annie".into()), ..Default::default() };
        let changed = t.db.write(move |c| patients::update(c, p1, Scope::All, &changes)).unwrap();
        assert_eq!(changed.version, 2, "the returned row has the version the change ends with");
        assert_eq!(version(t), Some(2));
        // A change made behind the API's back (SQL) moves it too: the triggers.
        let sql = format!("UPDATE patients SET contact_number = '555 0199' WHERE id = {}", p1.0);
        t.db.write(move |c| Ok(c.batch_execute(&sql)?)).unwrap();
        assert_eq!(version(t), Some(3));
        assert_eq!(t.db.read(move |c| patients::find(c, p1, Scope::All)).unwrap().version, 3);
        // Working hours have their own version: replacing them leaves the doctor's.
        let d1 = f.d1;
        let before = t.db.read(move |c| doctors::find(c, d1)).unwrap().version;
        let hours = t.db.read(move |c| versions::working_hours(c, d1.0)).unwrap();
        t.db.write(move |c| healthcare_persistence::availability::set_working_hours(c, d1, None)).unwrap();
        assert_eq!(t.db.read(move |c| versions::working_hours(c, d1.0)).unwrap(), hours.map(|v| v + 1));
        assert_eq!(t.db.read(move |c| doctors::find(c, d1)).unwrap().version, before);
        assert_eq!(t.db.write(move |c| versions::locked(c, Resource::Patient, 999_999)).unwrap(), None);
    };

    holds_block_until_they_expire_then_never => |t: &TestDb| {
        let f = fixture(t);
        let held = hold(t, &f, f.p1, at(9, 0), 1).unwrap();
        assert_eq!(held.status, AppointmentStatus::Pending);
        assert!(held.expires_at.is_some());
        // The database rule covers the hold: the same doctor's slot is refused.
        assert!(matches!(book(t, &f, f.d1, f.p2, at(9, 15), 30), Err(StoreError::DoctorConflict)));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        // Past expires_at it reads EXPIRED, before anything marked it.
        let id = held.id;
        assert_eq!(t.db.read(move |c| appointments::find(c, id, Scope::All)).unwrap().status, AppointmentStatus::Expired);
        let (d1, p2, s, e) = (f.d1, f.p2, at(9, 15), at(9, 45));
        assert_eq!(t.db.write(move |c| appointments::expire_holds(c, d1, p2, s, e)).unwrap(), 1);
        assert!(book(t, &f, f.d1, f.p2, at(9, 15), 30).is_ok(), "an expired hold blocks nothing");
        assert!(matches!(set_status(t, id, AppointmentStatus::Scheduled), Err(StoreError::HoldExpired)));
        // At most three open holds per patient.
        for hour in 10..13 {
            hold(t, &f, f.p1, at(hour, 0), 300).unwrap();
        }
        assert!(matches!(hold(t, &f, f.p1, at(14, 0), 300), Err(StoreError::TooManyHolds)));
        // Lists leave EXPIRED out unless asked, and count exactly.
        let all = AppointmentFilter::default();
        let listed = t.db.read(move |c| appointments::list(c, Scope::All, &all, Page::default())).unwrap();
        assert_eq!((listed.total, listed.items.len()), (4, 4));
        let expired = AppointmentFilter { statuses: vec![AppointmentStatus::Expired], ..Default::default() };
        let listed = t.db.read(move |c| appointments::list(c, Scope::All, &expired, Page::default())).unwrap();
        assert_eq!(listed.items.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id]);
        assert_eq!(listed.total, 1);
    };
}
