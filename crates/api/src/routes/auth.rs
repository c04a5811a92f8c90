//! Registration, tokens (obtain, refresh with rotation, revoke), password change and `me`.
//!
//! Logins and registrations are admitted by the database before any password is hashed
//! ([`throttle`]): a login counts as a failure until it succeeds. Every login starts a session
//! (the `sid` of its access tokens); refresh rotation is one conditional update, so of several
//! concurrent exchanges of one refresh token exactly one wins and the others end the session.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Session};
use crate::forwarded::client_address;
use crate::idempotency::Answer;
use crate::state::{AppState, State};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use healthcare_auth::{
    check_password_policy, hash_password, needs_rehash, verify_against_dummy, verify_password,
    TokenKind, TokenPair,
};
use healthcare_domain::{Credentials, PasswordChange, RefreshRequest, Registration, User};
use healthcare_persistence::throttle::{self, Admission, Bucket, LoginLimits};
use healthcare_persistence::{tokens, users};

/// The login throttling limits of this server (settings).
pub fn login_limits(state: &AppState) -> LoginLimits {
    let t = &state.settings.throttle;
    let bucket = |max: u32, secs: u64| Bucket {
        max,
        window: Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000)),
    };
    LoginLimits {
        per_user_address: bucket(t.login_failures_per_user_address, t.login_window),
        per_address: bucket(t.login_failures_per_address, t.login_window),
        per_user: bucket(t.login_failures_per_user, t.login_user_window),
    }
}

/// The self-registration limit per client address (settings).
pub fn registration_bucket(state: &AppState) -> Bucket {
    let t = &state.settings.throttle;
    Bucket {
        max: t.registrations_per_address,
        window: Duration::seconds(i64::try_from(t.registration_window).unwrap_or(i64::MAX / 1000)),
    }
}

/// The longest throttling window: records older than it are purged.
pub fn longest_throttle_window(state: &AppState) -> Duration {
    login_limits(state)
        .longest_window()
        .max(registration_bucket(state).window)
}

/// Admits a login attempt (or a password check) of `username_key` from the request's client,
/// or answers 429. The attempt counts as a failure until [`throttle::login_succeeded`].
async fn admit_login(
    state: &AppState,
    req: &HttpRequest,
    username_key: &str,
) -> ApiResult<(i64, String)> {
    let ip = client_address(req, &state.settings.trusted_proxies);
    let limits = login_limits(state);
    let (k, i) = (username_key.to_owned(), ip.clone());
    let admission = state
        .write_untraced(move |c| throttle::admit_login(c, &k, &i, Utc::now(), &limits))
        .await?;
    match admission {
        Admission::Admitted(attempt) => Ok((attempt, ip)),
        Admission::Throttled(secs) => Err(ApiError::Throttled(secs)),
    }
}

/// Hashes a new password at the configured cost, on a hashing slot (never on the executor).
pub async fn hash(state: &AppState, password: String) -> ApiResult<String> {
    let cost = state.settings.bcrypt_cost;
    state
        .hashing
        .run(move || hash_password(&password, cost))
        .await?
        .map_err(|e| ApiError::internal(&e))
}

fn token_config(state: &AppState) -> healthcare_auth::TokenConfig {
    healthcare_auth::TokenConfig {
        access_ttl: state.settings.access_ttl,
        refresh_ttl: state.settings.refresh_ttl,
    }
}

/// Signs an access and a refresh token of `session` for `user`.
fn issue_pair(
    state: &AppState,
    user: &User,
    session: &healthcare_auth::Session,
    now: chrono::DateTime<Utc>,
) -> ApiResult<TokenPair> {
    state
        .keys
        .issue_pair(
            user.id,
            user.role,
            session,
            now.timestamp(),
            &token_config(state),
        )
        .map_err(|e| ApiError::internal(&e))
}

fn pair_body(pair: TokenPair) -> crate::bodies::TokenPair {
    crate::bodies::TokenPair {
        access: pair.access,
        refresh: pair.refresh,
    }
}

/// The seed's registration message.
pub const REGISTERED: &str = "User registered successfully";

/// Self-registration: `{username, email, password}` -> 201 `{"message": "User registered
/// successfully", ...the account}`. The first account of an empty database becomes `admin`;
/// later ones `patient`. Throttled per client address; a duplicate username is refused before
/// any password is hashed.
#[utoipa::path(post, path = "/api/auth/register/", tag = "auth", operation_id = "auth_register",
    request_body = Registration,
    responses((status = 201, body = crate::bodies::Registered, description = "The new account"), (status = 400), (status = 403, description = "Registration is closed"), (status = 429)))]
