use api_types::{Checked, NewTarget, Page, PageQuery, Removed, Target, TargetChange, TargetDetail, Tested, Unmanaged};
use app::admin_tokens::Caller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::json;

use super::problem::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::{ApiState, audit, page};

/// List the targets with their health and what idsync owes them, by name.
#[utoipa::path(get, path = "/targets", operation_id = "list_targets", tag = "targets", params(PageQuery),
    responses((status = 200, description = "One page of targets", body = Page<Target>)))]
pub async fn list(
    State(s): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Target>>, ApiError> {
    let mut all = app::targets::overview(&*s.db).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(page::of(all, &query, |target| target.name.clone())?))
}

/// Show one target; its credentials only by type.
#[utoipa::path(get, path = "/targets/{name}", operation_id = "show_target", tag = "targets",
    params(("name" = String, Path, description = "The target's name")),
    responses((status = 200, description = "The target", body = TargetDetail)))]
pub async fn show(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<TargetDetail>, ApiError> {
    Ok(Json(app::targets::detail(&*s.db, &s.connector, &name).await?))
}

/// What idsync sees in a target and never touches: the groups it grants nothing in, and the
/// users it found under a name a source claims but does not manage. Asks the target.
#[utoipa::path(get, path = "/targets/{name}/unmanaged", operation_id = "show_unmanaged", tag = "targets",
    params(("name" = String, Path, description = "The target's name")),
    responses((status = 200, description = "What idsync leaves alone there", body = Unmanaged)))]
pub async fn unmanaged(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<Unmanaged>, ApiError> {
    Ok(Json(app::targets::unmanaged(&*s.db, &s.connector, &name).await?))
}

fn audited(target: &TargetDetail) -> serde_json::Value {
    json!({"name": target.name, "kind": target.kind, "url": target.url, "auth": target.auth})
}

/// Add a target, after checking that idsync can reach it, sign in and do its work there (unless
/// `check` is false). A failed check saves nothing and answers `check_failed` with the findings.
#[utoipa::path(post, path = "/targets", operation_id = "create_target", tag = "targets", request_body = NewTarget,
    responses((status = 201, description = "Saved, with what the checks found", body = Checked)))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<NewTarget>,
) -> Result<(StatusCode, Json<Checked>), ApiError> {
    let kind = app::targets::kind(request.kind.as_str())?;
    let new = app::targets::NewTarget {
        name: request.name.clone(),
        kind,
        url: request.url,
        credentials: app::targets::credentials(request.credentials)?,
    };
    let checked: Checked = app::targets::add(&*s.db, &s.connector, new, request.check).await?.into();
    if !checked.saved {
        return Err(ApiError::check_failed(&format!("target '{}'", request.name), checked.checks));
    }
    let after = app::targets::detail(&*s.db, &s.connector, &request.name).await?;
    let mut after = audited(&after);
    after["credentials"] = json!(app::audit::CHANGED);
    audit(&s, &caller, "target.add", &format!("target/{}", request.name), None, Some(after)).await;
    Ok((StatusCode::CREATED, Json(checked)))
}

/// Change a target's address and/or credentials, after checking the changed target (unless
/// `check` is false).
#[utoipa::path(patch, path = "/targets/{name}", operation_id = "change_target", tag = "targets",
    params(("name" = String, Path, description = "The target's name")), request_body = TargetChange,
    responses((status = 200, description = "Saved, with what the checks found", body = Checked)))]
pub async fn change(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<TargetChange>,
) -> Result<Json<Checked>, ApiError> {
    let before = audited(&app::targets::detail(&*s.db, &s.connector, &name).await?);
    let new_credentials = request.credentials.is_some();
    let credentials = request.credentials.map(app::targets::credentials).transpose()?;
    let checked: Checked =
        app::targets::change(&*s.db, &s.connector, &name, request.url, credentials, request.check).await?.into();
    if !checked.saved {
        return Err(ApiError::check_failed(&format!("the change of target '{name}'"), checked.checks));
    }
    let mut after = audited(&app::targets::detail(&*s.db, &s.connector, &name).await?);
    if new_credentials {
        after["credentials"] = json!(app::audit::CHANGED);
    }
    audit(&s, &caller, "target.change", &format!("target/{name}"), Some(before), Some(after)).await;
    Ok(Json(checked))
}

/// Check a stored target: reachable, credentials, admin rights, writable directory, version.
#[utoipa::path(post, path = "/targets/{name}/test", operation_id = "test_target", tag = "targets",
    params(("name" = String, Path, description = "The target's name")),
    responses((status = 200, description = "What the checks found", body = Tested)))]
pub async fn test(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<Tested>, ApiError> {
    Ok(Json(app::checks(app::targets::test(&*s.db, &s.connector, &name).await?).into()))
}

/// Remove a target and its bindings. Nothing changes in the application itself.
#[utoipa::path(delete, path = "/targets/{name}", operation_id = "remove_target", tag = "targets",
    params(("name" = String, Path, description = "The target's name")),
    responses((status = 200, description = "Removed, with the bindings that went with it", body = Removed)))]
pub async fn remove(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Removed>, ApiError> {
    let before = audited(&app::targets::detail(&*s.db, &s.connector, &name).await?);
    let bindings = app::targets::remove(&*s.db, &name).await?;
    audit(&s, &caller, "target.remove", &format!("target/{name}"), Some(before), None).await;
    Ok(Json(Removed { bindings, released: Vec::new() }))
}
