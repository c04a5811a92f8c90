//! Validated inputs: what a create or a partial update may contain, parsed from a request body
//! ("parse, don't validate": a value of these types is already known to be valid).

use crate::enums::{AppointmentStatus, Gender, Role, Specialization};
use crate::errors::FieldErrors;
use crate::ids::{DoctorId, PatientId, UserId};
use crate::raw::{Mode, RawObject, Reader};
use chrono::{DateTime, NaiveDate, Utc};

/// Longest free-text field (reasons, addresses) in characters.
pub const MAX_NOTE: usize = 1000;
/// Longest medical history in characters.
pub const MAX_HISTORY: usize = 10_000;
/// Shortest appointment, minutes.
pub const MIN_DURATION: i64 = 5;
/// Longest appointment, minutes.
pub const MAX_DURATION: i64 = 480;
/// Duration when none is given, minutes (the seed's fixed slot).
pub const DEFAULT_DURATION: i64 = 30;
/// Longest given or family name in characters.
pub const MAX_NAME: usize = 100;
/// Longest doctor's licence number in characters.
pub const MAX_LICENSE: usize = 50;
/// Longest hospital name in characters.
pub const MAX_HOSPITAL: usize = 200;
/// Longest phone number in characters.
pub const MAX_PHONE: usize = crate::raw::MAX_PHONE;
/// Longest email address in characters.
pub const MAX_EMAIL: usize = crate::raw::MAX_EMAIL;
/// Fewest years of experience.
pub const MIN_EXPERIENCE: i64 = 0;
/// Most years of experience.
pub const MAX_EXPERIENCE: i64 = 80;
/// The longest buffer a doctor may keep before or after an appointment, in minutes.
pub const MAX_BUFFER_MINUTES: i64 = 120;
/// Longest username in characters.
pub const MAX_USERNAME: usize = 150;
/// Longest password (or other secret) read from a body, in characters, before any policy.
pub const MAX_SECRET: usize = 128;
/// Fewest characters of a new password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most bytes of a new password (bcrypt ignores what follows them, so longer ones are refused).
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Longest refresh token in characters.
pub const MAX_REFRESH_TOKEN: usize = 4096;

fn earliest_birth() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

fn check_birth(r: &mut Reader<'_>, today: NaiveDate) -> Option<NaiveDate> {
    let d = r.date("date_of_birth")?;
    if d > today {
        r.errors
            .add("date_of_birth", "Date of birth cannot be in the future.");
        None
    } else if d < earliest_birth() {
        r.errors.add(
            "date_of_birth",
            "Date of birth cannot be before 1900-01-01.",
        );
        None
    } else {
        Some(d)
    }
}

fn check_start(r: &mut Reader<'_>) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    let d = r.datetime("appointment_datetime")?;
    if !crate::raw::year_accepted(d.year()) {
        r.errors.add(
            "appointment_datetime",
            "Appointment date must be between 1900 and 2199.",
        );
        return None;
    }
    // Appointments are kept to the second.
    Some(d - chrono::Duration::nanoseconds(i64::from(d.timestamp_subsec_nanos())))
}

fn opt_pk<T: From<i64>>(r: &mut Reader<'_>, name: &str) -> Option<Option<T>> {
    r.pk(name, false, true).map(|o| o.map(T::from))
}

fn pk<T: From<i64>>(r: &mut Reader<'_>, name: &str) -> Option<T> {
    r.pk(name, true, false).flatten().map(T::from)
}

/// A new patient record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = PatientCreate, example = json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1990-12-10", "gender": "F", "contact_number": "+44 20 1234", "email": "ada@example.org", "address": "London"}))
)]
pub struct NewPatient {
    /// Given name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub first_name: String,
    /// Family name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub last_name: String,
    /// Date of birth (1900-01-01 ..= today).
    pub date_of_birth: NaiveDate,
    /// Gender code.
    pub gender: Gender,
    /// Phone number.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::phone))]
    pub contact_number: String,
    /// Email ("" for none).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_email, required = false))]
    pub email: String,
    /// Address.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note, required = false))]
    pub address: String,
    /// Medical history.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::history, required = false))]
    pub medical_history: String,
    /// Owning account (admin and staff only); never required.
    pub user: Option<UserId>,
}

