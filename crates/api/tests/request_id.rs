//! Request ids (docs/api.md "Request ids", docs/operations.md "Logs and request ids"), against
//! the real binary on SQLite and PostgreSQL: a sane client id is echoed, anything else is
//! replaced and never echoed, a request without one gets a new one (different every time),
//! every answer carries it (200, 401, 404, 405, 413, 415 and a real 500), the 500 body names it
//! and nothing internal, and the server's log names it on the request's line and on the 500's
//! entry, with the cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use diesel::RunQueryDsl;
use healthcare_persistence::DbConnection;
use healthcare_testing::{http_test, Client, Reply, Server, TestApp};
use serde_json::json;
use std::time::Duration;

const PW: &str = "correct horse battery";

/// Whether `id` looks like one the server made: 32 lowercase hex digits.
fn generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The one `X-Request-Id` of an answer.
fn id_of(reply: &Reply) -> String {
    let ids: Vec<_> = reply
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(ids.len(), 1, "one X-Request-Id expected: {reply:?}");
    ids[0].clone()
}

/// Sends `GET /api/health/` with `header_lines` (raw bytes, each without its CRLF) over a
/// plain TCP connection and returns the status and every `X-Request-Id` value of the answer.
fn raw_get(server: &Server, header_lines: &[&[u8]]) -> (u16, Vec<Vec<u8>>) {
    use std::io::{Read, Write};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request =
        format!("GET /api/health/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    for line in header_lines {
        request.extend_from_slice(line);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let mut lines = answer[..end].split(|&b| b == b'\n');
    let status = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let ids = lines
        .filter_map(|l| {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            let colon = l.iter().position(|&b| b == b':')?;
            l[..colon]
                .eq_ignore_ascii_case(b"x-request-id")
                .then(|| l[colon + 1..].trim_ascii().to_vec())
        })
        .collect();
    (status, ids)
}

/// A client's sane id (1-128 characters of `[A-Za-z0-9._:-]`) comes back unchanged.
fn echoes_sane_ids(server: &Server) {
    let longest = "a".repeat(128);
    for id in [
        "x",
        "abc-123",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "trace.id_1:2-3",
        "UPPER.lower",
        longest.as_str(),
    ] {
        let r = server
            .client()
            .with_header("X-Request-Id", id)
            .get("/api/health/");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(id_of(&r), id);
    }
}

/// Anything else is replaced by a new id, never echoed. A value the HTTP parser itself refuses
/// (some control characters) gets its 400 before the application, without an id; it is not
/// echoed either.
fn replaces_insane_ids(server: &Server) {
    let line = |value: &[u8]| [b"X-Request-Id:".as_slice(), value].concat();
    let too_long = "a".repeat(129);
    // (case, header lines, whether the request must reach the application)
    let cases: Vec<(&str, Vec<Vec<u8>>, bool)> = vec![
        ("too long", vec![line(too_long.as_bytes())], true),
        ("space inside", vec![line(b" abc def")], true),
        ("tab inside", vec![line(b" abc\tdef")], true),
        ("quote", vec![line(b" abc\"def")], true),
        ("equals and slash", vec![line(b" a=b/c")], true),
        ("non-ASCII UTF-8", vec![line(" caf\u{e9}".as_bytes())], true),
        ("non-UTF-8 bytes", vec![line(b" ab\xff\xfecd")], true),
        ("empty", vec![line(b"")], true),
        ("percent-encoded", vec![line(b" a%0Ab")], true),
        ("ANSI escape", vec![line(b" a\x1b[31mb")], false),
        ("NUL", vec![line(b" a\x00b")], false),
        ("DEL", vec![line(b" a\x7fb")], false),
        ("two of them", vec![line(b" one"), line(b" two")], true),
    ];
    for (name, lines, must_reach_app) in cases {
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let (status, ids) = raw_get(server, &refs);
        for line in &lines {
            let sent = &line[b"X-Request-Id:".len()..];
            let sent = sent.trim_ascii();
            for id in &ids {
                assert!(
                    sent.is_empty() || id.as_slice() != sent,
                    "{name}: echoed {:?}",
                    String::from_utf8_lossy(id)
                );
            }
        }
        if status == 400 && ids.is_empty() && !must_reach_app {
            // Refused by the HTTP parser, before any application code.
            continue;
        }
        assert_eq!(status, 200, "{name}");
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
        let id = String::from_utf8_lossy(&ids[0]);
        assert!(generated(&id), "{name}: {id}");
    }
    // The same through an ordinary client.
    for id in ["has space", "semi;colon", "a,b", "<script>"] {
        let r = server
            .client()
            .with_header("X-Request-Id", id)
            .get("/api/health/");
        let got = id_of(&r);
        assert_ne!(got, id);
        assert!(generated(&got), "{id:?} -> {got}");
    }
}

/// Without an id, each request gets a new one.
fn generates_ids(server: &Server) {
    let client = server.client();
    let ids: Vec<String> = (0..5).map(|_| id_of(&client.get("/api/health/"))).collect();
    for id in &ids {
        assert!(generated(id), "{id}");
    }
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
}

/// Every kind of answer carries the id, the client's or a new one: a success, an error of a
/// handler or an extractor, the default service's 404, a 405, a 413 and a 415.
fn every_answer_carries_it(server: &Server) {
    let anon = server.client();
    let admin = anon.register("admin", PW);
    let big = format!("{{\"username\": \"{}\"}}", "x".repeat(100_000));
    type Call = Box<dyn Fn(&Client) -> Reply>;
    let checks: Vec<(u16, Call)> = vec![
        (200, Box::new(|c: &Client| c.get("/api/health/"))),
        (401, Box::new(|c: &Client| c.get("/api/patients/"))),
        (404, Box::new(|c: &Client| c.get("/api/no-such-thing/"))),
        (404, Box::new(|c: &Client| c.get("/favicon.ico"))),
        (
            405,
            Box::new(|c: &Client| c.send("PUT", "/api/health/", None)),
        ),
        (
            413,
            Box::new(move |c: &Client| {
                c.raw(
                    "POST",
                    "/api/token/",
                    Some(big.as_str()),
                    Some("application/json"),
                )
            }),
        ),
        (
            415,
            Box::new(|c: &Client| {
                c.raw(
                    "POST",
                    "/api/token/",
                    Some("username=a&password=b"),
                    Some("text/plain"),
                )
            }),
        ),
    ];
    for (n, (status, call)) in checks.iter().enumerate() {
        let sent = format!("status-check-{status}-{n}");
        let r = call(&anon.with_header("X-Request-Id", &sent));
        assert_eq!(r.status, *status, "{r:?}");
        assert_eq!(id_of(&r), sent, "{r:?}");
        let r = call(&anon);
        assert_eq!(r.status, *status, "{r:?}");
        assert!(generated(&id_of(&r)), "{r:?}");
    }
    // An authenticated success too.
    let r = admin
        .with_header("X-Request-Id", "as-admin")
        .get("/api/patients/");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(id_of(&r), "as-admin");
}

http_test! {
    sane_client_ids_are_echoed => echoes_sane_ids;
    insane_client_ids_are_replaced => replaces_insane_ids;
    missing_ids_are_generated => generates_ids;
    every_answer_carries_the_id => every_answer_carries_it;
}

/// The server's log without terminal colour codes.
fn plain(server: &Server) -> String {
    let text = server.log();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The request's log line names its id; a real 500 (a table gone from under the server)
/// answers `{"detail": "Internal server error.", "request_id": <the header's id>}` and nothing
/// internal, and its log entry names the same id and the cause.
fn logs_and_internal_errors(backend: &str) {
    let Some(app) = TestApp::on(backend)
        .env("RUST_LOG", "info")
        .logged()
        .start()
    else {
        return;
    };
    let anon = app.client();
    let admin = anon.register("admin", PW);
    let r = anon
        .with_header("X-Request-Id", "log-check-12345")
        .get("/api/health/");
    assert_eq!(r.status, 200);
    let r = anon.get("/api/no-such-thing/");
    assert_eq!(r.status, 404);
    let generated_id = id_of(&r);
    assert!(generated(&generated_id));

    // Break the database under the server: its next patient list fails inside the database.
    app.db
        .db
        .write(|c| {
            let sql = "ALTER TABLE patients RENAME TO patients_gone_for_test";
            match c {
                DbConnection::Sqlite(s) => diesel::sql_query(sql).execute(s)?,
                DbConnection::Postgresql(p) => diesel::sql_query(sql).execute(p)?,
            };
            Ok(())
        })
        .expect("rename the patients table");
    let r = admin
        .with_header("X-Request-Id", "boom-500:1")
        .get("/api/patients/");
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(id_of(&r), "boom-500:1");
    assert_eq!(
        r.body,
        json!({"detail": "Internal server error.", "request_id": "boom-500:1"})
    );
    let r = admin.get("/api/patients/");
    assert_eq!(r.status, 500, "{r:?}");
    let boom_id = id_of(&r);
    assert!(generated(&boom_id));
    assert_eq!(r.body["request_id"], boom_id.as_str());
    assert_eq!(r.body.as_object().unwrap().len(), 2, "{r:?}");

    std::thread::sleep(Duration::from_millis(300));
    let text = plain(&app);
    let line_with = |needles: &[&str]| {
        text.lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
    };
    line_with(&[
        "request_id=log-check-12345",
        "path=/api/health/",
        "status=200",
    ])
    .unwrap_or_else(|| panic!("no request line with the client's id: {text}"));
    let generated_key = format!("request_id={generated_id}");
    line_with(&[
        generated_key.as_str(),
        "path=/api/no-such-thing/",
        "status=404",
    ])
    .unwrap_or_else(|| panic!("no request line with the generated id: {text}"));
    for id in ["boom-500:1", boom_id.as_str()] {
        let key = format!("request_id={id}");
        let entry = line_with(&[key.as_str(), "ERROR", "internal error"])
            .unwrap_or_else(|| panic!("no error entry for {id}: {text}"));
        assert!(
            entry.contains("cause=") && entry.contains("patients"),
            "the cause is missing: {entry}"
        );
        line_with(&[key.as_str(), "path=/api/patients/", "status=500"])
            .unwrap_or_else(|| panic!("no request line for {id}: {text}"));
    }
}

#[test]
fn logs_and_internal_errors_sqlite() {
    logs_and_internal_errors("sqlite");
}

#[test]
fn logs_and_internal_errors_postgres() {
    logs_and_internal_errors("postgres");
}
