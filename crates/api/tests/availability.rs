//! Doctor availability over HTTP: working hours, time off, free slots across a DST switch, and
//! bookings that respect them — against the real binary, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::{http_test, Client, Reply, Server, TestApp};
use serde_json::{json, Value};

const PW: &str = "correct horse battery";

fn doctor_body(license: &str, user: Option<i64>) -> Value {
    json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
           "contact_number": "555 0101", "email": "house@example.org", "license_number": license,
           "hospital": "PPTH", "address": "NJ", "experience_years": 12, "user": user})
}

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Doe", "date_of_birth": "1990-05-17", "gender": "F",
           "contact_number": "+1 555 0100"})
}

/// Mon-Fri 09:00-12:00, Europe/Berlin.
fn mornings() -> Value {
    let weekly: Vec<Value> = ["MON", "TUE", "WED", "THU", "FRI"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "09:00", "end": "12:00"}))
        .collect();
    json!({"timezone": "Europe/Berlin", "weekly": weekly})
}

fn put(client: &Client, path: &str, body: Value) -> Reply {
    client.send("PUT", path, Some(&body))
}

struct World {
    admin: Client,
    /// The doctor account linked to `d1`.
    doc: Client,
    /// Another doctor account, linked to `d2`.
    other_doc: Client,
    /// A patient account owning patient `own`.
    pat: Client,
    d1: i64,
    d2: i64,
    p1: i64,
    own: i64,
}

fn world(server: &Server) -> World {
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let mut accounts = Vec::new();
    for name in ["drhouse", "drwilson"] {
        let u = admin.post(
            "/api/users/",
            json!({"username": name, "email": format!("{name}@example.org"), "password": PW, "role": "doctor"}),
        );
        assert_eq!(u.status, 201, "{u:?}");
        accounts.push(u.id());
    }
    let d1 = admin.post("/api/doctors/", doctor_body("LIC-1", Some(accounts[0])));
    assert_eq!(d1.status, 201, "{d1:?}");
    let d2 = admin.post("/api/doctors/", doctor_body("LIC-2", Some(accounts[1])));
    assert_eq!(d2.status, 201, "{d2:?}");
    let p1 = admin.post("/api/patients/", patient_body("Ann")).id();
    let pat = anon.register("pat", PW);
    let own = pat.post("/api/patients/", patient_body("Pat"));
    assert_eq!(own.status, 201, "{own:?}");
    World {
        doc: anon.login("drhouse", PW),
        other_doc: anon.login("drwilson", PW),
        admin,
        pat,
        d1: d1.id(),
        d2: d2.id(),
        p1,
        own: own.id(),
    }
}

/// Every day 00:00-23:59 UTC.
fn around_the_clock() -> Value {
    let weekly: Vec<Value> = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "00:00", "end": "23:59"}))
        .collect();
    json!({"timezone": "UTC", "weekly": weekly})
}

/// The target of the `rel="next"` link, which must be relative.
fn next_link(reply: &Reply) -> Option<String> {
    let link = reply.header("link")?;
    let next = link.split(", ").find(|l| l.ends_with("rel=\"next\""))?;
    let target = next.split_once('>')?.0.strip_prefix('<')?;
    assert!(target.starts_with("/api/"), "not a relative link: {link}");
    Some(target.to_owned())
}

