//! The documented limits, proven against the real binary on both backends: for every request
//! body schema of the served OpenAPI document, every property's limit (`maxLength`,
//! `minLength`, `minimum`, `maximum`, `maxItems`, `enum`, `required`, and whether `null` is
//! accepted) is sent at the boundary, which must be accepted, and one past it, which must be
//! refused with the documented error: 400 with field-keyed errors naming the property. The
//! limits are read from the document, not from this file. A body schema that carries a limit
//! but that no operation here knows how to send fails the test, so a new endpoint cannot slip
//! past it. Rules JSON Schema cannot express (a date of birth in the future, mixed scripts)
//! are in the descriptions and stay out of this test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::{Client, Reply, Server, TestApp};
use serde_json::{json, Map, Value};
use std::cell::Cell;

const PW: &str = "Correct-Horse-7";

/// Throttles out of the way: this test sends hundreds of registrations and failed logins.
const SETTINGS: [(&str, &str); 4] = [
    ("HEALTHCARE_REGISTRATIONS_PER_ADDRESS", "100000"),
    ("HEALTHCARE_LOGIN_FAILURES_PER_ADDRESS", "100000"),
    ("HEALTHCARE_LOGIN_FAILURES_PER_USER_ADDRESS", "100000"),
    ("HEALTHCARE_LOGIN_FAILURES_PER_USER", "100000"),
];

/// One limit of one property, as the document states it.
#[derive(Debug, Clone)]
enum Limit {
    MaxLength(usize),
    MinLength(usize),
    Maximum(i64),
    Minimum(i64),
    MaxItems(usize),
    Enum(Vec<String>),
    Required,
    Null { accepted: bool },
}

/// A property of a request body schema.
#[derive(Debug, Clone)]
struct Property {
    schema: String,
    name: String,
    definition: Value,
}

/// Who sends a request, to which path, with which body.
type Request = (Client, String, Map<String, Value>);

/// How to send one body schema: a fresh request (caller, path, valid body) per attempt.
struct Target<'a> {
    method: &'static str,
    make: Box<dyn Fn() -> Request + 'a>,
}

type Make<'a> = Box<dyn Fn() -> (String, Map<String, Value>) + 'a>;

/// A target whose requests `client` sends.
fn sent_by<'a>(client: &Client, method: &'static str, make: Make<'a>) -> Option<Target<'a>> {
    let client = client.clone();
    Some(Target {
        method,
        make: Box::new(move || {
            let (path, body) = make();
            (client.clone(), path, body)
        }),
    })
}

/// A unique number per value made, so unique fields (usernames, licence numbers) stay unique.
struct Counter(Cell<u64>);

impl Counter {
    fn next(&self) -> u64 {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
}

fn resolve<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    match schema["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}")),
        None => schema,
    }
}

/// The request body schemas of the document (by component name), each with its operations.
fn body_schemas(doc: &Value) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(r) = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let name = r.rsplit('/').next().unwrap().to_owned();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, ops)) => ops.push((method.to_uppercase(), path.clone())),
                None => out.push((name, vec![(method.to_uppercase(), path.clone())])),
            }
        }
    }
    out
}

/// Every limit of every property of a body schema.
fn limits(doc: &Value, schema: &str) -> Vec<(Property, Limit)> {
    let def = &doc["components"]["schemas"][schema];
    let required: Vec<&str> = def["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (name, prop) in def["properties"].as_object().unwrap() {
        let definition = resolve(doc, prop).clone();
        let property = Property {
            schema: schema.to_owned(),
            name: name.clone(),
            definition: definition.clone(),
        };
        let mut add = |l: Limit| out.push((property.clone(), l));
        let num = |k: &str| definition[k].as_u64().map(|n| n as usize);
        if let Some(n) = num("maxLength") {
            add(Limit::MaxLength(n));
        }
        if let Some(n) = num("minLength").filter(|n| *n > 0) {
            add(Limit::MinLength(n));
        }
        if let Some(n) = definition["maximum"].as_i64() {
            add(Limit::Maximum(n));
        }
        if let Some(n) = definition["minimum"].as_i64() {
            add(Limit::Minimum(n));
        }
        if let Some(n) = num("maxItems") {
            add(Limit::MaxItems(n));
        }
        if let Some(values) = definition["enum"].as_array() {
            add(Limit::Enum(
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ));
        }
        if required.contains(&name.as_str()) {
            add(Limit::Required);
        }
        let nullable = definition["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null")));
        add(Limit::Null { accepted: nullable });
    }
    out
}

