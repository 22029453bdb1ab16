//! `POST /api/v1/sources/<source>/login-sync`: what an SSO plugin calls when a user signs in. It
//! reads that one user (and their groups) from the identity provider, stores them, and applies the
//! result to every bound target before it answers, within `sync.login_timeout_seconds`.

use std::sync::Arc;
use std::time::Duration;

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
    // A body without a username reaches the service as an empty name, which it refuses.
    let username = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["username"].as_str().map(String::from))
        .unwrap_or_default();
    let budget = Duration::from_secs(state.config.sync.login_timeout_seconds.max(1));
    let env = crate::pull::env(&state.config);
    match app::login::sync_at_login(&*state.store, &state.engine, &env, &source, &username, budget).await {
        Ok(synced) => {
            let targets: Vec<Value> =
                synced.targets.into_iter().map(|(t, r)| json!({"target": t, "result": r})).collect();
            axum::Json(json!({"username": synced.username, "targets": targets})).into_response()
        }
        Err(e) => fail(status_of(&e), e.to_string()),
    }
}

/// A sign-in plugin only needs to know whether to wait, retry or give up; the status says which.
fn status_of(error: &app::Error) -> StatusCode {
    match error {
        app::Error::Invalid(_) => StatusCode::BAD_REQUEST,
        app::Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        app::Error::Forbidden(_) => StatusCode::FORBIDDEN,
        app::Error::Missing { .. } => StatusCode::NOT_FOUND,
        app::Error::TimedOut(_) => StatusCode::GATEWAY_TIMEOUT,
        app::Error::Remote(_) | app::Error::Incomplete(_) => StatusCode::BAD_GATEWAY,
        app::Error::Secret(_) | app::Error::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        app::Error::Busy(_) | app::Error::Interrupted(_) | app::Error::Unavailable(_) | app::Error::Store(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