/// Changes to a patient record: a field left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = PatientUpdate, example = json!({"contact_number": "+44 20 5678"}))
)]
pub struct PatientChanges {
    /// Given name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub first_name: Option<String>,
    /// Family name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub last_name: Option<String>,
    /// Date of birth.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub date_of_birth: Option<NaiveDate>,
    /// Gender.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub gender: Option<Gender>,
    /// Phone number.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::phone))]
    pub contact_number: Option<String>,
    /// Email.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_email))]
    pub email: Option<String>,
    /// Address.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note))]
    pub address: Option<String>,
    /// Medical history.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::history))]
    pub medical_history: Option<String>,
    /// Owning account (admin and staff only); null unlinks.
    pub user: Option<Option<UserId>>,
}

struct PatientFields {
    first_name: Option<String>,
    last_name: Option<String>,
    date_of_birth: Option<NaiveDate>,
    gender: Option<Gender>,
    contact_number: Option<String>,
    email: Option<String>,
    address: Option<String>,
    medical_history: Option<String>,
    user: Option<Option<UserId>>,
}

fn read_patient(r: &mut Reader<'_>, today: NaiveDate) -> PatientFields {
    PatientFields {
        first_name: r.text("first_name", MAX_NAME),
        last_name: r.text("last_name", MAX_NAME),
        date_of_birth: check_birth(r, today),
        gender: r.choice("gender"),
        contact_number: r.phone("contact_number"),
        email: r.optional_email("email"),
        address: r.optional_text("address", MAX_NOTE),
        medical_history: r.optional_text("medical_history", MAX_HISTORY),
        user: opt_pk(r, "user"),
    }
}

/// A buffer in minutes (0 when left out of a new record).
fn buffer(r: &mut Reader<'_>, name: &str) -> Option<i32> {
    r.int_in(name, 0, MAX_BUFFER_MINUTES, Some(0))
        .and_then(|n| i32::try_from(n).ok())
}

impl NewPatient {
    /// Parses a create body; `today` bounds the date of birth.
    pub fn parse(body: &RawObject, today: NaiveDate) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let f = read_patient(&mut r, today);
        match (
            f.first_name,
            f.last_name,
            f.date_of_birth,
            f.gender,
            f.contact_number,
        ) {
            (
                Some(first_name),
                Some(last_name),
                Some(date_of_birth),
                Some(gender),
                Some(contact_number),
            ) if r.errors.is_empty() => Ok(Self {
                first_name,
                last_name,
                date_of_birth,
                gender,
                contact_number,
                email: f.email.unwrap_or_default(),
                address: f.address.unwrap_or_default(),
                medical_history: f.medical_history.unwrap_or_default(),
                user: f.user.flatten(),
            }),
            _ => Err(r.errors),
        }
    }
}

impl PatientChanges {
    /// Parses a partial-update body.
    pub fn parse(body: &RawObject, today: NaiveDate) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Patch);
        let f = read_patient(&mut r, today);
        r.finish(|| Self {
            first_name: f.first_name,
            last_name: f.last_name,
            date_of_birth: f.date_of_birth,
            gender: f.gender,
            contact_number: f.contact_number,
            email: f.email,
            address: f.address,
            medical_history: f.medical_history,
            user: f.user,
        })
    }
}

