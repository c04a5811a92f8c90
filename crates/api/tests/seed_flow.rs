//! The seed's walk-through, request for request, then conflicts, filters, pagination, roles and
//! error shapes — against the real binary, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::{http_test, Server};
use serde_json::{json, Value};

const PW: &str = "correct horse battery";

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Doe", "date_of_birth": "1990-05-17", "gender": "F",
           "contact_number": "+1 555 0100", "email": "jane@example.org", "address": "1 Main St",
           "medical_history": "none"})
}

fn doctor_body(license: &str) -> Value {
    json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
           "contact_number": "555 0101", "email": "house@example.org", "license_number": license,
           "hospital": "PPTH", "address": "NJ", "experience_years": 12})
}

http_test! {
    seed_walkthrough => |server: &Server| {
        let anon = server.client();
        // Register; the first account of a fresh install is the admin.
        let admin = anon.register("admin", PW);
        let me = admin.get("/api/auth/me/");
        assert_eq!((me.status, me.body["role"].as_str()), (200, Some("admin")));
        // Token obtain returns access and refresh.
        let t = anon.post("/api/token/", json!({"username": "admin", "password": PW}));
        assert!(t.body["access"].is_string() && t.body["refresh"].is_string());
        // Patients, doctors, mapping.
        let p = admin.post("/api/patients/", patient_body("Jane"));
        assert_eq!(p.status, 201, "{p:?}");
        assert_eq!(p.body["age"].as_i64().map(|a| a >= 35), Some(true));
        let pid = p.id();
        let d = admin.post("/api/doctors/", doctor_body("LIC-1"));
        assert_eq!(d.status, 201, "{d:?}");
        let did = d.id();
        let m = admin.post("/api/mappings/", json!({"doctor": did, "patient": pid, "reason_for_assignment": "", "is_active": true}));
        assert_eq!(m.status, 201, "{m:?}");
        assert_eq!(m.body["assigned_by_username"], "admin");
        // The patient's active mappings, each with its doctor's record.
        let doctors_of = admin.get(&format!("/api/mappings/patient/{pid}/"));
        assert_eq!(doctors_of.body.as_array().map(Vec::len), Some(1));
        assert_eq!(doctors_of.body[0]["id"], m.body["id"]);
        assert_eq!(doctors_of.body[0]["doctor_details"], d.body);
        // The seed's appointment body (no duration: 30 minutes).
        let a = admin.post("/api/appointments/", json!({"doctor": did, "patient": pid,
            "appointment_datetime": "2035-12-20T10:30:00Z", "reason": "Routine follow-up"}));
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.body["status"], "SCHEDULED");
        assert_eq!(a.body["end_datetime"], "2035-12-20T11:00:00Z");
        let aid = a.id();
        // The conflict, with the seed's body.
        let p2 = admin.post("/api/patients/", patient_body("John")).id();
        let clash = admin.post("/api/appointments/", json!({"doctor": did, "patient": p2,
            "appointment_datetime": "2035-12-20T10:45:00+00:00", "reason": "x"}));
        assert_eq!(clash.status, 409);
        // The seed's message, and what the booking ran into.
        assert_eq!(clash.body["non_field_errors"], json!(["Doctor already has an appointment at this time."]));
        assert_eq!(clash.body["conflicts"], json!([{"with": "doctor", "start": "2035-12-20T10:30:00Z",
            "end": "2035-12-20T11:00:00Z", "id": aid}]));
        // Back-to-back is fine.
        let next = admin.post("/api/appointments/", json!({"doctor": did, "patient": p2,
            "appointment_datetime": "2035-12-20T11:00:00Z"}));
        assert_eq!(next.status, 201, "{next:?}");
        // Patient-side conflict.
        let d2 = admin.post("/api/doctors/", doctor_body("LIC-2")).id();
        let pclash = admin.post("/api/appointments/", json!({"doctor": d2, "patient": pid,
            "appointment_datetime": "2035-12-20T10:00:00Z", "duration_minutes": 45}));
        assert_eq!(pclash.body["non_field_errors"], json!(["Patient already has an appointment at this time."]));
        assert_eq!(pclash.body["conflicts"][0]["with"], "patient", "{:?}", pclash.body);
        // Filters.
        assert_eq!(admin.get(&format!("/api/appointments/?doctor={did}")).body.as_array().map(Vec::len), Some(2));
        assert_eq!(admin.get(&format!("/api/appointments/?patient={pid}")).body.as_array().map(Vec::len), Some(1));
        assert_eq!(admin.get("/api/appointments/?status=SCHEDULED").body.as_array().map(Vec::len), Some(2));
        // Cancel (the seed's PATCH), which frees the slot.
        let c = admin.patch(&format!("/api/appointments/{aid}/"), json!({"status": "CANCELLED"}));
        assert_eq!((c.status, c.body["status"].as_str()), (200, Some("CANCELLED")));
        assert_eq!(admin.get("/api/appointments/?status=CANCELLED").body.as_array().map(Vec::len), Some(1));
        let again = admin.post("/api/appointments/", json!({"doctor": did, "patient": p2,
            "appointment_datetime": "2035-12-20T10:30:00Z"}));
        assert_eq!(again.status, 201);
        // Final states are final.
        let reopen = admin.patch(&format!("/api/appointments/{aid}/"), json!({"status": "SCHEDULED"}));
        assert_eq!(reopen.status, 400, "{reopen:?}");
        // Paths work without the trailing slash too.
        assert_eq!(admin.get(&format!("/api/patients/{pid}")).status, 200);
    };

    pagination_and_query_errors => |server: &Server| {
        let admin = server.client().register("admin", PW);
        for i in 0..5 {
            assert_eq!(admin.post("/api/patients/", patient_body(&format!("P{i}"))).status, 201);
        }
        let page = admin.get("/api/patients/?limit=2&offset=2");
        assert_eq!(page.body.as_array().map(Vec::len), Some(2));
        assert_eq!(page.header("x-total-count"), Some("5"));
        let link = page.header("link").unwrap_or_default();
        assert!(link.contains("rel=\"next\"") && link.contains("offset=4"), "{link}");
        assert!(link.contains("rel=\"prev\"") && link.contains("offset=0"), "{link}");
        assert_eq!(admin.get("/api/patients/?limit=abc").status, 400);
        assert_eq!(admin.get("/api/appointments/?doctor=x").body["doctor"][0], "A valid integer is required.");
        assert_eq!(admin.get("/api/appointments/?status=DONE").status, 400);
        assert_eq!(admin.get("/api/appointments/?date_from=2025-13-01").status, 400);
        assert_eq!(admin.get("/api/appointments/?ordering=reason").status, 400);
        assert_eq!(admin.get("/api/appointments/?date_from=2025-01-01&date_to=2025-01-31&ordering=-appointment_datetime").status, 200);
        let search = admin.get("/api/patients/?search=%25");
        assert_eq!(search.body.as_array().map(Vec::len), Some(0));
    };

    error_shapes => |server: &Server| {
        let anon = server.client();
        let no_auth = anon.get("/api/patients/");
        assert_eq!(no_auth.status, 401);
        assert!(no_auth.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
        assert!(no_auth.body["detail"].is_string());
        let admin = anon.register("admin", PW);
        let bad = admin.post("/api/patients/", json!({"first_name": "", "gender": "X", "date_of_birth": "2999-01-01"}));
        assert_eq!(bad.status, 400);
        assert_eq!(bad.body["first_name"][0], "This field may not be blank.");
        assert_eq!(bad.body["last_name"][0], "This field is required.");
        let missing = admin.post("/api/appointments/", json!({"doctor": 99, "patient": 98, "appointment_datetime": "2035-01-01T10:00:00Z"}));
        assert_eq!(missing.body["doctor"][0], "Invalid pk \"99\" - object does not exist.");
        let malformed = admin.raw("POST", "/api/patients/", Some("{\"first_name\": "), Some("application/json"));
        assert_eq!(malformed.status, 400);
        assert!(malformed.body["detail"].as_str().unwrap_or_default().starts_with("JSON parse error"));
        let wrong_type = admin.raw("POST", "/api/patients/", Some("first_name=x"), Some("application/x-www-form-urlencoded"));
        assert_eq!(wrong_type.status, 415);
        let big = "x".repeat(70 * 1024);
        let too_large = admin.raw("POST", "/api/patients/", Some(&format!("{{\"first_name\": \"{big}\"}}")), Some("application/json"));
        assert_eq!(too_large.status, 413);
        assert_eq!(admin.send("PUT", "/api/patients/", None).body["detail"], "Method \"PUT\" not allowed.");
        assert_eq!(admin.get("/api/nowhere/").status, 404);
        assert_eq!(admin.get("/api/patients/99999999999999999999/").status, 404);
        assert_eq!(admin.get("/api/patients/-1/").body["detail"], "Not found.");
        let health = anon.get("/api/health/");
        assert_eq!(health.status, 200);
        assert_eq!(health.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(health.header("cache-control"), Some("no-store"));
        assert_eq!(anon.get("/api/ready/").status, 200);
    };

    roles_and_visibility => |server: &Server| {
        let anon = server.client();
        let admin = anon.register("admin", PW);
        // Later self-registrations are patients; they own what they create.
        let alice = anon.register("alice", PW);
        let bob = anon.register("bob", PW);
        assert_eq!(alice.get("/api/auth/me/").body["role"], "patient");
        let ap = alice.post("/api/patients/", patient_body("Alice"));
        assert_eq!(ap.status, 201, "{ap:?}");
        let alice_pid = ap.id();
        let bob_pid = bob.post("/api/patients/", patient_body("Bob")).id();
        assert_eq!(alice.get("/api/patients/").body.as_array().map(Vec::len), Some(1));
        assert_eq!(alice.get(&format!("/api/patients/{bob_pid}/")).status, 404);
        assert_eq!(alice.patch(&format!("/api/patients/{bob_pid}/"), json!({"first_name": "Z"})).status, 404);
        // Patients cannot create doctors or see users.
        assert_eq!(alice.post("/api/doctors/", doctor_body("L-9")).status, 403);
        assert_eq!(alice.get("/api/users/").status, 403);
        // Admin creates a doctor account and links it.
        let u = admin.post("/api/users/", json!({"username": "drhouse", "email": "h@example.org", "password": PW, "role": "doctor"}));
        assert_eq!(u.status, 201, "{u:?}");
        let did = admin.post("/api/doctors/", doctor_body("L-1")).id();
        let link = admin.patch(&format!("/api/doctors/{did}/"), json!({"user": u.id()}));
        assert_eq!(link.status, 200, "{link:?}");
        let doctor = anon.login("drhouse", PW);
        assert_eq!(doctor.get("/api/auth/me/").body["doctor"], did);
        // Alice books with the doctor for her own patient; not for Bob's.
        let booked = alice.post("/api/appointments/", json!({"doctor": did, "patient": alice_pid, "appointment_datetime": "2035-03-01T09:00:00Z"}));
        assert_eq!(booked.status, 201, "{booked:?}");
        let foreign = alice.post("/api/appointments/", json!({"doctor": did, "patient": bob_pid, "appointment_datetime": "2035-03-01T11:00:00Z"}));
        assert_eq!(foreign.status, 400);
        // Patients cannot book in the past.
        let past = alice.post("/api/appointments/", json!({"doctor": did, "patient": alice_pid, "appointment_datetime": "2001-03-01T09:00:00Z"}));
        assert_eq!(past.status, 400);
        // The doctor sees the appointment and the patient, but not Bob.
        assert_eq!(doctor.get("/api/appointments/").body.as_array().map(Vec::len), Some(1));
        assert_eq!(doctor.get(&format!("/api/patients/{alice_pid}/")).status, 200);
        assert_eq!(doctor.get(&format!("/api/patients/{bob_pid}/")).status, 404);
        assert_eq!(doctor.patch(&format!("/api/patients/{alice_pid}/"), json!({"first_name": "Z"})).status, 403);
        // A patient may not complete; the doctor may.
        let aid = booked.id();
        assert_eq!(alice.patch(&format!("/api/appointments/{aid}/"), json!({"status": "COMPLETED"})).status, 403);
        assert_eq!(doctor.patch(&format!("/api/appointments/{aid}/"), json!({"status": "COMPLETED"})).status, 200);
        // Doctors edit their own profile but not their licence.
        assert_eq!(doctor.patch(&format!("/api/doctors/{did}/"), json!({"hospital": "Mercy"})).status, 200);
        assert_eq!(doctor.patch(&format!("/api/doctors/{did}/"), json!({"license_number": "NEW"})).status, 403);
        // Deactivation locks the account out at once.
        let bob_id = bob.get("/api/auth/me/").id();
        assert_eq!(admin.patch(&format!("/api/users/{bob_id}/"), json!({"is_active": false})).status, 200);
        assert_eq!(bob.get("/api/patients/").status, 401);
        // Archive: 204, then 404, history kept.
        assert_eq!(alice.delete(&format!("/api/patients/{alice_pid}/")).status, 204);
        assert_eq!(alice.get(&format!("/api/patients/{alice_pid}/")).status, 404);
    };

    token_rotation_and_revocation => |server: &Server| {
        let anon = server.client();
        anon.register("admin", PW);
        let pair = anon.post("/api/token/", json!({"username": "admin", "password": PW}));
        let r1 = pair.body["refresh"].as_str().unwrap().to_owned();
        let rotated = anon.post("/api/token/refresh/", json!({"refresh": r1}));
        assert_eq!(rotated.status, 200, "{rotated:?}");
        let r2 = rotated.body["refresh"].as_str().unwrap().to_owned();
        // Reusing the old one fails and revokes the family (r2 too).
        assert_eq!(anon.post("/api/token/refresh/", json!({"refresh": r1})).status, 401);
        assert_eq!(anon.post("/api/token/refresh/", json!({"refresh": r2})).status, 401);
        // Logout.
        let fresh = anon.post("/api/token/", json!({"username": "admin", "password": PW}));
        let r3 = fresh.body["refresh"].as_str().unwrap().to_owned();
        assert_eq!(anon.post("/api/token/revoke/", json!({"refresh": r3})).status, 204);
        assert_eq!(anon.post("/api/token/refresh/", json!({"refresh": r3})).status, 401);
        // An access token is not a refresh token and the reverse.
        let access = fresh.body["access"].as_str().unwrap();
        assert_eq!(anon.post("/api/token/refresh/", json!({"refresh": access})).status, 401);
        assert_eq!(anon.with_token(&r3).get("/api/auth/me/").status, 401);
        // Throttling: five failures, then 429 with Retry-After.
        for _ in 0..5 {
            assert_eq!(anon.post("/api/token/", json!({"username": "admin", "password": "wrong-password"})).status, 401);
        }
        let throttled = anon.post("/api/token/", json!({"username": "admin", "password": PW}));
        assert_eq!(throttled.status, 429);
        assert!(throttled.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s > 0));
    };
}
