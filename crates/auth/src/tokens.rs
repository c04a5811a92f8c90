//! JSON Web Tokens, HS256 only, with claims compatible with the seed's SimpleJWT tokens
//! (`token_type`, `exp`, `iat`, `jti`, `user_id`) plus `sub`, `role` and a refresh family.
//!
//! Access tokens are stateless (checked by signature and expiry only). Refresh tokens are also
//! recorded by `jti` in the database by persistence, so that rotation (each refresh token is
//! exchanged once), reuse detection (a second use revokes its whole family) and logout work
//! across several server processes. A *family* is one login session: [`Keys::issue_pair`] with
//! `family: None` starts one (at login), with `Some(family)` continues it (at refresh).

use crate::AuthError;
use chrono::{DateTime, Utc};
use healthcare_domain::{Role, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The shortest HS256 key accepted (256 bits): a shorter `JWT_SECRET` refuses to start.
pub const MIN_SECRET_BYTES: usize = 32;

/// Checks a configured signing key: at least [`MIN_SECRET_BYTES`] bytes.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        Err(format!(
            "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {}); unset it to have a random key generated and kept in the database",
            secret.len()
        ))
    } else {
        Ok(())
    }
}

/// Clock skew tolerated on `exp`, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// Which kind of token: the `token_type` claim, as SimpleJWT names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Short-lived, sent as `Authorization: Bearer ...`.
    Access,
    /// Long-lived, only exchanged at `/api/token/refresh/` or revoked at `/api/token/revoke/`.
    Refresh,
}

impl TokenKind {
    /// `"access"` or `"refresh"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of every token this crate issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id as a decimal string (RFC 7519 subject).
    pub sub: String,
    /// The account id as a number (SimpleJWT's claim; equal to `sub`).
    pub user_id: i64,
    /// The account's role when the token was issued (serialised as its code). Informational:
    /// the API re-reads the role from the database on each request.
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: i64,
    /// Unique token id: 128 random bits as 32 lowercase hex digits.
    pub jti: String,
    /// `"access"` or `"refresh"`.
    pub token_type: TokenKind,
    /// The refresh family (login session) id; present on refresh tokens only (SimpleJWT-era
    /// name, equal to `sid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
    /// The login session the token belongs to; required on access tokens. Revoking the
    /// session (logout, refresh-token reuse) ends its access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The account's token version when the token was issued; a password change by an admin,
    /// a deactivation or a role change moves it and so ends every session of the account.
    #[serde(default)]
    pub ver: i64,
}

impl Claims {
    /// The account the token belongs to.
    pub fn user(&self) -> UserId {
        UserId(self.user_id)
    }