/// A new doctor record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = DoctorCreate, example = json!({"first_name": "Gregory", "last_name": "House", "specialization": "GP", "contact_number": "555 0100", "email": "house@example.org", "license_number": "LIC-1", "hospital": "PPTH", "experience_years": 12}))
)]
pub struct NewDoctor {
    /// Given name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub first_name: String,
    /// Family name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub last_name: String,
    /// Specialization.
    pub specialization: Specialization,
    /// Phone number.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::phone))]
    pub contact_number: String,
    /// Email ("" for none).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_email, required = false))]
    pub email: String,
    /// Licence number (unique).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::license_number))]
    pub license_number: String,
    /// Hospital.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::hospital))]
    pub hospital: String,
    /// Address.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note, required = false))]
    pub address: String,
    /// Years of experience (0-80).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::experience_years, required = false))]
    pub experience_years: i32,
    /// The doctor's own login account (a `doctor` account); never required.
    pub user: Option<UserId>,
    /// Minutes kept free before each appointment (0-120).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::buffer_minutes, required = false))]
    pub buffer_before_minutes: i32,
    /// Minutes kept free after each appointment (0-120).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::buffer_minutes, required = false))]
    pub buffer_after_minutes: i32,
}

/// Changes to a doctor record: a field left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = DoctorUpdate, example = json!({"hospital": "Princeton-Plainsboro"}))
)]
pub struct DoctorChanges {
    /// Given name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub first_name: Option<String>,
    /// Family name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::name))]
    pub last_name: Option<String>,
    /// Specialization.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub specialization: Option<Specialization>,
    /// Phone number.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::phone))]
    pub contact_number: Option<String>,
    /// Email.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_email))]
    pub email: Option<String>,
    /// Licence number.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::license_number))]
    pub license_number: Option<String>,
    /// Hospital.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::hospital))]
    pub hospital: Option<String>,
    /// Address.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note))]
    pub address: Option<String>,
    /// Years of experience.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::experience_change))]
    pub experience_years: Option<i32>,
    /// The doctor's own login account (a `doctor` account); null unlinks.
    pub user: Option<Option<UserId>>,
    /// Minutes kept free before each appointment booked from now on.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::buffer_change))]
    pub buffer_before_minutes: Option<i32>,
    /// Minutes kept free after each appointment booked from now on.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::buffer_change))]
    pub buffer_after_minutes: Option<i32>,
}

impl DoctorChanges {
    /// Parses a partial-update body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Patch);
        let c = read_doctor(&mut r);
        r.finish(|| c)
    }
}

fn read_doctor(r: &mut Reader<'_>) -> DoctorChanges {
    DoctorChanges {
        first_name: r.text("first_name", MAX_NAME),
        last_name: r.text("last_name", MAX_NAME),
        specialization: r.choice("specialization"),
        contact_number: r.phone("contact_number"),
        email: r.optional_email("email"),
        license_number: r.text("license_number", MAX_LICENSE),
        hospital: r.text("hospital", MAX_HOSPITAL),
        address: r.optional_text("address", MAX_NOTE),
        experience_years: r
            .int_in(
                "experience_years",
                MIN_EXPERIENCE,
                MAX_EXPERIENCE,
                Some(MIN_EXPERIENCE),
            )
            .map(|n| n as i32),
        user: opt_pk(r, "user"),
        buffer_before_minutes: buffer(r, "buffer_before_minutes"),
        buffer_after_minutes: buffer(r, "buffer_after_minutes"),
    }
}

impl NewDoctor {
    /// Parses a create body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let c = read_doctor(&mut r);
        match c {
            DoctorChanges {
                first_name: Some(first_name),
                last_name: Some(last_name),
                specialization: Some(specialization),
                contact_number: Some(contact_number),
                email,
                license_number: Some(license_number),
                hospital: Some(hospital),
                address,
                experience_years,
                user,
                buffer_before_minutes,
                buffer_after_minutes,
            } if r.errors.is_empty() => Ok(Self {
                first_name,
                last_name,
                specialization,
                contact_number,
                email: email.unwrap_or_default(),
                license_number,
                hospital,
                address: address.unwrap_or_default(),
                experience_years: experience_years.unwrap_or(0),
                user: user.flatten(),
                buffer_before_minutes: buffer_before_minutes.unwrap_or(0),
                buffer_after_minutes: buffer_after_minutes.unwrap_or(0),
            }),
            _ => Err(r.errors),
        }
    }
}

