//! The seed's JSON shapes, field by field, against the real binary on SQLite and on PostgreSQL:
//! nothing a seed client sent is refused, nothing it read is missing or of another type (our
//! extra fields may follow).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::{http_test, Client, Server};
use serde_json::{json, Value};

const PW: &str = "correct horse battery";

/// `^\d{4}-\d{2}-\d{2}$`.
fn is_date(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    })
}

/// An RFC 3339 UTC timestamp as the server writes them (`...Z`).
fn is_timestamp(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() >= 20 && s.ends_with('Z') && s.get(..10).is_some_and(|d| is_date(&Value::from(d)))
    })
}

fn is_int(v: &Value) -> bool {
    v.as_i64().is_some()
}

/// Asserts the seed's mapping fields and their JSON types (and our reactivation fields), with
/// `assigned_by_username` the username of the assigning account.
fn assert_mapping(m: &Value, assigned_by: i64, username: &str) {
    let obj = m
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {m}"));
    for field in [
        "id",
        "patient",
        "doctor",
        "assigned_by",
        "assigned_by_username",
        "assigned_date",
        "reason_for_assignment",
        "is_active",
        "created_at",
        "reactivated_by",
        "reactivated_at",
    ] {
        assert!(obj.contains_key(field), "{field} missing in {m}");
    }
    assert!(
        is_int(&m["id"]) && is_int(&m["patient"]) && is_int(&m["doctor"]),
        "{m}"
    );
    assert_eq!(m["assigned_by"], json!(assigned_by), "{m}");
    assert!(m["assigned_by_username"].is_string(), "{m}");
    assert_eq!(m["assigned_by_username"], json!(username), "{m}");
    assert!(
        is_date(&m["assigned_date"]),
        "assigned_date is no date: {m}"
    );
    assert!(m["reason_for_assignment"].is_string(), "{m}");
    assert!(m["is_active"].is_boolean(), "{m}");
    assert!(is_timestamp(&m["created_at"]), "{m}");
    assert!(
        m["reactivated_by"].is_null() || is_int(&m["reactivated_by"]),
        "{m}"
    );
    assert!(
        m["reactivated_at"].is_null() || is_timestamp(&m["reactivated_at"]),
        "{m}"
    );
}

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Doe", "date_of_birth": "1990-05-17", "gender": "F",
           "contact_number": "+1 555 0100", "address": "1 Main St"})
}

/// The seed's doctor body without its optional fields.
fn doctor_body(license: &str) -> Value {
    json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
           "contact_number": "555 0101", "license_number": license, "hospital": "PPTH"})
}

fn me(client: &Client) -> (i64, String) {
    let me = client.get("/api/auth/me/");
    (me.id(), me.body["username"].as_str().unwrap().to_owned())
}