    /// `exp` as a date-time (for recording the refresh token's expiry).
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// `iat` as a date-time.
    pub fn issued_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.iat, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Token lifetimes, in seconds (`ACCESS_TOKEN_TTL`, `REFRESH_TOKEN_TTL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenConfig {
    /// Access-token lifetime (default 3600).
    pub access_ttl: i64,
    /// Refresh-token lifetime (default 86400).
    pub refresh_ttl: i64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_ttl: 3600,
            refresh_ttl: 86_400,
        }
    }
}

/// The login session tokens are issued for: its id (`sid`, and `fam` of refresh tokens) and the
/// account's token version at issue (`ver`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session id: 128 random bits as 32 lowercase hex digits.
    pub id: String,
    /// The account's `token_version`.
    pub version: i64,
}

impl Session {
    /// A new session (at login) for an account at token version `version`.
    pub fn start(version: i64) -> Session {
        Session {
            id: new_jti(),
            version,
        }
    }

    /// An existing session (at refresh), now at token version `version`.
    pub fn resume(id: impl Into<String>, version: i64) -> Session {
        Session {
            id: id.into(),
            version,
        }
    }
}

/// An access token and a refresh token issued together, with their claims (record
/// `refresh_claims.jti`, `.fam` and `.expires_at()` in the database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// The encoded access token.
    pub access: String,
    /// The encoded refresh token.
    pub refresh: String,
    /// The access token's claims.
    pub access_claims: Claims,
    /// The refresh token's claims (`fam` is always `Some`).
    pub refresh_claims: Claims,
}

/// Why a token was refused. Every variant answers 401; `Display` is the `detail` message
/// (worded as SimpleJWT words it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT at all, unreadable header or claims, or claims of the wrong shape.
    #[error("Given token not valid for any token type")]
    Malformed,
    /// Signed with another key, or tampered with.
    #[error("Token is invalid or expired")]
    BadSignature,
    /// Any algorithm but HS256 (including `none`).
    #[error("Given token not valid for any token type")]
    Algorithm,
    /// `exp` is in the past (beyond the leeway).
    #[error("Token is invalid or expired")]
    Expired,
    /// A refresh token where an access token was expected, or the reverse.
    #[error("Token has wrong type")]
    WrongType,
    /// A refresh token that was already exchanged, revoked, or is unknown to the database
    /// (persistence decides; the API reports it with this variant).
    #[error("Token is blacklisted")]
    Revoked,
}

impl TokenError {
    /// SimpleJWT's error code, for clients that read `code`.
    pub const fn code(self) -> &'static str {
        "token_not_valid"
    }
}

/// The signing and verification keys, and the validation rules, built once at start-up.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

/// A fresh random 256-bit secret as 64 lowercase hex digits, for the server's first start.
/// [`Keys::from_secret`] takes the string's bytes as they are (no hex decoding).
pub fn generate_secret() -> String {
    hex(&rand::random::<[u8; 32]>())
}

fn new_jti() -> String {
    hex(&rand::random::<[u8; 16]>())
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl Keys {
    /// Keys from the HS256 secret (`JWT_SECRET`, or the one stored in the database). Accepts
    /// only HS256 on verification, with a [`LEEWAY_SECS`] leeway on `exp`, which is required.
    pub fn from_secret(secret: &[u8]) -> Keys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        validation.validate_nbf = false;
        validation.reject_tokens_expiring_in_less_than = 0;
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Issues one token of `kind` for `user` in `session`, valid `ttl` seconds from `now`
    /// (Unix seconds). Refresh tokens also carry the session id as `fam`.
    pub fn issue(
        &self,
        kind: TokenKind,
        user: UserId,
        role: Role,
        session: &Session,
        now: i64,
        ttl: i64,
    ) -> Result<(String, Claims), AuthError> {
        let fam = match kind {
            TokenKind::Access => None,
            TokenKind::Refresh => Some(session.id.clone()),
        };
        let claims = Claims {
            sub: user.0.to_string(),
            user_id: user.0,
            role,
            exp: now.saturating_add(ttl),
            iat: now,
            jti: new_jti(),
            token_type: kind,
            fam,
            sid: Some(session.id.clone()),
            ver: session.version,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Issues an access token and a refresh token of `session` (a new one at login, the same
    /// one at rotation).
    pub fn issue_pair(
        &self,
        user: UserId,
        role: Role,
        session: &Session,
        now: i64,
        cfg: &TokenConfig,
    ) -> Result<TokenPair, AuthError> {
        let (access, access_claims) =
            self.issue(TokenKind::Access, user, role, session, now, cfg.access_ttl)?;
        let (refresh, refresh_claims) = self.issue(
            TokenKind::Refresh,
            user,
            role,
            session,
            now,
            cfg.refresh_ttl,
        )?;
        Ok(TokenPair {
            access,
            refresh,
            access_claims,
            refresh_claims,
        })
    }

    /// Verifies a token's algorithm (HS256 only), signature, expiry (against the system clock,
    /// with the leeway) and kind, and returns its claims. Revocation of refresh tokens is for
    /// the caller to check against the database, using `jti`.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation)
            .map_err(|e| classify(e.kind()))?;
        let claims = data.claims;
        if claims.sub != claims.user_id.to_string() {
            return Err(TokenError::Malformed);
        }
        if claims.token_type != expected {
            return Err(TokenError::WrongType);
        }
        if claims.token_type == TokenKind::Refresh && claims.fam.is_none() {
            return Err(TokenError::Malformed);
        }
        if claims.token_type == TokenKind::Access && claims.sid.is_none() {
            return Err(TokenError::Malformed);
        }
        Ok(claims)
    }
}

fn classify(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => TokenError::Algorithm,
        _ => TokenError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    const SECRET: &[u8] = b"test-secret-of-reasonable-length-0123456789";
    const CFG: TokenConfig = TokenConfig {
        access_ttl: 3600,
        refresh_ttl: 86_400,
    };

    fn now() -> i64 {
        Utc::now().timestamp()
    }

    fn keys() -> Keys {
        Keys::from_secret(SECRET)
    }

    /// base64url without padding, to hand-build forged tokens.
    fn b64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn payload_json(kind: TokenKind, exp: i64) -> String {
        format!(
            r#"{{"sub":"7","user_id":7,"role":"admin","exp":{exp},"iat":{},"jti":"{}","token_type":"{kind}"}}"#,
            now(),
            new_jti()
        )
    }

    #[test]
    fn b64url_matches_known_values() {
        assert_eq!(
            b64url(br#"{"alg":"none","typ":"JWT"}"#),
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
        );
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
    }

    #[test]
    fn pair_round_trips() {
        let k = keys();
        let t = now();
        let pair = k
            .issue_pair(UserId(42), Role::Doctor, &Session::start(0), t, &CFG)
            .unwrap();
        let a = k.verify(&pair.access, TokenKind::Access).unwrap();
        let r = k.verify(&pair.refresh, TokenKind::Refresh).unwrap();
        assert_eq!(a, pair.access_claims);
        assert_eq!(r, pair.refresh_claims);
        assert_eq!(a.user(), UserId(42));
        assert_eq!(a.sub, "42");
        assert_eq!(a.role, Role::Doctor);
        assert_eq!(a.iat, t);
        assert_eq!(a.exp, t + 3600);
        assert_eq!(r.exp, t + 86_400);
        assert_eq!(r.expires_at().timestamp(), t + 86_400);
        assert_eq!(a.issued_at().timestamp(), t);
        assert_eq!(a.fam, None);
        let fam = r.fam.clone().unwrap();
        assert_eq!(fam.len(), 32);
        assert_eq!(a.jti.len(), 32);
        assert!(a.jti.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.jti, r.jti);

        // Rotation keeps the family, with new ids.
        let next = k
            .issue_pair(
                UserId(42),
                Role::Doctor,
                &Session::resume(fam.clone(), 0),
                t,
                &CFG,
            )
            .unwrap();
        assert_eq!(next.refresh_claims.fam.as_deref(), Some(fam.as_str()));
        assert_ne!(next.refresh_claims.jti, r.jti);
        // A new login starts a new family.
        let other = k
            .issue_pair(UserId(42), Role::Doctor, &Session::start(0), t, &CFG)
            .unwrap();
        assert_ne!(other.refresh_claims.fam, r.fam);
    }

    fn raw_claims(k: &Keys, token: &str) -> Map<String, Value> {
        jsonwebtoken::decode::<Map<String, Value>>(token, &k.decoding, &k.validation)
            .unwrap()
            .claims
    }

    #[test]
    fn wire_format_is_simplejwt_compatible() {
        let k = keys();
        let (token, _) = k
            .issue(
                TokenKind::Refresh,
                UserId(3),
                Role::Patient,
                &Session::resume("f1", 0),
                now(),
                60,
            )
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        let m = raw_claims(&k, &token);
        assert_eq!(m["token_type"], "refresh");
        assert_eq!(m["user_id"], 3);
        assert_eq!(m["sub"], "3");
        assert_eq!(m["role"], "patient");
        assert_eq!(m["fam"], "f1");
        let (access, _) = k
            .issue(
                TokenKind::Access,
                UserId(3),
                Role::Patient,
                &Session::resume("s1", 0),
                now(),
                60,
            )
            .unwrap();
        let m = raw_claims(&k, &access);
        assert_eq!(m["token_type"], "access");
        assert!(!m.contains_key("fam"));
        assert!(m["sid"].is_string());
        assert_eq!(m["ver"], 0);
    }

    #[test]
    fn wrong_type_is_refused_both_ways() {
        let k = keys();
        let pair = k
            .issue_pair(UserId(1), Role::Admin, &Session::start(0), now(), &CFG)
            .unwrap();
        assert_eq!(
            k.verify(&pair.refresh, TokenKind::Access),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            k.verify(&pair.access, TokenKind::Refresh),
            Err(TokenError::WrongType)
        );
        assert_eq!(TokenError::WrongType.to_string(), "Token has wrong type");
    }

    #[test]
    fn expired_is_refused_beyond_leeway_only() {
        let k = keys();
        let t = now();
        // Expired 60 s ago.
        let (old, _) = k
            .issue(
                TokenKind::Access,
                UserId(1),
                Role::Admin,
                &Session::start(0),
                t - 3660,
                3600,
            )
            .unwrap();
        assert_eq!(k.verify(&old, TokenKind::Access), Err(TokenError::Expired));
        // Expired 2 s ago: within the 5 s leeway.
        let (recent, _) = k
            .issue(
                TokenKind::Access,
                UserId(1),
                Role::Admin,
                &Session::start(0),
                t - 62,
                60,
            )
            .unwrap();
        assert!(k.verify(&recent, TokenKind::Access).is_ok());
        assert_eq!(
            TokenError::Expired.to_string(),
            "Token is invalid or expired"
        );
    }

    #[test]
    fn other_key_is_refused() {
        let (token, _) = Keys::from_secret(b"another secret")
            .issue(
                TokenKind::Access,
                UserId(1),
                Role::Admin,
                &Session::start(0),
                now(),
                60,
            )
            .unwrap();
        assert_eq!(
            keys().verify(&token, TokenKind::Access),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_payload_is_refused() {
        let k = keys();
        let (token, _) = k
            .issue(
                TokenKind::Access,
                UserId(5),
                Role::Patient,
                &Session::start(0),
                now(),
                60,
            )
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload = b64url(payload_json(TokenKind::Access, now() + 600).as_bytes());
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(
            k.verify(&forged, TokenKind::Access),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let k = keys();
        let payload = b64url(payload_json(TokenKind::Access, now() + 600).as_bytes());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"None","typ":"JWT"}"#,
            r#"{"alg":"NONE"}"#,
            r#"{"typ":"JWT"}"#,
        ] {
            let h = b64url(header.as_bytes());
            for token in [format!("{h}.{payload}."), format!("{h}.{payload}")] {
                let err = k.verify(&token, TokenKind::Access).unwrap_err();
                assert!(
                    matches!(err, TokenError::Algorithm | TokenError::Malformed),
                    "{header}: {err:?}"
                );
            }
        }
        // A real HS256 header with the signature stripped.
        let (token, _) = k
            .issue(
                TokenKind::Access,
                UserId(5),
                Role::Patient,
                &Session::start(0),
                now(),
                60,
            )
            .unwrap();
        let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
        assert!(k.verify(&unsigned, TokenKind::Access).is_err());
    }

    #[test]
    fn other_hmac_algorithms_with_the_same_key_are_refused() {
        let k = keys();
        let claims = Claims {
            sub: "1".into(),
            user_id: 1,
            role: Role::Admin,
            exp: now() + 600,
            iat: now(),
            jti: new_jti(),
            token_type: TokenKind::Access,
            fam: None,
            sid: Some("s1".into()),
            ver: 0,
        };
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap();
            assert_eq!(
                k.verify(&token, TokenKind::Access),
                Err(TokenError::Algorithm),
                "{alg:?}"
            );
        }
        // The same claims under HS256 pass: only the algorithm was wrong.
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(k.verify(&token, TokenKind::Access).is_ok());
    }

    #[test]
    fn malformed_input_never_panics() {
        let k = keys();
        let long = "a".repeat(10_000);
        for t in [
            "",
            ".",
            "..",
            "...",
            "abc",
            "a.b.c",
            "Bearer x",
            "eyJhbGciOiJIUzI1NiJ9.e30.",
            "eyJhbGciOiJIUzI1NiJ9.!!!.sig",
            "\u{0}\u{1}.\u{ff}.x",
            long.as_str(),
        ] {
            let err = k.verify(t, TokenKind::Access).unwrap_err();
            assert_ne!(err, TokenError::Expired, "{t:?}");
        }
    }

    #[test]
    fn claims_of_the_wrong_shape_are_refused() {
        let k = keys();
        let enc = EncodingKey::from_secret(SECRET);
        let sign = |json: &str| {
            let value: Value = serde_json::from_str(json).unwrap();
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &value, &enc).unwrap()
        };
        let exp = now() + 600;
        let iat = now();
        let cases = [
            // No exp.
            format!(
                r#"{{"sub":"1","user_id":1,"role":"admin","iat":{iat},"jti":"x","token_type":"access"}}"#
            ),
            // sub and user_id disagree.
            format!(
                r#"{{"sub":"2","user_id":1,"role":"admin","exp":{exp},"iat":{iat},"jti":"x","token_type":"access"}}"#
            ),
            // Unknown role.
            format!(
                r#"{{"sub":"1","user_id":1,"role":"root","exp":{exp},"iat":{iat},"jti":"x","token_type":"access"}}"#
            ),
            // Unknown type.
            format!(
                r#"{{"sub":"1","user_id":1,"role":"admin","exp":{exp},"iat":{iat},"jti":"x","token_type":"id"}}"#
            ),
            // exp as a string.
            format!(
                r#"{{"sub":"1","user_id":1,"role":"admin","exp":"{exp}","iat":{iat},"jti":"x","token_type":"access"}}"#
            ),
            // Not an object.
            "[1,2,3]".to_owned(),
        ];
        for json in &cases {
            let token = sign(json);
            let err = k.verify(&token, TokenKind::Access).unwrap_err();
            assert_eq!(err, TokenError::Malformed, "{json}");
        }
        // An access token without a session.
        let token = sign(&format!(
            r#"{{"sub":"1","user_id":1,"role":"admin","exp":{exp},"iat":{iat},"jti":"x","token_type":"access"}}"#
        ));
        assert_eq!(
            k.verify(&token, TokenKind::Access),
            Err(TokenError::Malformed)
        );
        // A refresh token without a family.
        let token = sign(&format!(
            r#"{{"sub":"1","user_id":1,"role":"admin","exp":{exp},"iat":{iat},"jti":"x","token_type":"refresh"}}"#
        ));
        assert_eq!(
            k.verify(&token, TokenKind::Refresh),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn secrets_are_random_256_bit_hex() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(a, b);
        // Usable as a key.
        let k = Keys::from_secret(a.as_bytes());
        let (t, _) = k
            .issue(
                TokenKind::Access,
                UserId(1),
                Role::Staff,
                &Session::start(0),
                now(),
                60,
            )
            .unwrap();
        assert!(k.verify(&t, TokenKind::Access).is_ok());
        assert!(!format!("{k:?}").contains(&a));
    }

    #[test]
    fn error_messages_and_code() {
        assert_eq!(
            TokenError::Malformed.to_string(),
            "Given token not valid for any token type"
        );
        assert_eq!(
            TokenError::BadSignature.to_string(),
            "Token is invalid or expired"
        );
        assert_eq!(TokenError::Revoked.to_string(), "Token is blacklisted");
        assert_eq!(TokenError::Algorithm.code(), "token_not_valid");
        assert_eq!(TokenKind::Refresh.to_string(), "refresh");
    }
}
