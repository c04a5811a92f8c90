//! `limit`/`offset` paging with `X-Total-Count` and an RFC 8288 `Link` header (SPEC §4).

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use actix_web::{HttpRequest, HttpResponse};
use healthcare_domain::FieldErrors;
use healthcare_persistence::page::{DEFAULT_LIMIT, MAX_LIMIT};
use healthcare_persistence::{Listed, Page};
use serde::Serialize;

/// Reads `limit` (default 100, at most 1000) and `offset` (default 0).
pub fn page(params: &Params, errors: &mut FieldErrors) -> Page {
    let limit = match params.int("limit", errors) {
        Some(n) if n < 1 => {
            errors.add("limit", "Ensure this value is greater than or equal to 1.");
            DEFAULT_LIMIT
        }
        Some(n) => n.min(MAX_LIMIT),
        None => DEFAULT_LIMIT,
    };
    let offset = match params.int("offset", errors) {
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

fn link(req: &HttpRequest, params: &Params, page: Page, offset: i64, rel: &str) -> String {
    let info = req.connection_info();
    let mut pairs: Vec<(String, String)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "limit" && k != "offset")
        .cloned()
        .collect();
    pairs.push(("limit".into(), page.limit.to_string()));
    pairs.push(("offset".into(), offset.to_string()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!(
        "<{}://{}{}?{}>; rel=\"{}\"",
        info.scheme(),
        info.host(),
        req.path(),
        query,
        rel
    )
}

/// A JSON array of the page's items with the paging headers.
pub fn respond<T: Serialize>(
    req: &HttpRequest,
    params: &Params,
    page: Page,
    listed: &Listed<T>,
) -> HttpResponse {
    let mut links = Vec::new();
    // Saturating: `offset` comes from the client and may be as large as i64::MAX.
    let next = page.offset.saturating_add(page.limit);
    if next < listed.total {
        links.push(link(req, params, page, next, "next"));
    }
    if page.offset > 0 {
        links.push(link(
            req,
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
