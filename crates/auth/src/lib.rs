//! Authentication and authorisation of the healthcare scheduling API, without any I/O:
//!
//! - [`passwords`]: bcrypt hashing and verification, a constant-time path for unknown usernames,
//!   and the password policy (Django's validators, worded as Django words them);
//! - [`tokens`]: HS256 JSON Web Tokens (access and refresh, SimpleJWT-compatible claims);
//! - [`policy`]: the role table of docs/api.md as one function ([`authorize`]), the row visibility
//!   ([`scope`]) that persistence turns into a WHERE clause, and the finer rules asked with a
//!   request's body in hand (back-entry, reassignment, doctor self-service, patient ownership,
//!   self-demotion).
//!
//! Persistence (refresh-token rows, login-failure counters, the stored signing key) lives in
//! `healthcare-persistence`; this crate only computes.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod passwords;
pub mod policy;
pub mod tokens;

pub use passwords::{
    check_password_policy, hash_password, needs_rehash, verify_against_dummy, verify_password,
    BCRYPT_MAX_BYTES, COMMON_PASSWORDS, MIN_PASSWORD_LENGTH,
};
pub use policy::{
    authorize, create_appointment, may_book_in_past, may_reactivate_any_mapping, may_set_owner,
    owner_of_new_patient, read_access_log, read_audit_trail, role_of_new_account, scope,
    update_appointment, update_doctor, update_patient, update_user, Action, Actor, Denied,
    ResourceKind, Target,
};
pub use tokens::{
    check_secret, generate_secret, Claims, Keys, Session, TokenConfig, TokenError, TokenKind,
    TokenPair, LEEWAY_SECS, MIN_SECRET_BYTES,
};

/// A failure of the machinery itself (not of the caller's input): hashing or signing failed.
/// The API answers 500 and logs the cause.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// bcrypt refused to hash (e.g. a cost outside 4..=31).
    #[error("password hashing failed: {0}")]
    Hash(#[from] bcrypt::BcryptError),
    /// The password is longer than bcrypt can use (see [`BCRYPT_MAX_BYTES`]); the password
    /// policy refuses such passwords first, so reaching this is a caller bug.
    #[error("password longer than {max} bytes cannot be hashed with bcrypt", max = BCRYPT_MAX_BYTES)]
    PasswordTooLong,
    /// A token could not be signed.
    #[error("token encoding failed: {0}")]
    Encode(#[from] jsonwebtoken::errors::Error),
}
