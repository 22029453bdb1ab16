use api_types::{Page, PageQuery, Source, SourceDetail};
use axum::Json;
use axum::extract::State;

use super::ApiState;
use super::page;
use super::problem::{ApiError, ApiPath, ApiQuery};

/// List the sources, by name.
#[utoipa::path(get, path = "/sources", operation_id = "list_sources", tag = "sources", params(PageQuery),
    responses((status = 200, description = "One page of sources", body = Page<Source>)))]
pub async fn list(
    State(s): State<ApiState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Source>>, ApiError> {
    let all = app::sources::list(&*s.db, &s.root).await?;
    Ok(Json(page::of(all, &query, |source| source.name.clone())?))
}

/// Show one source: its tokens by date and, for a pull source, how and when it is read.
#[utoipa::path(get, path = "/sources/{name}", operation_id = "show_source", tag = "sources",
    params(("name" = String, Path, description = "The source's name")),
    responses((status = 200, description = "The source", body = SourceDetail)))]
pub async fn show(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<SourceDetail>, ApiError> {
    Ok(Json(app::sources::detail(&*s.db, &s.root, &name).await?))
}
