//! How a command reaches the admin API, which every command but `serve` and the offline database
//! commands goes through:
//! - with an admin token given (flag, environment, or what `idsync login` saved), to that server;
//! - else, while a server holds this data directory, to it, with the host token it leaves in the
//!   data directory for commands on its own host (readable only by whoever can read the database);
//! - else to an API served for this one command over the data directory, on a loopback port,
//!   holding the data directory's lock so no server starts beside it meanwhile.
//!
//! Either way a command has one path through the API, so it behaves and prints the same whether
//! or not a server runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use api_types::{NewAdminToken, Scope};

use crate::config::Config;
use crate::remote::Remote;

/// The admin token a server issues for commands on its host; reissued at every start.
const HOST_TOKEN: &str = "local-cli";

/// What a running server leaves for commands on its host.
#[derive(serde::Serialize, serde::Deserialize)]
struct HostAccess {
    url: String,
    token: String,
}

fn host_access_path(config: &Config) -> PathBuf {
    config.data_dir.join("local-api.toml")
}

/// Issues a fresh host token and writes it, with where the server listens, for commands on this
/// host (mode 0600, like the secret key beside it). Called by `serve` while it holds the lock.
pub async fn publish(config: &Config, store: &store::sqlite::SqliteStore, url: &str) -> anyhow::Result<()> {
    store::BindingStore::announce_server(store, url).await?;
    let token = issue_host_token(store, None).await?;
    let text = toml::to_string(&HostAccess { url: url.to_string(), token })?;
    let path = host_access_path(config);
    crate::files::write_private(&path, text.as_bytes()).with_context(|| {
        format!("cannot write {}, which commands on this host use to reach the server", path.display())
    })
}

async fn issue_host_token(store: &dyn store::AdminTokenStore, expires_in: Option<&str>) -> anyhow::Result<String> {
    match app::admin_tokens::revoke(store, HOST_TOKEN).await {
        Ok(()) | Err(app::Error::Missing { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let request =
        NewAdminToken { name: HOST_TOKEN.into(), scope: Scope::Admin, expires_in: expires_in.map(String::from) };
    Ok(app::admin_tokens::create(store, &request, jiff::Timestamp::now()).await?.secret)
}

/// An API served inside this command over the data directory.
struct Offline {
    _lock: std::fs::File,
    store: Arc<store::sqlite::SqliteStore>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Arc<app::runs::Tasks>,
    server: tokio::task::JoinHandle<()>,
}

/// The admin API a command talks to; [`Connection::close`] ends an API served for the command.
pub struct Connection {
    pub api: client::Client,
    offline: Option<Offline>,
}

impl Connection {
    /// Whether a server runs (as opposed to an API served for this command only).
    pub fn server_runs(&self) -> bool {
        self.offline.is_none()
    }

    pub async fn close(self) {
        if let Some(offline) = self.offline {
            let _ = offline.stop.send(true);
            offline.tasks.finished(Duration::from_secs(5)).await;
            offline.server.abort();
            let _ = app::admin_tokens::revoke(&*offline.store, HOST_TOKEN).await;
            offline.store.close().await;
        }
    }
}

/// Runs `command` against the admin API, closing what was opened for it whatever the outcome.
pub async fn with_api<T, F>(remote: &Remote, config: &Config, command: F) -> anyhow::Result<T>
where
    F: AsyncFnOnce(&Connection) -> anyhow::Result<T>,
{
    let connection = connect(remote, config).await?;
    let result = command(&connection).await;
    connection.close().await;
    result
}

pub async fn connect(remote: &Remote, config: &Config) -> anyhow::Result<Connection> {
    if crate::remote::configured(remote) {
        let api = crate::remote::client(remote, config, host_access(config).map(|h| h.url))?;
        return Ok(Connection { api, offline: None });
    }
    match crate::local::try_lock(&config.data_dir, crate::local::Holder::Command)? {
        Some(lock) => serve_here(config, lock).await,
        None => {
            let access = host_access(config).with_context(|| {
                format!(
                    "a server runs on {} but {} cannot be read: run this as the user the server runs as, or give an admin token with IDSYNC_TOKEN or --admin-token-file",
                    config.data_dir.display(),
                    host_access_path(config).display()
                )
            })?;
            let url = remote.url.clone().unwrap_or(access.url);
            Ok(Connection { api: client::Client::new(&url, &access.token), offline: None })
        }
    }
}

fn host_access(config: &Config) -> Option<HostAccess> {
    toml::from_str(&std::fs::read_to_string(host_access_path(config)).ok()?).ok()
}

/// Serves the admin API over the data directory on a loopback port, for one command.
async fn serve_here(config: &Config, lock: std::fs::File) -> anyhow::Result<Connection> {
    let store = Arc::new(crate::serve::open_store(config).await?);
    let root = config.root(store::BindingStore::server_url(&*store).await?.as_deref());
    let (logs, level) = crate::logging::detached();
    let logging = Arc::new(app::diagnostics::Logging::new(logs, level));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let api = crate::serve::admin_api(config, store.clone(), root, logging, stopped).await?;
    let token = issue_host_token(&*store, Some("1h")).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot listen on a loopback port")?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = server::http::with_request_ids(api.router);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("idsync: the command's API stopped: {e}");
        }
    });
    Ok(Connection {
        api: client::Client::new(&url, &token),
        offline: Some(Offline { _lock: lock, store, stop, tasks: api.tasks, server }),
    })
}

/// For commands that only make sense against a running server.
pub fn require_server(connection: &Connection, what: &str) -> anyhow::Result<()> {
    if !connection.server_runs() {
        bail!("{what} needs a running server, and none runs on this data directory; start one with 'idsync serve'");
    }
    Ok(())
}
