//! The audit trail as requests record it, against the real binary on SQLite and PostgreSQL.
//!
//! `walk`: every operation of the served OpenAPI document (path x method) is called by every
//! role (anonymous, admin, staff, doctor, patient) with real ids and plausible bodies, and after
//! each request the rows of `audit_events` with the answer's `X-Request-Id` are read from the
//! database: an audited operation left exactly one, with the action, resource, status, actor,
//! resource id and patients this file's own table ([`EXPECTED`], independent of
//! `audit::RULES`) and the answer say; an operation that is not audited left none. An operation
//! of the document missing from the table fails the test, so a new endpoint cannot be left out.
//!
//! `access_log`: `GET /api/patients/{id}/access-log/` lists the answered requests that touched
//! the record, newest first, with the client address for staff only; a doctor gets 403, another
//! patient 404, and refused requests never appear in it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use diesel::prelude::*;
use healthcare_persistence::on_backend;
use healthcare_persistence::schema::audit_events::dsl;
use healthcare_testing::{App, Client, Reply, TestApp};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const PW: &str = "correct horse battery";

/// Where an event's `resource_id` comes from.
#[derive(Debug, Clone, Copy)]
enum Id {
    /// None (lists).
    Nothing,
    /// The path parameter of that name, when it is a positive integer.
    Path(&'static str),
    /// The `id` of the record a 2xx answer returned.
    Created,
    /// The authenticated caller (unless 401).
    Caller,
    /// The account the credentials or the token named (on a 2xx answer).
    Named,
}

/// Which patients an event names.
#[derive(Debug, Clone, Copy)]
enum Pats {
    /// None.
    Nothing,
    /// Of a 2xx list: this field of every item of the page.
    Items(&'static str),
    /// The patient of the record the path names, unless the answer is 401 or 404.
    Record,
    /// Of a 2xx create: this field of the answer.
    Created(&'static str),
    /// The path id (always, when a positive integer), plus this field of every item of a 2xx
    /// page.
    PatientPath(Option<&'static str>),
}

/// Who the event's actor is.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// The bearer of the access token, unless the answer is 401.
    Caller,
    /// The account of the credentials or the refresh token, on a 2xx answer.
    Named,
    /// Nobody (a public route that authenticates no one).
    Nobody,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    action: &'static str,
    /// The action of a non-2xx answer.
    refused: &'static str,
    resource: &'static str,
    id: Id,
    patients: Pats,
    actor: Who,
}

const fn ev(action: &'static str, resource: &'static str, id: Id, patients: Pats) -> Option<Event> {
    Some(Event {
        action,
        refused: action,
        resource,
        id,
        patients,
        actor: Who::Caller,
    })
}

const fn public(action: &'static str, refused: &'static str, id: Id, actor: Who) -> Option<Event> {
    Some(Event {
        action,
        refused,
        resource: "user",
        id,
        patients: Pats::Nothing,
        actor,
    })
}

use Id::{Caller, Created, Named, Nothing as NoId, Path};
use Pats::{Items, Nothing as NoPatients, PatientPath, Record};

/// Every operation of the document and the event its requests record (`None`: not audited).
const EXPECTED: &[(&str, Option<Event>)] = &[
    ("patients_list", ev("list", "patient", NoId, Items("id"))),
    (
        "patients_create",
        ev("create", "patient", Created, Pats::Created("id")),
    ),
    ("patients_get", ev("read", "patient", Path("id"), Record)),
    (
        "patients_update",
        ev("update", "patient", Path("id"), Record),
    ),
    (
        "patients_archive",
        ev("archive", "patient", Path("id"), Record),
    ),
    (
        "patients_access_log",
        ev("list", "audit", NoId, PatientPath(None)),
    ),
    (
        "appointments_list",
        ev("list", "appointment", NoId, Items("patient")),
    ),
    (
        "appointments_create",
        ev("create", "appointment", Created, Pats::Created("patient")),
    ),
    (
        "appointments_get",
        ev("read", "appointment", Path("id"), Record),
    ),
    (
        "series_create",
        ev("create", "appointment", NoId, Pats::Created("patient")),
    ),
    (
        "series_get",
        ev("read", "appointment", NoId, Pats::Created("patient")),
    ),
    (
        "series_update",
        ev("update", "appointment", NoId, Pats::Created("patient")),
    ),
    (
        "appointments_update",
        ev("update", "appointment", Path("id"), Record),
    ),
    (
        "appointments_archive",
        ev("archive", "appointment", Path("id"), Record),
    ),
    (
        "mappings_list",
        ev("list", "mapping", NoId, Items("patient")),
    ),
    (
        "mappings_create",
        ev("create", "mapping", Created, Pats::Created("patient")),
    ),
    ("mappings_get", ev("read", "mapping", Path("id"), Record)),
    (
        "mappings_update",
        ev("update", "mapping", Path("id"), Record),
    ),
    (
        "mappings_deactivate",
        ev("archive", "mapping", Path("id"), Record),
    ),
    (
        "mappings_of_patient",
        ev("list", "mapping", NoId, PatientPath(Some("patient"))),
    ),
    ("doctors_list", None),
    ("doctors_get", None),
    ("doctors_slots", None),
    (
        "doctors_create",
        ev("create", "doctor", Created, NoPatients),
    ),
    (
        "doctors_update",
        ev("update", "doctor", Path("id"), NoPatients),
    ),
    (
        "doctors_archive",
        ev("archive", "doctor", Path("id"), NoPatients),
    ),
    ("doctors_working_hours_get", None),
    (
        "doctors_working_hours_put",
        ev("update", "working_hours", Path("id"), NoPatients),
    ),
    ("doctors_time_off_list", None),
    (
        "doctors_time_off_create",
        ev("create", "time_off", Created, NoPatients),
    ),
    (
        "doctors_time_off_delete",
        ev("archive", "time_off", Path("time_off_id"), NoPatients),
    ),
    ("users_list", ev("list", "user", NoId, NoPatients)),
    ("users_get", ev("read", "user", Path("id"), NoPatients)),
    ("users_create", ev("create", "user", Created, NoPatients)),
    ("users_update", ev("update", "user", Path("id"), NoPatients)),
    (
        "auth_register",
        public("create", "create", Created, Who::Nobody),
    ),
    (
        "auth_register_seed",
        public("create", "create", Created, Who::Nobody),
    ),
    (
        "auth_token_obtain",
        public("login", "login_failed", Named, Who::Named),
    ),
    (
        "auth_token_refresh",
        public("token_refresh", "token_refresh", Named, Who::Named),
    ),
    (
        "auth_token_revoke",
        public("logout", "logout", Named, Who::Named),
    ),
    (
        "auth_password_change",
        ev("update", "user", Caller, NoPatients),
    ),
    ("auth_me", None),
    (
        "calendar_token_create",
        ev("update", "user", Caller, NoPatients),
    ),
    (
        "calendar_token_revoke",
        ev("update", "user", Caller, NoPatients),
    ),
    ("doctors_calendar", ev("list", "appointment", NoId, Record)),
    (
        "patients_calendar",
        ev("list", "appointment", NoId, PatientPath(None)),
    ),
    ("audit_list", ev("list", "audit", NoId, NoPatients)),
    ("webhooks_list", ev("list", "webhook", NoId, NoPatients)),
    (
        "webhooks_create",
        ev("create", "webhook", Created, NoPatients),
    ),
    (
        "webhooks_get",
        ev("read", "webhook", Path("id"), NoPatients),
    ),
    (
        "webhooks_update",
        ev("update", "webhook", Path("id"), NoPatients),
    ),
    (
        "webhooks_deactivate",
        ev("archive", "webhook", Path("id"), NoPatients),
    ),
    (
        "webhooks_ping",
        ev("update", "webhook", Path("id"), NoPatients),
    ),
    (
        "webhooks_rotate_secret",
        ev("update", "webhook", Path("id"), NoPatients),
    ),
    (
        "webhooks_deliveries",
        ev("list", "webhook", Path("id"), NoPatients),
    ),
    (
        "webhooks_retry",
        ev("update", "webhook", Path("id"), NoPatients),
    ),
    ("health", None),
    ("ready", None),
];

/// A caller of the walk.
struct Role {
    name: &'static str,
    client: Client,
    /// The account (none for the anonymous caller).
    user: Option<i64>,
    username: &'static str,
}

/// The records every operation can name.
struct World {
    patient_user: i64,
    /// The Doctor record linked to the doctor account.
    dr: i64,
    /// The patient account's own record, and its mapping and appointment with `dr`.
    p1: i64,
    m1: i64,
    a1: i64,
    /// A record the patient account does not own, with its own mapping and appointment (with
    /// another doctor).
    p2: i64,
    m2: i64,
    a2: i64,
    /// A webhook subscription.
    wh: i64,
    /// Another doctor, whose only appointment (`a2`) is years away.
    dr2: i64,
}

/// One request of the walk.
#[derive(Default)]
struct Req {
    /// Values of the path parameters.
    params: Vec<(&'static str, String)>,
    query: &'static str,
    body: Option<Value>,
    /// The patient of the record the path names.
    record_patient: Option<i64>,
    /// The username a login tries.
    username: Option<String>,
}

fn with(params: &[(&'static str, String)]) -> Req {
    Req {
        params: params.to_vec(),
        ..Req::default()
    }
}

fn ok(r: Reply, what: &str) -> Reply {
    assert!((200..300).contains(&r.status), "{what}: {r:?}");
    r
}

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Walk", "date_of_birth": "1980-02-03", "gender": "O",
           "contact_number": "555 0100"})
}

fn doctor_body(license: &str) -> Value {
    json!({"first_name": "Doc", "last_name": license, "specialization": "GP",
           "contact_number": "555 0101", "email": "doc@example.org", "license_number": license,
           "hospital": "General"})
}

/// A distinct future start time for the `n`th booking.
fn start(n: usize) -> String {
    format!(
        "2037-{:02}-{:02}T{:02}:00:00Z",
        1 + n / 200 % 12,
        1 + n / 8 % 25,
        8 + n % 8
    )
}

fn account(admin: &Client, anon: &Client, name: &str, role: &str) -> (i64, Client) {
    let r = admin.post(
        "/api/users/",
        json!({"username": name, "email": format!("{name}@example.org"), "password": PW, "role": role}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    (r.id(), anon.login(name, PW))
}

fn setup(app: &App) -> (Vec<Role>, World) {
    let anon = app.client();
    let admin = anon.register("admin", PW);
    let admin_user = admin.get("/api/auth/me/").id();
    let (staff_user, staff) = account(&admin, &anon, "staff", "staff");
    let (doctor_user, doctor) = account(&admin, &anon, "doctor", "doctor");
    let patient = anon.register("patient", PW);
    let patient_user = patient.get("/api/auth/me/").id();
    // A public address literal: the check of the target needs no DNS.
    let wh = ok(
        admin.post(
            "/api/webhooks/",
            json!({"url": "http://93.184.216.34/walk", "events": ["ping"]}),
        ),
        "webhook",
    )
    .id();
    let dr = ok(admin.post("/api/doctors/", doctor_body("W-1")), "dr").id();
    ok(
        admin.patch(&format!("/api/doctors/{dr}/"), json!({"user": doctor_user})),
        "link dr",
    );
    let dr2 = ok(admin.post("/api/doctors/", doctor_body("W-2")), "dr2").id();
    let p1 = ok(patient.post("/api/patients/", patient_body("Own")), "p1").id();
    let p2 = ok(staff.post("/api/patients/", patient_body("Other")), "p2").id();
    let m1 = ok(
        admin.post("/api/mappings/", json!({"doctor": dr, "patient": p1})),
        "m1",
    )
    .id();
    let m2 = ok(
        admin.post("/api/mappings/", json!({"doctor": dr2, "patient": p2})),
        "m2",
    )
    .id();
    let a1 = ok(
        patient.post(
            "/api/appointments/",
            json!({"doctor": dr, "patient": p1, "appointment_datetime": "2036-06-02T09:00:00Z"}),
        ),
        "a1",
    )
    .id();
    let a2 = ok(
        admin.post(
            "/api/appointments/",
            json!({"doctor": dr2, "patient": p2, "appointment_datetime": "2036-06-02T09:00:00Z"}),
        ),
        "a2",
    )
    .id();
    // The one appointment inside the calendar feeds' window (a year ahead): `dr` with `p1`.
    let soon = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    ok(
        admin.post(
            "/api/appointments/",
            json!({"doctor": dr, "patient": p1, "appointment_datetime": format!("{soon}T09:00:00Z")}),
        ),
        "a3",
    );
    let roles = vec![
        Role {
            name: "anonymous",
            client: anon,
            user: None,
            username: "nobody",
        },
        Role {
            name: "admin",
            client: admin,
            user: Some(admin_user),
            username: "admin",
        },
        Role {
            name: "staff",
            client: staff,
            user: Some(staff_user),
            username: "staff",
        },
        Role {
            name: "doctor",
            client: doctor,
            user: Some(doctor_user),
            username: "doctor",
        },
        Role {
            name: "patient",
            client: patient,
            user: Some(patient_user),
            username: "patient",
        },
    ];
    let world = World {
        patient_user,
        dr,
        p1,
        m1,
        a1,
        p2,
        m2,
        a2,
        wh,
        dr2,
    };
    (roles, world)
}

/// A fresh refresh token of `role`'s account (a login of its own, outside the walk).
fn refresh_token(anon: &Client, role: &Role) -> String {
    if role.user.is_none() {
        return "not-a-refresh-token".into();
    }
    let r = anon.post(
        "/api/token/",
        json!({"username": role.username, "password": PW}),
    );
    assert_eq!(r.status, 200, "login {}: {r:?}", role.username);
    r.body["refresh"].as_str().expect("refresh").to_owned()
}

/// The requests `role` sends to operation `op`; `n` is unique per call (for names and times).
/// Records a request may destroy are made fresh for it, by the admin.
fn plan(op: &str, role: &Role, w: &World, admin: &Client, anon: &Client, n: usize) -> Vec<Req> {
    let s = |v: i64| v.to_string();
    let who = role.name;
    // One-record reads: the caller's own record, someone else's, and an id that is no id.
    let reads = |p1_rec: i64, p2_rec: i64| {
        vec![
            Req {
                record_patient: Some(w.p1),
                ..with(&[("id", s(p1_rec))])
            },
            Req {
                record_patient: Some(w.p2),
                ..with(&[("id", s(p2_rec))])
            },
            with(&[("id", "x".into())]),
        ]
    };
    match op {
        "patients_list" | "appointments_list" | "mappings_list" | "users_list" | "audit_list"
        | "webhooks_list" | "doctors_list" | "auth_me" | "health" | "ready" => {
            vec![Req::default()]
        }
        "webhooks_create" => vec![Req {
            body: Some(json!({"url": "http://93.184.216.34/walk", "events": ["ping"]})),
            ..Req::default()
        }],
        "webhooks_get"
        | "webhooks_deactivate"
        | "webhooks_ping"
        | "webhooks_rotate_secret"
        | "webhooks_deliveries" => vec![with(&[("id", s(w.wh))]), with(&[("id", "x".into())])],
        "webhooks_update" => vec![Req {
            body: Some(json!({"description": format!("walk {n}")})),
            ..with(&[("id", s(w.wh))])
        }],
        "webhooks_retry" => vec![with(&[("id", s(w.wh)), ("delivery_id", "1".into())])],
        "patients_create" => vec![Req {
            body: Some(patient_body(&format!("Created{n}"))),
            ..Req::default()
        }],
        "patients_get" => reads(w.p1, w.p2),
        "patients_update" => vec![Req {
            body: Some(json!({"contact_number": format!("555 {n:04}")})),
            record_patient: Some(w.p1),
            ..with(&[("id", s(w.p1))])
        }],
        "patients_archive" => {
            let fresh = ok(
                admin.post(
                    "/api/patients/",
                    json!({"first_name": "Gone", "last_name": "Walk", "date_of_birth": "1990-01-01",
                           "gender": "M", "contact_number": "555 0102", "user": w.patient_user}),
                ),
                "fresh patient",
            )
            .id();
            vec![Req {
                record_patient: Some(fresh),
                ..with(&[("id", s(fresh))])
            }]
        }
        "patients_access_log" => vec![
            with(&[("id", s(w.p1))]),
            with(&[("id", s(w.p2))]),
            with(&[("id", "0".into())]),
        ],
        "appointments_create" => vec![Req {
            body: Some(
                json!({"doctor": w.dr, "patient": w.p1, "appointment_datetime": start(n), "reason": who}),
            ),
            ..Req::default()
        }],
        "appointments_get" => reads(w.a1, w.a2),
        "series_create" => vec![
            Req {
                body: Some(
                    json!({"doctor": w.dr, "patient": w.p1, "appointment_datetime": start(n),
                              "rrule": "FREQ=YEARLY;INTERVAL=1;COUNT=1", "reason": who}),
                ),
                ..Req::default()
            },
            Req {
                body: Some(
                    json!({"doctor": w.dr, "patient": w.p1, "appointment_datetime": start(n),
                              "rrule": "FREQ=MONTHLY;COUNT=1", "reason": who}),
                ),
                ..Req::default()
            },
        ],
        "series_get" => {
            let fresh = ok(
                admin.post(
                    "/api/appointment-series/",
                    json!({"doctor": w.dr, "patient": w.p1, "appointment_datetime": start(n),
                           "rrule": "FREQ=MONTHLY;COUNT=1"}),
                ),
                "fresh series",
            )
            .id();
            vec![with(&[("id", s(fresh))]), with(&[("id", "x".into())])]
        }
        "series_update" => {
            let fresh = ok(
                admin.post(
                    "/api/appointment-series/",
                    json!({"doctor": w.dr, "patient": w.p1, "appointment_datetime": start(n),
                           "rrule": "FREQ=MONTHLY;COUNT=1"}),
                ),
                "fresh series",
            );
            let occurrence = fresh.body["created"][0]["id"].clone();
            vec![
                Req {
                    body: Some(json!({"scope": "this", "occurrence": occurrence, "reason": who})),
                    ..with(&[("id", s(fresh.id()))])
                },
                Req {
                    body: Some(json!({"scope": "all", "reason": who})),
                    ..with(&[("id", "x".into())])
                },
            ]
        }
        "appointments_update" => vec![Req {
            body: Some(json!({"reason": format!("changed by {who}")})),
            record_patient: Some(w.p1),
            ..with(&[("id", s(w.a1))])
        }],
        "appointments_archive" => {
            let fresh = ok(
                admin.post(
                    "/api/appointments/",
                    json!({"doctor": w.dr, "patient": w.p1, "appointment_datetime": start(n)}),
                ),
                "fresh appointment",
            )
            .id();
            vec![Req {
                record_patient: Some(w.p1),
                ..with(&[("id", s(fresh))])
            }]
        }
        "mappings_create" => {
            let doctor = ok(
                admin.post("/api/doctors/", doctor_body(&format!("MC-{n}"))),
                "fresh doctor",
            )
            .id();
            // And a pair whose mapping the admin deactivated: a reactivation (200) where allowed.
            let again = ok(
                admin.post("/api/doctors/", doctor_body(&format!("MR-{n}"))),
                "fresh doctor",
            )
            .id();
            let old = ok(
                admin.post("/api/mappings/", json!({"doctor": again, "patient": w.p1})),
                "fresh mapping",
            )
            .id();
            ok(admin.delete(&format!("/api/mappings/{old}/")), "deactivate");
            vec![
                Req {
                    body: Some(
                        json!({"doctor": doctor, "patient": w.p1, "reason_for_assignment": who}),
                    ),
                    ..Req::default()
                },
                Req {
                    body: Some(json!({"doctor": again, "patient": w.p1})),
                    ..Req::default()
                },
            ]
        }
        "mappings_get" => reads(w.m1, w.m2),
        "mappings_update" => vec![Req {
            body: Some(json!({"reason_for_assignment": format!("changed by {who}")})),
            record_patient: Some(w.p1),
            ..with(&[("id", s(w.m1))])
        }],
        "mappings_deactivate" => {
            let doctor = ok(
                admin.post("/api/doctors/", doctor_body(&format!("MD-{n}"))),
                "fresh doctor",
            )
            .id();
            let fresh = ok(
                admin.post("/api/mappings/", json!({"doctor": doctor, "patient": w.p1})),
                "fresh mapping",
            )
            .id();
            vec![Req {
                record_patient: Some(w.p1),
                ..with(&[("id", s(fresh))])
            }]
        }
        "mappings_of_patient" => vec![
            with(&[("patient_id", s(w.p1))]),
            with(&[("patient_id", s(w.p2))]),
            with(&[("patient_id", "x".into())]),
        ],
        "doctors_get" | "doctors_working_hours_get" | "doctors_time_off_list" => {
            vec![with(&[("id", s(w.dr))])]
        }
        "doctors_slots" => vec![Req {
            query: "?date_from=2037-01-05&date_to=2037-01-06",
            ..with(&[("id", s(w.dr))])
        }],
        "doctors_create" => vec![Req {
            body: Some(doctor_body(&format!("DC-{n}"))),
            ..Req::default()
        }],
        "doctors_update" => vec![Req {
            body: Some(json!({"hospital": format!("Hospital {n}")})),
            ..with(&[("id", s(w.dr))])
        }],
        "doctors_archive" => {
            let fresh = ok(
                admin.post("/api/doctors/", doctor_body(&format!("DA-{n}"))),
                "fresh doctor",
            )
            .id();
            vec![with(&[("id", s(fresh))])]
        }
        "doctors_working_hours_put" => vec![Req {
            body: Some(json!({"timezone": "UTC", "weekly": []})),
            ..with(&[("id", s(w.dr))])
        }],
        "doctors_time_off_create" => vec![Req {
            body: Some(
                json!({"start": format!("2041-01-{:02}T00:00:00Z", 1 + n % 28),
                              "end": format!("2041-01-{:02}T06:00:00Z", 1 + n % 28),
                              "reason": who}),
            ),
            ..with(&[("id", s(w.dr))])
        }],
        "doctors_time_off_delete" => {
            let day = 1 + n % 28;
            let fresh = ok(
                admin.post(
                    &format!("/api/doctors/{}/time-off/", w.dr),
                    json!({"start": format!("2042-02-{day:02}T00:00:00Z"),
                           "end": format!("2042-02-{day:02}T06:00:00Z")}),
                ),
                "fresh time off",
            )
            .id();
            vec![with(&[("id", s(w.dr)), ("time_off_id", s(fresh))])]
        }
        "users_get" => vec![
            with(&[("id", s(w.patient_user))]),
            with(&[("id", "-3".into())]),
        ],
        "users_create" => vec![Req {
            body: Some(
                json!({"username": format!("made{n}"), "email": format!("made{n}@example.org"),
                              "password": PW, "role": "patient"}),
            ),
            ..Req::default()
        }],
        "users_update" => vec![Req {
            body: Some(json!({"email": format!("patient{n}@example.org")})),
            ..with(&[("id", s(w.patient_user))])
        }],
        "auth_register" | "auth_register_seed" => vec![Req {
            body: Some(
                json!({"username": format!("reg{n}"), "email": format!("reg{n}@example.org"),
                              "password": PW}),
            ),
            ..Req::default()
        }],
        "auth_token_obtain" => {
            // The anonymous caller tries the patient's name with a wrong password.
            let (username, password) = match role.user {
                Some(_) => (role.username, PW),
                None => ("patient", "not the password"),
            };
            vec![Req {
                body: Some(json!({"username": username, "password": password})),
                username: Some(username.to_owned()),
                ..Req::default()
            }]
        }
        "auth_token_refresh" | "auth_token_revoke" => vec![Req {
            body: Some(json!({"refresh": refresh_token(anon, role)})),
            ..Req::default()
        }],
        "calendar_token_create" | "calendar_token_revoke" => vec![Req::default()],
        // A doctor's feed names the patients of the appointments in it: `p1` in `dr`'s (every
        // role that may read it sees that appointment), nobody in `dr2`'s (its one appointment
        // is years away). A patient's feed names its patient.
        "doctors_calendar" => vec![
            Req {
                record_patient: Some(w.p1),
                ..with(&[("id", s(w.dr))])
            },
            with(&[("id", s(w.dr2))]),
        ],
        "patients_calendar" => vec![with(&[("id", s(w.p1))]), with(&[("id", s(w.p2))])],
        "auth_password_change" => vec![Req {
            body: Some(
                json!({"old_password": "not the password", "new_password": "a brand new password"}),
            ),
            ..Req::default()
        }],
        other => panic!("the walk has no request for operation {other}"),
    }
}

/// One row of `audit_events`, the columns the walk checks.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
struct Row {
    action: String,
    resource: String,
    resource_id: Option<i64>,
    actor: Option<i64>,
    actor_role: Option<String>,
    attempted_username: Option<String>,
    patients: String,
    status: i32,
}

fn events_of(app: &App, request_id: &str) -> Vec<Row> {
    let rid = request_id.to_owned();
    app.db
        .db
        .read(move |c| {
            Ok(on_backend!(c, |c| dsl::audit_events
                .filter(dsl::request_id.eq(&rid))
                .select((
                    dsl::action,
                    dsl::resource,
                    dsl::resource_id,
                    dsl::actor,
                    dsl::actor_role,
                    dsl::attempted_username,
                    dsl::patients,
                    dsl::status,
                ))
                .load::<Row>(c))?)
        })
        .expect("read audit_events")
}

/// The stored form of a patient list: sorted, without duplicates, a JSON array.
fn patients_text(ids: impl IntoIterator<Item = i64>) -> String {
    let ids: BTreeSet<i64> = ids.into_iter().collect();
    serde_json::to_string(&ids.into_iter().collect::<Vec<_>>()).unwrap()
}

fn positive(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The values of `field` in every item of a list answer.
fn items(reply: &Reply, field: &str) -> Vec<i64> {
    reply
        .body
        .as_array()
        .unwrap_or_else(|| panic!("a list answer is an array: {reply:?}"))
        .iter()
        .map(|item| {
            item[field]
                .as_i64()
                .unwrap_or_else(|| panic!("no {field} in {item}"))
        })
        .collect()
}

/// The row the request should have left.
fn expected_row(e: &Event, role: &Role, req: &Req, reply: &Reply) -> Row {
    let status = reply.status;
    let answered = (200..300).contains(&status);
    let param = |name: &str| {
        req.params
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| positive(v))
    };
    let resource_id = match e.id {
        Id::Nothing => None,
        Id::Path(name) => param(name),
        Id::Created => answered.then(|| reply.id()),
        Id::Caller => role.user.filter(|_| status != 401),
        Id::Named => role.user.filter(|_| answered),
    };
    let patients: Vec<i64> = match e.patients {
        Pats::Nothing => Vec::new(),
        Pats::Items(field) if answered => items(reply, field),
        Pats::Items(_) => Vec::new(),
        Pats::Record if status == 401 || status == 404 => Vec::new(),
        Pats::Record => req.record_patient.into_iter().collect(),
        Pats::Created(field) if answered => vec![reply.body[field]
            .as_i64()
            .unwrap_or_else(|| panic!("no {field} in {reply:?}"))],
        Pats::Created(_) => Vec::new(),
        Pats::PatientPath(field) => {
            let mut ids: Vec<i64> = ["id", "patient_id"]
                .iter()
                .filter_map(|name| param(name))
                .collect();
            if let (Some(field), true) = (field, answered) {
                ids.extend(items(reply, field));
            }
            ids
        }
    };
    let actor = match e.actor {
        Who::Caller => role.user.filter(|_| status != 401),
        Who::Named => role.user.filter(|_| answered),
        Who::Nobody => None,
    };
    Row {
        action: (if answered { e.action } else { e.refused }).to_owned(),
        resource: e.resource.to_owned(),
        resource_id,
        actor,
        actor_role: actor.map(|_| role.name.to_owned()),
        attempted_username: if answered { None } else { req.username.clone() },
        patients: patients_text(patients),
        status: i32::from(status),
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn walk(backend: &str) {
    let Some(app) = TestApp::on(backend)
        .env("HEALTHCARE_REGISTRATIONS_PER_ADDRESS", "1000")
        .start()
    else {
        return;
    };
    let (roles, world) = setup(&app);
    let anon = roles[0].client.clone();
    let admin = roles[1].client.clone();

    let schema = anon.get("/api/schema/");
    assert_eq!(schema.status, 200, "{schema:?}");
    assert!(
        events_of(&app, schema.header("x-request-id").expect("request id")).is_empty(),
        "the schema is not audited"
    );
    let mut operations: Vec<(String, &'static str, String)> = Vec::new();
    for (path, item) in schema.body["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let id = op["operationId"].as_str().expect("operationId");
                operations.push((path.clone(), method, id.to_owned()));
            }
        }
    }
    let unknown: Vec<&str> = operations
        .iter()
        .map(|(_, _, id)| id.as_str())
        .filter(|id| !EXPECTED.iter().any(|(name, _)| name == id))
        .collect();
    assert!(
        unknown.is_empty(),
        "operations of the document this test's table does not know (add them to EXPECTED, \
         audited or not): {unknown:?}"
    );
    let stale: Vec<&str> = EXPECTED
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !operations.iter().any(|(_, _, id)| id == name))
        .collect();
    assert!(stale.is_empty(), "not in the document: {stale:?}");

    let (mut requests, mut checked, mut silent, mut n) = (0, 0, 0, 0);
    let mut failures: Vec<String> = Vec::new();
    let mut statuses: std::collections::BTreeMap<u16, usize> = Default::default();
    for (path, method, op) in &operations {
        let expected = EXPECTED
            .iter()
            .find(|(name, _)| name == op)
            .map(|(_, e)| *e)
            .expect("checked above");
        for role in &roles {
            n += 1;
            for req in plan(op, role, &world, &admin, &anon, n) {
                n += 1;
                let mut url = path.clone();
                for (name, value) in &req.params {
                    url = url.replace(&format!("{{{name}}}"), value);
                }
                assert!(!url.contains('{'), "{op}: unfilled path {url}");
                url.push_str(req.query);
                let verb = method.to_uppercase();
                let reply = role.client.send(&verb, &url, req.body.as_ref());
                requests += 1;
                *statuses.entry(reply.status).or_insert(0) += 1;
                let what = format!("{} {verb} {url} ({op}) -> {}", role.name, reply.status);
                assert!(
                    reply.status < 500,
                    "{what}: the server failed: {:?}",
                    reply.body
                );
                let documented = schema.body["paths"][path][*method]["responses"]
                    .get(reply.status.to_string())
                    .is_some();
                assert!(documented, "{what}: status not in the document");
                let rid = reply
                    .header("x-request-id")
                    .unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
                let rows = events_of(&app, rid);
                match &expected {
                    None => {
                        silent += 1;
                        if !rows.is_empty() {
                            failures.push(format!("{what}: not audited, but recorded {rows:?}"));
                        }
                    }
                    Some(e) => {
                        checked += 1;
                        let want = expected_row(e, role, &req, &reply);
                        if rows.as_slice() != [want.clone()] {
                            failures.push(format!(
                                "{what}:\n    expected [{want:?}]\n    recorded {rows:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "audit_walk[{backend}]: {} operations x {} roles: {requests} requests walked, {checked} \
         audited events checked, {silent} unaudited requests left no event; answers by status: \
         {statuses:?}",
        operations.len(),
        roles.len()
    );
    assert!(
        failures.is_empty(),
        "audit_walk[{backend}]: {} of {requests} requests recorded the wrong events:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn walk_sqlite() {
    walk("sqlite");
}

#[test]
fn walk_postgres() {
    walk("postgres");
}

/// The access log of `patient`'s record.
fn access_log_of(client: &Client, patient: i64) -> Reply {
    client.get(&format!("/api/patients/{patient}/access-log/"))
}

fn access_log(backend: &str) {
    let Some(app) = TestApp::on(backend).start() else {
        return;
    };
    let anon = app.client();
    let admin = anon.register("admin", PW);
    let (_, staff) = account(&admin, &anon, "staff", "staff");
    let (doctor_user, doctor) = account(&admin, &anon, "doctor", "doctor");
    let patient = anon.register("patient", PW);
    let other = anon.register("other", PW);
    let dr = ok(admin.post("/api/doctors/", doctor_body("AL-1")), "dr").id();
    ok(
        admin.patch(&format!("/api/doctors/{dr}/"), json!({"user": doctor_user})),
        "link dr",
    );
    let p1 = ok(patient.post("/api/patients/", patient_body("Own")), "p1").id();
    ok(other.post("/api/patients/", patient_body("Other")), "p2");
    let m = ok(
        admin.post("/api/mappings/", json!({"doctor": dr, "patient": p1})),
        "mapping",
    )
    .id();

    ok(patient.get(&format!("/api/patients/{p1}/")), "own read");
    ok(staff.get(&format!("/api/patients/{p1}/")), "staff read");
    // Refused requests that touch the record: none of them is an access.
    let r = doctor.patch(&format!("/api/patients/{p1}/"), json!({"first_name": "X"}));
    assert_eq!(r.status, 403, "a doctor does not edit patients: {r:?}");
    let r = access_log_of(&doctor, p1);
    assert_eq!(r.status, 403, "a doctor does not read access logs: {r:?}");
    let r = access_log_of(&other, p1);
    assert_eq!(
        r.status, 404,
        "another patient does not see the record: {r:?}"
    );
    let r = access_log_of(&anon, p1);
    assert_eq!(r.status, 401, "{r:?}");

    // (username, role, action, resource, resource_id), newest first.
    let earlier = vec![
        json!(["staff", "staff", "read", "patient", p1]),
        json!(["patient", "patient", "read", "patient", p1]),
        json!(["admin", "admin", "create", "mapping", m]),
        json!(["patient", "patient", "create", "patient", p1]),
    ];
    let entries = |r: &Reply| -> Vec<Value> {
        r.body
            .as_array()
            .unwrap_or_else(|| panic!("an array: {r:?}"))
            .iter()
            .map(|e| {
                json!([
                    e["actor_username"],
                    e["actor_role"],
                    e["action"],
                    e["resource"],
                    e["resource_id"]
                ])
            })
            .collect()
    };
    let own = access_log_of(&patient, p1);
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(entries(&own), earlier, "{:#}", own.body);
    assert_eq!(own.header("x-total-count"), Some("4"), "{own:?}");
    for e in own.body.as_array().unwrap() {
        assert!(e.get("client").is_none(), "no address for the patient: {e}");
        assert!(e["at"].is_string(), "{e}");
    }
    let ats: Vec<&str> = own
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap())
        .collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );

    // Staff see the addresses, and the patient's own look at the log is an access now.
    let seen = access_log_of(&staff, p1);
    assert_eq!(seen.status, 200, "{seen:?}");
    let mut expected = vec![json!(["patient", "patient", "list", "audit", null])];
    expected.extend(earlier);
    assert_eq!(entries(&seen), expected, "{:#}", seen.body);
    for e in seen.body.as_array().unwrap() {
        assert_eq!(
            e["client"],
            json!("127.0.0.1"),
            "staff see the address: {e}"
        );
    }
    eprintln!(
        "audit_walk access_log[{backend}]: {} entries as expected",
        expected.len()
    );
}

#[test]
fn access_log_sqlite() {
    access_log("sqlite");
}

#[test]
fn access_log_postgres() {
    access_log("postgres");
}
