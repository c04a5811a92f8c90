//! Webhook and mail delivery (docs/notifications.md): one pass fans new outbox events out to
//! their subscriptions and mails and leases the due messages and mails (one write), POSTs each
//! leased message, signed, on the blocking pool, and sends each leased mail (`crate::mailer`,
//! on the executor), at most [`CONCURRENCY`] of each at once and each within [`TIMEOUT`], then
//! records every attempt with its `export` audit event (one write). A message whose receiver
//! failed is due again after the retry schedule (`outbox::retry_delay`, with jitter) until 24
//! hours after its event, then it is marked failed. At least once: a process killed
//! mid-delivery leaves its leases to expire ([`LEASE`]) and the message is sent again by
//! whichever process leases it next.

use crate::egress::PublicOnly;
use crate::mailer::Mailer;
use crate::webhook_signing::signature_header;
use actix_web::web;
use chrono::Utc;
use futures_util::StreamExt;
use healthcare_persistence::audit::{self, Action, NewAuditEvent, Resource};
use healthcare_persistence::mail::ClaimedMail;
use healthcare_persistence::outbox::{self, Attempt, Claimed};
use healthcare_persistence::{Database, DbConnection, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::unversioned::transport::DefaultConnector;

/// How long one delivery may take in all: a webhook's connect, send and answer, a mail's whole
/// SMTP exchange (`crate::mailer`).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a leased message stays with its dispatcher: well over [`TIMEOUT`]. An attempt
/// starts only while its lease has [`TIMEOUT`] left (see [`Dispatcher::pass`]), so a lease
/// never expires while its attempt can still be running.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// Most messages (and, separately, mails) one pass leases.
pub const BATCH: i64 = 128;
/// Most deliveries (and, separately, mails) in flight at once.
pub const CONCURRENCY: usize = 8;
/// Most outbox events one pass fans out.
pub const FAN_OUT_BATCH: i64 = 500;
/// Longest error text kept in the delivery log, characters.
const MAX_ERROR: usize = 300;

/// Delivery settings (`HEALTHCARE_WEBHOOK_*`).
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// Whether loopback and private addresses may be targets.
    pub allow_private: bool,
    /// Factor on every wait of the retry schedule and on the 24-hour window (1 in production;
    /// smaller in tests and staging).
    pub backoff_scale: f64,
}

impl DeliverySettings {
    /// How long a message is retried.
    pub fn window(&self) -> chrono::Duration {
        scaled(outbox::GIVE_UP_AFTER, self.backoff_scale)
    }

    /// The wait after failed attempt `attempt`, with up to 20 % jitter either way.
    pub fn delay(&self, attempt: i32) -> chrono::Duration {
        let jitter = 0.8 + 0.4 * rand::random::<f64>();
        scaled(outbox::retry_delay(attempt), self.backoff_scale * jitter)
    }
}

fn scaled(d: chrono::Duration, factor: f64) -> chrono::Duration {
    let ms = d.num_milliseconds() as f64 * factor;
    chrono::Duration::milliseconds(ms.max(1.0) as i64)
}

/// One process's dispatcher.
pub struct Dispatcher {
    agent: ureq::Agent,
    holder: String,
    settings: DeliverySettings,
    mailer: Option<Arc<Mailer>>,
}

impl Dispatcher {
    /// A dispatcher whose leases are held under a name unique to this process; it sends mail
    /// too when a `mailer` is given.
    pub fn new(settings: DeliverySettings, mailer: Option<Arc<Mailer>>) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(None)
            .user_agent("healthcare-webhooks")
            // Keep a connection for each delivery that can be in flight to one receiver (the
            // default of 3 reconnects most of a pass's deliveries to a busy receiver).
            .max_idle_connections_per_host(CONCURRENCY)
            .max_idle_connections(4 * CONCURRENCY)
            .build();
        Self {
            agent: ureq::Agent::with_parts(
                config,
                DefaultConnector::new(),
                PublicOnly::new(settings.allow_private),
            ),
            holder: format!(
                "dispatcher pid {} #{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            settings,
            mailer,
        }
    }

