//! The one place where errors become HTTP: every refusal of the admin API is an
//! `application/problem+json` document (RFC 9457) with a stable type and the request's id.

use api_types::{Problem, ProblemHint};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// Every code the API answers with: its status and its title. Codes are stable; clients match on
/// `type`, which ends in the code.
const CODES: &[(&str, u16, &str)] = &[
    ("invalid", 400, "The request is not valid"),
    ("unauthenticated", 401, "No valid admin token"),
    ("forbidden", 403, "The token's scope does not allow this"),
    ("not_found", 404, "No such object"),
    ("conflict", 409, "It exists already or changed meanwhile"),
    ("busy", 409, "It is running already"),
    ("interrupted", 409, "The run was stopped"),
    ("check_failed", 422, "A check failed, so nothing was saved"),
    ("throttled", 429, "Too many failed attempts"),
    ("too_large", 413, "The request body is too large"),
    ("uri_too_long", 414, "The request target is too long"),
    ("headers_too_large", 431, "The request headers are too large"),
    ("unsupported_media_type", 415, "Send JSON"),
    // A remote's failure is not idsync's: 424 (Failed Dependency) keeps 5xx for idsync's own faults.
    ("remote", 424, "The identity provider or application refused or failed"),
    ("unavailable", 503, "idsync cannot serve this now"),
    ("store", 503, "The database failed"),
    ("incomplete", 424, "The identity provider's answers were incomplete"),
    ("timed_out", 424, "The identity provider or application took too long"),
    ("secret", 500, "The secret key does not fit"),
    ("io", 500, "A file could not be read or written"),
];

/// A refusal on its way out; the request id is added by [`render_problems`], which knows the request.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: &'static str,
    detail: String,
    field: Option<String>,
    hint: Option<ProblemHint>,
    checks: Vec<api_types::Check>,
    /// Instead of the code's status, for a caller that reads statuses its own way.
    status: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError { code, detail: detail.into(), field: None, hint: None, checks: Vec::new(), status: None }
    }

    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError { field: Some(field.into()), ..ApiError::new("invalid", detail) }
    }

    /// Checks that failed, so that nothing was saved; the findings travel with the problem.
    pub fn check_failed(what: &str, checks: Vec<api_types::Check>) -> Self {
        let failed: Vec<&str> =
            checks.iter().filter(|c| c.status == api_types::CheckStatus::Failed).map(|c| c.what.as_str()).collect();
        let detail = format!(
            "{what} was not saved because a check failed: {}; fix that, or send check: false to save it unchecked",
            failed.join("; ")
        );
        ApiError { checks, ..ApiError::new("check_failed", detail) }
    }

    #[cfg(test)]
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The same problem, answered with `status`.
    pub fn answering(self, status: StatusCode) -> Self {
        ApiError { status: Some(status), ..self }
    }

    fn status(&self) -> StatusCode {
        if let Some(status) = self.status {
            return status;
        }
        let status = CODES.iter().find(|(code, ..)| *code == self.code).map_or(500, |(_, status, _)| *status);
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn problem(&self, request_id: String) -> Problem {
        let title = CODES.iter().find(|(code, ..)| *code == self.code).map_or("Error", |(.., title)| *title);
        Problem {
            kind: format!("{}{}", Problem::TYPE_PREFIX, self.code),
            title: title.to_string(),
            status: self.status().as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
            hint: self.hint.clone(),
            checks: self.checks.clone(),
            request_id,
        }
    }
}

fn hint(hint: model::Hint) -> ProblemHint {
    match hint {
        model::Hint::ListSources => ProblemHint::ListSources,
        model::Hint::ListTargets => ProblemHint::ListTargets,
        model::Hint::ListRuns => ProblemHint::ListRuns,
        model::Hint::ListBindings => ProblemHint::ListBindings,
        model::Hint::AddBinding { target } => ProblemHint::AddBinding { target },
    }
}

