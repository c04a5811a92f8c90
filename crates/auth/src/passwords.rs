//! Password hashing (bcrypt) and the password policy.
//!
//! bcrypt uses at most the first [`BCRYPT_MAX_BYTES`] (72) bytes of a password: anything after
//! them would be silently ignored, so two long passwords sharing a 72-byte prefix would be equal.
//! This crate never lets that happen: [`check_password_policy`] refuses longer passwords with a
//! clear message, [`hash_password`] refuses to hash them, and [`verify_password`] answers `false`
//! for them (after doing the same work, so timing does not tell).
//!
//! Everything here is synchronous and CPU-bound (cost 12 is ~0.25 s): call it on a blocking
//! thread pool, never on the async executor.

use crate::AuthError;
use healthcare_domain::FieldErrors;
use std::sync::OnceLock;

/// The most bytes of a password bcrypt takes into account.
pub const BCRYPT_MAX_BYTES: usize = healthcare_domain::inputs::MAX_PASSWORD_BYTES;

/// The fewest characters a new password may have (Django's default).
pub const MIN_PASSWORD_LENGTH: usize = healthcare_domain::inputs::MIN_PASSWORD_CHARS;

const FIELD: &str = "password";

/// Messages of the password policy, worded as Django's validators word them.
pub mod msg {
    /// Fewer than [`super::MIN_PASSWORD_LENGTH`] characters.
    pub const TOO_SHORT: &str =
        "This password is too short. It must contain at least 8 characters.";
    /// More than [`super::BCRYPT_MAX_BYTES`] bytes.
    pub const TOO_LONG: &str = "This password is too long. It must contain at most 72 bytes (72 plain ASCII characters; fewer if it uses accented or other non-ASCII characters).";
    /// Digits only.
    pub const NUMERIC: &str = "This password is entirely numeric.";
    /// In [`super::COMMON_PASSWORDS`].
    pub const COMMON: &str = "This password is too common.";
    /// Equal to, or mostly made of, the username.
    pub const SIMILAR: &str = "The password is too similar to the username.";
}

/// Hashes a password with bcrypt (`$2b$`, random salt) at `cost` (4..=31; the server's
/// `BCRYPT_COST`, tests use 4). Refuses passwords over [`BCRYPT_MAX_BYTES`] bytes rather than
/// truncating them: run [`check_password_policy`] first to give the user a proper message.
pub fn hash_password(password: &str, cost: u32) -> Result<String, AuthError> {
    if password.len() > BCRYPT_MAX_BYTES {
        return Err(AuthError::PasswordTooLong);
    }
    Ok(bcrypt::hash(password, cost)?)
}

/// Whether `password` matches a stored bcrypt `hash`. A malformed or empty hash (e.g. an account
/// with no usable password) is simply `false`; this never panics. A password longer than
/// [`BCRYPT_MAX_BYTES`] bytes is `false` as well (it could only match through truncation).
pub fn verify_password(password: &str, hash: &str) -> bool {
    let matched = bcrypt::verify(password, hash).unwrap_or(false);
    matched && password.len() <= BCRYPT_MAX_BYTES
}

/// Whether a stored hash should be replaced by a fresh one at `cost` (the configured cost
/// changed, or the hash is not a bcrypt hash this crate understands). Call after a successful
/// login, with the password the user just typed, to upgrade hashes over time.
pub fn needs_rehash(hash: &str, cost: u32) -> bool {
    // `$2b$12$` + 53 characters of salt and digest.
    let mut parts = hash.splitn(4, '$');
    let (Some(""), Some(version), Some(stored_cost), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return true;
    };
    let known_version = matches!(version, "2a" | "2b" | "2x" | "2y");
    let same_cost = stored_cost.len() == 2 && stored_cost.parse::<u32>().ok() == Some(cost);
    !(known_version && same_cost && rest.len() == 53)
}

/// One lazily computed dummy hash per cost (bcrypt costs are 4..=31), so that a login for an
/// unknown username costs as much as one for a known username.
static DUMMY_HASHES: [OnceLock<Option<String>>; 32] = [const { OnceLock::new() }; 32];

fn dummy_hash(cost: u32) -> Option<&'static str> {
    let slot = DUMMY_HASHES.get(usize::try_from(cost).ok()?)?;
    slot.get_or_init(|| bcrypt::hash("healthcare-dummy-password", cost).ok())
        .as_deref()
}

/// Spends the time of a real [`verify_password`] at `cost` and answers `false`. Call it when the
/// username is unknown (or the account cannot log in), so response times do not reveal which
/// usernames exist:
///
/// ```
/// # use healthcare_auth::{verify_password, verify_against_dummy};
/// # let stored: Option<String> = None; let cost = 4;
/// let ok = match &stored {
///     Some(hash) => verify_password("typed", hash),
///     None => verify_against_dummy("typed", cost),
/// };
/// assert!(!ok);
/// ```
///
/// The dummy hash of each cost is computed once, on first use (so the very first call costs
/// two hashes).
pub fn verify_against_dummy(password: &str, cost: u32) -> bool {
    if let Some(hash) = dummy_hash(cost) {
        // The result is irrelevant: the work is the point.
        let _ = bcrypt::verify(password, hash);
    }
    false
}

