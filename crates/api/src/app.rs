//! Building and running the server: routes, middleware, and [`Application::build`], which binds
//! (port 0 in tests) before anything is served.

use crate::config::Config;
use crate::error::ApiError;
use crate::request_id;
use crate::routes::{
    appointments, auth, availability, calendar, doctors, fhir, health, mappings, patients, series,
    users, webhooks,
};
use crate::state::{hashing_slots, AppState, Settings};
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer, ResponseError};
use healthcare_auth::{generate_secret, Keys, MIN_SECRET_BYTES};
use healthcare_domain::UserId;
use healthcare_persistence::{tokens, username_keys, Database, DbConfig, StoreError};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;
use utoipa_swagger_ui::SwaggerUi;

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    db: Arc<Database>,
    throttle_window: chrono::Duration,
    webhooks: crate::dispatch::DeliverySettings,
    dispatch: Arc<tokio::sync::Notify>,
    /// The mailer and how long before a start its reminder goes out, when mail is on.
    mail: Option<(Arc<crate::mailer::Mailer>, chrono::Duration)>,
    /// The `/metrics` server, when `HEALTHCARE_METRICS_BIND` is set.
    metrics: Option<Server>,
}

/// Opens the database, applies migrations and loads (or creates) the signing key.
pub fn open_state(config: &Config) -> Result<AppState, StoreError> {
    let mut db_config = DbConfig::new(config.database_url.clone());
    db_config.sqlite_sync = config.sqlite_sync;
    db_config.pool_size = config.pool_size;
    db_config.read_url = config.database_read_url.clone();
    db_config.max_replica_lag = std::time::Duration::from_millis(config.replica_max_lag_ms);
    let db = Database::connect(&db_config)?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    // Keys written under an older username rule; accounts the current rule would merge stop
    // the start, named.
    username_keys::rekey_usernames(&db)?;
    let secret = match &config.jwt_secret {
        Some(s) => s.clone(),
        None => db.read(|c| tokens::signing_secret(c, generate_secret))?,
    };
    if secret.len() < MIN_SECRET_BYTES {
        // A key kept in the database by an older version, shorter than today's minimum.
        return Err(StoreError::Config(format!(
            "the signing key stored in the database is shorter than {MIN_SECRET_BYTES} bytes; set JWT_SECRET"
        )));
    }
    Ok(AppState {
        coalesced: crate::coalesce::Queues::new(&db),
        db: Arc::new(db),
        dispatch: Default::default(),
        keys: Keys::from_secret(secret.as_bytes()),
        settings: Settings {
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
            bcrypt_cost: config.bcrypt_cost,
            allow_registration: config.allow_registration,
            trusted_proxies: config.trusted_proxies.clone(),
            public_url: config
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty()),
            fhir_base: fhir_base(config.public_url.as_deref(), &config.bind),
            fhir_slot_minutes: i64::from(config.fhir_slot_minutes),
            body_timeout: std::time::Duration::from_secs(config.body_timeout),
            hold: chrono::Duration::seconds(i64::from(config.hold_seconds)),
            calendar_domain: crate::ical::uid_domain(
                config.mail.mail_from.as_deref(),
                config.public_url.as_deref(),
            ),
            require_if_match: config.require_if_match,
            throttle: config.throttle.clone(),
            webhooks: config.webhooks,
        },
        callers: Default::default(),
        tokens: Default::default(),
        connections: tokio::sync::Semaphore::new(config.pool_size.max(1) as usize),
        hashing: Default::default(),
        audit: Default::default(),
        metrics: None,
        recent_writers: crate::read_routing::RecentWriters::new(std::time::Duration::from_millis(
            config.replica_max_lag_ms,
        )),
    })
}

/// The FHIR facade's absolute base: the public URL's, else the bind address's.
fn fhir_base(public_url: Option<&str>, bind: &str) -> String {
    let root = match public_url
        .map(|u| u.trim_end_matches('/'))
        .filter(|u| !u.is_empty())
    {
        Some(url) => url.to_owned(),
        None => format!("http://{bind}"),
    };
    format!("{root}{}", healthcare_fhir::PATH)
}

