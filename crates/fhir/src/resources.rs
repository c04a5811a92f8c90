//! The FHIR R4 resources and data types the API serves, as far as it fills them: each field is
//! the R4 element of the same name (camelCase on the wire); empty ones are left out, as FHIR
//! requires.

use serde::Serialize;

/// A resource, tagged with its `resourceType` (top level and in a Bundle entry).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    /// A patient record.
    Patient(Patient),
    /// A doctor.
    Practitioner(Practitioner),
    /// An appointment.
    Appointment(Appointment),
    /// A doctor's bookable time.
    Schedule(Schedule),
    /// A free slot of a schedule.
    Slot(Slot),
    /// A search answer.
    Bundle(Bundle),
    /// An error (or warning) answer.
    OperationOutcome(OperationOutcome),
}

impl Resource {
    /// `Type/id` of a resource that has an id.
    pub fn reference(&self) -> Option<String> {
        let (kind, id) = match self {
            Self::Patient(r) => ("Patient", &r.id),
            Self::Practitioner(r) => ("Practitioner", &r.id),
            Self::Appointment(r) => ("Appointment", &r.id),
            Self::Schedule(r) => ("Schedule", &r.id),
            Self::Slot(r) => ("Slot", &r.id),
            Self::Bundle(_) | Self::OperationOutcome(_) => return None,
        };
        Some(format!("{kind}/{id}"))
    }
}

/// `Meta`: the version behind the resource's ETag and when it last changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The record's version (its `ETag` is `W/"<versionId>"`).
    pub version_id: String,
    /// An `instant`.
    pub last_updated: String,
}

/// `Identifier`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    /// The namespace (a URI).
    pub system: String,
    /// The value in it.
    pub value: String,
}

/// `HumanName`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HumanName {
    /// `official`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Given names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// `Dr.` for practitioners.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefix: Vec<String>,
}

/// `ContactPoint`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactPoint {
    /// `phone` or `email`.
    pub system: &'static str,
    /// The number or address.
    pub value: String,
}

/// `Address`, as free text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Address {
    /// The whole address.
    pub text: String,
}

/// `Coding`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coding {
    /// The code system (a URI).
    pub system: String,
    /// The code.
    pub code: String,
    /// Its display text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// `CodeableConcept`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeableConcept {
    /// Codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    /// A concept that is only text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            coding: Vec::new(),
            text: Some(text.into()),
        }
    }
}

/// `Reference` to another resource of this server (`Type/id`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    /// `Type/id`.
    pub reference: String,
}

impl Reference {
    /// A reference to `kind/id`.
    pub fn to(kind: &str, id: impl std::fmt::Display) -> Self {
        Self {
            reference: format!("{kind}/{id}"),
        }
    }
}

/// `Period`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// Start (a `dateTime`).
    pub start: String,
    /// End (a `dateTime`).
    pub end: String,
}

/// `Patient`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// The patient record's id.
    pub id: String,
    /// Version and last change.
    pub meta: Meta,
    /// Archived records are not served, so this is always true.
    pub active: bool,
    /// The official name.
    pub name: Vec<HumanName>,
    /// Phone and email.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// `male`, `female` or `other`.
    pub gender: &'static str,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// The postal address as text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
}

/// `Practitioner`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Practitioner {
    /// The doctor record's id.
    pub id: String,
    /// Version and last change.
    pub meta: Meta,
    /// The licence number.
    pub identifier: Vec<Identifier>,
    /// Archived records are not served, so this is always true.
    pub active: bool,
    /// The official name.
    pub name: Vec<HumanName>,
    /// Phone and email.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// The practice's address as text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
    /// The specialization.
    pub qualification: Vec<Qualification>,
}

/// `Practitioner.qualification`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qualification {
    /// The specialization's code.
    pub code: CodeableConcept,
}

