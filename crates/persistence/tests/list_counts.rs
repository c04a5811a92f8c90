//! X-Total-Count is exact: the counts kept by triggers (`appointment_counts`) and the partial
//! days counted from the rows must add up to what a plain filter over every appointment gives,
//! after bookings, status changes, moves between days and doctors, archiving and deletion, for
//! filters with and without date bounds on and off midnight, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::RunQueryDsl;
use healthcare_domain::*;
use healthcare_persistence::appointments::{self, AppointmentFilter};
use healthcare_persistence::testing::{sample_doctor, sample_patient, TestDb};
use healthcare_persistence::{both_backends, doctors, patients, users, Page};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const STATUSES: [AppointmentStatus; 4] = [
    AppointmentStatus::Scheduled,
    AppointmentStatus::Completed,
    AppointmentStatus::Cancelled,
    AppointmentStatus::NoShow,
];

/// Every status a list may ask for (holds too: PENDING, and EXPIRED, which a hold becomes by
/// the clock alone or when something marks it).
const READ_STATUSES: [AppointmentStatus; 6] = [
    AppointmentStatus::Pending,
    AppointmentStatus::Scheduled,
    AppointmentStatus::Completed,
    AppointmentStatus::Cancelled,
    AppointmentStatus::NoShow,
    AppointmentStatus::Expired,
];

/// Somewhere in 2030-01-05 .. 2030-01-12, on a 15-minute grid (so some land on midnight).
fn moment(rng: &mut StdRng) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 5, 0, 0, 0).unwrap()
        + Duration::minutes(15 * rng.random_range(0..7 * 96))
}

fn bound(rng: &mut StdRng) -> Option<DateTime<Utc>> {
    match rng.random_range(0..4) {
        0 => None,
        1 => Some(
            Utc.with_ymd_and_hms(2030, 1, 5, 0, 0, 0).unwrap()
                + Duration::days(rng.random_range(-1..9)),
        ),
        _ => Some(moment(rng) + Duration::minutes(rng.random_range(0..15))),
    }
}

both_backends! {
    counts_match_a_plain_filter_after_every_kind_of_change => |t: &TestDb| {
        let mut rng = StdRng::seed_from_u64(20301);
        let (admin, ds, ps) = t.db.write(|c| {
            let admin = users::create(c, "admin", "", "hash", Role::Admin)?.id;
            let ds = (0..3).map(|i| doctors::create(c, &sample_doctor(&format!("L-{i}"))).map(|d| d.id)).collect::<Result<Vec<_>, _>>()?;
            let ps = (0..5).map(|i| patients::create(c, &sample_patient(&format!("P{i}"), None)).map(|p| p.id)).collect::<Result<Vec<_>, _>>()?;
            Ok((admin, ds, ps))
        }).unwrap();

        let mut ids = Vec::new();
        for _ in 0..160 {
            let input = NewAppointment {
                doctor: ds[rng.random_range(0..ds.len())],
                patient: ps[rng.random_range(0..ps.len())],
                start: moment(&mut rng),
                duration_minutes: 15 * rng.random_range(1..5),
                reason: "check-up".into(),
                status: healthcare_domain::AppointmentStatus::Scheduled,
            };
            // Overlaps are refused by the database; the rest are booked.
            if let Ok(a) = t.db.write(move |c| appointments::create(c, &input, Scope::All, admin)) {
                ids.push(a.id);
            }
        }
        assert!(ids.len() > 80, "only {} booked", ids.len());

        for _ in 0..120 {
            let id = ids[rng.random_range(0..ids.len())];
            let changes = match rng.random_range(0..4) {
                0 => AppointmentChanges { status: Some(STATUSES[rng.random_range(1..4)]), ..Default::default() },
                1 => AppointmentChanges { start: Some(moment(&mut rng)), ..Default::default() },
                2 => AppointmentChanges { doctor: Some(ds[rng.random_range(0..ds.len())]), ..Default::default() },
                _ => {
                    let _ = t.db.write(move |c| appointments::archive(c, id, Scope::All));
                    continue;
                }
            };
            // Some changes are refused (final states, overlaps): they must leave no trace.
            let _ = t.db.write(move |c| appointments::update(c, id, Scope::All, &changes, Role::Admin));
        }
        // A row removed outright (not through the API) leaves the counts too.
        for id in ids.iter().step_by(17).copied() {
            t.db.write(move |c| {
                Ok(diesel::sql_query(format!("DELETE FROM appointments WHERE id = {}", id.0)).execute(c)?)
            }).unwrap();
        }

        // Holds: some live, some past their end (one second long), some of those marked.
        for i in 0..24 {
            let input = NewAppointment {
                doctor: ds[rng.random_range(0..ds.len())],
                patient: ps[rng.random_range(0..ps.len())],
                start: moment(&mut rng),
                duration_minutes: 15,
                reason: String::new(),
                status: AppointmentStatus::Pending,
            };
            let hold = Duration::seconds(if i % 2 == 0 { 1 } else { 300 });
            let _ = t.db.write(move |c| appointments::book(c, &input, Scope::All, admin, hold));
        }
        std::thread::sleep(std::time::Duration::from_millis(1100));
        t.db.write(|c| appointments::expire_due_holds(c, 3)).unwrap();

        let every_status = AppointmentFilter { statuses: READ_STATUSES.to_vec(), ..Default::default() };
        let everything = t.db.read(move |c| appointments::list(c, Scope::All, &every_status, Page { limit: 1000, offset: 0 })).unwrap();
        assert_eq!(everything.total, everything.items.len() as i64);
        for status in [AppointmentStatus::Pending, AppointmentStatus::Expired] {
            assert!(everything.items.iter().any(|a| a.status == status), "no {status} in the data");
        }
        let all = everything.items;
        let mut checked_with_counters = 0;
        for round in 0..300 {
            let scope = if round % 3 == 0 { Scope::DoctorOf(ds[rng.random_range(0..ds.len())]) } else { Scope::All };
            let statuses: Vec<AppointmentStatus> = READ_STATUSES.iter().copied().filter(|_| rng.random_range(0..3) == 0).collect();
            let filter = AppointmentFilter {
                doctor: (rng.random_range(0..3) > 0).then(|| ds[rng.random_range(0..ds.len())]),
                patient: (rng.random_range(0..6) == 0).then(|| ps[rng.random_range(0..ps.len())]),
                statuses: statuses.clone(),
                from: bound(&mut rng),
                until: bound(&mut rng),
                ..Default::default()
            };
            let expected = all.iter().filter(|a| {
                (match scope { Scope::DoctorOf(d) => a.doctor == d, _ => true })
                    && filter.doctor.is_none_or(|d| a.doctor == d)
                    && filter.patient.is_none_or(|p| a.patient == p)
                    && (if statuses.is_empty() { a.status != AppointmentStatus::Expired } else { statuses.contains(&a.status) })
                    && filter.from.is_none_or(|f| a.appointment_datetime >= f)
                    && filter.until.is_none_or(|u| a.appointment_datetime < u)
            }).count() as i64;
            let got = t.db.read({
                let filter = filter.clone();
                move |c| appointments::list(c, scope, &filter, Page { limit: 1, offset: 0 })
            }).unwrap();
            assert_eq!(got.total, expected, "round {round}: {filter:?} in {scope:?}");
            if filter.patient.is_none() && expected > 0 {
                checked_with_counters += 1;
            }
        }
        assert!(checked_with_counters > 100);
    };
}
