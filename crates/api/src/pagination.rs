//! `limit`/`offset` paging with `X-Total-Count` and an RFC 8288 `Link` header.

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::state::State;
use actix_web::{HttpRequest, HttpResponse};
use healthcare_domain::FieldErrors;
use healthcare_persistence::page::{DEFAULT_LIMIT, MAX_LIMIT};
use healthcare_persistence::{Listed, Page};
use serde::Serialize;

/// Reads `limit` (default 100, at most 1000) and `offset` (default 0).
pub fn page(params: &Params, errors: &mut FieldErrors) -> Page {
    page_with_default(params, DEFAULT_LIMIT, errors)
}

/// Reads `limit` (default `default_limit`, at most 1000) and `offset` (default 0).
pub fn page_with_default(params: &Params, default_limit: i64, errors: &mut FieldErrors) -> Page {
    let limit = match params.count("limit", errors) {
        Some(n) if n < 1 => {
            errors.add("limit", "Ensure this value is greater than or equal to 1.");
            default_limit
        }
        Some(n) => n.min(MAX_LIMIT),
        None => default_limit,
    };
    let offset = match params.count("offset", errors) {
        Some(n) if n < 0 => {
            errors.add("offset", "Ensure this value is greater than or equal to 0.");
            0
        }
        Some(n) => n,
        None => 0,
    };
    Page { limit, offset }
}

/// Fails with a 400 when any query parameter was wrong.
pub fn check(errors: FieldErrors) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// One `Link` entry: the request's path and query with this page's `limit` and `offset`,
/// relative (`</api/doctors/?limit=1&offset=1>; rel="next"`), or absolute from
/// `HEALTHCARE_PUBLIC_URL` when it is set. Never built from `Host`, `X-Forwarded-Host` or
/// `Forwarded`, which any client may set.
fn link(base: &str, path: &str, params: &Params, page: Page, offset: i64, rel: &str) -> String {
    let mut pairs: Vec<(String, String)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "limit" && k != "offset")
        .cloned()
        .collect();
    pairs.push(("limit".into(), page.limit.to_string()));
    pairs.push(("offset".into(), offset.to_string()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("<{base}{path}?{query}>; rel=\"{rel}\"")
}

/// A JSON array of the page's items with the paging headers (`X-Total-Count`, and `Link` to
/// the next and previous pages when there are any).
pub fn respond<T: Serialize>(
    req: &HttpRequest,
    params: &Params,
    page: Page,
    listed: &Listed<T>,
) -> HttpResponse {
    // The configured public URL (no trailing slash), or nothing: a relative link.
    let base = req
        .app_data::<State>()
        .and_then(|state| state.settings.public_url.as_deref())
        .unwrap_or("");
    let path = req.path();
    let mut links = Vec::new();
    // Saturating: `offset` comes from the client and may be as large as i64::MAX.
    let next = page.offset.saturating_add(page.limit);
    if next < listed.total {
        links.push(link(base, path, params, page, next, "next"));
    }
    if page.offset > 0 {
        links.push(link(
            base,
            path,
            params,
            page,
            page.offset.saturating_sub(page.limit).max(0),
            "prev",
        ));
    }
    let mut res = HttpResponse::Ok();
    res.insert_header(("X-Total-Count", listed.total.to_string()));
    if !links.is_empty() {
        res.insert_header(("Link", links.join(", ")));
    }
    res.json(&listed.items)
}