/// A valid string of exactly `len` characters for this property, unique per call.
fn text(p: &Property, len: usize, n: &Counter) -> String {
    let tag = n.next().to_string();
    let pad = |filler: char, head: &str| -> String {
        if len < head.len() {
            // Too short for the tag: one character of a pool, so short values stay unique too.
            let pool: Vec<char> = if filler.is_ascii_digit() {
                ('0'..='9').collect()
            } else {
                ('a'..='z').chain('0'..='9').collect()
            };
            let pick = pool[(n.next() % pool.len() as u64) as usize];
            return std::iter::repeat_n(pick, len).collect();
        }
        let mut s: String = head.chars().take(len).collect();
        while s.chars().count() < len {
            s.push(filler);
        }
        s
    };
    if p.definition["pattern"].as_str() == Some(r"^[0-9 +()-]*[0-9][0-9 +()-]*$") {
        return pad('1', &tag);
    }
    match p.name.as_str() {
        "email" => email(len, &tag),
        n if n.contains("password") => pad('x', &format!("Qz7-{tag}-")),
        "username" => pad('a', &format!("u{tag}")),
        // A public address (example.com's), so the target check lets it through; when too
        // short for one, a one-letter host, well formed but not resolvable.
        "url" if len < "http://93.184.216.34/".len() => {
            format!("http://{}", "h".repeat(len.saturating_sub(7)))
        }
        "url" => pad('a', &format!("http://93.184.216.34/{tag}/")),
        _ => pad('a', &format!("v{tag}")),
    }
}

/// A valid email address of exactly `len` characters (local part at most 64, labels at most
/// 63), or `""`.
fn email(len: usize, tag: &str) -> String {
    if len == 0 {
        return String::new();
    }
    let local: String = format!("e{tag}")
        .chars()
        .chain(std::iter::repeat('e'))
        .take(len.saturating_sub(5).clamp(1, 64))
        .collect();
    let mut domain_len = len - local.len() - 1 - 4; // "@", ".org"
    let mut labels = Vec::new();
    while domain_len > 0 {
        let take = domain_len.min(63);
        // A label followed by another needs room for the dot.
        let take = if domain_len > take && domain_len - take < 2 {
            take - 2
        } else {
            take
        };
        labels.push("d".repeat(take));
        domain_len -= take;
        domain_len = domain_len.saturating_sub(1);
    }
    let e = format!("{local}@{}.org", labels.join("."));
    assert_eq!(e.len(), len, "{e}");
    e
}

/// The property's value at a limit (`past` = one step beyond it), or `None` when the limit
/// has no value past it.
fn value(p: &Property, limit: &Limit, past: bool, n: &Counter) -> Option<Value> {
    Some(match limit {
        Limit::MaxLength(m) => json!(text(p, m + usize::from(past), n)),
        Limit::MinLength(m) => json!(text(p, m - usize::from(past), n)),
        Limit::Maximum(m) => json!(m + i64::from(past)),
        Limit::Minimum(m) => json!(m - i64::from(past)),
        Limit::MaxItems(_) | Limit::Enum(_) | Limit::Required | Limit::Null { .. } => return None,
    })
}

/// `count` valid items for an array property.
fn items(p: &Property, count: usize) -> Value {
    match p.name.as_str() {
        // Weekly intervals: 30 minutes every 45, up to 32 a day, Monday on.
        "weekly" => {
            let days = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
            let hhmm = |m: usize| format!("{:02}:{:02}", m / 60, m % 60);
            Value::Array(
                (0..count)
                    .map(|k| {
                        let (day, slot) = (k / 32, k % 32);
                        json!({"weekday": days[day], "start": hhmm(slot * 45), "end": hhmm(slot * 45 + 30)})
                    })
                    .collect(),
            )
        }
        // Reminder offsets: distinct, an hour apart.
        "reminder_minutes" => Value::Array((1..=count).map(|k| json!(k * 60)).collect()),
        // Event types: each once while there are enough of them (one past the limit repeats).
        "events" => Value::Array(
            healthcare_domain::EventType::ALL
                .iter()
                .cycle()
                .take(count)
                .map(|e| json!(e.as_str()))
                .collect(),
        ),
        other => panic!("no items to make for {}.{other}", p.schema),
    }
}

