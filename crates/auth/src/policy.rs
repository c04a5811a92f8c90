//! The role policy (docs/api.md "Roles"), in one place.
//!
//! Three questions, asked by the API for every request:
//!
//! 1. [`scope`]: *which rows may this caller see?* Persistence turns the answer into a WHERE
//!    clause, so a record outside the scope is simply not found (404), and ids cannot be probed.
//! 2. [`authorize`]: *may this caller do this action on this (visible) kind of record?* A
//!    refusal is [`Denied::Forbidden`] (403) for a record the caller can see, and
//!    [`Denied::NotFound`] (404) for a record-level action on a kind the caller can never see
//!    (a doctor account not linked to any Doctor record has nothing clinical to act on).
//! 3. The finer rules: *may this caller make this particular change?* Asked with the parsed
//!    body in hand, after [`authorize`] allowed the action.
//!
//! The table ([`authorize`]):
//!
//! | role | patients | doctors | mappings | appointments | users |
//! |---|---|---|---|---|---|
//! | admin | all | all | all | all | all |
//! | staff | all | all | all | all | 403 |
//! | doctor | list, read | list, read; update own profile | list, read | list, read, update | 403 |
//! | patient | all (own records) | list, read | list, read, create | list, read, create, update | 403 |
//!
//! `/api/users/` answers 403, not 404, to everyone but admins: the endpoint's existence is
//! public (it is in the OpenAPI document), and no user id is revealed by a 403 that any id gets.
//!
//! The finer rules, as the API answers them (`—`: [`authorize`] already refused the action;
//! 400s carry a field-keyed message, [`Denied::Invalid`]):
//!
//! | rule | function | admin | staff | doctor | patient |
//! |---|---|---|---|---|---|
//! | book an appointment starting in the past | [`create_appointment`] | yes | yes | — (403) | 400 `appointment_datetime` [`msg::PAST_BOOKING`] |
//! | move an appointment's start into the past | [`update_appointment`] | yes | yes | 400 `appointment_datetime` [`msg::PAST_BOOKING`] | 400 `appointment_datetime` [`msg::PAST_BOOKING`] |
//! | move an appointment to another doctor or patient | [`update_appointment`] | yes | yes | 403 | 403 |
//! | set an appointment's status | `healthcare_scheduling::settable_by` | COMPLETED, CANCELLED, NO_SHOW | same | same | CANCELLED (others 403) |
//! | change a doctor's licence number or account link | [`update_doctor`] | yes | yes | 403 (own profile) | — (403) |
//! | change a doctor's other fields | [`update_doctor`] | yes | yes | own profile | — (403) |
//! | owner of a patient record created | [`owner_of_new_patient`] | the `user` sent | the `user` sent | — (403) | the caller |
//! | change a patient's owning account (`user`) | [`update_patient`] | yes | yes | — (403) | 400 `user` [`msg::OWNER_CHANGE`] |
//! | re-create a mapping someone else deactivated | [`may_reactivate_any_mapping`] | yes | yes | — (403) | 403 (only their own deactivations) |
//! | deactivate or demote one's own account | [`update_user`] | 400 `non_field_errors` [`msg::SELF_DEMOTION`] | — (403) | — (403) | — (403) |
//! | role of an account created without one | [`role_of_new_account`] | patient | — (403) | — (403) | — (403) |
//! | read the audit trail | [`read_audit_trail`] | yes | 403 | 403 | 403 |
//! | read a visible patient record's access log | [`read_access_log`] | yes | yes | 403 | own records (others 404) |
//!
//! A doctor account not linked to any Doctor record answers as a doctor, except that record-level
//! actions on patients, mappings and appointments are 404. The whole of both tables is pinned by
//! one test, `the_whole_table`. Account roles themselves are set elsewhere: the first account
//! registered becomes admin and every later one a patient (`healthcare_persistence::users::register`,
//! inside the registration's transaction).

use chrono::{DateTime, Utc};
use healthcare_domain::{
    AppointmentChanges, DoctorChanges, DoctorId, NewAppointment, PatientChanges, Role, Scope,
    UserChanges, UserId, NON_FIELD_ERRORS,
};

/// The authenticated caller, as the policy needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The caller's account.
    pub user: UserId,
    /// The caller's current role (read from the database, not trusted from the token).
    pub role: Role,
    /// For a doctor-role account: the Doctor record linked to it, if any.
    pub doctor: Option<DoctorId>,
}

