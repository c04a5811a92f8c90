//! Safe retries against the real binary, on SQLite and on PostgreSQL: `Idempotency-Key` on
//! authenticated POST and PATCH (one execution, later answers replayed with
//! `Idempotent-Replayed: true`), strong `ETag`s with `If-Match` / `If-None-Match` (412, 304, and
//! 428 under `HEALTHCARE_REQUIRE_IF_MATCH`), tentative bookings (`PENDING` holds that expire after
//! `HEALTHCARE_HOLD_SECONDS`), and 409 conflicts that name what they hit.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{DateTime, FixedOffset, Utc};
use healthcare_testing::{http_test, Client, Reply, Server, TestApp};
use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
const DOCTOR_CONFLICT: &str = "Doctor already has an appointment at this time.";
const PATIENT_CONFLICT: &str = "Patient already has an appointment at this time.";
const STALE: &str = "The resource has changed (ETag mismatch).";
const HOLD_EXPIRED: &str = "This hold has expired.";
/// `HEALTHCARE_HOLD_SECONDS` of the hold tests.
const HOLD_SECONDS: u64 = 3;

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Retry", "date_of_birth": "1985-02-03", "gender": "O",
           "contact_number": "555 0100"})
}

fn doctor_body(license: &str) -> Value {
    json!({"first_name": "Grace", "last_name": "Retry", "specialization": "GP",
           "contact_number": "555 0101", "email": "retry@example.org", "license_number": license,
           "hospital": "General"})
}

fn booking(doctor: i64, patient: i64, at: &str) -> Value {
    json!({"doctor": doctor, "patient": patient, "appointment_datetime": at, "reason": "retry"})
}

fn hold(doctor: i64, patient: i64, at: &str) -> Value {
    json!({"doctor": doctor, "patient": patient, "appointment_datetime": at, "status": "PENDING"})
}

/// POSTs `body` to `path` and expects 201; the new id.
fn create(client: &Client, path: &str, body: Value) -> i64 {
    let r = client.post(path, body);
    assert_eq!(r.status, 201, "POST {path}: {r:?}");
    r.id()
}

/// The same client, sending `Idempotency-Key: key`.
fn keyed(client: &Client, key: &str) -> Client {
    client.with_header("Idempotency-Key", key)
}

/// Whether the answer is a replay (`Idempotent-Replayed: true`).
fn replayed(reply: &Reply) -> bool {
    reply.header("idempotent-replayed") == Some("true")
}

/// The answer's strong ETag, checked to be a number in double quotes.
fn etag(reply: &Reply) -> String {
    let tag = reply
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {reply:?}"))
        .to_owned();
    let version = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a strong ETag in double quotes: {tag:?}"));
    assert!(
        !version.is_empty() && version.parse::<u64>().is_ok(),
        "not \"<version>\": {tag:?}"
    );
    tag
}

/// The ids of a list answer.
fn ids(reply: &Reply) -> Vec<i64> {
    assert_eq!(reply.status, 200, "{reply:?}");
    reply
        .body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {reply:?}"))
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

/// A date-time string of a body, parsed as RFC 3339.
fn instant(value: &Value) -> DateTime<FixedOffset> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a date-time string: {value}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("not RFC 3339: {text:?}: {e}"))
}

/// Checks a booking conflict's 409: the seed's message, and one entry of `conflicts` naming
/// `with` and the other appointment's time, with its id exactly when `id` is `Some`.
fn assert_conflict(reply: &Reply, message: &str, with: &str, other: &Reply, id: Option<i64>) {
    assert_eq!(reply.status, 409, "{reply:?}");
    assert_eq!(
        reply.body["non_field_errors"],
        json!([message]),
        "{reply:?}"
    );
    let conflicts = reply.body["conflicts"]
        .as_array()
        .unwrap_or_else(|| panic!("no conflicts list: {reply:?}"));
    let hit = conflicts
        .iter()
        .find(|c| c["with"] == with)
        .unwrap_or_else(|| panic!("no conflict with the {with}: {reply:?}"));
    assert_eq!(
        instant(&hit["start"]),
        instant(&other.body["appointment_datetime"]),
        "{reply:?}"
    );
    assert_eq!(
        instant(&hit["end"]),
        instant(&other.body["end_datetime"]),
        "{reply:?}"
    );
    match id {
        Some(id) => assert_eq!(hit["id"], id, "{reply:?}"),
        None => assert!(
            hit.get("id").is_none(),
            "an id the caller may not see: {reply:?}"
        ),
    }
}

