//! axum glue: each handler reads the request, calls the service and shapes the response.

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use model::resource::Projection;
use model::schema::SEARCH_REQUEST;
use model::{ResourceKind, ScimError};
use serde_json::Value;

use crate::ScimState;
use crate::auth::SourceCtx;
use crate::error::{ApiError, SCIM_CONTENT_TYPE, error_response};
use crate::request::{Params, if_match, if_none_match, projection, read_json};
use crate::service::{Ctx, ListRequest, Rendered, int_param};

pub fn base_url(state: &ScimState, headers: &HeaderMap, source: &str) -> String {
    if let Some(public) = &state.config.public_url {
        return format!("{}/scim/v2/{source}", public.trim_end_matches('/'));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme =
        headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).filter(|p| *p == "https").unwrap_or("http");
    format!("{scheme}://{host}/scim/v2/{source}")
}

pub fn scim_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
    resp
}

fn resource_response(status: StatusCode, r: &Rendered, with_location: bool) -> Response {
    let mut resp = scim_response(status, &r.body);
    if let Ok(v) = HeaderValue::from_str(&crate::render::etag(r.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if with_location && let Ok(v) = HeaderValue::from_str(&r.location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn empty_with_etag(status: StatusCode, version: u64) -> Response {
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&crate::render::etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn kind_of(segment: &str) -> Result<ResourceKind, ApiError> {
    ResourceKind::from_endpoint(segment)
        .ok_or_else(|| ApiError(ScimError::not_found(format!("there is no '{segment}' endpoint; use Users or Groups"))))
}

fn query_projection(params: &Params, kind: ResourceKind) -> Projection {
    projection(params.get("attributes"), params.get("excludedAttributes"), kind.definition())
}

type ResourcePath = Path<(String, String)>;
type ItemPath = Path<(String, String, String)>;

pub async fn list(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, resource)): ResourcePath,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let kind = kind_of(&resource)?;
    let params = Params::parse(q.as_deref());
    let req = ListRequest {
        filter: params.get("filter").map(str::to_string),
        sort_by: params.get("sortBy").map(str::to_string),
        sort_order: params.get("sortOrder").map(str::to_string),
        start_index: int_param("startIndex", params.get("startIndex"))?,
        count: int_param("count", params.get("count"))?,
        attributes: params.get("attributes").map(str::to_string),
        excluded: params.get("excludedAttributes").map(str::to_string),
    };
    let ctx = Ctx::new(&state, &src, &headers);
    Ok(scim_response(StatusCode::OK, &ctx.list(kind, req).await?))
}

fn string_or_list(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
        _ => None,
    }
}

fn search_request(body: &Value) -> Result<ListRequest, ApiError> {
    let get = |name: &str| model::eval::get_ci(body, name);
    let has_schema = get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST))));
    if !has_schema {
        return Err(ApiError(ScimError::invalid_syntax(format!(
            "a search body needs \"schemas\": [\"{SEARCH_REQUEST}\"]"
        ))));
    }
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError(ScimError::invalid_value(format!("'{name}' must be a string")))),
        }
    };
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        match get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError(ScimError::invalid_value(format!("'{name}' must be an integer")))),
            Some(_) => Err(ApiError(ScimError::invalid_value(format!("'{name}' must be an integer")))),
        }
    };
    Ok(ListRequest {
        filter: text("filter")?,
        sort_by: text("sortBy")?,
        sort_order: text("sortOrder")?,
        start_index: int("startIndex")?,
        count: int("count")?,
        attributes: string_or_list(get("attributes")),
        excluded: string_or_list(get("excludedAttributes")),
    })
}

pub async fn search(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, resource)): ResourcePath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = kind_of(&resource)?;
    let body = read_json(&headers, body, state.config.max_body_bytes, state.config.body_read_timeout).await?;
    let req = search_request(&body)?;
    let ctx = Ctx::new(&state, &src, &headers);
    Ok(scim_response(StatusCode::OK, &ctx.list(kind, req).await?))
}

pub async fn search_all(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path(_source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body, state.config.max_body_bytes, state.config.body_read_timeout).await?;
    let req = search_request(&body)?;
    let ctx = Ctx::new(&state, &src, &headers);
    Ok(scim_response(StatusCode::OK, &ctx.search_all(req).await?))
}

pub async fn create(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, resource)): ResourcePath,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = kind_of(&resource)?;
    let body = read_json(&headers, body, state.config.max_body_bytes, state.config.body_read_timeout).await?;
    let proj = query_projection(&Params::parse(q.as_deref()), kind);
    let ctx = Ctx::new(&state, &src, &headers);
    let r = ctx.create(kind, body, &proj).await?;
    Ok(resource_response(StatusCode::CREATED, &r, true))
}

pub async fn get_one(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, resource, id)): ItemPath,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let kind = kind_of(&resource)?;
    let proj = query_projection(&Params::parse(q.as_deref()), kind);
    let ctx = Ctx::new(&state, &src, &headers);
    let r = ctx.get(kind, &id, &proj).await?;
    if if_none_match(&headers, r.version) {
        return Ok(empty_with_etag(StatusCode::NOT_MODIFIED, r.version));
    }
    Ok(resource_response(StatusCode::OK, &r, false))
}

pub async fn replace(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, resource, id)): ItemPath,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = kind_of(&resource)?;
    let body = read_json(&headers, body, state.config.max_body_bytes, state.config.body_read_timeout).await?;
    let proj = query_projection(&Params::parse(q.as_deref()), kind);
    let ctx = Ctx::new(&state, &src, &headers);
    let r = ctx.replace(kind, &id, if_match(&headers)?, body, &proj).await?;
    Ok(resource_response(StatusCode::OK, &r, false))
}

pub async fn patch(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, resource, id)): ItemPath,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = kind_of(&resource)?;
    let body = read_json(&headers, body, state.config.max_body_bytes, state.config.body_read_timeout).await?;
    let params = Params::parse(q.as_deref());
    let proj = query_projection(&params, kind);
    let ctx = Ctx::new(&state, &src, &headers);
    match ctx.patch(kind, &id, if_match(&headers)?, &body, &proj).await? {
        Ok(r) => Ok(resource_response(StatusCode::OK, &r, false)),
        // RFC 7644 §3.5.2 allows 204 when no attributes were asked for; echoing 100,000 members
        // after a one-member change would make the change cost as much as the group is large.
        Err(version) => Ok(empty_with_etag(StatusCode::NO_CONTENT, version)),
    }
}

pub async fn delete(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, resource, id)): ItemPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let kind = kind_of(&resource)?;
    let ctx = Ctx::new(&state, &src, &headers);
    ctx.delete(kind, &id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn me() -> Response {
    error_response(&ScimError::new(501, None, "/Me is not supported: tokens belong to sources, not to users"))
}

pub async fn not_found(method: Method, uri: Uri) -> Response {
    error_response(&ScimError::not_found(format!("no SCIM endpoint at {method} {}", uri.path())))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(&ScimError::new(405, None, format!("{method} is not allowed on {}", uri.path())))
}
