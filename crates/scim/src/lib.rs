//! The inbound SCIM 2.0 service provider: one endpoint tree per source under `/scim/v2/<source>/`.
#![forbid(unsafe_code)]

pub mod auth;
mod bulk;
mod discovery;
pub mod error;
mod handlers;
mod paths;
mod render;
mod request;
mod service;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{any, get, post};
use model::FilterLimits;
use store::Store;

pub use auth::{AuthCache, RateLimiter, hash_token};
pub use paths::canonical_path;
pub use request::{Oversized, RequestLimits, oversized, refuse_oversized};

/// Limits and identity of the SCIM service; every field has a working default.
#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// Overrides the scheme and host in `meta.location` (for servers behind a proxy).
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub filter_limits: FilterLimits,
    /// Page size when the client names none.
    pub default_count: u64,
    /// The largest page a client may ask for; advertised as `filter.maxResults`.
    pub max_count: u64,
    pub bulk_max_operations: usize,
    /// A PATCH on a group with more members than this answers 204 instead of echoing them all.
    pub patch_response_member_limit: u64,
    /// Requests per second and burst per source; 0 turns the limit off.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// How long a client may take to send a request body (a slow sender gets 408).
    pub body_read_timeout: std::time::Duration,
}

impl Default for ScimConfig {
    fn default() -> Self {
        ScimConfig {
            public_url: None,
            max_body_bytes: 1024 * 1024,
            filter_limits: FilterLimits::default(),
            default_count: 100,
            max_count: 1000,
            bulk_max_operations: 1000,
            patch_response_member_limit: 1000,
            rate_limit_per_second: 1000,
            rate_limit_burst: 2000,
            body_read_timeout: std::time::Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct ScimState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ScimConfig>,
    pub limiter: Arc<RateLimiter>,
    pub auth_cache: Arc<AuthCache>,
}

impl ScimState {
    pub fn new(store: Arc<dyn Store>, config: ScimConfig, auth_cache: Arc<AuthCache>) -> Self {
        let limiter = Arc::new(RateLimiter::new(config.rate_limit_per_second, config.rate_limit_burst));
        ScimState { store, config: Arc::new(config), limiter, auth_cache }
    }
}

/// Records request counts and latency by source, route and status. The source is named only once
/// its token was accepted; every other request counts under `unknown`, so requests for made-up
/// source names cannot grow the number of series.
async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let source = resp.extensions().get::<auth::Authenticated>().map_or_else(|| "unknown".to_string(), |a| a.0.clone());
    let status = resp.status().as_u16().to_string();
    let labels = [("source", source), ("route", route), ("status", status)];
    metrics::counter!("idsync_scim_requests_total", &labels).increment(1);
    metrics::histogram!("idsync_scim_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    resp
}

pub fn router(state: ScimState) -> Router {
    let authed = Router::new()
        .route("/scim/v2/{source}/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/scim/v2/{source}/ResourceTypes", get(discovery::resource_types))
        .route("/scim/v2/{source}/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/scim/v2/{source}/Schemas", get(discovery::schemas))
        .route("/scim/v2/{source}/Schemas/{id}", get(discovery::schema))
        .route("/scim/v2/{source}/Bulk", post(bulk::bulk))
        .route("/scim/v2/{source}/Me", any(handlers::me))
        .route("/scim/v2/{source}/.search", post(handlers::search_all))
        .route("/scim/v2/{source}/{resource}", get(handlers::list).post(handlers::create))
        .route("/scim/v2/{source}/{resource}/.search", post(handlers::search))
        .route(
            "/scim/v2/{source}/{resource}/{id}",
            get(handlers::get_one).put(handlers::replace).patch(handlers::patch).delete(handlers::delete),
        )
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    authed
        .fallback(handlers::not_found)
        .layer(from_fn(record_metrics))
        // Bodies are size-checked by our own reader so the 413 comes in SCIM form.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}
