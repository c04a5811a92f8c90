//! The FHIR R4 facade from outside, on SQLite and PostgreSQL: every resource it serves
//! (CapabilityStatement, Patient, Practitioner, Appointment, Schedule, Slot, Bundle,
//! OperationOutcome) is validated by two independent FHIR R4 libraries (`fhir.resources` and
//! SMART on FHIR's `fhirclient`, tests/fhir/fhir_check.py), `fhirclient` searches and pages
//! through the running server as a real client, and the searches, bookings, errors, roles,
//! scope and audit trail behave as docs/fhir.md says.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Duration, Utc};
use healthcare_testing::{http_test, Client, Reply, Server};
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::{Command, Stdio};

const PW: &str = "correct horse battery";
const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// Runs tests/fhir/fhir_check.py with `args`, `input` on its standard input.
fn check(args: &[&str], input: &str) -> Value {
    let python = healthcare_testing::python_venv(
        "fhir",
        &[
            "fhir.resources==6.1.0",
            "pydantic==1.9.2",
            "fhirclient==4.3.2",
        ],
    );
    let mut child = Command::new(python)
        .arg(healthcare_testing::workspace_root().join("tests/fhir/fhir_check.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A FHIR answer: its media type, and its body.
fn fhir(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some(FHIR_JSON), "{reply:?}");
    reply.body.clone()
}

/// An `OperationOutcome` of `status` whose first issue has `code`; its diagnostics.
fn outcome(reply: &Reply, status: u16, code: &str) -> String {
    let body = fhir(reply, status);
    assert_eq!(body["resourceType"], "OperationOutcome", "{reply:?}");
    assert_eq!(body["issue"][0]["severity"], "error", "{reply:?}");
    assert_eq!(body["issue"][0]["code"], code, "{reply:?}");
    body["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["diagnostics"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `Type/id` of each entry of a searchset Bundle, in order.
fn refs(bundle: &Value) -> Vec<String> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| {
                    let r = &e["resource"];
                    format!(
                        "{}/{}",
                        r["resourceType"].as_str().unwrap(),
                        r["id"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn at(days: i64, hour: u32) -> String {
    let day = (Utc::now() + Duration::days(days)).date_naive();
    format!("{day}T{hour:02}:00:00Z")
}

fn day(days: i64) -> String {
    (Utc::now() + Duration::days(days)).date_naive().to_string()
}

/// A clinic: an admin, a doctor working 08:00-18:00 UTC every day, two patients (one owned by
/// a patient account), and the patient account.
struct Clinic {
    admin: Client,
    pat: Client,
    doctor: i64,
    own: i64,
    other: i64,
}

fn clinic(server: &Server) -> Clinic {
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let doctor = admin
        .post(
            "/api/doctors/",
            json!({"first_name": "Gregory", "last_name": "House", "specialization": "CAR",
                   "contact_number": "555 0101", "license_number": "LIC-F1", "hospital": "PPTH",
                   "email": "house@example.org"}),
        )
        .id();
    let weekly: Vec<Value> = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "08:00", "end": "18:00"}))
        .collect();
    let hours = admin.send(
        "PUT",
        &format!("/api/doctors/{doctor}/working-hours/"),
        Some(&json!({"timezone": "UTC", "weekly": weekly})),
    );
    assert_eq!(hours.status, 200, "{hours:?}");
    let pat = anon.register("pat", PW);
    let own = pat.post(
        "/api/patients/",
        json!({"first_name": "Zelda", "last_name": "Quartz", "date_of_birth": "1985-02-03",
               "gender": "F", "contact_number": "555 0100", "email": "zelda@example.org",
               "address": "1 Main St", "medical_history": "Private history"}),
    );
    assert_eq!(own.status, 201, "{own:?}");
    let other = admin
        .post(
            "/api/patients/",
            json!({"first_name": "Otto", "last_name": "Other", "date_of_birth": "1980-01-01",
                   "gender": "M", "contact_number": "555 0102"}),
        )
        .id();
    Clinic {
        admin,
        pat,
        doctor,
        own: own.id(),
        other,
    }
}

fn book(admin: &Client, doctor: i64, patient: i64, when: &str, status: &str) -> i64 {
    let r = admin.post(
        "/api/appointments/",
        json!({"doctor": doctor, "patient": patient, "appointment_datetime": when,
               "reason": "Chest pain", "status": status}),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.id()
}

/// Every kind of resource the facade serves, validated by both libraries; then `fhirclient`
/// searches and pages through the server.
fn resources_are_valid_r4_and_page_for_a_fhir_client(server: &Server) {
    let c = clinic(server);
    let a1 = book(&c.admin, c.doctor, c.own, &at(2, 9), "SCHEDULED");
    let a2 = book(&c.admin, c.doctor, c.other, &at(2, 11), "SCHEDULED");
    let a3 = book(&c.admin, c.doctor, c.own, &at(3, 9), "PENDING");
    let a4 = book(&c.admin, c.doctor, c.other, &at(4, 9), "SCHEDULED");
    let a5 = book(&c.admin, c.doctor, c.own, &at(5, 9), "SCHEDULED");
    let cancelled = c.admin.patch(
        &format!("/api/appointments/{a5}/"),
        json!({"status": "CANCELLED", "cancellation_reason": "Patient called"}),
    );
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let anon = server.client();
    let mut served = vec![fhir(&anon.get("/fhir/R4/metadata"), 200)];
    for path in [
        format!("/fhir/R4/Patient/{}", c.own),
        "/fhir/R4/Patient?name=zel".to_owned(),
        format!("/fhir/R4/Practitioner/{}", c.doctor),
        "/fhir/R4/Practitioner?name=HOU".to_owned(),
        format!("/fhir/R4/Appointment/{a1}"),
        format!("/fhir/R4/Appointment/{a5}"),
        format!(
            "/fhir/R4/Appointment?practitioner=Practitioner/{}&status=booked,pending,cancelled",
            c.doctor
        ),
        format!("/fhir/R4/Schedule/{}", c.doctor),
        format!("/fhir/R4/Schedule?actor=Practitioner/{}", c.doctor),
        format!(
            "/fhir/R4/Slot?schedule=Schedule/{}&start=ge{}&start=lt{}",
            c.doctor,
            day(1),
            day(2)
        ),
    ] {
        served.push(fhir(&c.admin.get(&path), 200));
    }
    for (reply, status) in [
        (c.admin.get("/fhir/R4/Patient/999999"), 404),
        (anon.get("/fhir/R4/Patient"), 401),
        (c.admin.get("/fhir/R4/Appointment?date=yesterday"), 400),
        (
            c.admin.raw(
                "POST",
                "/fhir/R4/Appointment",
                Some("{\"resourceType\": "),
                Some("application/fhir+json"),
            ),
            400,
        ),
    ] {
        served.push(fhir(&reply, status));
    }
    let checked = check(&["validate"], &Value::Array(served.clone()).to_string());
    assert_eq!(checked["invalid"], json!([]), "{checked}\n{served:#?}");
    for kind in [
        "CapabilityStatement",
        "Patient",
        "Practitioner",
        "Appointment",
        "Schedule",
        "Slot",
        "Bundle",
        "OperationOutcome",
    ] {
        assert!(
            checked["by_type"][kind].as_i64().unwrap_or(0) > 0,
            "{kind}: {checked}"
        );
    }
    // A resource the libraries must refuse (the check is not a rubber stamp).
    let mut broken = served[5].clone();
    broken["status"] = json!("nonsense");
    broken["minutesDuration"] = json!("thirty");
    let refused = check(&["validate"], &json!([broken]).to_string());
    assert_ne!(refused["invalid"], json!([]), "{refused}");

    // The mapping: no medical history, statuses, participants, the cancellation reason.
    let patient = &served[1];
    assert_eq!(patient["birthDate"], "1985-02-03");
    assert_eq!(patient["gender"], "female");
    assert!(!patient.to_string().contains("Private history"));
    let booked = &served[5];
    assert_eq!(booked["status"], "booked");
    assert_eq!(booked["start"], at(2, 9));
    assert_eq!(booked["minutesDuration"], 30);
    assert_eq!(
        booked["participant"][0]["actor"]["reference"],
        format!("Patient/{}", c.own)
    );
    assert_eq!(
        booked["participant"][1]["actor"]["reference"],
        format!("Practitioner/{}", c.doctor)
    );
    assert_eq!(served[6]["status"], "cancelled");
    assert_eq!(served[6]["cancelationReason"]["text"], "Patient called");
    assert_eq!(
        refs(&served[7]),
        [a1, a2, a3, a4, a5].map(|a| format!("Appointment/{a}"))
    );
    // Free slots of 30 minutes, 08:00-18:00 the next day: 20.
    assert_eq!(served[10]["total"], 20, "{}", served[10]);

    // fhirclient as the client: searches with repeated parameters, paged by `next` links.
    let token = c.admin.token.clone().unwrap();
    let base = format!("{}/fhir/R4", server.base);
    let queries = [
        format!(
            "Appointment?practitioner=Practitioner/{}&date=ge{}&date=lt{}&_count=2",
            c.doctor,
            day(2),
            day(5)
        ),
        "Patient?name=o&_count=1".to_owned(),
        format!(
            "Slot?schedule=Schedule/{}&start=ge{}&start=lt{}&status=free&_count=7",
            c.doctor,
            day(1),
            day(2)
        ),
        "Practitioner?_count=1".to_owned(),
    ];
    let mut args = vec!["client", base.as_str(), token.as_str()];
    args.extend(queries.iter().map(String::as_str));
    let paged = check(&args, "");
    let results = paged["results"].as_array().unwrap();
    for r in results {
        assert_eq!(r["errors"], json!([]), "{r}");
        assert_eq!(r["fullUrls_ok"], true, "{r}");
    }
    // a1, a2, the live hold a3 and a4 (as the REST list: every status but EXPIRED), 2 pages.
    assert_eq!(results[0]["total"], 4, "{}", results[0]);
    assert_eq!(results[0]["pages"], 2);
    assert_eq!(
        results[0]["ids"],
        json!([a1, a2, a3, a4].map(|a| format!("Appointment/{a}")))
    );
    // Otto (first name) and Zelda Quartz? No: names *start* with "o": Otto Other only.
    assert_eq!(results[1]["ids"], json!([format!("Patient/{}", c.other)]));
    assert_eq!(results[2]["total"], 20);
    assert_eq!(results[2]["pages"], 3);
    assert_eq!(results[2]["ids"].as_array().unwrap().len(), 20);
    assert_eq!(
        results[3]["ids"],
        json!([format!("Practitioner/{}", c.doctor)])
    );
}

/// Dates with prefixes, statuses, references, paging, strict handling, and the errors.
fn searches_read_as_fhir_says(server: &Server) {
    let c = clinic(server);
    let a = book(&c.admin, c.doctor, c.own, &at(2, 9), "SCHEDULED");
    let b = book(&c.admin, c.doctor, c.other, &at(3, 9), "SCHEDULED");
    let h = book(&c.admin, c.doctor, c.own, &at(4, 9), "PENDING");
    let get = |path: &str| fhir(&c.admin.get(path), 200);
    let ap = |q: &str| {
        refs(&get(&format!(
            "/fhir/R4/Appointment?practitioner={}&{q}",
            c.doctor
        )))
    };
    let ids = |list: &[i64]| {
        list.iter()
            .map(|i| format!("Appointment/{i}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(ap(&format!("date={}", day(2))), ids(&[a]));
    assert_eq!(ap(&format!("date=ge{}", day(3))), ids(&[b, h]));
    assert_eq!(ap(&format!("date=gt{}", day(2))), ids(&[b, h]));
    assert_eq!(ap(&format!("date=le{}", day(2))), ids(&[a]));
    assert_eq!(ap(&format!("date=lt{}", day(3))), ids(&[a]));
    assert_eq!(
        ap(&format!("date=ge{}&date=lt{}", day(2), day(4))),
        ids(&[a, b])
    );
    assert_eq!(
        ap(&format!("date=gt{}", at(2, 9).replace('Z', "%2B00:00"))),
        ids(&[b, h])
    );
    assert_eq!(
        ap(&format!("date=ge{}&status=booked", at(2, 9))),
        ids(&[a, b])
    );
    assert_eq!(ap("status=pending"), ids(&[h]));
    assert_eq!(ap("status=booked,pending"), ids(&[a, b, h]));
    assert_eq!(ap("status=booked&status=pending"), ids(&[]));
    assert_eq!(ap("status=proposed"), ids(&[]));
    assert_eq!(ap(&format!("patient=Patient/{}", c.own)), ids(&[a, h]));
    assert_eq!(ap("unknown=1"), ids(&[a, b, h]));
    // Paging: _count, total, next and previous links; _count=0 gives the total only.
    let page = get("/fhir/R4/Appointment?status=booked,pending&_count=2&_offset=1");
    assert_eq!(page["total"], 3);
    assert_eq!(refs(&page), ids(&[b, h]));
    let links: Vec<&str> = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["relation"].as_str().unwrap())
        .collect();
    assert_eq!(links, ["self", "previous"]);
    assert!(page["link"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/fhir/R4/Appointment?", server.base)));
    let only_total = get("/fhir/R4/Appointment?_count=0");
    assert_eq!(
        (only_total["total"].as_i64(), only_total.get("entry")),
        (Some(3), None)
    );
    // A page size past the 64-bit range reads as the largest page, as any too large one does.
    let huge = get("/fhir/R4/Appointment?status=booked,pending&_count=99999999999999999999");
    assert_eq!(refs(&huge).len(), 3);
    // Patient searches: name prefixes, birth dates.
    let pt = |q: &str| refs(&get(&format!("/fhir/R4/Patient?{q}")));
    assert_eq!(pt("name=QUA"), [format!("Patient/{}", c.own)]);
    assert_eq!(pt("name=uartz"), Vec::<String>::new());
    assert_eq!(pt("birthdate=1980-01-01"), [format!("Patient/{}", c.other)]);
    assert_eq!(pt("birthdate=ge1981"), [format!("Patient/{}", c.own)]);
    assert_eq!(pt("birthdate=lt1985-02-03").len(), 1);

    // Errors are OperationOutcomes with the REST API's status and words.
    let bad = |path: &str, status: u16, code: &str| outcome(&c.admin.get(path), status, code);
    assert!(bad("/fhir/R4/Appointment?date=ne2026", 400, "invalid").contains("date"));
    assert!(bad("/fhir/R4/Appointment?status=nonsense", 400, "invalid").contains("nonsense"));
    assert!(bad(
        "/fhir/R4/Appointment?patient=Practitioner/1",
        400,
        "invalid"
    )
    .contains("patient"));
    assert!(bad("/fhir/R4/Patient?name:exact=Otto", 400, "invalid").contains("name:exact"));
    assert!(bad("/fhir/R4/Patient?_count=-1", 400, "invalid").contains("_count"));
    assert!(bad("/fhir/R4/Slot?start=ge2030-01-01", 400, "invalid").contains("schedule"));
    let wide = format!(
        "/fhir/R4/Slot?schedule=Schedule/{}&start=ge{}&start=lt{}",
        c.doctor,
        day(1),
        day(40)
    );
    assert!(bad(&wide, 400, "invalid").contains("31 days"));
    bad("/fhir/R4/Appointment/999999", 404, "not-found");
    bad("/fhir/R4/Appointment/abc", 404, "not-found");
    bad("/fhir/R4/Observation", 404, "not-found");
    let strict = c.admin.with_header("Prefer", "handling=strict");
    outcome(&strict.get("/fhir/R4/Patient?unknown=1"), 400, "invalid");
    outcome(
        &c.admin
            .send("DELETE", &format!("/fhir/R4/Patient/{}", c.own), None),
        405,
        "not-supported",
    );
    // Hostile values: always a FHIR answer below 500.
    for path in [
        "/fhir/R4/Appointment?_count=1000&_offset=9223372036854775807",
        "/fhir/R4/Appointment?_count=99999999999999999999",
        "/fhir/R4/Appointment?date=ge2199-12-31T23:59:59Z&date=le2199-12-31",
        "/fhir/R4/Appointment?date=lt1900-01-01&date=gt0000",
        "/fhir/R4/Appointment?patient=Patient/99999999999999999999",
        "/fhir/R4/Appointment?status=,,,",
        "/fhir/R4/Patient?name=%25_%5C&birthdate=ge2199",
        "/fhir/R4/Patient?birthdate=1990-02-30",
        "/fhir/R4/Slot?schedule=Schedule/1&start=ge2199-12-30",
        "/fhir/R4/Slot?schedule=Schedule/1&start=lt1900-01-02",
        "/fhir/R4/Slot?schedule=1&status=busy,free",
        "/fhir/R4/Schedule?actor=Practitioner/0",
        "/fhir/R4/Patient/99999999999999999999",
        "/fhir/R4/Patient/-1",
        "/fhir/R4//Patient",
        "/fhir/R4/Appointment/1/_history/1",
    ] {
        let r = c.admin.get(path);
        assert!(r.status < 500, "{path}: {r:?}");
        assert_eq!(r.header("content-type"), Some(FHIR_JSON), "{path}: {r:?}");
    }
    // JSON only: XML asked for is 406; JSON asked for in any spelling is served.
    outcome(
        &c.admin.get("/fhir/R4/Patient?_format=xml"),
        406,
        "not-supported",
    );
    let xml = c.admin.with_header("Accept", "application/fhir+xml");
    outcome(&xml.get("/fhir/R4/Patient"), 406, "not-supported");
    fhir(&c.admin.get("/fhir/R4/Patient?_format=json"), 200);
    let json_too = c.admin.with_header(
        "Accept",
        "application/fhir+json, application/fhir+xml;q=0.5",
    );
    fhir(
        &json_too.get("/fhir/R4/Patient?_format=application/fhir%2Bjson"),
        200,
    );
    // A read's weak ETag answers If-None-Match with 304.
    let read = c.admin.get(&format!("/fhir/R4/Patient/{}", c.own));
    let tag = read.header("etag").unwrap().to_owned();
    assert!(tag.starts_with("W/\""), "{tag}");
    let again = c
        .admin
        .with_header("If-None-Match", &tag)
        .get(&format!("/fhir/R4/Patient/{}", c.own));
    assert_eq!(
        (again.status, again.header("etag")),
        (304, Some(tag.as_str())),
        "{again:?}"
    );
    let anon = server.client().get("/fhir/R4/Patient");
    outcome(&anon, 401, "login");
    assert!(anon.header("www-authenticate").is_some());
    outcome(
        &server
            .client()
            .with_token("nonsense")
            .get("/fhir/R4/Appointment"),
        401,
        "login",
    );

    // Roles and scope as in the REST API: the patient account sees its own records only.
    let mine = fhir(&c.pat.get("/fhir/R4/Patient"), 200);
    assert_eq!(refs(&mine), [format!("Patient/{}", c.own)]);
    outcome(
        &c.pat.get(&format!("/fhir/R4/Patient/{}", c.other)),
        404,
        "not-found",
    );
    let theirs = fhir(
        &c.pat.get("/fhir/R4/Appointment?status=booked,pending"),
        200,
    );
    assert_eq!(refs(&theirs), ids(&[a, h]));
    outcome(
        &c.pat.get(&format!("/fhir/R4/Appointment/{b}")),
        404,
        "not-found",
    );
    // The doctor's directory is public to every account, as in the REST API.
    assert_eq!(
        refs(&fhir(&c.pat.get("/fhir/R4/Practitioner"), 200)).len(),
        1
    );
}

/// `POST Appointment` books as the REST API does: 201 with the resource, 409 on a conflict,
/// 400 for what is malformed, 422 for what breaks a rule, holds with `pending`; and the audit
/// trail records FHIR reads and bookings with their patients.
fn bookings_errors_and_audit(server: &Server) {
    let c = clinic(server);
    let appointment = |patient: i64, start: &str, end: &str, status: &str| {
        json!({"resourceType": "Appointment", "status": status, "start": start, "end": end,
               "description": "Check-up",
               "participant": [
                   {"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"},
                   {"actor": {"reference": format!("Practitioner/{}", c.doctor)}, "status": "accepted"}]})
    };
    let post = |client: &Client, body: &Value| {
        client.raw(
            "POST",
            "/fhir/R4/Appointment",
            Some(&body.to_string()),
            Some("application/fhir+json"),
        )
    };
    let made = post(
        &c.pat,
        &appointment(c.own, &at(2, 10), &at(2, 11), "booked"),
    );
    let created = fhir(&made, 201);
    let id = created["id"].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(
        made.header("location"),
        Some(format!("{}/fhir/R4/Appointment/{id}", server.base).as_str())
    );
    assert_eq!(made.header("etag"), Some("W/\"1\""));
    // A keyed booking's retry replays its 201 as it was: body, Location, ETag, FHIR JSON.
    let keyed = c.pat.with_header("Idempotency-Key", "fhir-book-once");
    let once = appointment(c.own, &at(7, 14), &at(7, 15), "booked");
    let first = post(&keyed, &once);
    let first_body = fhir(&first, 201);
    let again = post(&keyed, &once);
    assert_eq!(
        again.header("idempotent-replayed"),
        Some("true"),
        "{again:?}"
    );
    assert_eq!(fhir(&again, 201), first_body);
    for name in ["location", "etag", "content-type"] {
        assert!(first.header(name).is_some(), "{name}: {first:?}");
        assert_eq!(again.header(name), first.header(name), "{name}");
    }
    assert_eq!(
        (
            created["status"].as_str(),
            created["minutesDuration"].as_i64()
        ),
        (Some("booked"), Some(60))
    );
    let rest = c.admin.get(&format!("/api/appointments/{id}/"));
    assert_eq!(
        (
            rest.body["status"].as_str(),
            rest.body["reason"].as_str(),
            rest.body["duration_minutes"].as_i64()
        ),
        (Some("SCHEDULED"), Some("Check-up"), Some(60))
    );
    // The same time again: 409, the seed's message, and what it hit.
    let clash = post(
        &c.admin,
        &appointment(c.other, &at(2, 10), &at(2, 11), "booked"),
    );
    let said = outcome(&clash, 409, "conflict");
    assert!(
        said.contains("Doctor already has an appointment at this time.")
            && said.contains(&format!("Appointment/{id}")),
        "{said}"
    );
    // A hold, with minutesDuration instead of an end.
    let mut hold = appointment(c.other, &at(3, 10), "", "pending");
    hold.as_object_mut().unwrap().remove("end");
    hold["minutesDuration"] = json!(45);
    let held = fhir(&post(&c.admin, &hold), 201);
    assert_eq!(
        (held["status"].as_str(), held["end"].as_str()),
        (
            Some("pending"),
            Some(at(3, 10).replace("10:00:00", "10:45:00").as_str())
        )
    );
    // Malformed: 400.
    for body in [
        json!({"resourceType": "Patient"}),
        json!([1, 2]),
        json!({"resourceType": "Appointment", "status": "booked", "start": 5}),
        {
            let mut b = appointment(c.own, &at(4, 10), &at(4, 11), "booked");
            b["status"] = json!("nonsense");
            b
        },
    ] {
        outcome(&post(&c.admin, &body), 400, "invalid");
    }
    outcome(
        &c.admin.raw(
            "POST",
            "/fhir/R4/Appointment",
            Some("not json"),
            Some("application/fhir+json"),
        ),
        400,
        "invalid",
    );
    // Hostile bodies: a 400 or a 422 outcome, never a 500.
    for body in [
        json!({"resourceType": "Appointment", "status": "booked", "start": at(4, 10), "minutesDuration": 9_223_372_036_854_775_807_i64,
               "participant": [{"actor": {"reference": "Patient/99999999999999999999"}}, {"actor": {"reference": "Practitioner/-4"}}]}),
        json!({"resourceType": "Appointment", "status": "booked", "start": "2199-12-31T23:59:59Z", "end": "9999-12-31T23:59:59Z",
               "participant": [{"actor": {"reference": format!("Patient/{}", c.own)}}, {"actor": {"reference": format!("Practitioner/{}", c.doctor)}}]}),
        json!({"resourceType": "Appointment", "status": "booked", "start": at(4, 10), "minutesDuration": 30,
               "participant": [{"actor": "Patient/1"}, 5, null, {"actor": {"reference": null}}]}),
        json!({"resourceType": "Appointment", "status": ["booked"], "start": {}, "participant": {}, "reasonCode": "x"}),
    ] {
        let r = post(&c.admin, &body);
        assert!(matches!(r.status, 400 | 422), "{body}: {r:?}");
        assert_eq!(r.body["resourceType"], "OperationOutcome", "{r:?}");
    }
    // Well-formed but against a rule: 422, naming the element.
    let rule_for = |client: &Client, body: Value, element: &str| {
        let r = post(client, &body);
        outcome(&r, 422, "business-rule");
        assert_eq!(r.body["issue"][0]["expression"][0], element, "{r:?}");
    };
    let rule = |body: Value, element: &str| rule_for(&c.admin, body, element);
    // (Back-entry is for admin and staff: a patient account cannot book in the past.)
    rule_for(
        &c.pat,
        appointment(c.own, &at(-2, 10), &at(-2, 11), "booked"),
        "Appointment.start",
    );
    rule(
        appointment(c.own, &at(4, 10), &at(4, 11), "fulfilled"),
        "Appointment.status",
    );
    rule(
        appointment(c.own, &at(4, 10), &at(4, 10), "booked"),
        "Appointment.end",
    );
    // Outside the working hours (a rule the write itself finds).
    let late = post(
        &c.admin,
        &appointment(c.own, &at(4, 20), &at(4, 21), "booked"),
    );
    assert!(
        outcome(&late, 422, "business-rule").contains("not available"),
        "{late:?}"
    );
    let mut two_patients = appointment(c.own, &at(4, 10), &at(4, 11), "booked");
    two_patients["participant"][1]["actor"]["reference"] = json!(format!("Patient/{}", c.other));
    rule(two_patients, "Appointment.participant");
    // A patient account books only for its own record (the other one is not found for it).
    let theirs = post(
        &c.pat,
        &appointment(c.other, &at(5, 10), &at(5, 11), "booked"),
    );
    assert!(matches!(theirs.status, 400 | 404 | 422), "{theirs:?}");
    assert_eq!(theirs.header("content-type"), Some(FHIR_JSON));

    // The audit trail: a FHIR read names its patient; the booking its record.
    fhir(&c.pat.get(&format!("/fhir/R4/Patient/{}", c.own)), 200);
    fhir(&c.pat.get(&format!("/fhir/R4/Appointment/{id}")), 200);
    let me = c.pat.get("/api/auth/me/").id();
    let path = format!("/api/audit/?actor={me}&limit=1000");
    let mut trail = c.admin.get(&path);
    for _ in 0..50 {
        let found = trail
            .body
            .as_array()
            .map_or(0, |a| a.iter().filter(|e| e["action"] == "read").count());
        if found >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        trail = c.admin.get(&path);
    }
    let events = trail.body.as_array().unwrap();
    let has = |action: &str, resource: &str, resource_id: i64| {
        events.iter().any(|e| {
            e["action"] == action
                && e["resource"] == resource
                && e["resource_id"] == resource_id
                && e["patients"] == json!([c.own])
        })
    };
    assert!(has("create", "appointment", id), "{trail:?}");
    assert!(has("read", "patient", c.own), "{trail:?}");
    assert!(has("read", "appointment", id), "{trail:?}");
}

http_test! {
    resources_are_valid => resources_are_valid_r4_and_page_for_a_fhir_client;
    searches => searches_read_as_fhir_says;
    bookings => bookings_errors_and_audit;
}
