//! The authorization matrix, against the real binary on both backends: for each role (admin,
//! staff, doctor linked to a Doctor, doctor with no Doctor, patient) and each endpoint, another
//! account's records are invisible (404) or, where the role may see but not change them, refused
//! (403), and they are unchanged afterwards; forged, expired, wrong-kind, revoked and
//! deactivated tokens get 401; five failed logins get 429 with `Retry-After`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::{Client, Reply, Server, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

const PW: &str = "correct horse battery";
const SECRET: &str = "authorization-matrix-secret-0123456789abcdef";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn claims(user: i64, role: &str, kind: &str, exp: i64) -> Value {
    json!({"sub": user.to_string(), "user_id": user, "role": role, "exp": exp, "iat": now(),
           "jti": format!("{:032x}", rand::random::<u128>()), "token_type": kind})
}

/// `claims` in the session of `client`'s access token (its `sid` and `ver`), as a token the
/// server issued for that session would carry them.
fn in_session_of(mut claims: Value, client: &Client) -> Value {
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    let issued = jsonwebtoken::decode::<Value>(
        client.token.as_deref().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    claims["sid"] = issued["sid"].clone();
    claims["ver"] = issued["ver"].clone();
    claims
}

fn sign(alg: Algorithm, key: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Matrix", "date_of_birth": "1985-04-01", "gender": "F",
           "contact_number": "555 0100"})
}

fn doctor_body(license: &str) -> Value {
    json!({"first_name": "Doc", "last_name": license, "specialization": "CAR",
           "contact_number": "555 0101", "email": "doc@example.org", "license_number": license,
           "hospital": "General"})
}

fn ok(r: Reply, what: &str) -> Reply {
    assert!((200..300).contains(&r.status), "{what}: {r:?}");
    r
}

/// One cell of the matrix.
struct Cell<'a> {
    role: &'static str,
    client: &'a Client,
    method: &'static str,
    path: String,
    body: Option<Value>,
    expected: u16,
}

fn cell<'a>(
    role: &'static str,
    client: &'a Client,
    method: &'static str,
    path: String,
    body: Option<Value>,
    expected: u16,
) -> Cell<'a> {
    Cell {
        role,
        client,
        method,
        path,
        body,
        expected,
    }
}

