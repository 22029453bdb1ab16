//! Discovery endpoints (RFC 7644 §4): what this service provider supports, and its schemas.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use model::ScimError;
use model::schema::{GROUP_TYPE, LIST_RESPONSE, SERVICE_PROVIDER_CONFIG_SCHEMA, USER_TYPE, all_schemas};
use serde_json::{Value, json};

use crate::ScimState;
use crate::auth::SourceCtx;
use crate::error::ApiError;
use crate::handlers::{base_url, scim_response};
use crate::request::Params;

fn refuse_filter(q: Option<&str>) -> Result<(), ApiError> {
    if Params::parse(q).get("filter").is_some() {
        return Err(ApiError(ScimError::new(403, None, "discovery endpoints do not take a filter")));
    }
    Ok(())
}

fn list(items: Vec<Value>) -> Value {
    json!({"schemas": [LIST_RESPONSE], "totalResults": items.len(), "startIndex": 1, "itemsPerPage": items.len(), "Resources": items})
}

pub async fn service_provider_config(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    headers: HeaderMap,
) -> Response {
    let c = &state.config;
    let base = base_url(&state, &headers, &src.name);
    scim_response(
        StatusCode::OK,
        &json!({
            "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
            "documentationUri": "https://github.com/idsync/idsync#readme",
            "patch": {"supported": true},
            "bulk": {"supported": true, "maxOperations": c.bulk_max_operations, "maxPayloadSize": c.max_body_bytes},
            "filter": {"supported": true, "maxResults": c.max_count},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The per-source token idsync issues when the source is added or its token rotated, sent as 'Authorization: Bearer <token>'.",
                "specUri": "https://www.rfc-editor.org/info/rfc6750",
                "primary": true,
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
        }),
    )
}

pub async fn resource_types(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    refuse_filter(q.as_deref())?;
    let base = base_url(&state, &headers, &src.name);
    Ok(scim_response(StatusCode::OK, &list(vec![USER_TYPE.to_json(&base), GROUP_TYPE.to_json(&base)])))
}

pub async fn resource_type(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers, &src.name);
    let rt = [&*USER_TYPE, &*GROUP_TYPE].into_iter().find(|rt| rt.kind.as_str() == name).ok_or_else(|| {
        ApiError(ScimError::not_found(format!("no resource type '{name}'; there are User and Group")))
    })?;
    Ok(scim_response(StatusCode::OK, &rt.to_json(&base)))
}

pub async fn schemas(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    refuse_filter(q.as_deref())?;
    let base = base_url(&state, &headers, &src.name);
    Ok(scim_response(StatusCode::OK, &list(all_schemas().into_iter().map(|s| s.to_json(&base)).collect())))
}

pub async fn schema(
    State(state): State<ScimState>,
    Extension(src): Extension<SourceCtx>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers, &src.name);
    let s = all_schemas()
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError(ScimError::not_found(format!("no schema '{id}'"))))?;
    Ok(scim_response(StatusCode::OK, &s.to_json(&base)))
}
