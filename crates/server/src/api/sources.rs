use api_types::{
    Checked, Deprovisioning, IssuedSourceToken, LoginToken, Lookup, NewPullSource, NewPushSource, Page, PageQuery,
    PullChange, PullPreview, Released, Removed, ScheduleChange, Source, SourceDetail, SourceRemoval, Tested,
    TokenRotation,
};
use app::admin_tokens::Caller;
use app::sources::{Removal, Removed as Outcome};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::json;

use super::problem::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::{ApiState, audit, page};

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

fn audited_view(view: &SourceDetail) -> serde_json::Value {
    serde_json::json!({"name": view.source.name, "kind": view.source.kind, "pull": view.pull})
}

/// Add a push source: an identity provider that sends SCIM requests. Its bearer token is in this
/// answer only.
#[utoipa::path(post, path = "/sources", operation_id = "create_push_source", tag = "sources", request_body = NewPushSource,
    responses((status = 201, description = "The source, with its SCIM URL and token", body = IssuedSourceToken)))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<NewPushSource>,
) -> Result<(StatusCode, Json<IssuedSourceToken>), ApiError> {
    let token = app::sources::create_push(&*s.db, &request.name, "scim").await?;
    let after = json!({"name": request.name, "kind": "scim", "token": app::audit::CHANGED});
    audit(&s, &caller, "source.add", &format!("source/{}", request.name), None, Some(after)).await;
    let base_url = app::sources::scim_url(&s.root, &request.name);
    Ok((StatusCode::CREATED, Json(IssuedSourceToken { name: request.name, base_url, token })))
}

/// Issue a new bearer token for a push source; the previous one keeps working for the grace period.
#[utoipa::path(post, path = "/sources/{name}/token", operation_id = "rotate_source_token", tag = "sources",
    params(("name" = String, Path, description = "The source's name")), request_body = TokenRotation,
    responses((status = 200, description = "The new token, shown this once", body = IssuedSourceToken)))]
pub async fn rotate_token(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<TokenRotation>,
) -> Result<Json<IssuedSourceToken>, ApiError> {
    let grace = app::duration::parse_plain_seconds(request.grace.as_deref().unwrap_or("0"))
        .map_err(|e| ApiError::invalid_field("grace", e.to_string()))?;
    let token = app::sources::rotate_token(&*s.db, &s.auth_cache, &name, grace).await?;
    let after = json!({"token": app::audit::CHANGED, "grace_seconds": grace});
    audit(&s, &caller, "source.token.rotate", &format!("source/{name}"), None, Some(after)).await;
    Ok(Json(IssuedSourceToken { base_url: app::sources::scim_url(&s.root, &name), name, token }))
}

/// Remove a source. One that manages accounts in targets is removed only with `release`; one that
/// holds users and groups only with `purge`.
#[utoipa::path(delete, path = "/sources/{name}", operation_id = "remove_source", tag = "sources",
    params(("name" = String, Path, description = "The source's name"), SourceRemoval),
    responses((status = 200, description = "Removed, with what went with it", body = Removed)))]
pub async fn remove(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(how): ApiQuery<SourceRemoval>,
) -> Result<Json<Removed>, ApiError> {
    let before = app::sources::detail(&*s.db, &s.root, &name).await?;
    let removal = if how.release { Removal::Release } else { Removal::OnlyUnmanaged };
    let outcome = app::sources::remove(&*s.db, &s.auth_cache, &name, removal, how.purge).await?;
    let released = |managed: Vec<(String, u64)>| {
        managed.into_iter().map(|(target, users)| Released { target, users }).collect::<Vec<_>>()
    };
    match outcome {
        Outcome::Done { released: managed, bindings } => {
            audit(&s, &caller, "source.remove", &format!("source/{name}"), Some(audited_view(&before)), None).await;
            Ok(Json(Removed { bindings, released: released(managed) }))
        }
        Outcome::StillManages(managed) => {
            let list: Vec<String> = managed.iter().map(|(t, n)| format!("{n} in {t}")).collect();
            Err(ApiError::new(
                "conflict",
                format!(
                    "source '{name}' manages users in targets ({}); nothing was removed: release them (release=true) to leave them as they are, or empty the source first so that the targets deprovision them",
                    list.join(", ")
                ),
            ))
        }
        Outcome::StillHolds(records) => Err(ApiError::new(
            "conflict",
            format!(
                "source '{name}' holds {records} users and groups; nothing was removed: purge=true deletes them with it"
            ),
        )),
    }
}