/// An admin, one doctor and `patients` patients.
fn clinic(server: &Server, patients: usize) -> (Client, i64, Vec<i64>) {
    let admin = server.client().register("admin", PW);
    let doctor = create(&admin, "/api/doctors/", doctor_body("LIC-1"));
    let patients = (0..patients)
        .map(|i| create(&admin, "/api/patients/", patient_body(&format!("P{i}"))))
        .collect();
    (admin, doctor, patients)
}

/// 50 retries of one keyed booking, released together on 50 threads and split across two server
/// processes on one database, book exactly once: every answer is the original 201, a replay of
/// it (`Idempotent-Replayed: true`, same body and `Location`), or 409 while the first is in
/// flight (never a booking conflict); the doctor has one appointment; a later retry replays the
/// 201.
fn concurrent_retries_book_once(backend: &str) {
    const RETRIES: usize = 50;
    let Some(app) = TestApp::on(backend).start() else {
        return;
    };
    let second = app.spawn();
    let server = &app.server;
    let (admin, doctor, patients) = clinic(server, 1);
    let token = admin.token.clone().unwrap();
    let body = booking(doctor, patients[0], "2035-06-01T10:00:00Z");
    let barrier = Arc::new(Barrier::new(RETRIES));
    let handles: Vec<_> = (0..RETRIES)
        .map(|i| {
            let process = if i % 2 == 0 { server } else { &second };
            let client = keyed(&process.client().with_token(&token), "book-once-1");
            let (barrier, body) = (barrier.clone(), body.clone());
            std::thread::spawn(move || {
                barrier.wait();
                client.try_send("POST", "/api/appointments/", Some(&body))
            })
        })
        .collect();
    let replies: Vec<Reply> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("transport: {e}"))
        })
        .collect();

    let mut fresh = Vec::new();
    let mut replays = Vec::new();
    let mut in_flight = 0;
    for reply in &replies {
        match reply.status {
            201 if replayed(reply) => replays.push(reply),
            201 => fresh.push(reply),
            409 => {
                assert!(
                    reply.body.get("non_field_errors").is_none()
                        && reply.body.get("conflicts").is_none(),
                    "a retry ran as a second booking instead of waiting for the first: {reply:?}"
                );
                in_flight += 1;
            }
            _ => panic!("unexpected answer to a retry: {reply:?}"),
        }
    }
    assert_eq!(
        fresh.len(),
        1,
        "exactly one retry runs ({} replays, {in_flight} in flight)",
        replays.len()
    );
    healthcare_testing::report(&format!(
        "idempotency: {RETRIES} simultaneous retries of one key: 1 x 201, {} x 201 replayed, \
         {in_flight} x 409 in flight",
        replays.len()
    ));
    let first = fresh[0];
    let id = first.id();
    let location = first.header("location").map(str::to_owned);
    assert!(location.is_some(), "201 without Location: {first:?}");
    for reply in &replays {
        assert_eq!(
            reply.body, first.body,
            "a replay differs from the first answer"
        );
        assert_eq!(reply.header("location").map(str::to_owned), location);
    }
    assert_eq!(
        ids(&admin.get(&format!("/api/appointments/?doctor={doctor}"))),
        vec![id]
    );

    // Once everything finished, a retry replays the 201.
    let again = keyed(&admin, "book-once-1").post("/api/appointments/", body);
    assert_eq!(again.status, 201, "{again:?}");
    assert!(replayed(&again), "no Idempotent-Replayed: {again:?}");
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("location").map(str::to_owned), location);
    assert_eq!(
        again.header("etag"),
        Some(etag(first).as_str()),
        "{again:?}"
    );
    assert_eq!(
        ids(&admin.get(&format!("/api/appointments/?doctor={doctor}"))),
        vec![id]
    );
}

