//! Command line and configuration: every setting comes from the environment, and a
//! flag of the same name overrides it.

use crate::forwarded::TrustedProxies;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use clap::{Args, Parser, Subcommand};
use healthcare_domain::Role;
use healthcare_persistence::SqliteSync;

/// The healthcare scheduling API server.
#[derive(Debug, Parser)]
#[command(name = "healthcare", version, about)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub config: Config,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an account.
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Role: admin, staff, doctor or patient.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Email address.
        #[arg(long, default_value = "")]
        email: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Write a realistic demo data set (doctors, patients, mappings, appointments).
    SeedDemo(SeedDemo),
    /// The audit trail: verify its hash chain, export it, prune old events (docs/audit.md).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Ask the server on `HEALTHCARE_BIND` (this machine) for `/api/health/`: exit 0 when it
    /// answers 200 within 3 seconds (a container's or a supervisor's health check).
    HealthCheck,
}

/// `healthcare audit ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 0 when it is intact, else non-zero naming the first event
    /// changed, removed or inserted out of order.
    Verify,
    /// Write the events of a period to standard output as NDJSON, one event a line.
    Export {
        /// First instant included: a date (`2025-01-31`, midnight UTC) or an RFC 3339 time.
        #[arg(long, value_parser = parse_instant)]
        since: DateTime<Utc>,
        /// First instant excluded (default: no end).
        #[arg(long, value_parser = parse_instant)]
        until: Option<DateTime<Utc>>,
    },
    /// Remove the sealed events older than a date; the last one removed stays as the anchor
    /// the rest of the chain verifies from.
    Prune {
        /// Events before this instant go: a date (midnight UTC) or an RFC 3339 time.
        #[arg(long, value_parser = parse_instant)]
        before: DateTime<Utc>,
    },
}

/// A date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 date and time.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    // Without a time after its date it is read as a date, and its error is the date's.
    if !s.get(10..11).is_some_and(|c| matches!(c, "T" | "t" | " ")) {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|day| day.and_time(NaiveTime::MIN).and_utc())
            .map_err(|e| format!("{s:?} is not a date (YYYY-MM-DD): {e}"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 date and time: {e}"))
}

/// Longest access or refresh token lifetime accepted, seconds (a year).
pub const MAX_TOKEN_TTL: i64 = 365 * 24 * 3600;

/// Size of the demo data set.
#[derive(Debug, Clone, Args)]
pub struct SeedDemo {
    /// Doctors (at least one).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub doctors: u32,
    /// Patients (raised to the number of doctors, so every doctor is assigned one).
    #[arg(long, default_value_t = 200)]
    pub patients: u32,
    /// Appointments.
    #[arg(long, default_value_t = 1000)]
    pub appointments: u32,
    /// Password of the demo accounts (admin `demo-admin`, staff `demo-staff`).
    #[arg(long, default_value = "demo-password-1")]
    pub password: String,
}

fn secret(s: &str) -> Result<String, String> {
    healthcare_auth::check_secret(s).map(|()| s.to_owned())
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

/// Settings.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database: sqlite://PATH, sqlite:///abs/path.db or postgres://...
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://healthcare.db",
        global = true
    )]
    pub database_url: String,
    /// Listen address.
    #[arg(
        long,
        env = "HEALTHCARE_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: String,
    /// HS256 signing key; when absent one is generated once and kept in the database.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = secret, global = true)]
    pub jwt_secret: Option<String>,
    /// Access-token lifetime, seconds (1 to a year).
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=MAX_TOKEN_TTL), global = true)]
    pub access_ttl: i64,
    /// Refresh-token lifetime, seconds (1 to a year).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value_t = 86400, value_parser = clap::value_parser!(i64).range(1..=MAX_TOKEN_TTL), global = true)]
    pub refresh_ttl: i64,
    /// bcrypt cost (4-31).
    #[arg(long, env = "BCRYPT_COST", default_value_t = 12, value_parser = clap::value_parser!(u32).range(4..=31), global = true)]
    pub bcrypt_cost: u32,
    /// SQLite durability: full or normal.
    #[arg(
        long,
        env = "HEALTHCARE_SQLITE_SYNC",
        default_value = "full",
        global = true
    )]
    pub sqlite_sync: SqliteSync,
    /// Whether self-registration is open.
    #[arg(long, env = "HEALTHCARE_ALLOW_REGISTRATION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub allow_registration: bool,
    /// Database connections per process; also the most blocking threads each HTTP worker keeps
    /// for database calls (password hashing adds one per core).
    #[arg(long, env = "HEALTHCARE_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub pool_size: u32,
    /// HTTP worker threads.
    #[arg(long, env = "HEALTHCARE_WORKERS", default_value_t = 2, value_parser = workers, global = true)]
    pub workers: usize,
    /// Proxies (addresses or networks, comma-separated: `10.0.0.0/8,192.0.2.7`) whose
    /// `X-Forwarded-For` names the client for login throttling; none by default.
    #[arg(
        long,
        env = "HEALTHCARE_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: TrustedProxies,
    /// The API's public base URL (`https://clinic.example.org`): absolute links are built from
    /// it; without it links are relative. Never taken from a request's `Host` or `Forwarded`.
    #[arg(long, env = "HEALTHCARE_PUBLIC_URL", value_parser = public_url, global = true)]
    pub public_url: Option<String>,
    /// Seconds a client has to send a request body in full (408 and the connection closes).
    #[arg(long, env = "HEALTHCARE_BODY_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub body_timeout: u64,
    /// Seconds a tentative booking (`"status": "PENDING"`) holds its slot before it expires.
    #[arg(long, env = "HEALTHCARE_HOLD_SECONDS", default_value_t = healthcare_persistence::appointments::DEFAULT_HOLD_SECONDS, value_parser = clap::value_parser!(u32).range(1..=86_400), global = true)]
    pub hold_seconds: u32,
    /// Minutes of each free `Slot` the FHIR facade serves.
    #[arg(long, env = "HEALTHCARE_FHIR_SLOT_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(healthcare_domain::availability::MIN_SLOT_MINUTES..=healthcare_domain::availability::MAX_SLOT_MINUTES), global = true)]
    pub fhir_slot_minutes: u32,
    /// A PostgreSQL read replica of `DATABASE_URL` for list and search reads (docs/deployment.md
    /// "Read replicas"); none when unset.
    #[arg(long, env = "DATABASE_READ_URL", hide_env_values = true, global = true)]
    pub database_read_url: Option<String>,
    /// The replica's replay lag (milliseconds) above which reads go to the primary; also how
    /// long an account's lists are read from the primary after a change it asked for.
    #[arg(long, env = "HEALTHCARE_REPLICA_MAX_LAG_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000), global = true)]
    pub replica_max_lag_ms: u64,
    /// Where Prometheus metrics are served (`/metrics`, its own address, e.g. `127.0.0.1:9100`);
    /// off when unset.
    #[arg(long, env = "HEALTHCARE_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// Log lines as text, or one JSON object per line (`json`).
    #[arg(long, env = "HEALTHCARE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Refuse a PATCH or DELETE of a versioned record without `If-Match` (428).
    #[arg(long, env = "HEALTHCARE_REQUIRE_IF_MATCH", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub require_if_match: bool,
    /// Login throttling and registration throttling limits.
    #[command(flatten)]
    pub throttle: ThrottleConfig,
    /// Webhook deliveries.
    #[command(flatten)]
    pub webhooks: WebhookConfig,
    /// Email notifications.
    #[command(flatten)]
    pub mail: MailConfig,
}