    /// One pass; returns how many messages and mails it leased. A leased message or mail whose
    /// turn comes when its lease has less than [`TIMEOUT`] left (a pass of many sends to slow
    /// receivers) is not attempted: its lease is given back, and it is due again at once, so
    /// no attempt outlives its lease and none is made twice at once.
    pub async fn pass(&self, db: &Arc<Database>) -> Result<usize, String> {
        let (holder, window) = (self.holder.clone(), self.settings.window());
        let mail = self.mailer.is_some();
        let start_by = Instant::now() + start_window();
        let (claimed, mails) = crate::tasks::write(db, move |c: &mut DbConnection| {
            outbox::fan_out(c, FAN_OUT_BATCH, window, mail)?;
            let claimed = outbox::claim(c, &holder, LEASE, BATCH)?;
            let mails = match mail {
                true => healthcare_persistence::mail::claim(c, &holder, LEASE, BATCH)?,
                false => Vec::new(),
            };
            Ok((claimed, mails))
        })
        .await?;
        if claimed.is_empty() && mails.is_empty() {
            return Ok(0);
        }
        let sends = claimed.iter().filter(|c| c.still_due).map(|c| {
            let (agent, c) = (self.agent.clone(), c.clone());
            web::block(move || (Instant::now() < start_by).then(|| send(&agent, &c)))
        });
        let mailings = mails.iter().filter(|m| m.still_due).map(|m| {
            let (mailer, m) = (self.mailer.clone(), m.clone());
            async move {
                if Instant::now() >= start_by {
                    return None;
                }
                let result = match mailer {
                    Some(mailer) => mailer.send(&m, Utc::now()).await,
                    None => Err("mail is off".to_owned()),
                };
                let ended: MailResult = (result.err().map(truncate), Utc::now());
                Some(ended)
            }
        });
        let (attempts, mailed) = futures_util::future::join(
            futures_util::stream::iter(sends)
                .buffered(CONCURRENCY)
                .collect::<Vec<_>>(),
            futures_util::stream::iter(mailings)
                .buffered(CONCURRENCY)
                .collect::<Vec<_>>(),
        )
        .await;
        let attempts: Vec<Option<Attempt>> =
            attempts.into_iter().map(|a| a.ok().flatten()).collect();
        let n = claimed.len() + mails.len();
        let (holder, settings) = (self.holder.clone(), self.settings);
        let record = move |c: &mut DbConnection| {
            // Every attempt's `export` event, recorded together at the end (one visit to the
            // chain's end, not one per attempt).
            let mut exports = Vec::with_capacity(n);
            let mut finished = Vec::with_capacity(claimed.len());
            let mut unsent = Vec::new();
            let mut attempts = attempts.iter();
            for claimed in &claimed {
                if !claimed.still_due {
                    outbox::drop_stale(c, &holder, claimed)?;
                    continue;
                }
                let Some(Some(attempt)) = attempts.next() else {
                    unsent.push(claimed.message);
                    continue;
                };
                finished.push((claimed, attempt, settings.delay(claimed.attempts + 1)));
                if let Some(patient) = claimed.patient {
                    exports.push(export_event(claimed, attempt, patient));
                }
            }
            outbox::finish_all(c, &holder, &finished)?;
            outbox::release(c, &holder, &unsent)?;
            let mut unmailed = Vec::new();
            let mut mailed = mailed.iter();
            for m in &mails {
                if !m.still_due {
                    healthcare_persistence::mail::drop_stale(c, &holder, m)?;
                    continue;
                }
                let Some(Some((error, at))) = mailed.next() else {
                    unmailed.push(m.message);
                    continue;
                };
                let delay = settings.delay(m.attempts + 1);
                healthcare_persistence::mail::finish(c, &holder, m, error.as_deref(), *at, delay)?;
                exports.push(mail_export_event(m, error.is_none(), *at));
            }
            healthcare_persistence::mail::release(c, &holder, &unmailed)?;
            if !exports.is_empty() {
                audit::record(c, &exports)?;
            }
            Ok::<usize, StoreError>(n)
        };
        crate::tasks::write(db, record).await
    }
}

/// How long after a pass leased its messages an attempt may still start: the lease less one
/// [`TIMEOUT`].
fn start_window() -> Duration {
    LEASE.to_std().unwrap_or(TIMEOUT).saturating_sub(TIMEOUT)
}

/// How one mail attempt ended: why the server did not take it (`None`: it did), and when.
type MailResult = (Option<String>, chrono::DateTime<Utc>);

/// The audit event of one mail attempt: an `export` of the patient's appointment by email
/// (status 250 when the SMTP server took it, 0 when not).
fn mail_export_event(
    mail: &ClaimedMail,
    accepted: bool,
    at: chrono::DateTime<Utc>,
) -> NewAuditEvent {
    let mut event = NewAuditEvent::new(
        Action::Export,
        Resource::Email,
        if accepted { 250 } else { 0 },
    );
    event.resource_id = Some(mail.appointment.id);
    event.patients = vec![mail.appointment.patient];
    event.request_id = mail.event_id.clone();
    event.query = format!(
        "type={}&audience={}",
        mail.kind.as_str(),
        mail.audience.as_str()
    );
    event.at = at;
    event
}

/// The audit event of one delivery: an `export` of the patient's data to the subscription.
fn export_event(claimed: &Claimed, attempt: &Attempt, patient: i64) -> NewAuditEvent {
    let mut event = NewAuditEvent::new(
        Action::Export,
        Resource::Webhook,
        attempt.status_code.unwrap_or(0),
    );
    event.resource_id = Some(claimed.webhook_id());
    event.patients = vec![patient];
    event.request_id = claimed.event_id.clone();
    event.query = format!("type={}", claimed.kind);
    event.at = attempt.at;
    event
}

/// POSTs one message, signed with every secret the subscription signs with now.
fn send(agent: &ureq::Agent, claimed: &Claimed) -> Attempt {
    let now = Utc::now();
    let timestamp = now.timestamp();
    let body = claimed.payload.as_bytes();
    let secrets = claimed.webhook.signing_secrets(now);
    let signature = signature_header(&secrets, &claimed.event_id, timestamp, body);
    let started = Instant::now();
    let answer = agent
        .post(claimed.webhook.url())
        .header("content-type", "application/json")
        .header("webhook-id", &claimed.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .send(body);
    let (status_code, error) = match answer {
        Ok(mut response) => {
            let status = response.status().as_u16();
            // The answer's body is not kept; reading a little of it lets the connection be
            // reused.
            let _ = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_vec();
            let error = (!(200..300).contains(&status)).then(|| format!("HTTP {status}"));
            (Some(status), error)
        }
        Err(e) => (None, Some(truncate(e.to_string()))),
    };
    Attempt {
        status_code,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        error,
        at: Utc::now(),
    }
}

fn truncate(mut text: String) -> String {
    if let Some((i, _)) = text.char_indices().nth(MAX_ERROR) {
        text.truncate(i);
    }
    text
}
