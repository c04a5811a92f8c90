//! Domain records as FHIR R4 resources (the mapping table of docs/fhir.md).
//!
//! What is left out on purpose: a patient's `medical_history` (clinical notes are not part of
//! the `Patient` resource), the accounts that own or booked records, and a hold's
//! `expires_at`.

use crate::resources::{
    Address, Appointment, CodeableConcept, Coding, ContactPoint, HumanName, Identifier, Meta,
    Participant, Patient, Practitioner, Qualification, Reference, Schedule, Slot,
};
use chrono::{DateTime, SecondsFormat, Utc};
use healthcare_domain::{AppointmentStatus, Gender, Specialization};

/// The code system of the doctors' specializations (the API's own codes).
pub const SPECIALIZATION_SYSTEM: &str = "urn:healthcare:specialization";

/// The identifier system of the doctors' licence numbers.
pub const LICENSE_SYSTEM: &str = "urn:healthcare:license-number";

/// A FHIR `instant` (UTC, `Z`, fractional seconds only when there are any).
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn meta(version: i64, updated: DateTime<Utc>) -> Meta {
    Meta {
        version_id: version.to_string(),
        last_updated: instant(updated),
    }
}

fn name(first: &str, last: &str, prefix: Option<&str>) -> HumanName {
    HumanName {
        use_: "official",
        family: Some(last.to_owned()).filter(|s| !s.is_empty()),
        given: Some(first.to_owned())
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect(),
        prefix: prefix.map(str::to_owned).into_iter().collect(),
    }
}

fn telecom(phone: &str, email: &str) -> Vec<ContactPoint> {
    [("phone", phone), ("email", email)]
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(system, value)| ContactPoint {
            system,
            value: value.to_owned(),
        })
        .collect()
}

fn address(text: &str) -> Vec<Address> {
    Some(text)
        .filter(|t| !t.trim().is_empty())
        .map(|t| Address { text: t.to_owned() })
        .into_iter()
        .collect()
}

/// FHIR's administrative gender of a patient's gender code.
pub fn gender(g: Gender) -> &'static str {
    match g {
        Gender::Male => "male",
        Gender::Female => "female",
        Gender::Other => "other",
    }
}

/// The display text of a specialization code.
pub fn specialization_display(s: Specialization) -> &'static str {
    match s {
        Specialization::GeneralPractice => "General practice",
        Specialization::Cardiology => "Cardiology",
        Specialization::Neurology => "Neurology",
        Specialization::Pediatrics => "Pediatrics",
        Specialization::Orthopedics => "Orthopedics",
        Specialization::Dermatology => "Dermatology",
        Specialization::Psychiatry => "Psychiatry",
        Specialization::Radiology => "Radiology",
        Specialization::Surgery => "Surgery",
        Specialization::Other => "Other",
    }
}

fn specialization(s: Specialization) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: SPECIALIZATION_SYSTEM.to_owned(),
            code: s.as_str().to_owned(),
            display: Some(specialization_display(s).to_owned()),
        }],
        text: Some(specialization_display(s).to_owned()),
    }
}

/// The FHIR `Appointment.status` of a status (EXPIRED holds read as `cancelled`).
pub fn status(s: AppointmentStatus) -> &'static str {
    match s {
        AppointmentStatus::Scheduled => "booked",
        AppointmentStatus::Pending => "pending",
        AppointmentStatus::Completed => "fulfilled",
        AppointmentStatus::Cancelled | AppointmentStatus::Expired => "cancelled",
        AppointmentStatus::NoShow => "noshow",
    }
}

/// The statuses a FHIR `Appointment.status` code stands for (`cancelled`: cancelled and
/// expired holds); `None` for a code the server never serves.
pub fn statuses_of(code: &str) -> Option<&'static [AppointmentStatus]> {
    Some(match code {
        "booked" => &[AppointmentStatus::Scheduled],
        "pending" => &[AppointmentStatus::Pending],
        "fulfilled" => &[AppointmentStatus::Completed],
        "cancelled" => &[AppointmentStatus::Cancelled, AppointmentStatus::Expired],
        "noshow" => &[AppointmentStatus::NoShow],
        // Valid R4 codes the server never gives an appointment: they match nothing.
        "proposed" | "arrived" | "entered-in-error" | "checked-in" | "waitlist" => &[],
        _ => return None,
    })
}