/// Email notifications (docs/notifications.md, "Email"): on when both `HEALTHCARE_SMTP_URL` and
/// `HEALTHCARE_MAIL_FROM` are set.
#[derive(Debug, Clone, Args)]
pub struct MailConfig {
    /// The SMTP server: `smtp://[user:password@]host[:port]` (port 25; STARTTLS when the server
    /// offers it) or `smtps://...` (TLS from the start, port 465).
    #[arg(long, env = "HEALTHCARE_SMTP_URL", hide_env_values = true, value_parser = smtp_url, global = true)]
    pub smtp_url: Option<String>,
    /// A PEM file of certificates trusted for the SMTP server besides the Web PKI roots (a
    /// private relay's own CA).
    #[arg(long, env = "HEALTHCARE_SMTP_CA_FILE", value_parser = smtp_roots, global = true)]
    pub smtp_ca_file: Option<crate::mailer::SmtpRoots>,
    /// The sender of every mail, e.g. `Clinic <appointments@clinic.example>`.
    #[arg(long, env = "HEALTHCARE_MAIL_FROM", value_parser = mail_from, global = true)]
    pub mail_from: Option<String>,
    /// The time zone mails show times in when the doctor has no working hours (IANA name).
    #[arg(long, env = "HEALTHCARE_TIMEZONE", default_value = "UTC", value_parser = time_zone, global = true)]
    pub timezone: chrono_tz::Tz,
    /// How long before an appointment's start its reminder mail goes out, minutes.
    #[arg(long, env = "HEALTHCARE_MAIL_REMINDER_MINUTES", default_value_t = 1440, value_parser = clap::value_parser!(u32).range(1..=10080), global = true)]
    pub mail_reminder_minutes: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_ca_file: None,
            mail_from: None,
            timezone: chrono_tz::UTC,
            mail_reminder_minutes: 1440,
        }
    }
}

