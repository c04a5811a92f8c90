//! Three server processes on one PostgreSQL database behind nginx (`deploy/nginx.conf`, nginx
//! from this machine's Debian release): a rolling restart under continuous load (SIGTERM one
//! process, start it again, then the next) answers every request with a 2xx, loses no booking and
//! double-books nothing; and the throughput through nginx, against one process reached directly,
//! measured with wrk (docs/deployment.md).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{Duration as Minutes, TimeZone, Utc};
use healthcare_testing::{report, Client, Nginx, Server, TestApp};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
const SECRET: &str = "scale-test-signing-key-0123456789abcdef0123";

/// `deploy/nginx.conf` with the test's ports.
fn site(upstreams: &[u16], listen: u16) -> String {
    let shipped =
        std::fs::read_to_string(healthcare_testing::workspace_root().join("deploy/nginx.conf"))
            .unwrap();
    let mut site = shipped
        .replace("listen 80;", &format!("listen 127.0.0.1:{listen};"))
        .replace("listen [::]:80;", "");
    for (i, port) in upstreams.iter().enumerate() {
        site = site.replace(
            &format!("127.0.0.1:800{}", i + 1),
            &format!("127.0.0.1:{port}"),
        );
    }
    assert!(!site.contains("server 127.0.0.1:800"), "{site}");
    site
}

fn process(url: &str, port: u16, public: &str) -> Server {
    TestApp::postgres()
        .envs(&[
            ("HEALTHCARE_BIND", &format!("127.0.0.1:{port}")),
            ("JWT_SECRET", SECRET),
            ("HEALTHCARE_TRUSTED_PROXIES", "127.0.0.1"),
            ("HEALTHCARE_PUBLIC_URL", public),
        ])
        .serve(url)
}

