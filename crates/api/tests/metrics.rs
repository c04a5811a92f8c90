//! Metrics and JSON logs from outside, on SQLite and PostgreSQL: with
//! `HEALTHCARE_METRICS_BIND` the server answers Prometheus text at `/metrics` on that address
//! (and not on the API's), labelled by route template, never by raw path; with
//! `HEALTHCARE_LOG_FORMAT=json` every log line is one JSON object naming its request id.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use healthcare_testing::TestApp;
use serde_json::{json, Value};

const PW: &str = "correct horse battery";

/// The value of the sample `name{labels}` (labels as written, in order), if present.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

fn scrape(port: u16) -> String {
    let mut res = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .unwrap();
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/openmetrics-text")));
    res.body_mut().read_to_string().unwrap()
}

fn metrics_and_json_logs(backend: &str) {
    let port = healthcare_testing::free_port();
    let Some(app) = TestApp::on(backend)
        .env("HEALTHCARE_METRICS_BIND", &format!("127.0.0.1:{port}"))
        .env("HEALTHCARE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .logged()
        .start()
    else {
        return;
    };
    let server = &app.server;
    let admin = server.client().register("admin", PW);
    let made = admin.post(
        "/api/patients/",
        json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10",
               "gender": "F", "contact_number": "555 0100"}),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let id = made.id();
    for path in [
        format!("/api/patients/{id}/"),
        format!("/api/patients/{id}"),
    ] {
        assert_eq!(admin.get(&path).status, 200);
    }
    assert_eq!(admin.get("/api/patients/999999/").status, 404);
    assert_eq!(admin.get("/nowhere").status, 404);
    assert_eq!(admin.get(&format!("/fhir/R4/Patient/{id}")).status, 200);

    let text = scrape(port);
    // Route templates, the slash-less path counted with the documented one.
    assert_eq!(
        sample(
            &text,
            "healthcare_http_requests_total{method=\"GET\",route=\"/api/patients/{id}/\",status=\"200\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "healthcare_http_requests_total{method=\"GET\",route=\"/api/patients/{id}/\",status=\"404\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&text, "healthcare_http_requests_total{method=\"POST\",route=\"/api/patients/\",status=\"201\"}").is_some(), "{text}");
    assert!(
        sample(
            &text,
            "healthcare_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        )
        .is_some(),
        "{text}"
    );
    assert!(sample(&text, "healthcare_http_requests_total{method=\"GET\",route=\"/fhir/R4/Patient/{id}\",status=\"200\"}").is_some(), "{text}");
    assert!(
        !text.contains(&format!("/api/patients/{id}/")),
        "a raw path: {text}"
    );
    assert_eq!(
        sample(
            &text,
            "healthcare_http_request_duration_seconds_count{route=\"/api/patients/{id}/\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert!(text.contains("healthcare_http_request_duration_seconds_bucket{le=\"0.0005\",route=\"/api/patients/{id}/\"}")
        || text.contains("healthcare_http_request_duration_seconds_bucket{route=\"/api/patients/{id}/\",le=\"0.0005\"}"), "{text}");
    let idle = sample(&text, "healthcare_db_pool_connections{state=\"idle\"}").unwrap();
    let busy = sample(&text, "healthcare_db_pool_connections{state=\"busy\"}").unwrap();
    assert!(idle + busy >= 1.0, "{text}");
    // The patient's creation left an outbox event for the dispatcher; the audit events may
    // still wait for the sealer: both are gauges the scrape read from the database.
    assert!(
        sample(&text, "healthcare_outbox_pending").is_some(),
        "{text}"
    );
    assert!(
        sample(&text, "healthcare_audit_unsealed").is_some(),
        "{text}"
    );
    let batches = sample(&text, "healthcare_sqlite_writer_batch_size_count").unwrap();
    if backend == "sqlite" {
        assert!(batches >= 1.0, "the writer committed the writes: {text}");
    } else {
        assert_eq!(batches, 0.0, "no writer thread on PostgreSQL: {text}");
    }
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    // Not on the API's own address.
    assert_eq!(server.client().get("/metrics").status, 404);

    // JSON logs: every line one object; a request's line names its request id.
    let asked = admin.get(&format!("/api/patients/{id}/"));
    let request_id = asked.header("x-request-id").unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = server.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 5, "{log}");
    let line = lines
        .iter()
        .find(|l| {
            l["span"]["request_id"] == request_id.as_str() && l["fields"]["message"] == "request"
        })
        .unwrap_or_else(|| panic!("no request line for {request_id}: {log}"));
    assert_eq!(line["fields"]["status"], 200);
    assert_eq!(line["level"], "INFO");
}

#[test]
fn sqlite() {
    metrics_and_json_logs("sqlite");
}

#[test]
fn postgres() {
    metrics_and_json_logs("postgres");
}
