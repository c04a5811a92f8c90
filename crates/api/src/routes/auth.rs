//! Registration, tokens (obtain, refresh with rotation, revoke) and `me`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller};
use crate::forwarded::TrustedProxies;
use crate::state::{AppState, State};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use healthcare_auth::{
    check_password_policy, hash_password, verify_against_dummy, verify_password, TokenKind,
};
use healthcare_domain::{Credentials, NewUser, RefreshRequest, Role, User, UserId};
use healthcare_persistence::{tokens, users};
use serde_json::json;

/// Failed logins per username that trigger throttling.
pub const MAX_FAILURES_PER_USER: usize = 5;
/// Failed logins per client address that trigger throttling.
pub const MAX_FAILURES_PER_IP: usize = 20;
/// The throttling window, minutes.
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

/// Self-registration: `{username, email, password}`. The first account of an empty database
/// becomes `admin`; later ones `patient`.
#[utoipa::path(post, path = "/api/auth/register/", tag = "auth",
    request_body = crate::openapi::RegisterIn,
    responses((status = 201, body = crate::openapi::UserOut), (status = 400), (status = 403)))]
pub async fn register(state: State, Body(body): Body) -> ApiResult<HttpResponse> {
    if !state.settings.allow_registration {
        return Err(ApiError::Forbidden);
    }
    let input = NewUser::parse(&body)?;
    check_password_policy(&input.password, &input.username)?;
    let cost = state.settings.bcrypt_cost;
    let password = input.password.clone();
    let hash = state
        .hashing
        .run(move || hash_password(&password, cost))
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = state
        .write(move |c| users::register(c, &input.username, &input.email, &hash))
        .await?;
    Ok(HttpResponse::Created().json(user))
}

/// The client's address for throttling: the TCP peer, or what a trusted proxy forwarded.
fn client_address(req: &HttpRequest, proxies: &TrustedProxies) -> String {
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .map(|value| value.as_bytes());
    req.peer_addr()
        .map(|peer| proxies.client(peer.ip(), forwarded).to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn issue(
    state: &AppState,
    user: UserId,
    role: Role,
    family: Option<String>,
) -> ApiResult<serde_json::Value> {
    let now = Utc::now().timestamp();
    let cfg = healthcare_auth::TokenConfig {
        access_ttl: state.settings.access_ttl,
        refresh_ttl: state.settings.refresh_ttl,
    };
    let pair = state
        .keys
        .issue_pair(user, role, family.as_deref(), now, &cfg)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let jti = pair.refresh_claims.jti.clone();
    let fam = pair.refresh_claims.fam.clone().unwrap_or_default();
    let expires = Utc::now() + Duration::seconds(state.settings.refresh_ttl);
    state
        .write(move |c| tokens::record_refresh(c, &jti, user, &fam, expires))
        .await?;
    Ok(json!({ "access": pair.access, "refresh": pair.refresh }))
}

/// Obtain a token pair: `{username, password}` -> `{access, refresh}`.
#[utoipa::path(post, path = "/api/token/", tag = "auth",
    request_body = crate::openapi::CredentialsIn,
    responses((status = 200, body = crate::openapi::TokenPairOut), (status = 400), (status = 401), (status = 429)))]
