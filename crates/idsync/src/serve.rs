//! `idsync serve`: open the store, start the sync worker and the scheduler, serve the server's
//! router until a signal, then stop in order.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use store::sqlite::{Durability, SqliteStore};

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
    let metrics = server::http::install_metrics().map_err(anyhow::Error::msg)?;
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
        admin_api(&config, store.clone(), root.clone(), logging.clone(), stop_engine.subscribe()).await?;
    let console = console::router(
        console::ConsoleState {
            db: store.clone(),
            policy: config.console,
            root,
            logging,
            started: jiff::Timestamp::now(),
            engine: engine.clone(),
            connector: Arc::new(crate::target::connector(&config)?),
            tasks: tasks.clone(),
            pull_env: crate::pull::env(&config),
            shutdown: stop_engine.subscribe(),
            auth_cache: auth_cache.clone(),
        },
        config.public_url.as_deref(),
    );
    crate::connection::publish(&config, &store, &format!("http://{addr}")).await?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "idsync listening; SCIM sources at http://{addr}/scim/v2/<source>");
    let options = server::http::Options {
        scim: config.scim(),
        limits: scim::RequestLimits {
            max_uri_bytes: config.http.max_uri_bytes,
            max_header_bytes: config.http.max_header_bytes,
        },
        metrics_need_token: config.http.metrics_need_token,
    };
    let app =
        server::http::router(store.clone(), store.clone(), options, metrics, auth_cache, admin_api.merge(console))
            .layer(axum::middleware::from_fn_with_state(engine.clone(), server::http::wake_engine));
    let worker = tokio::spawn(engine.clone().run(engine_stopped));
    let scheduler =
        tokio::spawn(app::scheduler::run(store.clone(), crate::pull::env(&config), stop_engine.subscribe()));
    tokio::spawn(forget_ended_sessions(store.clone(), config.console, stop_engine.subscribe()));
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stopping.send(true);
    };
    // Paths are made canonical before routing, which a layer inside the router would be too late for.
    let app = tower::Layer::layer(&tower::util::MapRequestLayer::new(scim::canonical_path), app);
    let server = server::listener::serve(listener, app, &config.http, signal);
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

/// Console sessions end by time as they are used; this forgets the ones nobody came back to.
async fn forget_ended_sessions(
    store: Arc<SqliteStore>,
    policy: app::administrators::SessionPolicy,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = hourly.tick() => {
                if let Err(e) = app::administrators::prune(&*store, &policy, jiff::Timestamp::now()).await {
                    tracing::warn!(error = %e, "forgetting ended console sessions failed; will retry");
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