impl MailConfig {
    /// The mailer, when mail is on.
    pub fn mailer(&self) -> Result<Option<crate::mailer::Mailer>, String> {
        match (&self.smtp_url, &self.mail_from) {
            (Some(url), Some(from)) => {
                crate::mailer::Mailer::new(url, self.smtp_ca_file.as_ref(), from, self.timezone)
                    .map(Some)
            }
            (None, None) => Ok(None),
            _ => Err("HEALTHCARE_SMTP_URL and HEALTHCARE_MAIL_FROM must be set together".into()),
        }
    }
}

fn smtp_url(s: &str) -> Result<String, String> {
    crate::mailer::transport(s, None).map(|_| s.to_owned())
}

fn smtp_roots(s: &str) -> Result<crate::mailer::SmtpRoots, String> {
    crate::mailer::SmtpRoots::read(std::path::Path::new(s))
}

/// HTTP worker threads: 1 to 1,024.
fn workers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of workers from 1 to 1024")),
    }
}

/// An `http` or `https` URL with a host and nothing after its path (no query, no fragment).
fn public_url(s: &str) -> Result<String, String> {
    let refused = || format!("{s:?} is not an http(s) base URL such as https://clinic.example.org");
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(refused)?;
    let host = rest.split('/').next().unwrap_or_default();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~:[]@%/".contains(c);
    if host.is_empty() || !rest.chars().all(plain) {
        return Err(refused());
    }
    Ok(s.to_owned())
}

fn mail_from(s: &str) -> Result<String, String> {
    s.parse::<lettre::message::Mailbox>()
        .map(|_| s.to_owned())
        .map_err(|e| format!("not a mail address: {e}"))
}

fn time_zone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("{s:?} is not an IANA time zone"))
}

/// Webhook deliveries (docs/notifications.md).
#[derive(Debug, Clone, Copy, Args)]
pub struct WebhookConfig {
    /// Let subscriptions target loopback, private and link-local addresses (refused by
    /// default: they are how a request forger reaches internal services).
    #[arg(long, env = "HEALTHCARE_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub webhook_allow_private: bool,
    /// Factor on every wait of the retry schedule and on its 24-hour window (1 in production;
    /// for tests and staging, e.g. 0.001).
    #[arg(long, env = "HEALTHCARE_WEBHOOK_BACKOFF_SCALE", default_value_t = 1.0, value_parser = backoff_scale, global = true)]
    pub webhook_backoff_scale: f64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            webhook_allow_private: false,
            webhook_backoff_scale: 1.0,
        }
    }
}

impl WebhookConfig {
    /// The dispatcher's settings.
    pub fn delivery(&self) -> crate::dispatch::DeliverySettings {
        crate::dispatch::DeliverySettings {
            allow_private: self.webhook_allow_private,
            backoff_scale: self.webhook_backoff_scale,
        }
    }
}

fn backoff_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!("{s:?} is not a factor in (0, 1]")),
    }
}

/// Login and registration throttling (docs/security.md).
#[derive(Debug, Clone, Args)]
pub struct ThrottleConfig {
    /// Failed logins per (username, client address) within the short window.
    #[arg(
        long,
        env = "HEALTHCARE_LOGIN_FAILURES_PER_USER_ADDRESS",
        default_value_t = 5,
        global = true
    )]
    pub login_failures_per_user_address: u32,
    /// Failed logins per client address within the short window.
    #[arg(
        long,
        env = "HEALTHCARE_LOGIN_FAILURES_PER_ADDRESS",
        default_value_t = 20,
        global = true
    )]
    pub login_failures_per_address: u32,
    /// The short window, seconds.
    #[arg(long, env = "HEALTHCARE_LOGIN_WINDOW", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub login_window: u64,
    /// Failed logins per username from all addresses within the long window.
    #[arg(
        long,
        env = "HEALTHCARE_LOGIN_FAILURES_PER_USER",
        default_value_t = 100,
        global = true
    )]
    pub login_failures_per_user: u32,
    /// The long window, seconds.
    #[arg(long, env = "HEALTHCARE_LOGIN_USER_WINDOW", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub login_user_window: u64,
    /// Self-registrations per client address within the registration window.
    #[arg(
        long,
        env = "HEALTHCARE_REGISTRATIONS_PER_ADDRESS",
        default_value_t = 10,
        global = true
    )]
    pub registrations_per_address: u32,
    /// The registration window, seconds.
    #[arg(long, env = "HEALTHCARE_REGISTRATION_WINDOW", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub registration_window: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            login_failures_per_user_address: 5,
            login_failures_per_address: 20,
            login_window: 900,
            login_failures_per_user: 100,
            login_user_window: 3600,
            registrations_per_address: 10,
            registration_window: 3600,
        }
    }
}