/// A new doctor-patient mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = MappingCreate, example = json!({"doctor": 1, "patient": 1, "reason_for_assignment": "", "is_active": true}))
)]
pub struct NewMapping {
    /// The doctor.
    pub doctor: DoctorId,
    /// The patient.
    pub patient: PatientId,
    /// Why.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note, required = false))]
    pub reason_for_assignment: String,
    /// Active (default true).
    #[cfg_attr(feature = "openapi", schema(default = true, required = false))]
    pub is_active: bool,
}

impl NewMapping {
    /// Parses a create body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let doctor = pk(&mut r, "doctor");
        let patient = pk(&mut r, "patient");
        let reason = r.optional_text("reason_for_assignment", MAX_NOTE);
        let active = r.boolean("is_active", true);
        match (doctor, patient, reason, active) {
            (Some(doctor), Some(patient), Some(reason_for_assignment), Some(is_active))
                if r.errors.is_empty() =>
            {
                Ok(Self {
                    doctor,
                    patient,
                    reason_for_assignment,
                    is_active,
                })
            }
            _ => Err(r.errors),
        }
    }
}

/// Changes to a mapping (its doctor and patient are fixed once made).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = MappingUpdate, example = json!({"is_active": false}))
)]
pub struct MappingChanges {
    /// Why.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note))]
    pub reason_for_assignment: Option<String>,
    /// Active.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub is_active: Option<bool>,
}

impl MappingChanges {
    /// Parses a partial-update body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Patch);
        for fixed in ["doctor", "patient"] {
            if r.has(fixed) {
                r.errors.add(
                    fixed,
                    "This field cannot be changed; deactivate the mapping and create a new one.",
                );
            }
        }
        let reason_for_assignment = r.optional_text("reason_for_assignment", MAX_NOTE);
        let is_active = r.boolean("is_active", true);
        r.finish(|| Self {
            reason_for_assignment,
            is_active,
        })
    }
}

/// A new appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = AppointmentCreate, example = json!({"doctor": 1, "patient": 1, "appointment_datetime": "2025-12-20T10:30:00Z", "reason": "Routine follow-up"}))
)]
pub struct NewAppointment {
    /// The doctor.
    pub doctor: DoctorId,
    /// The patient.
    pub patient: PatientId,
    /// Start: a date-time with an offset or `Z` (seconds optional), years 1900-2199; kept to
    /// the second, in UTC.
    #[cfg_attr(feature = "openapi", schema(rename = "appointment_datetime"))]
    pub start: DateTime<Utc>,
    /// Minutes (5-480).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::duration_minutes, required = false))]
    pub duration_minutes: i32,
    /// Why.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note, required = false))]
    pub reason: String,
    /// The status it starts in: `SCHEDULED`, or `PENDING` for a hold.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_status, required = false))]
    pub status: AppointmentStatus,
}

impl NewAppointment {
    /// End of the appointment.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::minutes(i64::from(self.duration_minutes))
    }

    /// Parses a create body. A `status`, when given, must be `SCHEDULED` or `PENDING` (a hold).
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let doctor = pk(&mut r, "doctor");
        let patient = pk(&mut r, "patient");
        let start = check_start(&mut r);
        let duration = r.int_in(
            "duration_minutes",
            MIN_DURATION,
            MAX_DURATION,
            Some(DEFAULT_DURATION),
        );
        let reason = r.optional_text("reason", MAX_NOTE);
        let status = if r.has("status") {
            r.choice::<AppointmentStatus>("status").filter(|s| {
                let allowed =
                    matches!(s, AppointmentStatus::Scheduled | AppointmentStatus::Pending);
                if !allowed {
                    r.errors
                        .add("status", "A new appointment must be SCHEDULED or PENDING.");
                }
                allowed
            })
        } else {
            Some(AppointmentStatus::Scheduled)
        };
        match (doctor, patient, start, duration, reason, status) {
            (Some(doctor), Some(patient), Some(start), Some(d), Some(reason), Some(status))
                if r.errors.is_empty() =>
            {
                Ok(Self {
                    doctor,
                    patient,
                    start,
                    duration_minutes: d as i32,
                    reason,
                    status,
                })
            }
            _ => Err(r.errors),
        }
    }
}

