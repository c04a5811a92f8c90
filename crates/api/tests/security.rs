//! The security suite (docs/security.md), against the real binary on SQLite and PostgreSQL:
//! signing-key length, atomic login and registration throttling, atomic refresh rotation,
//! sessions that end on every server process at once, duplicate usernames refused before any
//! hashing, usernames compared after NFKC and case folding, `Link` headers never built from
//! request headers, slow request bodies, bounded free-slot answers, date-filter bounds,
//! owner-only SQLite files, mapping reactivation rights and bcrypt re-hashing at the configured
//! cost.
//!
//! Limits are shrunk through their settings where that keeps a test short; concurrent requests
//! are released together by a barrier, each thread with its own HTTP client. Different client
//! addresses are simulated with `X-Forwarded-For` behind `HEALTHCARE_TRUSTED_PROXIES=127.0.0.1`.
//! Every wait is bounded: a session that should end is polled for at most 1.5 s.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_persistence::testing::{announce_skip, postgres_admin_url};
use healthcare_testing::{report, App, Client, Reply, Server, TestApp};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";
const NEW_PW: &str = "another long passphrase";
const TRUST_LOCAL: (&str, &str) = ("HEALTHCARE_TRUSTED_PROXIES", "127.0.0.1");
/// How long a session that should have ended is polled before the test fails (the contract
/// says 1 s; the rest is the test's own latency).
const END_WITHIN: Duration = Duration::from_millis(1500);

/// One test per backend: `mod name { fn sqlite(); fn postgres(); }`, each calling `body` with
/// `"sqlite"` or `"postgres"` (skipped, and announced, without `TEST_DATABASE_URL`).
macro_rules! both_backends {
    ($($name:ident => $body:path;)*) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                $body("sqlite");
            }

            #[test]
            fn postgres() {
                if super::postgres_configured() {
                    $body("postgres");
                }
            }
        }
    )*};
}

fn postgres_configured() -> bool {
    let configured = postgres_admin_url().is_some();
    if !configured {
        announce_skip();
    }
    configured
}

/// Runs `f(0..n)` on `n` threads released together.
fn burst<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status).collect()
}

fn from(client: &Client, address: &str) -> Client {
    client.with_header("X-Forwarded-For", address)
}

fn register(client: &Client, username: &str) -> Reply {
    client.post(
        "/api/auth/register/",
        json!({"username": username, "email": "someone@example.org", "password": PW}),
    )
}

fn login(client: &Client, username: &str, password: &str) -> Reply {
    client.post(
        "/api/token/",
        json!({"username": username, "password": password}),
    )
}

/// A fresh session: `(access, refresh)`.
fn session(client: &Client, username: &str, password: &str) -> (String, String) {
    let r = login(client, username, password);
    assert_eq!(r.status, 200, "login {username}: {r:?}");
    (
        r.body["access"].as_str().unwrap().to_owned(),
        r.body["refresh"].as_str().unwrap().to_owned(),
    )
}

fn refresh(client: &Client, token: &str) -> Reply {
    client.post("/api/token/refresh/", json!({"refresh": token}))
}

fn me(server: &Server, access: &str) -> Reply {
    server.client().with_token(access).get("/api/auth/me/")
}

/// A 429 with a `{"detail": ...}` body and a `Retry-After` of 1..=`max` seconds.
fn assert_throttled(r: &Reply, max: u64, what: &str) {
    assert_eq!(r.status, 429, "{what}: {r:?}");
    assert!(r.body["detail"].is_string(), "{what}: {r:?}");
    let retry = r.header("retry-after").and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry.is_some_and(|s| (1..=max).contains(&s)),
        "{what}: Retry-After should be 1..={max} s: {r:?}"
    );
}

