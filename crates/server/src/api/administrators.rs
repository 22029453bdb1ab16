use api_types::{Administrator, NewAdministrator, Page, PageQuery, PasswordChange};
use app::admin_tokens::Caller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::json;

use super::page;
use super::problem::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::{ApiState, audit};

/// List the administrators of the web console by name, never a password.
#[utoipa::path(get, path = "/administrators", operation_id = "list_administrators", tag = "administrators", params(PageQuery),
    responses((status = 200, description = "One page of administrators", body = Page<Administrator>)))]
pub async fn list(
    State(s): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Administrator>>, ApiError> {
    let all = app::administrators::list(&*s.db).await?;
    Ok(Json(page::of(all, &query, |a| a.name.clone())?))
}

/// Create an administrator of the web console, who signs in with this password.
#[utoipa::path(post, path = "/administrators", operation_id = "create_administrator", tag = "administrators",
    request_body = NewAdministrator,
    responses((status = 201, description = "The administrator", body = Administrator)))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<NewAdministrator>,
) -> Result<(StatusCode, Json<Administrator>), ApiError> {
    let made =
        app::administrators::create(&*s.db, &request.name, request.password.expose(), jiff::Timestamp::now()).await?;
    let after = json!({"name": made.name, "password": app::audit::CHANGED});
    audit(&s, &caller, "administrator.add", &format!("administrator/{}", made.name), None, Some(after)).await;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Give an administrator a new password; every session they have ends.
#[utoipa::path(put, path = "/administrators/{name}/password", operation_id = "set_administrator_password", tag = "administrators",
    params(("name" = String, Path, description = "The administrator's name")), request_body = PasswordChange,
    responses((status = 204, description = "Changed")))]
pub async fn set_password(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    app::administrators::set_password(&*s.db, &name, request.password.expose(), jiff::Timestamp::now()).await?;
    let after = json!({"password": app::audit::CHANGED});
    audit(&s, &caller, "administrator.password", &format!("administrator/{name}"), None, Some(after)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove an administrator and end their sessions. The last one cannot be removed.
#[utoipa::path(delete, path = "/administrators/{name}", operation_id = "remove_administrator", tag = "administrators",
    params(("name" = String, Path, description = "The administrator's name")),
    responses((status = 204, description = "Removed")))]
pub async fn remove(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app::administrators::remove(&*s.db, &name).await?;
    audit(&s, &caller, "administrator.remove", &format!("administrator/{name}"), Some(json!({"name": name})), None)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