/// Changes to an appointment: a field left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = AppointmentUpdate, example = json!({"status": "CANCELLED"}))
)]
pub struct AppointmentChanges {
    /// Move to another doctor.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub doctor: Option<DoctorId>,
    /// Move to another patient.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub patient: Option<PatientId>,
    /// New start, as `appointment_datetime` on create.
    #[cfg_attr(
        feature = "openapi",
        schema(rename = "appointment_datetime", nullable = false)
    )]
    pub start: Option<DateTime<Utc>>,
    /// New length.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::duration_change))]
    pub duration_minutes: Option<i32>,
    /// New reason.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note))]
    pub reason: Option<String>,
    /// New status.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::changed_status))]
    pub status: Option<AppointmentStatus>,
    /// Why it was cancelled.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::note))]
    pub cancellation_reason: Option<String>,
}

impl AppointmentChanges {
    /// Parses a partial-update body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Patch);
        let doctor = if r.has("doctor") {
            pk(&mut r, "doctor")
        } else {
            None
        };
        let patient = if r.has("patient") {
            pk(&mut r, "patient")
        } else {
            None
        };
        let start = if r.has("appointment_datetime") {
            check_start(&mut r)
        } else {
            None
        };
        let duration_minutes = r
            .int_in("duration_minutes", MIN_DURATION, MAX_DURATION, None)
            .map(|n| n as i32);
        let reason = r.optional_text("reason", MAX_NOTE);
        let status = if r.has("status") {
            r.choice("status")
        } else {
            None
        };
        let cancellation_reason = r.optional_text("cancellation_reason", MAX_NOTE);
        r.finish(|| Self {
            doctor,
            patient,
            start,
            duration_minutes,
            reason,
            status,
            cancellation_reason,
        })
    }

    /// Whether the change moves the appointment in time or to other people
    /// (what the no-double-booking rule must check again).
    pub fn moves(&self) -> bool {
        self.doctor.is_some()
            || self.patient.is_some()
            || self.start.is_some()
            || self.duration_minutes.is_some()
    }
}

/// A new account created by an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = UserCreate, example = json!({"username": "alice", "email": "alice@example.org", "password": "correct horse battery"}))
)]
pub struct NewUser {
    /// Login name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::username))]
    pub username: String,
    /// Email ("" for none).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_email, required = false))]
    pub email: String,
    /// Plain-text password (hashed before storage; checked by the auth policy).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_password))]
    pub password: String,
    /// Role asked for (only admins may choose one).
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub role: Option<Role>,
}

fn read_username(r: &mut Reader<'_>) -> Option<String> {
    let name = r.text("username", MAX_USERNAME)?;
    let allowed = |text: &str| {
        text.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '@' | '.' | '+' | '-' | '_'))
    };
    // A letter written as a base letter and a combining mark (`e` + U+0301) is the letter
    // (`é`): the characters are also read composed (NFC).
    let composed = icu_normalizer::ComposingNormalizer::new_nfc().normalize(&name);
    if allowed(&name) || allowed(&composed) {
        if let Some(alphabets) = crate::username::mixed_scripts(&name) {
            r.errors.add(
                "username",
                crate::username::mixed_scripts_message(&alphabets),
            );
            return None;
        }
        Some(name)
    } else {
        r.errors.add(
            "username",
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
        );
        None
    }
}

fn read_password(r: &mut Reader<'_>, required: bool) -> Option<String> {
    if !required && !r.has("password") {
        return None;
    }
    r.text("password", MAX_SECRET)?;
    // Passwords are not trimmed: every character counts.
    r.raw_str("password").map(str::to_owned)
}

impl NewUser {
    /// Parses an admin's user-creation body (`role` optional).
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let account = read_account(&mut r);
        let role = if r.has("role") {
            r.choice("role")
        } else {
            None
        };
        match account {
            Some(Registration {
                username,
                email,
                password,
            }) if r.errors.is_empty() => Ok(Self {
                username,
                email,
                password,
                role,
            }),
            _ => Err(r.errors),
        }
    }
}