/// What a key covers: another body or path under the same key answers 422; another account's
/// same key is its own; a keyed PATCH replays without changing anything; refusals (409, 400)
/// replay; a 403 is not stored (the same key works once the account may do it); unauthenticated
/// POSTs (register, token) ignore keys.
fn keys_scope_and_stored_answers(server: &Server) {
    let anon = server.client();
    let (admin, doctor, patients) = clinic(server, 3);
    let staff_id = create(
        &admin,
        "/api/users/",
        json!({"username": "staff", "password": PW, "role": "staff"}),
    );
    assert!(staff_id > 0);
    let staff = anon.login("staff", PW);
    let appointments = format!("/api/appointments/?doctor={doctor}");

    // The first answer under K1.
    let first = keyed(&admin, "K1").post(
        "/api/appointments/",
        booking(doctor, patients[0], "2035-07-01T10:00:00Z"),
    );
    assert_eq!(first.status, 201, "{first:?}");
    assert!(!replayed(&first), "{first:?}");
    let a = first.id();
    // K1 with another body, or on another path: 422 {"detail"}, and nothing done.
    let other_body = keyed(&admin, "K1").post(
        "/api/appointments/",
        booking(doctor, patients[0], "2035-07-01T12:00:00Z"),
    );
    assert_eq!(other_body.status, 422, "{other_body:?}");
    assert!(other_body.body["detail"].is_string(), "{other_body:?}");
    let other_path = keyed(&admin, "K1").post(
        "/api/patients/",
        booking(doctor, patients[0], "2035-07-01T10:00:00Z"),
    );
    assert_eq!(other_path.status, 422, "{other_path:?}");
    assert!(other_path.body["detail"].is_string(), "{other_path:?}");
    assert_eq!(ids(&admin.get(&appointments)), vec![a]);
    // Another account's K1 is independent.
    let theirs = keyed(&staff, "K1").post(
        "/api/appointments/",
        booking(doctor, patients[1], "2035-07-01T11:00:00Z"),
    );
    assert_eq!(theirs.status, 201, "{theirs:?}");
    assert!(!replayed(&theirs), "{theirs:?}");
    assert_ne!(theirs.id(), a);

    // A keyed PATCH replays its first answer and changes nothing more.
    let path = format!("/api/appointments/{a}/");
    let patched = keyed(&admin, "P1").patch(&path, json!({"reason": "first change"}));
    assert_eq!(patched.status, 200, "{patched:?}");
    assert!(!replayed(&patched), "{patched:?}");
    let later = admin.patch(&path, json!({"reason": "second change"}));
    assert_eq!(later.status, 200, "{later:?}");
    let replay = keyed(&admin, "P1").patch(&path, json!({"reason": "first change"}));
    assert_eq!(replay.status, 200, "{replay:?}");
    assert!(replayed(&replay), "{replay:?}");
    assert_eq!(replay.body, patched.body);
    assert_eq!(admin.get(&path).body["reason"], "second change");
    // Its ETag is the first answer's, which the later change made stale: If-Match with it
    // answers 412.
    assert_eq!(
        replay.header("etag"),
        Some(etag(&patched).as_str()),
        "{replay:?}"
    );
    let stale = admin
        .with_header("If-Match", &etag(&replay))
        .patch(&path, json!({"reason": "over the later change"}));
    assert_eq!(stale.status, 412, "{stale:?}");
    let mismatch = keyed(&admin, "P1").patch(&path, json!({"reason": "third change"}));
    assert_eq!(mismatch.status, 422, "{mismatch:?}");
    assert_eq!(admin.get(&path).body["reason"], "second change");

    // A refused booking (409) is stored: after the slot is freed, the same key still answers
    // the same 409, while a new key books it.
    let clash_body = booking(doctor, patients[2], "2035-07-01T10:15:00Z");
    let clash = keyed(&admin, "C1").post("/api/appointments/", clash_body.clone());
    assert_eq!(clash.status, 409, "{clash:?}");
    assert_eq!(clash.body["non_field_errors"], json!([DOCTOR_CONFLICT]));
    let cancelled = admin.patch(&path, json!({"status": "CANCELLED"}));
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let clash_again = keyed(&admin, "C1").post("/api/appointments/", clash_body.clone());
    assert_eq!(clash_again.status, 409, "{clash_again:?}");
    assert!(replayed(&clash_again), "{clash_again:?}");
    assert_eq!(clash_again.body, clash.body);
    let fresh_key = keyed(&admin, "C2").post("/api/appointments/", clash_body);
    assert_eq!(fresh_key.status, 201, "{fresh_key:?}");
    assert!(!replayed(&fresh_key), "{fresh_key:?}");
    // A refused body (400) is stored too.
    let invalid = keyed(&admin, "V1").post("/api/patients/", json!({"first_name": ""}));
    assert_eq!(invalid.status, 400, "{invalid:?}");
    let invalid_again = keyed(&admin, "V1").post("/api/patients/", json!({"first_name": ""}));
    assert_eq!(invalid_again.status, 400, "{invalid_again:?}");
    assert!(replayed(&invalid_again), "{invalid_again:?}");
    assert_eq!(invalid_again.body, invalid.body);
    // Two keys name no single request: 400, nothing made or stored under either.
    let twice = keyed(&keyed(&admin, "D1"), "D2").post("/api/patients/", patient_body("Twice"));
    assert_eq!(twice.status, 400, "{twice:?}");
    for key in ["D1", "D2"] {
        let alone = keyed(&admin, key).post("/api/patients/", patient_body("Twice"));
        assert_eq!(alone.status, 201, "{key}: {alone:?}");
        assert!(!replayed(&alone), "{key}: {alone:?}");
    }

    // A 403 is not stored: repeated, it is answered afresh, and once the account may create
    // doctors the same key creates one.
    let pat = anon.register("pat", PW);
    let pat_id = pat.get("/api/auth/me/").id();
    for _ in 0..2 {
        let forbidden = keyed(&pat, "F1").post("/api/doctors/", doctor_body("LIC-F1"));
        assert_eq!(forbidden.status, 403, "{forbidden:?}");
        assert!(!replayed(&forbidden), "a 403 was replayed: {forbidden:?}");
    }
    let promoted = admin.patch(&format!("/api/users/{pat_id}/"), json!({"role": "staff"}));
    assert_eq!(promoted.status, 200, "{promoted:?}");
    let now_staff = anon.login("pat", PW);
    let allowed = keyed(&now_staff, "F1").post("/api/doctors/", doctor_body("LIC-F1"));
    assert_eq!(allowed.status, 201, "{allowed:?}");
    assert!(!replayed(&allowed), "{allowed:?}");

    // Unauthenticated POSTs ignore the key: two registrations and two logins under one key.
    let anon_keyed = keyed(&anon, "R1");
    for name in ["reg1", "reg2"] {
        let registered = anon_keyed.post(
            "/api/auth/register/",
            json!({"username": name, "email": format!("{name}@example.org"), "password": PW}),
        );
        assert_eq!(registered.status, 201, "{registered:?}");
        assert!(!replayed(&registered), "{registered:?}");
        assert_eq!(registered.body["username"], name, "{registered:?}");
    }
    for name in ["reg1", "reg2"] {
        let token = anon_keyed.post("/api/token/", json!({"username": name, "password": PW}));
        assert_eq!(token.status, 200, "{token:?}");
        assert!(!replayed(&token), "{token:?}");
        let me = anon.with_token(token.body["access"].as_str().unwrap());
        assert_eq!(me.get("/api/auth/me/").body["username"], name);
    }
}

