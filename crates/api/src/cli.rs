//! The operator commands: serve, migrate, create-user, seed-demo, audit.

use crate::app::{open_state, Application};
use crate::config::{AuditCommand, Config, SeedDemo};
use chrono::{Duration, NaiveDate, Timelike, Utc};
use healthcare_auth::{check_password_policy, hash_password};
use healthcare_domain::{
    Gender, NewAppointment, NewDoctor, NewMapping, NewPatient, NewUser, Raw, RawObject, Role,
    Scope, Specialization,
};
use healthcare_persistence::{
    appointments, audit, doctors, mappings, patients, users, Database, DbConfig, StoreError,
};
use std::error::Error;
use std::io::{BufRead, IsTerminal, Write};

/// Boxed error for commands.
pub type CliResult = Result<(), Box<dyn Error>>;

/// The log filter without `RUST_LOG`: `info`, but not actix-http's HTTP/1 dispatcher, which
/// logs at `error` what a client did wrong (a malformed request, already answered with a bare
/// 400; a connection that broke): at the default level `error` means a fault of the server.
pub const DEFAULT_LOG_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Logs to stderr, filtered by `RUST_LOG` (default [`DEFAULT_LOG_FILTER`]), as text or one
/// JSON object per line (with the fields of the request's span, its `request_id` among them).
pub fn init_tracing(format: crate::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::config::LogFormat::Text => logs.try_init(),
        crate::config::LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Serves until SIGTERM or Ctrl-C.
pub fn serve(config: &Config) -> CliResult {
    actix_web::rt::System::new().block_on(async {
        let app = Application::build(config)?;
        let host = config.bind.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        println!("listening on {host}:{}", app.port());
        tracing::info!(bind = %config.bind, port = app.port(), "serving");
        app.run().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Exit 0 when the server bound to `HEALTHCARE_BIND` answers `/api/health/` with 200 (an
/// unspecified address, `0.0.0.0` or `[::]`, is asked on loopback; a host name as it is, since
/// the server bound the addresses it resolves to).
pub fn health_check(config: &Config) -> CliResult {
    let (host, port) = match config.bind.parse::<std::net::SocketAddr>() {
        Ok(addr) => {
            let host = match addr.ip() {
                ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
                ip if ip.is_unspecified() => "[::1]".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                std::net::IpAddr::V4(ip) => ip.to_string(),
            };
            (host, addr.port())
        }
        Err(_) => config
            .bind
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
            .filter(|(host, _)| !host.is_empty())
            .ok_or_else(|| format!("HEALTHCARE_BIND {}: not HOST:PORT", config.bind))?,
    };
    let url = format!("http://{host}:{port}/api/health/");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(3)))
        .http_status_as_error(false)
        .build()
        .into();
    let status = agent.get(&url).call()?.status().as_u16();
    if status == 200 {
        println!("healthy: {url}");
        Ok(())
    } else {
        Err(format!("{url} answered {status}").into())
    }
}

/// Applies migrations.
pub fn migrate(config: &Config) -> CliResult {
    open_state(config)?;
    println!("migrations are up to date");
    Ok(())
}

/// Creates an account; the password comes from standard input or a prompt.
pub fn create_user(
    config: &Config,
    username: &str,
    role: Role,
    email: &str,
    from_stdin: bool,
) -> CliResult {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("Password for {username}: ");
        std::io::stderr().flush()?;
    }
    let mut password = String::new();
    stdin.lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    // The rules of a registration (allowed characters, no mixed scripts, a valid email).
    NewUser::parse(&RawObject::from_pairs([
        ("username", Raw::Str(username.to_owned())),
        ("email", Raw::Str(email.to_owned())),
        ("password", Raw::Str(password.clone())),
    ]))?;
    check_password_policy(&password, username).map_err(|e| e.to_string())?;
    let state = open_state(config)?;
    let hash = hash_password(&password, config.bcrypt_cost)?;
    let (name, mail) = (username.to_owned(), email.to_owned());
    let user = state
        .db
        .write(move |c| users::create(c, &name, &mail, &hash, role))?;
    println!(
        "created user {} ({}) with id {}",
        user.username, user.role, user.id
    );
    Ok(())
}

/// `healthcare audit verify|export|prune`: on the database alone (migrated first; the signing key
/// is not touched). `verify` fails, naming the event, when the chain is broken.
pub fn audit(config: &Config, command: &AuditCommand) -> CliResult {
    let mut db_config = DbConfig::new(config.database_url.clone());
    db_config.sqlite_sync = config.sqlite_sync;
    db_config.pool_size = 2;
    db_config.min_idle = 0;
    let db = Database::connect(&db_config)?;
    db.migrate()?;
    match command {
        AuditCommand::Verify => match db.read(|c| Ok(audit::verify(c)))? {
            Ok(checked) => {
                let (seq, head) = db.read(audit::head)?;
                println!("audit chain intact: {checked} sealed events verified; head {seq} {head}");
                if let Some(anchor) = db.read(audit::pruned)? {
                    println!(
                        "pruned: the events up to position {} (older than {}), at {}",
                        anchor.seq,
                        anchor.pruned_before.to_rfc3339(),
                        anchor.pruned_at.to_rfc3339()
                    );
                }
                Ok(())
            }
            Err(audit::VerifyError::Broken { event, what }) => {
                Err(format!("audit chain broken at event {event}: {what}").into())
            }
            Err(audit::VerifyError::Store(e)) => Err(e.into()),
        },
        AuditCommand::Export { since, until } => {
            let (since, until) = (*since, *until);
            let written = db.read(move |c| {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                let n = audit::export(c, since, until, &mut out)?;
                out.flush()
                    .map_err(|e| StoreError::Config(format!("cannot write the export: {e}")))?;
                Ok(n)
            })?;
            eprintln!("exported {written} audit events");
            Ok(())
        }
        AuditCommand::Prune { before } => {
            let before = *before;
            let pruned = db.write(move |c| audit::prune(c, before))?;
            println!(
                "pruned {} audit events; the chain now starts after position {}",
                pruned.removed, pruned.anchor_seq
            );
            Ok(())
        }
    }
}

const FIRST: [&str; 12] = [
    "Ada",
    "Grace",
    "Alan",
    "Marie",
    "Louis",
    "Rosalind",
    "Edsger",
    "Barbara",
    "Niklaus",
    "Frances",
    "Donald",
    "Katherine",
];
const LAST: [&str; 12] = [
    "Lovelace", "Hopper", "Turing", "Curie", "Pasteur", "Franklin", "Dijkstra", "Liskov", "Wirth",
    "Allen", "Knuth", "Johnson",
];

/// Writes a realistic data set through the persistence layer, reporting progress.
pub fn seed_demo(config: &Config, opts: &SeedDemo) -> CliResult {
    let state = open_state(config)?;
    let db = &state.db;
    let hash = hash_password(&opts.password, config.bcrypt_cost)?;
    let admin = db.write(move |c| match users::find_by_username(c, "demo-admin")? {
        Some(row) => Ok(row.to_domain()?.id),
        None => {
            let admin = users::create(c, "demo-admin", "admin@example.org", &hash, Role::Admin)?;
            users::create(c, "demo-staff", "staff@example.org", &hash, Role::Staff)?;
            Ok(admin.id)
        }
    })?;
    let n_doctors = opts.doctors as usize;
    let n_patients = (opts.patients as usize).max(n_doctors);
    let tag = Utc::now().timestamp_micros();
    let doctor_ids = db.write(move |c| {
        (0..n_doctors)
            .map(|i| doctors::create(c, &demo_doctor(i, tag)).map(|d| d.id))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut patient_ids = Vec::with_capacity(n_patients);
    let mut start = 0;
    while start < n_patients {
        let end = (start + 1000).min(n_patients);
        let ids = db.write(move |c| {
            (start..end)
                .map(|i| patients::create(c, &demo_patient(i)).map(|p| p.id))
                .collect::<Result<Vec<_>, _>>()
        })?;
        patient_ids.extend(ids);
        start = end;
    }
    let (d, p) = (doctor_ids.clone(), patient_ids.clone());
    db.write(move |c| {
        for (i, patient) in p.iter().enumerate() {
            let input = NewMapping {
                doctor: d[i % d.len()],
                patient: *patient,
                reason_for_assignment: "Primary care".into(),
                is_active: true,
            };
            mappings::create(c, &input, Scope::All, admin)?;
        }
        Ok(())
    })?;
    // Appointment i: doctor i % D in 30-minute slot i / D, starting tomorrow 08:00 UTC.
    let base = (Utc::now() + Duration::days(1))
        .with_hour(8)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or_else(Utc::now);
    let total = opts.appointments as usize;
    let step = (total / 10).max(1);
    let mut done = 0;
    while done < total {
        let end = (done + 5000).min(total);
        let (d, p) = (doctor_ids.clone(), patient_ids.clone());
        let inputs: Vec<NewAppointment> = (done..end)
            .map(|i| NewAppointment {
                doctor: d[i % d.len()],
                patient: p[i % p.len()],
                start: base + Duration::minutes(30 * (i / d.len()) as i64),
                duration_minutes: 30,
                reason: "Routine follow-up".into(),
                status: healthcare_domain::AppointmentStatus::Scheduled,
            })
            .collect();
        db.write(move |c| appointments::insert_many(c, &inputs, admin))?;
        if end / step != done / step || end == total {
            eprintln!("seed-demo: {end}/{total} appointments");
        }
        done = end;
    }
    db.after_bulk_load()?;
    db.checkpoint_wal()?;
    println!(
        "seeded {n_doctors} doctors, {n_patients} patients, {n_patients} mappings, {total} appointments (login demo-admin / demo-staff)"
    );
    Ok(())
}

fn demo_doctor(i: usize, tag: i64) -> NewDoctor {
    NewDoctor {
        first_name: FIRST[i % 12].into(),
        last_name: LAST[(i / 12) % 12].into(),
        specialization: Specialization::ALL[i % Specialization::ALL.len()],
        contact_number: format!("555 {:04}", i % 10_000),
        email: format!("doctor{i}@example.org"),
        license_number: format!("DEMO-{tag}-{i}"),
        hospital: "Demo General Hospital".into(),
        address: String::new(),
        experience_years: (i % 40) as i32,
        user: None,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
    }
}

fn demo_patient(i: usize) -> NewPatient {
    NewPatient {
        first_name: FIRST[(i / 12) % 12].into(),
        last_name: LAST[i % 12].into(),
        date_of_birth: NaiveDate::from_ymd_opt(
            1940 + (i % 80) as i32,
            1 + (i % 12) as u32,
            1 + (i % 28) as u32,
        )
        .unwrap_or_default(),
        gender: [Gender::Female, Gender::Male, Gender::Other][i % 3],
        contact_number: format!("+1 555 {:04}", i % 10_000),
        email: format!("patient{i}@example.org"),
        address: format!("{} Demo Street", i + 1),
        medical_history: String::new(),
        user: None,
    }
}
