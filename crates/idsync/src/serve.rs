//! `idsync serve`: open the store, mount the SCIM and operations routes, serve until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use store::Store;
use store::sqlite::{Durability, SqliteStore};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;

pub async fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let durability: Durability = config.durability.parse().map_err(anyhow::Error::msg)?;
    SqliteStore::open(&config.database_path(), durability).await.context("cannot open the database")
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

fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("duration_seconds".into()),
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
        )
        .context("metric buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")
}

pub fn app(
    store: Arc<dyn Store>,
    tokens: Arc<dyn store::AdminTokenStore>,
    config: &Config,
    metrics: PrometheusHandle,
    auth_cache: Arc<scim::AuthCache>,
    api: Router,
) -> Router {
    let mut metrics_route = Router::new().route("/metrics", get(render_metrics));
    if config.http.metrics_need_token {
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
    let limits = scim::RequestLimits {
        max_uri_bytes: config.http.max_uri_bytes,
        max_header_bytes: config.http.max_header_bytes,
    };
    let router = ops
        .merge(api)
        .merge(scim::router(scim::ScimState::new(store, config.scim(), auth_cache)))
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
        server::api::refuse_oversized(State(limits), request, next).await
    } else {
        scim::refuse_oversized(State(limits), request, next).await
    }
}

/// SIGHUP would end the process by default; idsync rereads nothing on it (configuration lives in
/// the database and applies at once), so it is noted and otherwise ignored. Registered before the
/// server says it listens, so no hangup can arrive before.
fn ignore_hangups() {
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP received and ignored: configuration changes apply without one");
            }
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let (logs, default_level) = crate::logging::init(&config.log_format);
    let logging = Arc::new(app::diagnostics::Logging::new(logs, default_level));
    let listener = tokio::net::TcpListener::bind(&config.listen).await.with_context(|| {
        format!("cannot listen on {}; is another server using it? pick another with --listen", config.listen)
    })?;
    serve(config, listener, logging, shutdown_signal()).await
}

/// The admin API over `store`, with what it starts runs with; `root` is where clients reach it.
pub struct AdminApi {
    pub router: Router,
    pub engine: Arc<sync::Engine>,
    pub tasks: Arc<app::runs::Tasks>,
    pub auth_cache: Arc<scim::AuthCache>,
}

pub async fn admin_api(
    config: &Config,
    store: Arc<SqliteStore>,
    root: String,
    logging: Arc<app::diagnostics::Logging>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<AdminApi> {
    let engine = crate::sync_cli::engine(config, store.clone()).await?;
    let auth_cache = Arc::new(scim::AuthCache::new(Duration::from_secs(60)));
    let tasks = Arc::new(app::runs::Tasks::default());
    let router = server::api::router(server::api::ApiState {
        auth_cache: auth_cache.clone(),
        engine: engine.clone(),
        tasks: tasks.clone(),
        pull_env: crate::pull::env(config),
        shutdown,
        logging,
        login_timeout: Duration::from_secs(config.sync.login_timeout_seconds.max(1)),
        started: jiff::Timestamp::now(),
        db: store,
        connector: Arc::new(crate::target::connector(config)?),
        root,
    });
    Ok(AdminApi { router, engine, tasks, auth_cache })
}

/// Serves SCIM, the operations endpoints and the sync worker on `listener` until `shutdown`
/// completes, then lets requests in flight finish (up to the configured grace).
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    logging: Arc<app::diagnostics::Logging>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _data_dir_lock = crate::local::lock(&config.data_dir, crate::local::Holder::Server, "another server").await?;
    let metrics = install_metrics()?;
    let store = Arc::new(open_store(&config).await?);
    let addr = listener.local_addr()?;
    ignore_hangups();
    if !config.binding.is_empty() {
        let file = config.file.as_deref().map(|f| f.display().to_string()).unwrap_or_default();
        tracing::warn!(file = %file, bindings = config.binding.len(),
            "the config file holds [[binding]] tables, which idsync does not read: bindings live in the database; copy them there once with 'idsync binding import {file}', then remove them from the file");
    }
    let (stop_engine, engine_stopped) = tokio::sync::watch::channel(false);
    let root = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let AdminApi { router: admin_api, engine, tasks, auth_cache } =
        admin_api(&config, store.clone(), root, logging, stop_engine.subscribe()).await?;
    crate::connection::publish(&config, &store, &format!("http://{addr}")).await?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "idsync listening; SCIM sources at http://{addr}/scim/v2/<source>");
    let app = app(store.clone(), store.clone(), &config, metrics, auth_cache, admin_api)
        .layer(axum::middleware::from_fn_with_state(engine.clone(), wake_engine));
    let worker = tokio::spawn(engine.clone().run(engine_stopped));
    let scheduler =
        tokio::spawn(app::scheduler::run(store.clone(), crate::pull::env(&config), stop_engine.subscribe()));
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stopping.send(true);
    };
    // Paths are made canonical before routing, which a layer inside the router would be too late for.
    let app = tower::Layer::layer(&tower::util::MapRequestLayer::new(scim::canonical_path), app);
    let server = crate::listener::serve(listener, app, &config.http, signal);
    let mut stopped_for_grace = stopped.clone();
    let served = tokio::select! {
        r = server => r.context("server failed"),
        () = async move {
            let _ = stopped_for_grace.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("requests still running after {}s; stopping anyway", grace.as_secs());
            Ok(())
        }
    };
    let _ = stop_engine.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
    tasks.finished(Duration::from_secs(5)).await;
    // The scheduler returns once its runs have recorded their interruption.
    let _ = tokio::time::timeout(Duration::from_secs(6), scheduler).await;
    store.close().await;
    tracing::info!("database closed; bye");
    served
}

/// Rings the sync worker after every successful SCIM write, so changes reach the targets without
/// waiting for its next poll.
async fn wake_engine(
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