/// Strong ETags on every single resource (201, GET, PATCH), bumped by each change; 304 for a
/// current `If-None-Match`; 412 for a stale `If-Match` on PATCH and DELETE (nothing changed);
/// and two simultaneous PATCHes under one `If-Match` give one 200 and one 412, round after round.
fn etags_and_preconditions(server: &Server) {
    let (admin, doctor, patients) = clinic(server, 2);
    let (p, q) = (patients[0], patients[1]);
    let created = admin.post("/api/patients/", patient_body("Tagged"));
    assert_eq!(created.status, 201, "{created:?}");
    let tagged = format!("/api/patients/{}/", created.id());
    assert_eq!(etag(&admin.get(&tagged)), etag(&created));
    let staff = admin.post(
        "/api/users/",
        json!({"username": "staff", "password": PW, "role": "staff"}),
    );
    assert_eq!(staff.status, 201, "{staff:?}");
    etag(&staff);
    let mapping = admin.post(
        "/api/mappings/",
        json!({"doctor": doctor, "patient": p, "reason_for_assignment": "", "is_active": true}),
    );
    assert_eq!(mapping.status, 201, "{mapping:?}");
    etag(&mapping);
    let appointment = admin.post(
        "/api/appointments/",
        booking(doctor, p, "2035-08-01T10:00:00Z"),
    );
    assert_eq!(appointment.status, 201, "{appointment:?}");
    etag(&appointment);
    let webhook = admin.post(
        "/api/webhooks/",
        json!({"url": "http://93.184.216.34/hook", "events": ["ping"]}),
    );
    assert_eq!(webhook.status, 201, "{webhook:?}");
    etag(&webhook);
    let hours = format!("/api/doctors/{doctor}/working-hours/");
    let set = admin.send(
        "PUT",
        &hours,
        Some(&json!({"timezone": "UTC", "weekly": [
            {"weekday": "MON", "start": "08:00", "end": "18:00"}]})),
    );
    assert_eq!(set.status, 200, "{set:?}");

    // Every single resource: a strong ETag, and 304 with no body when it is current.
    for path in [
        format!("/api/patients/{p}/"),
        format!("/api/doctors/{doctor}/"),
        format!("/api/mappings/{}/", mapping.id()),
        format!("/api/appointments/{}/", appointment.id()),
        format!("/api/users/{}/", staff.id()),
        format!("/api/webhooks/{}/", webhook.id()),
        hours.clone(),
    ] {
        let got = admin.get(&path);
        assert_eq!(got.status, 200, "{path}: {got:?}");
        let tag = etag(&got);
        let unchanged = admin.with_header("If-None-Match", &tag).get(&path);
        assert_eq!(unchanged.status, 304, "{path}: {unchanged:?}");
        assert_eq!(unchanged.body, Value::Null, "{path}: a 304 has no body");
    }

    // A change bumps the ETag; the old one no longer matches.
    let path = format!("/api/patients/{p}/");
    let old = etag(&admin.get(&path));
    let patched = admin.patch(&path, json!({"first_name": "Changed"}));
    assert_eq!(patched.status, 200, "{patched:?}");
    let new = etag(&patched);
    assert_ne!(new, old, "a PATCH kept the ETag");
    assert_eq!(etag(&admin.get(&path)), new);
    let modified = admin.with_header("If-None-Match", &old).get(&path);
    assert_eq!(modified.status, 200, "{modified:?}");
    assert_eq!(etag(&modified), new);
    assert_eq!(modified.body["first_name"], "Changed");
    // Stale If-Match on PATCH: 412, nothing changed; the current one: 200 and a new ETag.
    let stale = admin
        .with_header("If-Match", &old)
        .patch(&path, json!({"first_name": "Lost"}));
    assert_eq!(
        (stale.status, &stale.body),
        (412, &json!({"detail": STALE})),
        "{stale:?}"
    );
    assert_eq!(admin.get(&path).body["first_name"], "Changed");
    let current = admin
        .with_header("If-Match", &new)
        .patch(&path, json!({"first_name": "Kept"}));
    assert_eq!(current.status, 200, "{current:?}");
    assert_ne!(etag(&current), new);
    assert_eq!(admin.get(&path).body["first_name"], "Kept");

    // Stale If-Match on DELETE: 412 and the record is still there; the current one deletes.
    let doomed = format!("/api/patients/{q}/");
    let before = etag(&admin.get(&doomed));
    let edited = admin.patch(&doomed, json!({"last_name": "Edited"}));
    assert_eq!(edited.status, 200, "{edited:?}");
    let deleted = admin.with_header("If-Match", &before).delete(&doomed);
    assert_eq!(
        (deleted.status, &deleted.body),
        (412, &json!({"detail": STALE})),
        "{deleted:?}"
    );
    assert_eq!(admin.get(&doomed).status, 200);
    let deleted = admin
        .with_header("If-Match", &etag(&edited))
        .delete(&doomed);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(admin.get(&doomed).status, 404);

    // Lost updates: two PATCHes under the same If-Match, released together.
    let token = admin.token.clone().unwrap();
    let path = format!("/api/appointments/{}/", appointment.id());
    let mut seen = vec![etag(&appointment)];
    for round in 0..5 {
        let tag = etag(&admin.get(&path));
        assert_eq!(
            Some(&tag),
            seen.last(),
            "round {round}: GET shows another ETag"
        );
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|n| {
                let client = server
                    .client()
                    .with_token(&token)
                    .with_header("If-Match", &tag);
                let (barrier, path) = (barrier.clone(), path.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let body = json!({"reason": format!("round {round}, writer {n}")});
                    client.try_send("PATCH", &path, Some(&body))
                })
            })
            .collect();
        let mut statuses: Vec<u16> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
            .map(|r| {
                if r.status == 412 {
                    assert_eq!(r.body, json!({"detail": STALE}));
                }
                r.status
            })
            .collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
        let after = admin.get(&path);
        assert!(
            after.body["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with(&format!("round {round}, writer "))),
            "{after:?}"
        );
        let next = etag(&after);
        assert!(
            !seen.contains(&next),
            "round {round}: the winner did not bump the ETag to a new one"
        );
        seen.push(next);
    }
}

