//! Email notifications (docs/notifications.md, "Email"): a leased mail of the outbox
//! (`healthcare_persistence::mail`) becomes a plain-text message with the appointment as an
//! iCalendar attachment (`METHOD:REQUEST`, or `CANCEL` for a cancellation), sent over SMTP by
//! `lettre` on the executor, the whole exchange within the dispatcher's [`TIMEOUT`]. Mails
//! carry no reason and no medical history, and no patient name in the doctor's copy; times are
//! shown in the doctor's working-hours zone, else `HEALTHCARE_TIMEZONE`.

use crate::dispatch::TIMEOUT;
use crate::ical;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use healthcare_domain::EventType;
use healthcare_persistence::mail::{Audience, ClaimedMail};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The SMTP transport a [`Mailer`] sends through.
pub type SmtpTransport = AsyncSmtpTransport<Tokio1Executor>;

/// The SMTP transport of `url`: `smtp://host[:port]` (port 25, STARTTLS when the server offers
/// it) or `smtps://host[:port]` (TLS from the start, port 465), with `user:password@` when the
/// server wants a login. `extra_roots` (PEM certificates, [`SmtpRoots`]) are trusted for the server's certificate
/// besides the Web PKI roots.
pub fn transport(url: &str, extra_roots: Option<&SmtpRoots>) -> Result<SmtpTransport, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let Some(host) = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
    else {
        return Err("the SMTP URL names no host".into());
    };
    match parsed.scheme() {
        "smtp" => {
            if parsed.port().is_none() {
                parsed
                    .set_port(Some(25))
                    .map_err(|()| "the SMTP URL cannot take a port".to_owned())?;
            }
            if !parsed.query_pairs().any(|(k, _)| k == "tls") {
                parsed.query_pairs_mut().append_pair("tls", "opportunistic");
            }
        }
        "smtps" => {}
        other => return Err(format!("scheme {other:?} is not smtp or smtps")),
    }
    let mut builder = SmtpTransport::from_url(parsed.as_str())
        .map_err(|e| format!("SMTP URL: {e}"))?
        .timeout(Some(TIMEOUT));
    if let Some(roots) = extra_roots {
        // The same TLS mode `from_url` chose, with the extra roots in its parameters.
        let mode = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let parameters = roots
            .certificates()
            .into_iter()
            .fold(TlsParameters::builder(host), |b, c| {
                b.add_root_certificate(c)
            })
            .build()
            .map_err(|e| format!("SMTP TLS: {e}"))?;
        builder = builder.tls(match (parsed.scheme(), mode.as_deref()) {
            ("smtps", _) => Tls::Wrapper(parameters),
            (_, Some("required")) => Tls::Required(parameters),
            _ => Tls::Opportunistic(parameters),
        });
    }
    Ok(builder.build())
}

/// Certificates the mailer trusts for the SMTP server besides the Web PKI roots (a private
/// relay's own CA, `HEALTHCARE_SMTP_CA_FILE`): PEM, at least one certificate.
#[derive(Clone)]
pub struct SmtpRoots(Vec<u8>);

impl SmtpRoots {
    /// Reads a PEM file of one or more certificates.
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let roots = Self(pem);
        match roots.certificates().len() {
            0 => Err(format!("{}: no PEM certificate in it", path.display())),
            _ => Ok(roots),
        }
    }

    /// Its certificates, one by one (a PEM block each; a block that is not a certificate is
    /// left out).
    fn certificates(&self) -> Vec<Certificate> {
        let text = String::from_utf8_lossy(&self.0);
        text.split_inclusive("-----END CERTIFICATE-----")
            .filter(|block| block.contains("-----BEGIN CERTIFICATE-----"))
            .filter_map(|block| Certificate::from_pem(block.as_bytes()).ok())
            .collect()
    }
}

impl std::fmt::Debug for SmtpRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpRoots({} certificates)", self.certificates().len())
    }
}