/// A patient record as a `Patient`.
pub fn patient(p: &healthcare_domain::Patient) -> Patient {
    Patient {
        id: p.id.to_string(),
        meta: meta(p.version, p.updated_at),
        active: true,
        name: vec![name(&p.first_name, &p.last_name, None)],
        telecom: telecom(&p.contact_number, &p.email),
        gender: gender(p.gender),
        birth_date: p.date_of_birth.format("%Y-%m-%d").to_string(),
        address: address(&p.address),
    }
}

/// A doctor record as a `Practitioner`.
pub fn practitioner(d: &healthcare_domain::Doctor) -> Practitioner {
    Practitioner {
        id: d.id.to_string(),
        meta: meta(d.version, d.updated_at),
        identifier: vec![Identifier {
            system: LICENSE_SYSTEM.to_owned(),
            value: d.license_number.clone(),
        }],
        active: true,
        name: vec![name(&d.first_name, &d.last_name, Some("Dr."))],
        telecom: telecom(&d.contact_number, &d.email),
        address: address(&d.address),
        qualification: vec![Qualification {
            code: specialization(d.specialization),
        }],
    }
}

/// A doctor's `Schedule` (its id is the doctor's).
pub fn schedule(d: &healthcare_domain::Doctor) -> Schedule {
    Schedule {
        id: d.id.to_string(),
        active: true,
        service_type: vec![specialization(d.specialization)],
        actor: vec![Reference::to("Practitioner", d.id)],
        comment: format!(
            "Working hours of Dr. {} {}, less time off and booked time",
            d.first_name, d.last_name
        ),
    }
}

/// A free slot of a doctor's schedule.
pub fn slot(doctor: healthcare_domain::DoctorId, start: DateTime<Utc>, end: DateTime<Utc>) -> Slot {
    Slot {
        id: format!("{doctor}-{}", start.format("%Y%m%d%H%M")),
        schedule: Reference::to("Schedule", doctor),
        status: "free",
        start: instant(start),
        end: instant(end),
    }
}

/// An appointment as an `Appointment`.
pub fn appointment(a: &healthcare_domain::Appointment) -> Appointment {
    let participant_status = match a.status {
        AppointmentStatus::Pending => "tentative",
        _ => "accepted",
    };
    let participant = |kind: &str, id: i64| Participant {
        actor: Reference::to(kind, id),
        required: "required",
        status: participant_status,
    };
    Appointment {
        id: a.id.to_string(),
        meta: meta(a.version, a.updated_at),
        status: status(a.status),
        cancelation_reason: Some(a.cancellation_reason.trim())
            .filter(|r| !r.is_empty() && a.status == AppointmentStatus::Cancelled)
            .map(CodeableConcept::text),
        reason_code: Some(a.reason.trim())
            .filter(|r| !r.is_empty())
            .map(|r| vec![CodeableConcept::text(r)])
            .unwrap_or_default(),
        start: instant(a.appointment_datetime),
        end: instant(a.end_datetime),
        minutes_duration: a.duration_minutes,
        created: instant(a.created_at),
        participant: vec![
            participant("Patient", a.patient.0),
            participant("Practitioner", a.doctor.0),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_code_that_finds_it_again() {
        for s in AppointmentStatus::ALL {
            let found = statuses_of(status(*s)).unwrap_or_default();
            assert!(found.contains(s), "{s:?}");
        }
        assert_eq!(statuses_of("nonsense"), None);
        assert_eq!(statuses_of("proposed"), Some(&[][..]));
    }

    #[test]
    fn instants_are_utc_with_seconds() {
        let t = DateTime::from_timestamp(1_765_000_000, 0).unwrap_or_default();
        assert_eq!(instant(t), "2025-12-06T05:46:40Z");
        let t = DateTime::from_timestamp(1_765_000_000, 250_000_000).unwrap_or_default();
        assert_eq!(instant(t), "2025-12-06T05:46:40.250Z");
    }
}
