//! `find_each` of appointments, patients, doctors and mappings (several single reads in one
//! visit to the database) must answer every key exactly as the repository's `find` does on its
//! own: same record, same not-found for archived rows, other doctors' rows, other owners'
//! patients, ids that do not exist and the empty scope, with scopes and repeated ids mixed in
//! one batch, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Duration, TimeZone, Utc};
use healthcare_domain::*;
use healthcare_persistence::appointments;
use healthcare_persistence::testing::{sample_doctor, sample_patient, TestDb};
use healthcare_persistence::{
    both_backends, doctors, mappings, patients, users, DbConnection, StoreError, StoreResult,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Debug;

/// A repository's `find_each` and `find`, with the key of one read.
type FindEach<K, T> = fn(&mut DbConnection, &[K]) -> StoreResult<Vec<Option<T>>>;
type Find<K, T> = fn(&mut DbConnection, K) -> StoreResult<T>;

/// Reads `keys` with `find_each` in one batch and each alone with `find`, asserts that they
/// agree key by key, and returns the batch's answers.
fn agree<K, T>(
    t: &TestDb,
    keys: &[K],
    find_each: FindEach<K, T>,
    find: Find<K, T>,
) -> Vec<Option<T>>
where
    K: Copy + Debug,
    T: PartialEq + Debug,
{
    let together = t.db.read(|c| find_each(c, keys)).unwrap();
    assert_eq!(together.len(), keys.len());
    for (&key, got) in keys.iter().zip(&together) {
        let alone = match t.db.read(|c| find(c, key)) {
            Ok(found) => Some(found),
            Err(StoreError::NotFound) => None,
            Err(e) => panic!("find({key:?}): {e:?}"),
        };
        assert_eq!(got.as_ref(), alone.as_ref(), "key {key:?}");
    }
    together
}

/// `agree` on 60 random batches of 1 to 15 keys drawn from `ids` and `scopes` (one id in eight
/// past the last one, so it does not exist); returns how many keys were found and missing.
fn agree_at_random<I, T>(
    t: &TestDb,
    rng: &mut StdRng,
    ids: &[I],
    past_end: impl Fn(i64) -> I,
    scopes: &[Scope],
    find_each: FindEach<(I, Scope), T>,
    find: Find<(I, Scope), T>,
) -> (usize, usize)
where
    I: Copy + Debug,
    T: PartialEq + Debug,
{
    let (mut seen, mut missing) = (0, 0);
    for _ in 0..60 {
        let keys: Vec<(I, Scope)> = (0..rng.random_range(1..16))
            .map(|_| {
                let id = if rng.random_range(0..8) == 0 {
                    past_end(rng.random_range(1..100))
                } else {
                    ids[rng.random_range(0..ids.len())]
                };
                (id, scopes[rng.random_range(0..scopes.len())])
            })
            .collect();
        for got in agree(t, &keys, find_each, find) {
            if got.is_some() {
                seen += 1
            } else {
                missing += 1
            }
        }
    }
    (seen, missing)
}

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

    a_batch_of_patients_answers_each_read_as_find_does => |t: &TestDb| {
        let (admin, owners, ds, ps) = t.db.write(|c| {
            let admin = users::create(c, "admin", "", "hash", Role::Admin)?.id;
            let owners = (0..2).map(|i| users::create(c, &format!("owner{i}"), "", "hash", Role::Patient).map(|u| u.id)).collect::<Result<Vec<_>, _>>()?;
            let ds = (0..2).map(|i| doctors::create(c, &sample_doctor(&format!("L-{i}"))).map(|d| d.id)).collect::<Result<Vec<_>, _>>()?;
            let ps = (0..6).map(|i| patients::create(c, &sample_patient(&format!("P{i}"), Some(owners[i % 2]))).map(|p| p.id)).collect::<Result<Vec<_>, _>>()?;
            Ok((admin, owners, ds, ps))
        }).unwrap();
        // Doctor 0 sees patient 0 through an active mapping, not patient 1 (inactive mapping);
        // doctor 1 sees patient 2 through an appointment. Patient 5 is archived.
        let (d, p) = (ds.clone(), ps.clone());
        t.db.write(move |c| {
            for (patient, is_active) in [(p[0], true), (p[1], false)] {
                let input = NewMapping { doctor: d[0], patient, reason_for_assignment: String::new(), is_active };
                mappings::create(c, &input, Scope::All, admin)?;
            }
            let input = NewAppointment {
                doctor: d[1],
                patient: p[2],
                start: Utc.with_ymd_and_hms(2031, 3, 3, 8, 0, 0).unwrap(),
                duration_minutes: 30,
                reason: "check-up".into(),
                status: healthcare_domain::AppointmentStatus::Scheduled,
            };
            appointments::create(c, &input, Scope::All, admin)?;
            patients::archive(c, p[5], Scope::All)
        }).unwrap();

        let find: Find<(PatientId, Scope), Patient> = |c, (id, scope)| patients::find(c, id, scope);
        let keys = [
            (ps[0], Scope::OwnedBy(owners[0])),
            (ps[1], Scope::OwnedBy(owners[0])), // another owner's
            (ps[0], Scope::DoctorOf(ds[0])),
            (ps[1], Scope::DoctorOf(ds[0])), // inactive mapping only
            (ps[2], Scope::DoctorOf(ds[1])),
            (ps[2], Scope::DoctorOf(ds[0])), // another doctor's
            (ps[3], Scope::All),
            (ps[5], Scope::All), // archived
            (ps[3], Scope::Nothing),
            (ps[0], Scope::OwnedBy(owners[0])), // asked twice
        ];
        let got = agree(t, &keys, patients::find_each, find);
        let found: Vec<bool> = got.iter().map(Option::is_some).collect();
        assert_eq!(found, [true, false, true, false, true, false, true, false, false, true]);
        for (key, patient) in keys.iter().zip(&got) {
            if let Some(patient) = patient {
                assert_eq!(patient.id, key.0);
            }
        }

        let scopes = [
            Scope::All,
            Scope::DoctorOf(ds[0]),
            Scope::DoctorOf(ds[1]),
            Scope::OwnedBy(owners[0]),
            Scope::OwnedBy(owners[1]),
            Scope::Nothing,
        ];
        let last = ps[ps.len() - 1].0;
        let mut rng = StdRng::seed_from_u64(11);
        let (seen, missing) = agree_at_random(t, &mut rng, &ps, |n| PatientId(last + n), &scopes, patients::find_each, find);
        assert!(seen > 100 && missing > 100, "seen {seen}, missing {missing}");
    };

    a_batch_of_doctors_answers_each_read_as_find_does => |t: &TestDb| {
        let ds = t.db.write(|c| {
            (0..5).map(|i| doctors::create(c, &sample_doctor(&format!("L-{i}"))).map(|d| d.id)).collect::<Result<Vec<_>, _>>()
        }).unwrap();
        let archived = ds[4];
        t.db.write(move |c| doctors::archive(c, archived)).unwrap();
        // Doctors have no scope: what no one may see is an archived doctor or an unknown id.
        let unknown = DoctorId(ds[4].0 + 1000);
        let keys = [ds[0], archived, ds[1], unknown, ds[2], ds[0]];
        let got = agree(t, &keys, doctors::find_each, doctors::find);
        let found: Vec<Option<DoctorId>> = got.iter().map(|d| d.as_ref().map(|d| d.id)).collect();
        assert_eq!(found, [Some(ds[0]), None, Some(ds[1]), None, Some(ds[2]), Some(ds[0])]);

        let mut rng = StdRng::seed_from_u64(13);
        let (mut seen, mut missing) = (0, 0);
        for _ in 0..60 {
            let keys: Vec<DoctorId> = (0..rng.random_range(1..16))
                .map(|_| if rng.random_range(0..8) == 0 { DoctorId(ds[4].0 + rng.random_range(1..100)) } else { ds[rng.random_range(0..ds.len())] })
                .collect();
            for got in agree(t, &keys, doctors::find_each, doctors::find) {
                if got.is_some() { seen += 1 } else { missing += 1 }
            }
        }
        assert!(seen > 100 && missing > 30, "seen {seen}, missing {missing}");
    };

    a_batch_of_mappings_answers_each_read_as_find_does => |t: &TestDb| {
        let (admin, owners, ds, ps) = t.db.write(|c| {
            let admin = users::create(c, "admin", "", "hash", Role::Admin)?.id;
            let owners = (0..2).map(|i| users::create(c, &format!("owner{i}"), "", "hash", Role::Patient).map(|u| u.id)).collect::<Result<Vec<_>, _>>()?;
            let ds = (0..2).map(|i| doctors::create(c, &sample_doctor(&format!("L-{i}"))).map(|d| d.id)).collect::<Result<Vec<_>, _>>()?;
            let ps = (0..4).map(|i| patients::create(c, &sample_patient(&format!("P{i}"), Some(owners[i % 2]))).map(|p| p.id)).collect::<Result<Vec<_>, _>>()?;
            Ok((admin, owners, ds, ps))
        }).unwrap();
        // Every doctor with every patient; every third mapping inactive; patient 3 archived.
        let (d, p) = (ds.clone(), ps.clone());
        let ms = t.db.write(move |c| {
            let mut ms = Vec::new();
            for (i, (&doctor, &patient)) in d.iter().flat_map(|d| p.iter().map(move |p| (d, p))).enumerate() {
                let input = NewMapping { doctor, patient, reason_for_assignment: format!("m{i}"), is_active: i % 3 != 2 };
                ms.push((mappings::create(c, &input, Scope::All, admin)?.id, doctor, patient));
            }
            patients::archive(c, p[3], Scope::All)?;
            Ok(ms)
        }).unwrap();
        let of = |doctor: DoctorId, patient: PatientId| ms.iter().find(|m| m.1 == doctor && m.2 == patient).unwrap().0;

        let find: Find<(MappingId, Scope), Mapping> = |c, (id, scope)| mappings::find(c, id, scope);
        let unknown = MappingId(ms[ms.len() - 1].0 .0 + 1000);
        let keys = [
            (of(ds[0], ps[0]), Scope::DoctorOf(ds[0])),
            (of(ds[1], ps[0]), Scope::DoctorOf(ds[0])), // another doctor's
            (of(ds[1], ps[0]), Scope::OwnedBy(owners[0])),
            (of(ds[1], ps[1]), Scope::OwnedBy(owners[0])), // another owner's patient
            (of(ds[0], ps[3]), Scope::OwnedBy(owners[1])), // the owner's patient, archived
            (of(ds[0], ps[3]), Scope::All),
            (of(ds[0], ps[2]), Scope::Nothing),
            (unknown, Scope::All),
            (of(ds[0], ps[0]), Scope::DoctorOf(ds[0])), // asked twice
        ];
        let got = agree(t, &keys, mappings::find_each, find);
        let found: Vec<bool> = got.iter().map(Option::is_some).collect();
        assert_eq!(found, [true, false, true, false, false, true, false, false, true]);
        for (key, mapping) in keys.iter().zip(&got) {
            if let Some(mapping) = mapping {
                assert_eq!(mapping.id, key.0);
                assert_eq!(mapping.assigned_by_username.as_deref(), Some("admin"));
            }
        }

        let ids: Vec<MappingId> = ms.iter().map(|m| m.0).collect();
        let scopes = [
            Scope::All,
            Scope::DoctorOf(ds[0]),
            Scope::DoctorOf(ds[1]),
            Scope::OwnedBy(owners[0]),
            Scope::OwnedBy(owners[1]),
            Scope::Nothing,
        ];
        let last = ids[ids.len() - 1].0;
        let mut rng = StdRng::seed_from_u64(17);
        let (seen, missing) = agree_at_random(t, &mut rng, &ids, |n| MappingId(last + n), &scopes, mappings::find_each, find);
        assert!(seen > 100 && missing > 100, "seen {seen}, missing {missing}");
    };
}