pub async fn register(state: State, req: HttpRequest, Body(body): Body) -> ApiResult<HttpResponse> {
    if !state.settings.allow_registration {
        return Err(ApiError::Forbidden);
    }
    let input = Registration::parse(&body)?;
    check_password_policy(&input.password, &input.username)?;
    let ip = client_address(&req, &state.settings.trusted_proxies);
    let bucket = registration_bucket(&state);
    let admission = state
        .write_untraced(move |c| throttle::admit_registration(c, &ip, Utc::now(), bucket))
        .await?;
    if let Admission::Throttled(secs) = admission {
        return Err(ApiError::Throttled(secs));
    }
    let name = input.username.clone();
    if state
        .read(move |c| users::find_by_username(c, &name))
        .await?
        .is_some()
    {
        return Err(healthcare_persistence::StoreError::Duplicate { field: "username" }.into());
    }
    let hashed = hash(&state, input.password.clone()).await?;
    let user = state
        .write(move |c| users::register(c, &input.username, &input.email, &hashed))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/users/{}/", user.id.0),
        ))
        .json(crate::bodies::Registered {
            message: REGISTERED,
            user,
        }))
}

/// Obtain a token pair: `{username, password}` -> `{access, refresh}`. Starts a session.
#[utoipa::path(post, path = "/api/token/", tag = "auth", operation_id = "auth_token_obtain",
    request_body = healthcare_domain::Credentials,
    responses((status = 200, body = crate::bodies::TokenPair, description = "A new session's access and refresh tokens"), (status = 400), (status = 401), (status = 429)))]
pub async fn obtain(state: State, req: HttpRequest, Body(body): Body) -> ApiResult<HttpResponse> {
    let creds = Credentials::parse(&body)?;
    crate::audit::attempted_username(&creds.username);
    let key = users::username_key(&creds.username);
    let (attempt, ip) = admit_login(&state, &req, &key).await?;
    let k = key.clone();
    let row = state.read(move |c| users::find_by_username(c, &k)).await?;
    let password = creds.password;
    let cost = state.settings.bcrypt_cost;
    let Some(row) = row else {
        state
            .hashing
            .run(move || verify_against_dummy(&password, cost))
            .await?;
        return Err(bad_credentials());
    };
    let stored = row.password_hash.clone();
    let (ok, rehashed) = state
        .hashing
        .run(move || {
            let ok = verify_password(&password, &stored);
            // A hash made at another cost is replaced on this successful login.
            let rehashed = (ok && needs_rehash(&stored, cost))
                .then(|| hash_password(&password, cost).ok())
                .flatten();
            (ok, rehashed)
        })
        .await?;
    let user = row.to_domain()?;
    if !(ok && user.is_active) {
        return Err(bad_credentials());
    }
    crate::audit::actor(user.id.0, Some(user.role.as_str()));
    let session = healthcare_auth::Session::start(row.token_version);
    let now = Utc::now();
    let pair = issue_pair(&state, &user, &session, now)?;
    let jti = pair.refresh_claims.jti.clone();
    let expires = pair.refresh_claims.expires_at();
    let old_hash = row.password_hash.clone();
    state
        .write(move |c| {
            throttle::login_succeeded(c, attempt, &key, &ip)?;
            tokens::start_session(c, &session.id, user.id, &jti, expires, now)?;
            if let Some(new_hash) = &rehashed {
                users::rehash_password(c, user.id, &old_hash, new_hash)?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(pair_body(pair)))
}

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("No active account found with the given credentials".into())
}

/// Exchange a refresh token for a new pair; the old refresh token stops working. Presenting a
/// refresh token twice, or two at once, ends its whole session (theft detection).
#[utoipa::path(post, path = "/api/token/refresh/", tag = "auth", operation_id = "auth_token_refresh",
    request_body = healthcare_domain::RefreshRequest,
    responses((status = 200, body = crate::bodies::TokenPair, description = "The new token pair; the refresh token sent stops working"), (status = 400), (status = 401)))]