/// Empty a source so that every bound target deprovisions what it managed, as each binding's
/// `on_removed` rule says and through the safeguard; remove the source afterwards with `release`.
#[utoipa::path(post, path = "/sources/{name}/deprovision", operation_id = "deprovision_source", tag = "sources",
    params(("name" = String, Path, description = "The source's name")),
    responses((status = 200, description = "Emptied; the targets now deprovision", body = Deprovisioning)))]
pub async fn deprovision(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Deprovisioning>, ApiError> {
    let before = app::sources::detail(&*s.db, &s.root, &name).await?;
    let started = app::sources::deprovision(&*s.db, &name).await?;
    s.engine.journal_written();
    let managed: Vec<Released> =
        started.managed.into_iter().map(|(target, users)| Released { target, users }).collect();
    let after = json!({"emptied": started.emptied, "deprovisioning": managed});
    audit(&s, &caller, "source.deprovision", &format!("source/{name}"), Some(audited_view(&before)), Some(after)).await;
    Ok(Json(Deprovisioning { emptied: started.emptied, managed }))
}

/// Read a pull source in full now and see what its next run would change in idsync's copy and
/// in every bound target, before anything changes (each target's plan is kept as a dry run).
#[utoipa::path(post, path = "/sources/{name}/preview", operation_id = "preview_pull", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")),
    responses((status = 200, description = "What a run would change", body = PullPreview)))]
pub async fn preview(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<PullPreview>, ApiError> {
    Ok(Json(app::pull::preview(&*s.db, &s.engine, &s.pull_env, &name).await?))
}

/// Stop a pull source's scheduled runs until resumed (runs asked for still run).
#[utoipa::path(post, path = "/sources/{name}/pause", operation_id = "pause_source", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")),
    responses((status = 204, description = "Paused")))]
pub async fn pause(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app::pull::set_paused(&*s.db, &name, true).await?;
    audit(&s, &caller, "source.pause", &format!("source/{name}"), None, None).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Resume a paused pull source's scheduled runs.
#[utoipa::path(post, path = "/sources/{name}/resume", operation_id = "resume_source", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")),
    responses((status = 204, description = "Resumed")))]
pub async fn resume(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app::pull::set_paused(&*s.db, &name, false).await?;
    audit(&s, &caller, "source.resume", &format!("source/{name}"), None, None).await;
    Ok(StatusCode::NO_CONTENT)
}

fn credentials(given: api_types::Credentials) -> Result<rest::Credentials, ApiError> {
    Ok(app::targets::credentials(given)?)
}

/// Add a pull source: an identity provider idsync reads, after checking that it can sign in and
/// read (unless `check` is false). A failed check saves nothing and answers `check_failed`.
#[utoipa::path(post, path = "/pull-sources", operation_id = "create_pull_source", tag = "sources", request_body = NewPullSource,
    responses((status = 201, description = "Saved, with what the checks found", body = Checked)))]
pub async fn create_pull(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<NewPullSource>,
) -> Result<(StatusCode, Json<Checked>), ApiError> {
    let settings = app::pull::settings_from(request.settings.clone())
        .map_err(|e| ApiError::invalid_field("settings", e.to_string()))?;
    let checked: Checked =
        app::pull::add(&*s.db, &s.pull_env, &request.name, &settings, credentials(request.credentials)?, request.check)
            .await?
            .into();
    if !checked.saved {
        return Err(ApiError::check_failed(&format!("source '{}'", request.name), checked.checks));
    }
    let after = json!({"name": request.name, "pull": request.settings, "credentials": app::audit::CHANGED});
    audit(&s, &caller, "source.add", &format!("source/{}", request.name), None, Some(after)).await;
    Ok((StatusCode::CREATED, Json(checked)))
}