fn matrix(server: &Server, backend: &str) {
    let anon = server.client();
    let admin = anon.register("admin", PW);
    // Accounts: staff, two linked doctors, one unlinked doctor, two patients.
    let account = |name: &str, role: &str| {
        let r = admin.post(
            "/api/users/",
            json!({"username": name, "email": format!("{name}@example.org"), "password": PW, "role": role}),
        );
        assert_eq!(r.status, 201, "{r:?}");
        (r.id(), anon.login(name, PW))
    };
    let (_, staff) = account("staff1", "staff");
    let (doc1_user, doc1) = account("doc1", "doctor");
    let (doc2_user, doc2) = account("doc2", "doctor");
    let (_, loose) = account("doc3", "doctor");
    let pat1 = anon.register("pat1", PW);
    let pat2 = anon.register("pat2", PW);
    let pat2_user = pat2.get("/api/auth/me/").id();
    let dr1 = ok(admin.post("/api/doctors/", doctor_body("M-1")), "dr1").id();
    let dr2 = ok(admin.post("/api/doctors/", doctor_body("M-2")), "dr2").id();
    ok(
        admin.patch(&format!("/api/doctors/{dr1}/"), json!({"user": doc1_user})),
        "link dr1",
    );
    ok(
        admin.patch(&format!("/api/doctors/{dr2}/"), json!({"user": doc2_user})),
        "link dr2",
    );
    // Each patient account owns one record, booked with and mapped to its own doctor.
    let p1 = ok(pat1.post("/api/patients/", patient_body("One")), "p1").id();
    let p2 = ok(pat2.post("/api/patients/", patient_body("Two")), "p2").id();
    let a1 = ok(
        pat1.post(
            "/api/appointments/",
            json!({"doctor": dr1, "patient": p1, "appointment_datetime": "2036-01-05T09:00:00Z"}),
        ),
        "a1",
    )
    .id();
    let a2 = ok(
        pat2.post(
            "/api/appointments/",
            json!({"doctor": dr2, "patient": p2, "appointment_datetime": "2036-01-05T09:00:00Z"}),
        ),
        "a2",
    )
    .id();
    let m1 = ok(
        pat1.post("/api/mappings/", json!({"doctor": dr1, "patient": p1})),
        "m1",
    )
    .id();
    let m2 = ok(
        pat2.post("/api/mappings/", json!({"doctor": dr2, "patient": p2})),
        "m2",
    )
    .id();
    let snapshot = |admin: &Client| {
        [
            format!("/api/patients/{p2}/"),
            format!("/api/appointments/{a2}/"),
            format!("/api/mappings/{m2}/"),
            format!("/api/doctors/{dr2}/"),
            format!("/api/users/{pat2_user}/"),
        ]
        .map(|p| {
            let r = admin.get(&p);
            assert_eq!(r.status, 200, "{p}: {r:?}");
            r.body
        })
    };
    let before = snapshot(&admin);

    let change_patient = json!({"first_name": "Changed", "medical_history": "stolen"});
    let change_appt =
        json!({"status": "CANCELLED", "appointment_datetime": "2036-02-01T09:00:00Z"});
    let change_mapping = json!({"is_active": false});
    let change_doctor = json!({"hospital": "Elsewhere"});
    let change_user = json!({"is_active": false, "role": "admin"});
    let mut cells: Vec<Cell> = Vec::new();
    // The records of pat2 / dr2, seen by everyone who is not entitled to them.
    for (role, client) in [
        ("patient", &pat1),
        ("doctor", &doc1),
        ("unlinked doctor", &loose),
    ] {
        for (method, body) in [
            ("GET", None),
            ("PATCH", Some(change_patient.clone())),
            ("DELETE", None),
        ] {
            cells.push(cell(
                role,
                client,
                method,
                format!("/api/patients/{p2}/"),
                body,
                404,
            ));
        }
        for (method, body) in [
            ("GET", None),
            ("PATCH", Some(change_appt.clone())),
            ("DELETE", None),
        ] {
            cells.push(cell(
                role,
                client,
                method,
                format!("/api/appointments/{a2}/"),
                body,
                404,
            ));
        }
        for (method, body) in [
            ("GET", None),
            ("PATCH", Some(change_mapping.clone())),
            ("DELETE", None),
        ] {
            cells.push(cell(
                role,
                client,
                method,
                format!("/api/mappings/{m2}/"),
                body,
                404,
            ));
        }
        cells.push(cell(
            role,
            client,
            "GET",
            format!("/api/mappings/patient/{p2}/"),
            None,
            404,
        ));
        // The doctor directory is readable by all; only the doctor's own account (and clinic
        // staff) may change it.
        cells.push(cell(
            role,
            client,
            "GET",
            format!("/api/doctors/{dr2}/"),
            None,
            200,
        ));
        cells.push(cell(
            role,
            client,
            "PATCH",
            format!("/api/doctors/{dr2}/"),
            Some(change_doctor.clone()),
            403,
        ));
        cells.push(cell(
            role,
            client,
            "DELETE",
            format!("/api/doctors/{dr2}/"),
            None,
            403,
        ));
        cells.push(cell(
            role,
            client,
            "POST",
            "/api/doctors/".into(),
            Some(doctor_body("M-X")),
            403,
        ));
    }
    // Booking or mapping for someone else's patient: the patient does not exist for them.
    cells.push(cell(
        "patient",
        &pat1,
        "POST",
        "/api/appointments/".into(),
        Some(json!({"doctor": dr2, "patient": p2, "appointment_datetime": "2036-03-01T09:00:00Z"})),
        400,
    ));
    cells.push(cell(
        "patient",
        &pat1,
        "POST",
        "/api/mappings/".into(),
        Some(json!({"doctor": dr1, "patient": p2})),
        400,
    ));
    // Moving one's own appointment onto another patient or doctor is refused.
    cells.push(cell(
        "patient",
        &pat1,
        "PATCH",
        format!("/api/appointments/{a1}/"),
        Some(json!({"patient": p2})),
        403,
    ));
    cells.push(cell(
        "doctor",
        &doc1,
        "PATCH",
        format!("/api/appointments/{a1}/"),
        Some(json!({"doctor": dr2})),
        403,
    ));
    // Handing one's own patient record to another account is refused.
    cells.push(cell(
        "patient",
        &pat1,
        "PATCH",
        format!("/api/patients/{p1}/"),
        Some(json!({"user": pat2_user})),
        400,
    ));
    // Doctors read their patients but do not edit them, nor book.
    cells.push(cell(
        "doctor",
        &doc1,
        "PATCH",
        format!("/api/patients/{p1}/"),
        Some(change_patient.clone()),
        403,
    ));
    cells.push(cell(
        "doctor",
        &doc1,
        "POST",
        "/api/appointments/".into(),
        Some(json!({"doctor": dr1, "patient": p1, "appointment_datetime": "2036-03-02T09:00:00Z"})),
        403,
    ));
    // Users are admin-only: every other role gets 403 on every users endpoint.
    for (role, client) in [
        ("staff", &staff),
        ("doctor", &doc1),
        ("unlinked doctor", &loose),
        ("patient", &pat1),
    ] {
        cells.push(cell(role, client, "GET", "/api/users/".into(), None, 403));
        cells.push(cell(
            role,
            client,
            "GET",
            format!("/api/users/{pat2_user}/"),
            None,
            403,
        ));
        cells.push(cell(
            role,
            client,
            "PATCH",
            format!("/api/users/{pat2_user}/"),
            Some(change_user.clone()),
            403,
        ));
        cells.push(cell(
            role,
            client,
            "POST",
            "/api/users/".into(),
            Some(json!({"username": "intruder", "email": "i@example.org", "password": PW, "role": "admin"})),
            403,
        ));
    }
    // Clinic staff and admin see everything.
    for (role, client) in [("staff", &staff), ("admin", &admin)] {
        for path in [
            format!("/api/patients/{p2}/"),
            format!("/api/appointments/{a2}/"),
            format!("/api/mappings/{m2}/"),
            format!("/api/mappings/patient/{p2}/"),
            format!("/api/doctors/{dr2}/"),
        ] {
            cells.push(cell(role, client, "GET", path, None, 200));
        }
    }
    cells.push(cell(
        "admin",
        &admin,
        "GET",
        format!("/api/users/{pat2_user}/"),
        None,
        200,
    ));

    let mut wrong = Vec::new();
    for c in &cells {
        let r = c.client.send(c.method, &c.path, c.body.as_ref());
        let shape_ok = match r.status {
            404 => r.body == json!({"detail": "Not found."}),
            403 => {
                r.body == json!({"detail": "You do not have permission to perform this action."})
            }
            400 => r.body.is_object(),
            _ => true,
        };
        if r.status != c.expected || !shape_ok {
            wrong.push(format!(
                "{} {} {} -> {} {} (expected {})",
                c.role, c.method, c.path, r.status, r.body, c.expected
            ));
        }
    }
    assert!(wrong.is_empty(), "matrix mismatches:\n{}", wrong.join("\n"));

    // Lists show only one's own.
    let ids = |client: &Client, path: &str| -> Vec<i64> {
        let r = client.get(path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&pat1, "/api/patients/"), vec![p1]);
    assert_eq!(ids(&pat1, "/api/appointments/"), vec![a1]);
    assert_eq!(
        ids(&pat1, &format!("/api/appointments/?patient={p2}")),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&pat1, &format!("/api/appointments/?doctor={dr2}")),
        Vec::<i64>::new()
    );
    assert_eq!(ids(&pat1, "/api/mappings/"), vec![m1]);
    assert_eq!(ids(&doc1, "/api/patients/"), vec![p1]);
    assert_eq!(ids(&doc1, "/api/appointments/"), vec![a1]);
    assert_eq!(ids(&doc1, "/api/mappings/"), vec![m1]);
    assert_eq!(ids(&doc1, "/api/patients/?search=Two"), Vec::<i64>::new());
    assert_eq!(ids(&doc2, "/api/appointments/"), vec![a2]);
    assert_eq!(ids(&loose, "/api/patients/"), Vec::<i64>::new());
    assert_eq!(ids(&loose, "/api/appointments/"), Vec::<i64>::new());
    assert_eq!(ids(&loose, "/api/mappings/"), Vec::<i64>::new());
    assert_eq!(ids(&staff, "/api/patients/").len(), 2);
    assert_eq!(ids(&admin, "/api/appointments/").len(), 2);
    // A foreign id and an id that does not exist answer alike.
    assert_eq!(
        pat1.get(&format!("/api/patients/{p2}/")).body,
        pat1.get("/api/patients/999999/").body
    );
    // Nothing of pat2's changed.
    assert_eq!(
        snapshot(&admin),
        before,
        "records changed by unauthorized requests"
    );
    healthcare_testing::report(&format!(
        "authorization[{backend}]: {} matrix cells (5 roles x foreign records and endpoints) as expected",
        cells.len()
    ));

    // A doctor account linked to a Doctor record keeps the doctor role while the link stands
    // (as only a doctor account can be linked): unlink first, then change the role.
    let account = format!("/api/users/{doc2_user}/");
    let refused = admin.patch(&account, json!({"role": "patient"}));
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body["role"][0].is_string(), "{refused:?}");
    assert_eq!(admin.get(&account).body["role"], "doctor");
    ok(
        admin.patch(
            &account,
            json!({"role": "doctor", "email": "d2@example.org"}),
        ),
        "same role",
    );
    ok(
        admin.patch(&format!("/api/doctors/{dr2}/"), json!({"user": null})),
        "unlink dr2",
    );
    let demoted = ok(admin.patch(&account, json!({"role": "patient"})), "demote");
    assert_eq!(demoted.body["role"], "patient");

    forged_tokens(server, backend, &admin, &pat1, &pat2, pat2_user);
}