fn starts(reply: &Reply) -> Vec<String> {
    reply
        .body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {reply:?}"))
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

http_test! {
    working_hours_api => |server: &Server| {
        let w = world(server);
        let path = format!("/api/doctors/{}/working-hours/", w.d1);
        // No hours yet.
        let none = w.pat.get(&path);
        assert_eq!((none.status, &none.body), (200, &json!({"timezone": null, "weekly": []})));
        // Admin sets them; entries come back by weekday, then start.
        let body = json!({"timezone": "Europe/Berlin", "weekly": [
            {"weekday": "TUE", "start": "09:00", "end": "12:30"},
            {"weekday": "MON", "start": "13:30", "end": "17:00"},
            {"weekday": "mon", "start": "09:00:00", "end": "12:30"},
        ]});
        let set = put(&w.admin, &path, body);
        assert_eq!(set.status, 200, "{set:?}");
        let expected = json!({"timezone": "Europe/Berlin", "weekly": [
            {"weekday": "MON", "start": "09:00", "end": "12:30"},
            {"weekday": "MON", "start": "13:30", "end": "17:00"},
            {"weekday": "TUE", "start": "09:00", "end": "12:30"},
        ]});
        assert_eq!(set.body, expected);
        // Anyone signed in reads them, with or without the trailing slash.
        assert_eq!(w.pat.get(path.trim_end_matches('/')).body, expected);
        assert_eq!(w.other_doc.get(&path).body, expected);
        assert_eq!(server.client().get(&path).status, 401);
        // Field errors.
        let overlap = put(&w.admin, &path, json!({"timezone": "Europe/Berlin", "weekly": [
            {"weekday": "MON", "start": "09:00", "end": "12:00"},
            {"weekday": "MON", "start": "12:00", "end": "13:00"},
            {"weekday": "MON", "start": "11:00", "end": "11:30"},
        ]}));
        assert_eq!((overlap.status, &overlap.body), (400, &json!({"weekly": ["entry 2: overlaps entry 0."]})));
        let zone = put(&w.admin, &path, json!({"timezone": "X", "weekly": [{"weekday": "MON", "start": "09:00", "end": "10:00"}]}));
        assert_eq!((zone.status, &zone.body), (400, &json!({"timezone": ["Unknown time zone \"X\"."]})));
        let inverted = put(&w.admin, &path, json!({"timezone": "UTC", "weekly": [{"weekday": "MON", "start": "10:00", "end": "09:00"}]}));
        assert_eq!(inverted.body, json!({"weekly": ["entry 0: start must be before end."]}));
        let shapes = put(&w.admin, &path, json!({"timezone": "UTC", "weekly": [
            {"weekday": "MONDAY", "start": "9", "end": "24:00"}, 7, {"weekday": "SUN", "start": "25:00", "end": "26:00"}
        ]}));
        assert_eq!(shapes.status, 400, "{shapes:?}");
        assert_eq!(shapes.body["weekly"].as_array().map(Vec::len), Some(6), "{shapes:?}");
        assert_eq!(shapes.body["weekly"][0], "entry 0: weekday must be one of MON, TUE, WED, THU, FRI, SAT, SUN.");
        assert_eq!(put(&w.admin, &path, json!({"timezone": "UTC", "weekly": "MON"})).body,
            json!({"weekly": ["Expected a list of items but got type \"str\"."]}));
        assert_eq!(put(&w.admin, &path, json!({"timezone": "UTC"})).body, json!({"weekly": ["This field is required."]}));
        assert_eq!(put(&w.admin, &path, json!({"weekly": [{"weekday": "MON", "start": "09:00", "end": "10:00"}]})).body["timezone"][0],
            "This field is required when weekly is not empty.");
        assert_eq!(put(&w.admin, &path, json!({"timezone": 5, "weekly": []})).body, json!({"timezone": ["Not a valid string."]}));
        let not_object = w.admin.raw("PUT", &path, Some("[1, 2]"), Some("application/json"));
        assert_eq!(not_object.status, 400);
        assert!(not_object.body["detail"].as_str().unwrap().starts_with("JSON parse error"));
        assert_eq!(w.admin.raw("PUT", &path, Some("{\"weekly\": "), Some("application/json")).status, 400);
        assert_eq!(w.admin.raw("PUT", &path, Some("weekly=1"), Some("text/plain")).status, 415);
        // Nothing above changed the stored hours.
        assert_eq!(w.pat.get(&path).body, expected);
        // Permissions: the doctor themself yes; another doctor and patients no.
        let own = put(&w.doc, &path, mornings());
        assert_eq!(own.status, 200, "{own:?}");
        assert_eq!(own.body["weekly"].as_array().map(Vec::len), Some(5));
        assert_eq!(put(&w.other_doc, &path, mornings()).status, 403);
        assert_eq!(put(&w.pat, &path, mornings()).status, 403);
        // Method and existence.
        assert_eq!(w.admin.post(&path, mornings()).body["detail"], "Method \"POST\" not allowed.");
        assert_eq!(w.admin.get("/api/doctors/999/working-hours/").status, 404);
        assert_eq!(put(&w.admin, "/api/doctors/999/working-hours/", mornings()).status, 404);
        assert_eq!(w.admin.get("/api/doctors/abc/working-hours/").status, 404);
        // Clearing.
        let cleared = put(&w.doc, &path, json!({"weekly": []}));
        assert_eq!((cleared.status, &cleared.body), (200, &json!({"timezone": null, "weekly": []})));
        assert_eq!(w.pat.get(&path).body, json!({"timezone": null, "weekly": []}));
    };

    time_off_api => |server: &Server| {
        let w = world(server);
        let path = format!("/api/doctors/{}/time-off/", w.d1);
        assert_eq!(put(&w.admin, &format!("/api/doctors/{}/working-hours/", w.d1), mornings()).status, 200);
        // Tue 2030-04-02 09:00 CEST = 07:00Z.
        let a = w.admin.post("/api/appointments/", json!({"doctor": w.d1, "patient": w.p1,
            "appointment_datetime": "2030-04-02T09:00:00+02:00"}));
        assert_eq!(a.status, 201, "{a:?}");
        let day = json!({"start": "2030-04-02T00:00:00+02:00", "end": "2030-04-03T00:00:00+02:00", "reason": "Conference"});
        let refused = w.admin.post(&path, day.clone());
        assert_eq!(refused.status, 409, "{refused:?}");
        assert_eq!(refused.body["affected_appointments"], 1);
        assert!(refused.body["detail"].as_str().unwrap().contains("keep_appointments"));
        assert_eq!(w.admin.get(&path).body, json!([]));
        // Keep the appointment: stored, normalised to UTC.
        let mut keep = day.clone();
        keep["keep_appointments"] = json!(true);
        let kept = w.doc.post(&path, keep);
        assert_eq!(kept.status, 201, "{kept:?}");
        assert_eq!(kept.body["start"], "2030-04-01T22:00:00Z");
        assert_eq!(kept.body["end"], "2030-04-02T22:00:00Z");
        assert_eq!(kept.body["reason"], "Conference");
        assert_eq!(kept.body["doctor"], w.d1);
        let tid = kept.id();
        assert_eq!(w.admin.get(&format!("/api/appointments/{}/", a.id())).body["status"], "SCHEDULED");
        // A cancelled appointment blocks nothing.
        let b = w.admin.post("/api/appointments/", json!({"doctor": w.d1, "patient": w.p1,
            "appointment_datetime": "2030-04-03T07:00:00Z"}));
        assert_eq!(b.status, 201, "{b:?}");
        assert_eq!(w.admin.patch(&format!("/api/appointments/{}/", b.id()), json!({"status": "CANCELLED"})).status, 200);
        let second = w.admin.post(&path, json!({"start": "2030-04-03T06:00:00Z", "end": "2030-04-03T12:00:00Z"}));
        assert_eq!(second.status, 201, "{second:?}");
        assert_eq!(second.body["reason"], "");
        // Listed earliest first; the reason only for those who manage the doctor.
        let listed = w.admin.get(&path);
        assert_eq!(listed.header("x-total-count"), Some("2"));
        assert_eq!(listed.body.as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect::<Vec<_>>(), [tid, second.id()]);
        assert_eq!(w.doc.get(&path).body[0]["reason"], "Conference");
        assert_eq!(w.pat.get(&path).body[0]["reason"], "");
        assert_eq!(w.other_doc.get(path.trim_end_matches('/')).body[0]["reason"], "");
        // Bad input.
        let inverted = w.admin.post(&path, json!({"start": "2030-04-03T12:00:00Z", "end": "2030-04-03T06:00:00Z"}));
        assert_eq!((inverted.status, &inverted.body), (400, &json!({"end": ["End must be after start."]})));
        let naive = w.admin.post(&path, json!({"start": "2030-04-03T12:00:00", "end": 5, "keep_appointments": "maybe"}));
        assert_eq!(naive.status, 400);
        assert!(naive.body["start"][0].as_str().unwrap().starts_with("Datetime has wrong format"));
        assert!(naive.body["end"].is_array() && naive.body["keep_appointments"].is_array(), "{naive:?}");
        assert_eq!(w.admin.post(&path, json!({})).body["start"][0], "This field is required.");
        assert_eq!(w.admin.post(&path, json!({"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"})).status, 400);
        // Permissions.
        let p = json!({"start": "2030-05-01T00:00:00Z", "end": "2030-05-02T00:00:00Z"});
        assert_eq!(w.other_doc.post(&path, p.clone()).status, 403);
        assert_eq!(w.pat.post(&path, p.clone()).status, 403);
        assert_eq!(w.pat.delete(&format!("{path}{tid}/")).status, 403);
        assert_eq!(w.admin.post("/api/doctors/999/time-off/", p).status, 404);
        // Delete removes it for good.
        assert_eq!(w.admin.delete(&format!("/api/doctors/{}/time-off/{tid}/", w.d2)).status, 404);
        assert_eq!(w.doc.delete(&format!("{path}{tid}")).status, 204);
        assert_eq!(w.doc.delete(&format!("{path}{tid}/")).status, 404);
        assert_eq!(w.doc.delete(&format!("{path}abc/")).status, 404);
        assert_eq!(w.admin.get(&path).body.as_array().map(Vec::len), Some(1));
        assert_eq!(w.admin.send("PUT", &format!("{path}{tid}/"), None).status, 405);
    };

    slots_and_bookings_over_a_dst_week => |server: &Server| {
        let w = world(server);
        assert_eq!(put(&w.doc, &format!("/api/doctors/{}/working-hours/", w.d1), mornings()).status, 200);
        let slots = |who: &Client, query: &str| who.get(&format!("/api/doctors/{}/slots/?{query}", w.d1));
        // Mon 2030-03-25 .. Fri 2030-04-05: CET until Sunday 31 March, CEST after. 09:00 local
        // stays 09:00 local; in UTC it moves from 08:00Z to 07:00Z.
        let week = slots(&w.pat, "date_from=2030-03-25&date_to=2030-04-05&duration=60");
        assert_eq!(week.status, 200, "{week:?}");
        let mut expected = Vec::new();
        for day in 25..=29 {
            for h in [8, 9, 10] {
                expected.push(format!("2030-03-{day}T{h:02}:00:00Z"));
            }
        }
        for day in 1..=5 {
            for h in [7, 8, 9] {
                expected.push(format!("2030-04-{day:02}T{h:02}:00:00Z"));
            }
        }
        assert_eq!(starts(&week), expected);
        assert_eq!(week.body[0], json!({"start": "2030-03-25T08:00:00Z", "end": "2030-03-25T09:00:00Z"}));
        // The weekend of the switch has nothing; a single date defaults date_to.
        assert_eq!(slots(&w.pat, "date_from=2030-03-30&date_to=2030-03-31").body, json!([]));
        let monday = slots(&w.pat, "date_from=2030-04-01");
        assert_eq!(monday.body.as_array().map(Vec::len), Some(6), "{monday:?}");
        assert_eq!(starts(&slots(&w.pat, "date_from=2030-04-01&duration=45&step=15"))[..3],
            ["2030-04-01T07:00:00Z", "2030-04-01T07:15:00Z", "2030-04-01T07:30:00Z"]);
        // Booking outside hours: 400; inside: 201, and the slot is gone.
        let outside = w.pat.post("/api/appointments/", json!({"doctor": w.d1, "patient": w.own,
            "appointment_datetime": "2030-04-01T08:30:00+02:00"}));
        assert_eq!((outside.status, &outside.body), (400, &json!({"non_field_errors": ["Doctor is not available at this time."]})));
        let sunday = w.admin.post("/api/appointments/", json!({"doctor": w.d1, "patient": w.p1,
            "appointment_datetime": "2030-03-31T10:00:00+02:00"}));
        assert_eq!(sunday.status, 400, "{sunday:?}");
        let inside = w.pat.post("/api/appointments/", json!({"doctor": w.d1, "patient": w.own,
            "appointment_datetime": "2030-04-01T10:00:00+02:00", "duration_minutes": 60}));
        assert_eq!(inside.status, 201, "{inside:?}");
        assert_eq!(starts(&slots(&w.pat, "date_from=2030-04-01&duration=60")),
            ["2030-04-01T07:00:00Z", "2030-04-01T09:00:00Z"]);
        // Rescheduling out of hours is refused; within hours it works.
        let aid = inside.id();
        let late = w.pat.patch(&format!("/api/appointments/{aid}/"), json!({"appointment_datetime": "2030-04-01T11:30:00+02:00"}));
        assert_eq!((late.status, &late.body), (400, &json!({"non_field_errors": ["Doctor is not available at this time."]})));
        let early = w.doc.patch(&format!("/api/appointments/{aid}/"), json!({"appointment_datetime": "2030-04-01T09:00:00+02:00"}));
        assert_eq!(early.status, 200, "{early:?}");
        // Time off removes slots and refuses bookings.
        let off = w.admin.post(&format!("/api/doctors/{}/time-off/", w.d1),
            json!({"start": "2030-04-02T00:00:00+02:00", "end": "2030-04-03T00:00:00+02:00"}));
        assert_eq!(off.status, 201, "{off:?}");
        assert_eq!(slots(&w.pat, "date_from=2030-04-02").body, json!([]));
        let blocked = w.admin.post("/api/appointments/", json!({"doctor": w.d1, "patient": w.p1,
            "appointment_datetime": "2030-04-02T07:00:00Z"}));
        assert_eq!(blocked.body, json!({"non_field_errors": ["Doctor is not available at this time."]}));
        // A doctor without working hours: no slots, but bookable at any time.
        assert_eq!(w.pat.get(&format!("/api/doctors/{}/slots/?date_from=2030-04-01", w.d2)).body, json!([]));
        let any = w.pat.post("/api/appointments/", json!({"doctor": w.d2, "patient": w.own,
            "appointment_datetime": "2030-03-31T02:30:00Z"}));
        assert_eq!(any.status, 201, "{any:?}");
        // Moving an appointment to the doctor with hours, outside them: refused.
        let to_d1 = w.admin.patch(&format!("/api/appointments/{}/", any.id()), json!({"doctor": w.d1}));
        assert_eq!(to_d1.body, json!({"non_field_errors": ["Doctor is not available at this time."]}));
        // Slots in the past are left out.
        assert_eq!(slots(&w.pat, "date_from=2020-01-06&date_to=2020-01-10").body, json!([]));
        // Bad parameters are field errors, never 500.
        for (query, field) in [
            ("", "date_from"),
            ("date_from=2030-13-01", "date_from"),
            ("date_from=01/04/2030", "date_from"),
            ("date_from=2030-04-01&date_to=2030-03-31", "date_to"),
            ("date_from=2030-03-01&date_to=2030-04-01", "date_to"),
            ("date_from=2030-04-01&duration=4", "duration"),
            ("date_from=2030-04-01&duration=481", "duration"),
            ("date_from=2030-04-01&duration=x", "duration"),
            ("date_from=2030-04-01&step=0", "step"),
            ("date_from=2030-04-01&step=1441", "step"),
            ("date_from=2030-04-01&step=99999999999999999999", "step"),
            ("date_from=0001-01-01", "date_from"),
            ("date_from=9999-12-31&date_to=9999-12-31", "date_from"),
        ] {
            let r = slots(&w.pat, query);
            assert_eq!(r.status, 400, "{query}: {r:?}");
            assert!(r.body[field].is_array(), "{query}: {r:?}");
        }
        assert_eq!(slots(&w.pat, "date_from=2030-03-01&date_to=2030-03-31").status, 200);
        assert_eq!(w.pat.get("/api/doctors/999/slots/?date_from=2030-04-01").status, 404);
        assert_eq!(server.client().get(&format!("/api/doctors/{}/slots/?date_from=2030-04-01", w.d1)).status, 401);
        assert_eq!(w.pat.post(&format!("/api/doctors/{}/slots/", w.d1), json!({})).status, 405);
    };

    free_slots_are_paged => |server: &Server| {
        let w = world(server);
        assert_eq!(put(&w.admin, &format!("/api/doctors/{}/working-hours/", w.d2), around_the_clock()).status, 200);
        // Forwarding headers a client may forge never reach the links.
        let pat = w.pat.with_header("X-Forwarded-Host", "evil.example")
            .with_header("X-Forwarded-Proto", "https")
            .with_header("Forwarded", "host=evil.example;proto=https");
        let base = format!("/api/doctors/{}/slots/", w.d2);
        let month = format!("{base}?date_from=2031-01-01&date_to=2031-01-31&duration=5");
        // 31 days of 287 five-minute slots (00:00 .. 23:54-23:59): 8897, served 1000 at a time.
        let first = pat.get(&month);
        assert_eq!(first.status, 200, "{:?}", first.headers);
        assert_eq!(first.body.as_array().map(Vec::len), Some(1000));
        assert_eq!(first.header("x-total-count"), Some("8897"));
        assert_eq!(first.header("link").map(str::to_owned), Some(format!(
            "<{base}?date_from=2031-01-01&date_to=2031-01-31&duration=5&limit=1000&offset=1000>; rel=\"next\"")));
        // Following rel="next" visits every slot once, in time order.
        let mut all = starts(&first);
        let mut page = first;
        let mut pages = 1;
        while let Some(next) = next_link(&page) {
            page = pat.get(&next);
            assert_eq!(page.status, 200, "{next}");
            all.extend(starts(&page));
            pages += 1;
            assert!(pages <= 9, "more pages than 8897 slots need");
        }
        assert_eq!((pages, all.len()), (9, 8897));
        assert!(all.windows(2).all(|p| p[0] < p[1]), "pages overlap or are out of order");
        assert_eq!(all[0], "2031-01-01T00:00:00Z");
        assert_eq!(all[8896], "2031-01-31T23:50:00Z");
        let last = page.header("link").unwrap_or_default();
        assert!(last.contains("offset=7000>; rel=\"prev\"") && !last.contains("next"), "{last}");
        // A window anywhere in the range, and past its end.
        let window = pat.get(&format!("{month}&limit=10&offset=20"));
        assert_eq!(starts(&window), all[20..30]);
        assert_eq!(window.header("x-total-count"), Some("8897"));
        let links = window.header("link").unwrap_or_default();
        assert!(links.contains("limit=10&offset=30>; rel=\"next\"") && links.contains("limit=10&offset=10>; rel=\"prev\""), "{links}");
        let beyond = pat.get(&format!("{month}&offset=9000"));
        assert_eq!((beyond.status, &beyond.body), (200, &json!([])));
        assert_eq!(beyond.header("x-total-count"), Some("8897"));
        // At most 1000 per page whatever the client asks.
        assert_eq!(pat.get(&format!("{month}&limit=5000")).body.as_array().map(Vec::len), Some(1000));
        // A range that fits in one page comes whole, without links: a week of 30-minute slots.
        let week = pat.get(&format!("{base}?date_from=2031-01-06&date_to=2031-01-12"));
        assert_eq!(week.body.as_array().map(Vec::len), Some(7 * 47));
        assert_eq!(week.header("x-total-count"), Some("329"));
        assert_eq!(week.header("link"), None);
        // Paging parameters are checked as on lists, with the other fields.
        for (query, fields) in [
            ("limit=0", &["limit"][..]),
            ("limit=x", &["limit"]),
            ("offset=-1", &["offset"]),
            ("limit=0&duration=4", &["limit", "duration"]),
        ] {
            let r = pat.get(&format!("{base}?date_from=2031-01-06&{query}"));
            assert_eq!(r.status, 400, "{query}: {r:?}");
            for field in fields {
                assert!(r.body[field].is_array(), "{query}: {r:?}");
            }
        }
    };

    date_ranges_of_slots_refuse_years_outside_1900_2199 => |server: &Server| {
        let w = world(server);
        let slots = |query: &str| w.pat.get(&format!("/api/doctors/{}/slots/?{query}", w.d1));
        for (query, field) in [
            ("date_from=100000-01-01", "date_from"),
            ("date_from=1899-12-31", "date_from"),
            ("date_from=2199-12-31&date_to=2200-01-01", "date_to"),
            ("date_from=2031-01-01&date_to=100000-01-01", "date_to"),
        ] {
            let r = slots(query);
            assert_eq!(r.status, 400, "{query}: {r:?}");
            assert_eq!(r.body[field], json!(["Dates must be between 1900 and 2199."]), "{query}: {r:?}");
        }
        assert_eq!(slots("date_from=2199-12-31").status, 200);
        // A date-time is not a local date.
        let r = slots("date_from=2031-01-01T00:00:00Z");
        assert_eq!(r.status, 400, "{r:?}");
        assert!(r.body["date_from"].is_array(), "{r:?}");
    };

    openapi_lists_availability => |server: &Server| {
        let doc = server.client().get("/api/schema/");
        assert_eq!(doc.status, 200);
        let paths = &doc.body["paths"];
        for p in ["/api/doctors/{id}/working-hours/", "/api/doctors/{id}/time-off/",
                  "/api/doctors/{id}/time-off/{time_off_id}/", "/api/doctors/{id}/slots/"] {
            assert!(paths[p].is_object(), "{p} missing");
        }
        assert!(paths["/api/doctors/{id}/working-hours/"]["put"].is_object());
        assert!(paths["/api/doctors/{id}/time-off/"]["post"]["responses"]["409"].is_object());
        let schemas = &doc.body["components"]["schemas"];
        for s in ["WorkingHours", "WeeklyInterval", "TimeOff", "TimeOffCreate", "TimeOffConflict", "FreeSlot"] {
            assert!(schemas[s].is_object(), "schema {s} missing");
        }
    };
}

/// With `HEALTHCARE_PUBLIC_URL` set, links are absolute from it (and from nothing the client
/// sent), on lists and on free slots alike.
fn absolute_links(server: &Server) {
    let w = world(server);
    assert_eq!(
        put(
            &w.admin,
            &format!("/api/doctors/{}/working-hours/", w.d2),
            around_the_clock()
        )
        .status,
        200
    );
    let pat = w.pat.with_header("X-Forwarded-Host", "evil.example");
    let doctors = pat.get("/api/doctors/?limit=1");
    assert_eq!(
        doctors.header("link"),
        Some(r#"<https://clinic.example.org/base/api/doctors/?limit=1&offset=1>; rel="next""#)
    );
    let slots = pat.get(&format!(
        "/api/doctors/{}/slots/?date_from=2031-01-01&limit=2&offset=2",
        w.d2
    ));
    assert_eq!(
        slots.header("link").map(str::to_owned),
        Some(format!(
            "<https://clinic.example.org/base/api/doctors/{d}/slots/?date_from=2031-01-01&limit=2&offset=4>; rel=\"next\", \
             <https://clinic.example.org/base/api/doctors/{d}/slots/?date_from=2031-01-01&limit=2&offset=0>; rel=\"prev\"",
            d = w.d2
        ))
    );
}

const PUBLIC_URL: (&str, &str) = ("HEALTHCARE_PUBLIC_URL", "https://clinic.example.org/base/");

#[test]
fn links_from_the_public_url_sqlite() {
    let app = TestApp::sqlite().envs(&[PUBLIC_URL]).start().unwrap();
    absolute_links(&app);
}

#[test]
fn links_from_the_public_url_postgres() {
    if let Some(app) = TestApp::postgres().envs(&[PUBLIC_URL]).start() {
        absolute_links(&app);
    }
}
