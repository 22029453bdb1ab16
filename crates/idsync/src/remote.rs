//! Commands that talk to a running server through its admin API: `status`, `debug`,
//! `support-bundle`, `backup`, `restore`. The server is found by `--server` / `IDSYNC_URL`, else where the server of
//! this data directory last announced it listens, else the configured listen address; the token
//! by `--admin-token-file` / `IDSYNC_TOKEN_FILE`, or `IDSYNC_TOKEN`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use api_types::NewLogLevel;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::connection::Connection;

/// Where the server is and which admin token opens it.
#[derive(Args, Clone)]
pub struct Remote {
    /// The running server's address, such as http://127.0.0.1:8080 [default: where this data directory's server listens].
    #[arg(id = "server", long = "server", global = true, env = "IDSYNC_URL")]
    pub url: Option<String>,
    /// A file holding the admin token for the running server (else IDSYNC_TOKEN).
    #[arg(id = "admin_token_file", long = "admin-token-file", global = true, env = "IDSYNC_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// What `idsync login` saved: where the server is and the admin token that opens it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    url: String,
    token: String,
}

/// `$XDG_CONFIG_HOME/idsync/cli.toml`, else `~/.config/idsync/cli.toml`.
fn saved_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("idsync").join("cli.toml"))
}

fn saved() -> Option<Saved> {
    toml::from_str(&std::fs::read_to_string(saved_path()?).ok()?).ok()
}

/// The server's address and the admin token, from the flags, the environment, what `login`
/// saved, or (`here`) where this data directory's server listens.
fn resolve(remote: &Remote, config: &Config, here: Option<String>) -> anyhow::Result<(String, String)> {
    let saved = saved();
    let token = match &remote.token_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the admin token from {}", file.display()))?
            .trim()
            .to_string(),
        None => std::env::var("IDSYNC_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| saved.as_ref().map(|s| s.token.clone()))
            .unwrap_or_default(),
    };
    if token.is_empty() {
        bail!(
            "this command needs an admin token: give it with IDSYNC_TOKEN or --admin-token-file, or save one with 'idsync login'; on the server's host, 'idsync admin-token create --local --name NAME --scope operate' makes one"
        );
    }
    let url = match (&remote.url, saved) {
        (Some(url), _) => url.clone(),
        (None, Some(saved)) => saved.url,
        (None, None) => here.unwrap_or_else(|| config.root(None)),
    };
    Ok((url, token))
}

/// Whether an admin token is at hand (a flag, the environment, or a saved login): commands that
/// can run either way then go through the server.
pub fn configured(remote: &Remote) -> bool {
    remote.token_file.is_some() || std::env::var("IDSYNC_TOKEN").is_ok_and(|t| !t.is_empty()) || saved().is_some()
}

pub fn client(remote: &Remote, config: &Config, here: Option<String>) -> anyhow::Result<client::Client> {
    let (url, token) = resolve(remote, config, here)?;
    Ok(client::Client::new(&url, &token))
}