fn unauthorized(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{what}: {r:?}"
    );
    assert!(r.body["detail"].is_string(), "{what}: {r:?}");
}

fn forged_tokens(
    server: &Server,
    backend: &str,
    admin: &Client,
    pat1: &Client,
    pat2: &Client,
    pat2_user: i64,
) {
    let anon = server.client();
    let admin_id = admin.get("/api/auth/me/").id();
    let pat1_id = pat1.get("/api/auth/me/").id();
    let valid = in_session_of(claims(admin_id, "admin", "access", now() + 600), admin);
    // Sanity: a token the test signs with the server's key, in a live session, is accepted.
    let good = sign(Algorithm::HS256, SECRET, &valid);
    assert_eq!(anon.with_token(&good).get("/api/users/").status, 200);

    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(valid.to_string().as_bytes())
    );
    let none_sig = format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(valid.to_string().as_bytes()),
        good.rsplit('.').next().unwrap()
    );
    // Header claims HS256 but the payload was swapped: the signature no longer matches.
    let pat1_token = pat1.token.clone().unwrap();
    let mut parts = pat1_token.split('.');
    let tampered = format!(
        "{}.{}.{}",
        parts.next().unwrap(),
        b64url(valid.to_string().as_bytes()),
        parts.nth(1).unwrap()
    );
    let pair = anon.post("/api/token/", json!({"username": "pat1", "password": PW}));
    assert_eq!(pair.status, 200);
    let refresh = pair.body["refresh"].as_str().unwrap().to_owned();
    let forged: Vec<(&str, String)> = vec![
        ("alg none", none),
        ("alg none with a signature", none_sig),
        (
            "HS384 with the server's key",
            sign(Algorithm::HS384, SECRET, &valid),
        ),
        (
            "HS512 with the server's key",
            sign(Algorithm::HS512, SECRET, &valid),
        ),
        (
            "HS256 with another key",
            sign(
                Algorithm::HS256,
                "not-the-server-secret-0123456789abcdef",
                &valid,
            ),
        ),
        (
            "expired",
            sign(
                Algorithm::HS256,
                SECRET,
                &claims(admin_id, "admin", "access", now() - 3600),
            ),
        ),
        ("no exp", {
            let mut c = valid.clone();
            c.as_object_mut().unwrap().remove("exp");
            sign(Algorithm::HS256, SECRET, &c)
        }),
        ("sub and user_id disagree", {
            let mut c = valid.clone();
            c["sub"] = json!(pat1_id.to_string());
            sign(Algorithm::HS256, SECRET, &c)
        }),
        (
            "refresh token signed by the test",
            sign(
                Algorithm::HS256,
                SECRET,
                &claims(admin_id, "admin", "refresh", now() + 600),
            ),
        ),
        ("a real refresh token as access", refresh.clone()),
        ("tampered payload", tampered),
        (
            "unknown user",
            sign(
                Algorithm::HS256,
                SECRET,
                &in_session_of(claims(987_654, "admin", "access", now() + 600), admin),
            ),
        ),
        (
            "no session, signed with the server's key",
            sign(
                Algorithm::HS256,
                SECRET,
                &claims(admin_id, "admin", "access", now() + 600),
            ),
        ),
        (
            "another account's session",
            sign(
                Algorithm::HS256,
                SECRET,
                &in_session_of(claims(admin_id, "admin", "access", now() + 600), pat1),
            ),
        ),
        ("garbage", "not.a.jwt".into()),
        ("empty", String::new()),
    ];
    for (what, token) in &forged {
        unauthorized(&anon.with_token(token).get("/api/auth/me/"), what);
        unauthorized(&anon.with_token(token).get("/api/patients/"), what);
    }
    // Other schemes are refused.
    let basic = anon.raw_bytes("GET", "/api/auth/me/", b"", None);
    unauthorized(&basic, "no header");
    // The role claim is informational: the database's role counts.
    let escalated = sign(
        Algorithm::HS256,
        SECRET,
        &in_session_of(claims(pat1_id, "admin", "access", now() + 600), pat1),
    );
    let escalated = anon.with_token(&escalated);
    assert_eq!(escalated.get("/api/auth/me/").body["role"], "patient");
    assert_eq!(escalated.get("/api/users/").status, 403);

    // Refresh tokens: rotation, reuse, revocation.
    let rotated = anon.post("/api/token/refresh/", json!({"refresh": refresh}));
    assert_eq!(rotated.status, 200, "{rotated:?}");
    unauthorized(
        &anon.post("/api/token/refresh/", json!({"refresh": refresh})),
        "reused refresh",
    );
    let fresh = anon.post("/api/token/", json!({"username": "pat1", "password": PW}));
    let r = fresh.body["refresh"].as_str().unwrap().to_owned();
    assert_eq!(
        anon.post("/api/token/revoke/", json!({"refresh": r}))
            .status,
        204
    );
    unauthorized(
        &anon.post("/api/token/refresh/", json!({"refresh": r})),
        "revoked refresh",
    );
    // An access token where a refresh token is expected.
    unauthorized(
        &anon.post("/api/token/refresh/", json!({"refresh": pat1_token})),
        "access as refresh",
    );
    let forged_refresh = sign(
        Algorithm::HS384,
        SECRET,
        &claims(pat1_id, "patient", "refresh", now() + 600),
    );
    unauthorized(
        &anon.post("/api/token/refresh/", json!({"refresh": forged_refresh})),
        "HS384 refresh",
    );
    // A refresh token the server never issued (right key, unknown jti) does not work either.
    let mut unknown = claims(pat1_id, "patient", "refresh", now() + 600);
    unknown["fam"] = json!("f00d");
    let unknown = sign(Algorithm::HS256, SECRET, &unknown);
    unauthorized(
        &anon.post("/api/token/refresh/", json!({"refresh": unknown})),
        "unissued refresh",
    );

    // A deactivated account's live access token stops working at once; so does its login.
    let pat2_refresh = anon.post("/api/token/", json!({"username": "pat2", "password": PW}));
    assert_eq!(pat2.get("/api/patients/").status, 200);
    assert_eq!(
        admin
            .patch(
                &format!("/api/users/{pat2_user}/"),
                json!({"is_active": false})
            )
            .status,
        200
    );
    unauthorized(&pat2.get("/api/patients/"), "deactivated access token");
    unauthorized(
        &anon.post(
            "/api/token/refresh/",
            json!({"refresh": pat2_refresh.body["refresh"]}),
        ),
        "deactivated refresh",
    );
    unauthorized(
        &anon.post("/api/token/", json!({"username": "pat2", "password": PW})),
        "deactivated login",
    );

    // Login throttling: five failures, then 429 with Retry-After, even with the right password.
    for i in 0..5 {
        unauthorized(
            &anon.post(
                "/api/token/",
                json!({"username": "pat1", "password": "wrong password"}),
            ),
            &format!("failure {i}"),
        );
    }
    let throttled = anon.post("/api/token/", json!({"username": "pat1", "password": PW}));
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert!(throttled.body["detail"].is_string());
    let retry = throttled
        .header("retry-after")
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry.is_some_and(|s| s > 0 && s <= 15 * 60),
        "{throttled:?}"
    );
    // Other accounts are not locked out by it.
    assert_eq!(
        anon.post("/api/token/", json!({"username": "admin", "password": PW}))
            .status,
        200
    );
    healthcare_testing::report(&format!(
        "authorization[{backend}]: {} forged or unusable access tokens refused with 401 on 2 endpoints each",
        forged.len()
    ));
}