/// With `HEALTHCARE_REQUIRE_IF_MATCH=true`, PATCH and DELETE without `If-Match` answer 428
/// `{"detail"}` and change nothing; with the current ETag they go through. Creating and reading
/// need no precondition.
fn if_match_required(server: &Server) {
    let (admin, doctor, patients) = clinic(server, 2);
    let path = format!("/api/patients/{}/", patients[0]);
    let bare = admin.patch(&path, json!({"first_name": "Unconditional"}));
    assert_eq!(bare.status, 428, "{bare:?}");
    assert!(bare.body["detail"].is_string(), "{bare:?}");
    let got = admin.get(&path);
    assert_ne!(got.body["first_name"], "Unconditional");
    let patched = admin
        .with_header("If-Match", &etag(&got))
        .patch(&path, json!({"first_name": "Conditional"}));
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.body["first_name"], "Conditional");

    let appointment = admin.post(
        "/api/appointments/",
        booking(doctor, patients[1], "2035-09-01T10:00:00Z"),
    );
    assert_eq!(appointment.status, 201, "{appointment:?}");
    let path = format!("/api/appointments/{}/", appointment.id());
    let bare = admin.patch(&path, json!({"reason": "unconditional"}));
    assert_eq!(bare.status, 428, "{bare:?}");
    assert!(bare.body["detail"].is_string(), "{bare:?}");
    let bare = admin.delete(&path);
    assert_eq!(bare.status, 428, "{bare:?}");
    assert!(bare.body["detail"].is_string(), "{bare:?}");
    assert_eq!(admin.get(&path).status, 200);
    let deleted = admin
        .with_header("If-Match", &etag(&appointment))
        .delete(&path);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(admin.get(&path).status, 404);
}

