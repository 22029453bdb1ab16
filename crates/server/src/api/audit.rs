use api_types::{AuditEntry, AuditQuery, Page};
use axum::Json;
use axum::extract::State;

use super::problem::{ApiError, ApiQuery};
use super::{ApiState, page};

/// Read the audit log, newest first: every change of configuration and every approval, who made
/// it (an admin token by name, or `local`), and the object before and after, secrets as `changed`.
#[utoipa::path(get, path = "/audit", operation_id = "list_audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "One page of the audit log", body = Page<AuditEntry>)))]
pub async fn list(
    State(s): State<ApiState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let limit = page::limit(query.limit)?;
    let before = match &query.after {
        Some(cursor) => Some(page::decode_id(cursor)?),
        None => None,
    };
    let items = app::audit::list(&*s.db, query.object.as_deref(), before, limit + 1).await?;
    Ok(Json(page::newest_first(items, limit, |e| e.id)))
}