#[test]
fn matrix_sqlite() {
    let app = TestApp::sqlite().env("JWT_SECRET", SECRET).start().unwrap();
    matrix(&app, "sqlite");
}

#[test]
fn matrix_postgres() {
    if let Some(app) = TestApp::postgres().env("JWT_SECRET", SECRET).start() {
        matrix(&app, "postgres");
    }
}

/// Twenty failed logins from one client address throttle that address; behind a proxy the
/// address is the TCP peer unless the proxy is trusted (`HEALTHCARE_TRUSTED_PROXIES`), and then
/// it is the hop that proxy appended to `X-Forwarded-For`, never what the client wrote there.
fn throttling_by_forwarded_address(server: &Server, trusted: bool) {
    let anon = server.client();
    anon.register("admin", PW);
    // Each failure under another username, so only the per-address limit (20) comes into play.
    let from_a = anon.with_header("X-Forwarded-For", "198.51.100.1");
    for i in 0..20 {
        unauthorized(
            &from_a.post(
                "/api/token/",
                json!({"username": format!("nobody{i}"), "password": "wrong password"}),
            ),
            &format!("failure {i}"),
        );
    }
    let login = |client: &Client| {
        client
            .post("/api/token/", json!({"username": "admin", "password": PW}))
            .status
    };
    let from_b = anon.with_header("X-Forwarded-For", "198.51.100.2");
    // A client behind the proxy that writes B's address itself: the proxy appends A's.
    let a_posing_as_b = anon.with_header("X-Forwarded-For", "198.51.100.2, 198.51.100.1");
    if trusted {
        assert_eq!(login(&from_a), 429, "the failing address is throttled");
        assert_eq!(login(&a_posing_as_b), 429, "a forged hop is not believed");
        assert_eq!(
            login(&from_b),
            200,
            "another client behind the proxy is not"
        );
        assert_eq!(login(&anon), 200, "nor the proxy's own address");
    } else {
        // Not trusted: the header means nothing, and every failure counted against the peer.
        assert_eq!(
            login(&from_b),
            429,
            "the header of an untrusted peer is ignored"
        );
        assert_eq!(login(&anon), 429);
    }
}