/// Change a pull source's settings and, optionally, its credentials, after checking them; the
/// next run reads everything.
#[utoipa::path(put, path = "/sources/{name}/pull", operation_id = "change_pull_source", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")), request_body = PullChange,
    responses((status = 200, description = "Saved, with what the checks found", body = Checked)))]
pub async fn change_pull(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<PullChange>,
) -> Result<Json<Checked>, ApiError> {
    let before = serde_json::to_value(app::pull::settings(&*s.db, &name).await?).unwrap_or_default();
    let settings = app::pull::settings_from(request.settings.clone())
        .map_err(|e| ApiError::invalid_field("settings", e.to_string()))?;
    let new_credentials = request.credentials.is_some();
    let given = request.credentials.map(credentials).transpose()?;
    let checked: Checked = app::pull::edit(&*s.db, &s.pull_env, &name, &settings, given, request.check).await?.into();
    if !checked.saved {
        return Err(ApiError::check_failed(&format!("the change of source '{name}'"), checked.checks));
    }
    let mut after = json!({"pull": request.settings});
    if new_credentials {
        after["credentials"] = json!(app::audit::CHANGED);
    }
    audit(&s, &caller, "source.change", &format!("source/{name}"), Some(json!({"pull": before})), Some(after)).await;
    Ok(Json(checked))
}

/// Set when a pull source runs by itself (no schedule: only when asked).
#[utoipa::path(put, path = "/sources/{name}/schedule", operation_id = "set_source_schedule", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")), request_body = ScheduleChange,
    responses((status = 200, description = "The source with its schedule", body = SourceDetail)))]
pub async fn set_schedule(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<ScheduleChange>,
) -> Result<Json<SourceDetail>, ApiError> {
    let before = serde_json::to_value(app::pull::settings(&*s.db, &name).await?).unwrap_or_default();
    let schedule = request.schedule.clone().filter(|s| s != "off");
    app::pull::set_schedule(&*s.db, &name, schedule, request.timezone.clone(), request.full_every.clone()).await?;
    let after = json!({"schedule": request.schedule, "timezone": request.timezone, "full_every": request.full_every});
    audit(&s, &caller, "source.schedule", &format!("source/{name}"), Some(before), Some(after)).await;
    Ok(Json(app::sources::detail(&*s.db, &s.root, &name).await?))
}

/// Check a stored pull source: the provider answers, the credentials work, the reads are allowed.
#[utoipa::path(post, path = "/sources/{name}/test", operation_id = "test_source", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")),
    responses((status = 200, description = "What the checks found", body = Tested)))]
pub async fn test(State(s): State<ApiState>, ApiPath(name): ApiPath<String>) -> Result<Json<Tested>, ApiError> {
    Ok(Json(app::checks(app::pull::test(&*s.db, &s.pull_env, &name).await?).into()))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// The user's name at the provider.
    #[param(min_length = 1)]
    user: String,
}

/// Look one user up at the provider: every attribute it returns, what idsync would store, the groups.
#[utoipa::path(get, path = "/sources/{name}/lookup", operation_id = "lookup_user", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name"), LookupQuery),
    responses((status = 200, description = "The user, raw and as idsync maps it", body = Lookup)))]
pub async fn lookup(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<LookupQuery>,
) -> Result<Json<Lookup>, ApiError> {
    Ok(Json(app::pull::lookup(&*s.db, &s.pull_env, &name, &query.user).await?))
}

/// Issue a new login-sync token for a pull source (the previous one stops working at once).
#[utoipa::path(post, path = "/sources/{name}/login-token", operation_id = "issue_login_token", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")),
    responses((status = 200, description = "Where to post and with which token, shown once", body = LoginToken)))]
pub async fn login_token(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<LoginToken>, ApiError> {
    let token = app::sources::issue_login_token(&*s.db, &name).await?;
    audit(
        &s,
        &caller,
        "source.login_token",
        &format!("source/{name}"),
        None,
        Some(json!({"token": app::audit::CHANGED})),
    )
    .await;
    let url = format!("{}/api/v1/sources/{name}/login-sync", s.root.trim_end_matches('/'));
    Ok(Json(LoginToken { url, token }))
}
