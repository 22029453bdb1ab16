use api_types::{LogEntry, LogQuery, Page};
use axum::Json;
use axum::extract::State;

use super::problem::{ApiError, ApiQuery};
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