/// `Appointment`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    /// The appointment's id.
    pub id: String,
    /// Version and last change.
    pub meta: Meta,
    /// `booked`, `pending`, `fulfilled`, `cancelled` or `noshow`.
    pub status: &'static str,
    /// Why it was cancelled (only for a cancelled appointment with a reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelation_reason: Option<CodeableConcept>,
    /// Why the patient comes (absent when no reason was given).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reason_code: Vec<CodeableConcept>,
    /// Start, an `instant` in UTC.
    pub start: String,
    /// End, an `instant` in UTC.
    pub end: String,
    /// Length in minutes.
    pub minutes_duration: i32,
    /// When it was booked (a `dateTime`).
    pub created: String,
    /// The patient and the practitioner.
    pub participant: Vec<Participant>,
}

/// `Appointment.participant`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Participant {
    /// `Patient/<id>` or `Practitioner/<id>`.
    pub actor: Reference,
    /// `required`.
    pub required: &'static str,
    /// `accepted`, or `tentative` for a hold.
    pub status: &'static str,
}

/// `Schedule`: a doctor's bookable time (one per doctor, with the doctor's id).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// The doctor record's id.
    pub id: String,
    /// Always true.
    pub active: bool,
    /// The specialization.
    pub service_type: Vec<CodeableConcept>,
    /// `Practitioner/<id>`.
    pub actor: Vec<Reference>,
    /// What it holds.
    pub comment: String,
}

/// `Slot`: a free slot of a schedule (computed, never stored).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slot {
    /// `<doctor id>-<start as YYYYMMDDHHMM in UTC>`.
    pub id: String,
    /// `Schedule/<doctor id>`.
    pub schedule: Reference,
    /// Always `free` (busy time is not served as slots).
    pub status: &'static str,
    /// An `instant` in UTC.
    pub start: String,
    /// An `instant` in UTC.
    pub end: String,
}

/// `Bundle` of type `searchset`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bundle {
    /// `searchset`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Matches in the whole search (all pages).
    pub total: i64,
    /// `self`, and `next` / `previous` when there are such pages.
    pub link: Vec<BundleLink>,
    /// This page's matches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
}

/// `Bundle.link`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BundleLink {
    /// `self`, `next` or `previous`.
    pub relation: &'static str,
    /// An absolute URL.
    pub url: String,
}

/// `Bundle.entry`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// The resource's absolute URL.
    pub full_url: String,
    /// The resource.
    pub resource: Resource,
    /// `match`.
    pub search: EntrySearch,
}

/// `Bundle.entry.search`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntrySearch {
    /// `match`.
    pub mode: &'static str,
}

/// `OperationOutcome`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperationOutcome {
    /// One issue per message.
    pub issue: Vec<Issue>,
}

/// `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// `error` (or `fatal` for a server fault).
    pub severity: &'static str,
    /// The IssueType code (`invalid`, `not-found`, `conflict`, ...).
    pub code: &'static str,
    /// The message, as the REST API words it.
    pub diagnostics: String,
    /// The element it is about (`Appointment.start`), when known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

impl OperationOutcome {
    /// The IssueType code for an HTTP error status.
    pub fn code_for(status: u16) -> &'static str {
        match status {
            400 => "invalid",
            401 => "login",
            403 => "forbidden",
            404 => "not-found",
            405 | 406 | 415 => "not-supported",
            408 => "timeout",
            409 | 412 => "conflict",
            413 => "too-costly",
            422 | 428 => "business-rule",
            429 => "throttled",
            503 => "transient",
            _ => "exception",
        }
    }

    /// An outcome of `status` with one issue per `(element, message)`.
    pub fn of(status: u16, messages: impl IntoIterator<Item = (Option<String>, String)>) -> Self {
        let severity = if status >= 500 { "fatal" } else { "error" };
        let code = Self::code_for(status);
        let mut issue: Vec<Issue> = messages
            .into_iter()
            .map(|(element, diagnostics)| Issue {
                severity,
                code,
                diagnostics,
                expression: element.into_iter().collect(),
            })
            .collect();
        if issue.is_empty() {
            issue.push(Issue {
                severity,
                code,
                diagnostics: format!("HTTP {status}"),
                expression: Vec::new(),
            });
        }
        Self { issue }
    }
}
