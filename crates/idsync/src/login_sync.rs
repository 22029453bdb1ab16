//! `POST /api/v1/sources/<source>/login-sync`: what an SSO plugin calls when a user signs in. It
//! reads that one user (and their groups) from the identity provider, stores them, and applies the
//! result to every bound target before it answers, within `sync.login_timeout_seconds`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use store::Store;
use subtle::ConstantTimeEq;

use crate::config::Config;

#[derive(Clone)]
struct LoginSync {
    store: Arc<store::sqlite::SqliteStore>,
    engine: Arc<sync::Engine>,
    config: Config,
}

pub fn router(store: Arc<store::sqlite::SqliteStore>, engine: Arc<sync::Engine>, config: Config) -> Router {
    Router::new().route("/api/v1/sources/{source}/login-sync", post(login_sync)).with_state(LoginSync {
        store,
        engine,
        config,
    })
}

fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

async fn authorized(state: &LoginSync, source: &str, headers: &HeaderMap) -> Result<(), Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(scim::hash_token);
    let known =
        state.store.login_token(source).await.map_err(|e| fail(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    match (presented, known) {
        (Some(p), Some(k)) if bool::from(p.ct_eq(&k)) => Ok(()),
        _ => Err(fail(
            StatusCode::UNAUTHORIZED,
            "a valid login-sync token is required (Authorization: Bearer …); 'idsync source login-token SOURCE' issues one",
        )),
    }
}

async fn login_sync(
    State(state): State<LoginSync>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&state, &source, &headers).await {
        return r;
    }
    let username =
        match serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["username"].as_str().map(String::from)) {
            Some(u) if !u.trim().is_empty() => u,
            _ => return fail(StatusCode::BAD_REQUEST, r#"the body must be {"username": "<the user signing in>"}"#),
        };
    let budget = Duration::from_secs(state.config.sync.login_timeout_seconds.max(1));
    let started = Instant::now();
    let connector = match app::pull::stored_connector(&*state.store, &source, &crate::pull::env(&state.config)).await {
        Ok(c) => c,
        Err(e) => return fail(StatusCode::BAD_REQUEST, format!("{e:#}")),
    };
    let read = match tokio::time::timeout(budget, connector.read_user(&username)).await {
        Err(_) => {
            return fail(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the identity provider did not answer within {} s; the user signs in with what idsync has",
                    budget.as_secs()
                ),
            );
        }
        Ok(Err(e)) => {
            return fail(StatusCode::BAD_GATEWAY, format!("reading {username} from the identity provider failed: {e}"));
        }
        Ok(Ok(None)) => {
            return fail(StatusCode::NOT_FOUND, format!("the identity provider of {source} has no user {username}"));
        }
        Ok(Ok(Some(found))) => found,
    };
    let Ok(Some(src)) = state.store.source(&source).await else {
        return fail(StatusCode::NOT_FOUND, format!("there is no source named '{source}'"));
    };
    let (user, groups) = read;
    let id = match sync::apply_user(&*state.store, &src, user, groups).await {
        Ok(id) => id,
        Err(e) => return fail(StatusCode::UNPROCESSABLE_ENTITY, format!("{username} could not be stored: {e}")),
    };
    let left = budget.saturating_sub(started.elapsed()).max(Duration::from_millis(500));
    match state.engine.sync_user_now(&source, &id, left).await {
        Ok(results) => {
            let targets: Vec<Value> = results.into_iter().map(|(t, r)| json!({"target": t, "result": r})).collect();
            axum::Json(json!({"username": username, "targets": targets})).into_response()
        }
        Err(e) => fail(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