/// The kinds of record the API manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/api/patients/`.
    Patient,
    /// `/api/doctors/`.
    Doctor,
    /// `/api/mappings/`.
    Mapping,
    /// `/api/appointments/`.
    Appointment,
    /// `/api/users/`.
    User,
}

impl ResourceKind {
    /// Every kind.
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::Patient,
        ResourceKind::Doctor,
        ResourceKind::Mapping,
        ResourceKind::Appointment,
        ResourceKind::User,
    ];
}

/// What the caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `GET` on the collection.
    List,
    /// `GET` on one record.
    Read,
    /// `POST` on the collection (for appointments: book).
    Create,
    /// `PATCH` on one record (for appointments: reschedule, change status, cancel).
    Update,
    /// `DELETE` on one record (archive; for mappings: deactivate).
    Archive,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::List,
        Action::Read,
        Action::Create,
        Action::Update,
        Action::Archive,
    ];

    /// Whether the action is on one existing record (as opposed to the collection).
    pub const fn is_record_level(self) -> bool {
        matches!(self, Action::Read | Action::Update | Action::Archive)
    }
}

/// The record acted on, with the facts the policy needs about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A patient (or the patient collection).
    Patient,
    /// A doctor (or the collection: `linked_user: None`).
    Doctor {
        /// The doctor record's own login account (its `user` field).
        linked_user: Option<UserId>,
    },
    /// A doctor-patient mapping.
    Mapping,
    /// An appointment.
    Appointment,
    /// A user account.
    User,
    /// A webhook subscription (admin only, like accounts).
    Webhook,
}

impl Target {
    /// The kind of record.
    pub const fn kind(&self) -> ResourceKind {
        match self {
            Target::Patient => ResourceKind::Patient,
            Target::Doctor { .. } => ResourceKind::Doctor,
            Target::Mapping => ResourceKind::Mapping,
            Target::Appointment => ResourceKind::Appointment,
            // Admin-only records: the same kind (and scope) as accounts.
            Target::User | Target::Webhook => ResourceKind::User,
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The caller may never see such a record: answer 404.
    #[error("Not found.")]
    NotFound,
    /// The caller sees the record but may not do this: answer 403.
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    /// The caller may do the action, but not with this value: answer 400 with `message` on
    /// `field` (`{"field": ["message"]}`).
    #[error("{message}")]
    Invalid {
        /// The field the message is keyed by (`non_field_errors` for the request as a whole).
        field: &'static str,
        /// The message, as the API words it ([`msg`]).
        message: &'static str,
    },
}

/// The messages of the finer rules' 400s ([`Denied::Invalid`]).
pub mod msg {
    /// A doctor or patient booking (or moving) an appointment to a start before now.
    pub const PAST_BOOKING: &str = "Only clinic staff may book appointments in the past.";
    /// A patient setting the owning account of a patient record.
    pub const OWNER_CHANGE: &str = "Only clinic staff may change the owning account.";
    /// An admin deactivating their own account or giving it another role.
    pub const SELF_DEMOTION: &str = "Admins cannot deactivate or demote themselves.";
}

/// Which rows of `resource` the caller may see.
///
/// Admin and staff: every row (users: admin only). Doctor: their own patients (active mapping
/// or appointment), mappings and appointments, or nothing when the account is not linked to a
/// Doctor record. Patient: the patients they own and those patients' mappings and
/// appointments. Everyone: the whole doctors directory. Users: nobody but admins.
pub fn scope(actor: &Actor, resource: ResourceKind) -> Scope {
    match (actor.role, resource) {
        (Role::Admin, _) => Scope::All,
        (_, ResourceKind::User) => Scope::Nothing,
        (Role::Staff, _) | (_, ResourceKind::Doctor) => Scope::All,
        (
            Role::Doctor,
            ResourceKind::Patient | ResourceKind::Mapping | ResourceKind::Appointment,
        ) => actor.doctor.map_or(Scope::Nothing, Scope::DoctorOf),
        (
            Role::Patient,
            ResourceKind::Patient | ResourceKind::Mapping | ResourceKind::Appointment,
        ) => Scope::OwnedBy(actor.user),
    }
}

/// Whether `actor` may do `action` on `target` (see the module documentation for the
/// table). For record-level actions, call it after the record was found within [`scope`].
pub fn authorize(actor: &Actor, action: Action, target: &Target) -> Result<(), Denied> {
    use Action::{Archive, Create, List, Read, Update};
    let kind = target.kind();
    if action.is_record_level()
        && kind != ResourceKind::User
        && scope(actor, kind) == Scope::Nothing
    {
        return Err(Denied::NotFound);
    }
    let allowed = match (actor.role, target) {
        (Role::Admin, _) => true,
        (_, Target::User | Target::Webhook) => false,
        (Role::Staff, _) => true,
        (Role::Doctor, Target::Patient | Target::Mapping) => matches!(action, List | Read),
        (Role::Doctor, Target::Doctor { linked_user }) => match action {
            List | Read => true,
            Update => *linked_user == Some(actor.user),
            Create | Archive => false,
        },
        (Role::Doctor, Target::Appointment) => matches!(action, List | Read | Update),
        (Role::Patient, Target::Patient) => true,
        (Role::Patient, Target::Doctor { .. }) => matches!(action, List | Read),
        (Role::Patient, Target::Mapping) => matches!(action, List | Read | Create),
        (Role::Patient, Target::Appointment) => matches!(action, List | Read | Create | Update),
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Forbidden)
    }
}

/// Whether `actor` may read the whole audit trail (`GET /api/audit/`): admins only (403).
pub fn read_audit_trail(actor: &Actor) -> Result<(), Denied> {
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(Denied::Forbidden)
    }
}

