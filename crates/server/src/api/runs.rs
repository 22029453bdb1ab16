use std::convert::Infallible;

use api_types::{
    Approval, Approved, Page, ProgressEvent, Run, RunProgress, RunQuery, RunStarted, StartPull, StartReconcile,
};
use app::admin_tokens::Caller;
use app::pull::ReadMode;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::{Stream, StreamExt};
use serde_json::json;

use super::problem::{ApiError, ApiJson, ApiPath, ApiQuery, OptionalJson};
use super::{ApiState, audit, page};

/// List runs, newest first: pull runs of sources and reconciles of targets.
#[utoipa::path(get, path = "/runs", operation_id = "list_runs", tag = "runs", params(RunQuery),
    responses((status = 200, description = "One page of runs", body = Page<Run>)))]
pub async fn list(State(s): State<ApiState>, ApiQuery(query): ApiQuery<RunQuery>) -> Result<Json<Page<Run>>, ApiError> {
    let limit = page::limit(query.limit)?;
    let before = query.after.as_deref().map(page::decode_id).transpose()?;
    let items = app::runs::list(&*s.db, query.target.as_deref(), before, limit + 1).await?;
    Ok(Json(page::newest_first(items, limit, |r| r.id)))
}

/// Show one run: what it did, what it holds for approval, and its progress while it runs here.
#[utoipa::path(get, path = "/runs/{id}", operation_id = "show_run", tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, description = "The run", body = Run)))]
pub async fn show(State(s): State<ApiState>, ApiPath(id): ApiPath<i64>) -> Result<Json<Run>, ApiError> {
    Ok(Json(app::runs::show(&*s.db, &s.tasks, id).await?))
}

fn event(progress: &RunProgress) -> Result<Event, Infallible> {
    Ok(Event::default()
        .event("progress")
        .json_data(progress)
        .unwrap_or_else(|_| Event::default().comment("unwritable")))
}

/// Follow a run as server-sent events: the state at once, then every change, ending with an
/// event whose `state` says how the run ended. A finished run answers that last event only.
#[utoipa::path(get, path = "/runs/{id}/events", operation_id = "follow_run", tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, description = "`progress` events, each with a RunProgress as its data", content_type = "text/event-stream", body = ProgressEvent)))]
pub async fn events(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let stream = app::runs::follow(&*s.db, &s.tasks, id).await?.map(|progress| event(&progress));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key =
        value.to_str().ok().filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_string())).ok_or_else(|| {
        ApiError::invalid_field("Idempotency-Key", "an Idempotency-Key is 1 to 255 visible ASCII characters")
    })
}

/// Read a pull source now, in the background: answers 202 with the run's id at once (and its
/// address in `Location`); `GET /runs/{id}/events` follows it. A retried request with the same
/// `Idempotency-Key` gets the same run; a source that is already being read answers 409.
#[utoipa::path(post, path = "/sources/{name}/runs", operation_id = "start_pull_run", tag = "runs",
    params(("name" = String, Path, description = "The pull source's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "Any unique string (1 to 255 visible ASCII characters); retrying with it starts no second run")),
    request_body = StartPull,
    responses((status = 202, description = "Started (or started already by the same key)", body = RunStarted,
        headers(("Location" = String, description = "Where the run is shown"),
            ("Idempotent-Replayed" = String, description = "`true` when an earlier request with the same key started the run")))))]
pub async fn start_pull(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<StartPull>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let mode = if request.full { ReadMode::Full } else { ReadMode::Auto };
    let started =
        s.tasks.start_pull(s.db.clone(), s.pull_env.clone(), &name, mode, key.as_deref(), s.shutdown.clone()).await?;
    Ok(accepted(started))
}

/// 202 with the run, its address, and whether an earlier request with the same key started it.
fn accepted(started: app::runs::Started) -> Response {
    let location = format!("/api/v1/runs/{}", started.run);
    let body = RunStarted { run: started.run, location: location.clone() };
    let mut response = (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(body)).into_response();
    if started.repeated {
        response.headers_mut().insert("idempotent-replayed", header::HeaderValue::from_static("true"));
    }
    response
}

/// Reconcile a target in full now, in the server (healing any drift), or with `dry_run` record
/// only the plan: answers 202 with the run once it is recorded. One reconcile of a target runs
/// at a time; a retried request with the same `Idempotency-Key` gets the same run.
#[utoipa::path(post, path = "/targets/{name}/sync", operation_id = "start_reconcile", tag = "runs",
    params(("name" = String, Path, description = "The target's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "Any unique string (1 to 255 visible ASCII characters); retrying with it starts no second run")),
    request_body = StartReconcile,
    responses((status = 202, description = "Started (or started already by the same key)", body = RunStarted,
        headers(("Location" = String, description = "Where the run is shown"),
            ("Idempotent-Replayed" = String, description = "`true` when an earlier request with the same key started the run")))))]
pub async fn start_reconcile(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<StartReconcile>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let started =
        s.tasks.start_reconcile(s.engine.clone(), s.db.clone(), &name, request.dry_run, key.as_deref()).await?;
    Ok(accepted(started))
}

/// Stop a pull run this server is carrying on; it ends as interrupted, keeping what it stored.
#[utoipa::path(post, path = "/runs/{id}/cancel", operation_id = "cancel_run", tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 202, description = "Asked to stop; its events say when it has")))]
pub async fn cancel(State(s): State<ApiState>, ApiPath(id): ApiPath<i64>) -> Result<StatusCode, ApiError> {
    app::runs::show(&*s.db, &s.tasks, id).await?;
    s.tasks.cancel(id)?;
    Ok(StatusCode::ACCEPTED)
}

/// Apply what a held run holds (deprovisioning the safeguard stopped): for every user it holds,
/// or with a body naming some, for those only — the others stay held for a later decision.
#[utoipa::path(post, path = "/runs/{id}/approve", operation_id = "approve_run", tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    request_body(content = Option<Approval>, description = "Which users to approve; no body approves all"),
    responses((status = 200, description = "What was applied", body = Approved)))]
pub async fn approve(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(approval): OptionalJson<Approval>,
) -> Result<Json<Approved>, ApiError> {
    let approved = app::runs::approve(&s.engine, id, approval.users.as_deref()).await?;
    let after = json!({"applied": approved.applied, "failed": approved.failed, "state": approved.state, "users": approval.users});
    audit(&s, &caller, "run.approve", &format!("run/{id}"), None, Some(after)).await;
    Ok(Json(approved))
}

/// Drop what a held run holds: nothing of it is deactivated or deleted.
#[utoipa::path(post, path = "/runs/{id}/reject", operation_id = "reject_run", tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 204, description = "Rejected")))]
pub async fn reject(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app::runs::reject(&s.engine, id).await?;
    audit(&s, &caller, "run.reject", &format!("run/{id}"), None, None).await;
    Ok(StatusCode::NO_CONTENT)
}
