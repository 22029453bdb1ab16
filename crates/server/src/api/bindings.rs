use api_types::{Binding, NewBinding, Page, PageQuery, RuleValue};
use app::admin_tokens::Caller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::json;

use super::problem::{ApiError, ApiJson, ApiPath, ApiQuery};
use super::{ApiState, audit, page};

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

fn object(source: &str, target: &str) -> String {
    format!("binding/{source}/{target}")
}

fn audited(b: &Binding) -> serde_json::Value {
    json!({"source": b.source, "target": b.target, "rules": b.rules, "revision": b.revision})
}

/// Bind a source to a target with the default rules; the target is then reconciled.
#[utoipa::path(post, path = "/bindings", operation_id = "create_binding", tag = "bindings", request_body = NewBinding,
    responses((status = 201, description = "The binding", body = Binding)))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<NewBinding>,
) -> Result<(StatusCode, Json<Binding>), ApiError> {
    let made = app::bindings::add(&*s.db, &request.source, &request.target).await?;
    audit(&s, &caller, "binding.add", &object(&made.source, &made.target), None, Some(audited(&made))).await;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Set one rule of a binding (`users.username_transform`, `groups.default`, `groups.mapping.<name>`, …),
/// checked with all the others before it is saved; the target is then reconciled.
#[utoipa::path(put, path = "/bindings/{source}/{target}/rules/{key}", operation_id = "set_binding_rule", tag = "bindings",
    params(("source" = String, Path, description = "The source's name"), ("target" = String, Path, description = "The target's name"),
        ("key" = String, Path, description = "The rule's key")),
    request_body = RuleValue,
    responses((status = 200, description = "The binding with the rule set", body = Binding)))]
pub async fn set_rule(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath((source, target, key)): ApiPath<(String, String, String)>,
    ApiJson(request): ApiJson<RuleValue>,
) -> Result<Json<Binding>, ApiError> {
    let (before, after) = app::bindings::change_rule(&*s.db, &source, &target, &key, &request.value).await?;
    audit(&s, &caller, "binding.rule.set", &object(&source, &target), Some(audited(&before)), Some(audited(&after)))
        .await;
    Ok(Json(after))
}

/// Put one rule of a binding back to its default; the target is then reconciled.
#[utoipa::path(delete, path = "/bindings/{source}/{target}/rules/{key}", operation_id = "unset_binding_rule", tag = "bindings",
    params(("source" = String, Path, description = "The source's name"), ("target" = String, Path, description = "The target's name"),
        ("key" = String, Path, description = "The rule's key")),
    responses((status = 200, description = "The binding with the rule at its default", body = Binding)))]
pub async fn unset_rule(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath((source, target, key)): ApiPath<(String, String, String)>,
) -> Result<Json<Binding>, ApiError> {
    let (before, after) = app::bindings::reset_rule(&*s.db, &source, &target, &key).await?;
    audit(&s, &caller, "binding.rule.unset", &object(&source, &target), Some(audited(&before)), Some(audited(&after)))
        .await;
    Ok(Json(after))
}

/// Remove a binding; what idsync made in the target stays as it is.
#[utoipa::path(delete, path = "/bindings/{source}/{target}", operation_id = "remove_binding", tag = "bindings",
    params(("source" = String, Path, description = "The source's name"), ("target" = String, Path, description = "The target's name")),
    responses((status = 204, description = "Removed")))]
pub async fn remove(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiPath((source, target)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let before = app::bindings::remove(&*s.db, &source, &target).await?;
    audit(&s, &caller, "binding.remove", &object(&source, &target), Some(audited(&before)), None).await;
    Ok(StatusCode::NO_CONTENT)
}