/// Whether an answer refuses the form of `field` (400, field-keyed). The current password
/// being wrong, or a webhook host that does not resolve, is about the value, not its form:
/// the boundary test sends values the account does not have, and hosts short enough to fit.
fn refuses(r: &Reply, field: &str) -> bool {
    let about_the_value = |m: &Value| {
        m.as_str().is_some_and(|m| {
            m == "Your old password was entered incorrectly. Please enter it again."
                || (m.starts_with("The host ") && m.ends_with(" cannot be resolved."))
        })
    };
    r.status == 400
        && r.body
            .get(field)
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|m| !about_the_value(m)))
}

fn check(
    target: &Target<'_>,
    p: &Property,
    expect_refused: bool,
    edit: impl FnOnce(&mut Map<String, Value>),
    what: &str,
    problems: &mut Vec<String>,
) {
    let (client, path, mut body) = (target.make)();
    edit(&mut body);
    let r = client.send(target.method, &path, Some(&Value::Object(body.clone())));
    let refused = refuses(&r, &p.name);
    let ok = if expect_refused {
        refused
    } else {
        // Accepted by validation: a 2xx, or a refusal that is not about this property's
        // form (a wrong password at login is a 401, a wrong current password a 400).
        !refused && r.status < 500
    };
    if !ok {
        problems.push(format!(
            "{}.{} {what}: expected {}, got {} {} (sent {} {path} {})",
            p.schema,
            p.name,
            if expect_refused {
                "400 naming the field"
            } else {
                "acceptance"
            },
            r.status,
            r.body,
            target.method,
            Value::Object(body)
        ));
    }
}

