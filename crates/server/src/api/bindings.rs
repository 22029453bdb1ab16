use api_types::{Binding, Page, PageQuery};
use axum::Json;
use axum::extract::State;

use super::ApiState;
use super::page;
use super::problem::{ApiError, ApiPath, ApiQuery};

/// List the bindings with their state, by source then target.
#[utoipa::path(get, path = "/bindings", operation_id = "list_bindings", tag = "bindings", params(PageQuery),
    responses((status = 200, description = "One page of bindings", body = Page<Binding>)))]
pub async fn list(
    State(s): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Binding>>, ApiError> {
    let all = app::bindings::list(&*s.db).await?;
    // A name holds no control characters, so this key sorts as (source, target) does.
    Ok(Json(page::of(all, &query, |b| format!("{}\u{1}{}", b.source, b.target))?))
}

/// Show the binding of a source to a target, with the rules set on it.
#[utoipa::path(get, path = "/bindings/{source}/{target}", operation_id = "show_binding", tag = "bindings",
    params(("source" = String, Path, description = "The source's name"), ("target" = String, Path, description = "The target's name")),
    responses((status = 200, description = "The binding", body = Binding)))]
pub async fn show(
    State(s): State<ApiState>,
    ApiPath((source, target)): ApiPath<(String, String)>,
) -> Result<Json<Binding>, ApiError> {
    Ok(Json(app::bindings::show(&*s.db, &source, &target).await?))
}