impl Application {
    /// Opens the database and binds the listen address; call [`Application::run`] to serve.
    pub fn build(config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        let mail = config.mail.mailer()?.map(|mailer| {
            let before = chrono::Duration::minutes(i64::from(config.mail.mail_reminder_minutes));
            (Arc::new(mailer), before)
        });
        let listener = TcpListener::bind(&config.bind)?;
        let port = listener.local_addr()?.port();
        let mut opened = open_state(config)?;
        // Bound to port 0 (tests), the FHIR base names the port really bound.
        opened.settings.fhir_base = fhir_base(
            config.public_url.as_deref(),
            &listener.local_addr()?.to_string(),
        );
        let metrics = match &config.metrics_bind {
            Some(bind) => {
                let metrics = crate::metrics::Metrics::new(&opened.db);
                opened.metrics = Some(metrics.clone());
                let listener = TcpListener::bind(bind)?;
                tracing::info!(bind = %listener.local_addr()?, "metrics at /metrics");
                Some(crate::metrics::server(
                    listener,
                    metrics,
                    opened.db.clone(),
                )?)
            }
            None => None,
        };
        let state = web::Data::new(opened);
        let db = state.db.clone();
        let dispatch = state.dispatch.clone();
        let throttle_window = crate::routes::auth::longest_throttle_window(&state);
        let workers = config.workers;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(crate::extract::BODY_LIMIT))
                .configure(routes)
                .wrap(from_fn(head_as_get))
                .wrap(from_fn(headers_and_logs))
                // Who asked for a change (their lists then skip the read replica a while).
                .wrap(from_fn(crate::read_routing::middleware))
                // Counted and timed (when metrics are on), in the request's span.
                .wrap(from_fn(crate::metrics::middleware))
                // Outermost (the last wrapped runs first): every answer, the default
                // service's and actix's own included, carries the id, and the request log
                // line of `headers_and_logs` is written inside its span.
                .wrap(from_fn(request_id::middleware))
        })
        .workers(workers)
        // Blocking threads run database calls, each after taking one of the pool's places
        // (`AppState::connections`), and password hashes, each after taking one of the hashing
        // slots (`AppState::hashing`): more threads than places could not run more work, and
        // each extra thread kept its own malloc arena (docs/performance.md).
        .worker_max_blocking_threads(config.pool_size.max(1) as usize + hashing_slots())
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            db,
            throttle_window,
            webhooks: config.webhooks.delivery(),
            dispatch,
            mail,
            metrics,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or Ctrl-C; in-flight requests are finished first, then the
    /// background tasks ([`crate::tasks`]) stop.
    pub async fn run(self) -> std::io::Result<()> {
        let db = self.db.clone();
        let window = self.throttle_window;
        // Expired refresh tokens, sessions left without any, and throttling records older than
        // the longest throttling window are purged at start and then hourly (any process may
        // do it; the deletes are idempotent).
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let db = db.clone();
                let purged = web::block(move || {
                    let now = chrono::Utc::now();
                    db.write(move |c| tokens::purge(c, now, now - window))
                })
                .await;
                match purged {
                    Ok(Ok(n)) => tracing::debug!(rows = n, "purged expired tokens and failures"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "purge failed"),
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
            }
        });
        // Background tasks: the audit sealer and the reminder scheduler (each under a lease in
        // the database), and the webhook and mail dispatcher (every process; deliveries are
        // leased).
        let mut tasks = crate::tasks::Tasks::new();
        tasks.spawn_sealer(self.db.clone());
        tasks.spawn_sweeper(self.db.clone());
        let (mailer, mail_before) = self.mail.unzip();
        tasks.spawn_reminders(self.db.clone(), mail_before);
        tasks.spawn_dispatcher(
            self.db.clone(),
            self.webhooks,
            mailer,
            self.dispatch.clone(),
        );
        let metrics = self.metrics.map(|server| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        // Stopped (SIGTERM, Ctrl-C): the tasks finish their pass and give their leases up.
        tasks.stop().await;
        // Stopped cleanly: leave SQLite's write-ahead log empty for the next start.
        let db = self.db;
        match web::block(move || db.checkpoint_wal()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "final checkpoint failed"),
            Err(e) => tracing::warn!(error = %e, "final checkpoint failed"),
        }
        served
    }
}