/// Sends the mails of one process.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    zone: Tz,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer sending through `url` from `from`, showing times in `zone` when the doctor has
    /// no working hours.
    pub fn new(
        url: &str,
        extra_roots: Option<&SmtpRoots>,
        from: &str,
        zone: Tz,
    ) -> Result<Self, String> {
        Ok(Self {
            transport: transport(url, extra_roots)?,
            from: from
                .parse()
                .map_err(|e| format!("HEALTHCARE_MAIL_FROM: {e}"))?,
            zone,
        })
    }

    /// Sends one mail, the whole SMTP exchange (connect, greeting, TLS, every command and the
    /// message) within [`TIMEOUT`], as a webhook delivery: an exchange still running then is
    /// dropped, its connection closed, and the attempt counts as failed, so a slow server cannot
    /// hold an attempt past its lease (`crate::dispatch::LEASE`; SMTP's own per-command
    /// timeouts, RFC 5321, are minutes each). Runs on a Tokio executor with time and I/O, as
    /// the server's. `Err` says why the server did not take it.
    pub async fn send(&self, mail: &ClaimedMail, now: DateTime<Utc>) -> Result<(), String> {
        let message = self.compose(mail, now)?;
        match actix_web::rt::time::timeout(TIMEOUT, self.transport.send(message)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the SMTP exchange did not end within {} s",
                TIMEOUT.as_secs()
            )),
        }
    }

    /// The message of `mail`, as it goes out at `now`.
    pub fn compose(&self, mail: &ClaimedMail, now: DateTime<Utc>) -> Result<Message, String> {
        let a = &mail.appointment;
        let zone = mail
            .doctor_zone
            .as_deref()
            .and_then(|z| z.parse::<Tz>().ok())
            .unwrap_or(self.zone);
        let local = a.appointment_datetime.with_timezone(&zone);
        let when = format!(
            "{} ({})",
            local.format("%A %-d %B %Y at %H:%M"),
            zone.name()
        );
        let doctor = format!("Dr. {} {}", mail.doctor_name.0, mail.doctor_name.1);
        let minutes = (a.end_datetime - a.appointment_datetime).num_minutes();
        let (subject, news) = match (mail.kind, mail.audience) {
            (EventType::AppointmentCancelled, Audience::Patient) => (
                "Appointment cancelled",
                format!("Your appointment with {doctor} on {when} has been cancelled."),
            ),
            (EventType::AppointmentCancelled, Audience::Doctor) => (
                "Appointment cancelled",
                format!("Appointment {} on {when} has been cancelled.", a.id),
            ),
            (EventType::AppointmentRescheduled, Audience::Patient) => (
                "Appointment moved",
                format!("Your appointment with {doctor} is now on {when}, for {minutes} minutes."),
            ),
            (EventType::AppointmentRescheduled, Audience::Doctor) => (
                "Appointment moved",
                format!("Appointment {} is now on {when}, for {minutes} minutes.", a.id),
            ),
            (EventType::AppointmentReminder, Audience::Patient) => (
                "Appointment reminder",
                format!("A reminder: your appointment with {doctor} is on {when}, for {minutes} minutes."),
            ),
            (EventType::AppointmentReminder, Audience::Doctor) => (
                "Appointment reminder",
                format!("A reminder: appointment {} is on {when}, for {minutes} minutes.", a.id),
            ),
            (_, Audience::Patient) => (
                "Appointment confirmed",
                format!("Your appointment with {doctor} on {when} is booked, for {minutes} minutes."),
            ),
            (_, Audience::Doctor) => (
                "Appointment booked",
                format!("Appointment {} on {when} is booked in your calendar, for {minutes} minutes.", a.id),
            ),
        };
        let body = format!(
            "{news}\n\nAppointment number: {}\nThe attached calendar entry adds it to your calendar.\n",
            a.id
        );
        let cancelled = mail.kind == EventType::AppointmentCancelled;
        let summary = match mail.audience {
            Audience::Patient => format!("Appointment with Dr. {}", mail.doctor_name.1),
            Audience::Doctor => "Appointment".to_owned(),
        };
        let domain = self.from.email.domain().to_owned();
        let organizer = self.from.email.to_string();
        let event = ical::Event {
            uid: ical::uid(a.id, &domain),
            sequence: i64::from(mail.sequence),
            stamp: now,
            start: a.appointment_datetime,
            end: a.end_datetime,
            status: if cancelled {
                ical::Status::Cancelled
            } else {
                ical::Status::Confirmed
            },
            summary: &summary,
            organizer: Some(&organizer),
            attendee: Some(&mail.recipient),
        };
        let method = if cancelled {
            ical::Method::Cancel
        } else {
            ical::Method::Request
        };
        let calendar = ical::calendar(Some(method), &[event]);
        let method_name = if cancelled { "CANCEL" } else { "REQUEST" };
        let calendar_type = ContentType::parse(&format!(
            "text/calendar; charset=utf-8; method={method_name}"
        ))
        .map_err(|e| e.to_string())?;
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| format!("recipient {:?}: {e}", mail.recipient))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("{subject}: {when}"))
            .multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(body))
                    .singlepart(
                        Attachment::new("appointment.ics".to_owned()).body(calendar, calendar_type),
                    ),
            )
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_checked_and_default_to_starttls_on_port_25() {
        assert!(transport("smtp://127.0.0.1:2525", None).is_ok());
        assert!(transport("smtp://user:secret@mail.example", None).is_ok());
        assert!(transport("smtps://mail.example", None).is_ok());
        assert!(transport("http://mail.example", None).is_err());
        assert!(transport("smtp://", None).is_err());
        assert!(transport("not a url", None).is_err());
    }
}
