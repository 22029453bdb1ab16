use api_types::{AdminToken, IssuedAdminToken, NewAdminToken, Page, PageQuery};
use app::admin_tokens::Caller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::json;

use super::page;
use super::problem::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::{ApiState, audit};

/// List the admin tokens by name: scope, dates and last use, never a secret.
#[utoipa::path(get, path = "/admin-tokens", operation_id = "list_admin_tokens", tag = "admin-tokens", params(PageQuery),
    responses((status = 200, description = "One page of admin tokens", body = Page<AdminToken>)))]
pub async fn list(
    State(s): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<AdminToken>>, ApiError> {
    let all = app::admin_tokens::list(&*s.db).await?;
    Ok(Json(page::of(all, &query, |t| t.name.clone())?))
}

/// Create an admin token. Its secret is in this answer only; idsync keeps a hash.
#[utoipa::path(post, path = "/admin-tokens", operation_id = "create_admin_token", tag = "admin-tokens", request_body = NewAdminToken,
    responses((status = 201, description = "The token, with its secret shown this once", body = IssuedAdminToken)))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<NewAdminToken>,
) -> Result<(StatusCode, Json<IssuedAdminToken>), ApiError> {
    let issued = app::admin_tokens::create(&*s.db, &request, jiff::Timestamp::now()).await?;
    let after = json!({"name": issued.token.name, "scope": issued.token.scope, "expires": issued.token.expires});
    audit(&s, &caller, "admin_token.add", &format!("admin-token/{}", issued.token.name), None, Some(after)).await;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Revoke an admin token: it stops working at once.
#[utoipa::path(delete, path = "/admin-tokens/{name}", operation_id = "revoke_admin_token", tag = "admin-tokens",
    params(("name" = String, Path, description = "The token's name")),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app::admin_tokens::revoke(&*s.db, &name).await?;
    audit(&s, &caller, "admin_token.revoke", &format!("admin-token/{name}"), Some(json!({"name": name})), None).await;
    Ok(StatusCode::NO_CONTENT)
}
