//! Commands that talk to a running server through its admin API: `status`, `debug`,
//! `support-bundle`. The server is found by `--server` / `IDSYNC_URL`, else where the server of
//! this data directory last announced it listens, else the configured listen address; the token
//! by `--admin-token-file` / `IDSYNC_TOKEN_FILE`, or `IDSYNC_TOKEN`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use api_types::NewLogLevel;
use clap::{Args, Subcommand};

use crate::config::Config;

/// Where the server is and which admin token opens it.
#[derive(Args, Clone)]
pub struct Remote {
    /// The running server's address, such as http://127.0.0.1:8080 [default: where this data directory's server listens].
    #[arg(long = "server", global = true, env = "IDSYNC_URL")]
    pub url: Option<String>,
    /// A file holding the admin token for the running server (else IDSYNC_TOKEN).
    #[arg(long = "admin-token-file", global = true, env = "IDSYNC_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// Where the server of this data directory listens, when it ever announced it.
async fn announced(config: &Config) -> Option<String> {
    if !config.database_path().exists() {
        return None;
    }
    let store = crate::serve::open_store(config).await.ok()?;
    let url = store::BindingStore::server_url(&store).await.ok().flatten();
    store.close().await;
    url
}

pub async fn client(remote: &Remote, config: &Config) -> anyhow::Result<client::Client> {
    let token = match &remote.token_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the admin token from {}", file.display()))?
            .trim()
            .to_string(),
        None => std::env::var("IDSYNC_TOKEN").unwrap_or_default(),
    };
    if token.is_empty() {
        bail!(
            "this command needs an admin token: give it with IDSYNC_TOKEN or --admin-token-file; on the server's host, 'idsync admin-token create --local --name NAME --scope operate' makes one"
        );
    }
    let url = match &remote.url {
        Some(url) => url.clone(),
        None => match announced(config).await {
            Some(url) => url,
            None => config.root(None),
        },
    };
    Ok(client::Client::new(&url, &token))
}

#[derive(Subcommand)]
pub enum DebugCommand {
    /// Turn debug logging on (idsync's own parts), for a while or until turned off.
    On {
        /// For how long (90s, 30m, 2h); the default level comes back by itself after it.
        #[arg(long = "for")]
        window: Option<String>,
    },
    /// Back to the level the server started with.
    Off,
    /// Show the level in force.
    Show,
}

pub async fn debug(cmd: DebugCommand, remote: &Remote, config: &Config) -> anyhow::Result<()> {
    let api = client(remote, config).await?;
    let level = match cmd {
        DebugCommand::On { window } => api.set_log_level(&NewLogLevel { level: "debug".into(), window }).await?,
        DebugCommand::Off => api.set_log_level(&NewLogLevel { level: "default".into(), window: None }).await?,
        DebugCommand::Show => api.log_level().await?,
    };
    println!("log level: {}", level.level);
    match &level.until {
        Some(until) => println!("back to '{}' at {until}", level.default),
        None if level.level != level.default => println!("until changed again (the default is '{}')", level.default),
        None => {}
    }
    Ok(())
}

pub async fn status(json: bool, remote: &Remote, config: &Config) -> anyhow::Result<()> {
    let api = client(remote, config).await?;
    let status = api.status().await?;
    if json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(());
    }
    println!(
        "idsync {} at {}, up {} s, log level {}",
        status.version,
        api.base(),
        status.uptime_seconds,
        status.log_level.level
    );
    println!("database: {} (schema {})", status.database.backend, status.database.schema_version);
    println!("journal: {} changes behind", status.journal.lag);
    for t in &status.targets {
        let oldest = t.oldest_pending.as_deref().map(|o| format!(", oldest since {o}")).unwrap_or_default();
        let detail = if t.health_detail.is_empty() { String::new() } else { format!(" ({})", t.health_detail) };
        println!("target {}: {}{detail}; {} pending{oldest}", t.name, t.health, t.pending);
    }
    for s in &status.sources {
        let last = s.last_run.as_ref().map_or("never".to_string(), |r| {
            format!("{} {}", r["state"].as_str().unwrap_or("?"), r["started"].as_str().unwrap_or(""))
        });
        match (s.pulled, &s.next_run) {
            (true, Some(next)) => println!("source {}: last run {last}; next {next}", s.name),
            (true, None) => println!("source {}: last run {last}; not scheduled", s.name),
            (false, _) => println!("source {}: pushes over SCIM", s.name),
        }
    }
    for r in &status.held_runs {
        println!(
            "run {} of {} is held: {}",
            r.id,
            r.target,
            r.hold_reason.as_deref().unwrap_or("waiting for approval")
        );
    }
    Ok(())
}

pub async fn support_bundle(output: Option<PathBuf>, remote: &Remote, config: &Config) -> anyhow::Result<()> {
    let api = client(remote, config).await?;
    let zip = api.support_bundle().await?;
    let path = output.unwrap_or_else(|| {
        PathBuf::from(format!("idsync-support-{}.zip", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")))
    });
    std::fs::write(&path, &zip).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {} ({} bytes): status, configuration without secrets, recent logs and failed changes",
        path.display(),
        zip.len()
    );
    Ok(())
}