pub async fn obtain(state: State, req: HttpRequest, Body(body): Body) -> ApiResult<HttpResponse> {
    let creds = Credentials::parse(&body)?;
    let key = users::username_key(&creds.username);
    let ip = client_address(&req, &state.settings.trusted_proxies);
    let now = Utc::now();
    let since = now - Duration::minutes(FAILURE_WINDOW_MINUTES);
    let (k, i) = (key.clone(), ip.clone());
    let recent = state
        .read(move |c| tokens::recent_failures(c, &k, &i, since))
        .await?;
    let blocked_until = [
        (recent.by_user.len() >= MAX_FAILURES_PER_USER)
            .then(|| recent.by_user.len() - MAX_FAILURES_PER_USER),
        (recent.by_ip.len() >= MAX_FAILURES_PER_IP)
            .then(|| recent.by_ip.len() - MAX_FAILURES_PER_IP),
    ];
    let mut retry_after = None;
    for (list, index) in [
        (&recent.by_user, blocked_until[0]),
        (&recent.by_ip, blocked_until[1]),
    ] {
        if let Some(i) = index {
            if let Some(t) = list.get(i) {
                let until = *t + Duration::minutes(FAILURE_WINDOW_MINUTES);
                let secs = (until - now).num_seconds().max(1) as u64;
                retry_after = Some(retry_after.map_or(secs, |r: u64| r.max(secs)));
            }
        }
    }
    if let Some(secs) = retry_after {
        return Err(ApiError::Throttled(secs));
    }
    let k = key.clone();
    let row = state.read(move |c| users::find_by_username(c, &k)).await?;
    let password = creds.password;
    let verified = match row {
        Some(row) => {
            let hash = row.password_hash.clone();
            let ok = state
                .hashing
                .run(move || verify_password(&password, &hash))
                .await?;
            let user = row.to_domain()?;
            (ok && user.is_active).then_some(user)
        }
        None => {
            let cost = state.settings.bcrypt_cost;
            state
                .hashing
                .run(move || verify_against_dummy(&password, cost))
                .await?;
            None
        }
    };
    let Some(user) = verified else {
        state
            .write(move |c| tokens::record_failure(c, &key, &ip, now))
            .await?;
        return Err(ApiError::Unauthorized(
            "No active account found with the given credentials".into(),
        ));
    };
    state
        .write(move |c| tokens::clear_failures(c, &key))
        .await?;
    let pair = issue(&state, user.id, user.role, None).await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// Exchange a refresh token for a new pair; the old refresh token stops working. Presenting a
/// refresh token twice revokes its whole family (theft detection).
#[utoipa::path(post, path = "/api/token/refresh/", tag = "auth",
    request_body = crate::openapi::RefreshIn,
    responses((status = 200, body = crate::openapi::TokenPairOut), (status = 400), (status = 401)))]
pub async fn refresh(state: State, Body(body): Body) -> ApiResult<HttpResponse> {
    let input = RefreshRequest::parse(&body)?;
    let claims = state
        .keys
        .verify(&input.refresh, TokenKind::Refresh)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let jti = claims.jti.clone();
    let outcome = state
        .write(move |c| {
            let outcome = tokens::use_refresh(c, &jti, Utc::now())?;
            if let tokens::RefreshOutcome::Rotated { user, .. } = &outcome {
                let caller = users::caller(c, *user)?;
                return Ok((outcome, caller));
            }
            Ok((outcome, None))
        })
        .await?;
    match outcome {
        (tokens::RefreshOutcome::Rotated { user, family }, Some((role, true, _))) => {
            let pair = issue(&state, user, role, Some(family)).await?;
            Ok(HttpResponse::Ok().json(pair))
        }
        _ => Err(ApiError::Unauthorized("Token is invalid or expired".into())),
    }
}

/// Log out: revoke a refresh token (and its rotation family).
#[utoipa::path(post, path = "/api/token/revoke/", tag = "auth",
    request_body = crate::openapi::RefreshIn,
    responses((status = 204), (status = 400), (status = 401)))]
pub async fn revoke(state: State, Body(body): Body) -> ApiResult<HttpResponse> {
    let input = RefreshRequest::parse(&body)?;
    let claims = state
        .keys
        .verify(&input.refresh, TokenKind::Refresh)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let jti = claims.jti;
    state
        .write(move |c| {
            if let Some(family) = tokens::family_of(c, &jti)? {
                tokens::revoke_family(c, &family, Utc::now())?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/auth/me/", tag = "auth",
    responses((status = 200, body = crate::openapi::MeOut), (status = 401)),
    security(("bearer" = [])))]
pub async fn me(state: State, Caller(actor): Caller) -> ApiResult<HttpResponse> {
    let row = state.read(move |c| users::find(c, actor.user)).await?;
    let user: User = row.to_domain()?;
    let mut value = serde_json::to_value(&user).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("doctor".into(), json!(actor.doctor));
    }
    Ok(HttpResponse::Ok().json(value))
}
