use api_types::{Explanation, LogEntry, LogQuery, Page};
use axum::Json;
use axum::extract::State;

use super::problem::{ApiError, ApiPath, ApiQuery};
use super::{ApiState, page};

fn time(field: &str, text: &Option<String>) -> Result<Option<store::Time>, ApiError> {
    match text {
        None => Ok(None),
        Some(t) => t.parse::<store::Time>().map(Some).map_err(|_| {
            ApiError::invalid_field(field, format!("{field} must be an RFC 3339 time such as 2026-12-01T09:00:00Z"))
        }),
    }
}

/// Read the provisioning log, newest first: every change idsync made, planned or held in a
/// target, with its reason; filtered by user, group, target, source, result, run and time.
#[utoipa::path(get, path = "/log", operation_id = "read_log", tag = "log", params(LogQuery),
    responses((status = 200, description = "One page of log entries", body = Page<LogEntry>)))]
pub async fn read(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<Page<LogEntry>>, ApiError> {
    let limit = page::limit(q.limit)?;
    let query = store::EventQuery {
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
        before: q.after.as_deref().map(page::decode_id).transpose()?,
        user: q.user,
        group: q.group,
        target: q.target,
        source: q.source,
        result: q.result,
        run_id: q.run,
        limit: limit + 1,
    };
    let items = app::log::entries(&*s.db, &query).await?;
    Ok(Json(page::newest_first(items, limit, |e| e.id)))
}

/// Explain one person: every source record that names them (by userName, email address or
/// external id), what each binding's rules make of it in its target with the rule behind each
/// attribute and membership, what idsync manages for them there, and the latest log entries.
#[utoipa::path(get, path = "/users/{name}/explanation", operation_id = "explain_user", tag = "log",
    params(("name" = String, Path, description = "A userName, email address or external id in a source")),
    responses((status = 200, description = "What idsync knows and does about them", body = Explanation)))]
pub async fn explain(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<Explanation>, ApiError> {
    Ok(Json(app::explain::user(&*s.db, &s.engine.bindings(), &name).await?))
}
