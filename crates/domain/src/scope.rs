//! Which rows a caller may see: computed by the auth policy from the caller's role, turned into
//! a WHERE clause by persistence (never "fetch everything and filter").

use crate::ids::{DoctorId, UserId};

/// The visibility of clinical records (patients, mappings, appointments) for one caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every record (admin, staff).
    All,
    /// Patients owned by this account, and the mappings and appointments of those patients.
    OwnedBy(UserId),
    /// This doctor's mappings and appointments, and the patients with an active mapping to the
    /// doctor or an appointment with them.
    DoctorOf(DoctorId),
    /// Nothing (e.g. a doctor account not linked to any doctor record).
    Nothing,
}
