//! A FHIR `Appointment` sent to `POST Appointment` as the booking the REST API would take:
//! the resource is read into the REST create body and parsed by
//! [`NewAppointment::parse`], so both doors apply the same rules.
//!
//! What is malformed (not JSON, not an `Appointment`, an element of the wrong type, a missing
//! required element, an unknown code) is a [`Refusal::Malformed`] (400); what is well-formed
//! but breaks a rule of this server (a status other than `booked` / `pending`, not exactly one
//! patient and one practitioner, no end, a time in the past, outside working hours, ...) is a
//! [`Refusal::Rule`] (422). Errors are keyed by the element they are about
//! (`Appointment.start`).

use chrono::{DateTime, Utc};
use healthcare_domain::{parse_datetime, FieldErrors, NewAppointment, Raw, RawObject};

/// Why a FHIR `Appointment` cannot be booked.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not a well-formed R4 `Appointment` (400).
    Malformed(FieldErrors),
    /// Well-formed, but against a rule of the server (422).
    Rule(FieldErrors),
}

/// Errors keyed by the REST create body's fields, keyed by the FHIR elements they come from.
pub fn elements(errors: &FieldErrors) -> FieldErrors {
    let mut keyed = FieldErrors::new();
    for (field, messages) in errors.as_map() {
        for m in messages {
            keyed.add(element_of(field), m.clone());
        }
    }
    keyed
}

/// The element of a FHIR `Appointment` a field of the REST create body comes from.
fn element_of(field: &str) -> &str {
    match field {
        "doctor" | "patient" => "Appointment.participant",
        "appointment_datetime" => "Appointment.start",
        "duration_minutes" => "Appointment.end",
        "reason" => "Appointment.description",
        "status" => "Appointment.status",
        other => other,
    }
}

fn text<'a>(body: &'a RawObject, name: &str, errors: &mut FieldErrors) -> Option<&'a str> {
    match body.0.get(name) {
        None | Some(Raw::Null) => None,
        Some(Raw::Str(s)) => Some(s),
        Some(other) => {
            errors.add(
                &format!("Appointment.{name}"),
                format!("Expected a string, received {}.", other.type_name()),
            );
            None
        }
    }
}

fn instant(value: &str, element: &str, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
    let parsed = parse_datetime(value);
    if parsed.is_none() {
        errors.add(
            element,
            format!("\"{value}\" is not a FHIR instant (2026-12-08T09:30:00Z)."),
        );
    }
    parsed
}