/// The time left until `at` plus a margin, or zero.
fn until(at: DateTime<FixedOffset>, margin: Duration) -> Duration {
    (at.with_timezone(&Utc) - Utc::now())
        .to_std()
        .unwrap_or_default()
        + margin
}

/// A PENDING hold (`HEALTHCARE_HOLD_SECONDS=3`) blocks the doctor and the patient (409 naming
/// it) and hides its time from the free slots; at most 3 open holds per patient; a live hold
/// confirms to SCHEDULED. Past `expires_at`, with no sweep needed, it blocks nothing: it reads
/// EXPIRED, lists leave it out unless asked, its time is free, and confirming it answers 409.
fn holds_expire(server: &Server) {
    let (admin, doctor, patients) = clinic(server, 4);
    let (p1, p2, p3) = (patients[0], patients[1], patients[2]);
    let d2 = create(&admin, "/api/doctors/", doctor_body("LIC-2"));
    let d3 = create(&admin, "/api/doctors/", doctor_body("LIC-3"));
    let all_day: Vec<Value> = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "00:00", "end": "23:59"}))
        .collect();
    let hours = admin.send(
        "PUT",
        &format!("/api/doctors/{doctor}/working-hours/"),
        Some(&json!({"timezone": "UTC", "weekly": all_day})),
    );
    assert_eq!(hours.status, 200, "{hours:?}");
    let slot = "2035-10-01T10:00:00Z";
    let free = || {
        let r = admin.get(&format!(
            "/api/doctors/{doctor}/slots/?date_from=2035-10-01&duration=30"
        ));
        assert_eq!(r.status, 200, "{r:?}");
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| instant(&s["start"]))
            .collect::<Vec<_>>()
    };
    let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap();
    assert!(free().contains(&at(slot)));

    // The hold.
    let started = Instant::now();
    let held = admin.post("/api/appointments/", hold(doctor, p1, slot));
    assert_eq!(held.status, 201, "{held:?}");
    assert_eq!(held.body["status"], "PENDING", "{held:?}");
    let expires = instant(&held.body["expires_at"]);
    let now = Utc::now();
    assert!(
        expires > now && expires <= now + chrono::Duration::seconds(HOLD_SECONDS as i64 + 2),
        "expires_at {expires} is not about {HOLD_SECONDS} s after {now}"
    );
    let h = held.id();
    let hold_path = format!("/api/appointments/{h}/");
    // It blocks the doctor and the patient like a SCHEDULED appointment, and hides its slot.
    let rival = admin.post("/api/appointments/", booking(doctor, p2, slot));
    assert_conflict(&rival, DOCTOR_CONFLICT, "doctor", &held, Some(h));
    let elsewhere = admin.post(
        "/api/appointments/",
        booking(d2, p1, "2035-10-01T10:10:00Z"),
    );
    assert_conflict(&elsewhere, PATIENT_CONFLICT, "patient", &held, Some(h));
    let slots = free();
    assert!(!slots.contains(&at(slot)), "held time offered: {slots:?}");
    assert!(slots.contains(&at("2035-10-01T10:30:00Z")), "{slots:?}");
    let pending = admin.get(&hold_path);
    assert_eq!(pending.body["status"], "PENDING");
    let pending_tag = etag(&pending);
    assert!(ids(&admin.get(&format!("/api/appointments/?doctor={doctor}"))).contains(&h));
    assert!(
        started.elapsed() < Duration::from_secs(HOLD_SECONDS),
        "too slow to check the hold before it expired ({:?}); rerun on a less loaded machine",
        started.elapsed()
    );

    // A live hold confirms.
    let other = admin.post("/api/appointments/", hold(d2, p2, "2035-10-02T09:00:00Z"));
    assert_eq!(other.status, 201, "{other:?}");
    let other_path = format!("/api/appointments/{}/", other.id());
    let confirmed = admin.patch(&other_path, json!({"status": "SCHEDULED"}));
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert_eq!(confirmed.body["status"], "SCHEDULED");

    // At most three open holds per patient.
    let mut last = expires;
    for hour in 9..12 {
        let r = admin.post(
            "/api/appointments/",
            hold(d3, p3, &format!("2035-10-03T{hour:02}:00:00Z")),
        );
        assert_eq!(r.status, 201, "hold at {hour}:00: {r:?}");
        last = last.max(instant(&r.body["expires_at"]));
    }
    let fourth = admin.post("/api/appointments/", hold(d3, p3, "2035-10-03T14:00:00Z"));
    assert_eq!(fourth.status, 409, "a fourth open hold: {fourth:?}");

    // Past expiry; no sweep is waited for.
    std::thread::sleep(until(last, Duration::from_millis(400)));
    // Its tag changed with what it reads as, before anything marked it EXPIRED: a client
    // holding the PENDING answer is not told it is current.
    let read = admin
        .with_header("If-None-Match", &pending_tag)
        .get(&hold_path);
    assert_eq!(
        (read.status, &read.body["status"]),
        (200, &json!("EXPIRED")),
        "{read:?}"
    );
    let expired_tag = etag(&read);
    assert_ne!(expired_tag, pending_tag);
    let stale = admin
        .with_header("If-Match", &pending_tag)
        .patch(&hold_path, json!({"status": "SCHEDULED"}));
    assert_eq!(stale.status, 412, "{stale:?}");
    let listed = ids(&admin.get(&format!("/api/appointments/?doctor={doctor}")));
    assert!(!listed.contains(&h), "an expired hold listed: {listed:?}");
    let expired = ids(&admin.get(&format!(
        "/api/appointments/?doctor={doctor}&status=EXPIRED"
    )));
    assert_eq!(expired, vec![h]);
    assert!(
        free().contains(&at(slot)),
        "the expired hold still hides its slot"
    );
    let late = admin.patch(&hold_path, json!({"status": "SCHEDULED"}));
    assert_eq!(
        (late.status, &late.body),
        (409, &json!({"non_field_errors": [HOLD_EXPIRED]})),
        "{late:?}"
    );
    let rival = admin.post("/api/appointments/", booking(doctor, p2, slot));
    assert_eq!(rival.status, 201, "{rival:?}");
    let patient_free = admin.post(
        "/api/appointments/",
        booking(d2, p1, "2035-10-01T10:10:00Z"),
    );
    assert_eq!(patient_free.status, 201, "{patient_free:?}");
    // Marked EXPIRED now (the rival booking met it): the same tag as it read before.
    let marked = admin
        .with_header("If-None-Match", &expired_tag)
        .get(&hold_path);
    assert_eq!(marked.status, 304, "{marked:?}");
    let marked = admin.get(&hold_path);
    assert_eq!(
        (etag(&marked), &marked.body["status"]),
        (expired_tag.clone(), &json!("EXPIRED"))
    );
    let late = admin
        .with_header("If-Match", &expired_tag)
        .patch(&hold_path, json!({"status": "SCHEDULED"}));
    assert_eq!(late.status, 409, "{late:?}");
    assert_eq!(admin.get(&other_path).body["status"], "SCHEDULED");
    // Expired holds are not open: the patient may hold again.
    let again = admin.post("/api/appointments/", hold(d3, p3, "2035-10-03T14:00:00Z"));
    assert_eq!(again.status, 201, "{again:?}");
}

