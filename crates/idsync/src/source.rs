//! `idsync source …`: create push sources, show them, rotate and revoke their tokens.
//! Works against the same data directory as a running server.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;
use crate::pull::pull_now;
use crate::serve::open_store;
use crate::source_settings::{ConnectorArgs, connector_config};
use crate::target::print_checks;
use app::pull::PullConfig;
use app::pull::ReadMode;
use app::sources::{Removal, Removed};

// Parsed once per process, so the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum SourceCommand {
    /// Create a source: a push source (prints its SCIM base URL and bearer token, shown this
    /// once), or with --url a pull source that idsync reads.
    ///
    /// Without --url: a push source; the identity provider sends SCIM requests to idsync.
    /// With --url: a pull source of --kind scim (another SCIM service provider), entra, okta,
    /// google, keycloak, oracle, onelogin, aws or ldap; idsync reads it on --schedule, with
    /// 'source sync', and for one user at login. The source is checked before it is saved.
    Add {
        /// The source's name (lowercase letters, digits and dashes).
        #[arg(long)]
        name: String,
        /// scim (push, or pull from another SCIM server), entra, okta, google, keycloak, oracle,
        /// onelogin, aws or ldap (pull).
        #[arg(long, default_value = "scim")]
        kind: String,
        /// Pull from this URL instead of receiving pushes: the provider's API (a SCIM base URL,
        /// https://graph.microsoft.com, the Keycloak or Okta URL, ldap://host or ldaps://host, …).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        connector: ConnectorArgs,
        #[command(flatten)]
        credentials: crate::target::CredentialArgs,
        /// Save a pull source without checking that it answers.
        #[arg(long)]
        no_check: bool,
        /// When a pull source runs: 'every 15m', 'hourly', 'twice daily', 'daily 02:30',
        /// 'weekly mon 03:00' or 'cron 0 */2 * * *'. Without it, only 'source sync' reads it.
        #[arg(long)]
        schedule: Option<String>,
        /// Time zone of the schedule, e.g. Europe/Berlin [default: UTC].
        #[arg(long)]
        timezone: Option<String>,
        /// How long scheduled runs may read only changes before one reads everything [default: 1d].
        #[arg(long)]
        full_every: Option<String>,
        /// At most this many requests a second to the provider, to stay within its quota (Google
        /// allows 40, OneLogin's default 5,000 an hour is about 1.4) [default: as fast as it answers].
        #[arg(long)]
        max_rate: Option<f64>,
        /// Print one JSON object {"name", "base_url", "token"}.
        #[arg(long)]
        json: bool,
    },
    /// Change a pull source's settings or credentials; the flags are those of 'source add', and
    /// what is not given stays as it is. The source is checked before it is saved.
    Edit {
        /// The source's name (lowercase letters, digits and dashes).
        name: String,
        /// The provider's new URL.
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        connector: ConnectorArgs,
        #[command(flatten)]
        credentials: crate::target::CredentialArgs,
        /// At most this many requests a second to the provider (0: no limit).
        #[arg(long)]
        max_rate: Option<f64>,
        /// Save without checking that the source answers.
        #[arg(long)]
        no_check: bool,
    },
    /// Check a pull source: reachability, credentials, read permissions.
    Test {
        /// The source's name.
        name: String,
    },
    /// Show every attribute a pull source returns for one user (`raw`), the record idsync makes of
    /// it (`mapped`, what the rules see) and the groups it is in.
    Lookup {
        /// The source's name.
        name: String,
        /// The user to look up: username (on LDAP also mail or userPrincipalName).
        username: String,
    },
    /// Read a pull source now and store what changed; bound targets follow. Reads only what
    /// changed when the provider can say and a full read is not due.
    Sync {
        /// The source's name (lowercase letters, digits and dashes).
        name: String,
        /// Read everything, even when only changes could be read.
        #[arg(long)]
        full: bool,
        /// Read everything and say what the store and every bound target would get; change
        /// nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Issue the token an SSO plugin uses to sync a user of this pull source at login (shown once;
    /// the previous one stops working).
    LoginToken {
        /// The source's name (lowercase letters, digits and dashes).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set a pull source's schedule ('off' to run it only by hand).
    Schedule {
        /// The source's name (lowercase letters, digits and dashes).
        name: String,
        /// 'every 15m', 'hourly', 'twice daily', 'daily 02:30', 'weekly mon 03:00', 'cron 0 */2 * * *' or 'off'.
        schedule: String,
        /// Time zone of the schedule, e.g. Europe/Berlin [default: UTC].
        #[arg(long)]
        timezone: Option<String>,
        /// How long scheduled runs may read only changes before one reads everything [default: 1d].
        #[arg(long)]
        full_every: Option<String>,
    },
    /// List sources.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show one source.
    Show {
        /// The source's name (lowercase letters, digits and dashes).
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new token; the old one stops working at once or after --grace.
    RotateToken {
        /// The source's name (lowercase letters, digits and dashes).
        name: String,
        /// How long the old token keeps working: 0, 90s, 15m, 2h, 1d.
        #[arg(long, default_value = "0")]
        grace: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a source. Refused while it holds users or groups, unless --purge.
    ///
    /// While idsync manages accounts in a target for the source, say what becomes of them:
    /// --deprovision empties the source first, so every bound target deprovisions them as its
    /// binding's on_removed rule says (through the safeguard; the source stays until then), or
    /// --release lets idsync stop managing them, leaving them as they are.
    Remove {
        /// The source's name (lowercase letters, digits and dashes).
        name: String,
        /// Delete the users and groups idsync holds for the source with it.
        #[arg(long)]
        purge: bool,
        /// Empty the source so the targets deprovision what it manages; remove it afterwards.
        #[arg(long, conflicts_with = "release")]
        deprovision: bool,
        /// Stop managing the source's accounts in every target (they stay as they are; logged).
        #[arg(long)]
        release: bool,
    },
}

/// Running servers cache tokens; this tells them to read them again.
fn tokens_changed(config: &Config) -> anyhow::Result<()> {
    scim::bump_auth_epoch(&config.auth_epoch_path()).with_context(|| {
        format!("tokens changed, but {} could not be written; restart the server", config.auth_epoch_path().display())
    })
}

/// What a pull run read and changed, in words or as JSON; an incomplete read is an error.
pub fn print_pull(name: &str, summary: &sync::PullSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        println!(
            "{} read: {} users and {} groups in {} requests: users {} created, {} updated, {} deleted; groups {} created, {} updated, {} deleted; {} unchanged",
            if summary.incremental { "incremental" } else { "full" },
            summary.users_read,
            summary.groups_read,
            summary.requests,
            summary.users_created,
            summary.users_updated,
            summary.users_deleted,
            summary.groups_created,
            summary.groups_updated,
            summary.groups_deleted,
            summary.unchanged
        );
        for p in &summary.problems {
            println!("  problem: {p}");
        }
    }
    if !summary.complete {
        bail!("the read of {name} was incomplete; nothing was removed");
    }
    Ok(())
}

pub async fn run(cmd: SourceCommand, config: &Config, remote: &crate::remote::Remote) -> anyhow::Result<()> {
    // With an admin token at hand, a read runs in the server, next to its scheduler.
    if let SourceCommand::Sync { name, full, dry_run: false, json } = &cmd
        && crate::remote::configured(remote)
    {
        return crate::remote::pull(name, *full, *json, remote, config).await;
    }
    let store = open_store(config).await?;
    let result = run_with(&store, cmd, config).await;
    store.close().await;
    result
}

async fn run_with(store: &dyn store::Database, cmd: SourceCommand, config: &Config) -> anyhow::Result<()> {
    // Where the server listens, so printed URLs work wherever this command runs.
    let server = store.server_url().await?;
    match cmd {
        SourceCommand::Add {
            name,
            kind,
            url: Some(url),
            connector,
            credentials,
            no_check,
            schedule,
            timezone,
            full_every,
            max_rate,
            json,
        } => {
            model::validate_source_name(&name).map_err(anyhow::Error::msg)?;
            let connector = connector_config(&kind, Some(&url), &connector, None)?;
            if max_rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
                bail!("--max-rate must be above 0 (requests a second)");
            }
            let pull = PullConfig { connector, schedule, timezone, full_every, max_rate };
            let credentials = credentials.read()?.context(
                "a pull source needs credentials: --token-file/--token-env (scim, okta), or --username with --password-file/--password-env (the client id and secret of entra, keycloak, onelogin, oracle; the bind DN and password of ldap)",
            )?;
            let added = app::pull::add(store, &crate::pull::env(config), &name, &pull, credentials, !no_check).await?;
            print_checks(&added.checks);
            if !added.saved {
                bail!("source {name} was not saved; fix the problem above, or save it anyway with --no-check");
            }
            if json {
                println!("{}", json!({"name": name, "pull": pull}));
            } else {
                println!("Source '{name}' reads {url}. Read it now with 'idsync source sync {name}'.");
            }
        }
        SourceCommand::Add { name, kind, url: None, json, .. } => {
            let token = app::sources::create_push(store, &name, &kind).await?;
            let base_url = config.base_url(server.as_deref(), &name);
            if json {
                println!("{}", json!({"name": name, "base_url": base_url, "token": token}));
            } else {
                println!("Source '{name}' created.\n");
                println!("  SCIM base URL:  {base_url}");
                println!("  Bearer token:   {token}\n");
                println!("The token is shown only this once; store it in your identity provider now.");
                println!(
                    "Entra ID: Tenant URL = base URL, Secret Token = token. Okta: Base URL = base URL, API Token = token."
                );
            }
        }
        SourceCommand::Edit { name, url, connector, credentials, max_rate, no_check } => {
            let mut pull = app::pull::settings(store, &name).await?;
            pull.connector =
                connector_config(pull.connector.kind(), url.as_deref(), &connector, Some(&pull.connector))?;
            match max_rate {
                Some(r) if r.is_nan() || r < 0.0 => bail!("--max-rate must be 0 (no limit) or above"),
                Some(r) => pull.max_rate = (r > 0.0).then_some(r),
                None => {}
            }
            let credentials = credentials.read()?;
            let edited =
                app::pull::edit(store, &crate::pull::env(config), &name, &pull, credentials, !no_check).await?;
            print_checks(&edited.checks);
            if !edited.saved {
                bail!("source {name} was not changed; fix the problem above, or save anyway with --no-check");
            }
            println!("Source '{name}' changed; the next run reads everything with the new settings.");
        }
        SourceCommand::Test { name } => {
            if !print_checks(&app::pull::test(store, &crate::pull::env(config), &name).await?) {
                bail!("source {name} is not ready");
            }
            println!("source {name} is ready");
        }
        SourceCommand::Lookup { name, username } => {
            let found =
                app::pull::lookup(store, &crate::pull::env(config), &name, &username).await.map_err(|e| match e {
                    app::Error::Remote(e) => anyhow::anyhow!("looking {username} up failed: {e}"),
                    other => other.into(),
                })?;
            println!("{}", serde_json::to_string_pretty(&found)?);
        }
        SourceCommand::Sync { name, dry_run: true, json, .. } => {
            crate::sync_cli::preview_pull(config, &name, json).await?;
        }
        SourceCommand::Sync { name, full, json, .. } => {
            let mode = if full { ReadMode::Full } else { ReadMode::Auto };
            print_pull(&name, &pull_now(store, &name, config, mode).await?, json)?;
        }
        SourceCommand::LoginToken { name, json } => {
            let token = app::sources::issue_login_token(store, &name).await?;
            let root = config.public_url.clone().unwrap_or_else(|| format!("http://{}", config.listen));
            let url = format!("{}/api/v1/sources/{name}/login-sync", root.trim_end_matches('/'));
            if json {
                println!("{}", json!({"url": url, "token": token}));
            } else {
                println!("POST {url}");
                println!("Authorization: Bearer {token}");
                println!("body: {{\"username\": \"<the user signing in>\"}}");
                println!("The token is shown only this once; the previous one no longer works.");
            }
        }
        SourceCommand::Schedule { name, schedule, timezone, full_every } => {
            let schedule = (schedule != "off").then_some(schedule);
            match app::pull::set_schedule(store, &name, schedule.clone(), timezone, full_every).await? {
                Some(_) => println!(
                    "{name} runs {}; a running server picks this up within seconds",
                    schedule.unwrap_or_default()
                ),
                None => println!("{name} now runs only with 'idsync source sync {name}'"),
            }
        }
        SourceCommand::List { json } => {
            let sources = app::sources::list(store, &config.root(server.as_deref())).await?;
            if json {
                println!("{}", serde_json::to_string(&sources)?);
            } else if sources.is_empty() {
                println!("No sources yet. Add one with: idsync source add --kind scim --name NAME");
            } else {
                println!("{:<24} {:<9} {:>8} {:>8}  RECEIVES AT / READS FROM", "NAME", "KIND", "USERS", "GROUPS");
                for s in sources {
                    // A pull source's SCIM endpoint stays closed: what matters is where it reads.
                    let place = s.reads.as_ref().map_or_else(|| s.base_url.clone(), |reads| format!("reads {reads}"));
                    println!("{:<24} {:<9} {:>8} {:>8}  {place}", s.name, s.kind, s.users, s.groups);
                }
            }
        }
        SourceCommand::Show { name, json } => {
            let detail = app::sources::detail(store, &config.root(server.as_deref()), &name).await?;
            let s = &detail.source;
            if json {
                println!("{}", serde_json::to_string(&detail)?);
            } else if let Some(p) = &detail.pull {
                println!(
                    "Name:      {}\nKind:      {} (pulled)\nCreated:   {}\nUsers:     {}\nGroups:    {}",
                    s.name, s.kind, s.created, s.users, s.groups
                );
                println!("Reads:     {} at {}", s.kind, s.reads.as_deref().unwrap_or_default());
                println!(
                    "Reading:   {}; a full read at least every {} (last {}){}",
                    if p["incremental"] == true { "changes since the last run" } else { "everything, next run" },
                    p["full_every"].as_str().unwrap_or("1d"),
                    p["last_full_read"].as_str().unwrap_or("never"),
                    p["max_rate"].as_f64().map(|r| format!("; at most {r} requests a second")).unwrap_or_default()
                );
                match p["schedule"].as_str() {
                    Some(schedule) => println!(
                        "Schedule:  {schedule} ({}), next run {}",
                        p["timezone"].as_str().unwrap_or("UTC"),
                        p["next_run"].as_str().unwrap_or("being worked out")
                    ),
                    None => println!("Schedule:  none ('idsync source sync {name}' reads it)"),
                }
                let last =
                    store.runs(Some(&name), None, 20).await?.into_iter().find(|r| r.kind == store::RunKind::Pull);
                match &last {
                    Some(r) => println!(
                        "Last run:  {} ({}, started {}): {}",
                        r.id,
                        r.state,
                        r.started,
                        crate::sync_cli::describe(r)
                    ),
                    None => println!("Last run:  never"),
                }
            } else {
                println!(
                    "Name:      {}\nKind:      {}\nBase URL:  {}\nCreated:   {}\nUsers:     {}\nGroups:    {}",
                    s.name, s.kind, s.base_url, s.created, s.users, s.groups
                );
                println!("Tokens:    {} valid", detail.tokens.len());
                for t in &detail.tokens {
                    println!(
                        "  issued {}{}",
                        t.created,
                        t.expires.as_ref().map(|e| format!(", expires {e}")).unwrap_or_default()
                    );
                }
            }
        }
        SourceCommand::RotateToken { name, grace, json } => {
            let grace = app::duration::parse_seconds(&grace)?;
            let token = app::sources::rotate_token(store, &name, grace).await?;
            tokens_changed(config)?;
            if json {
                println!(
                    "{}",
                    json!({"name": name, "base_url": config.base_url(server.as_deref(), &name), "token": token})
                );
            } else {
                println!("New bearer token for '{name}': {token}");
                if grace == 0 {
                    println!("The previous token no longer works.");
                } else {
                    println!("The previous token keeps working for {grace} more seconds.");
                }
            }
        }
        SourceCommand::Remove { name, purge, deprovision, release } => {
            let counted = |list: &[(String, u64)]| {
                list.iter().map(|(target, n)| format!("{n} in {target}")).collect::<Vec<_>>().join(", ")
            };
            if deprovision {
                let started = app::sources::deprovision(store, &name).await?;
                println!("Emptied source '{name}' ({} users and groups).", started.emptied);
                if started.managed.is_empty() {
                    println!("It managed no accounts in any target; remove it with 'idsync source remove {name}'.");
                } else {
                    println!(
                        "A running server now deprovisions the accounts it managed ({}) as each binding's on_removed rule says, through the safeguard.",
                        counted(&started.managed)
                    );
                    println!(
                        "Once 'idsync target list' shows nothing pending, remove the source with 'idsync source remove {name} --release'."
                    );
                }
                return Ok(());
            }
            let removal = if release { Removal::Release } else { Removal::OnlyUnmanaged };
            match app::sources::remove(store, &name, removal, purge).await? {
                Removed::StillHolds(held) => {
                    bail!("source '{name}' still holds {held} users and groups; add --purge to delete them with it")
                }
                Removed::StillManages(managed) => bail!(
                    "source '{name}' manages accounts in targets ({}); say what becomes of them: --deprovision to have the targets deprovision them first, or --release to stop managing them and leave them as they are",
                    counted(&managed)
                ),
                Removed::Done { released, bindings } => {
                    tokens_changed(config)?;
                    if !released.is_empty() {
                        println!("Released the accounts idsync managed for '{name}': {}.", counted(&released));
                    }
                    println!("Source '{name}' removed.");
                    if !bindings.is_empty() {
                        println!("Its bindings went with it: {}.", bindings.join(", "));
                    }
                }
            }
        }
    }
    Ok(())
}