/// The 405 of a resource, with the `Allow` header of the methods it serves (RFC 9110 §15.5.6).
fn method_not_allowed(req: &HttpRequest, allow: Option<&HeaderValue>) -> HttpResponse {
    let mut res = ApiError::MethodNotAllowed(req.method().to_string()).error_response();
    if let Some(allow) = allow {
        res.headers_mut().insert(header::ALLOW, allow.clone());
    }
    res
}

/// The 405 of the OpenAPI document's and Swagger UI's paths, which serve `GET` (and `HEAD`).
fn read_only(req: &HttpRequest) -> HttpResponse {
    method_not_allowed(req, Some(&HeaderValue::from_static("GET, HEAD")))
}

/// The `Allow` value of the resource whose documented path is `rules`: the methods the OpenAPI
/// document gives it (the FHIR facade's: those its `CapabilityStatement` serves), with `HEAD`
/// wherever `GET` is served ([`head_as_get`]).
fn allow_value(rules: &str) -> Option<HeaderValue> {
    let mut methods = match rules.strip_prefix(healthcare_fhir::PATH) {
        Some(fhir) => healthcare_fhir::capability::methods(fhir),
        None => crate::openapi::methods(rules),
    };
    if let Some(get) = methods.iter().position(|m| *m == "GET") {
        methods.insert(get + 1, "HEAD");
    }
    if methods.is_empty() {
        return None;
    }
    HeaderValue::from_str(&methods.join(", ")).ok()
}

/// A `HEAD` request is routed as the `GET` of its path (RFC 9110 §9.3.2: the same answer
/// without its body; actix-web sends the headers of the `GET`'s answer, `Content-Length`
/// included, and leaves the body out, having read the method as the request came). It is
/// recorded as the read it is: it tells whether the record exists and its `ETag`.
async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// The OpenAPI document as served, built once per process and shared by every worker (built per
/// worker, as a `utoipa` value, it cost each worker about 3.5 MB that stayed resident).
fn schema_json() -> web::Bytes {
    static DOCUMENT: std::sync::OnceLock<web::Bytes> = std::sync::OnceLock::new();
    DOCUMENT
        .get_or_init(
            || match crate::openapi::document().and_then(|d| serde_json::to_vec(&d)) {
                Ok(json) => web::Bytes::from(json),
                Err(e) => {
                    tracing::error!(error = %e, "cannot serialize the OpenAPI document");
                    web::Bytes::new()
                }
            },
        )
        .clone()
}

async fn schema() -> Result<HttpResponse, ApiError> {
    let json = schema_json();
    if json.is_empty() {
        return Err(ApiError::Internal("no OpenAPI document".into()));
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ContentType::json())
        .body(json))
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/api/docs/"))
        .finish()
}