fn read_account(r: &mut Reader<'_>) -> Option<Registration> {
    let username = read_username(r);
    let email = r.optional_email("email");
    let password = read_password(r, true);
    Some(Registration {
        username: username?,
        email: email?,
        password: password?,
    })
}

/// A self-registration: the account's name, email and password (the server picks the role; a
/// `role` in the body is not read).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = Register, example = json!({"username": "alice", "email": "alice@example.org", "password": "correct horse battery"}))
)]
pub struct Registration {
    /// Login name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::username))]
    pub username: String,
    /// Email ("" for none).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_email, required = false))]
    pub email: String,
    /// Plain-text password (hashed before storage; checked by the auth policy).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_password))]
    pub password: String,
}

impl Registration {
    /// Parses a registration body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        match read_account(&mut r) {
            Some(account) if r.errors.is_empty() => Ok(account),
            _ => Err(r.errors),
        }
    }
}

/// Changes an admin makes to an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = UserUpdate, example = json!({"is_active": false}))
)]
pub struct UserChanges {
    /// Email.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::optional_email))]
    pub email: Option<String>,
    /// Role.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub role: Option<Role>,
    /// Active.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub is_active: Option<bool>,
    /// New password.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_password))]
    pub password: Option<String>,
}

impl UserChanges {
    /// Parses a partial-update body.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Patch);
        let email = r.optional_email("email");
        let role = if r.has("role") {
            r.choice("role")
        } else {
            None
        };
        let is_active = r.boolean("is_active", true);
        let password = read_password(&mut r, false);
        r.finish(|| Self {
            email,
            role,
            is_active,
            password,
        })
    }
}

/// A login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = TokenObtain, example = json!({"username": "your_username", "password": "your_password"}))
)]
pub struct Credentials {
    /// Login name.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::login_name))]
    pub username: String,
    /// Password.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::secret))]
    pub password: String,
}

impl Credentials {
    /// Parses `{username, password}`.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let username = r.text("username", MAX_USERNAME);
        let password = read_password(&mut r, true);
        match (username, password) {
            (Some(username), Some(password)) if r.errors.is_empty() => {
                Ok(Self { username, password })
            }
            _ => Err(r.errors),
        }
    }
}

/// A body carrying one refresh token: `{refresh}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = TokenRefresh)
)]
pub struct RefreshRequest {
    /// The refresh token.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::refresh_token))]
    pub refresh: String,
}

impl RefreshRequest {
    /// Parses `{refresh}`.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let refresh = r.text("refresh", MAX_REFRESH_TOKEN);
        r.finish(|| ()).and_then(|()| {
            refresh
                .map(|refresh| Self { refresh })
                .ok_or_else(|| FieldErrors::single("refresh", crate::errors::msg::REQUIRED))
        })
    }
}

/// A user's own password change: `{old_password, new_password}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::secret))]
    pub old_password: String,
    /// The new password (checked by the auth crate's password policy).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::new_password))]
    pub new_password: String,
}