impl Config {
    /// Checks what clap cannot: a `JWT_SECRET` that is set but empty (clap reads an empty
    /// variable as absent) is refused like a short one.
    pub fn check_environment(&self) -> Result<(), String> {
        if let (None, Some(value)) = (&self.jwt_secret, std::env::var_os("JWT_SECRET")) {
            healthcare_auth::check_secret(&value.to_string_lossy())?;
        }
        self.mail.mailer().map(|_| ())
    }

    /// The defaults, as `healthcare` with no environment would use them (for tests).
    pub fn for_tests(database_url: &str) -> Self {
        Self {
            database_url: database_url.to_owned(),
            bind: "127.0.0.1:0".into(),
            jwt_secret: None,
            access_ttl: 3600,
            refresh_ttl: 86400,
            bcrypt_cost: 4,
            sqlite_sync: SqliteSync::Full,
            allow_registration: true,
            pool_size: 4,
            workers: 1,
            trusted_proxies: TrustedProxies::default(),
            public_url: None,
            body_timeout: 10,
            hold_seconds: healthcare_persistence::appointments::DEFAULT_HOLD_SECONDS,
            fhir_slot_minutes: 30,
            metrics_bind: None,
            database_read_url: None,
            replica_max_lag_ms: 1000,
            log_format: LogFormat::Text,
            require_if_match: false,
            throttle: ThrottleConfig::default(),
            webhooks: WebhookConfig::default(),
            mail: MailConfig::default(),
        }
    }
}

/// How log lines are written (`HEALTHCARE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, the request's span (with its `request_id`) included.
    Json,
}

#[cfg(test)]
mod tests {
    use super::{public_url, workers, Cli, Command, MAX_TOKEN_TTL};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("healthcare").chain(args.iter().copied()))
    }

    #[test]
    fn instants_are_dates_or_rfc_3339_times_and_errors_name_the_form() {
        use super::parse_instant;
        let at = |s: &str| parse_instant(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2026-12-01").as_deref(), Ok("2026-12-01T00:00:00+00:00"));
        assert_eq!(
            at("2026-12-01T10:00:00+02:00").as_deref(),
            Ok("2026-12-01T08:00:00+00:00")
        );
        assert_eq!(
            at("2026-13-01"),
            Err("\"2026-13-01\" is not a date (YYYY-MM-DD): input is out of range".into())
        );
        assert_eq!(
            at("2026-12-01T25:00:00Z"),
            Err(
                "\"2026-12-01T25:00:00Z\" is not an RFC 3339 date and time: input is out of range"
                    .into()
            )
        );
        assert!(at("yesterday").is_err_and(|e| e.contains("is not a date")));
    }

    #[test]
    fn lifetimes_and_sizes_are_positive() {
        let most = MAX_TOKEN_TTL.to_string();
        let cli = parse(&[
            "--access-ttl",
            "1",
            "--refresh-ttl",
            &most,
            "--pool-size",
            "1",
        ]);
        let config = cli.expect("the smallest and largest values").config;
        assert_eq!(
            (config.access_ttl, config.refresh_ttl, config.pool_size),
            (1, MAX_TOKEN_TTL, 1)
        );
        let beyond = (MAX_TOKEN_TTL + 1).to_string();
        for (flag, bad) in [
            ("--access-ttl", "0"),
            ("--access-ttl", "-60"),
            ("--access-ttl", beyond.as_str()),
            ("--refresh-ttl", "0"),
            ("--refresh-ttl", "-1"),
            ("--pool-size", "0"),
            ("--pool-size", "1025"),
        ] {
            assert!(parse(&[flag, bad, "serve"]).is_err(), "{flag} {bad}");
        }
        assert!(parse(&["seed-demo", "--doctors", "0"]).is_err());
        let seeded =
            parse(&["seed-demo", "--doctors", "1", "--patients", "0"]).expect("one doctor");
        assert!(matches!(seeded.command, Some(Command::SeedDemo(s)) if s.doctors == 1));
    }

    #[test]
    fn workers_are_one_to_1024() {
        assert_eq!(workers("1"), Ok(1));
        assert_eq!(workers("1024"), Ok(1024));
        for bad in ["0", "1025", "-1", "x", ""] {
            assert!(workers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_urls_are_http_base_urls() {
        for good in [
            "https://clinic.example.org",
            "https://clinic.example.org/base/",
            "http://127.0.0.1:8080",
            "http://[::1]:8080/api-root",
        ] {
            assert_eq!(public_url(good).as_deref(), Ok(good));
        }
        for bad in [
            "notaurl",
            "ftp://clinic.example.org",
            "https://",
            "https:///path",
            "https://clinic.example.org/x?y=1",
            "https://clinic.example.org/#top",
            "https://clinic example.org",
        ] {
            assert!(public_url(bad).is_err(), "{bad}");
        }
    }
}
