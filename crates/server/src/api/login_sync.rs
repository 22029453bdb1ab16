//! Sync at login: what an SSO plugin calls when a user signs in. It reads that one user (and
//! their groups) from the identity provider, stores them, and applies the result to every bound
//! target before it answers, within the configured time. It takes the source's login-sync token,
//! not an admin token.

use api_types::{LoginSyncRequest, LoginSyncResult, LoginSynced};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq;

use super::ApiState;
use super::problem::{ApiError, ApiJson, ApiPath};

async fn authorized(s: &ApiState, source: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(scim::hash_token);
    let known = s.db.login_token(source).await.map_err(app::Error::from)?;
    match (presented, known) {
        (Some(p), Some(k)) if bool::from(p.ct_eq(&k)) => Ok(()),
        _ => Err(ApiError::new(
            "unauthenticated",
            "a valid login-sync token of this source is required (Authorization: Bearer …); an administrator issues one for the source",
        )),
    }
}

/// A sign-in plugin only needs to know whether to wait, retry or give up; the status says which
/// (a provider that took too long is a 504, one that failed a 502).
fn status_of(error: &app::Error) -> Option<StatusCode> {
    match error {
        app::Error::TimedOut(_) => Some(StatusCode::GATEWAY_TIMEOUT),
        app::Error::Remote(_) | app::Error::Incomplete(_) => Some(StatusCode::BAD_GATEWAY),
        _ => None,
    }
}

/// Bring one user up to date as they sign in: read them and their groups from the provider,
/// store them, and apply them to every bound target, all within `sync.login_timeout_seconds`.
#[utoipa::path(post, path = "/sources/{name}/login-sync", operation_id = "sync_at_login", tag = "sources",
    params(("name" = String, Path, description = "The pull source's name")),
    request_body = LoginSyncRequest,
    security(("login_sync_token" = [])),
    responses((status = 200, description = "The user as each target got them", body = LoginSynced)))]
pub async fn login_sync(
    State(s): State<ApiState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginSyncRequest>,
) -> Result<Json<LoginSynced>, ApiError> {
    authorized(&s, &name, &headers).await?;
    let synced = app::login::sync_at_login(&*s.db, &s.engine, &s.pull_env, &name, &request.username, s.login_timeout)
        .await
        .map_err(|e| {
            let status = status_of(&e);
            let problem = ApiError::from(e);
            match status {
                Some(status) => problem.answering(status),
                None => problem,
            }
        })?;
    let targets = synced.targets.into_iter().map(|(target, result)| LoginSyncResult { target, result }).collect();
    Ok(Json(LoginSynced { username: synced.username, targets }))
}