/// A booking conflict's 409 keeps the seed's message and adds `conflicts` naming the side, the
/// time and, for a caller who may see it, the id: an admin sees it, a patient account sees the
/// id of its own appointment but not of another patient's.
fn conflicts_name_what_they_hit(server: &Server) {
    let anon = server.client();
    let (admin, doctor, patients) = clinic(server, 2);
    let (other, third) = (patients[0], patients[1]);
    let d2 = create(&admin, "/api/doctors/", doctor_body("LIC-2"));
    let d3 = create(&admin, "/api/doctors/", doctor_body("LIC-3"));
    let pat = anon.register("pat", PW);
    let own = create(&pat, "/api/patients/", patient_body("Own"));

    let booked = admin.post(
        "/api/appointments/",
        booking(doctor, other, "2035-11-01T10:00:00Z"),
    );
    assert_eq!(booked.status, 201, "{booked:?}");
    let a = booked.id();
    // The admin sees every id.
    let on_doctor = admin.post(
        "/api/appointments/",
        booking(doctor, third, "2035-11-01T10:15:00Z"),
    );
    assert_conflict(&on_doctor, DOCTOR_CONFLICT, "doctor", &booked, Some(a));
    let on_patient = admin.post(
        "/api/appointments/",
        booking(d2, other, "2035-11-01T09:45:00Z"),
    );
    assert_conflict(&on_patient, PATIENT_CONFLICT, "patient", &booked, Some(a));
    // A patient account hitting another patient's appointment: when, but not which.
    let hidden = pat.post(
        "/api/appointments/",
        booking(doctor, own, "2035-11-01T10:15:00Z"),
    );
    assert_conflict(&hidden, DOCTOR_CONFLICT, "doctor", &booked, None);
    assert_eq!(pat.get(&format!("/api/appointments/{a}/")).status, 404);
    // Its own appointment it may see.
    let mine = pat.post(
        "/api/appointments/",
        booking(d2, own, "2035-11-01T12:00:00Z"),
    );
    assert_eq!(mine.status, 201, "{mine:?}");
    let clash = pat.post(
        "/api/appointments/",
        booking(d3, own, "2035-11-01T12:10:00Z"),
    );
    assert_conflict(&clash, PATIENT_CONFLICT, "patient", &mine, Some(mine.id()));
}