fn exercise(server: &Server) {
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let n = Counter(Cell::new(0));
    let doc = anon.get("/api/schema/").body;
    let doctor_body = |n: &Counter| {
        json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
               "contact_number": "555 0100", "license_number": format!("LIC-{}", n.next()),
               "hospital": "PPTH"})
    };
    let doctor = admin.post("/api/doctors/", doctor_body(&n)).id();
    // Working hours and time off go to another doctor, so they never refuse a booking here.
    let other_doctor = admin.post("/api/doctors/", doctor_body(&n)).id();
    let new_patient = || {
        admin
            .post(
                "/api/patients/",
                json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10",
                       "gender": "F", "contact_number": "123"}),
            )
            .id()
    };
    let patient = new_patient();
    // One day per appointment, so even the longest ones never overlap.
    let new_start = || {
        let day = chrono::Utc::now().date_naive() + chrono::Days::new(30 + n.next());
        format!("{day}T09:00:00Z")
    };
    let new_appointment = || {
        admin
            .post(
                "/api/appointments/",
                json!({"doctor": doctor, "patient": patient, "appointment_datetime": new_start()}),
            )
            .id()
    };
    // A series of one occurrence: its id and the occurrence's.
    let new_series = || {
        let r = admin.post(
            "/api/appointment-series/",
            json!({"doctor": doctor, "patient": patient, "appointment_datetime": new_start(),
                   "rrule": "FREQ=DAILY;COUNT=1"}),
        );
        (
            r.id(),
            r.body["created"][0]["id"].as_i64().unwrap_or_default(),
        )
    };
    let new_user = || {
        let name = format!("user{}", n.next());
        admin
            .post("/api/users/", json!({"username": name, "password": PW}))
            .id()
    };
    // Subscribed to reminders only, which fall due no sooner than a week before a start: the
    // appointments here are a month out, so nothing is sent to the (public) address.
    let new_webhook = || {
        admin
            .post(
                "/api/webhooks/",
                json!({"url": "http://93.184.216.34/limits", "events": ["appointment.reminder"]}),
            )
            .id()
    };
    let obj = |v: Value| v.as_object().cloned().unwrap();
    let target = |schema: &str| -> Option<Target<'_>> {
        let as_admin = |method, make| sent_by(&admin, method, make);
        let as_anon = |method, make| sent_by(&anon, method, make);
        match schema {
            "PatientCreate" => as_admin(
                "POST",
                Box::new(|| {
                    (
                        "/api/patients/".into(),
                        obj(
                            json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10", "gender": "F", "contact_number": "123"}),
                        ),
                    )
                }),
            ),
            "PatientUpdate" => as_admin(
                "PATCH",
                Box::new(|| (format!("/api/patients/{}/", new_patient()), Map::new())),
            ),
            "DoctorCreate" => as_admin(
                "POST",
                Box::new(|| ("/api/doctors/".into(), obj(doctor_body(&n)))),
            ),
            "DoctorUpdate" => as_admin(
                "PATCH",
                Box::new(|| (format!("/api/doctors/{doctor}/"), Map::new())),
            ),
            "MappingCreate" => as_admin(
                "POST",
                Box::new(|| {
                    (
                        "/api/mappings/".into(),
                        obj(json!({"doctor": doctor, "patient": new_patient()})),
                    )
                }),
            ),
            "MappingUpdate" => as_admin(
                "PATCH",
                Box::new(|| {
                    let m = admin
                        .post(
                            "/api/mappings/",
                            json!({"doctor": doctor, "patient": new_patient()}),
                        )
                        .id();
                    (format!("/api/mappings/{m}/"), Map::new())
                }),
            ),
            "AppointmentCreate" => as_admin(
                "POST",
                Box::new(|| {
                    (
                        "/api/appointments/".into(),
                        obj(
                            json!({"doctor": doctor, "patient": patient, "appointment_datetime": new_start()}),
                        ),
                    )
                }),
            ),
            "SeriesCreate" => as_admin(
                "POST",
                Box::new(|| {
                    (
                        "/api/appointment-series/".into(),
                        obj(
                            json!({"doctor": doctor, "patient": patient, "appointment_datetime": new_start(),
                                   "rrule": "FREQ=DAILY;COUNT=1"}),
                        ),
                    )
                }),
            ),
            "SeriesUpdate" => as_admin(
                "PATCH",
                Box::new(|| {
                    let (series, occurrence) = new_series();
                    (
                        format!("/api/appointment-series/{series}/"),
                        obj(json!({"scope": "following", "occurrence": occurrence, "reason": "x"})),
                    )
                }),
            ),
            "AppointmentUpdate" => as_admin(
                "PATCH",
                Box::new(|| {
                    (
                        format!("/api/appointments/{}/", new_appointment()),
                        Map::new(),
                    )
                }),
            ),
            "UserCreate" => as_admin(
                "POST",
                Box::new(|| {
                    (
                        "/api/users/".into(),
                        obj(json!({"username": format!("made{}", n.next()), "password": PW})),
                    )
                }),
            ),
            "UserUpdate" => as_admin(
                "PATCH",
                Box::new(|| (format!("/api/users/{}/", new_user()), Map::new())),
            ),
            "Register" => as_anon(
                "POST",
                Box::new(|| {
                    (
                        "/api/auth/register/".into(),
                        obj(json!({"username": format!("reg{}", n.next()), "password": PW})),
                    )
                }),
            ),
            "TokenObtain" => as_anon(
                "POST",
                Box::new(|| {
                    (
                        "/api/token/".into(),
                        obj(json!({"username": "admin", "password": PW})),
                    )
                }),
            ),
            "TokenRefresh" => as_anon(
                "POST",
                Box::new(|| {
                    let r = anon.post("/api/token/", json!({"username": "admin", "password": PW}));
                    (
                        "/api/token/refresh/".into(),
                        obj(json!({"refresh": r.body["refresh"]})),
                    )
                }),
            ),
            // A new account per attempt: a successful change moves its password on.
            "PasswordChange" => Some(Target {
                method: "POST",
                make: Box::new(|| {
                    let caller = anon.register(&format!("pc{}", n.next()), PW);
                    (
                        caller,
                        "/api/auth/password/".into(),
                        obj(
                            json!({"old_password": PW, "new_password": format!("Qz7-new-{}", n.next())}),
                        ),
                    )
                }),
            }),
            "WorkingHours" => as_admin(
                "PUT",
                Box::new(|| {
                    (
                        format!("/api/doctors/{other_doctor}/working-hours/"),
                        obj(json!({"timezone": "Europe/Berlin", "weekly": []})),
                    )
                }),
            ),
            "TimeOffCreate" => as_admin(
                "POST",
                Box::new(|| {
                    let day = chrono::Utc::now().date_naive() + chrono::Days::new(30 + n.next());
                    (
                        format!("/api/doctors/{other_doctor}/time-off/"),
                        obj(
                            json!({"start": format!("{day}T08:00:00Z"), "end": format!("{day}T12:00:00Z")}),
                        ),
                    )
                }),
            ),
            "WebhookCreate" => as_admin(
                "POST",
                Box::new(|| {
                    (
                        "/api/webhooks/".into(),
                        obj(json!({"url": format!("http://93.184.216.34/{}", n.next()),
                                   "events": ["appointment.reminder"]})),
                    )
                }),
            ),
            "WebhookUpdate" => as_admin(
                "PATCH",
                Box::new(|| (format!("/api/webhooks/{}/", new_webhook()), Map::new())),
            ),
            _ => None,
        }
    };

    let mut problems = Vec::new();
    let mut checked = 0;
    for (schema, _ops) in body_schemas(&doc) {
        let found = limits(&doc, &schema);
        if found.is_empty() {
            continue;
        }
        let Some(target) = target(&schema) else {
            problems.push(format!("{schema}: has limits but no way to send it here"));
            continue;
        };
        for (p, limit) in &found {
            checked += 1;
            let set = |v: Value| {
                let name = p.name.clone();
                move |b: &mut Map<String, Value>| {
                    b.insert(name, v);
                }
            };
            match limit {
                Limit::Enum(values) => {
                    for v in values {
                        check(
                            &target,
                            p,
                            false,
                            set(json!(v)),
                            &format!("= {v:?}"),
                            &mut problems,
                        );
                    }
                    check(
                        &target,
                        p,
                        true,
                        set(json!("NOT-A-CHOICE")),
                        "= a value outside the enum",
                        &mut problems,
                    );
                }
                Limit::Required => {
                    let name = p.name.clone();
                    check(
                        &target,
                        p,
                        true,
                        move |b| {
                            b.remove(&name);
                        },
                        "left out",
                        &mut problems,
                    );
                }
                Limit::Null { accepted } => {
                    check(
                        &target,
                        p,
                        !accepted,
                        set(Value::Null),
                        "= null",
                        &mut problems,
                    );
                }
                Limit::MaxItems(m) => {
                    check(
                        &target,
                        p,
                        false,
                        set(items(p, *m)),
                        &format!("{limit:?} at the boundary"),
                        &mut problems,
                    );
                    check(
                        &target,
                        p,
                        true,
                        set(items(p, m + 1)),
                        &format!("{limit:?} one past it"),
                        &mut problems,
                    );
                }
                _ => {
                    let at = value(p, limit, false, &n).unwrap();
                    let past = value(p, limit, true, &n).unwrap();
                    check(
                        &target,
                        p,
                        false,
                        set(at.clone()),
                        &format!("{limit:?} at the boundary"),
                        &mut problems,
                    );
                    check(
                        &target,
                        p,
                        true,
                        set(past),
                        &format!("{limit:?} one past it"),
                        &mut problems,
                    );
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} limits found in the document");
    eprintln!(
        "contract limits: {checked} limits of the served document checked, {} not as documented",
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{} of {checked} limits not as documented:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn sqlite() {
    let app = TestApp::sqlite()
        .envs(&SETTINGS)
        .start()
        .expect("sqlite server");
    exercise(&app);
}

#[test]
fn postgres() {
    if let Some(app) = TestApp::postgres().envs(&SETTINGS).start() {
        exercise(&app);
    }
}