http_test! {
    register_answers_the_seed_message => |server: &Server| {
        let anon = server.client();
        for (path, name) in [("/api/auth/", "admin"), ("/api/auth/register/", "alice"), ("/api/auth", "bob")] {
            let r = anon.post(path, json!({"username": name, "email": format!("{name}@example.org"), "password": PW}));
            assert_eq!(r.status, 201, "{path}: {r:?}");
            assert_eq!(r.body["message"], "User registered successfully", "{path}: {r:?}");
            // Our account fields follow in the same object.
            assert!(is_int(&r.body["id"]), "{r:?}");
            assert_eq!(r.body["username"], name);
            assert_eq!(r.body["email"], format!("{name}@example.org"));
            assert!(r.body["role"].is_string() && r.body["is_active"].is_boolean(), "{r:?}");
            assert!(r.body.get("password").is_none(), "{r:?}");
        }
        // The seed's body without an email registers too.
        let r = anon.post("/api/auth/", json!({"username": "carol", "password": PW}));
        assert_eq!((r.status, &r.body["message"]), (201, &json!("User registered successfully")), "{r:?}");
        assert_eq!(r.body["email"], "");
    };

    mapping_output_has_the_seed_fields => |server: &Server| {
        let anon = server.client();
        let admin = anon.register("admin", PW);
        let (admin_id, _) = me(&admin);
        let pat = anon.register("pat", PW);
        let (pat_id, _) = me(&pat);
        let pid = pat.post("/api/patients/", patient_body("Pat")).id();
        let did = admin.post("/api/doctors/", doctor_body("MAP-1")).id();
        // Create (201), by the patient.
        let created = pat.post("/api/mappings/", json!({"doctor": did, "patient": pid, "reason_for_assignment": "", "is_active": true}));
        assert_eq!(created.status, 201, "{created:?}");
        assert_mapping(&created.body, pat_id, "pat");
        assert_eq!((&created.body["patient"], &created.body["doctor"]), (&json!(pid), &json!(did)));
        let mid = created.id();
        let path = format!("/api/mappings/{mid}/");
        // Get and list, for the assigner and for the admin.
        for client in [&pat, &admin] {
            let got = client.get(&path);
            assert_eq!(got.status, 200, "{got:?}");
            assert_mapping(&got.body, pat_id, "pat");
            let list = client.get("/api/mappings/");
            let items = list.body.as_array().unwrap_or_else(|| panic!("{list:?}"));
            assert_eq!(items.len(), 1);
            assert_mapping(&items[0], pat_id, "pat");
        }
        // Update (PATCH), then deactivate and reactivate by re-creating (200).
        let patched = admin.patch(&path, json!({"reason_for_assignment": "follow-up"}));
        assert_eq!(patched.status, 200, "{patched:?}");
        assert_mapping(&patched.body, pat_id, "pat");
        assert_eq!(patched.body["reason_for_assignment"], "follow-up");
        assert_eq!(admin.delete(&path).status, 204);
        let back = admin.post("/api/mappings/", json!({"doctor": did, "patient": pid}));
        assert_eq!(back.status, 200, "{back:?}");
        assert_mapping(&back.body, pat_id, "pat");
        assert_eq!(back.body["reactivated_by"], json!(admin_id));
        assert_eq!(back.body["assigned_date"], created.body["assigned_date"]);
        // A mapping the admin assigns names the admin.
        let did2 = admin.post("/api/doctors/", doctor_body("MAP-2")).id();
        let other = admin.post("/api/mappings/", json!({"doctor": did2, "patient": pid}));
        assert_eq!(other.status, 201, "{other:?}");
        assert_mapping(&other.body, admin_id, "admin");
    };

    mappings_of_a_patient_are_mappings_with_doctor_details => |server: &Server| {
        let anon = server.client();
        let admin = anon.register("admin", PW);
        let (admin_id, _) = me(&admin);
        let pat = anon.register("pat", PW);
        let other = anon.register("other", PW);
        let pid = pat.post("/api/patients/", patient_body("Pat")).id();
        let d1 = admin.post("/api/doctors/", doctor_body("OF-1")).id();
        let d2 = admin.post("/api/doctors/", doctor_body("OF-2")).id();
        let d3 = admin.post("/api/doctors/", doctor_body("OF-3")).id();
        let mut ids = Vec::new();
        for did in [d1, d2, d3] {
            let m = admin.post("/api/mappings/", json!({"doctor": did, "patient": pid, "reason_for_assignment": "GP"}));
            assert_eq!(m.status, 201, "{m:?}");
            ids.push(m.id());
        }
        // Inactive ones are left out.
        assert_eq!(admin.delete(&format!("/api/mappings/{}/", ids[1])).status, 204);
        let path = format!("/api/mappings/patient/{pid}/");
        for client in [&admin, &pat] {
            let r = client.get(&path);
            assert_eq!(r.status, 200, "{r:?}");
            let items = r.body.as_array().unwrap_or_else(|| panic!("{r:?}"));
            let got: Vec<(i64, i64)> = items.iter().map(|m| (m["id"].as_i64().unwrap(), m["doctor"].as_i64().unwrap())).collect();
            assert_eq!(got, [(ids[0], d1), (ids[2], d3)]);
            for m in items {
                assert_mapping(m, admin_id, "admin");
                assert_eq!((&m["patient"], &m["is_active"]), (&json!(pid), &json!(true)));
                let doctor = m["doctor"].as_i64().unwrap();
                let shown = client.get(&format!("/api/doctors/{doctor}/"));
                assert_eq!(shown.status, 200);
                assert_eq!(m["doctor_details"], shown.body, "doctor_details differ from the doctor record");
            }
        }
        // Same visibility as before: another patient account does not see this patient.
        assert_eq!(other.get(&path).status, 404);
        assert_eq!(anon.get(&path).status, 401);
    };

    optional_fields_may_be_absent_or_blank => |server: &Server| {
        let admin = server.client().register("admin", PW);
        // Patients: email, address and medical_history absent, or blank; no user.
        let minimal = json!({"first_name": "Min", "last_name": "Imal", "date_of_birth": "1990-05-17",
                             "gender": "O", "contact_number": "555"});
        let blank = json!({"first_name": "Bla", "last_name": "Nk", "date_of_birth": "1990-05-17",
                           "gender": "M", "contact_number": "555", "email": "", "address": "",
                           "medical_history": ""});
        for body in [minimal, blank] {
            let p = admin.post("/api/patients/", body);
            assert_eq!(p.status, 201, "{p:?}");
            for field in ["email", "address", "medical_history"] {
                assert_eq!(p.body[field], "", "{field}: {p:?}");
            }
            assert_eq!(p.body["user"], Value::Null);
            let path = format!("/api/patients/{}/", p.id());
            let filled = admin.patch(&path, json!({"email": "x@example.org", "address": "A", "medical_history": "B"}));
            assert_eq!(filled.status, 200, "{filled:?}");
            let cleared = admin.patch(&path, json!({"email": "", "address": "", "medical_history": ""}));
            assert_eq!(cleared.status, 200, "{cleared:?}");
            for field in ["email", "address", "medical_history"] {
                assert_eq!(cleared.body[field], "", "{field}: {cleared:?}");
            }
        }
        // Doctors: email and address absent, blank or null; no user.
        let mut with_blanks = doctor_body("OPT-2");
        with_blanks["email"] = json!("");
        with_blanks["address"] = json!("");
        let mut with_nulls = doctor_body("OPT-3");
        with_nulls["email"] = Value::Null;
        with_nulls["address"] = Value::Null;
        for body in [doctor_body("OPT-1"), with_blanks, with_nulls] {
            let d = admin.post("/api/doctors/", body);
            assert_eq!(d.status, 201, "{d:?}");
            assert_eq!((&d.body["email"], &d.body["address"], &d.body["user"]), (&json!(""), &json!(""), &Value::Null), "{d:?}");
            let path = format!("/api/doctors/{}/", d.id());
            let filled = admin.patch(&path, json!({"email": "house@example.org", "address": "NJ"}));
            assert_eq!((filled.status, &filled.body["email"]), (200, &json!("house@example.org")), "{filled:?}");
            let cleared = admin.patch(&path, json!({"email": "", "address": ""}));
            assert_eq!((cleared.status, &cleared.body["email"], &cleared.body["address"]), (200, &json!(""), &json!("")), "{cleared:?}");
        }
        // A given email must still be valid: a field-keyed 400, not a 500.
        let mut bad = doctor_body("OPT-4");
        bad["email"] = json!("not-an-email");
        let r = admin.post("/api/doctors/", bad);
        assert_eq!((r.status, &r.body["email"][0]), (400, &json!("Enter a valid email address.")), "{r:?}");
    };

    openapi_describes_the_seed_shapes => |server: &Server| {
        let doc = server.client().get("/api/schema/");
        assert_eq!(doc.status, 200);
        let schemas = &doc.body["components"]["schemas"];
        let required = |name: &str| -> Vec<String> {
            schemas[name]["required"].as_array().unwrap_or_else(|| panic!("{name}: {}", schemas[name]))
                .iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        };
        let mapping = required("Mapping");
        for field in ["id", "patient", "doctor", "assigned_by", "assigned_by_username", "assigned_date",
                      "reason_for_assignment", "is_active", "created_at"] {
            assert!(mapping.contains(&field.to_owned()), "Mapping does not require {field}");
        }
        assert_eq!(schemas["Mapping"]["properties"]["assigned_date"]["format"], "date");
        // The message and the account; a mapping and its doctor: one object each, with every
        // field of the base record and its own.
        for (name, base, own) in [("Registered", "User", "message"), ("MappingWithDoctor", "Mapping", "doctor_details")] {
            let listed = required(name);
            for field in required(base).iter().map(String::as_str).chain([own]) {
                assert!(listed.iter().any(|f| f == field), "{name} does not require {field}: {}", schemas[name]);
                assert!(schemas[name]["properties"].get(field).is_some(), "{name}.{field}");
            }
        }
        let of_patient = &doc.body["paths"]["/api/mappings/patient/{patient_id}/"]["get"]["responses"]["200"]
            ["content"]["application/json"]["schema"]["items"]["$ref"];
        assert_eq!(of_patient, "#/components/schemas/MappingWithDoctor");
        for (schema, fields) in [("PatientCreate", &["email", "address", "medical_history", "user"][..]),
                                 ("DoctorCreate", &["email", "address", "user"][..])] {
            let listed = required(schema);
            for field in fields {
                assert!(!listed.contains(&(*field).to_owned()), "{schema} requires {field}");
            }
        }
    };
}
