//! The appointment status lifecycle: `PENDING -> SCHEDULED | CANCELLED | EXPIRED`,
//! `SCHEDULED -> COMPLETED | CANCELLED | NO_SHOW`, the last four final, and which role may set
//! which status. EXPIRED is set by the server only (a hold past its `expires_at`), PENDING only
//! by a new booking.

use healthcare_domain::{AppointmentStatus, Role};

/// Why a status change or a reschedule is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The appointment is in a final status; nothing may change it (the API answers 400).
    #[error("Cannot change the status of an appointment that is already {from}.")]
    Final {
        /// The current, final status.
        from: AppointmentStatus,
    },
    /// The role may never set this status (the API answers 403).
    #[error("A {role} may not set the status to {to}.")]
    NotAllowed {
        /// The caller's role.
        role: Role,
        /// The requested status.
        to: AppointmentStatus,
    },
    /// PENDING and EXPIRED are never set by a change (the API answers 400).
    #[error("The status cannot be changed to {to}.")]
    NotSettable {
        /// The requested status.
        to: AppointmentStatus,
    },
    /// A hold becomes SCHEDULED or CANCELLED, nothing else (the API answers 400).
    #[error("A pending hold can only be confirmed (SCHEDULED) or CANCELLED, not {to}.")]
    NotFromHold {
        /// The requested status.
        to: AppointmentStatus,
    },
    /// Only SCHEDULED appointments may be moved (the API answers 400).
    #[error("Only scheduled appointments can be rescheduled; this one is {status}.")]
    NotReschedulable {
        /// The current status.
        status: AppointmentStatus,
    },
}

impl TransitionError {
    /// Whether this is a permission refusal (403) rather than a rule violation (400).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, TransitionError::NotAllowed { .. })
    }
}

/// The statuses a role may set on a SCHEDULED appointment.
pub fn settable_by(role: Role) -> &'static [AppointmentStatus] {
    use AppointmentStatus::{Cancelled, Completed, NoShow};
    match role {
        Role::Admin | Role::Staff | Role::Doctor => &[Completed, Cancelled, NoShow],
        Role::Patient => &[Cancelled],
    }
}

/// Whether `role` may move an appointment from `from` to `to`.
///
/// Rules, in order:
/// 0. `to` is PENDING or EXPIRED: [`TransitionError::NotSettable`].
/// 1. `to == SCHEDULED`: allowed only as the no-op `SCHEDULED -> SCHEDULED` (any role); from a
///    final status it is [`TransitionError::Final`] (re-opening is a rule, not a permission).
/// 2. The role must be allowed to set `to` at all ([`settable_by`]), else
///    [`TransitionError::NotAllowed`], whatever the current status.
/// 3. `from` must not be final, else [`TransitionError::Final`] (also when `to == from`).
/// 4. A hold may only be cancelled (or confirmed, rule 1): else [`TransitionError::NotFromHold`].
pub fn transition(
    from: AppointmentStatus,
    to: AppointmentStatus,
    role: Role,
) -> Result<(), TransitionError> {
    if matches!(to, AppointmentStatus::Pending | AppointmentStatus::Expired) {
        return Err(TransitionError::NotSettable { to });
    }
    if to == AppointmentStatus::Scheduled {
        return if from.is_final() {
            Err(TransitionError::Final { from })
        } else {
            Ok(())
        };
    }
    if !settable_by(role).contains(&to) {
        return Err(TransitionError::NotAllowed { role, to });
    }
    if from.is_final() {
        return Err(TransitionError::Final { from });
    }
    if from == AppointmentStatus::Pending && to != AppointmentStatus::Cancelled {
        return Err(TransitionError::NotFromHold { to });
    }
    Ok(())
}

/// Whether an appointment in this status may change its time, duration, doctor or patient:
/// only SCHEDULED ones and live holds.
pub fn may_reschedule(status: AppointmentStatus) -> Result<(), TransitionError> {
    if status.is_final() {
        Err(TransitionError::NotReschedulable { status })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppointmentStatus::{Cancelled, Completed, Expired, NoShow, Pending, Scheduled};

    /// The full expected table: (role, from, to) -> outcome.
    fn expected(
        role: Role,
        from: AppointmentStatus,
        to: AppointmentStatus,
    ) -> Result<(), TransitionError> {
        let may_set = match role {
            Role::Admin | Role::Staff | Role::Doctor => true,
            Role::Patient => to == Cancelled,
        };
        match (from, to) {
            (_, Pending | Expired) => Err(TransitionError::NotSettable { to }),
            (Scheduled | Pending, Scheduled) => Ok(()),
            (_, Scheduled) => Err(TransitionError::Final { from }),
            _ if !may_set => Err(TransitionError::NotAllowed { role, to }),
            (Scheduled, _) | (Pending, Cancelled) => Ok(()),
            (Pending, _) => Err(TransitionError::NotFromHold { to }),
            _ => Err(TransitionError::Final { from }),
        }
    }

    #[test]
    fn every_transition_for_every_role() {
        let mut checked = 0;
        for role in Role::ALL {
            for from in AppointmentStatus::ALL {
                for to in AppointmentStatus::ALL {
                    assert_eq!(
                        transition(*from, *to, *role),
                        expected(*role, *from, *to),
                        "{role} {from} -> {to}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * 6 * 6);
    }

    #[test]
    fn spelled_out() {
        for role in [Role::Admin, Role::Staff, Role::Doctor] {
            for to in [Completed, Cancelled, NoShow] {
                assert_eq!(transition(Scheduled, to, role), Ok(()));
                for from in [Completed, Cancelled, NoShow] {
                    assert_eq!(
                        transition(from, to, role),
                        Err(TransitionError::Final { from })
                    );
                }
            }
        }
        assert_eq!(transition(Scheduled, Cancelled, Role::Patient), Ok(()));
        for to in [Completed, NoShow] {
            let e = transition(Scheduled, to, Role::Patient).unwrap_err();
            assert_eq!(
                e,
                TransitionError::NotAllowed {
                    role: Role::Patient,
                    to
                }
            );
            assert!(e.is_forbidden());
        }
        assert_eq!(
            transition(Cancelled, Cancelled, Role::Patient),
            Err(TransitionError::Final { from: Cancelled })
        );
        for role in Role::ALL {
            assert_eq!(transition(Scheduled, Scheduled, *role), Ok(()));
            assert_eq!(
                transition(NoShow, Scheduled, *role),
                Err(TransitionError::Final { from: NoShow })
            );
        }
    }

    #[test]
    fn reschedule_and_messages() {
        assert_eq!(may_reschedule(Scheduled), Ok(()));
        assert_eq!(may_reschedule(Pending), Ok(()));
        for status in [Completed, Cancelled, NoShow, Expired] {
            let e = may_reschedule(status).unwrap_err();
            assert_eq!(e, TransitionError::NotReschedulable { status });
            assert!(!e.is_forbidden());
        }
        assert_eq!(
            may_reschedule(Cancelled).unwrap_err().to_string(),
            "Only scheduled appointments can be rescheduled; this one is CANCELLED."
        );
        assert_eq!(
            TransitionError::Final { from: Completed }.to_string(),
            "Cannot change the status of an appointment that is already COMPLETED."
        );
        assert_eq!(
            TransitionError::NotAllowed {
                role: Role::Patient,
                to: NoShow
            }
            .to_string(),
            "A patient may not set the status to NO_SHOW."
        );
    }
}
