//! The whole server's router: SCIM, the admin API, health and metrics, with the layers every
//! request passes (request ids, one log line per request, size limits in each API's error form,
//! a panic costing only its own request) and the ring that wakes the sync worker after a SCIM write.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use store::Store;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

/// What the router needs to know of the configuration.
pub struct Options {
    pub scim: scim::ScimConfig,
    pub limits: scim::RequestLimits,
    /// Whether `/metrics` answers only requests with an admin token.
    pub metrics_need_token: bool,
}

#[derive(Clone)]
struct OpsState {
    store: Arc<dyn Store>,
    metrics: PrometheusHandle,
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<OpsState>) -> impl IntoResponse {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable: {e}\n")),
    }
}

async fn render_metrics(State(s): State<OpsState>) -> impl IntoResponse {
    s.metrics.run_upkeep();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

/// Installs the process's metrics recorder, with the buckets idsync's latencies need.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("duration_seconds".into()),
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
        )
        .map_err(|e| format!("metric buckets: {e}"))?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))
}

/// The router of a server over `store`, with `api` (the admin API) mounted beside SCIM.
pub fn router(
    store: Arc<dyn Store>,
    tokens: Arc<dyn store::AdminTokenStore>,
    options: Options,
    metrics: PrometheusHandle,
    auth_cache: Arc<scim::AuthCache>,
    api: Router,
) -> Router {
    let mut metrics_route = Router::new().route("/metrics", get(render_metrics));
    if options.metrics_need_token {
        metrics_route =
            metrics_route.route_layer(axum::middleware::from_fn_with_state(tokens.clone(), need_admin_token));
    }
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(metrics_route)
        .with_state(OpsState { store: store.clone(), metrics });
    // One line per request at the default level: method, route template (never the path, which
    // names resources, and never a header, which may carry a token), status, duration, request id.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route)
        })
        .on_request(())
        .on_response(|resp: &axum::response::Response, latency: Duration, _: &tracing::Span| {
            tracing::info!(status = resp.status().as_u16(), ms = latency.as_secs_f64() * 1000.0, "request");
        })
        .on_failure(());
    let limits = options.limits;
    let router = ops
        .merge(api)
        .merge(scim::router(scim::ScimState::new(store, options.scim, auth_cache)))
        .layer(axum::middleware::from_fn_with_state(limits, refuse_oversized))
        .layer(trace);
    with_request_ids(router)
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION]))
        // A bug that panics costs its own request a 500, never the connection or other requests.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
}

/// Every request gets an `x-request-id` (its own when it brings one), answered back and named in
/// problem documents and log lines.
pub fn with_request_ids(router: Router) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    router
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// With `http.metrics_need_token`, `/metrics` answers only a request with an admin token.
async fn need_admin_token(
    State(tokens): State<Arc<dyn store::AdminTokenStore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or_default()
        .trim()
        .to_string();
    match app::admin_tokens::authenticate(&*tokens, &presented, jiff::Timestamp::now()).await {
        Ok(_) => next.run(request).await,
        Err(_) => (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer realm=\"idsync\"")],
            "metrics need an admin token here (http.metrics_need_token); send 'Authorization: Bearer <token>'\n",
        )
            .into_response(),
    }
}

/// Refuses requests too large to read, each in its own API's error form.
async fn refuse_oversized(
    State(limits): State<scim::RequestLimits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path().starts_with("/api/") {
        crate::api::refuse_oversized(State(limits), request, next).await
    } else {
        scim::refuse_oversized(State(limits), request, next).await
    }
}

/// Rings the sync worker after every successful SCIM write, so changes reach the targets without
/// waiting for its next poll.
pub async fn wake_engine(
    State(engine): State<Arc<sync::Engine>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let writes = request.method() != axum::http::Method::GET && request.uri().path().starts_with("/scim/");
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        engine.journal_written();
    }
    response
}