/// Requests/s wrk (Debian's, unpacked) makes of `url` with `token`, 16 connections for 3 s.
fn wrk(url: &str, token: &str) -> f64 {
    let wrk = healthcare_testing::debian_package("wrk").join("usr/bin/wrk");
    let luajit =
        healthcare_testing::debian_package("libluajit-5.1-2").join("usr/lib/x86_64-linux-gnu");
    let out = std::process::Command::new(wrk)
        .env("LD_LIBRARY_PATH", luajit)
        .args(["-t2", "-c16", "-d3s", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(url)
        .output()
        .expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no wrk figure: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

#[test]
fn rolling_restart_behind_nginx_loses_nothing() {
    let Some(db) = TestApp::postgres().database() else {
        return;
    };
    let ports = [
        healthcare_testing::free_port(),
        healthcare_testing::free_port(),
        healthcare_testing::free_port(),
    ];
    let front = healthcare_testing::free_port();
    let public = format!("http://127.0.0.1:{front}");
    let mut servers: Vec<Server> = ports
        .iter()
        .map(|p| process(&db.url, *p, &public))
        .collect();
    let nginx = Nginx::start(&site(&ports, front));
    let through = Client::new(&public);
    let admin = through.register("admin", PW);
    let doctor = admin
        .post(
            "/api/doctors/",
            json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
                   "contact_number": "555 0101", "license_number": "LIC-S1", "hospital": "PPTH"}),
        )
        .id();
    let patients: Vec<i64> = (0..8)
        .map(|i| {
            admin
                .post(
                    "/api/patients/",
                    json!({"first_name": format!("P{i}"), "last_name": "Load", "date_of_birth": "1990-01-01",
                           "gender": "F", "contact_number": "555 0100"}),
                )
                .id()
        })
        .collect();

    // Continuous load: 8 clients, each booking its own slots and reading a list, until told
    // to stop; every answer that is not a 2xx, and every failed exchange, is kept.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let base = Utc.with_ymd_and_hms(2031, 1, 6, 0, 0, 0).unwrap();
    let clients: Vec<_> = (0..8)
        .map(|t| {
            let (stop, failures, admin) = (stop.clone(), failures.clone(), admin.clone());
            let patient = patients[t];
            std::thread::spawn(move || {
                let mut booked = 0u64;
                let mut i = 0i64;
                while !stop.load(Ordering::SeqCst) {
                    let at = base + Minutes::minutes(30 * (i * 8 + t as i64));
                    let r = admin.try_send(
                        "POST",
                        "/api/appointments/",
                        Some(&json!({"doctor": doctor, "patient": patient,
                                     "appointment_datetime": at.to_rfc3339()})),
                    );
                    match r {
                        Ok(r) if r.status == 201 => booked += 1,
                        Ok(r) => failures
                            .lock()
                            .unwrap()
                            .push(format!("POST {}: {}", r.status, r.text)),
                        Err(e) => failures.lock().unwrap().push(format!("POST: {e}")),
                    }
                    match admin.try_send(
                        "GET",
                        &format!("/api/appointments/?doctor={doctor}&limit=5"),
                        None,
                    ) {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => failures
                            .lock()
                            .unwrap()
                            .push(format!("GET {}: {}", r.status, r.text)),
                        Err(e) => failures.lock().unwrap().push(format!("GET: {e}")),
                    }
                    i += 1;
                }
                booked
            })
        })
        .collect();

    // Two more clients race for the same slots, one booking each at a time through nginx (so
    // usually through two processes): each slot must go to exactly one (201, and 409 for the
    // other), restarts or not.
    let race = Arc::new(std::sync::Barrier::new(2));
    let round = Arc::new(AtomicBool::new(true));
    let raced = Arc::new(Mutex::new(
        std::collections::BTreeMap::<i64, Vec<u16>>::new(),
    ));
    let racers: Vec<_> = (0..2)
        .map(|r| {
            let (stop, race, round, raced, admin) = (
                stop.clone(),
                race.clone(),
                round.clone(),
                raced.clone(),
                admin.clone(),
            );
            let patient = patients[2 + r];
            let base = Utc.with_ymd_and_hms(2041, 1, 6, 0, 0, 0).unwrap();
            std::thread::spawn(move || {
                for slot in 0i64.. {
                    if race.wait().is_leader() {
                        round.store(!stop.load(Ordering::SeqCst), Ordering::SeqCst);
                    }
                    race.wait();
                    if !round.load(Ordering::SeqCst) {
                        break;
                    }
                    let at = base + Minutes::minutes(30 * slot);
                    let status = admin
                        .try_send(
                            "POST",
                            "/api/appointments/",
                            Some(&json!({"doctor": doctor, "patient": patient,
                                         "appointment_datetime": at.to_rfc3339()})),
                        )
                        .map_or(0, |r| r.status);
                    raced.lock().unwrap().entry(slot).or_default().push(status);
                }
            })
        })
        .collect();

    // The rolling restart: SIGTERM one process, start it again on its port, wait until it
    // answers, then the next.
    std::thread::sleep(Duration::from_secs(1));
    for (i, port) in ports.iter().enumerate() {
        let code = servers[i].terminate();
        assert_eq!(code, Some(0), "process {i} did not stop cleanly");
        servers[i] = process(&db.url, *port, &public);
        let direct = Client::new(&format!("http://127.0.0.1:{port}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while direct.get("/api/health/").status != 200 {
            assert!(Instant::now() < deadline, "process {i} did not come back");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    stop.store(true, Ordering::SeqCst);
    let booked: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    for r in racers {
        r.join().unwrap();
    }
    let raced = raced.lock().unwrap().clone();
    assert!(raced.len() > 20, "too few raced slots: {}", raced.len());
    for (slot, statuses) in &raced {
        let mut s = statuses.clone();
        s.sort_unstable();
        assert_eq!(s, [201, 409], "slot {slot}: {statuses:?}");
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}\nnginx: {}",
        failures.len(),
        &failures[..failures.len().min(5)],
        nginx.error_log()
    );
    assert!(booked > 50, "too little load: {booked} bookings");

    // Every answered booking is there, once, and none overlaps another.
    let listed = admin.get(&format!("/api/appointments/?doctor={doctor}&limit=1"));
    let total: u64 = listed.header("x-total-count").unwrap().parse().unwrap();
    assert_eq!(total, booked + raced.len() as u64);
    let mut starts = Vec::new();
    let mut offset = 0;
    while offset < total {
        let page = admin.get(&format!("/api/appointments/?doctor={doctor}&limit=1000&offset={offset}&ordering=appointment_datetime"));
        for a in page.body.as_array().unwrap() {
            starts.push(a["appointment_datetime"].as_str().unwrap().to_owned());
        }
        offset += 1000;
    }
    let mut sorted = starts.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), starts.len(), "two bookings at one time");

    // Throughput: one appointment read by id, through nginx and to one process directly.
    let first = admin
        .get(&format!("/api/appointments/?doctor={doctor}&limit=1"))
        .body[0]["id"]
        .as_i64()
        .unwrap();
    let token = admin.token.clone().unwrap();
    let path = format!("/api/appointments/{first}/");
    let via = wrk(&format!("{public}{path}"), &token);
    let direct = wrk(&format!("http://127.0.0.1:{}{path}", ports[0]), &token);
    report(&format!(
        "scale: rolling restart of 3 processes behind nginx under load: {booked} bookings and {} raced slots (each booked once), 0 failures; \
         GET appointment by id c16: {via:.0}/s through nginx (3 processes), {direct:.0}/s one process direct ({:.2}x)",
        raced.len(),
        via / direct
    ));
}
