//! `idsync target …`: the applications idsync provisions, with their credentials sealed at rest.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use targets::{CheckStatus, Credentials};

use crate::config::Config;
use crate::serve::open_store;
use app::targets::SealedConnector;

#[derive(Subcommand)]
pub enum TargetCommand {
    /// Add a target: Jira, Confluence or Bitbucket Data Center, or any SCIM 2.0 application.
    Add {
        /// The target's name (lowercase letters, digits and dashes).
        #[arg(long)]
        name: String,
        /// jira, confluence, bitbucket or scim.
        #[arg(long)]
        kind: String,
        /// Base URL, e.g. https://jira.example.com, https://wiki.example.com/confluence, or the
        /// SCIM base URL of an application.
        #[arg(long)]
        url: String,
        #[command(flatten)]
        credentials: CredentialArgs,
        /// Save without checking that the target answers.
        #[arg(long)]
        no_check: bool,
    },
    /// List targets with their health and pending work.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one target (never its credentials).
    Show {
        /// The target's name (lowercase letters, digits and dashes).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check reachability, credentials, administrator rights and a writable user directory.
    Test {
        /// The target's name (lowercase letters, digits and dashes).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change a target's URL or credentials; the target is checked with them first, as by
    /// `target add`, and nothing changes when the check fails.
    Set {
        /// The target's name (lowercase letters, digits and dashes).
        name: String,
        /// The new base URL.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        credentials: CredentialArgs,
        /// Save without checking that the target accepts the change.
        #[arg(long)]
        no_check: bool,
    },
    /// Remove a target. idsync forgets what it managed there; the application keeps its users.
    Remove {
        /// The target's name.
        name: String,
    },
}

/// Secrets are read from a file or an environment variable, never from the command line, where
/// other users of the machine could see them.
#[derive(Args, Default)]
pub struct CredentialArgs {
    /// File holding a personal access token (Jira, Confluence), HTTP access token (Bitbucket) or
    /// bearer token (SCIM).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Environment variable holding the token.
    #[arg(long)]
    token_env: Option<String>,
    /// User for basic authentication (with --password-file or --password-env).
    #[arg(long)]
    username: Option<String>,
    /// File holding the password (basic auth).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Environment variable holding the password (basic auth).
    #[arg(long)]
    password_env: Option<String>,
    /// A key file that signs token requests: a Google service-account key (JSON), or an Okta
    /// service app's private key (PEM, with --username CLIENT_ID).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

fn read_secret(file: &Option<PathBuf>, env: &Option<String>, what: &str) -> anyhow::Result<Option<String>> {
    let value = match (file, env) {
        (Some(_), Some(_)) => bail!("give the {what} either as a file or as an environment variable, not both"),
        (Some(f), None) => {
            Some(std::fs::read_to_string(f).with_context(|| format!("cannot read {what} file {}", f.display()))?)
        }
        (None, Some(v)) => {
            Some(std::env::var(v).with_context(|| format!("environment variable {v} (the {what}) is not set"))?)
        }
        (None, None) => None,
    };
    match value.map(|v| v.trim().to_string()) {
        Some(v) if v.is_empty() => bail!("the {what} is empty"),
        other => Ok(other),
    }
}

impl CredentialArgs {
    pub fn read(&self) -> anyhow::Result<Option<Credentials>> {
        let token = read_secret(&self.token_file, &self.token_env, "token")?;
        let password = read_secret(&self.password_file, &self.password_env, "password")?;
        if let Some(key) = read_secret(&self.key_file, &None, "key")? {
            if token.is_some() || password.is_some() {
                bail!("give either a key file (with --username for an OAuth client's id) or a token or a password");
            }
            return Ok(Some(Credentials::Key { key, client_id: self.username.clone() }));
        }
        Ok(match (token, &self.username, password) {
            (Some(token), None, None) => Some(Credentials::Bearer { token }),
            (None, Some(username), Some(password)) => Some(Credentials::Basic { username: username.clone(), password }),
            (None, None, None) => None,
            (Some(_), _, _) => bail!("give either a token or a username and password, not both"),
            (None, Some(_), None) => bail!("--username needs --password-file or --password-env"),
            (None, None, Some(_)) => bail!("a password needs --username"),
        })
    }
}

/// The target connector of this installation: its secret key and the configured timeout.
pub fn connector(config: &Config) -> anyhow::Result<SealedConnector> {
    Ok(SealedConnector::open(&config.data_dir, Duration::from_secs(config.sync.timeout_seconds))?)
}

/// Prints check lines (of `target test` or `source test`); true when none failed.
pub fn print_checks(checks: &[targets::Check]) -> bool {
    for c in checks {
        let mark = match c.status {
            CheckStatus::Ok => "ok  ",
            CheckStatus::Warning => "note",
            CheckStatus::Failed => "FAIL",
        };
        println!("  {mark} {}", c.what);
    }
    checks.iter().all(|c| c.status != CheckStatus::Failed)
}

pub async fn run(cmd: TargetCommand, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let connector = connector(config)?;
    match cmd {
        TargetCommand::Add { name, kind, url, credentials, no_check } => {
            let kind = app::targets::kind(&kind)?;
            let credentials = credentials.read()?.context(
                "credentials are needed: --token-file/--token-env for a token, or --username with --password-file/--password-env",
            )?;
            let new = app::targets::NewTarget { name: name.clone(), kind, url: url.clone(), credentials };
            let added = app::targets::add(&store, &connector, new, !no_check).await?;
            print_checks(&added.checks);
            if !added.saved {
                bail!("target {name} was not saved; fix the problem above, or save it anyway with --no-check");
            }
            if !no_check {
                println!("target {name} is ready");
            }
            println!("added target {name} ({}) at {url}", kind.label());
            println!("next: bind a source to it with 'idsync binding add --source SOURCE --target {name}'");
        }
        TargetCommand::List { json } => {
            let rows: Vec<serde_json::Value> =
                app::targets::overview(&store).await?.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!(
                    "no targets yet; add one with 'idsync target add --kind jira --name jira --url https://jira.example.com --token-file token.txt'"
                );
            } else {
                let text = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
                let width = |k: &str, title: &str| {
                    rows.iter().map(|r| text(r, k).chars().count()).max().unwrap_or(0).max(title.len())
                };
                let (n, k, h) = (width("name", "name"), width("kind", "kind"), width("health", "health"));
                println!("{:<n$}  {:<k$}  {:<h$}  {:>8}  {:>8}  url", "name", "kind", "health", "managed", "pending");
                for r in &rows {
                    println!(
                        "{:<n$}  {:<k$}  {:<h$}  {:>8}  {:>8}  {}",
                        text(r, "name"),
                        text(r, "kind"),
                        text(r, "health"),
                        r["managed_users"].to_string(),
                        r["pending"].to_string(),
                        text(r, "url")
                    );
                }
            }
        }
        TargetCommand::Show { name, json } => {
            let v = serde_json::to_value(app::targets::detail(&store, &connector, &name).await?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (k, val) in v.as_object().into_iter().flatten() {
                    println!("{k:<15} {}", val.as_str().map(String::from).unwrap_or_else(|| val.to_string()));
                }
            }
        }
        TargetCommand::Test { name, json } => {
            let checks = app::targets::test(&store, &connector, &name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&checks)?);
                if checks.iter().any(|c| c.status == CheckStatus::Failed) {
                    std::process::exit(1);
                }
            } else if !print_checks(&checks) {
                bail!("target {name} is not ready");
            } else {
                println!("target {name} is ready");
            }
        }
        TargetCommand::Set { name, url, credentials, no_check } => {
            let credentials = credentials.read()?;
            if url.is_none() && credentials.is_none() {
                bail!("nothing to change: give --url and/or new credentials");
            }
            let changed = app::targets::change(&store, &connector, &name, url, credentials, !no_check).await?;
            print_checks(&changed.checks);
            if !changed.saved {
                bail!("target {name} was not changed; fix the problem above, or change it anyway with --no-check");
            }
            println!("updated target {name}; running servers use the change within a few seconds");
        }
        TargetCommand::Remove { name } => {
            let bindings = app::targets::remove(&store, &name).await?;
            println!("removed target {name}; its users, groups and memberships are unchanged in the application");
            if !bindings.is_empty() {
                println!("removed its bindings with it: {}", bindings.join(", "));
            }
        }
    }
    store.close().await;
    Ok(())
}