/// Whether `actor` may read the access log of a patient record it can see
/// (`GET /api/patients/{id}/access-log/`): admin, staff and the owning patient (whose scope is
/// their own records); a doctor sees the record but not who else did (403).
pub fn read_access_log(actor: &Actor) -> Result<(), Denied> {
    match actor.role {
        Role::Admin | Role::Staff | Role::Patient => Ok(()),
        Role::Doctor => Err(Denied::Forbidden),
    }
}

/// Whether the role may create or move an appointment to a start in the past (back-entry):
/// admin and staff only.
pub const fn may_book_in_past(role: Role) -> bool {
    role.is_clinic_staff()
}

/// Whether the role may set or change a patient's owning account (`user`): admin and staff
/// only (a patient account's own creations are owned by it automatically).
pub const fn may_set_owner(role: Role) -> bool {
    role.is_clinic_staff()
}

fn past_booking(actor: &Actor, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Denied> {
    if start < now && !may_book_in_past(actor.role) {
        Err(Denied::Invalid {
            field: "appointment_datetime",
            message: msg::PAST_BOOKING,
        })
    } else {
        Ok(())
    }
}

/// Whether `actor` may book `appointment` (after [`authorize`] allowed creating appointments):
/// a start before `now` is back-entry, for admin and staff only; anyone else gets 400 on
/// `appointment_datetime` ([`msg::PAST_BOOKING`]).
pub fn create_appointment(
    actor: &Actor,
    appointment: &NewAppointment,
    now: DateTime<Utc>,
) -> Result<(), Denied> {
    past_booking(actor, appointment.start, now)
}

/// Whether `actor` may apply `changes` to an appointment (after [`authorize`] allowed updating
/// it), checked in this order:
///
/// 1. moving it to another doctor or patient (`doctor` or `patient` sent at all, even the
///    current one) is for admin and staff only: [`Denied::Forbidden`] (403);
/// 2. moving its start before `now` is for admin and staff only: 400 on
///    `appointment_datetime` ([`msg::PAST_BOOKING`]).
///
/// Which statuses a role may set is the status lifecycle's rule
/// (`healthcare_scheduling::settable_by`), checked against the stored status by persistence.
pub fn update_appointment(
    actor: &Actor,
    changes: &AppointmentChanges,
    now: DateTime<Utc>,
) -> Result<(), Denied> {
    let reassigns = changes.doctor.is_some() || changes.patient.is_some();
    if reassigns && !actor.role.is_clinic_staff() {
        return Err(Denied::Forbidden);
    }
    match changes.start {
        Some(start) => past_booking(actor, start, now),
        None => Ok(()),
    }
}

/// Whether `actor` may apply `changes` to a doctor record (after [`authorize`] allowed updating
/// it: admin, staff, or the doctor whose own profile it is). The licence number and the account
/// link (`user`) are for admin and staff only: a doctor sending either, even unchanged, gets
/// [`Denied::Forbidden`] (403); every other field is self-service.
pub fn update_doctor(actor: &Actor, changes: &DoctorChanges) -> Result<(), Denied> {
    let identity = changes.license_number.is_some() || changes.user.is_some();
    if identity && !actor.role.is_clinic_staff() {
        Err(Denied::Forbidden)
    } else {
        Ok(())
    }
}

/// The owning account of a patient record `actor` creates, when the body asked for `requested`
/// (after [`authorize`] allowed creating patients): a patient account owns what it creates,
/// whatever it sent; admin and staff choose ([`may_set_owner`]), `None` for no owner; anyone
/// else (no one today: doctors may not create patients) sets no owner.
pub fn owner_of_new_patient(actor: &Actor, requested: Option<UserId>) -> Option<UserId> {
    if actor.role == Role::Patient {
        Some(actor.user)
    } else if may_set_owner(actor.role) {
        requested
    } else {
        None
    }
}

/// Whether `actor` may apply `changes` to a patient record (after [`authorize`] allowed
/// updating it): the owning account (`user`, even sent as null) is for admin and staff only
/// ([`may_set_owner`]); anyone else gets 400 on `user` ([`msg::OWNER_CHANGE`]).
pub fn update_patient(actor: &Actor, changes: &PatientChanges) -> Result<(), Denied> {
    if changes.user.is_some() && !may_set_owner(actor.role) {
        Err(Denied::Invalid {
            field: "user",
            message: msg::OWNER_CHANGE,
        })
    } else {
        Ok(())
    }
}

/// Whether `actor` may apply `changes` to the account `user` (after [`authorize`] allowed
/// updating accounts: admins only). Nobody deactivates their own account or gives it a role
/// other than admin, so an admin cannot lock themself (or, as the last admin, everyone) out:
/// 400 on `non_field_errors` ([`msg::SELF_DEMOTION`]). Other accounts may be changed freely.
pub fn update_user(actor: &Actor, user: UserId, changes: &UserChanges) -> Result<(), Denied> {
    let demotes =
        changes.is_active == Some(false) || changes.role.is_some_and(|r| r != Role::Admin);
    if user == actor.user && demotes {
        Err(Denied::Invalid {
            field: NON_FIELD_ERRORS,
            message: msg::SELF_DEMOTION,
        })
    } else {
        Ok(())
    }
}

/// Whether creating a mapping that exists but is inactive may reactivate it whoever made it
/// inactive: yes for those who may update mappings (admin, staff). Anyone else (patients) may
/// only undo their own deactivation; persistence answers [`Denied::Forbidden`]'s 403 otherwise,
/// so a patient cannot overturn the clinic's decision.
pub fn may_reactivate_any_mapping(actor: &Actor) -> bool {
    authorize(actor, Action::Update, &Target::Mapping).is_ok()
}

/// The role of an account an admin creates (after [`authorize`] allowed creating accounts):
/// the one asked for, a patient when none was.
pub fn role_of_new_account(requested: Option<Role>) -> Role {
    requested.unwrap_or(Role::Patient)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: UserId = UserId(100);
    const SOMEONE_ELSE: UserId = UserId(999);

    fn actor(name: &str) -> Actor {
        let (role, doctor) = match name {
            "admin" => (Role::Admin, None),
            "staff" => (Role::Staff, None),
            "doctor" => (Role::Doctor, Some(DoctorId(7))),
            "doctor-unlinked" => (Role::Doctor, None),
            "patient" => (Role::Patient, None),
            other => panic!("unknown actor {other}"),
        };
        Actor {
            user: ME,
            role,
            doctor,
        }
    }

    fn target(name: &str) -> Target {
        match name {
            "patient" => Target::Patient,
            "doctor(own)" => Target::Doctor {
                linked_user: Some(ME),
            },
            "doctor(other)" => Target::Doctor {
                linked_user: Some(SOMEONE_ELSE),
            },
            "doctor(no account)" => Target::Doctor { linked_user: None },
            "mapping" => Target::Mapping,
            "appointment" => Target::Appointment,
            "user" => Target::User,
            other => panic!("unknown target {other}"),
        }
    }

    /// Every role × target × action. Columns: List, Read, Create, Update, Archive.
    /// `Y` allowed, `F` forbidden (403), `N` not found (404).
    const TABLE: &[(&str, &str, &str)] = &[
        ("admin", "patient", "YYYYY"),
        ("admin", "doctor(own)", "YYYYY"),
        ("admin", "doctor(other)", "YYYYY"),
        ("admin", "doctor(no account)", "YYYYY"),
        ("admin", "mapping", "YYYYY"),
        ("admin", "appointment", "YYYYY"),
        ("admin", "user", "YYYYY"),
        //
        ("staff", "patient", "YYYYY"),
        ("staff", "doctor(own)", "YYYYY"),
        ("staff", "doctor(other)", "YYYYY"),
        ("staff", "doctor(no account)", "YYYYY"),
        ("staff", "mapping", "YYYYY"),
        ("staff", "appointment", "YYYYY"),
        ("staff", "user", "FFFFF"),
        //
        ("doctor", "patient", "YYFFF"),
        ("doctor", "doctor(own)", "YYFYF"),
        ("doctor", "doctor(other)", "YYFFF"),
        ("doctor", "doctor(no account)", "YYFFF"),
        ("doctor", "mapping", "YYFFF"),
        ("doctor", "appointment", "YYFYF"),
        ("doctor", "user", "FFFFF"),
        //
        ("doctor-unlinked", "patient", "YNFNN"),
        ("doctor-unlinked", "doctor(own)", "YYFYF"),
        ("doctor-unlinked", "doctor(other)", "YYFFF"),
        ("doctor-unlinked", "doctor(no account)", "YYFFF"),
        ("doctor-unlinked", "mapping", "YNFNN"),
        ("doctor-unlinked", "appointment", "YNFNN"),
        ("doctor-unlinked", "user", "FFFFF"),
        //
        ("patient", "patient", "YYYYY"),
        ("patient", "doctor(own)", "YYFFF"),
        ("patient", "doctor(other)", "YYFFF"),
        ("patient", "doctor(no account)", "YYFFF"),
        ("patient", "mapping", "YYYFF"),
        ("patient", "appointment", "YYYYF"),
        ("patient", "user", "FFFFF"),
    ];

    /// Who the finer rules are asked about: the columns of [`rules`].
    const ACTORS: [&str; 5] = ["admin", "staff", "doctor", "doctor-unlinked", "patient"];

    /// The 400s of the finer rules, by the short name [`rules`] gives them: the field and the
    /// exact message the API answers.
    const INVALID: &[(&str, &str, &str)] = &[
        (
            "400 past",
            "appointment_datetime",
            "Only clinic staff may book appointments in the past.",
        ),
        (
            "400 owner",
            "user",
            "Only clinic staff may change the owning account.",
        ),
        (
            "400 self",
            "non_field_errors",
            "Admins cannot deactivate or demote themselves.",
        ),
    ];

    /// What the API answers: `yes`, `403`, `404`, or a 400 of [`INVALID`] by its short name.
    fn outcome(result: Result<(), Denied>) -> String {
        match result {
            Ok(()) => "yes".into(),
            Err(Denied::Forbidden) => "403".into(),
            Err(Denied::NotFound) => "404".into(),
            Err(Denied::Invalid { field, message }) => INVALID
                .iter()
                .find(|(_, f, m)| (*f, *m) == (field, message))
                .map(|(name, _, _)| (*name).to_owned())
                .unwrap_or_else(|| format!("400 {field}: {message} (not in INVALID)")),
        }
    }

    /// `authorize` first, as every handler asks it first; then the finer rule.
    fn then(
        a: &Actor,
        action: Action,
        target: Target,
        rule: impl FnOnce() -> Result<(), Denied>,
    ) -> String {
        outcome(authorize(a, action, &target).and_then(|()| rule()))
    }

    /// Like [`then`] for a rule whose answer is a value, not a refusal.
    fn value(a: &Actor, action: Action, target: Target, rule: impl FnOnce() -> String) -> String {
        match authorize(a, action, &target) {
            Ok(()) => rule(),
            refused => outcome(refused),
        }
    }

    type Rule = fn(&Actor) -> String;

    /// Every finer rule, as the module documentation's second table lists it: per rule, the
    /// answer to each of [`ACTORS`] (every caller is the account `ME`).
    fn rules() -> Vec<(&'static str, Rule, [&'static str; 5])> {
        use healthcare_domain::AppointmentStatus::{Cancelled, Completed, NoShow, Scheduled};
        fn now() -> DateTime<Utc> {
            DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default()
        }
        fn past() -> DateTime<Utc> {
            now() - chrono::Duration::minutes(1)
        }
        fn own_profile() -> Target {
            Target::Doctor {
                linked_user: Some(ME),
            }
        }
        vec![
            (
                "book an appointment starting in the past",
                |a| {
                    let new = NewAppointment {
                        doctor: DoctorId(7),
                        patient: healthcare_domain::PatientId(1),
                        start: past(),
                        duration_minutes: 30,
                        reason: String::new(),
                        status: healthcare_domain::AppointmentStatus::Scheduled,
                    };
                    then(a, Action::Create, Target::Appointment, || {
                        create_appointment(a, &new, now())
                    })
                },
                ["yes", "yes", "403", "403", "400 past"],
            ),
            (
                "book an appointment starting now",
                |a| {
                    let new = NewAppointment {
                        doctor: DoctorId(7),
                        patient: healthcare_domain::PatientId(1),
                        start: now(),
                        duration_minutes: 30,
                        reason: String::new(),
                        status: healthcare_domain::AppointmentStatus::Scheduled,
                    };
                    then(a, Action::Create, Target::Appointment, || {
                        create_appointment(a, &new, now())
                    })
                },
                ["yes", "yes", "403", "403", "yes"],
            ),
            (
                "move an appointment's start into the past",
                |a| {
                    let changes = AppointmentChanges {
                        start: Some(past()),
                        ..AppointmentChanges::default()
                    };
                    then(a, Action::Update, Target::Appointment, || {
                        update_appointment(a, &changes, now())
                    })
                },
                ["yes", "yes", "400 past", "404", "400 past"],
            ),
            (
                "move an appointment to another doctor",
                |a| {
                    let changes = AppointmentChanges {
                        doctor: Some(DoctorId(8)),
                        ..AppointmentChanges::default()
                    };
                    then(a, Action::Update, Target::Appointment, || {
                        update_appointment(a, &changes, now())
                    })
                },
                ["yes", "yes", "403", "404", "403"],
            ),
            (
                "move an appointment to another patient, and into the past",
                |a| {
                    let changes = AppointmentChanges {
                        patient: Some(healthcare_domain::PatientId(2)),
                        start: Some(past()),
                        ..AppointmentChanges::default()
                    };
                    then(a, Action::Update, Target::Appointment, || {
                        update_appointment(a, &changes, now())
                    })
                },
                ["yes", "yes", "403", "404", "403"],
            ),
            (
                "set an appointment's status (healthcare_scheduling::settable_by)",
                |a| {
                    value(a, Action::Update, Target::Appointment, || {
                        let all = [Scheduled, Completed, Cancelled, NoShow];
                        let settable = healthcare_scheduling::settable_by(a.role);
                        let codes: Vec<_> = all
                            .into_iter()
                            .filter(|s| settable.contains(s))
                            .map(|s| s.as_str())
                            .collect();
                        codes.join(" ")
                    })
                },
                [
                    "COMPLETED CANCELLED NO_SHOW",
                    "COMPLETED CANCELLED NO_SHOW",
                    "COMPLETED CANCELLED NO_SHOW",
                    "404",
                    "CANCELLED",
                ],
            ),
            (
                "change a doctor's licence number (own profile)",
                |a| {
                    let changes = DoctorChanges {
                        license_number: Some("LIC-2".into()),
                        ..DoctorChanges::default()
                    };
                    then(a, Action::Update, own_profile(), || {
                        update_doctor(a, &changes)
                    })
                },
                ["yes", "yes", "403", "403", "403"],
            ),
            (
                "unlink a doctor's account (own profile)",
                |a| {
                    let changes = DoctorChanges {
                        user: Some(None),
                        ..DoctorChanges::default()
                    };
                    then(a, Action::Update, own_profile(), || {
                        update_doctor(a, &changes)
                    })
                },
                ["yes", "yes", "403", "403", "403"],
            ),
            (
                "change a doctor's hospital (own profile)",
                |a| {
                    let changes = DoctorChanges {
                        hospital: Some("PPTH".into()),
                        ..DoctorChanges::default()
                    };
                    then(a, Action::Update, own_profile(), || {
                        update_doctor(a, &changes)
                    })
                },
                ["yes", "yes", "yes", "yes", "403"],
            ),
            (
                "change another doctor's hospital",
                |a| {
                    let changes = DoctorChanges {
                        hospital: Some("PPTH".into()),
                        ..DoctorChanges::default()
                    };
                    let other = Target::Doctor {
                        linked_user: Some(SOMEONE_ELSE),
                    };
                    then(a, Action::Update, other, || update_doctor(a, &changes))
                },
                ["yes", "yes", "403", "403", "403"],
            ),
            (
                "owner of a patient record created with user = someone else",
                |a| {
                    value(
                        a,
                        Action::Create,
                        Target::Patient,
                        || match owner_of_new_patient(a, Some(SOMEONE_ELSE)) {
                            Some(ME) => "the caller".into(),
                            Some(SOMEONE_ELSE) => "as sent".into(),
                            other => format!("{other:?}"),
                        },
                    )
                },
                ["as sent", "as sent", "403", "403", "the caller"],
            ),
            (
                "owner of a patient record created without user",
                |a| {
                    value(
                        a,
                        Action::Create,
                        Target::Patient,
                        || match owner_of_new_patient(a, None) {
                            Some(ME) => "the caller".into(),
                            None => "none".into(),
                            other => format!("{other:?}"),
                        },
                    )
                },
                ["none", "none", "403", "403", "the caller"],
            ),
            (
                "change a patient's owning account",
                |a| {
                    let changes = PatientChanges {
                        user: Some(Some(SOMEONE_ELSE)),
                        ..PatientChanges::default()
                    };
                    then(a, Action::Update, Target::Patient, || {
                        update_patient(a, &changes)
                    })
                },
                ["yes", "yes", "403", "404", "400 owner"],
            ),
            (
                "unlink a patient's owning account",
                |a| {
                    let changes = PatientChanges {
                        user: Some(None),
                        ..PatientChanges::default()
                    };
                    then(a, Action::Update, Target::Patient, || {
                        update_patient(a, &changes)
                    })
                },
                ["yes", "yes", "403", "404", "400 owner"],
            ),
            (
                "change a patient's address",
                |a| {
                    let changes = PatientChanges {
                        address: Some("Baker Street".into()),
                        ..PatientChanges::default()
                    };
                    then(a, Action::Update, Target::Patient, || {
                        update_patient(a, &changes)
                    })
                },
                ["yes", "yes", "403", "404", "yes"],
            ),
            (
                "re-create a mapping someone else deactivated",
                |a| {
                    value(a, Action::Create, Target::Mapping, || {
                        if may_reactivate_any_mapping(a) {
                            "yes".into()
                        } else {
                            "403".into()
                        }
                    })
                },
                ["yes", "yes", "403", "403", "403"],
            ),
            (
                "deactivate one's own account",
                |a| {
                    let changes = UserChanges {
                        is_active: Some(false),
                        ..UserChanges::default()
                    };
                    then(a, Action::Update, Target::User, || {
                        update_user(a, ME, &changes)
                    })
                },
                ["400 self", "403", "403", "403", "403"],
            ),
            (
                "give one's own account the staff role",
                |a| {
                    let changes = UserChanges {
                        role: Some(Role::Staff),
                        ..UserChanges::default()
                    };
                    then(a, Action::Update, Target::User, || {
                        update_user(a, ME, &changes)
                    })
                },
                ["400 self", "403", "403", "403", "403"],
            ),
            (
                "keep one's own account admin, change its email",
                |a| {
                    let changes = UserChanges {
                        role: Some(Role::Admin),
                        is_active: Some(true),
                        email: Some("me@example.org".into()),
                        ..UserChanges::default()
                    };
                    then(a, Action::Update, Target::User, || {
                        update_user(a, ME, &changes)
                    })
                },
                ["yes", "403", "403", "403", "403"],
            ),
            (
                "deactivate and demote another account",
                |a| {
                    let changes = UserChanges {
                        is_active: Some(false),
                        role: Some(Role::Patient),
                        ..UserChanges::default()
                    };
                    then(a, Action::Update, Target::User, || {
                        update_user(a, SOMEONE_ELSE, &changes)
                    })
                },
                ["yes", "403", "403", "403", "403"],
            ),
            (
                "role of an account created without one",
                |a| {
                    value(a, Action::Create, Target::User, || {
                        role_of_new_account(None).to_string()
                    })
                },
                ["patient", "403", "403", "403", "403"],
            ),
            (
                "role of an account created as staff",
                |a| {
                    value(a, Action::Create, Target::User, || {
                        role_of_new_account(Some(Role::Staff)).to_string()
                    })
                },
                ["staff", "403", "403", "403", "403"],
            ),
        ]
    }

    /// The policy as one table: every role × target × action of [`authorize`] ([`TABLE`]), then
    /// every finer rule per role ([`rules`]), each as the API answers it.
    #[test]
    fn the_whole_table() {
        let mut checked = 0;
        for (who, what, expected) in TABLE {
            let a = actor(who);
            let t = target(what);
            assert_eq!(expected.len(), Action::ALL.len());
            for (action, code) in Action::ALL.iter().zip(expected.chars()) {
                let want = match code {
                    'Y' => Ok(()),
                    'F' => Err(Denied::Forbidden),
                    'N' => Err(Denied::NotFound),
                    other => panic!("bad code {other}"),
                };
                assert_eq!(authorize(&a, *action, &t), want, "{who} {action:?} {what}");
                checked += 1;
            }
        }
        // 5 actors × 7 targets × 5 actions: nothing left out.
        assert_eq!(checked, 5 * 7 * 5);

        let mut wrong = Vec::new();
        for (rule, answer, expected) in rules() {
            for (who, want) in ACTORS.iter().zip(expected) {
                let got = answer(&actor(who));
                if got != want {
                    wrong.push(format!("{rule} / {who}: expected {want}, got {got}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // Every 400 of the finer rules is in the table, and with the text the API answers.
        for (name, field, message) in INVALID {
            assert!(
                rules().iter().any(|(_, _, e)| e.contains(name)),
                "{name} never expected"
            );
            assert_eq!(
                Denied::Invalid { field, message }.to_string(),
                *message,
                "{name}"
            );
        }
        assert_eq!(
            [msg::PAST_BOOKING, msg::OWNER_CHANGE, msg::SELF_DEMOTION],
            [INVALID[0].2, INVALID[1].2, INVALID[2].2]
        );
    }

    #[test]
    fn scopes() {
        use ResourceKind as K;
        let expect = |who: &str, kind: ResourceKind| scope(&actor(who), kind);
        for kind in ResourceKind::ALL {
            assert_eq!(expect("admin", kind), Scope::All, "{kind:?}");
            let staff = if kind == K::User {
                Scope::Nothing
            } else {
                Scope::All
            };
            assert_eq!(expect("staff", kind), staff, "{kind:?}");
        }
        for kind in [K::Patient, K::Mapping, K::Appointment] {
            assert_eq!(expect("doctor", kind), Scope::DoctorOf(DoctorId(7)));
            assert_eq!(expect("doctor-unlinked", kind), Scope::Nothing);
            assert_eq!(expect("patient", kind), Scope::OwnedBy(ME));
        }
        for who in ["doctor", "doctor-unlinked", "patient"] {
            assert_eq!(expect(who, K::Doctor), Scope::All, "{who}");
            assert_eq!(expect(who, K::User), Scope::Nothing, "{who}");
        }
    }

    #[test]
    fn not_found_only_where_the_scope_is_empty() {
        // A 404 from `authorize` must agree with `scope`: never answer 404 for something the
        // caller can list.
        for who in ["admin", "staff", "doctor", "doctor-unlinked", "patient"] {
            let a = actor(who);
            for (_, what, _) in TABLE.iter().filter(|(w, _, _)| *w == who) {
                let t = target(what);
                for action in Action::ALL {
                    if authorize(&a, action, &t) == Err(Denied::NotFound) {
                        assert_eq!(
                            scope(&a, t.kind()),
                            Scope::Nothing,
                            "{who} {action:?} {what}"
                        );
                        assert!(action.is_record_level());
                    }
                }
            }
        }
    }

    #[test]
    fn back_entry_and_ownership_are_clinic_staff_only() {
        for role in Role::ALL {
            let staff = matches!(role, Role::Admin | Role::Staff);
            assert_eq!(may_book_in_past(*role), staff, "{role}");
            assert_eq!(may_set_owner(*role), staff, "{role}");
        }
    }

    #[test]
    fn denial_messages() {
        assert_eq!(Denied::NotFound.to_string(), "Not found.");
        assert_eq!(
            Denied::Forbidden.to_string(),
            "You do not have permission to perform this action."
        );
    }
}