/// The patient and practitioner ids of `participant`, as far as they are well-formed.
fn participants(body: &RawObject, errors: &mut FieldErrors) -> (Vec<i64>, Vec<i64>, Vec<String>) {
    const ELEMENT: &str = "Appointment.participant";
    let (mut patients, mut practitioners, mut others) = (Vec::new(), Vec::new(), Vec::new());
    let list = match body.0.get("participant") {
        None | Some(Raw::Null) => {
            errors.add(ELEMENT, "This element is required (R4: 1..*).");
            return (patients, practitioners, others);
        }
        Some(Raw::Array(list)) => list,
        Some(other) => {
            errors.add(
                ELEMENT,
                format!("Expected an array, received {}.", other.type_name()),
            );
            return (patients, practitioners, others);
        }
    };
    for p in list {
        let reference = match p {
            Raw::Object(p) => match p.0.get("actor") {
                Some(Raw::Object(actor)) => match actor.0.get("reference") {
                    Some(Raw::Str(r)) => Some(r.trim()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        let Some(reference) = reference else {
            errors.add(
                ELEMENT,
                "Each participant needs an actor with a reference (Patient/<id> or Practitioner/<id>).",
            );
            continue;
        };
        let tail = reference.rsplit('/').take(2).collect::<Vec<_>>();
        let id = tail
            .first()
            .and_then(|id| healthcare_domain::ids::parse_record_id(id));
        match (tail.get(1).copied(), id) {
            (Some("Patient"), Some(id)) => patients.push(id),
            (Some("Practitioner"), Some(id)) => practitioners.push(id),
            (Some("Patient" | "Practitioner"), None) => errors.add(
                ELEMENT,
                format!("\"{reference}\" does not name a resource of this server."),
            ),
            _ => others.push(reference.to_owned()),
        }
    }
    (patients, practitioners, others)
}

/// Reads a FHIR `Appointment` as a booking.
pub fn parse(body: &RawObject) -> Result<NewAppointment, Refusal> {
    let mut malformed = FieldErrors::new();
    match body.0.get("resourceType") {
        Some(Raw::Str(t)) if t == "Appointment" => {}
        Some(Raw::Str(t)) => malformed.add(
            "resourceType",
            format!("Expected an Appointment, received a {t}."),
        ),
        _ => malformed.add(
            "resourceType",
            "The resourceType \"Appointment\" is required.",
        ),
    }
    let status = text(body, "status", &mut malformed);
    let start = text(body, "start", &mut malformed)
        .and_then(|s| instant(s, "Appointment.start", &mut malformed));
    let end = text(body, "end", &mut malformed)
        .and_then(|s| instant(s, "Appointment.end", &mut malformed));
    let description = text(body, "description", &mut malformed);
    let minutes = match body.0.get("minutesDuration") {
        None | Some(Raw::Null) => None,
        Some(Raw::Int(n)) if *n > 0 => Some(*n),
        Some(_) => {
            malformed.add(
                "Appointment.minutesDuration",
                "Expected a positive whole number of minutes.",
            );
            None
        }
    };
    let reasons: Vec<&str> = match body.0.get("reasonCode") {
        Some(Raw::Array(list)) => list
            .iter()
            .filter_map(|c| match c {
                Raw::Object(c) => match c.0.get("text") {
                    Some(Raw::Str(t)) => Some(t.as_str()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        None | Some(Raw::Null) => Vec::new(),
        Some(other) => {
            malformed.add(
                "Appointment.reasonCode",
                format!("Expected an array, received {}.", other.type_name()),
            );
            Vec::new()
        }
    };
    let (patients, practitioners, others) = participants(body, &mut malformed);
    let status = match status {
        None => {
            malformed.add("Appointment.status", "This element is required (R4: 1..1).");
            None
        }
        Some("booked") => Some("SCHEDULED"),
        Some("pending") => Some("PENDING"),
        Some(
            code @ ("proposed" | "arrived" | "fulfilled" | "cancelled" | "noshow"
            | "entered-in-error" | "checked-in" | "waitlist"),
        ) => {
            return refuse_rule(
                malformed,
                "Appointment.status",
                format!("A new appointment must be booked or pending, not {code}."),
            )
        }
        Some(other) => {
            malformed.add(
                "Appointment.status",
                format!("\"{other}\" is not an AppointmentStatus code."),
            );
            None
        }
    };
    if start.is_none() && !malformed.has("Appointment.start") {
        malformed.add("Appointment.start", "A booking needs its start.");
    }
    if !malformed.is_empty() {
        return Err(Refusal::Malformed(malformed));
    }
    let mut rule = FieldErrors::new();
    if patients.len() != 1 || practitioners.len() != 1 || !others.is_empty() {
        rule.add(
            "Appointment.participant",
            "A booking has exactly one Patient and one Practitioner participant, and no other.",
        );
    }
    let minutes = match (start, end, minutes) {
        (Some(s), Some(e), given) => {
            let span = e - s;
            let whole = span.num_minutes();
            if span != chrono::Duration::minutes(whole) || whole <= 0 {
                rule.add(
                    "Appointment.end",
                    "The end must come a whole number of minutes after the start.",
                );
            } else if given.is_some_and(|m| m != whole) {
                rule.add(
                    "Appointment.minutesDuration",
                    "minutesDuration must match the time from start to end.",
                );
            }
            Some(whole)
        }
        (_, None, Some(m)) => Some(m),
        (_, None, None) => {
            rule.add(
                "Appointment.end",
                "A booking needs its end or minutesDuration.",
            );
            None
        }
        (None, Some(_), _) => None,
    };
    if !rule.is_empty() {
        return Err(Refusal::Rule(rule));
    }
    let reason = description
        .map(str::to_owned)
        .unwrap_or_else(|| reasons.join("; "));
    let rest = RawObject::from_pairs([
        ("doctor", Raw::Int(practitioners[0])),
        ("patient", Raw::Int(patients[0])),
        (
            "appointment_datetime",
            Raw::Str(body_str(body, "start").to_owned()),
        ),
        ("duration_minutes", Raw::Int(minutes.unwrap_or_default())),
        ("reason", Raw::Str(reason)),
        ("status", Raw::Str(status.unwrap_or("SCHEDULED").to_owned())),
    ]);
    NewAppointment::parse(&rest).map_err(|errors| Refusal::Rule(elements(&errors)))
}

fn body_str<'a>(body: &'a RawObject, name: &str) -> &'a str {
    match body.0.get(name) {
        Some(Raw::Str(s)) => s,
        _ => "",
    }
}

fn refuse_rule(
    malformed: FieldErrors,
    element: &str,
    message: String,
) -> Result<NewAppointment, Refusal> {
    if malformed.is_empty() {
        Err(Refusal::Rule(FieldErrors::single(element, message)))
    } else {
        Err(Refusal::Malformed(malformed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> RawObject {
        serde_json::from_str(json).unwrap_or_default()
    }

    const GOOD: &str = r#"{"resourceType": "Appointment", "status": "booked",
        "start": "2126-12-08T09:30:00Z", "end": "2126-12-08T10:15:00Z",
        "description": "Check-up",
        "participant": [{"actor": {"reference": "Patient/4"}, "status": "accepted"},
                        {"actor": {"reference": "Practitioner/2"}, "status": "accepted"}]}"#;

    #[test]
    fn a_booked_appointment_is_the_rest_booking() {
        let a = parse(&body(GOOD)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(a.doctor.0, 2);
        assert_eq!(a.patient.0, 4);
        assert_eq!(a.duration_minutes, 45);
        assert_eq!(a.reason, "Check-up");
        assert_eq!(a.status, healthcare_domain::AppointmentStatus::Scheduled);
    }

    #[test]
    fn malformed_is_400_and_rules_are_422() {
        let malformed = [
            r#"{"resourceType": "Patient"}"#,
            r#"{"resourceType": "Appointment", "status": "booked", "start": 5, "participant": []}"#,
            r#"{"resourceType": "Appointment", "status": "nonsense", "start": "2126-12-08T09:30:00Z", "minutesDuration": 30, "participant": []}"#,
            r#"{"resourceType": "Appointment", "start": "2126-12-08T09:30:00Z", "minutesDuration": 30, "participant": []}"#,
            r#"{"resourceType": "Appointment", "status": "booked", "start": "tomorrow", "minutesDuration": 30, "participant": []}"#,
            r#"{"resourceType": "Appointment", "status": "booked", "start": "2126-12-08T09:30:00Z", "minutesDuration": 30}"#,
            r#"{"resourceType": "Appointment", "status": "booked", "start": "2126-12-08T09:30:00Z", "minutesDuration": "30", "participant": []}"#,
        ];
        for m in malformed {
            assert!(matches!(parse(&body(m)), Err(Refusal::Malformed(_))), "{m}");
        }
        let rules = [
            GOOD.replace("booked", "fulfilled"),
            GOOD.replace("Practitioner/2", "Patient/5"),
            GOOD.replace("Practitioner/2", "Location/1"),
            GOOD.replace("10:15:00Z", "09:30:00Z"),
            GOOD.replace("10:15:00Z", "10:15:30Z"),
            GOOD.replace(r#""end": "2126-12-08T10:15:00Z","#, ""),
            GOOD.replace(
                r#""end": "2126-12-08T10:15:00Z","#,
                r#""minutesDuration": 600,"#,
            ),
            GOOD.replace(
                r#""end": "2126-12-08T10:15:00Z","#,
                r#""end": "2126-12-08T10:15:00Z", "minutesDuration": 30,"#,
            ),
        ];
        for r in &rules {
            match parse(&body(r)) {
                Err(Refusal::Rule(e)) => assert!(
                    e.as_map().keys().all(|k| k.starts_with("Appointment.")),
                    "{e:?}"
                ),
                other => panic!("{r}: {other:?}"),
            }
        }
    }
}
