//! The role policy (docs/api.md "Roles"), in one place.
//!
//! Two questions, asked by the API for every request:
//!
//! 1. [`scope`]: *which rows may this caller see?* Persistence turns the answer into a WHERE
//!    clause, so a record outside the scope is simply not found (404), and ids cannot be probed.
//! 2. [`authorize`]: *may this caller do this action on this (visible) kind of record?* A
//!    refusal is [`Denied::Forbidden`] (403) for a record the caller can see, and
//!    [`Denied::NotFound`] (404) for a record-level action on a kind the caller can never see
//!    (a doctor account not linked to any Doctor record has nothing clinical to act on).
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
//! Finer rules the API applies with the request body in hand: a doctor's self-service update
//! may not touch the licence number or the account link (`DoctorChanges::is_self_service`);
//! only clinic staff set a patient's owning account ([`may_set_owner`]) or book in the past
//! ([`may_book_in_past`]).

use healthcare_domain::{DoctorId, Role, Scope, UserId};

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
}

impl Target {
    /// The kind of record.
    pub const fn kind(&self) -> ResourceKind {
        match self {
            Target::Patient => ResourceKind::Patient,
            Target::Doctor { .. } => ResourceKind::Doctor,
            Target::Mapping => ResourceKind::Mapping,
            Target::Appointment => ResourceKind::Appointment,
            Target::User => ResourceKind::User,
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
        (_, Target::User) => false,
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
