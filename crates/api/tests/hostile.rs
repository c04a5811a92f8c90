//! Hostile input, on both backends: a hand-written table of nasty requests (absurd ids in paths,
//! query strings and bodies, numbers as strings and strings as numbers, NUL bytes and exotic
//! Unicode, a 10 MB body, 100 000 nested brackets, SQL and LIKE metacharacters, impossible
//! date-times, invalid UTF-8, wrong content types, bodies that are not objects, duplicate
//! keys). Each answer has the expected status, is never a 5xx, and its body is a JSON object
//! (or array, for lists); the server is still healthy at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::{Server, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";

/// What a case expects.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Exactly this status.
    Is(u16),
    /// Any of these.
    OneOf(&'static [u16]),
}

struct Case {
    name: String,
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
    content_type: Option<&'static str>,
    want: Want,
}

fn case(
    name: impl Into<String>,
    method: &'static str,
    path: impl Into<String>,
    want: Want,
) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        body: None,
        content_type: None,
        want,
    }
}

fn json_case(
    name: impl Into<String>,
    method: &'static str,
    path: impl Into<String>,
    body: &Value,
    want: Want,
) -> Case {
    raw_case(
        name,
        method,
        path,
        body.to_string().into_bytes(),
        Some("application/json"),
        want,
    )
}

fn raw_case(
    name: impl Into<String>,
    method: &'static str,
    path: impl Into<String>,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    want: Want,
) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        body: Some(body),
        content_type,
        want,
    }
}