/// Every route of the API.
///
/// Each path is served with and without its trailing slash by two single-pattern
/// resources: actix tries resources in registration order, compares a static pattern as a
/// string but a resource with several patterns through a regular expression set, so the
/// documented spellings (with the slash, but `calendar.ics` without) come first, hot paths at
/// the top, and the other spellings after.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // A resource served at `path` whose audit rules are found at `rules` (its whole path).
    let wrapped = |rules: &str, path: String| {
        let audited = crate::audit::Audited::of(rules);
        let conditional = crate::conditional::Conditional::of(audited);
        let label = crate::metrics::label(rules);
        let allow = allow_value(rules);
        web::resource(path)
            .default_service(web::to(move |req: HttpRequest| {
                let res = method_not_allowed(&req, allow.as_ref());
                async move { res }
            }))
            // Innermost: conditional requests (the `If-Match` is compared in the change's
            // transaction; a 304 replaces a 200 the client already has).
            .wrap(from_fn(move |req, next| {
                crate::conditional::middleware(conditional, req, next)
            }))
            // Then idempotency keys (inside the audit trail, which records a replay as the
            // read it is).
            .wrap(from_fn(crate::idempotency::middleware))
            // Then the audit trail sees the caller and the handler's answer, and
            // withholds that answer until its event is written.
            .wrap(from_fn(move |req, next| {
                crate::audit::middleware(audited, req, next)
            }))
            // Its route template for the metrics (when they are on).
            .wrap(from_fn(move |req, next| {
                crate::metrics::route(label, req, next)
            }))
    };
    for documented in [true, false] {
        // The documented spelling first, then the other one (with or without the slash).
        let resource = |path: &str| {
            let other = match path.strip_suffix('/') {
                Some(bare) => bare.to_owned(),
                None => format!("{path}/"),
            };
            wrapped(path, if documented { path.to_owned() } else { other })
        };
        cfg.service(resource("/api/health/").route(web::get().to(health::health)))
            .service(
                resource("/api/appointments/")
                    .route(web::get().to(appointments::list))
                    .route(web::post().to(appointments::create)),
            )
            .service(
                resource("/api/appointments/{id}/")
                    .route(web::get().to(appointments::get))
                    .route(web::patch().to(appointments::update))
                    .route(web::delete().to(appointments::archive)),
            )
            .service(resource("/api/appointment-series/").route(web::post().to(series::create)))
            .service(
                resource("/api/appointment-series/{id}/")
                    .route(web::get().to(series::get))
                    .route(web::patch().to(series::update)),
            )
            .service(resource("/api/ready/").route(web::get().to(health::ready)))
            .service(resource("/api/auth/").route(web::post().to(auth::register)))
            .service(resource("/api/auth/register/").route(web::post().to(auth::register)))
            .service(resource("/api/auth/me/").route(web::get().to(auth::me)))
            .service(resource("/api/auth/password/").route(web::post().to(auth::change_password)))
            .service(
                resource("/api/auth/calendar-token/")
                    .route(web::post().to(calendar::create_token))
                    .route(web::delete().to(calendar::revoke_token)),
            )
            .service(
                resource("/api/doctors/{id}/calendar.ics")
                    .route(web::get().to(calendar::doctor_feed)),
            )
            .service(
                resource("/api/patients/{id}/calendar.ics")
                    .route(web::get().to(calendar::patient_feed)),
            )
            .service(resource("/api/token/").route(web::post().to(auth::obtain)))
            .service(resource("/api/token/refresh/").route(web::post().to(auth::refresh)))
            .service(resource("/api/token/revoke/").route(web::post().to(auth::revoke)))
            .service(
                resource("/api/patients/")
                    .route(web::get().to(patients::list))
                    .route(web::post().to(patients::create)),
            )
            .service(
                resource("/api/patients/{id}/")
                    .route(web::get().to(patients::get))
                    .route(web::patch().to(patients::update))
                    .route(web::delete().to(patients::archive)),
            )
            .service(
                resource("/api/doctors/")
                    .route(web::get().to(doctors::list))
                    .route(web::post().to(doctors::create)),
            )
            .service(
                resource("/api/doctors/{id}/")
                    .route(web::get().to(doctors::get))
                    .route(web::patch().to(doctors::update))
                    .route(web::delete().to(doctors::archive)),
            )
            .service(
                resource("/api/doctors/{id}/working-hours/")
                    .route(web::get().to(availability::get_working_hours))
                    .route(web::put().to(availability::put_working_hours)),
            )
            .service(
                resource("/api/doctors/{id}/time-off/")
                    .route(web::get().to(availability::list_time_off))
                    .route(web::post().to(availability::add_time_off)),
            )
            .service(
                resource("/api/doctors/{id}/time-off/{time_off_id}/")
                    .route(web::delete().to(availability::delete_time_off)),
            )
            .service(
                resource("/api/doctors/{id}/slots/").route(web::get().to(availability::free_slots)),
            )
            .service(
                resource("/api/mappings/patient/{id}/")
                    .route(web::get().to(mappings::doctors_of_patient)),
            )
            .service(
                resource("/api/mappings/")
                    .route(web::get().to(mappings::list))
                    .route(web::post().to(mappings::create)),
            )
            .service(
                resource("/api/mappings/{id}/")
                    .route(web::get().to(mappings::get))
                    .route(web::patch().to(mappings::update))
                    .route(web::delete().to(mappings::deactivate)),
            )
            .service(
                resource("/api/patients/{id}/access-log/")
                    .route(web::get().to(crate::routes::audit::access_log)),
            )
            .service(resource("/api/audit/").route(web::get().to(crate::routes::audit::list)))
            .service(
                resource("/api/webhooks/")
                    .route(web::get().to(webhooks::list))
                    .route(web::post().to(webhooks::create)),
            )
            .service(
                resource("/api/webhooks/{id}/")
                    .route(web::get().to(webhooks::get))
                    .route(web::patch().to(webhooks::update))
                    .route(web::delete().to(webhooks::deactivate)),
            )
            .service(resource("/api/webhooks/{id}/ping/").route(web::post().to(webhooks::ping)))
            .service(
                resource("/api/webhooks/{id}/rotate-secret/")
                    .route(web::post().to(webhooks::rotate_secret)),
            )
            .service(
                resource("/api/webhooks/{id}/deliveries/")
                    .route(web::get().to(webhooks::deliveries)),
            )
            .service(
                resource("/api/webhooks/{id}/deliveries/{delivery_id}/retry/")
                    .route(web::post().to(webhooks::retry)),
            )
            .service(
                resource("/api/users/")
                    .route(web::get().to(users::list))
                    .route(web::post().to(users::create)),
            )
            .service(
                resource("/api/users/{id}/")
                    .route(web::get().to(users::get))
                    .route(web::patch().to(users::update)),
            );
    }
    // The FHIR facade: its own paths (no trailing slash), its answers made FHIR's in one layer.
    let fhir = |path: &str| wrapped(&format!("{}{path}", healthcare_fhir::PATH), path.to_owned());
    cfg.service(
        web::scope(healthcare_fhir::PATH)
            .wrap(from_fn(crate::fhir_answers::middleware))
            .service(fhir("/metadata").route(web::get().to(fhir::metadata)))
            .service(fhir("/Patient").route(web::get().to(fhir::patient_search)))
            .service(fhir("/Patient/{id}").route(web::get().to(fhir::patient_read)))
            .service(fhir("/Practitioner").route(web::get().to(fhir::practitioner_search)))
            .service(fhir("/Practitioner/{id}").route(web::get().to(fhir::practitioner_read)))
            .service(
                fhir("/Appointment")
                    .route(web::get().to(fhir::appointment_search))
                    .route(web::post().to(fhir::appointment_create)),
            )
            .service(fhir("/Appointment/{id}").route(web::get().to(fhir::appointment_read)))
            .service(fhir("/Schedule").route(web::get().to(fhir::schedule_search)))
            .service(fhir("/Schedule/{id}").route(web::get().to(fhir::schedule_read)))
            .service(fhir("/Slot").route(web::get().to(fhir::slot_search)))
            .default_service(web::to(not_found)),
    );
    // The document and Swagger UI are read-only: any other method is a 405 naming GET and HEAD
    // (Swagger UI's own resource only matches a GET, so the resource after it takes the rest).
    let read_only = || web::to(|req: HttpRequest| async move { read_only(&req) });
    cfg.service(
        web::resource("/api/schema/")
            .route(web::get().to(schema))
            .default_service(read_only()),
    )
    .service(
        SwaggerUi::new("/api/docs/{_:.*}").config(utoipa_swagger_ui::Config::new(["/api/schema/"])),
    )
    .service(web::resource("/api/docs/{_:.*}").default_service(read_only()))
    .service(
        web::resource("/api/schema")
            .route(web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, "/api/schema/"))
                    .finish()
            }))
            .default_service(read_only()),
    )
    .service(
        web::resource("/api/docs")
            .route(web::get().to(docs_redirect))
            .default_service(read_only()),
    )
    .default_service(web::to(not_found));
}

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// Security headers on every response and one log line per request (method, path, status,
/// latency, user id; never bodies or query strings, which may hold patient data). It runs
/// inside [`request_id::middleware`], so the line is written in the request's span and names
/// its `request_id`.
async fn headers_and_logs(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mut res = next.call(req).await?;
    let docs = path.starts_with("/api/docs");
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if docs { DOCS_CSP } else { API_CSP }),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A handler's own no-store rule (the calendar feeds' `private, no-store`) stays.
    if !docs && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let user = res.request().extensions().get::<UserId>().map(|u| u.0);
    tracing::info!(
        %method,
        path = %path,
        status = res.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        user,
        "request"
    );
    Ok(res)
}
