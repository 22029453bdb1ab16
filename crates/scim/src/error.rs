//! Every failure on a SCIM route leaves as an RFC 7644 §3.12 error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::ScimError;
use model::schema::ERROR;
use serde_json::json;
use store::StoreError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// Wrapper so `ScimError` (a pure-core type) can be an axum response here.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(store_error(e))
    }
}

pub fn store_error(e: StoreError) -> ScimError {
    match e {
        StoreError::NotFound { message, .. } => ScimError::not_found(message),
        StoreError::Conflict(m) => ScimError::uniqueness(m),
        StoreError::VersionMismatch { current } => ScimError::precondition_failed(format!(
            "the resource is at version W/\"{current}\", not the one in If-Match; read it again and retry"
        )),
        StoreError::Rejected(e) => e,
        StoreError::Database(m) => {
            metrics::counter!("idsync_store_errors_total").increment(1);
            tracing::error!(error = %m, "store error");
            ScimError::internal("the server could not reach its database; nothing was changed, retry later")
        }
    }
}

pub fn error_body(e: &ScimError) -> serde_json::Value {
    let mut body = json!({"schemas": [ERROR], "status": e.status.to_string(), "detail": e.detail});
    if let Some(t) = e.scim_type {
        body["scimType"] = json!(t.as_str());
    }
    body
}

pub fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, error_body(e).to_string()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}