impl From<app::Error> for ApiError {
    fn from(e: app::Error) -> Self {
        ApiError { hint: e.hint().map(hint), ..ApiError::new(e.code(), e.to_string()) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        if self.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"idsync\""));
        }
        response.extensions_mut().insert(self);
        response
    }
}

fn request_id(request: &Request) -> String {
    request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// Answers a request to the admin API whose target or headers are too large, before routing.
pub async fn refuse_oversized(
    axum::extract::State(limits): axum::extract::State<scim::RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let error = match scim::oversized(&limits, &request) {
        None => return next.run(request).await,
        Some(scim::Oversized::Target { bytes, limit }) => ApiError::new(
            "uri_too_long",
            format!(
                "the request target is {bytes} bytes, more than the {limit} idsync reads; send fewer or shorter parameters"
            ),
        ),
        Some(scim::Oversized::Headers { bytes, limit }) => ApiError::new(
            "headers_too_large",
            format!("the request headers are {bytes} bytes, more than the {limit} idsync reads"),
        ),
    };
    rendered(error.into_response(), request_id(&request))
}

/// Writes the body of every refusal, with the id the request-id layer gave the request.
pub async fn render_problems(request: Request, next: Next) -> Response {
    let request_id = request_id(&request);
    rendered(next.run(request).await, request_id)
}

fn rendered(mut response: Response, request_id: String) -> Response {
    let Some(error) = response.extensions_mut().remove::<ApiError>() else {
        return response;
    };
    if error.status().is_server_error() {
        tracing::warn!(code = error.code, detail = %error.detail, "admin API request failed");
    }
    let body = serde_json::to_vec(&error.problem(request_id)).unwrap_or_default();
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// A JSON object body whose refusals are problem documents. Every body of the API is an
/// object: an array that serde would read field by field is refused.
pub struct ApiJson<T>(pub T);

/// The body as JSON, or the problem with it.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<serde_json::Value, ApiError> {
    match axum::Json::<serde_json::Value>::from_request(req, state).await {
        Ok(axum::Json(value)) => Ok(value),
        Err(JsonRejection::MissingJsonContentType(_)) => {
            Err(ApiError::new("unsupported_media_type", "send the body as JSON, with 'Content-Type: application/json'"))
        }
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::new("too_large", "the body is larger than the admin API accepts; send less"))
        }
        Err(e) => Err(ApiError::new("invalid", format!("the body is not JSON: {}", e.body_text()))),
    }
}

fn object_body<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::new("invalid", "the body must be a JSON object"));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::new("invalid", format!("the body is not what this operation takes: {e}")))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        object_body(json_body(req, state).await?).map(ApiJson)
    }
}

/// A body that may be left out or `null` (its default then), else as [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        let no_body = headers.get(axum::http::header::CONTENT_LENGTH).is_some_and(|l| l == "0")
            || !(headers.contains_key(axum::http::header::CONTENT_LENGTH)
                || headers.contains_key(axum::http::header::TRANSFER_ENCODING));
        if no_body {
            return Ok(OptionalJson(T::default()));
        }
        match json_body(req, state).await? {
            serde_json::Value::Null => Ok(OptionalJson(T::default())),
            value => object_body(value).map(OptionalJson),
        }
    }
}

/// Query parameters whose refusals are problem documents.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(e @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(ApiError::new("invalid", format!("the query is not what this operation takes: {}", e.body_text())))
            }
            Err(e) => Err(ApiError::new("invalid", e.body_text())),
        }
    }
}

/// Path parameters whose refusals are problem documents.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(e) => Err(ApiError::new("invalid", format!("the path does not name an object: {}", e.body_text()))),
        }
    }
}

/// Any path below `/api/v1` that names no operation.
pub async fn no_such_operation() -> ApiError {
    ApiError::new("not_found", "no operation of the admin API has this path; /api/v1/openapi.json lists them all")
}
