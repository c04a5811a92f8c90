//! `/api/webhooks/` (admin only): subscriptions, their delivery log, pings, manual retries and
//! secret rotation (docs/notifications.md).

use super::{allow, id};
use crate::bodies::Detail;
use crate::conditional;
use crate::egress::check_url;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Caller, Params};
use crate::idempotency::Answer;
use crate::pagination;
use crate::state::{AppState, State};
use crate::webhook_signing::new_secret;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use healthcare_auth::{Action, Actor, Target};
use healthcare_domain::{CreatedWebhook, FieldErrors, NewWebhook, WebhookChanges};
use healthcare_persistence::{outbox, webhooks};

/// How long a replaced secret keeps signing beside the new one.
pub const SECRET_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// Refuses a URL that is not http(s) or whose host resolves to a loopback, private or
/// link-local address (unless such targets are allowed); the name is resolved on the blocking
/// pool.
async fn check_target(state: &AppState, url: String) -> ApiResult<()> {
    let allow_private = state.settings.webhooks.webhook_allow_private;
    let verdict = web::block(move || check_url(&url, allow_private)).await?;
    verdict.map_err(|message| ApiError::Validation(FieldErrors::single("url", message)))
}

fn admin(actor: &Actor, action: Action) -> ApiResult<()> {
    allow(actor, action, &Target::Webhook)
}

/// All subscriptions.
#[utoipa::path(get, path = "/api/webhooks/", tag = "webhooks", operation_id = "webhooks_list",
    params(("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<healthcare_domain::Webhook>, description = "One page of subscriptions"), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    params: Params,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::List)?;
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    pagination::check(errors)?;
    let listed = state.read(move |c| webhooks::list(c, page)).await?;
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Subscribe a URL to events; the answer shows the signing secret, once.
#[utoipa::path(post, path = "/api/webhooks/", tag = "webhooks", operation_id = "webhooks_create",
    request_body = healthcare_domain::NewWebhook,
    responses((status = 201, body = healthcare_domain::CreatedWebhook, description = "The subscription with its secret"), (status = 400), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn create(
    state: State,
    Caller(actor): Caller,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Create)?;
    let input = NewWebhook::parse(&body)?;
    check_target(&state, input.url.clone()).await?;
    let secret = new_secret();
    let kept = secret.clone();
    state
        .write_answered(
            move |c| webhooks::create(c, &input, &kept),
            move |webhook| {
                let answer = CreatedWebhook {
                    webhook: webhook.clone(),
                    secret: secret.clone(),
                };
                Answer::created(format!("/api/webhooks/{}/", webhook.id), &answer)
            },
        )
        .await
}

/// One subscription.
#[utoipa::path(get, path = "/api/webhooks/{id}/", tag = "webhooks", operation_id = "webhooks_get",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::Webhook, description = "The subscription"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn get(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Read)?;
    let wid = id(&path)?;
    let webhook = state.read(move |c| webhooks::find(c, wid)).await?;
    Ok(conditional::ok(&webhook))
}

/// Change a subscription's URL, events, description, active flag or reminder offsets.
#[utoipa::path(patch, path = "/api/webhooks/{id}/", tag = "webhooks", operation_id = "webhooks_update",
    params(("id" = i64, Path)), request_body = healthcare_domain::WebhookChanges,
    responses((status = 200, body = healthcare_domain::Webhook, description = "The changed subscription"), (status = 400), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn update(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
    Body(body): Body,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Update)?;
    let wid = id(&path)?;
    let changes = WebhookChanges::parse(&body)?;
    if let Some(url) = &changes.url {
        check_target(&state, url.clone()).await?;
    }
    state
        .write_answered(move |c| webhooks::update(c, wid, &changes), Answer::ok)
        .await
}

/// Deactivate a subscription (its delivery log stays; nothing new is sent to it).
#[utoipa::path(delete, path = "/api/webhooks/{id}/", tag = "webhooks", operation_id = "webhooks_deactivate",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Deactivated (no body)"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn deactivate(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Archive)?;
    let wid = id(&path)?;
    state
        .write(move |c| webhooks::deactivate(c, wid).map(|_| ()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Queue a `ping` event for this subscription (202, see its delivery log; 409 when inactive).
#[utoipa::path(post, path = "/api/webhooks/{id}/ping/", tag = "webhooks", operation_id = "webhooks_ping",
    params(("id" = i64, Path)),
    responses((status = 202, body = crate::bodies::Detail, description = "Queued", example = json!({"detail": "Ping queued."})), (status = 401), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn ping(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Update)?;
    let wid = id(&path)?;
    state
        .write_answered(
            move |c| webhooks::queue_ping(c, wid),
            |_| Answer::json(StatusCode::ACCEPTED, &Detail::new("Ping queued.")),
        )
        .await
}

/// Replace the signing secret; the old one keeps signing beside the new one for 24 hours.
#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret/", tag = "webhooks", operation_id = "webhooks_rotate_secret",
    params(("id" = i64, Path)),
    responses((status = 200, body = healthcare_domain::CreatedWebhook, description = "The subscription with its new secret"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    state: State,
    Caller(actor): Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Update)?;
    let wid = id(&path)?;
    let secret = new_secret();
    let kept = secret.clone();
    let until = Utc::now() + SECRET_OVERLAP;
    state
        .write_answered(
            move |c| webhooks::rotate_secret(c, wid, &kept, until),
            move |webhook| {
                Answer::ok(&CreatedWebhook {
                    webhook: webhook.clone(),
                    secret: secret.clone(),
                })
            },
        )
        .await
}

/// The subscription's delivery attempts, newest first.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries/", tag = "webhooks", operation_id = "webhooks_deliveries",
    params(("id" = i64, Path), ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, body = Vec<healthcare_domain::Delivery>, description = "One page of attempts"), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn deliveries(
    state: State,
    Caller(actor): Caller,
    req: HttpRequest,
    path: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Read)?;
    let wid = id(&path)?;
    let mut errors = FieldErrors::new();
    let page = pagination::page(&params, &mut errors);
    pagination::check(errors)?;
    let listed = state
        .read(move |c| {
            webhooks::find_row(c, wid)?;
            outbox::deliveries(c, wid, page)
        })
        .await?;
    Ok(pagination::respond(&req, &params, page, &listed))
}

/// Send the event of this delivery again now (202), whatever became of it.
#[utoipa::path(post, path = "/api/webhooks/{id}/deliveries/{delivery_id}/retry/", tag = "webhooks", operation_id = "webhooks_retry",
    params(("id" = i64, Path), ("delivery_id" = i64, Path)),
    responses((status = 202, body = crate::bodies::Detail, description = "Queued", example = json!({"detail": "Retry queued."})), (status = 401), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn retry(
    state: State,
    Caller(actor): Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    admin(&actor, Action::Update)?;
    let (wid, did) = (id(&path.0)?, id(&path.1)?);
    let window = state.settings.webhooks.delivery().window();
    state
        .write_answered(
            move |c| outbox::retry(c, wid, did, window),
            |_| Answer::json(StatusCode::ACCEPTED, &Detail::new("Retry queued.")),
        )
        .await
}
