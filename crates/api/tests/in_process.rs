//! In-process tests (`actix_web::test`): every endpoint × role, with role-typed clients, on
//! SQLite and PostgreSQL; and an insta snapshot of the served OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use actix_web::{test, web, App};
use chrono::{Duration, Utc};
use healthcare_api::app::{open_state, routes};
use healthcare_api::state::AppState;
use healthcare_api::Config;
use healthcare_auth::TokenConfig;
use healthcare_domain::*;
use healthcare_persistence::testing::TestDb;
use healthcare_persistence::{appointments, doctors, mappings, patients, users};
use serde_json::{json, Value};

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum As {
    Admin,
    Staff,
    Doctor,
    Patient,
    Anonymous,
}

const ROLES: [As; 5] = [As::Admin, As::Staff, As::Doctor, As::Patient, As::Anonymous];

/// A server state on a fresh database with one account per role and a few records:
/// D1 (linked to the doctor account), D2; P1 (owned by the patient account), P2 (owned by
/// another patient); mapping D1-P1; A1 (D1, P1) and A2 (D2, P2) in the future.
struct TestApp {
    _db: TestDb,
    state: web::Data<AppState>,
    tokens: Vec<(As, String)>,
    ids: Ids,
}

#[derive(Debug, Clone, Copy)]
struct Ids {
    d1: i64,
    d2: i64,
    p1: i64,
    p2: i64,
    m1: i64,
    a1: i64,
    a2: i64,
}

impl TestApp {
    fn build(db: TestDb) -> TestApp {
        let state = web::Data::new(open_state(&Config::for_tests(&db.url)).unwrap());
        let (accounts, ids) = db
            .db
            .write(|c| {
                let admin = users::create(c, "admin", "", "x", Role::Admin)?;
                let staff = users::create(c, "staff", "", "x", Role::Staff)?;
                let doc = users::create(c, "doc", "", "x", Role::Doctor)?;
                let pat = users::create(c, "pat", "", "x", Role::Patient)?;
                let other = users::create(c, "other", "", "x", Role::Patient)?;
                let doctor = |license: &str, user| NewDoctor {
                    first_name: "Greg".into(),
                    last_name: "House".into(),
                    specialization: Specialization::GeneralPractice,
                    contact_number: "555".into(),
                    email: "h@example.org".into(),
                    license_number: license.into(),
                    hospital: "PPTH".into(),
                    address: String::new(),
                    experience_years: 3,
                    user,
                    buffer_before_minutes: 0,
                    buffer_after_minutes: 0,
                };
                let d1 = doctors::create(c, &doctor("L1", Some(doc.id)))?.id;
                let d2 = doctors::create(c, &doctor("L2", None))?.id;
                let patient = |user| NewPatient {
                    first_name: "Ann".into(),
                    last_name: "Lee".into(),
                    date_of_birth: chrono::NaiveDate::from_ymd_opt(1980, 2, 3).unwrap(),
                    gender: Gender::Female,
                    contact_number: "555".into(),
                    email: String::new(),
                    address: String::new(),
                    medical_history: String::new(),
                    user: Some(user),
                };
                let p1 = patients::create(c, &patient(pat.id))?.id;
                let p2 = patients::create(c, &patient(other.id))?.id;
                let m1 = mappings::create(
                    c,
                    &NewMapping {
                        doctor: d1,
                        patient: p1,
                        reason_for_assignment: String::new(),
                        is_active: true,
                    },
                    Scope::All,
                    admin.id,
                )?
                .id;
                let start = Utc::now() + Duration::days(30);
                let book = |c: &mut _, doctor, patient, start| {
                    appointments::create(
                        c,
                        &NewAppointment {
                            doctor,
                            patient,
                            start,
                            duration_minutes: 30,
                            reason: String::new(),
                            status: healthcare_domain::AppointmentStatus::Scheduled,
                        },
                        Scope::All,
                        admin.id,
                    )
                };
                let a1 = book(c, d1, p1, start)?.id;
                let a2 = book(c, d2, p2, start)?.id;
                Ok((
                    vec![
                        (As::Admin, admin),
                        (As::Staff, staff),
                        (As::Doctor, doc),
                        (As::Patient, pat),
                    ],
                    Ids {
                        d1: d1.0,
                        d2: d2.0,
                        p1: p1.0,
                        p2: p2.0,
                        m1: m1.0,
                        a1: a1.0,
                        a2: a2.0,
                    },
                ))
            })
            .unwrap();
        let cfg = TokenConfig {
            access_ttl: 600,
            refresh_ttl: 600,
        };
        let tokens = accounts
            .into_iter()
            .map(|(who, u)| {
                let session = healthcare_auth::Session::start(0);
                let pair = state
                    .keys
                    .issue_pair(u.id, u.role, &session, Utc::now().timestamp(), &cfg)
                    .unwrap();
                let (jti, expires) = (
                    pair.refresh_claims.jti.clone(),
                    pair.refresh_claims.expires_at(),
                );
                state
                    .db
                    .write(move |c| {
                        healthcare_persistence::tokens::start_session(
                            c,
                            &session.id,
                            u.id,
                            &jti,
                            expires,
                            Utc::now(),
                        )
                    })
                    .unwrap();
                (who, pair.access)
            })
            .collect();
        TestApp {
            _db: db,
            state,
            tokens,
            ids,
        }
    }