#[test]
fn throttling_behind_a_trusted_proxy_sqlite() {
    let app = TestApp::sqlite()
        .env("HEALTHCARE_TRUSTED_PROXIES", "127.0.0.1")
        .start()
        .unwrap();
    throttling_by_forwarded_address(&app, true);
}

#[test]
fn throttling_behind_a_trusted_proxy_postgres() {
    if let Some(app) = TestApp::postgres()
        .env("HEALTHCARE_TRUSTED_PROXIES", "127.0.0.1")
        .start()
    {
        throttling_by_forwarded_address(&app, true);
    }
}

#[test]
fn throttling_ignores_forwarded_for_by_default_sqlite() {
    let app = TestApp::sqlite().start().unwrap();
    throttling_by_forwarded_address(&app, false);
}

#[test]
fn throttling_ignores_forwarded_for_by_default_postgres() {
    if let Some(app) = TestApp::postgres().start() {
        throttling_by_forwarded_address(&app, false);
    }
}

/// Re-creating a doctor-patient pair: an inactive mapping comes back (200) with its first
/// assignment kept and who reactivated it recorded; a patient may not bring back one that
/// staff made inactive (403), only one they made inactive themselves.
fn mapping_reactivation(server: &Server) {
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let admin_id = admin.get("/api/auth/me/").id();
    let staff_id = ok(
        admin.post(
            "/api/users/",
            json!({"username": "staff1", "email": "staff1@example.org", "password": PW, "role": "staff"}),
        ),
        "staff",
    )
    .id();
    let staff = anon.login("staff1", PW);
    let pat = anon.register("pat1", PW);
    let pat_id = pat.get("/api/auth/me/").id();
    let p = ok(pat.post("/api/patients/", patient_body("One")), "patient").id();
    let dr1 = ok(admin.post("/api/doctors/", doctor_body("R-1")), "dr1").id();
    let dr2 = ok(admin.post("/api/doctors/", doctor_body("R-2")), "dr2").id();
    let pair = json!({"doctor": dr1, "patient": p, "reason_for_assignment": "first visit"});
    let first = pat.post("/api/mappings/", pair.clone());
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(
        (
            &first.body["assigned_by"],
            &first.body["reactivated_by"],
            &first.body["reactivated_at"]
        ),
        (&json!(pat_id), &Value::Null, &Value::Null)
    );
    let id = first.id();
    let path = format!("/api/mappings/{id}/");
    // An active pair stays a 400, for everyone.
    for who in [&pat, &staff] {
        let dup = who.post("/api/mappings/", pair.clone());
        assert_eq!(
            (dup.status, &dup.body),
            (
                400,
                &json!({"non_field_errors": ["The fields doctor, patient must make a unique set."]})
            )
        );
    }
    // Staff deactivates it; the patient may not bring it back, and nothing changes.
    assert_eq!(staff.delete(&path).status, 204);
    let refused = pat.post("/api/mappings/", pair.clone());
    assert_eq!(
        (refused.status, &refused.body),
        (
            403,
            &json!({"detail": "You do not have permission to perform this action."})
        )
    );
    let after = admin.get(&path);
    assert_eq!(after.body["is_active"], json!(false), "{after:?}");
    assert_eq!(after.body["reactivated_by"], Value::Null);
    // Staff may: 200, same mapping, first assignment and reason kept (none given).
    let back = staff.post("/api/mappings/", json!({"doctor": dr1, "patient": p}));
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.id(), id);
    for field in ["assigned_by", "assigned_date", "created_at"] {
        assert_eq!(back.body[field], first.body[field], "{field}");
    }
    assert_eq!(
        (
            &back.body["is_active"],
            &back.body["reason_for_assignment"],
            &back.body["reactivated_by"]
        ),
        (&json!(true), &json!("first visit"), &json!(staff_id))
    );
    let when = back.body["reactivated_at"].as_str().unwrap_or_default();
    assert!(
        when.len() >= 20 && when.ends_with('Z'),
        "reactivated_at {when:?}"
    );
    assert_eq!(admin.get(&path).body, back.body);
    // PATCH is_active=false by staff, then admin's re-creation with a new reason.
    assert_eq!(
        staff.patch(&path, json!({"is_active": false})).body["is_active"],
        json!(false)
    );
    assert_eq!(pat.post("/api/mappings/", pair.clone()).status, 403);
    let again = admin.post(
        "/api/mappings/",
        json!({"doctor": dr1, "patient": p, "reason_for_assignment": "second opinion"}),
    );
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(
        (
            &again.body["reason_for_assignment"],
            &again.body["reactivated_by"],
            &again.body["assigned_by"]
        ),
        (&json!("second opinion"), &json!(admin_id), &json!(pat_id))
    );
    // A mapping the patient made inactive themselves (created inactive) they may reactivate.
    let own = pat.post(
        "/api/mappings/",
        json!({"doctor": dr2, "patient": p, "is_active": false}),
    );
    assert_eq!(
        (own.status, &own.body["is_active"]),
        (201, &json!(false)),
        "{own:?}"
    );
    let mine = pat.post("/api/mappings/", json!({"doctor": dr2, "patient": p}));
    assert_eq!(mine.status, 200, "{mine:?}");
    assert_eq!(
        (mine.id(), &mine.body["reactivated_by"]),
        (own.id(), &json!(pat_id))
    );
    // The mapping list shows the new fields too.
    let listed = pat.get("/api/mappings/");
    assert!(
        listed
            .body
            .as_array()
            .is_some_and(|l| l.iter().all(|m| m.get("reactivated_at").is_some())),
        "{listed:?}"
    );
}

#[test]
fn mapping_reactivation_sqlite() {
    let app = TestApp::sqlite().start().unwrap();
    mapping_reactivation(&app);
}

#[test]
fn mapping_reactivation_postgres() {
    if let Some(app) = TestApp::postgres().start() {
        mapping_reactivation(&app);
    }
}
