//! `/api/users/` (admin only).

use super::auth::hash;
use super::{allow, check, id};
use crate::conditional;
use crate::error::ApiResult;
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::pagination;
use crate::state::State;
use actix_web::{web, HttpRequest, HttpResponse};
use healthcare_auth::{check_password_policy, role_of_new_account, update_user, Action, Target};
use healthcare_domain::{FieldErrors, NewUser, UserChanges, UserId};
use healthcare_persistence::users::{self, UserUpdate};
use healthcare_persistence::StoreError;

/// All accounts.
#[utoipa::path(get, path = "/api/users/", tag = "users", operation_id = "users_list",
    params(("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<healthcare_domain::User>, description = "One page of accounts"), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::List, &Target::User)?;
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    pagination::check(errors)?;
    let listed = state.read(move |c| users::list(c, page)).await?;
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Create an account with a role: `{username, email, password, role}`.
#[utoipa::path(post, path = "/api/users/", tag = "users", operation_id = "users_create",
    request_body = healthcare_domain::NewUser,
    responses((status = 201, body = healthcare_domain::User, description = "The new account"), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Create, &Target::User)?;
    let input = NewUser::parse(&body)?;
    check_password_policy(&input.password, &input.username)?;
    let role = role_of_new_account(input.role);
    // A taken username is refused before the (slow) hash.
    let name = input.username.clone();
    if state
        .read(move |c| users::find_by_username(c, &name))
        .await?
        .is_some()
    {
        return Err(StoreError::Duplicate { field: "username" }.into());
    }
    let hashed = hash(&state, input.password.clone()).await?;
    state
        .write_answered(
            move |c| users::create(c, &input.username, &input.email, &hashed, role),
            |user| Answer::created(format!("/api/users/{}/", user.id), user),
        )
        .await
}

/// One account.
#[utoipa::path(get, path = "/api/users/{id}/", tag = "users", operation_id = "users_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::User, description = "The account"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Read, &Target::User)?;
    let uid = UserId(id(&path)?);
    let row = state.read(move |c| users::find(c, uid)).await?;
    Ok(conditional::ok(&row.to_domain()?))
}

/// Change an account's email, role, active flag or password.
#[utoipa::path(patch, path = "/api/users/{id}/", tag = "users", operation_id = "users_update",
    params(("id" = i64, Path)), request_body = healthcare_domain::UserChanges,
    responses((status = 200, body = healthcare_domain::User, description = "The changed account"), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn update(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    allow(&actor, Action::Update, &Target::User)?;
    let uid = UserId(id(&path)?);
    let row = state.read(move |c| users::find(c, uid)).await?;
    let changes = UserChanges::parse(&body)?;
    check(update_user(&actor, uid, &changes))?;
    let password_hash = match &changes.password {
        Some(p) => {
            let name = row.to_domain()?.username;
            check_password_policy(p, &name)?;
            Some(hash(&state, p.clone()).await?)
        }
        None => None,
    };
    let update = UserUpdate {
        email: changes.email,
        role: changes.role.map(|r| r.as_str().to_owned()),
        is_active: changes.is_active,
        password_hash,
    };
    let answer = state
        .write_answered(move |c| users::update(c, uid, &update), Answer::ok)
        .await;
    state.callers.clear();
    answer
}