mod concurrent_retries_book_once {
    #[test]
    fn sqlite() {
        super::concurrent_retries_book_once("sqlite");
    }

    #[test]
    fn postgres() {
        super::concurrent_retries_book_once("postgres");
    }
}

http_test! {
    keys_scope_and_stored_answers => keys_scope_and_stored_answers;
    etags_and_preconditions => etags_and_preconditions;
    conflicts_name_what_they_hit => conflicts_name_what_they_hit;
}

/// Starts a server with `env` on a fresh database of `backend` and runs `test` on it; nothing on
/// PostgreSQL without `TEST_DATABASE_URL` (the skip is announced).
fn with_env(backend: &str, env: &[(&str, &str)], test: fn(&Server)) {
    if let Some(app) = TestApp::on(backend).envs(env).start() {
        test(&app.server);
    }
}

/// As `http_test!`, with server environment: `mod name { fn sqlite(); fn postgres(); }` running
/// the function `name`.
macro_rules! http_test_with_env {
    ($($name:ident [$($var:literal = $value:expr),* $(,)?];)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                super::with_env("sqlite", &[$(($var, $value)),*], super::$name);
            }

            #[test]
            fn postgres() {
                super::with_env("postgres", &[$(($var, $value)),*], super::$name);
            }
        }
    )*};
}

http_test_with_env! {
    if_match_required ["HEALTHCARE_REQUIRE_IF_MATCH" = "true"];
    holds_expire ["HEALTHCARE_HOLD_SECONDS" = &HOLD_SECONDS.to_string()];
}