/// Checks a new password against the policy (Django's default validators): at least
/// [`MIN_PASSWORD_LENGTH`] characters, at most [`BCRYPT_MAX_BYTES`] bytes, not entirely numeric,
/// not one of [`COMMON_PASSWORDS`] (case-insensitive), and not too similar to the username
/// (equal ignoring case, or the username makes up at least half of the password, or the
/// password is contained in the username). Every failure is reported under the `password` key.
pub fn check_password_policy(password: &str, username: &str) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LENGTH {
        errors.add(FIELD, msg::TOO_SHORT);
    }
    if password.len() > BCRYPT_MAX_BYTES {
        errors.add(FIELD, msg::TOO_LONG);
    }
    if too_similar(password, username) {
        errors.add(FIELD, msg::SIMILAR);
    }
    if is_common(password) {
        errors.add(FIELD, msg::COMMON);
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        errors.add(FIELD, msg::NUMERIC);
    }
    errors.into_result(())
}

fn too_similar(password: &str, username: &str) -> bool {
    let user = username.trim().to_lowercase();
    if user.is_empty() || password.is_empty() {
        return false;
    }
    let pass = password.to_lowercase();
    if pass == user {
        return true;
    }
    let (p, u) = (pass.chars().count(), user.chars().count());
    // "alice2024" for "alice": the username is most of the password.
    (u >= 3 && pass.contains(&user) && u * 2 >= p)
        // "smith" for "johnsmith": the password is part of the username.
        || (p >= 3 && user.contains(&pass))
}

fn is_common(password: &str) -> bool {
    let trimmed = password.trim();
    COMMON_PASSWORDS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(trimmed))
}

/// Some of the most common passwords of leaked-password lists (compared ignoring ASCII case).
/// Django ships 20,000; these are the ones most likely to be tried first.
pub const COMMON_PASSWORDS: &[&str] = &[
    "123456",
    "password",
    "12345678",
    "qwerty",
    "123456789",
    "12345",
    "1234",
    "111111",
    "1234567",
    "dragon",
    "123123",
    "baseball",
    "abc123",
    "football",
    "monkey",
    "letmein",
    "696969",
    "shadow",
    "master",
    "666666",
    "qwertyuiop",
    "123321",
    "mustang",
    "1234567890",
    "michael",
    "654321",
    "superman",
    "1qaz2wsx",
    "7777777",
    "121212",
    "000000",
    "qazwsx",
    "123qwe",
    "killer",
    "trustno1",
    "jordan",
    "jennifer",
    "zxcvbnm",
    "asdfgh",
    "hunter",
    "buster",
    "soccer",
    "harley",
    "batman",
    "andrew",
    "tigger",
    "sunshine",
    "iloveyou",
    "2000",
    "charlie",
    "robert",
    "thomas",
    "hockey",
    "ranger",
    "daniel",
    "starwars",
    "klaster",
    "112233",
    "george",
    "computer",
    "michelle",
    "jessica",
    "pepper",
    "1111",
    "zxcvbn",
    "555555",
    "11111111",
    "131313",
    "freedom",
    "777777",
    "pass",
    "maggie",
    "159753",
    "aaaaaa",
    "ginger",
    "princess",
    "joshua",
    "cheese",
    "amanda",
    "summer",
    "love",
    "ashley",
    "nicole",
    "chelsea",
    "biteme",
    "matthew",
    "access",
    "yankees",
    "987654321",
    "dallas",
    "austin",
    "thunder",
    "taylor",
    "matrix",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "pa$$word",
    "welcome",
    "welcome1",
    "welcome123",
    "admin",
    "admin123",
    "administrator",
    "root",
    "toor",
    "changeme",
    "changeme123",
    "default",
    "guest",
    "login",
    "letmein123",
    "qwerty123",
    "qwerty1",
    "qwertyuiop123",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1q2w3e",
    "zaq12wsx",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "asdfghjkl",
    "asdf1234",
    "abcd1234",
    "abcdefgh",
    "abcdef",
    "abc12345",
    "123abc",
    "a1b2c3d4",
    "iloveyou1",
    "sunshine1",
    "princess1",
    "football1",
    "baseball1",
    "superman1",
    "batman123",
    "trustno1!",
    "whatever",
    "secret",
    "secret123",
    "mypassword",
    "letmein1",
    "hello123",
    "hello",
    "hellohello",
    "monkey123",
    "dragon123",
    "master123",
    "shadow123",
    "starwars1",
    "11223344",
    "12341234",
    "12121212",
    "00000000",
    "88888888",
    "99999999",
    "87654321",
    "123123123",
    "1234512345",
    "qwertyui",
    "qwer1234",
    "zxcvbnm1",
    "loveyou",
    "lovely",
    "football123",
    "computer1",
    "internet",
    "samsung",
    "google",
    "linkedin",
    "facebook",
    "healthcare",
    "hospital",
    "doctor123",
    "patient123",
    "nurse123",
    "medical",
    "clinic123",
];

