use api_types::{LogLevel, LogLines, NewLogLevel, Status};
use app::admin_tokens::Caller;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::problem::{ApiError, ApiJson, ApiQuery};
use super::{ApiState, audit};

fn server(s: &ApiState) -> app::diagnostics::Server<'_> {
    app::diagnostics::Server { version: env!("CARGO_PKG_VERSION"), started: s.started, logging: &s.logging }
}

/// How the server is doing: version, uptime, database, every target's health and backlog (with
/// the age of its oldest pending change), every source's last and next run, the journal's lag,
/// and the runs waiting for approval.
#[utoipa::path(get, path = "/diagnostics/status", operation_id = "status", tag = "diagnostics",
    responses((status = 200, description = "The status", body = Status)))]
pub async fn status(State(s): State<ApiState>) -> Result<Json<Status>, ApiError> {
    Ok(Json(app::diagnostics::status(&*s.db, &server(&s), &s.root).await?))
}

/// The log level in force, the one the server started with, and when a timed change ends.
#[utoipa::path(get, path = "/diagnostics/log-level", operation_id = "log_level", tag = "diagnostics",
    responses((status = 200, description = "The log level", body = LogLevel)))]
pub async fn log_level(State(s): State<ApiState>) -> Json<LogLevel> {
    Json(s.logging.level())
}

/// Change the log level at once, without a restart; with `for`, the default comes back by itself.
#[utoipa::path(put, path = "/diagnostics/log-level", operation_id = "set_log_level", tag = "diagnostics",
    request_body = NewLogLevel, responses((status = 200, description = "The log level now", body = LogLevel)))]
pub async fn set_log_level(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<NewLogLevel>,
) -> Result<Json<LogLevel>, ApiError> {
    let before = s.logging.level();
    let window = match request.window.as_deref() {
        Some(text) => Some(std::time::Duration::from_secs(
            app::duration::parse_plain_seconds(text).ok().filter(|s| *s > 0).ok_or_else(|| {
                ApiError::invalid_field("for", format!("'{text}' is not a duration such as 90s, 30m or 2h"))
            })?,
        )),
        None => None,
    };
    let after = s.logging.set(&request.level, window)?;
    audit(&s, &caller, "log_level.set", "diagnostics/log-level", Some(json!(before)), Some(json!(after))).await;
    Ok(Json(after))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// The newest lines, at most this many (1 to 10000; 1000 when absent).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

fn lines_limit(query: &LogQuery) -> Result<usize, ApiError> {
    match query.limit.unwrap_or(1000) {
        n @ 1..=10_000 => Ok(n as usize),
        n => Err(ApiError::invalid_field("limit", format!("limit must be between 1 and 10000, not {n}"))),
    }
}

/// The server's recent log lines, oldest first, each as it was written.
#[utoipa::path(get, path = "/diagnostics/logs", operation_id = "recent_logs", tag = "diagnostics", params(LogQuery),
    responses((status = 200, description = "Recent log lines", body = LogLines)))]
pub async fn logs(State(s): State<ApiState>, ApiQuery(query): ApiQuery<LogQuery>) -> Result<Json<LogLines>, ApiError> {
    Ok(Json(LogLines { lines: s.logging.recent(lines_limit(&query)?) }))
}

/// The same lines as a file to download, one JSON object per line.
#[utoipa::path(get, path = "/diagnostics/logs/download", operation_id = "download_logs", tag = "diagnostics", params(LogQuery),
    responses((status = 200, description = "Recent log lines, one JSON object per line", content_type = "application/x-ndjson", body = String)))]
pub async fn download_logs(
    State(s): State<ApiState>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let mut text = s.logging.recent_text(lines_limit(&query)?).join("\n");
    text.push('\n');
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"idsync-log.ndjson\""),
        ],
        text,
    ))
}

/// A support bundle: a zip of the status, the configuration without secrets, the recent log
/// lines, the recent failed changes and the platform.
#[utoipa::path(get, path = "/diagnostics/bundle", operation_id = "support_bundle", tag = "diagnostics",
    responses((status = 200, description = "The bundle", content_type = "application/zip", body = Vec<u8>)))]
pub async fn bundle(State(s): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let zip = app::diagnostics::bundle(&*s.db, &s.connector, &server(&s), &s.root).await?;
    let name =
        format!("attachment; filename=\"idsync-support-{}.zip\"", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"));
    Ok(([(header::CONTENT_TYPE, "application/zip".to_string()), (header::CONTENT_DISPOSITION, name)], zip))
}