/// Polls `GET /api/auth/me/` with `access` on `server` until it answers 401; how long after
/// `since` that was, or the last answer when it was still accepted after [`END_WITHIN`].
fn ended(server: &Server, access: &str, since: Instant) -> Result<Duration, Reply> {
    loop {
        let r = me(server, access);
        if r.status == 401 {
            return Ok(since.elapsed());
        }
        if since.elapsed() > END_WITHIN {
            return Err(r);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_ended(server: &Server, access: &str, since: Instant, what: &str) -> Duration {
    match ended(server, access, since) {
        Ok(after) => after,
        Err(r) => panic!(
            "{what}: access token still accepted {} ms after the change: {r:?}",
            since.elapsed().as_millis()
        ),
    }
}

/// Sleeps until `since + END_WITHIN`, so that whatever a process caches has expired.
fn past_the_window(since: Instant) {
    if let Some(rest) = END_WITHIN.checked_sub(since.elapsed()) {
        std::thread::sleep(rest);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The signing key

fn jwt_secret_length(backend: &str) {
    let app = TestApp::on(backend);
    let db = app.database().expect("TEST_DATABASE_URL");
    let short = "x".repeat(31);
    for (what, secret) in [("empty", ""), ("31 bytes", short.as_str())] {
        let run = app
            .clone()
            .env("JWT_SECRET", secret)
            .launch(&db.url, Duration::from_secs(30));
        assert!(
            !run.listened,
            "JWT_SECRET {what}: the server started: {run:?}"
        );
        assert_eq!(run.code, Some(2), "JWT_SECRET {what}: {run:?}");
        assert!(
            run.stderr.contains("JWT_SECRET"),
            "JWT_SECRET {what}: stderr does not name the variable: {run:?}"
        );
    }
    // 32 bytes start, counted as bytes (16 two-byte characters are 32 bytes).
    let ascii = "x".repeat(32);
    let two_byte = "é".repeat(16);
    for (what, secret) in [("32 bytes", ascii.as_str()), ("16 x é", two_byte.as_str())] {
        let run = app
            .clone()
            .env("JWT_SECRET", secret)
            .launch(&db.url, Duration::from_secs(30));
        assert!(run.listened, "JWT_SECRET {what}: did not start: {run:?}");
    }
}

both_backends! {
    jwt_secret_must_be_32_bytes => super::jwt_secret_length;
}

// ---------------------------------------------------------------------------------------------
// 2. Login throttling

/// Twenty concurrent wrong passwords for one username from one address, sent to two server
/// processes on one database: at most five are evaluated (401), the rest are 429; then the
/// right password from that address is 429 too, while the same account still logs in from an
/// address that has not failed.
fn concurrent_wrong_passwords(backend: &str) {
    // bcrypt at cost 10 takes tens of milliseconds, so the twenty verifications overlap.
    let settings = [TRUST_LOCAL, ("BCRYPT_COST", "10")];
    let server = TestApp::on(backend)
        .envs(&settings)
        .start()
        .expect("server");
    let other = server.spawn();
    let anon = server.client();
    assert_eq!(register(&anon, "admin").status, 201);
    assert_eq!(register(&anon, "victim").status, 201);
    let replies = burst(20, |i| {
        let process = if i % 2 == 0 { &server.server } else { &other };
        login(
            &from(&process.client(), "203.0.113.5"),
            "victim",
            &format!("wrong password {i}"),
        )
    });
    let evaluated = replies.iter().filter(|r| r.status == 401).count();
    let throttled: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        (1..=5).contains(&evaluated) && evaluated + throttled.len() == 20,
        "20 concurrent wrong passwords: at most 5 may be evaluated (401), the rest 429: {:?}",
        statuses(&replies)
    );
    for r in throttled {
        assert_throttled(r, 900, "concurrent failure");
    }
    assert_throttled(
        &login(&from(&anon, "203.0.113.5"), "victim", PW),
        900,
        "the right password from the locked-out address",
    );
    // Spellings of the same name share its bucket.
    for variant in ["VICTIM", "ｖｉｃｔｉｍ"] {
        assert_throttled(
            &login(&from(&anon, "203.0.113.5"), variant, PW),
            900,
            &format!("{variant} from the locked-out address"),
        );
    }
    let other = login(&from(&anon, "203.0.113.6"), "victim", PW);
    assert_eq!(
        other.status, 200,
        "the right password from an address that has not failed: {other:?}"
    );
    report(&format!(
        "security[{backend}]: 20 concurrent wrong passwords: {evaluated} evaluated, {} throttled",
        20 - evaluated
    ));
}

/// The per-address limit (shrunk to 8) holds across usernames, under a concurrent burst.
fn per_address_limit(backend: &str) {
    let server = TestApp::on(backend)
        .envs(&[
            TRUST_LOCAL,
            ("BCRYPT_COST", "8"),
            ("HEALTHCARE_LOGIN_FAILURES_PER_ADDRESS", "8"),
        ])
        .start()
        .expect("server");
    let anon = server.client();
    assert_eq!(register(&anon, "admin").status, 201);
    let replies = burst(24, |i| {
        login(
            &from(&server.client(), "203.0.113.7"),
            &format!("nobody{i}"),
            "wrong password",
        )
    });
    let evaluated = replies.iter().filter(|r| r.status == 401).count();
    assert!(
        (1..=8).contains(&evaluated) && replies.iter().all(|r| matches!(r.status, 401 | 429)),
        "24 concurrent failures under 24 usernames from one address, limit 8: {:?}",
        statuses(&replies)
    );
    assert_throttled(
        &login(&from(&anon, "203.0.113.7"), "admin", PW),
        900,
        "another account from the throttled address",
    );
    assert_eq!(
        login(&from(&anon, "203.0.113.8"), "admin", PW).status,
        200,
        "another address"
    );
}

/// The per-username cap (shrunk to 12) counts failures from every address: two failures from
/// each of six addresses are all evaluated (no address reaches its own limit of 5), and then the
/// account is throttled even from a fresh address; other accounts are not.
fn per_username_cap(backend: &str) {
    let server = TestApp::on(backend)
        .envs(&[TRUST_LOCAL, ("HEALTHCARE_LOGIN_FAILURES_PER_USER", "12")])
        .start()
        .expect("server");
    let anon = server.client();
    assert_eq!(register(&anon, "admin").status, 201);
    assert_eq!(register(&anon, "victim").status, 201);
    for a in 0..6 {
        let client = from(&anon, &format!("198.51.100.{}", 20 + a));
        for attempt in 0..2 {
            let r = login(&client, "victim", "wrong password");
            assert_eq!(
                r.status, 401,
                "failure {attempt} from address {a} (12 in all are allowed): {r:?}"
            );
        }
    }
    assert_throttled(
        &login(&from(&anon, "198.51.100.99"), "victim", PW),
        3600,
        "the capped username from a fresh address",
    );
    assert_eq!(
        login(&from(&anon, "198.51.100.99"), "admin", PW).status,
        200,
        "another account from that address"
    );
}

/// A lockout lasts as long as its window (shrunk to 2 s) and no longer; `Retry-After` says so.
fn lockout_window(backend: &str) {
    let server = TestApp::on(backend)
        .env("HEALTHCARE_LOGIN_WINDOW", "2")
        .start()
        .expect("server");
    let anon = server.client();
    assert_eq!(register(&anon, "admin").status, 201);
    for i in 0..5 {
        assert_eq!(
            login(&anon, "admin", "wrong password").status,
            401,
            "failure {i}"
        );
    }
    assert_throttled(&login(&anon, "admin", PW), 2, "within the window");
    std::thread::sleep(Duration::from_millis(2500));
    let r = login(&anon, "admin", PW);
    assert_eq!(r.status, 200, "after the window: {r:?}");
}

both_backends! {
    login_throttling_is_atomic => super::concurrent_wrong_passwords;
    login_lockout_ends_with_its_window => super::lockout_window;
    login_throttling_per_address_is_atomic => super::per_address_limit;
    login_throttling_caps_a_username_across_addresses => super::per_username_cap;
}

// ---------------------------------------------------------------------------------------------
// 3. Refresh rotation

/// Sixteen concurrent refreshes of one token, alternating between two server processes on one
/// database: exactly one 200; the others are reuse and end the session, the winner's new pair
/// included. Four rounds.
fn refresh_rotation(backend: &str) {
    let a = TestApp::on(backend).start().expect("server");
    let b = a.spawn();
    assert_eq!(register(&a.client(), "admin").status, 201);
    assert_eq!(register(&a.client(), "pat").status, 201);
    for round in 0..4 {
        let (access, token) = session(&a.client(), "pat", PW);
        let replies = burst(16, |i| {
            let server = if i % 2 == 0 { &a } else { &b };
            refresh(&server.client(), &token)
        });
        let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one of 16 concurrent refreshes may succeed: {:?}",
            statuses(&replies)
        );
        assert_eq!(
            replies.iter().filter(|r| r.status == 401).count(),
            15,
            "round {round}: the others are 401: {:?}",
            statuses(&replies)
        );
        let done = Instant::now();
        let new_access = winners[0].body["access"].as_str().unwrap().to_owned();
        let new_refresh = winners[0].body["refresh"].as_str().unwrap().to_owned();
        let r = refresh(&a.client(), &new_refresh);
        assert_eq!(
            r.status, 401,
            "round {round}: the winner's new refresh token after reuse: {r:?}"
        );
        for (name, server) in [("A", &a.server), ("B", &b)] {
            assert_ended(
                server,
                &new_access,
                done,
                &format!("round {round}: the winner's new access token on process {name}"),
            );
            assert_ended(
                server,
                &access,
                done,
                &format!("round {round}: the session's first access token on process {name}"),
            );
        }
    }
}

both_backends! {
    refresh_rotation_is_atomic => super::refresh_rotation;
}

// ---------------------------------------------------------------------------------------------
// 4. Sessions end everywhere at once

/// Two processes on one database: sessions come from process A, changes go through process B,
/// and the tokens are checked on A.
fn two_processes(backend: &str) -> (App, Server) {
    let a = TestApp::on(backend).start().expect("server");
    let b = a.spawn();
    (a, b)
}

fn password_change(backend: &str) {
    let (a, b) = two_processes(backend);
    assert_eq!(register(&a.client(), "admin").status, 201);
    assert_eq!(register(&a.client(), "alice").status, 201);
    let (other_access, other_refresh) = session(&a.client(), "alice", PW);
    let (own_access, own_refresh) = session(&b.client(), "alice", PW);
    assert_eq!(me(&a, &other_access).status, 200);
    assert_eq!(me(&a, &own_access).status, 200);
    let change = |old: &str| {
        b.client().with_token(&own_access).post(
            "/api/auth/password/",
            json!({"old_password": old, "new_password": NEW_PW}),
        )
    };
    let wrong = change("not my password");
    assert_eq!(wrong.status, 400, "wrong old password: {wrong:?}");
    assert!(
        wrong.body["old_password"].is_array(),
        "wrong old password: {wrong:?}"
    );
    assert_eq!(me(&a, &other_access).status, 200, "nothing changed yet");
    let r = change(PW);
    assert_eq!(r.status, 204, "password change: {r:?}");
    let done = Instant::now();
    let after = assert_ended(&a, &other_access, done, "another session of the account");
    assert_eq!(
        refresh(&a.client(), &other_refresh).status,
        401,
        "another session's refresh token"
    );
    past_the_window(done);
    let own = me(&a, &own_access);
    assert_eq!(own.status, 200, "the session that made the change: {own:?}");
    let renewed = refresh(&a.client(), &own_refresh);
    assert_eq!(
        renewed.status, 200,
        "the changing session's refresh token: {renewed:?}"
    );
    let renewed_access = renewed.body["access"].as_str().unwrap();
    assert_eq!(
        me(&a, renewed_access).status,
        200,
        "its renewed access token"
    );
    assert_eq!(login(&a.client(), "alice", PW).status, 401, "old password");
    assert_eq!(
        login(&a.client(), "alice", NEW_PW).status,
        200,
        "new password"
    );
    report(&format!(
        "security[{backend}]: password change ended another session on the other process after {} ms",
        after.as_millis()
    ));
}

/// A wrong old password counts as a failed login: a stolen access token is no way around the
/// throttling of password guesses.
fn password_change_throttled(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    assert_eq!(register(&server.client(), "admin").status, 201);
    assert_eq!(register(&server.client(), "dave").status, 201);
    let (access, _) = session(&server.client(), "dave", PW);
    let guess = |i: usize| {
        server.client().with_token(&access).post(
            "/api/auth/password/",
            json!({"old_password": format!("guess number {i}"), "new_password": NEW_PW}),
        )
    };
    for i in 0..5 {
        let r = guess(i);
        assert_eq!(r.status, 400, "wrong old password {i}: {r:?}");
    }
    assert_throttled(&guess(5), 900, "the sixth wrong old password");
    assert_throttled(
        &login(&server.client(), "dave", PW),
        900,
        "a login after five wrong old passwords",
    );
}

/// An admin's change of an account (through process B) ends every access token of it on
/// process A, and its refresh tokens.
fn admin_change(backend: &str, change: &Value, role: &str, password_after: Option<&str>) {
    let (a, b) = two_processes(backend);
    assert_eq!(register(&a.client(), "admin").status, 201);
    let (admin_access, _) = session(&b.client(), "admin", PW);
    let admin = b.client().with_token(&admin_access);
    let created = admin.post(
        "/api/users/",
        json!({"username": "bob", "email": "bob@example.org", "password": PW, "role": role}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let bob = created.id();
    let (first, first_refresh) = session(&a.client(), "bob", PW);
    let (second, _) = session(&a.client(), "bob", PW);
    assert_eq!(me(&a, &first).status, 200);
    assert_eq!(me(&a, &second).status, 200);
    let r = admin.patch(&format!("/api/users/{bob}/"), change.clone());
    assert_eq!(r.status, 200, "PATCH {change}: {r:?}");
    let done = Instant::now();
    let after = assert_ended(&a, &first, done, &format!("after PATCH {change}"));
    assert_ended(&a, &second, done, &format!("after PATCH {change}"));
    assert_eq!(
        refresh(&a.client(), &first_refresh).status,
        401,
        "refresh token after PATCH {change}"
    );
    report(&format!(
        "security[{backend}]: PATCH {change} ended the account's sessions on the other process after {} ms",
        after.as_millis()
    ));
    // A new login works (with the new password), or not at all for a deactivated account.
    match password_after {
        Some(password) => {
            let (fresh, _) = session(&a.client(), "bob", password);
            let who = me(&a, &fresh);
            assert_eq!(
                who.status, 200,
                "a new session after PATCH {change}: {who:?}"
            );
            if let Some(role) = change.get("role") {
                assert_eq!(&who.body["role"], role);
            }
        }
        None => {
            assert_eq!(
                login(&a.client(), "bob", PW).status,
                401,
                "login after PATCH {change}"
            );
            // Reactivation does not revive the tokens issued before the deactivation.
            let r = admin.patch(&format!("/api/users/{bob}/"), json!({"is_active": true}));
            assert_eq!(r.status, 200, "reactivation: {r:?}");
            let back = Instant::now();
            let (fresh, _) = session(&a.client(), "bob", PW);
            past_the_window(back);
            for (what, token) in [("first", &first), ("second", &second)] {
                let r = me(&a, token);
                assert_eq!(
                    r.status, 401,
                    "{what} old session after reactivation: {r:?}"
                );
            }
            assert_eq!(
                refresh(&a.client(), &first_refresh).status,
                401,
                "old refresh token after reactivation"
            );
            assert_eq!(me(&a, &fresh).status, 200, "a session after reactivation");
        }
    }
}

/// The negative control: an admin's change of an account's email alone ends nothing.
fn email_change(backend: &str) {
    let (a, b) = two_processes(backend);
    assert_eq!(register(&a.client(), "admin").status, 201);
    let (admin_access, _) = session(&b.client(), "admin", PW);
    let admin = b.client().with_token(&admin_access);
    assert_eq!(register(&a.client(), "erin").status, 201);
    let (access, token) = session(&a.client(), "erin", PW);
    let erin = me(&a, &access).id();
    let r = admin.patch(
        &format!("/api/users/{erin}/"),
        json!({"email": "new@example.org"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    past_the_window(Instant::now());
    let r = me(&a, &access);
    assert_eq!(r.status, 200, "after an email change: {r:?}");
    assert_eq!(r.body["email"], "new@example.org");
    assert_eq!(refresh(&a.client(), &token).status, 200);
}

fn admin_password_reset(backend: &str) {
    admin_change(
        backend,
        &json!({"password": NEW_PW}),
        "patient",
        Some(NEW_PW),
    );
}

fn deactivation(backend: &str) {
    admin_change(backend, &json!({"is_active": false}), "patient", None);
}

fn role_change(backend: &str) {
    admin_change(backend, &json!({"role": "patient"}), "staff", Some(PW));
}

/// Logging out one session (through process B) ends that session's access token on process A;
/// another session of the same account keeps working.
fn revoke_one_session(backend: &str) {
    let (a, b) = two_processes(backend);
    assert_eq!(register(&a.client(), "admin").status, 201);
    assert_eq!(register(&a.client(), "carol").status, 201);
    let (gone, gone_refresh) = session(&a.client(), "carol", PW);
    let (kept, kept_refresh) = session(&a.client(), "carol", PW);
    assert_eq!(me(&a, &gone).status, 200);
    let r = b
        .client()
        .post("/api/token/revoke/", json!({"refresh": gone_refresh}));
    assert_eq!(r.status, 204, "revoke: {r:?}");
    let done = Instant::now();
    let after = assert_ended(&a, &gone, done, "the revoked session");
    past_the_window(done);
    for (name, server) in [("A", &a.server), ("B", &b)] {
        let r = me(server, &kept);
        assert_eq!(r.status, 200, "another session on process {name}: {r:?}");
    }
    let r = refresh(&b.client(), &kept_refresh);
    assert_eq!(r.status, 200, "another session's refresh token: {r:?}");
    report(&format!(
        "security[{backend}]: revoking a session ended its access token on the other process after {} ms",
        after.as_millis()
    ));
}

both_backends! {
    password_change_ends_other_sessions => super::password_change;
    password_change_counts_wrong_old_passwords_as_failed_logins => super::password_change_throttled;
    admin_password_reset_ends_every_session => super::admin_password_reset;
    deactivation_ends_every_session => super::deactivation;
    email_change_keeps_sessions => super::email_change;
    role_change_ends_every_session => super::role_change;
    revoking_a_session_ends_its_access_tokens => super::revoke_one_session;
}

// ---------------------------------------------------------------------------------------------
// 5. Registration

/// At bcrypt cost 13 one hash takes a large fraction of a second; a duplicate username must be
/// refused without one.
fn duplicate_before_hashing(backend: &str) {
    let server = TestApp::on(backend)
        .env("BCRYPT_COST", "13")
        .start()
        .expect("server");
    let anon = server.client();
    let started = Instant::now();
    let first = register(&anon, "first");
    let real = started.elapsed();
    assert_eq!(first.status, 201, "{first:?}");
    for name in ["first", "FIRST"] {
        let started = Instant::now();
        let dup = register(&anon, name);
        let refused = started.elapsed();
        assert_eq!(dup.status, 400, "duplicate {name}: {dup:?}");
        assert!(dup.body["username"].is_array(), "duplicate {name}: {dup:?}");
        assert!(
            refused * 2 < real,
            "duplicate {name} took {} ms, a registration with hashing {} ms: it was hashed",
            refused.as_millis(),
            real.as_millis()
        );
        report(&format!(
            "security[{backend}]: registration at cost 13 {} ms; duplicate {name} refused in {} ms",
            real.as_millis(),
            refused.as_millis()
        ));
    }
}

/// Ten registrations an hour per client address (the default), 429 past it; another address
/// still registers.
fn registration_limit(backend: &str) {
    let server = TestApp::on(backend)
        .envs(&[TRUST_LOCAL])
        .start()
        .expect("server");
    let here = from(&server.client(), "198.51.100.40");
    for i in 0..10 {
        let r = register(&here, &format!("user{i}"));
        assert_eq!(r.status, 201, "registration {i}: {r:?}");
    }
    assert_throttled(&register(&here, "user10"), 3600, "the 11th registration");
    let there = from(&server.client(), "198.51.100.41");
    assert_eq!(register(&there, "user11").status, 201, "another address");
}

/// A concurrent burst of 16 registrations from one address, sent to two server processes on
/// one database, with the limit at 4: at most 4 accounts are created.
fn registration_burst(backend: &str) {
    let settings = [TRUST_LOCAL, ("HEALTHCARE_REGISTRATIONS_PER_ADDRESS", "4")];
    let server = TestApp::on(backend)
        .envs(&settings)
        .start()
        .expect("server");
    let other = server.spawn();
    let replies = burst(16, |i| {
        let process = if i % 2 == 0 { &server.server } else { &other };
        register(
            &from(&process.client(), "198.51.100.50"),
            &format!("burst{i}"),
        )
    });
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert!(
        (1..=4).contains(&created) && replies.iter().all(|r| matches!(r.status, 201 | 429)),
        "16 concurrent registrations from one address, limit 4: {:?}",
        statuses(&replies)
    );
    for r in replies.iter().filter(|r| r.status == 429) {
        assert_throttled(r, 3600, "burst registration");
    }
}

both_backends! {
    registration_refuses_duplicates_before_hashing => super::duplicate_before_hashing;
    registration_is_throttled_per_address => super::registration_limit;
    registration_throttling_is_atomic => super::registration_burst;
}

// ---------------------------------------------------------------------------------------------
// 13. Usernames

fn usernames(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    let anon = server.client();
    assert_eq!(register(&anon, "admin").status, 201);
    let strasse = register(&anon, "Straße");
    assert_eq!(strasse.status, 201, "{strasse:?}");
    for (name, why) in [
        ("STRASSE", "Straße under case folding"),
        ("ＡＤＭＩＮ", "admin under NFKC (fullwidth letters)"),
        ("pаypal", "mixes Latin with a Cyrillic а"),
        ("pοypal", "mixes Latin with a Greek ο"),
    ] {
        let r = register(&anon, name);
        assert_eq!(r.status, 400, "{name} ({why}): {r:?}");
        assert!(r.body["username"].is_array(), "{name} ({why}): {r:?}");
    }
    // Admins cannot create such names either.
    let (access, _) = session(&anon, "admin", PW);
    let r = anon.with_token(&access).post(
        "/api/users/",
        json!({"username": "pаypal", "email": "p@example.org", "password": PW, "role": "staff"}),
    );
    assert_eq!(r.status, 400, "admin creating pаypal: {r:?}");
    assert!(r.body["username"].is_array(), "{r:?}");
    // One script alone is fine.
    let cyrillic = register(&anon, "иван");
    assert_eq!(cyrillic.status, 201, "a Cyrillic username: {cyrillic:?}");
    let (access, _) = session(&anon, "strasse", PW);
    let who = me(&server, &access);
    assert_eq!(who.id(), strasse.id(), "strasse logs in as Straße: {who:?}");
    let (access, _) = session(&anon, "ＡＤＭＩＮ", PW);
    assert_eq!(me(&server, &access).body["role"], "admin");
}

both_backends! {
    usernames_compare_after_nfkc_and_case_folding => super::usernames;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP, for what a client library does not let a test control (Host, slow bodies).

struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://")).expect("connect")
}

fn decode_chunked(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

fn parse_reply(bytes: &[u8]) -> RawReply {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        decode_chunked(body)
    } else {
        body.to_owned()
    };
    RawReply {
        status,
        headers,
        body,
    }
}

/// Sends `request` (which should say `Connection: close`) and reads the answer to EOF.
fn raw_exchange(base: &str, request: &str) -> RawReply {
    let mut stream = connect(base);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read the answer");
    parse_reply(&bytes)
}

// ---------------------------------------------------------------------------------------------
// 6. Link headers

fn doctor_body(license: &str) -> Value {
    json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP",
           "contact_number": "555 0101", "email": "house@example.org", "license_number": license,
           "hospital": "PPTH", "experience_years": 12})
}

fn doctors_page(server: &Server, access: &str, query: &str) -> RawReply {
    let request = format!(
        "GET /api/doctors/?{query} HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\n\
         X-Forwarded-Proto: https\r\nForwarded: for=192.0.2.1;host=evil.example;proto=https\r\n\
         Authorization: Bearer {access}\r\nConnection: close\r\n\r\n"
    );
    let r = raw_exchange(&server.base, &request);
    assert_eq!(r.status, 200, "GET /api/doctors/?{query}: {}", r.body);
    r
}

fn link_headers(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    let anon = server.client();
    let admin = anon.register("admin", PW);
    for license in ["LNK-1", "LNK-2"] {
        assert_eq!(
            admin.post("/api/doctors/", doctor_body(license)).status,
            201
        );
    }
    let access = admin.token.clone().unwrap();
    let first = doctors_page(&server, &access, "limit=1");
    assert_eq!(
        first.header("link"),
        Some(r#"</api/doctors/?limit=1&offset=1>; rel="next""#),
        "headers: {:?}",
        first.headers
    );
    let second = doctors_page(&server, &access, "limit=1&offset=1");
    assert_eq!(
        second.header("link"),
        Some(r#"</api/doctors/?limit=1&offset=0>; rel="prev""#),
        "headers: {:?}",
        second.headers
    );
    // With a public URL configured, links are absolute from it and nothing else.
    let public = TestApp::on(backend)
        .env("HEALTHCARE_PUBLIC_URL", "https://clinic.example.org")
        .serve(&server.db.url);
    let first = doctors_page(&public, &access, "limit=1");
    assert_eq!(
        first.header("link"),
        Some(r#"<https://clinic.example.org/api/doctors/?limit=1&offset=1>; rel="next""#),
        "headers: {:?}",
        first.headers
    );
}

both_backends! {
    link_headers_ignore_host_and_forwarded => super::link_headers;
}

// ---------------------------------------------------------------------------------------------
// 7. Slow request bodies

fn slow_body(backend: &str) {
    let server = TestApp::on(backend)
        .env("HEALTHCARE_BODY_TIMEOUT", "2")
        .start()
        .expect("server");
    let mut stream = connect(&server.base);
    stream
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(
            b"POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username",
        )
        .unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let mut answered = None;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answered.get_or_insert_with(|| started.elapsed());
                bytes.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "no answer and no close {} ms after sending 10 of 100 body bytes ({e}); got {:?}",
                started.elapsed().as_millis(),
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
    let waited = started.elapsed();
    assert!(
        !bytes.is_empty(),
        "the connection closed without an answer after {} ms",
        waited.as_millis()
    );
    let r = parse_reply(&bytes);
    assert_eq!(r.status, 408, "{}: {:?}", r.body, r.headers);
    let body: Value = serde_json::from_str(&r.body)
        .unwrap_or_else(|e| panic!("408 body is not JSON ({e}): {:?}", r.body));
    assert!(body["detail"].is_string(), "408 body: {body}");
    assert!(
        waited >= Duration::from_millis(1500),
        "answered after {} ms, before the 2 s body timeout",
        waited.as_millis()
    );
    // The server is still fine.
    assert_eq!(server.client().get("/api/health/").status, 200);
    report(&format!(
        "security[{backend}]: a body stalled at 10 of 100 bytes got 408 after {} ms and EOF after {} ms (timeout 2 s)",
        answered.unwrap_or_default().as_millis(),
        waited.as_millis()
    ));
}

both_backends! {
    slow_request_body_gets_408_and_close => super::slow_body;
}

/// Request headers that never end are cut off by the HTTP layer (actix-web's 5 s header
/// timeout: a bare 408 and the connection closes). The backend plays no part: SQLite only.
#[test]
fn slow_request_headers_are_cut_off() {
    let server = TestApp::sqlite().start().expect("server");
    let mut stream = connect(&server.base);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let mut bytes = Vec::new();
    match stream.read_to_end(&mut bytes) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "unfinished headers still open after {} ms ({e})",
            started.elapsed().as_millis()
        ),
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "unfinished headers answered {text:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}

// ---------------------------------------------------------------------------------------------
// 8. Free slots are paged

fn path_of(link: &str, base: &str) -> String {
    let url = link.trim_start_matches('<').trim_end_matches('>');
    let url = url.strip_prefix(base).unwrap_or(url);
    assert!(url.starts_with('/'), "link target {url}");
    url.to_owned()
}

fn next_link(r: &Reply, base: &str) -> Option<String> {
    r.header("link")?
        .split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| part.split(';').next())
        .map(|target| path_of(target.trim(), base))
}

fn bounded_slots(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    let admin = server.client().register("admin", PW);
    let doctor = admin.post("/api/doctors/", doctor_body("SLOT-1"));
    assert_eq!(doctor.status, 201, "{doctor:?}");
    let id = doctor.id();
    let weekly: Vec<Value> = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "00:00", "end": "23:59"}))
        .collect();
    let hours = admin.send(
        "PUT",
        &format!("/api/doctors/{id}/working-hours/"),
        Some(&json!({"timezone": "UTC", "weekly": weekly})),
    );
    assert_eq!(hours.status, 200, "{hours:?}");
    // 31 days of 287 five-minute slots (00:00 .. 23:54-23:59).
    let expected = 31 * 287;
    let path =
        format!("/api/doctors/{id}/slots/?date_from=2031-01-01&date_to=2031-01-31&duration=5");
    let first = admin.get(&path);
    assert_eq!(first.status, 200, "{:?}", first.header("x-total-count"));
    let items = first.body.as_array().expect("a list").len();
    assert!(
        (1..=1000).contains(&items),
        "a 31-day range of 5-minute slots answered {items} slots at once"
    );
    let total = first
        .header("x-total-count")
        .and_then(|v| v.parse::<usize>().ok());
    assert_eq!(total, Some(expected), "X-Total-Count: {:?}", first.headers);
    // Following rel="next" to the end visits every slot once, in time order.
    let mut starts: Vec<String> = Vec::new();
    let mut page = first;
    let mut pages = 1;
    loop {
        starts.extend(
            page.body
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["start"].as_str().unwrap().to_owned()),
        );
        let Some(next) = next_link(&page, &server.base) else {
            break;
        };
        assert!(pages < 100, "too many pages");
        page = admin.get(&next);
        assert_eq!(page.status, 200, "{next}");
        pages += 1;
    }
    assert!(pages > 1, "no rel=\"next\" link on the first page");
    assert_eq!(starts.len(), expected, "slots over all pages");
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "pages overlap or are out of order"
    );
    // Larger page sizes are clamped, also one past the 64-bit range; an offset past it is an
    // empty page.
    for limit in ["1001", "99999999999999999999"] {
        let over = admin.get(&format!("{path}&limit={limit}"));
        assert_eq!(over.status, 200, "limit={limit}: {over:?}");
        assert_eq!(
            over.body.as_array().map(Vec::len),
            Some(1000),
            "limit={limit}"
        );
    }
    let far = admin.get(&format!("{path}&offset=99999999999999999999"));
    assert_eq!((far.status, &far.body), (200, &json!([])), "{far:?}");
    for list in ["/api/appointments/", "/api/patients/", "/api/audit/"] {
        let huge = admin.get(&format!(
            "{list}?limit=99999999999999999999&offset=99999999999999999999"
        ));
        assert_eq!(
            (huge.status, &huge.body),
            (200, &json!([])),
            "{list}: {huge:?}"
        );
    }
}

both_backends! {
    free_slots_are_paged => super::bounded_slots;
}

// ---------------------------------------------------------------------------------------------
// 9. Date filters

fn date_filter_years(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    let admin = server.client().register("admin", PW);
    for (param, value) in [
        ("date_from", "100000-01-01"),
        ("date_from", "1899-12-31"),
        ("date_to", "2200-01-01"),
        ("date_from", "1899-12-31T23:00:00Z"),
    ] {
        let r = admin.get(&format!("/api/appointments/?{param}={value}"));
        assert_eq!(r.status, 400, "{param}={value}: {r:?}");
        assert!(r.body[param].is_array(), "{param}={value}: {r:?}");
    }
    for query in [
        "date_from=2199-12-31",
        "date_from=1900-01-01",
        "date_to=2199-12-31",
    ] {
        let r = admin.get(&format!("/api/appointments/?{query}"));
        assert_eq!(r.status, 200, "{query}: {r:?}");
    }
}

both_backends! {
    date_filters_refuse_years_outside_1900_2199 => super::date_filter_years;
}

// ---------------------------------------------------------------------------------------------
// 10. SQLite files are the owner's only (SQLite only)

struct RemoveFiles(std::path::PathBuf);

impl Drop for RemoveFiles {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn sqlite_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::temp_dir().join(format!(
        "healthcare_security_{}_{:016x}.db",
        std::process::id(),
        rand::random::<u64>()
    ));
    let _cleanup = RemoveFiles(path.clone());
    let url = format!("sqlite://{}", path.display());
    let files = || {
        ["", "-wal", "-shm"].map(|suffix| {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            std::path::PathBuf::from(p)
        })
    };
    {
        // The server creates the database itself.
        let server = TestApp::sqlite().serve(&url);
        assert_eq!(register(&server.client(), "admin").status, 201);
        for file in files() {
            let mode = std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
        }
    }
    // An existing database readable by others: a warning naming it at start.
    for file in files() {
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let run = TestApp::sqlite().launch(&url, Duration::from_secs(30));
    assert!(run.listened, "the server should still start: {run:?}");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        run.stderr.contains(&name),
        "no warning naming {name} on stderr: {:?}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Mapping reactivation

fn patient_body(first: &str) -> Value {
    json!({"first_name": first, "last_name": "Doe", "date_of_birth": "1990-05-17", "gender": "F",
           "contact_number": "+1 555 0100"})
}

fn mapping_reactivation(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let staff_user = admin.post(
        "/api/users/",
        json!({"username": "staff1", "email": "s@example.org", "password": PW, "role": "staff"}),
    );
    assert_eq!(staff_user.status, 201, "{staff_user:?}");
    let staff = anon.login("staff1", PW);
    let pat = anon.register("pat", PW);
    let pat_user = pat.get("/api/auth/me/").id();
    let doctor = admin.post("/api/doctors/", doctor_body("MAP-1")).id();
    let patient = pat.post("/api/patients/", patient_body("Pat"));
    assert_eq!(patient.status, 201, "{patient:?}");
    let pair = json!({"doctor": doctor, "patient": patient.id(), "reason_for_assignment": "first"});
    let original = pat.post("/api/mappings/", pair.clone());
    assert_eq!(original.status, 201, "{original:?}");
    let mid = original.id();
    assert_eq!(original.body["assigned_by"], json!(pat_user));
    let off = staff.delete(&format!("/api/mappings/{mid}/"));
    assert!(matches!(off.status, 200 | 204), "{off:?}");
    let deactivated = admin.get(&format!("/api/mappings/{mid}/")).body;
    assert_eq!(deactivated["is_active"], json!(false));
    // The patient may not undo staff's decision.
    let again = pat.post("/api/mappings/", pair.clone());
    assert_eq!(again.status, 403, "{again:?}");
    assert_eq!(
        admin.get(&format!("/api/mappings/{mid}/")).body,
        deactivated,
        "the refused reactivation changed the mapping"
    );
    assert_eq!(
        admin.get("/api/mappings/").body.as_array().unwrap().len(),
        1,
        "the refused reactivation created a mapping"
    );
    // Staff may: the same row, its first assignment kept, the reactivation recorded.
    let back = staff.post(
        "/api/mappings/",
        json!({"doctor": doctor, "patient": patient.id(), "reason_for_assignment": "back"}),
    );
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.id(), mid);
    assert_eq!(back.body["is_active"], json!(true));
    for field in ["assigned_by", "assigned_date", "created_at"] {
        assert_eq!(back.body[field], original.body[field], "{field}: {back:?}");
    }
    assert_eq!(
        back.body["reactivated_by"],
        json!(staff_user.id()),
        "{back:?}"
    );
    assert!(back.body["reactivated_at"].is_string(), "{back:?}");
}

both_backends! {
    mapping_reactivation_keeps_history_and_staff_decisions => super::mapping_reactivation;
}

// ---------------------------------------------------------------------------------------------
// 12. bcrypt re-hashing at the configured cost

fn stored_hash(url: &str, name: &str) -> String {
    use diesel::prelude::*;
    use healthcare_persistence::schema::users::dsl::{password_hash, username, users};
    let query = users.filter(username.eq(name)).select(password_hash);
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut c = diesel::SqliteConnection::establish(path).expect("open sqlite");
            query.first::<String>(&mut c).expect("hash")
        }
        None => {
            let mut c = diesel::PgConnection::establish(url).expect("connect postgres");
            query.first::<String>(&mut c).expect("hash")
        }
    }
}

fn rehash(backend: &str) {
    let mut first = TestApp::on(backend)
        .env("BCRYPT_COST", "4")
        .start()
        .expect("server");
    assert_eq!(register(&first.client(), "admin").status, 201);
    let db = &first.db;
    let before = stored_hash(&db.url, "admin");
    assert!(before.starts_with("$2b$04$"), "{before}");
    first.server.kill();
    let server = TestApp::on(backend).env("BCRYPT_COST", "5").serve(&db.url);
    session(&server.client(), "admin", PW);
    let started = Instant::now();
    let after = loop {
        let hash = stored_hash(&db.url, "admin");
        if hash.starts_with("$2b$05$") || started.elapsed() > Duration::from_secs(2) {
            break hash;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        after.starts_with("$2b$05$"),
        "after a login at cost 5 the hash is still {after}"
    );
    session(&server.client(), "admin", PW);
    assert_eq!(
        login(&server.client(), "admin", "wrong password").status,
        401
    );
}

both_backends! {
    bcrypt_hashes_are_upgraded_at_login => super::rehash;
}

// ---------------------------------------------------------------------------------------------
// Controls that predate the hardening, proved here too so docs/security.md can name a
// black-box test for each.

/// Every answer, error or not, carries the security headers; the API's CSP forbids everything,
/// Swagger UI's allows its own origin only; neither may be framed.
fn security_headers(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    let anon = server.client();
    let api_csp = "default-src 'none'; frame-ancestors 'none'";
    for (what, r) in [
        ("health", anon.get("/api/health/")),
        ("401", anon.get("/api/patients/")),
        ("404", anon.get("/no/such/route")),
        (
            "400",
            anon.raw("POST", "/api/token/", Some("{"), Some("application/json")),
        ),
        ("405", anon.send("PUT", "/api/health/", None)),
    ] {
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(r.header("content-security-policy"), Some(api_csp), "{what}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    }
    let docs = anon.get("/api/docs/");
    assert_eq!(docs.status, 200);
    let csp = docs.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "Swagger UI CSP: {csp}"
    );
    assert_eq!(docs.header("x-content-type-options"), Some("nosniff"));
}

/// RFC 9110 on methods: every 405 names the methods the path serves in `Allow` (the OpenAPI
/// document's, the FHIR facade's for its paths), and `HEAD` answers as `GET` without the body.
fn methods_as_rfc_9110_asks(backend: &str) {
    let server = TestApp::on(backend).start().expect("server");
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let document = anon.get("/api/schema/").body;
    let paths = document["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let mut documented: Vec<String> = ["get", "post", "patch", "put", "delete"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .map(str::to_uppercase)
            .collect();
        let unserved = ["PUT", "DELETE", "POST", "PATCH"]
            .into_iter()
            .find(|m| !documented.iter().any(|d| d == m))
            .expect("an unserved method");
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let r = anon.send(unserved, &concrete, None);
        assert_eq!(r.status, 405, "{unserved} {concrete}: {r:?}");
        if let Some(get) = documented.iter().position(|m| m == "GET") {
            documented.insert(get + 1, "HEAD".into());
        }
        assert_eq!(
            r.header("allow"),
            Some(documented.join(", ").as_str()),
            "{unserved} {concrete}"
        );
    }
    for (method, path, allow) in [
        ("DELETE", "/fhir/R4/metadata", "GET, HEAD"),
        ("PUT", "/fhir/R4/Appointment", "GET, HEAD, POST"),
        ("POST", "/fhir/R4/Patient/1", "GET, HEAD"),
        // The document and Swagger UI, outside the document's own paths.
        ("POST", "/api/schema/", "GET, HEAD"),
        ("DELETE", "/api/schema", "GET, HEAD"),
        ("PUT", "/api/docs/", "GET, HEAD"),
        ("POST", "/api/docs/index.html", "GET, HEAD"),
        ("PATCH", "/api/docs", "GET, HEAD"),
    ] {
        let r = admin.send(method, path, None);
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
        let explained = match path.starts_with("/fhir/") {
            true => r.body["resourceType"] == "OperationOutcome",
            false => r.body["detail"].is_string(),
        };
        assert!(explained, "{method} {path}: {r:?}");
    }
    let patient = admin
        .post(
            "/api/patients/",
            json!({"first_name": "Hedda", "last_name": "Head", "date_of_birth": "1980-01-01",
                   "gender": "F", "contact_number": "555 0100"}),
        )
        .id();
    // One record, one URL: an id written another way (sign, leading zero) names nothing.
    assert_eq!(patient, 1);
    assert_eq!(admin.get("/api/patients/1/").status, 200);
    for other in ["+1", "01", "-1", "1.0", "0"] {
        for path in [
            format!("/api/patients/{other}/"),
            format!("/fhir/R4/Patient/{other}"),
        ] {
            let r = admin.get(&path);
            assert_eq!(r.status, 404, "{path}: {r:?}");
        }
    }
    for (client, path) in [
        (&anon, "/api/health/".to_owned()),
        (&anon, "/api/schema/".to_owned()),
        (&admin, format!("/api/patients/{patient}/")),
        (&admin, format!("/fhir/R4/Patient/{patient}")),
    ] {
        let get = client.send("GET", &path, None);
        let head = client.send("HEAD", &path, None);
        assert_eq!((get.status, head.status), (200, 200), "{path}: {head:?}");
        assert!(head.text.is_empty(), "{path}: {head:?}");
        for name in ["content-length", "content-type", "etag"] {
            assert_eq!(head.header(name), get.header(name), "{path}: {name}");
        }
    }
}

/// At the default log level the request log names method, path and status, never a body, a
/// query string or a token.
fn logs_without_bodies(backend: &str) {
    let server = TestApp::on(backend)
        .env("RUST_LOG", "info")
        .logged()
        .start()
        .expect("server");
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let token = admin.token.clone().unwrap();
    let created = admin.post(
        "/api/patients/",
        json!({"first_name": "Ann", "last_name": "Doe", "date_of_birth": "1990-05-17",
               "gender": "F", "contact_number": "555 0100", "medical_history": "MEDHISTSECRET",
               "address": "ADDRESSSECRET"}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(admin.get("/api/patients/?search=QUERYSECRET").status, 200);
    let refused = admin.post(
        "/api/patients/",
        json!({"first_name": "Ann", "last_name": "Doe", "date_of_birth": "1990-05-17",
               "gender": "F", "contact_number": "BADPHONESECRET<>"}),
    );
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(login(&anon, "admin", "WRONGPASSWORDSECRET").status, 401);
    std::thread::sleep(Duration::from_millis(300));
    let text = server.log();
    assert!(
        text.contains("/api/patients/"),
        "no request log at info: {text}"
    );
    for secret in [
        "MEDHISTSECRET",
        "ADDRESSSECRET",
        "QUERYSECRET",
        "BADPHONESECRET",
        "WRONGPASSWORDSECRET",
        PW,
        token.as_str(),
    ] {
        assert!(!text.contains(secret), "the log holds {secret:?}: {text}");
    }
}

/// At the default log filter a malformed request (answered with a bare 400 by the HTTP layer)
/// writes no `ERROR` line: a client cannot fill the log with what reads as server faults.
fn malformed_requests_log_no_errors(backend: &str) {
    let server = TestApp::on(backend)
        .env("RUST_LOG", healthcare_api::cli::DEFAULT_LOG_FILTER)
        .logged()
        .start()
        .expect("server");
    for request in [
        "POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let mut stream = connect(&server.base);
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{request:?}: {answer:?}");
    }
    assert_eq!(server.client().get("/api/health/").status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let text = server.log();
    assert!(
        text.contains("/api/health/"),
        "no request log at info: {text}"
    );
    assert!(!text.contains("ERROR"), "{text}");
}

/// A login for a username that does not exist costs a bcrypt verification too (against a
/// dummy hash) and answers the same, so neither timing nor body tells whether it exists.
fn unknown_username_timing(backend: &str) {
    let server = TestApp::on(backend)
        .env("BCRYPT_COST", "11")
        .start()
        .expect("server");
    let anon = server.client();
    for i in 0..5 {
        assert_eq!(register(&anon, &format!("known{i}")).status, 201);
    }
    // The first dummy verification also makes the dummy hash.
    let warm = login(&anon, "ghost", "wrong password");
    let timed = |name: &str| {
        let started = Instant::now();
        let r = login(&anon, name, "wrong password");
        assert_eq!(r.status, 401, "{name}: {r:?}");
        assert_eq!(
            r.body, warm.body,
            "known and unknown usernames answer alike"
        );
        started.elapsed()
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        known.push(timed(&format!("known{i}")));
        unknown.push(timed(&format!("ghost{i}")));
    }
    known.sort();
    unknown.sort();
    assert!(
        unknown[2] * 2 > known[2],
        "unknown usernames answered in {unknown:?}, known ones in {known:?}: no dummy verification"
    );
    report(&format!(
        "security[{backend}]: failed login at cost 11, median of 5: known username {} ms, unknown {} ms",
        known[2].as_millis(),
        unknown[2].as_millis()
    ));
}

both_backends! {
    security_headers_on_every_answer => super::security_headers;
    methods_answer_as_rfc_9110_asks => super::methods_as_rfc_9110_asks;
    malformed_requests_write_no_error_lines => super::malformed_requests_log_no_errors;
    logs_hold_no_bodies_query_strings_or_tokens => super::logs_without_bodies;
    unknown_usernames_cost_a_hash_too => super::unknown_username_timing;
}