#[cfg(test)]
mod tests {
    use super::*;

    const COST: u32 = 4;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse battery", COST).unwrap();
        assert!(h.starts_with("$2b$04$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("", &h));
        // Salted: two hashes of one password differ.
        assert_ne!(h, hash_password("correct horse battery", COST).unwrap());
    }

    #[test]
    fn malformed_hashes_are_false_not_panics() {
        for h in [
            "",
            "x",
            "$2b$",
            "$2b$04$",
            "$2b$99$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0",
            "pbkdf2_sha256$600000$salt$hash",
            "$2b$04$\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        ] {
            assert!(!verify_password("password", h), "{h:?}");
        }
    }

    #[test]
    fn bad_cost_is_an_error() {
        assert!(matches!(
            hash_password("whatever1", 3),
            Err(AuthError::Hash(_))
        ));
        assert!(matches!(
            hash_password("whatever1", 32),
            Err(AuthError::Hash(_))
        ));
    }

    #[test]
    fn passwords_beyond_bcrypt_limit_are_refused() {
        let max = "a".repeat(BCRYPT_MAX_BYTES);
        let h = hash_password(&max, COST).unwrap();
        assert!(verify_password(&max, &h));
        // Same first 72 bytes: bcrypt alone would say yes.
        let longer = format!("{max}b");
        assert!(!verify_password(&longer, &h));
        assert!(matches!(
            hash_password(&longer, COST),
            Err(AuthError::PasswordTooLong)
        ));
    }

    #[test]
    fn dummy_verification_is_false_and_cached() {
        assert!(!verify_against_dummy("anything", COST));
        assert!(!verify_against_dummy("healthcare-dummy-password", COST));
        assert!(dummy_hash(COST).is_some());
        assert_eq!(dummy_hash(COST), dummy_hash(COST));
        // Out-of-range costs never panic.
        assert!(!verify_against_dummy("x", 0));
        assert!(!verify_against_dummy("x", 99));
        assert!(!verify_against_dummy("x", u32::MAX));
    }

    #[test]
    fn rehash_detection() {
        let h = hash_password("rehash-me-please", COST).unwrap();
        assert!(!needs_rehash(&h, COST));
        assert!(needs_rehash(&h, 12));
        assert!(needs_rehash("", COST));
        assert!(needs_rehash("$2b$04$short", COST));
        assert!(needs_rehash("pbkdf2_sha256$600000$salt$hash", COST));
    }

    fn refused(password: &str, username: &str) -> Vec<String> {
        match check_password_policy(password, username) {
            Ok(()) => Vec::new(),
            Err(e) => {
                assert_eq!(e.as_map().len(), 1, "only the password key: {e}");
                e.messages("password").to_vec()
            }
        }
    }

    #[test]
    fn policy_accepts_reasonable_passwords() {
        for p in [
            "Tr0ub4dor&3",
            "correct horse battery staple",
            "zq8!Lm2#pR",
            "Ünïcödé-pässwörd",
        ] {
            assert_eq!(refused(p, "alice"), Vec::<String>::new(), "{p}");
        }
        // Exactly at the limits.
        assert!(refused(&"k7".repeat(36), "alice").is_empty());
        assert!(refused("k7x9m2q4", "alice").is_empty());
    }

    #[test]
    fn policy_messages() {
        assert_eq!(refused("k7x9m2q", "alice"), vec![msg::TOO_SHORT]);
        assert_eq!(refused("", "alice"), vec![msg::TOO_SHORT]);
        assert_eq!(refused("50918273", "alice"), vec![msg::NUMERIC]);
        assert_eq!(
            refused("12345678", "alice"),
            vec![msg::COMMON, msg::NUMERIC]
        );
        assert_eq!(
            refused("1234", "alice"),
            vec![msg::TOO_SHORT, msg::COMMON, msg::NUMERIC]
        );
        assert_eq!(refused("PassWord123", "alice"), vec![msg::COMMON]);
        assert_eq!(refused("  password  ", "alice"), vec![msg::COMMON]);
        assert_eq!(refused("AliceSmith", "alicesmith"), vec![msg::SIMILAR]);
        assert_eq!(refused("alicesmith1", "AliceSmith"), vec![msg::SIMILAR]);
        assert_eq!(refused("smithers", "johnsmithers"), vec![msg::SIMILAR]);
        assert_eq!(refused(&"x".repeat(73), "alice"), vec![msg::TOO_LONG]);
        // 37 two-byte characters = 74 bytes.
        assert_eq!(refused(&"é".repeat(37), "alice"), vec![msg::TOO_LONG]);
    }

    #[test]
    fn common_list_is_lowercase_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in COMMON_PASSWORDS {
            assert_eq!(*p, p.to_lowercase());
            assert!(seen.insert(*p), "duplicate {p}");
        }
        assert!(COMMON_PASSWORDS.len() >= 100);
    }
}
