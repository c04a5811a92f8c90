//! Prometheus metrics (docs/operations.md "Metrics"), served at `/metrics` on their own address
//! (`HEALTHCARE_METRICS_BIND`; off when unset): requests by method, route template and status,
//! request durations by route, the database pool, the SQLite writer's batch sizes, and the
//! outbox and audit backlogs. Encoded by `prometheus-client` (the OpenMetrics text format).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use healthcare_persistence::{audit, outbox, Database};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

/// `healthcare_http_requests_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

/// A route template (`/api/patients/{id}/`), never a raw path.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// The route template of the resource that served a request, put in its extensions by
/// [`route`] (so that no request walks the router again to find it).
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(&'static str);

/// The one copy of each route label (the routes are a fixed, small set).
pub fn label(pattern: &str) -> &'static str {
    static LABELS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, &'static str>>,
    > = std::sync::OnceLock::new();
    let templated = route_of(Some(pattern.to_owned()));
    let mut labels = LABELS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(found) = labels.get(&templated) {
        return found;
    }
    let leaked: &'static str = Box::leak(templated.clone().into_boxed_str());
    labels.insert(templated, leaked);
    leaked
}

/// The label of a method (the standard ones; any other counts as `OTHER`).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `healthcare_db_pool_connections`'s label: `idle` or `busy`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// Request durations: 0.5 ms to about 8 s.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pool: Family<PoolLabels, Gauge>,
    outbox_pending: Gauge,
    audit_unsealed: Gauge,
}

impl Metrics {
    /// The metrics of a server on `db` (the SQLite writer reports its batches to them).
    pub fn new(db: &Database) -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "healthcare_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register(
            "healthcare_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route template",
            durations.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "healthcare_db_pool_connections",
            "Pooled database connections, idle or busy",
            pool.clone(),
        );
        let batches = Histogram::new(exponential_buckets(1.0, 2.0, 8));
        registry.register(
            "healthcare_sqlite_writer_batch_size",
            "Jobs per transaction the SQLite writer committed (none on PostgreSQL)",
            batches.clone(),
        );
        if let Some(writer) = db.writer() {
            writer.observe_batches(move |n| batches.observe(n as f64));
        }
        let outbox_pending = Gauge::default();
        registry.register(
            "healthcare_outbox_pending",
            "Outbox events not fanned out yet, and webhook and mail messages waiting for delivery",
            outbox_pending.clone(),
        );
        let audit_unsealed = Gauge::default();
        registry.register(
            "healthcare_audit_unsealed",
            "Audit events not yet linked into the hash chain",
            audit_unsealed.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            durations,
            pool,
            outbox_pending,
            audit_unsealed,
        })
    }

    /// Counts one answered request.
    fn record(&self, method: &'static str, route: &'static str, status: u16, seconds: f64) {
        self.durations
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// The text a scrape answers, the gauges read from `db` first (blocking: call from a
    /// blocking thread).
    fn scrape(&self, db: &Database) -> String {
        let (open, idle) = db.pool_state();
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::from(idle));
        self.pool
            .get_or_create(&PoolLabels { state: "busy" })
            .set(i64::from(open.saturating_sub(idle)));
        match db.read(|c| Ok((outbox::pending(c)?, audit::unsealed(c)?))) {
            Ok((pending, unsealed)) => {
                self.outbox_pending.set(pending);
                self.audit_unsealed.set(unsealed);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: the backlogs could not be read"),
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "metrics: encoding failed");
        }
        text
    }
}

/// The route template of a matched request: the pattern it was routed by (a REST path served
/// without its trailing slash counts as the documented one with it), `unmatched` otherwise.
fn route_of(pattern: Option<String>) -> String {
    match pattern {
        None => "unmatched".to_owned(),
        Some(p) if p.starts_with("/api/") && !p.ends_with('/') && !p.ends_with(".ics") => {
            format!("{p}/")
        }
        Some(p) => p,
    }
}

/// Counts and times every request, when metrics are on.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<crate::state::State>()
        .and_then(|state| state.metrics.clone());
    let Some(metrics) = metrics else {
        return next.call(req).await;
    };
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let (route, status) = match &res {
        Ok(res) => {
            let request = res.request();
            let labelled = request.extensions().get::<RouteLabel>().map(|l| l.0);
            // A route outside the audited resources (the Swagger UI, the schema) is found the
            // slow way; a path no route serves is `unmatched`.
            let route = labelled
                .unwrap_or_else(|| request.match_pattern().map_or("unmatched", |p| label(&p)));
            (route, res.status().as_u16())
        }
        Err(e) => ("unmatched", e.as_response_error().status_code().as_u16()),
    };
    metrics.record(method, route, status, seconds);
    res
}

/// Labels a request with its resource's route template, when metrics are on (one layer of
/// every resource `app::routes` builds).
pub async fn route(
    route: &'static str,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let on = req
        .app_data::<crate::state::State>()
        .is_some_and(|state| state.metrics.is_some());
    if on {
        req.extensions_mut().insert(RouteLabel(route));
    }
    next.call(req).await
}

/// The `/metrics` server on its own address: one worker, one route.
pub fn server(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    db: Arc<Database>,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new((metrics, db));
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn scrape(data: web::Data<(Arc<Metrics>, Arc<Database>)>) -> HttpResponse {
    let text = web::block(move || data.0.scrape(&data.1)).await;
    match text {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: scrape failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates() {
        assert_eq!(route_of(None), "unmatched");
        assert_eq!(
            route_of(Some("/api/patients/{id}".into())),
            "/api/patients/{id}/"
        );
        assert_eq!(
            route_of(Some("/api/patients/{id}/".into())),
            "/api/patients/{id}/"
        );
        assert_eq!(
            route_of(Some("/api/doctors/{id}/calendar.ics".into())),
            "/api/doctors/{id}/calendar.ics"
        );
        assert_eq!(
            route_of(Some("/fhir/R4/Patient/{id}".into())),
            "/fhir/R4/Patient/{id}"
        );
    }
}
