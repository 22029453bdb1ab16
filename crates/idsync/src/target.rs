//! `idsync target …`: the applications idsync provisions, with their credentials sealed at rest.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use api_types::{Check, CheckStatus, Checked, Credentials, Removed, Secret, Target, TargetDetail, Tested};
use app::targets::SealedConnector;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::json;

use crate::config::Config;

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

pub(crate) fn read_secret(file: &Option<PathBuf>, env: &Option<String>, what: &str) -> anyhow::Result<Option<String>> {
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
        let token = read_secret(&self.token_file, &self.token_env, "token")?.map(Secret::new);
        let password = read_secret(&self.password_file, &self.password_env, "password")?.map(Secret::new);
        if let Some(key) = read_secret(&self.key_file, &None, "key")? {
            if token.is_some() || password.is_some() {
                bail!("give either a key file (with --username for an OAuth client's id) or a token or a password");
            }
            return Ok(Some(Credentials::Key { key: Secret::new(key), client_id: self.username.clone() }));
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
pub fn print_checks(checks: &[Check]) -> bool {
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

/// The answer to a change that the server checks first: when a check failed, its findings are
/// printed and the command fails with `refused`.
pub fn checked<T>(answer: Result<T, client::Error>, refused: &str) -> anyhow::Result<T> {
    match answer {
        Ok(answer) => Ok(answer),
        Err(client::Error::Problem(p)) if !p.checks.is_empty() => {
            print_checks(&p.checks);
            bail!("{refused}")
        }
        Err(e) => Err(e.into()),
    }
}

fn at(name: &str) -> String {
    format!("/targets/{}", client::segment(name))
}

pub async fn run(cmd: TargetCommand, api: &client::Client) -> anyhow::Result<()> {
    match cmd {
        TargetCommand::Add { name, kind, url, credentials, no_check } => {
            let label = app::targets::kind(&kind)?.label();
            let credentials = credentials.read()?.context(
                "credentials are needed: --token-file/--token-env for a token, or --username with --password-file/--password-env",
            )?;
            let body = json!({"name": name, "kind": kind, "url": url, "credentials": client::exposed(&credentials), "check": !no_check});
            let (added, _): (Checked, String) = checked(
                api.exchange(Method::POST, "/targets", Some(&body)).await,
                &format!("target {name} was not saved; fix the problem above, or save it anyway with --no-check"),
            )?;
            print_checks(&added.checks);
            if !no_check {
                println!("target {name} is ready");
            }
            println!("added target {name} ({label}) at {url}");
            println!("next: bind a source to it with 'idsync binding add --source SOURCE --target {name}'");
        }
        TargetCommand::List { json } => {
            let (rows, text) = crate::pages::all::<Target>(api, "/targets").await?;
            if json {
                println!("{text}");
            } else if rows.is_empty() {
                println!(
                    "no targets yet; add one with 'idsync target add --kind jira --name jira --url https://jira.example.com --token-file token.txt'"
                );
            } else {
                let width = |f: fn(&Target) -> &str, title: &str| {
                    rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0).max(title.len())
                };
                let (n, k, h) =
                    (width(|r| &r.name, "name"), width(|r| &r.kind, "kind"), width(|r| &r.health, "health"));
                println!("{:<n$}  {:<k$}  {:<h$}  {:>8}  {:>8}  url", "name", "kind", "health", "managed", "pending");
                for r in &rows {
                    println!(
                        "{:<n$}  {:<k$}  {:<h$}  {:>8}  {:>8}  {}",
                        r.name, r.kind, r.health, r.managed_users, r.pending, r.url
                    );
                }
            }
        }
        TargetCommand::Show { name, json } => {
            let (_, text): (TargetDetail, String) = api.exchange(Method::GET, &at(&name), None::<&()>).await?;
            if json {
                println!("{text}");
            } else {
                let v: serde_json::Value = serde_json::from_str(&text)?;
                for (k, val) in v.as_object().into_iter().flatten() {
                    println!("{k:<15} {}", val.as_str().map(String::from).unwrap_or_else(|| val.to_string()));
                }
            }
        }
        TargetCommand::Test { name, json } => {
            let (tested, text): (Tested, String) =
                api.exchange(Method::POST, &format!("{}/test", at(&name)), None::<&()>).await?;
            if json {
                println!("{text}");
                if !tested.passed {
                    std::process::exit(1);
                }
            } else if !print_checks(&tested.checks) {
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
            let mut body = json!({"url": url, "check": !no_check});
            if let Some(c) = &credentials {
                body["credentials"] = client::exposed(c);
            }
            let (changed, _): (Checked, String) = checked(
                api.exchange(Method::PATCH, &at(&name), Some(&body)).await,
                &format!("target {name} was not changed; fix the problem above, or change it anyway with --no-check"),
            )?;
            print_checks(&changed.checks);
            println!("updated target {name}; running servers use the change within a few seconds");
        }
        TargetCommand::Remove { name } => {
            let removed: Removed = api.exchange(Method::DELETE, &at(&name), None::<&()>).await?.0;
            println!("removed target {name}; its users, groups and memberships are unchanged in the application");
            if !removed.bindings.is_empty() {
                println!("removed its bindings with it: {}", removed.bindings.join(", "));
            }
        }
    }
    Ok(())
}