    async fn call(&self, who: As, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let app =
            test::init_service(App::new().app_data(self.state.clone()).configure(routes)).await;
        let mut req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(path);
        if let Some((_, t)) = self.tokens.iter().find(|(w, _)| *w == who) {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        if let Some(b) = body {
            req = req.set_json(b);
        }
        let res = test::call_service(&app, req.to_request()).await;
        let status = res.status().as_u16();
        let bytes = test::read_body(res).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn fresh(backend: &str) -> Option<TestApp> {
    let db = match backend {
        "sqlite" => TestDb::sqlite().unwrap(),
        _ => TestDb::postgres().unwrap()?,
    };
    Some(TestApp::build(db))
}

/// One row of the matrix: request, and the expected status for admin, staff, doctor, patient,
/// anonymous. Each cell runs on a fresh database.
type Row = (&'static str, String, Option<Value>, [u16; 5]);

fn matrix(i: Ids) -> Vec<Row> {
    let patient = json!({"first_name": "Z", "last_name": "Y", "date_of_birth": "1990-01-01", "gender": "O", "contact_number": "1"});
    let doctor = json!({"first_name": "Z", "last_name": "Y", "specialization": "CAR", "contact_number": "1", "email": "z@example.org", "license_number": "NEW", "hospital": "H"});
    let future = (Utc::now() + Duration::days(40)).to_rfc3339();
    vec![
        (
            "GET",
            "/api/patients/".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "POST",
            "/api/patients/".into(),
            Some(patient.clone()),
            [201, 201, 403, 201, 401],
        ),
        (
            "GET",
            format!("/api/patients/{}/", i.p1),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "GET",
            format!("/api/patients/{}/", i.p2),
            None,
            [200, 200, 404, 404, 401],
        ),
        (
            "PATCH",
            format!("/api/patients/{}/", i.p1),
            Some(json!({"address": "2 Elm St"})),
            [200, 200, 403, 200, 401],
        ),
        (
            "PATCH",
            format!("/api/patients/{}/", i.p2),
            Some(json!({"address": "2 Elm St"})),
            [200, 200, 404, 404, 401],
        ),
        (
            "DELETE",
            format!("/api/patients/{}/", i.p1),
            None,
            [409, 409, 403, 409, 401],
        ),
        (
            "DELETE",
            format!("/api/patients/{}/", i.p2),
            None,
            [409, 409, 404, 404, 401],
        ),
        (
            "GET",
            "/api/doctors/".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "POST",
            "/api/doctors/".into(),
            Some(doctor),
            [201, 201, 403, 403, 401],
        ),
        (
            "GET",
            format!("/api/doctors/{}/", i.d2),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "PATCH",
            format!("/api/doctors/{}/", i.d1),
            Some(json!({"hospital": "Mercy"})),
            [200, 200, 200, 403, 401],
        ),
        (
            "PATCH",
            format!("/api/doctors/{}/", i.d2),
            Some(json!({"hospital": "Mercy"})),
            [200, 200, 403, 403, 401],
        ),
        (
            "DELETE",
            format!("/api/doctors/{}/", i.d2),
            None,
            [409, 409, 403, 403, 401],
        ),
        (
            "GET",
            "/api/mappings/".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "POST",
            "/api/mappings/".into(),
            Some(json!({"doctor": i.d2, "patient": i.p1})),
            [201, 201, 403, 201, 401],
        ),
        (
            "POST",
            "/api/mappings/".into(),
            Some(json!({"doctor": i.d2, "patient": i.p2})),
            [201, 201, 403, 400, 401],
        ),
        (
            "GET",
            format!("/api/mappings/{}/", i.m1),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "PATCH",
            format!("/api/mappings/{}/", i.m1),
            Some(json!({"reason_for_assignment": "x"})),
            [200, 200, 403, 403, 401],
        ),
        (
            "DELETE",
            format!("/api/mappings/{}/", i.m1),
            None,
            [204, 204, 403, 403, 401],
        ),
        (
            "GET",
            format!("/api/mappings/patient/{}/", i.p1),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "GET",
            format!("/api/mappings/patient/{}/", i.p2),
            None,
            [200, 200, 404, 404, 401],
        ),
        (
            "GET",
            "/api/appointments/".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "POST",
            "/api/appointments/".into(),
            Some(json!({"doctor": i.d2, "patient": i.p1, "appointment_datetime": future})),
            [201, 201, 403, 201, 401],
        ),
        (
            "GET",
            format!("/api/appointments/{}/", i.a1),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "GET",
            format!("/api/appointments/{}/", i.a2),
            None,
            [200, 200, 404, 404, 401],
        ),
        (
            "PATCH",
            format!("/api/appointments/{}/", i.a1),
            Some(json!({"status": "COMPLETED"})),
            [200, 200, 200, 403, 401],
        ),
        (
            "PATCH",
            format!("/api/appointments/{}/", i.a1),
            Some(json!({"status": "CANCELLED"})),
            [200, 200, 200, 200, 401],
        ),
        (
            "PATCH",
            format!("/api/appointments/{}/", i.a2),
            Some(json!({"status": "CANCELLED"})),
            [200, 200, 404, 404, 401],
        ),
        (
            "DELETE",
            format!("/api/appointments/{}/", i.a1),
            None,
            [204, 204, 403, 403, 401],
        ),
        ("GET", "/api/users/".into(), None, [200, 403, 403, 403, 401]),
        (
            "POST",
            "/api/users/".into(),
            Some(json!({"username": "newbie", "password": "long enough pass", "role": "staff"})),
            [201, 403, 403, 403, 401],
        ),
        (
            "GET",
            "/api/auth/me/".into(),
            None,
            [200, 200, 200, 200, 401],
        ),
        (
            "GET",
            "/api/health/".into(),
            None,
            [200, 200, 200, 200, 200],
        ),
    ]
}

async fn run_matrix(backend: &str) {
    let Some(probe) = fresh(backend) else { return };
    let rows = matrix(probe.ids);
    drop(probe);
    let mut failures = Vec::new();
    // Cells that cannot change anything (reads, refusals) share one database; a successful
    // write gets a fresh one so it cannot disturb the cells after it.
    let shared = fresh(backend).unwrap();
    for (method, path, body, expected) in &rows {
        for (who, want) in ROLES.iter().zip(expected) {
            let writes = *method != "GET" && (200..300).contains(want);
            let own;
            let app = if writes {
                own = fresh(backend).unwrap();
                &own
            } else {
                &shared
            };
            let (got, reply) = app.call(*who, method, path, body.clone()).await;
            if got != *want {
                failures.push(format!(
                    "{who:?} {method} {path}: want {want}, got {got} {reply}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[actix_rt::test]
async fn every_endpoint_by_role_sqlite() {
    run_matrix("sqlite").await;
}

#[actix_rt::test]
async fn every_endpoint_by_role_postgres() {
    run_matrix("postgres").await;
}

/// PostgreSQL restarted under a running server: every pooled connection is dead. Reads are
/// answered all the same (a read that meets a dead connection runs again on another), and the
/// pool is healthy again for writes.
#[actix_rt::test]
async fn postgres_reads_survive_a_database_restart() {
    let Some(app) = fresh("postgres") else {
        return;
    };
    let path = format!("/api/appointments/{}/", app.ids.a1);
    for _ in 0..4 {
        assert_eq!(app.call(As::Staff, "GET", &path, None).await.0, 200);
    }
    app._db.terminate_connections().unwrap();
    for i in 0..12 {
        let (status, body) = app.call(As::Staff, "GET", &path, None).await;
        assert_eq!(status, 200, "read {i} after the restart: {body}");
    }
    let patient = json!({"first_name": "Z", "last_name": "Y", "date_of_birth": "1990-01-01", "gender": "O", "contact_number": "1"});
    assert_eq!(
        app.call(As::Staff, "POST", "/api/patients/", Some(patient))
            .await
            .0,
        201
    );
}

/// Single-record reads (appointments, patients, doctors, mappings) that wait at the same time go
/// to the database together, a batch per kind (`coalesce.rs`); each must still be answered in
/// its own caller's scope.
async fn concurrent_reads_keep_each_callers_scope(backend: &str) {
    let Some(app) = fresh(backend) else { return };
    let i = app.ids;
    let cases: Vec<(As, &str, i64, u16)> = (0..6)
        .flat_map(|_| {
            [
                (As::Admin, "appointments", i.a1, 200),
                (As::Admin, "appointments", i.a2, 200),
                (As::Staff, "appointments", i.a2, 200),
                (As::Doctor, "appointments", i.a1, 200),
                (As::Doctor, "appointments", i.a2, 404),
                (As::Patient, "appointments", i.a1, 200),
                (As::Patient, "appointments", i.a2, 404),
                (As::Admin, "appointments", i.a2 + 1000, 404),
                (As::Anonymous, "appointments", i.a1, 401),
                (As::Admin, "patients", i.p2, 200),
                (As::Doctor, "patients", i.p1, 200),
                (As::Doctor, "patients", i.p2, 404),
                (As::Patient, "patients", i.p1, 200),
                (As::Patient, "patients", i.p2, 404),
                (As::Staff, "doctors", i.d2, 200),
                (As::Patient, "doctors", i.d1, 200),
                (As::Admin, "doctors", i.d2 + 1000, 404),
                (As::Anonymous, "doctors", i.d1, 401),
                (As::Doctor, "mappings", i.m1, 200),
                (As::Patient, "mappings", i.m1, 200),
                (As::Admin, "mappings", i.m1 + 1000, 404),
            ]
        })
        .collect();
    let answers = futures_util::future::join_all(cases.iter().map(|&(who, kind, id, _)| {
        let path = format!("/api/{kind}/{id}/");
        let app = &app;
        async move { app.call(who, "GET", &path, None).await }
    }))
    .await;
    for (&(who, kind, id, want), (status, body)) in cases.iter().zip(answers) {
        assert_eq!(status, want, "{who:?} GET {kind} {id}: {body}");
        if status == 200 {
            assert_eq!(body["id"], id, "{who:?} asked for {id}, got {body}");
        }
    }
}

#[actix_rt::test]
async fn concurrent_reads_keep_each_callers_scope_sqlite() {
    concurrent_reads_keep_each_callers_scope("sqlite").await;
}

#[actix_rt::test]
async fn concurrent_reads_keep_each_callers_scope_postgres() {
    concurrent_reads_keep_each_callers_scope("postgres").await;
}

/// Two applications in one process (two databases) keep their reads apart: a batch of one
/// application's waiting reads never goes to the other's database. The same doctor differs
/// between them, and every answer must be its own application's.
async fn reads_of_two_applications_stay_apart(backend: &str) {
    let (Some(ours), Some(theirs)) = (fresh(backend), fresh(backend)) else {
        return;
    };
    let (status, body) = theirs
        .call(
            As::Admin,
            "PATCH",
            &format!("/api/doctors/{}/", theirs.ids.d2),
            Some(json!({"hospital": "Elsewhere"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let reads: Vec<(&TestApp, &str)> = (0..24)
        .flat_map(|_| [(&ours, "PPTH"), (&theirs, "Elsewhere")])
        .collect();
    let answers = futures_util::future::join_all(reads.iter().map(|&(app, _)| {
        let path = format!("/api/doctors/{}/", app.ids.d2);
        async move { app.call(As::Staff, "GET", &path, None).await }
    }))
    .await;
    for (&(_, hospital), (status, body)) in reads.iter().zip(answers) {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["hospital"], hospital, "{body}");
    }
}

#[actix_rt::test]
async fn reads_of_two_applications_stay_apart_sqlite() {
    reads_of_two_applications_stay_apart("sqlite").await;
}

#[actix_rt::test]
async fn reads_of_two_applications_stay_apart_postgres() {
    reads_of_two_applications_stay_apart("postgres").await;
}

/// A read that went alone and whose client went away while it was with the database (its
/// future dropped) still hands over: the reads that queued behind it are answered.
async fn a_dropped_read_still_hands_over(backend: &str) {
    use futures_util::FutureExt;
    let Some(app) = fresh(backend) else { return };
    let path = format!("/api/appointments/{}/", app.ids.a1);
    // Warms the token and caller caches, so the next call reaches the database read at once.
    assert_eq!(app.call(As::Admin, "GET", &path, None).await.0, 200);
    // Every connection taken: the first read leads and waits for its turn, the others queue.
    let connections = app.state.connections.acquire_many(4).await.unwrap();
    // On SQLite an audited read is a job of the writer thread: the writer is held busy too
    // (until `release` is dropped), so the reads wait there.
    let (release, held) = std::sync::mpsc::channel::<()>();
    if let Some(writer) = app.state.db.writer() {
        writer
            .submit(
                move |_| {
                    let _ = held.recv();
                    Ok(())
                },
                |_: Result<(), _>| {},
            )
            .unwrap();
    }
    let mut alone = Box::pin(app.call(As::Admin, "GET", &path, None));
    assert!(
        alone.as_mut().now_or_never().is_none(),
        "the first read is on its way"
    );
    let mut queued = Box::pin(futures_util::future::join_all(
        (0..4).map(|_| app.call(As::Admin, "GET", &path, None)),
    ));
    assert!(queued.as_mut().now_or_never().is_none(), "the others wait");
    drop(alone);
    drop(connections);
    drop(release);
    let answers = actix_rt::time::timeout(std::time::Duration::from_secs(10), queued)
        .await
        .expect("the reads queued behind a dropped one were answered");
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
    }
}

#[actix_rt::test]
async fn a_dropped_read_still_hands_over_sqlite() {
    a_dropped_read_still_hands_over("sqlite").await;
}

#[actix_rt::test]
async fn a_dropped_read_still_hands_over_postgres() {
    a_dropped_read_still_hands_over("postgres").await;
}

/// The served OpenAPI document equals the committed insta snapshot
/// (`tests/snapshots/in_process__openapi.snap`), so every change to it is deliberate and shows
/// as a readable diff. Review a change with `cargo insta review` (or accept it with
/// `INSTA_UPDATE=always cargo test -p healthcare-api --test in_process openapi_snapshot`).
#[actix_rt::test]
async fn openapi_snapshot() {
    let app = fresh("sqlite").unwrap();
    let (status, doc) = app.call(As::Anonymous, "GET", "/api/schema/", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"]
        .as_str()
        .unwrap_or_default()
        .starts_with("3.1"));
    for path in [
        "/api/patients/",
        "/api/appointments/{id}/",
        "/api/token/",
        "/api/mappings/patient/{patient_id}/",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    insta::assert_json_snapshot!("openapi", doc);
}

/// Every operation of the served document has an `operationId`, unique in the document and
/// spelled `{resource}_{action}` (lower-case words joined by `_`), and every response has a
/// non-empty `description` (docs/api.md).
#[actix_rt::test]
async fn openapi_operation_ids_and_descriptions() {
    let app = fresh("sqlite").unwrap();
    let (status, doc) = app.call(As::Anonymous, "GET", "/api/schema/", None).await;
    assert_eq!(status, 200);
    let mut problems = Vec::new();
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut operations = 0;
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let item = item.as_object().expect("path item");
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(op) = item.get(method) else {
                continue;
            };
            operations += 1;
            let here = format!("{} {path}", method.to_uppercase());
            match op["operationId"].as_str() {
                None => problems.push(format!("{here}: no operationId")),
                Some(id) => {
                    let well_formed = !id.is_empty()
                        && id.split('_').all(|word| {
                            !word.is_empty()
                                && word
                                    .chars()
                                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        });
                    if !well_formed {
                        problems.push(format!("{here}: operationId {id:?} is not snake_case"));
                    }
                    if let Some(other) = seen.insert(id.to_owned(), here.clone()) {
                        problems.push(format!("{here}: operationId {id:?} also used by {other}"));
                    }
                }
            }
            let responses = op["responses"].as_object();
            if responses.is_none_or(|r| r.is_empty()) {
                problems.push(format!("{here}: no responses"));
            }
            for (code, response) in responses.into_iter().flatten() {
                let described = response["description"]
                    .as_str()
                    .is_some_and(|d| !d.trim().is_empty());
                if !described {
                    problems.push(format!("{here} {code}: response without a description"));
                }
            }
        }
    }
    assert!(
        operations > 30,
        "only {operations} operations in the document"
    );
    // One handler, two paths: each its own operation.
    assert_eq!(
        doc["paths"]["/api/auth/"]["post"]["operationId"],
        "auth_register_seed"
    );
    assert_eq!(
        doc["paths"]["/api/auth/register/"]["post"]["operationId"],
        "auth_register"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