pub async fn refresh(state: State, Body(body): Body) -> ApiResult<HttpResponse> {
    let input = RefreshRequest::parse(&body)?;
    let claims = state
        .keys
        .verify(&input.refresh, TokenKind::Refresh)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let user_id = claims.user();
    let family = claims.fam.clone().unwrap_or_default();
    let row = state
        .read(move |c| users::find(c, user_id).map(Some).or_else(none_if_missing))
        .await?;
    let Some(row) = row else {
        return Err(invalid_refresh());
    };
    let user = row.to_domain()?;
    crate::audit::actor(user.id.0, Some(user.role.as_str()));
    if !user.is_active {
        return Err(invalid_refresh());
    }
    // The next pair is made first and recorded in the exchange's own transaction, so a
    // concurrent reuse that ends the session also revokes it.
    let session = healthcare_auth::Session::resume(family.clone(), row.token_version);
    let now = Utc::now();
    let pair = issue_pair(&state, &user, &session, now)?;
    let (old, new, expires) = (
        claims.jti.clone(),
        pair.refresh_claims.jti.clone(),
        pair.refresh_claims.expires_at(),
    );
    let outcome = state
        .write(move |c| {
            let outcome = tokens::use_refresh(c, &old, now)?;
            if let tokens::RefreshOutcome::Rotated { user, family: f } = &outcome {
                if *user != user_id || *f != family {
                    return Ok(tokens::RefreshOutcome::Unknown);
                }
                tokens::record_refresh(c, &new, user_id, &family, expires)?;
            }
            Ok(outcome)
        })
        .await?;
    match outcome {
        tokens::RefreshOutcome::Rotated { .. } => Ok(HttpResponse::Ok().json(pair_body(pair))),
        tokens::RefreshOutcome::Reused => {
            state.callers.clear();
            Err(invalid_refresh())
        }
        tokens::RefreshOutcome::Unknown => Err(invalid_refresh()),
    }
}

fn none_if_missing<T>(
    e: healthcare_persistence::StoreError,
) -> healthcare_persistence::StoreResult<Option<T>> {
    match e {
        healthcare_persistence::StoreError::NotFound => Ok(None),
        other => Err(other),
    }
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("Token is invalid or expired".into())
}

/// Log out: revoke a refresh token's session (its refresh tokens and its access tokens).
#[utoipa::path(post, path = "/api/token/revoke/", tag = "auth", operation_id = "auth_token_revoke",
    request_body = healthcare_domain::RefreshRequest,
    responses((status = 204, description = "The session is ended (no body)"), (status = 400), (status = 401)))]
pub async fn revoke(state: State, Body(body): Body) -> ApiResult<HttpResponse> {
    let input = RefreshRequest::parse(&body)?;
    let claims = state
        .keys
        .verify(&input.refresh, TokenKind::Refresh)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    crate::audit::actor(claims.user().0, Some(claims.role.as_str()));
    let jti = claims.jti;
    state
        .write(move |c| {
            if let Some(family) = tokens::family_of(c, &jti)? {
                tokens::revoke_family(c, &family, Utc::now())?;
            }
            Ok(())
        })
        .await?;
    state.callers.clear();
    Ok(HttpResponse::NoContent().finish())
}

/// Change one's own password: `{old_password, new_password}` -> 204. Ends every other session
/// of the account; this one goes on. A wrong old password counts as a failed login.
#[utoipa::path(post, path = "/api/auth/password/", tag = "auth", operation_id = "auth_password_change",
    request_body = healthcare_domain::PasswordChange,
    responses((status = 204, description = "Password changed; every other session of the account is ended (no body)"), (status = 400), (status = 401), (status = 429)),
    security(("bearer" = [])))]
pub async fn change_password(
    state: State,
    req: HttpRequest,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    let session = req
        .extensions()
        .get::<Session>()
        .map(|s| s.0.clone())
        .ok_or_else(|| ApiError::Internal("no session on an authenticated request".into()))?;
    let input = PasswordChange::parse(&body)?;
    let uid = actor.user;
    let row = state.read(move |c| users::find(c, uid)).await?;
    let user = row.to_domain()?;
    check_password_policy(&input.new_password, &user.username)
        .map_err(|e| ApiError::Validation(e.renamed("password", "new_password")))?;
    let key = users::username_key(&user.username);
    let (attempt, ip) = admit_login(&state, &req, &key).await?;
    let (old, stored) = (input.old_password.clone(), row.password_hash.clone());
    let ok = state
        .hashing
        .run(move || verify_password(&old, &stored))
        .await?;
    if !ok {
        return Err(ApiError::field(
            "old_password",
            "Your old password was entered incorrectly. Please enter it again.",
        ));
    }
    let hashed = hash(&state, input.new_password.clone()).await?;
    let answer = state
        .write_answered(
            move |c| {
                throttle::login_succeeded(c, attempt, &key, &ip)?;
                users::change_password(c, uid, &hashed, &session)
            },
            |_| Ok(Answer::empty(actix_web::http::StatusCode::NO_CONTENT)),
        )
        .await;
    state.callers.clear();
    answer
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/auth/me/", tag = "auth", operation_id = "auth_me",
    responses((status = 200, body = crate::bodies::Me, description = "The caller's account"), (status = 401)),
    security(("bearer" = [])))]
pub async fn me(state: State, Caller(actor): Caller) -> ApiResult<HttpResponse> {
    let row = state.read(move |c| users::find(c, actor.user)).await?;
    let user: User = row.to_domain()?;
    Ok(HttpResponse::Ok().json(crate::bodies::Me {
        user,
        doctor: actor.doctor,
    }))
}