fn patient(overrides: Value) -> Value {
    let mut base = json!({"first_name": "Hostile", "last_name": "Input", "date_of_birth": "1990-05-17",
                          "gender": "F", "contact_number": "+1 555 0100"});
    for (k, v) in overrides.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn doctor(license: &str, overrides: Value) -> Value {
    let mut base = json!({"first_name": "Evil", "last_name": "Input", "specialization": "GP",
                          "contact_number": "555 0101", "email": "evil@example.org",
                          "license_number": license, "hospital": "General"});
    for (k, v) in overrides.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn cases(did: i64, pid: i64, aid: i64) -> Vec<Case> {
    use Want::{Is, OneOf};
    let mut c = Vec::new();
    let huge = "99999999999999999999";
    // --- Ids in paths.
    for resource in ["patients", "doctors", "mappings", "appointments", "users"] {
        for id in [
            huge,
            "-1",
            "0",
            "1e308",
            "1.0",
            "0x10",
            "9223372036854775807",
            "9223372036854775808",
            "%00",
            "%27%20OR%201=1%20--",
            "%F0%9F%92%A9",
            "%FF%FE",
        ] {
            c.push(case(
                format!("GET {resource} id {id}"),
                "GET",
                format!("/api/{resource}/{id}/"),
                Is(404),
            ));
        }
        c.push(json_case(
            format!("PATCH {resource} huge id"),
            "PATCH",
            format!("/api/{resource}/{huge}/"),
            &json!({"first_name": "x"}),
            Is(404),
        ));
        if resource != "users" {
            c.push(case(
                format!("DELETE {resource} id -1"),
                "DELETE",
                format!("/api/{resource}/-1/"),
                Is(404),
            ));
        }
    }
    c.push(case(
        "doctors of a huge patient id",
        "GET",
        format!("/api/mappings/patient/{huge}/"),
        Is(404),
    ));
    // --- Query strings.
    for (name, value) in [
        ("limit", "-1"),
        ("limit", "0"),
        ("limit", "1e3"),
        ("limit", "%00"),
        ("offset", "-5"),
        ("offset", "1.5"),
        ("limit", "-99999999999999999999"),
    ] {
        c.push(case(
            format!("patients ?{name}={value}"),
            "GET",
            format!("/api/patients/?{name}={value}"),
            Is(400),
        ));
    }
    // Past the 64-bit range a page size or offset is clamped like any too large one.
    for q in [
        "offset=9223372036854775807",
        "limit=9223372036854775807",
        "limit=1000&offset=9223372036854775807",
        "limit=99999999999999999999",
        "offset=99999999999999999999",
    ] {
        c.push(case(
            format!("appointments ?{q}"),
            "GET",
            format!("/api/appointments/?{q}"),
            Is(200),
        ));
    }
    for (name, value) in [
        ("doctor", huge),
        ("doctor", "1e308"),
        ("doctor", "%00"),
        ("patient", "-"),
        ("status", "%00"),
        ("status", "SCHEDULED,%27%20OR%201=1"),
        ("date_from", "2025-02-30"),
        ("date_to", "%2B275760-01-01"),
        ("date_to", "2025-12-20T24:00:00Z"),
        ("date_from", "2025-12-20T10:00:00"),
        ("ordering", "id%3BDROP%20TABLE%20appointments"),
    ] {
        c.push(case(
            format!("appointments ?{name}={value}"),
            "GET",
            format!("/api/appointments/?{name}={value}"),
            Is(400),
        ));
    }
    // Years outside 1900-2199 are refused, never ignored.
    for (value, want) in [
        ("0000-01-01", 400),
        ("100000-01-01", 400),
        ("1899-12-31", 400),
        ("2200-01-01", 400),
        ("9999-12-31T23:59:59Z", 400),
        ("1900-01-01", 200),
        ("2199-12-31", 200),
        ("2025-12-20T10:00:00%2B14:00", 200),
    ] {
        c.push(case(
            format!("appointments ?date_to={value}"),
            "GET",
            format!("/api/appointments/?date_to={value}"),
            Is(want),
        ));
        c.push(case(
            format!("appointments ?date_from={value}"),
            "GET",
            format!("/api/appointments/?date_from={value}"),
            Is(want),
        ));
    }
    // Free slots: the same year rule, and paging parameters as on lists.
    for (query, want) in [
        ("date_from=100000-01-01", 400),
        ("date_from=0000-01-01", 400),
        ("date_from=2030-04-01&date_to=2200-01-01", 400),
        ("date_from=2030-04-01T00:00:00Z", 400),
        ("date_from=2030-04-01&limit=0", 400),
        ("date_from=2030-04-01&limit=x", 400),
        ("date_from=2030-04-01&offset=-1", 400),
        ("date_from=2030-04-01&limit=99999999999999999999", 200),
        ("date_from=2030-04-01&offset=9223372036854775807", 200),
        ("date_from=2030-04-01&limit=9223372036854775807", 200),
    ] {
        c.push(case(
            format!("slots ?{query}"),
            "GET",
            format!("/api/doctors/{did}/slots/?{query}"),
            Is(want),
        ));
    }
    for search in [
        "%25",
        "_",
        "%25%25%25",
        "%5C",
        "%27%20OR%201=1%20--",
        "%22",
        "%00",
        "a%00b",
        "%F0%9F%92%A9",
        "%E2%80%AE",
        "[",
        "*",
        "(?i).*",
    ] {
        for resource in ["patients", "doctors"] {
            c.push(case(
                format!("{resource} ?search={search}"),
                "GET",
                format!("/api/{resource}/?search={search}"),
                OneOf(&[200, 400]),
            ));
        }
    }
    c.push(case(
        "search of 6 000 percent signs",
        "GET",
        format!("/api/patients/?search={}", "%25".repeat(6_000)),
        OneOf(&[200, 400, 414, 431]),
    ));
    c.push(case(
        "malformed query string",
        "GET",
        "/api/patients/?limit=%ZZ&&&==",
        OneOf(&[200, 400]),
    ));

    // --- Ids and numbers in bodies.
    let appt = |overrides: Value| {
        let mut base =
            json!({"doctor": did, "patient": pid, "appointment_datetime": "2040-01-01T10:00:00Z"});
        for (k, v) in overrides.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    for (name, body) in [
        (
            "doctor huge",
            appt(json!({"doctor": 99999999999999999999u128 as f64})),
        ),
        ("doctor -1", appt(json!({"doctor": -1}))),
        ("doctor 0", appt(json!({"doctor": 0}))),
        ("doctor 1e308", appt(json!({"doctor": 1e308}))),
        ("doctor 1.5", appt(json!({"doctor": 1.5}))),
        ("doctor i64 max", appt(json!({"doctor": i64::MAX}))),
        ("doctor i64 min", appt(json!({"doctor": i64::MIN}))),
        ("doctor u64 max", appt(json!({"doctor": u64::MAX}))),
        ("doctor true", appt(json!({"doctor": true}))),
        ("doctor null", appt(json!({"doctor": null}))),
        ("doctor list", appt(json!({"doctor": [did]}))),
        ("doctor object", appt(json!({"doctor": {"id": did}}))),
        ("doctor string word", appt(json!({"doctor": "one"}))),
        ("doctor string huge", appt(json!({"doctor": huge}))),
        ("doctor string NUL", appt(json!({"doctor": "\u{0}"}))),
        ("patient -1", appt(json!({"patient": -1}))),
        (
            "patient huge string",
            appt(json!({"patient": "-99999999999999999999"})),
        ),
        ("duration 1e308", appt(json!({"duration_minutes": 1e308}))),
        ("duration -1", appt(json!({"duration_minutes": -1}))),
        ("duration 0", appt(json!({"duration_minutes": 0}))),
        ("duration 481", appt(json!({"duration_minutes": 481}))),
        ("duration 30.5", appt(json!({"duration_minutes": 30.5}))),
        ("duration huge", appt(json!({"duration_minutes": u64::MAX}))),
        (
            "duration string word",
            appt(json!({"duration_minutes": "thirty"})),
        ),
        (
            "duration NaN string",
            appt(json!({"duration_minutes": "NaN"})),
        ),
        ("duration true", appt(json!({"duration_minutes": true}))),
        (
            "datetime number",
            appt(json!({"appointment_datetime": 1_900_000_000})),
        ),
        (
            "datetime 24:00",
            appt(json!({"appointment_datetime": "2040-01-01T24:00:00Z"})),
        ),
        (
            "datetime 23:59:60",
            appt(json!({"appointment_datetime": "2040-12-31T23:59:60Z"})),
        ),
        (
            "datetime year 0",
            appt(json!({"appointment_datetime": "0000-01-01T00:00:00Z"})),
        ),
        (
            "datetime naive",
            appt(json!({"appointment_datetime": "2040-01-01T10:00:00"})),
        ),
        (
            "datetime date only",
            appt(json!({"appointment_datetime": "2040-01-01"})),
        ),
        (
            "datetime offset +24:00",
            appt(json!({"appointment_datetime": "2040-01-01T10:00:00+24:00"})),
        ),
        (
            "datetime Feb 30",
            appt(json!({"appointment_datetime": "2040-02-30T10:00:00Z"})),
        ),
        (
            "datetime six-digit year",
            appt(json!({"appointment_datetime": "+275760-01-01T00:00:00Z"})),
        ),
        (
            "datetime NUL",
            appt(json!({"appointment_datetime": "2040-01-01T10:00:00Z\u{0}"})),
        ),
        ("datetime empty", appt(json!({"appointment_datetime": ""}))),
        (
            "datetime 10 000 characters",
            appt(json!({"appointment_datetime": "2".repeat(10_000)})),
        ),
        ("reason NUL", appt(json!({"reason": "a\u{0}b"}))),
        (
            "reason 100 000 characters",
            appt(json!({"reason": "r".repeat(60_000)})),
        ),
        (
            "status on create",
            appt(json!({"status": "COMPLETED", "appointment_datetime": "2040-01-01T08:00:00Z"})),
        ),
    ] {
        let want = match name {
            // Extra fields are ignored, as by the seed's framework.
            "status on create" => OneOf(&[201, 400]),
            "reason 100 000 characters" => OneOf(&[400, 413]),
            _ => Is(400),
        };
        c.push(json_case(
            format!("appointment {name}"),
            "POST",
            "/api/appointments/",
            &body,
            want,
        ));
    }
    // Valid, if unusual: accepted.
    for (name, body) in [
        (
            "doctor and patient as strings",
            appt(
                json!({"doctor": did.to_string(), "patient": pid.to_string(), "appointment_datetime": "2040-02-01T10:00:00Z"}),
            ),
        ),
        (
            "duration as string",
            appt(json!({"duration_minutes": "45", "appointment_datetime": "2040-02-02T10:00:00Z"})),
        ),
        (
            "duration as 30.0",
            appt(json!({"duration_minutes": 30.0, "appointment_datetime": "2040-02-03T10:00:00Z"})),
        ),
        (
            "offset +14:00",
            appt(json!({"appointment_datetime": "2040-02-04T10:00:00+14:00"})),
        ),
        (
            "offset -12:00",
            appt(json!({"appointment_datetime": "2040-02-05T10:00:00-12:00"})),
        ),
        (
            "lowercase z and t",
            appt(json!({"appointment_datetime": "2040-02-06t10:00:00z"})),
        ),
        (
            "nanoseconds",
            appt(json!({"appointment_datetime": "2040-02-07T10:00:00.123456789Z"})),
        ),
        (
            "last second of 9999",
            appt(json!({"appointment_datetime": "9999-12-31T23:59:59Z", "duration_minutes": 480})),
        ),
        (
            "unicode reason",
            appt(
                json!({"reason": "😷 Kopfschmerzen — ضيق تنفس \u{202e}gnp.exe", "appointment_datetime": "2040-02-08T10:00:00Z"}),
            ),
        ),
    ] {
        let want = if name == "last second of 9999" || name == "lowercase z and t" {
            OneOf(&[201, 400])
        } else {
            Is(201)
        };
        c.push(json_case(
            format!("appointment {name}"),
            "POST",
            "/api/appointments/",
            &body,
            want,
        ));
    }
    // Patients and doctors.
    for (name, body, want) in [
        (
            "first_name NUL",
            patient(json!({"first_name": "\u{0}"})),
            Is(400),
        ),
        (
            "first_name NUL inside",
            patient(json!({"first_name": "Ro\u{0}bert"})),
            Is(400),
        ),
        (
            "first_name number",
            patient(json!({"first_name": 123})),
            Is(400),
        ),
        (
            "first_name list",
            patient(json!({"first_name": ["a"]})),
            Is(400),
        ),
        (
            "first_name object",
            patient(json!({"first_name": {"$ne": ""}})),
            Is(400),
        ),
        (
            "first_name 101 characters",
            patient(json!({"first_name": "é".repeat(101)})),
            Is(400),
        ),
        (
            "first_name only spaces",
            patient(json!({"first_name": " \t\n "})),
            Is(400),
        ),
        (
            "last_name SQL",
            patient(json!({"last_name": "Robert'); DROP TABLE patients;--"})),
            Is(201),
        ),
        (
            "names in many scripts",
            patient(json!({"first_name": "李小龍", "last_name": "Ørsted-Ñúñez 👩‍⚕️"})),
            Is(201),
        ),
        (
            "combining and RTL marks",
            patient(
                json!({"first_name": "Z\u{0351}\u{036b}\u{0343}a\u{200f}", "last_name": "\u{202e}evil"}),
            ),
            Is(201),
        ),
        (
            "date_of_birth year 0",
            patient(json!({"date_of_birth": "0000-01-01"})),
            Is(400),
        ),
        (
            "date_of_birth 1899",
            patient(json!({"date_of_birth": "1899-12-31"})),
            Is(400),
        ),
        (
            "date_of_birth 1900-02-29",
            patient(json!({"date_of_birth": "1900-02-29"})),
            Is(400),
        ),
        (
            "date_of_birth 2000-02-29",
            patient(json!({"date_of_birth": "2000-02-29"})),
            Is(201),
        ),
        (
            "date_of_birth future",
            patient(json!({"date_of_birth": "9999-12-31"})),
            Is(400),
        ),
        (
            "date_of_birth five-digit year",
            patient(json!({"date_of_birth": "19900-01-01"})),
            Is(400),
        ),
        (
            "date_of_birth number",
            patient(json!({"date_of_birth": 19_900_101})),
            Is(400),
        ),
        (
            "date_of_birth date-time",
            patient(json!({"date_of_birth": "1990-01-01T00:00:00Z"})),
            Is(400),
        ),
        ("gender lowercase", patient(json!({"gender": "f"})), Is(400)),
        ("gender null", patient(json!({"gender": null})), Is(400)),
        ("gender number", patient(json!({"gender": 1})), Is(400)),
        (
            "contact Arabic digits",
            patient(json!({"contact_number": "٠١٢٣٤٥"})),
            Is(400),
        ),
        (
            "contact 16 characters",
            patient(json!({"contact_number": "1234567890123456"})),
            Is(400),
        ),
        (
            "contact as number",
            patient(json!({"contact_number": 5550100})),
            Is(400),
        ),
        (
            "email without domain",
            patient(json!({"email": "a@"})),
            Is(400),
        ),
        (
            "email with NUL",
            patient(json!({"email": "a\u{0}@example.org"})),
            Is(400),
        ),
        (
            "user huge",
            patient(json!({"user": 99999999999999999999u128 as f64})),
            Is(400),
        ),
        ("user -1", patient(json!({"user": -1})), Is(400)),
        ("user string", patient(json!({"user": "me"})), Is(400)),
        (
            "medical_history 1 MB",
            patient(json!({"medical_history": "m".repeat(1 << 20)})),
            Is(413),
        ),
    ] {
        c.push(json_case(
            format!("patient {name}"),
            "POST",
            "/api/patients/",
            &body,
            want,
        ));
    }
    for (name, body, want) in [
        (
            "experience 1e308",
            doctor("H-1", json!({"experience_years": 1e308})),
            Is(400),
        ),
        (
            "experience -1",
            doctor("H-2", json!({"experience_years": -1})),
            Is(400),
        ),
        (
            "experience 81",
            doctor("H-3", json!({"experience_years": 81})),
            Is(400),
        ),
        (
            "experience string",
            doctor("H-4", json!({"experience_years": "12"})),
            Is(201),
        ),
        (
            "experience huge string",
            doctor("H-5", json!({"experience_years": huge})),
            Is(400),
        ),
        (
            "specialization unknown",
            doctor("H-6", json!({"specialization": "QUACK"})),
            Is(400),
        ),
        ("license NUL", doctor("H-\u{0}7", json!({})), Is(400)),
        (
            "license 51 characters",
            doctor(&"L".repeat(51), json!({})),
            Is(400),
        ),
        ("license unicode", doctor("ЛИЦ-😀", json!({})), Is(201)),
        ("license SQL LIKE", doctor("%_'\\", json!({})), Is(201)),
        (
            "user huge",
            doctor("H-8", json!({"user": u64::MAX})),
            Is(400),
        ),
    ] {
        c.push(json_case(
            format!("doctor {name}"),
            "POST",
            "/api/doctors/",
            &body,
            want,
        ));
    }
    c.push(json_case(
        "mapping huge ids",
        "POST",
        "/api/mappings/",
        &json!({"doctor": i64::MAX, "patient": i64::MIN}),
        Is(400),
    ));
    c.push(json_case(
        "mapping is_active string",
        "POST",
        "/api/mappings/",
        &json!({"doctor": did, "patient": pid, "is_active": "yes"}),
        Is(400),
    ));
    // PATCH with nasty values.
    for (name, body) in [
        (
            "patch datetime naive",
            json!({"appointment_datetime": "2040-03-01T10:00:00"}),
        ),
        (
            "patch datetime 24:00",
            json!({"appointment_datetime": "2040-03-01T24:00:00Z"}),
        ),
        ("patch duration 1e308", json!({"duration_minutes": 1e308})),
        ("patch status lower", json!({"status": "cancelled"})),
        ("patch status NUL", json!({"status": "CANCELLED\u{0}"})),
        ("patch status number", json!({"status": 2})),
        ("patch doctor huge", json!({"doctor": u64::MAX})),
        (
            "patch cancellation NUL",
            json!({"cancellation_reason": "\u{0}"}),
        ),
    ] {
        c.push(json_case(
            name,
            "PATCH",
            format!("/api/appointments/{aid}/"),
            &body,
            Is(400),
        ));
    }
    c.push(json_case(
        "patch patient null name",
        "PATCH",
        format!("/api/patients/{pid}/"),
        &json!({"first_name": null}),
        Is(400),
    ));
    // --- Auth endpoints with hostile strings (the login must not throttle the admin used
    // by the rest of the table: usernames other than "admin").
    for (name, body, want) in [
        (
            "login NUL username",
            json!({"username": "ad\u{0}min", "password": "x"}),
            OneOf(&[400, 401]),
        ),
        (
            "login huge username",
            json!({"username": "u".repeat(60_000), "password": "x"}),
            OneOf(&[400, 401, 413]),
        ),
        (
            "login numbers",
            json!({"username": 1, "password": 2}),
            Is(400),
        ),
        (
            "login nulls",
            json!({"username": null, "password": null}),
            Is(400),
        ),
        (
            "login SQL",
            json!({"username": "' OR 1=1 --", "password": "' OR 1=1 --"}),
            Is(401),
        ),
        (
            "login LIKE",
            json!({"username": "%", "password": "%"}),
            Is(401),
        ),
    ] {
        c.push(json_case(name, "POST", "/api/token/", &body, want));
    }
    for (name, body, want) in [
        (
            "register NUL username",
            json!({"username": "ev\u{0}il", "email": "e@example.org", "password": PW}),
            Is(400),
        ),
        (
            "register NUL password",
            json!({"username": "evil2", "email": "e@example.org", "password": "correct\u{0}horse battery"}),
            OneOf(&[201, 400]),
        ),
        (
            "register username as number",
            json!({"username": 12345, "email": "e@example.org", "password": PW}),
            Is(400),
        ),
        (
            "register 80 000 character password",
            json!({"username": "evil3", "email": "e@example.org", "password": "p".repeat(50_000)}),
            OneOf(&[400, 413]),
        ),
        (
            "register emoji username",
            json!({"username": "😀😀", "email": "e@example.org", "password": PW}),
            OneOf(&[201, 400]),
        ),
    ] {
        c.push(json_case(name, "POST", "/api/auth/register/", &body, want));
    }
    for (name, body) in [
        ("refresh number", json!({"refresh": 1})),
        ("refresh NUL", json!({"refresh": "\u{0}"})),
        ("refresh huge", json!({"refresh": "a.b.".repeat(10_000)})),
    ] {
        c.push(json_case(
            name,
            "POST",
            "/api/token/refresh/",
            &body,
            OneOf(&[400, 401]),
        ));
    }

    // --- Whole bodies.
    let p = "/api/patients/";
    c.push(raw_case(
        "10 MB body",
        "POST",
        p,
        vec![b' '; 10 * 1024 * 1024],
        Some("application/json"),
        Is(413),
    ));
    c.push(raw_case(
        "10 MB JSON string",
        "POST",
        p,
        format!("{{\"first_name\": \"{}\"}}", "x".repeat(10 * 1024 * 1024)).into_bytes(),
        Some("application/json"),
        Is(413),
    ));
    c.push(raw_case(
        "100 000 [ (over the body limit)",
        "POST",
        p,
        vec![b'['; 100_000],
        Some("application/json"),
        Is(413),
    ));
    c.push(raw_case(
        "60 000 [",
        "POST",
        p,
        vec![b'['; 60_000],
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "60 000 [ inside a field",
        "POST",
        p,
        format!("{{\"first_name\": {}", "[".repeat(60_000)).into_bytes(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "10 000 nested objects",
        "POST",
        p,
        "{\"a\":".repeat(10_000).into_bytes(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "balanced deep nesting",
        "POST",
        p,
        format!(
            "{{\"first_name\": {}{}}}",
            "[".repeat(20_000),
            "]".repeat(20_000)
        )
        .into_bytes(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "invalid UTF-8 in a string",
        "POST",
        p,
        b"{\"first_name\": \"\xff\xfe\xc3\x28\"}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "invalid UTF-8 as a key",
        "POST",
        p,
        b"{\"\xc0\xaf\": 1}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "overlong UTF-8 NUL",
        "POST",
        p,
        b"{\"first_name\": \"\xc0\x80\"}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "lone surrogate",
        "POST",
        p,
        br#"{"first_name": "\ud800", "last_name": "x"}"#.to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "UTF-8 BOM",
        "POST",
        p,
        b"\xef\xbb\xbf{}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "UTF-16 body",
        "POST",
        p,
        b"\xff\xfe{\x00}\x00".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "number 1e999999",
        "POST",
        p,
        br#"{"first_name": 1e999999}"#.to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "number with 10 000 digits",
        "POST",
        p,
        format!("{{\"user\": {}}}", "9".repeat(10_000)).into_bytes(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "NaN literal",
        "POST",
        p,
        br#"{"user": NaN}"#.to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "trailing garbage",
        "POST",
        p,
        b"{} x".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "two objects",
        "POST",
        p,
        b"{}{}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "single quotes",
        "POST",
        p,
        b"{'first_name': 'x'}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "comment",
        "POST",
        p,
        b"{/* */}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "NUL byte outside strings",
        "POST",
        p,
        b"{\x00}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "raw control character in a string",
        "POST",
        p,
        b"{\"first_name\": \"a\x01b\"}".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "empty body",
        "POST",
        p,
        Vec::new(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "whitespace body",
        "POST",
        p,
        b" \n\t ".to_vec(),
        Some("application/json"),
        Is(400),
    ));
    for (name, body) in [
        ("array", "[]"),
        ("array of object", "[{}]"),
        ("number", "42"),
        ("string", "\"patient\""),
        ("null", "null"),
        ("true", "true"),
    ] {
        c.push(raw_case(
            format!("{name} instead of an object"),
            "POST",
            p,
            body.as_bytes().to_vec(),
            Some("application/json"),
            Is(400),
        ));
    }
    c.push(raw_case(
        "duplicate keys (last wins, as in the seed's framework)",
        "POST",
        p,
        br#"{"first_name": "First", "first_name": "Second", "last_name": "Dup", "date_of_birth": "1990-05-17", "gender": "F", "contact_number": "1"}"#.to_vec(),
        Some("application/json"),
        Is(201),
    ));
    c.push(raw_case(
        "duplicate keys of different types",
        "POST",
        p,
        br#"{"first_name": {"a": 1}, "first_name": null, "last_name": "Dup", "date_of_birth": "1990-05-17", "gender": "F", "contact_number": "1"}"#.to_vec(),
        Some("application/json"),
        Is(400),
    ));
    c.push(raw_case(
        "3 000 unknown keys",
        "POST",
        p,
        format!(
            "{{{}}}",
            (0..3_000)
                .map(|i| format!("\"k{i}\": {i}"))
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_bytes(),
        Some("application/json"),
        Is(400),
    ));
    // --- Content types.
    let valid = patient(json!({})).to_string().into_bytes();
    for (ct, want) in [
        ("text/plain", Is(415)),
        ("application/xml", Is(415)),
        ("application/x-www-form-urlencoded", Is(415)),
        ("multipart/form-data; boundary=x", Is(415)),
        ("application/javascript", Is(415)),
        ("application/json-patch", Is(415)),
        ("json", Is(415)),
        ("", Is(415)),
        ("application/json; charset=utf-8", Is(201)),
        ("APPLICATION/JSON", Is(201)),
        ("application/merge-patch+json", Is(201)),
    ] {
        c.push(raw_case(
            format!("content type {ct:?}"),
            "POST",
            p,
            valid.clone(),
            Some(ct),
            want,
        ));
    }
    c.push(raw_case(
        "no content type",
        "POST",
        p,
        valid.clone(),
        None,
        Is(415),
    ));
    c.push(raw_case(
        "no content type, empty body",
        "POST",
        p,
        Vec::new(),
        None,
        Is(400),
    ));
    // --- Methods.
    for (method, path) in [
        ("PUT", "/api/patients/"),
        ("PUT", "/api/patients/1/"),
        ("DELETE", "/api/patients/"),
        ("PATCH", "/api/appointments/"),
        ("TRACE", "/api/health/"),
        ("POST", "/api/health/"),
        ("DELETE", "/api/users/1/"),
    ] {
        c.push(case(format!("{method} {path}"), method, path, Is(405)));
    }
    c.push(case(
        "unknown path",
        "GET",
        "/api/../../etc/passwd",
        Is(404),
    ));
    c.push(case("path with NUL", "GET", "/api/patients%00/", Is(404)));
    c.push(case(
        "very long path",
        "GET",
        format!("/api/{}/", "a".repeat(20_000)),
        OneOf(&[404, 414, 431]),
    ));
    c
}

fn run(server: &Server, backend: &str) {
    let started = std::time::Instant::now();
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let did = admin.post("/api/doctors/", doctor("H-0", json!({}))).id();
    let pid = admin.post("/api/patients/", patient(json!({}))).id();
    let booked = admin.post(
        "/api/appointments/",
        json!({"doctor": did, "patient": pid, "appointment_datetime": "2039-01-01T10:00:00Z"}),
    );
    assert_eq!(booked.status, 201, "{booked:?}");
    let aid = booked.id();
    let cases = cases(did, pid, aid);
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for c in &cases {
        let reply = match &c.body {
            Some(body) => admin.try_raw_bytes(c.method, &c.path, body, c.content_type),
            None => admin.try_raw_bytes(c.method, &c.path, b"", None),
        };
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: no HTTP answer ({e})", c.name));
                continue;
            }
        };
        *statuses.entry(reply.status).or_default() += 1;
        let status_ok = match c.want {
            Want::Is(s) => reply.status == s,
            Want::OneOf(set) => set.contains(&reply.status),
        };
        let shape_ok = match reply.status {
            // Lists answer arrays; everything else an object.
            200 if c.method == "GET" => reply.body.is_array() || reply.body.is_object(),
            204 => true,
            _ => reply.body.is_object(),
        };
        let detail_ok = !(400..500).contains(&reply.status)
            || reply.body.as_object().is_some_and(|o| !o.is_empty());
        if reply.status >= 500 || !status_ok || !shape_ok || !detail_ok {
            let mut body = reply.body.to_string();
            body.truncate(300);
            failures.push(format!(
                "{}: {} {} -> {} {body} (wanted {:?})",
                c.name,
                c.method,
                c.path.chars().take(80).collect::<String>(),
                reply.status,
                c.want
            ));
        }
    }
    // Still healthy, and the data is intact.
    assert_eq!(anon.get("/api/health/").status, 200);
    assert_eq!(anon.get("/api/ready/").status, 200);
    assert_eq!(admin.get(&format!("/api/patients/{pid}/")).status, 200);
    let count = admin.get("/api/patients/?limit=1");
    assert_eq!(count.status, 200);
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases misbehaved:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    healthcare_testing::report(&format!(
        "hostile[{backend}]: {} cases, answers by status {statuses:?}, no 5xx ({:.2?})",
        cases.len(),
        started.elapsed()
    ));
}

#[test]
fn table_sqlite() {
    let app = TestApp::sqlite().start().unwrap();
    run(&app, "sqlite");
}

#[test]
fn table_postgres() {
    if let Some(app) = TestApp::postgres().start() {
        run(&app, "postgres");
    }
}

/// Everything the server sends on `stream` until it closes the connection (or `limit` passes),
/// and whether it did close it.
fn read_until_closed(stream: &mut std::net::TcpStream, limit: Duration) -> (String, bool) {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&bytes).into_owned(), closed)
}

/// Status, lower-cased header lines and body of a raw HTTP/1.1 answer.
fn parse_raw(answer: &str) -> (u16, Vec<String>, String) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        lines.map(str::to_ascii_lowercase).collect(),
        body.to_owned(),
    )
}

/// Sends a request head (asking to keep the connection open unless `close`) and the first
/// bytes of its body, then stalls.
fn stall(
    server: &Server,
    path: &str,
    token: Option<&str>,
    close: bool,
) -> (std::net::TcpStream, Instant) {
    use std::io::Write;
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let connection = if close { "close" } else { "keep-alive" };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: {connection}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"username"
    );
    stream.write_all(head.as_bytes()).unwrap();
    (stream, Instant::now())
}

/// A body not received in full within `HEALTHCARE_BODY_TIMEOUT` (2 s here) answers 408 with a
/// JSON `detail` and `Connection: close`, and the server closes the connection; a body that
/// pauses for less than that is read as usual.
fn slow_bodies(server: &Server) {
    let admin = server.client().register("admin", PW);
    let token = admin.token.clone().unwrap();
    for (path, token) in [
        ("/api/token/", None),
        ("/api/appointments/", Some(token.as_str())),
    ] {
        let (mut stream, started) = stall(server, path, token, false);
        let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(8));
        let waited = started.elapsed();
        let (status, headers, body) = parse_raw(&answer);
        assert_eq!(status, 408, "{path}: {answer:?}");
        let body: Value = serde_json::from_str(&body).unwrap_or_default();
        assert!(body["detail"].is_string(), "{path}: {answer:?}");
        assert!(
            headers.iter().any(|h| h == "connection: close"),
            "{path}: {headers:?}"
        );
        assert!(closed, "{path}: the connection stayed open after the 408");
        assert!(
            waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
            "{path}: answered after {waited:?} with a 2 s body timeout"
        );
    }
    // A pause shorter than the timeout is fine: the body is read and answered as usual.
    let (mut stream, _) = stall(server, "/api/token/", None, true);
    std::thread::sleep(Duration::from_millis(800));
    {
        use std::io::Write;
        let rest = format!("{:<90}", "\": \"nobody\", \"password\": \"wrong\"}");
        assert_eq!(rest.len(), 90);
        stream.write_all(rest.as_bytes()).unwrap();
    }
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(3));
    assert_eq!(parse_raw(&answer).0, 401, "{answer:?}");
    assert_eq!(server.client().get("/api/health/").status, 200);
}

#[test]
fn slow_body_sqlite() {
    let app = TestApp::sqlite()
        .env("HEALTHCARE_BODY_TIMEOUT", "2")
        .start()
        .unwrap();
    slow_bodies(&app);
}

#[test]
fn slow_body_postgres() {
    if let Some(app) = TestApp::postgres()
        .env("HEALTHCARE_BODY_TIMEOUT", "2")
        .start()
    {
        slow_bodies(&app);
    }
}
