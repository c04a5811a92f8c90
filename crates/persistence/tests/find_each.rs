//! `appointments::find_each` (several single reads in one visit to the database) must answer
//! every `(id, scope)` exactly as `appointments::find` does on its own: same appointment, same
//! not-found for archived rows, other doctors' rows, other owners' patients, ids that do not
//! exist and the empty scope, with scopes and repeated ids mixed in one batch, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Duration, TimeZone, Utc};
use healthcare_domain::*;
use healthcare_persistence::appointments;
use healthcare_persistence::testing::{sample_doctor, sample_patient, TestDb};
use healthcare_persistence::{both_backends, doctors, patients, users, StoreError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

both_backends! {
    a_batch_answers_each_read_as_find_does => |t: &TestDb| {
        let mut rng = StdRng::seed_from_u64(7);
        let (admin, owners, ds, ps) = t.db.write(|c| {
            let admin = users::create(c, "admin", "", "hash", Role::Admin)?.id;
            let owners = (0..2).map(|i| users::create(c, &format!("owner{i}"), "", "hash", Role::Patient).map(|u| u.id)).collect::<Result<Vec<_>, _>>()?;
            let ds = (0..2).map(|i| doctors::create(c, &sample_doctor(&format!("L-{i}"))).map(|d| d.id)).collect::<Result<Vec<_>, _>>()?;
            let ps = (0..4).map(|i| patients::create(c, &sample_patient(&format!("P{i}"), Some(owners[i % 2]))).map(|p| p.id)).collect::<Result<Vec<_>, _>>()?;
            Ok((admin, owners, ds, ps))
        }).unwrap();

        let mut ids = Vec::new();
        for i in 0..24 {
            let input = NewAppointment {
                doctor: ds[i % 2],
                patient: ps[i % 4],
                start: Utc.with_ymd_and_hms(2031, 3, 3, 8, 0, 0).unwrap() + Duration::minutes(30 * i as i64),
                duration_minutes: 30,
                reason: "check-up".into(),
                status: healthcare_domain::AppointmentStatus::Scheduled,
            };
            ids.push(t.db.write(move |c| appointments::create(c, &input, Scope::All, admin)).unwrap().id);
        }
        for id in ids.iter().step_by(5).copied() {
            t.db.write(move |c| appointments::archive(c, id, Scope::All)).unwrap();
        }

        let scopes = [
            Scope::All,
            Scope::DoctorOf(ds[0]),
            Scope::DoctorOf(ds[1]),
            Scope::OwnedBy(owners[0]),
            Scope::OwnedBy(owners[1]),
            Scope::Nothing,
        ];
        let (mut seen, mut missing) = (0, 0);
        for _ in 0..60 {
            let keys: Vec<(AppointmentId, Scope)> = (0..rng.random_range(1..16))
                .map(|_| {
                    let id = if rng.random_range(0..8) == 0 {
                        AppointmentId(ids[ids.len() - 1].0 + rng.random_range(1..100))
                    } else {
                        ids[rng.random_range(0..ids.len())]
                    };
                    (id, scopes[rng.random_range(0..scopes.len())])
                })
                .collect();
            let batch = keys.clone();
            let together = t.db.read(move |c| appointments::find_each(c, &batch)).unwrap();
            assert_eq!(together.len(), keys.len());
            for (&(id, scope), got) in keys.iter().zip(together) {
                let alone = match t.db.read(move |c| appointments::find(c, id, scope)) {
                    Ok(a) => Some(a),
                    Err(StoreError::NotFound) => None,
                    Err(e) => panic!("find({id:?}, {scope:?}): {e:?}"),
                };
                if alone.is_some() { seen += 1 } else { missing += 1 }
                assert_eq!(got, alone, "id {id:?} in scope {scope:?}");
            }
        }
        // Both outcomes were exercised, in every kind of scope.
        assert!(seen > 100 && missing > 100, "seen {seen}, missing {missing}");
    };
}
