use api_types::{
    Binding, BindingImport, DraftRules, Imported, NewBinding, Page, PageQuery, Plan, RuleValue, RulesTrial, Trial,
};
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

/// See what a binding with draft rules would do to its target before saving them: the planner
/// runs over the stored records with the draft, and the plan comes back with its reasons. The
/// binding itself need not exist yet; nothing is saved but the dry run's record.
#[utoipa::path(post, path = "/bindings/{source}/{target}/preview", operation_id = "preview_binding", tag = "bindings",
    params(("source" = String, Path, description = "The source's name"), ("target" = String, Path, description = "The target's name")),
    request_body = DraftRules,
    responses((status = 200, description = "What the draft would do", body = Plan)))]
pub async fn preview(
    State(s): State<ApiState>,
    ApiPath((source, target)): ApiPath<(String, String)>,
    ApiJson(draft): ApiJson<DraftRules>,
) -> Result<Json<Plan>, ApiError> {
    let report = app::bindings::preview(&s.engine, &*s.db, &source, &target, draft.rules).await?;
    Ok(Json(app::plan(&report)))
}

/// See what a binding's rules, saved or draft, make of one stored user of its source: the
/// username in the target (or that the rules leave the user out) and where each of the user's
/// groups goes. Nothing is saved.
#[utoipa::path(post, path = "/bindings/{source}/{target}/try", operation_id = "try_binding_rules", tag = "bindings",
    params(("source" = String, Path, description = "The source's name"), ("target" = String, Path, description = "The target's name")),
    request_body = RulesTrial,
    responses((status = 200, description = "What the rules make of the user", body = Trial)))]
pub async fn try_rules(
    State(s): State<ApiState>,
    ApiPath((source, target)): ApiPath<(String, String)>,
    ApiJson(trial): ApiJson<RulesTrial>,
) -> Result<Json<Trial>, ApiError> {
    let rules = match trial.rules {
        Some(draft) => draft,
        None => app::bindings::show(&*s.db, &source, &target).await?.rules,
    };
    Ok(Json(app::drafts::try_on(&*s.db, &source, &target, &rules, &trial.user).await?))
}

/// Copy the `[[binding]]` tables of an old configuration file into the database, all checked
/// first: any invalid one imports none.
#[utoipa::path(post, path = "/bindings/import", operation_id = "import_bindings", tag = "bindings", request_body = BindingImport,
    responses((status = 200, description = "What was imported", body = Imported)))]
pub async fn import(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<BindingImport>,
) -> Result<Json<Imported>, ApiError> {
    let entries = app::bindings::parse_binding_tables(&request.toml, "the text")?;
    let bindings = app::bindings::import(&*s.db, &entries).await?;
    audit(&s, &caller, "binding.import", "bindings", None, Some(json!({"bindings": bindings}))).await;
    Ok(Json(Imported { bindings }))
}