impl PasswordChange {
    /// Parses `{old_password, new_password}`; both required, neither trimmed.
    pub fn parse(body: &RawObject) -> Result<Self, FieldErrors> {
        let mut r = Reader::new(body, Mode::Create);
        let mut secret = |name: &str| {
            r.text(name, MAX_SECRET)?;
            r.raw_str(name).map(str::to_owned)
        };
        let old_password = secret("old_password");
        let new_password = secret("new_password");
        match (old_password, new_password) {
            (Some(old_password), Some(new_password)) if r.errors.is_empty() => Ok(Self {
                old_password,
                new_password,
            }),
            _ => Err(r.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::Raw;

    fn s(v: &str) -> Raw {
        Raw::Str(v.to_owned())
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 1).unwrap_or_default()
    }

    #[test]
    fn patient_create_reports_every_field() {
        let body = RawObject::from_pairs([
            ("first_name", s("  ")),
            ("date_of_birth", s("2030-01-01")),
            ("gender", s("X")),
            ("contact_number", s("12ab")),
            ("email", s("nope")),
        ]);
        let e = NewPatient::parse(&body, today()).err().unwrap_or_default();
        assert_eq!(e.messages("first_name"), ["This field may not be blank."]);
        assert_eq!(e.messages("last_name"), ["This field is required."]);
        assert_eq!(
            e.messages("date_of_birth"),
            ["Date of birth cannot be in the future."]
        );
        assert_eq!(e.messages("gender"), ["\"X\" is not a valid choice."]);
        assert!(e.has("contact_number"));
        assert_eq!(e.messages("email"), ["Enter a valid email address."]);
    }

    #[test]
    fn patient_create_accepts_the_seed_shape() {
        let body = RawObject::from_pairs([
            ("first_name", s("Ada")),
            ("last_name", s("Lovelace")),
            ("date_of_birth", s("1990-12-10")),
            ("gender", s("F")),
            ("contact_number", s("+44 (20) 1234")),
            ("address", s("London")),
        ]);
        let p = NewPatient::parse(&body, today());
        assert_eq!(
            p.map(|p| (p.gender, p.email)),
            Ok((Gender::Female, String::new()))
        );
    }

    #[test]
    fn appointment_defaults_and_bounds() {
        let ok = RawObject::from_pairs([
            ("doctor", Raw::Int(1)),
            ("patient", s("2")),
            ("appointment_datetime", s("2025-12-20T10:30:00.750+01:00")),
        ]);
        let a = NewAppointment::parse(&ok).map_err(|e| e.to_string());
        let a = a
            .as_ref()
            .map(|a| (a.duration_minutes, a.start.to_rfc3339(), a.patient));
        assert_eq!(
            a,
            Ok((30, "2025-12-20T09:30:00+00:00".to_owned(), PatientId(2)))
        );
        let bad = RawObject::from_pairs([
            ("doctor", s("x")),
            ("patient", Raw::Array(Vec::new())),
            ("appointment_datetime", s("2025-12-20T10:30:00")),
            ("duration_minutes", Raw::Int(481)),
            ("status", s("COMPLETED")),
        ]);
        let e = NewAppointment::parse(&bad).err().unwrap_or_default();
        assert_eq!(
            e.messages("doctor"),
            ["Incorrect type. Expected pk value, received str."]
        );
        assert_eq!(
            e.messages("patient"),
            ["Incorrect type. Expected pk value, received list."]
        );
        assert!(e.has("appointment_datetime"));
        assert_eq!(
            e.messages("duration_minutes"),
            ["Ensure this value is less than or equal to 480."]
        );
        assert!(e.has("status"));
    }

    #[test]
    fn doctor_experience_defaults_to_zero_and_is_bounded() {
        let mut pairs = vec![
            ("first_name", s("Gregory")),
            ("last_name", s("House")),
            ("specialization", s("GP")),
            ("contact_number", s("555 0100")),
            ("email", s("house@example.org")),
            ("license_number", s("LIC-1")),
            ("hospital", s("PPTH")),
        ];
        let d = NewDoctor::parse(&RawObject::from_pairs(pairs.clone()));
        assert_eq!(d.map(|d| d.experience_years), Ok(0));
        pairs.push(("experience_years", Raw::Int(-1)));
        assert!(NewDoctor::parse(&RawObject::from_pairs(pairs)).is_err());
    }

    #[test]
    fn optional_fields_may_be_absent_or_blank() {
        // The seed's `EmailField(blank=True)` and blank addresses: absent, "" and null are "".
        let doctor = |extra: Vec<(&'static str, Raw)>| {
            let mut pairs = vec![
                ("first_name", s("Gregory")),
                ("last_name", s("House")),
                ("specialization", s("GP")),
                ("contact_number", s("555 0100")),
                ("license_number", s("LIC-1")),
                ("hospital", s("PPTH")),
            ];
            pairs.extend(extra);
            NewDoctor::parse(&RawObject::from_pairs(pairs)).map(|d| (d.email, d.address, d.user))
        };
        let none = Ok((String::new(), String::new(), None));
        assert_eq!(doctor(vec![]), none);
        assert_eq!(doctor(vec![("email", s("")), ("address", s(""))]), none);
        assert_eq!(
            doctor(vec![("email", Raw::Null), ("address", s("  "))]),
            none
        );
        let bad = doctor(vec![("email", s("nope"))]).err().unwrap_or_default();
        assert_eq!(bad.messages("email"), ["Enter a valid email address."]);
        let patient = RawObject::from_pairs([
            ("first_name", s("Ada")),
            ("last_name", s("Lovelace")),
            ("date_of_birth", s("1990-12-10")),
            ("gender", s("F")),
            ("contact_number", s("1234")),
            ("email", s("")),
            ("address", s("")),
            ("medical_history", s("")),
        ]);
        assert_eq!(
            NewPatient::parse(&patient, today()).map(|p| (
                p.email,
                p.address,
                p.medical_history,
                p.user
            )),
            Ok((String::new(), String::new(), String::new(), None))
        );
        // Updates may blank them too; absent fields stay unchanged.
        let blank = RawObject::from_pairs([("email", s("")), ("address", s(""))]);
        let d = DoctorChanges::parse(&blank);
        assert_eq!(
            d.map(|d| (d.email, d.address, d.hospital)),
            Ok((Some(String::new()), Some(String::new()), None))
        );
        let blank = RawObject::from_pairs([("email", s("")), ("medical_history", s(""))]);
        let p = PatientChanges::parse(&blank, today());
        assert_eq!(
            p.map(|p| (p.email, p.medical_history, p.address)),
            Ok((Some(String::new()), Some(String::new()), None))
        );
    }

    #[test]
    fn usernames_and_passwords() {
        let body = RawObject::from_pairs([
            ("username", s("bad name")),
            ("password", s(" spaced secret ")),
        ]);
        let e = NewUser::parse(&body).err().unwrap_or_default();
        assert!(e.has("username"));
        let body =
            RawObject::from_pairs([("username", s("alice")), ("password", s(" spaced secret "))]);
        assert_eq!(
            NewUser::parse(&body).map(|u| u.password),
            Ok(" spaced secret ".to_owned())
        );
    }

    #[test]
    fn usernames_with_combining_marks_are_read_composed() {
        let parsed = |name: &str| {
            NewUser::parse(&RawObject::from_pairs([
                ("username", s(name)),
                ("password", s("correct horse battery")),
            ]))
        };
        // `e` + COMBINING ACUTE ACCENT is `é`, accepted as `é` is.
        assert!(parsed("rene\u{301}").is_ok());
        assert!(parsed("ren\u{e9}").is_ok());
        // A combining mark no letter takes in composed form stays refused.
        assert!(parsed("x\u{301}").is_err());
        assert!(parsed("\u{301}").is_err());
    }

    #[test]
    fn usernames_mixing_scripts_are_refused_at_creation_only() {
        // "pаypal" with U+0430 CYRILLIC SMALL LETTER A.
        let body = |name: &str| {
            RawObject::from_pairs([("username", s(name)), ("password", s("long secret 1"))])
        };
        let e = NewUser::parse(&body("p\u{430}ypal"))
            .err()
            .unwrap_or_default();
        assert_eq!(
            e.messages("username"),
            ["Enter a valid username. This value may not mix letters of different scripts (Latin and Cyrillic)."]
        );
        assert!(NewUser::parse(&body("g\u{3BF}\u{3BF}gle")).is_err());
        for name in ["Иван", "Σοφία", "山田", "ＡＤＭＩＮ", "a.b+c-d_e@f1"] {
            assert_eq!(
                NewUser::parse(&body(name)).map(|u| u.username),
                Ok(name.to_owned())
            );
        }
        // A login is only looked up: a mixed name parses and then matches no account.
        assert!(Credentials::parse(&body("p\u{430}ypal")).is_ok());
    }
}