/// Checks the server and token, then saves them (mode 0600) for later commands.
pub async fn login(remote: &Remote, config: &Config) -> anyhow::Result<()> {
    let (url, token) = resolve(remote, config, None)?;
    let api = client::Client::new(&url, &token);
    let level = api.log_level().await.context("the server did not accept the token")?;
    let path =
        saved_path().context("neither XDG_CONFIG_HOME nor HOME is set, so there is nowhere to save the login")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = toml::to_string(&Saved { url, token })?;
    crate::files::write_private(&path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    println!("logged in to {} (log level {}); saved in {}", api.base(), level.level, path.display());
    Ok(())
}

/// Forgets what `idsync login` saved.
pub fn logout() -> anyhow::Result<()> {
    match saved_path() {
        Some(path) if path.exists() => {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            println!("removed {}", path.display());
        }
        _ => println!("nothing saved; nothing to forget"),
    }
    Ok(())
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

pub async fn debug(cmd: DebugCommand, connection: &Connection) -> anyhow::Result<()> {
    crate::connection::require_server(connection, "changing the log level")?;
    let api = &connection.api;
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

pub async fn status(json: bool, connection: &Connection) -> anyhow::Result<()> {
    let api = &connection.api;
    let (status, text): (api_types::Status, String) =
        api.exchange(reqwest::Method::GET, "/diagnostics/status", None::<&()>).await?;
    if json {
        println!("{text}");
        return Ok(());
    }
    if connection.server_runs() {
        println!(
            "idsync {} at {}, up {} s, log level {}",
            status.version,
            api.base(),
            status.uptime_seconds,
            status.log_level.level
        );
    } else {
        println!("no server runs on this data directory (idsync {}); what its database says:", status.version);
    }
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

pub async fn support_bundle(output: Option<PathBuf>, api: &client::Client) -> anyhow::Result<()> {
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

fn passphrase(file: &Option<PathBuf>) -> anyhow::Result<Option<String>> {
    file.as_ref()
        .map(|f| {
            std::fs::read_to_string(f)
                .map(|p| p.trim_end_matches(['\n', '\r']).to_string())
                .with_context(|| format!("cannot read the passphrase from {}", f.display()))
        })
        .transpose()
}

pub async fn backup(passphrase_file: Option<PathBuf>, api: &client::Client) -> anyhow::Result<()> {
    print!("{}", api.backup(passphrase(&passphrase_file)?.as_deref()).await?);
    Ok(())
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file (`idsync backup > FILE`).
    pub file: PathBuf,
    /// Show what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove what only this installation has (bindings, targets, sources that hold nothing).
    #[arg(long)]
    pub replace: bool,
    /// A file holding the passphrase the backup's secrets were sealed with.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Give restored push sources new bearer tokens (printed once) instead of the backup's.
    #[arg(long)]
    pub rotate_scim_tokens: bool,
    /// Restore only this object, as the report names it (`source/hr`, `target/jira`,
    /// `binding/hr/jira`; repeatable); every other stays as it is.
    #[arg(long = "only", value_name = "OBJECT")]
    pub only: Vec<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn restore(args: RestoreArgs, api: &client::Client) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let document: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!("{} is not JSON (a truncated or damaged file?); nothing was changed", args.file.display())
    })?;
    let request = api_types::Restore {
        document,
        mode: if args.replace { api_types::RestoreMode::Replace } else { api_types::RestoreMode::Merge },
        dry_run: args.dry_run,
        passphrase: passphrase(&args.passphrase_file)?.map(api_types::Secret::new),
        rotate_scim_tokens: args.rotate_scim_tokens,
        only: (!args.only.is_empty()).then_some(args.only),
    };
    let (report, text) = api.restore(&request).await?;
    if args.json {
        println!("{text}");
        return Ok(());
    }
    for c in &report.changes {
        let word = serde_json::to_value(c.change)?.as_str().unwrap_or_default().replace('_', " ");
        let mut detail = c.fields.join(", ");
        if let Some(secrets) = c.secrets {
            let secrets = serde_json::to_value(secrets)?.as_str().unwrap_or_default().to_string();
            detail =
                if detail.is_empty() { format!("secrets {secrets}") } else { format!("{detail}; secrets {secrets}") };
        }
        let detail = if detail.is_empty() { String::new() } else { format!(" ({detail})") };
        println!("{word:<10} {}{detail}", c.object);
    }
    for (source, token) in &report.scim_tokens {
        println!("new bearer token for '{source}': {token}");
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    println!("{}", if report.applied { "restored." } else { "dry run: nothing was changed." });
    Ok(())
}

/// Follows a run the server carries on over its event stream until it ends, drawing its
/// progress on a terminal (a bar once the server can estimate the rest, a spinner until then),
/// then returns the run as recorded.
async fn finished(api: &client::Client, id: i64, what: &str) -> anyhow::Result<api_types::Run> {
    let bar = indicatif::ProgressBar::new(1000);
    let spinner = indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix}: {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let gauge = indicatif::ProgressStyle::with_template("{elapsed:>4} {prefix} [{bar:30}] {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(spinner.clone());
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let followed = api
        .follow(id, |p| {
            let said =
                if p.requests > 0 { format!("{}, {} requests", p.message, p.requests) } else { p.message.clone() };
            match p.eta_seconds {
                Some(eta) if p.elapsed_seconds + eta > 0.0 => {
                    bar.set_style(gauge.clone());
                    bar.set_position((1000.0 * p.elapsed_seconds / (p.elapsed_seconds + eta)) as u64);
                    bar.set_message(format!("{said}, about {:.0} s to go", eta.ceil()));
                }
                _ => {
                    bar.set_style(spinner.clone());
                    bar.set_message(said);
                }
            }
        })
        .await;
    bar.finish_and_clear();
    followed?;
    Ok(api.run(id).await?)
}

/// `idsync sync` through the server: each target's reconcile runs there, one at a time per
/// target, started with a key of its own so a retry of this command's request starts nothing twice.
pub async fn sync(target: Option<String>, dry_run: bool, json: bool, api: &client::Client) -> anyhow::Result<()> {
    let targets: Vec<String> = match target {
        Some(t) => vec![t],
        None => {
            let bindings: api_types::Page<api_types::Binding> = api.get("/bindings?limit=1000").await?;
            let unique: std::collections::BTreeSet<String> = bindings.items.into_iter().map(|b| b.target).collect();
            unique.into_iter().collect()
        }
    };
    if targets.is_empty() {
        bail!("no binding feeds any target; add one with 'idsync binding add --source SOURCE --target TARGET'");
    }
    let (mut runs, mut failed) = (Vec::new(), false);
    for t in targets {
        let key = app::tokens::request_key();
        let started = api.start_reconcile(&t, dry_run, &key).await.with_context(|| format!("sync of {t} failed"))?;
        let run = finished(api, started.run, &t).await?;
        let n = |k: &str| run.summary[k].as_u64().unwrap_or(0);
        failed |= n("failed") > 0 || run.state == api_types::RunState::Failed;
        if !json {
            if let Some(error) = run.summary["error"].as_str() {
                println!("sync of {t} (run {}) failed: {error}", run.id);
            } else if dry_run {
                let planned: api_types::Page<api_types::LogEntry> =
                    api.get(&format!("/log?run={}&result=planned&limit=1000", run.id)).await?;
                println!("dry run of {t} (run {}): {} operations would be applied", run.id, planned.items.len());
                if planned.items.is_empty() {
                    println!("{t}: nothing to do; the target matches the sources and rules");
                }
                for e in planned.items.iter().rev() {
                    let object = match (&e.user, &e.group) {
                        (Some(u), Some(g)) => format!("{u} in {g}"),
                        (Some(u), None) => u.clone(),
                        (None, Some(g)) => g.clone(),
                        (None, None) => String::new(),
                    };
                    println!("  {:<16} {:<24} {}", e.action, object, e.reason);
                }
            } else {
                println!(
                    "sync of {t} (run {}): {} applied, {} failed, {} skipped, {} to retry, {} held",
                    run.id,
                    n("applied"),
                    n("failed"),
                    n("skipped"),
                    n("retrying"),
                    n("held")
                );
                if let Some(r) = &run.hold_reason {
                    println!("  held for approval: {r}; see 'idsync runs show {}'", run.id);
                }
                if n("failed") > 0 {
                    println!("  see the failures with 'idsync log --run {} --result failed'", run.id);
                }
            }
        }
        runs.push(run);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    }
    if failed {
        bail!("some operations failed");
    }
    Ok(())
}

/// `idsync source sync` through the server: the read runs there and this follows it; Ctrl-C or
/// SIGTERM asks the server to stop it.
pub async fn pull(name: &str, full: bool, json: bool, api: &client::Client) -> anyhow::Result<()> {
    let key = app::tokens::request_key();
    let started = api.start_pull(name, full, &key).await?;
    let run = tokio::select! {
        run = finished(api, started.run, name) => run?,
        _ = crate::pull::stop_signal() => {
            api.cancel(started.run).await?;
            finished(api, started.run, name).await?
        }
    };
    if let Some(error) = run.summary["error"].as_str() {
        bail!("run {} of {name}: {error}", run.id);
    }
    let summary: sync::PullSummary = serde_json::from_value(run.summary.clone())
        .with_context(|| format!("the server's summary of run {} is not a pull run's", run.id))?;
    crate::source::print_pull(name, &summary, json)
}
