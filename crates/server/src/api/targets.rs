use api_types::{Page, PageQuery, Target, TargetDetail};
use axum::Json;
use axum::extract::State;

use super::ApiState;
use super::page;
use super::problem::{ApiError, ApiPath, ApiQuery};

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
