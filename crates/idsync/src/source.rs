//! `idsync source …`: push sources and their tokens, pull sources and their settings, runs and
//! previews of reads, all through the admin API.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use api_types::{
    Checked, Deprovisioning, IssuedSourceToken, LoginToken, Lookup, NewPushSource, PullPreview, Released, Removed,
    ScheduleChange, Source, SourceDetail, Tested, TokenRotation,
};
use app::pull::PullConfig;
use reqwest::Method;
use sources::SourceConfig;

use crate::connection::Connection;
use crate::source_settings::{ConnectorArgs, connector_config};
use crate::target::{checked, print_checks};

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

/// A source's name as a path segment of the API.
fn at(name: &str) -> String {
    format!("/sources/{}", client::segment(name))
}

pub async fn run(cmd: SourceCommand, connection: &Connection) -> anyhow::Result<()> {
    let api = &connection.api;
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
            let connector = connector_config(&kind, Some(&url), &connector, None)?;
            if max_rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
                bail!("--max-rate must be above 0 (requests a second)");
            }
            let pull = PullConfig { connector, schedule, timezone, full_every, max_rate };
            let credentials = credentials.read()?.context(
                "a pull source needs credentials: --token-file/--token-env (scim, okta), or --username with --password-file/--password-env (the client id and secret of entra, keycloak, onelogin, oracle; the bind DN and password of ldap)",
            )?;
            let body = json!({"name": name, "settings": pull, "credentials": client::exposed(&credentials), "check": !no_check});
            let (added, text): (Checked, String) = checked(
                api.exchange(Method::POST, "/pull-sources", Some(&body)).await,
                &format!("source {name} was not saved; fix the problem above, or save it anyway with --no-check"),
            )?;
            if json {
                println!("{text}");
            } else {
                print_checks(&added.checks);
                println!("Source '{name}' reads {url}. Read it now with 'idsync source sync {name}'.");
            }
        }
        SourceCommand::Add { name, kind, url: None, json, .. } => {
            if kind != "scim" {
                bail!(
                    "a source of kind '{kind}' is read from the provider's API: give its address with --url (sources that push are of kind scim)"
                );
            }
            let (issued, text): (IssuedSourceToken, String) =
                api.exchange(Method::POST, "/sources", Some(&NewPushSource { name })).await?;
            if json {
                println!("{text}");
            } else {
                println!("Source '{}' created.\n", issued.name);
                println!("  SCIM base URL:  {}", issued.base_url);
                println!("  Bearer token:   {}\n", issued.token);
                println!("The token is shown only this once; store it in your identity provider now.");
                println!(
                    "Entra ID: Tenant URL = base URL, Secret Token = token. Okta: Base URL = base URL, API Token = token."
                );
            }
        }
        SourceCommand::Edit { name, url, connector, credentials, max_rate, no_check } => {
            let detail: SourceDetail = api.get(&at(&name)).await?;
            let stored = detail.pull.as_ref().map(|p| p["connector"].clone()).ok_or_else(|| {
                anyhow::anyhow!("'{name}' is not a pull source; a push source has no settings to edit")
            })?;
            let stored: SourceConfig =
                serde_json::from_value(stored).context("the server's settings of this source are unreadable")?;
            let mut pull: PullConfig = serde_json::from_value(json!({
                "connector": stored,
                "schedule": detail.pull.as_ref().and_then(|p| p["schedule"].as_str()),
                "timezone": detail.pull.as_ref().and_then(|p| p["timezone"].as_str()),
                "full_every": detail.pull.as_ref().and_then(|p| p["full_every"].as_str()),
                "max_rate": detail.pull.as_ref().and_then(|p| p["max_rate"].as_f64()),
            }))?;
            pull.connector =
                connector_config(pull.connector.kind(), url.as_deref(), &connector, Some(&pull.connector))?;
            match max_rate {
                Some(r) if r.is_nan() || r < 0.0 => bail!("--max-rate must be 0 (no limit) or above"),
                Some(r) => pull.max_rate = (r > 0.0).then_some(r),
                None => {}
            }
            let mut body = json!({"settings": pull, "check": !no_check});
            if let Some(c) = credentials.read()? {
                body["credentials"] = client::exposed(&c);
            }
            let (edited, _): (Checked, String) = checked(
                api.exchange(Method::PUT, &format!("{}/pull", at(&name)), Some(&body)).await,
                &format!("source {name} was not changed; fix the problem above, or save anyway with --no-check"),
            )?;
            print_checks(&edited.checks);
            println!("Source '{name}' changed; the next run reads everything with the new settings.");
        }
        SourceCommand::Test { name } => {
            let tested: Tested = api.exchange(Method::POST, &format!("{}/test", at(&name)), None::<&()>).await?.0;
            if !print_checks(&tested.checks) {
                bail!("source {name} is not ready");
            }
            println!("source {name} is ready");
        }
        SourceCommand::Lookup { name, username } => {
            let path = format!("{}/lookup?user={}", at(&name), client::segment(&username));
            let found: Lookup = api.get(&path).await.map_err(|e| match e {
                client::Error::Problem(p) if p.kind.ends_with(":remote") => {
                    anyhow::anyhow!("looking {username} up failed: {}", p.detail)
                }
                other => other.into(),
            })?;
            println!("{}", serde_json::to_string_pretty(&found)?);
        }
        SourceCommand::Sync { name, dry_run: true, json, .. } => {
            let (preview, text): (PullPreview, String) =
                api.exchange(Method::POST, &format!("{}/preview", at(&name)), None::<&()>).await?;
            if json {
                println!("{text}");
            } else {
                print_preview(&name, &preview)?;
            }
        }
        SourceCommand::Sync { name, full, json, .. } => crate::remote::pull(&name, full, json, api).await?,
        SourceCommand::LoginToken { name, json } => {
            let (issued, text): (LoginToken, String) =
                api.exchange(Method::POST, &format!("{}/login-token", at(&name)), None::<&()>).await?;
            if json {
                println!("{text}");
            } else {
                println!("POST {}", issued.url);
                println!("Authorization: Bearer {}", issued.token);
                println!("body: {{\"username\": \"<the user signing in>\"}}");
                println!("The token is shown only this once; the previous one no longer works.");
            }
        }
        SourceCommand::Schedule { name, schedule, timezone, full_every } => {
            let change = ScheduleChange { schedule: Some(schedule.clone()), timezone, full_every };
            api.exchange::<SourceDetail>(Method::PUT, &format!("{}/schedule", at(&name)), Some(&change)).await?;
            if schedule == "off" {
                println!("{name} now runs only with 'idsync source sync {name}'");
            } else {
                println!("{name} runs {schedule}; a running server picks this up within seconds");
            }
        }
        SourceCommand::List { json } => {
            let (sources, text) = crate::pages::all::<Source>(api, "/sources").await?;
            if json {
                println!("{text}");
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
            let (detail, text): (SourceDetail, String) = api.exchange(Method::GET, &at(&name), None::<&()>).await?;
            if json {
                println!("{text}");
            } else {
                print_detail(&detail);
            }
        }
        SourceCommand::RotateToken { name, grace, json } => {
            let rotation = TokenRotation { grace: Some(grace.clone()) };
            let (issued, text): (IssuedSourceToken, String) =
                api.exchange(Method::POST, &format!("{}/token", at(&name)), Some(&rotation)).await?;
            if json {
                println!("{text}");
            } else {
                println!("New bearer token for '{name}': {}", issued.token);
                match app::duration::parse_seconds(&grace) {
                    Ok(0) => println!("The previous token no longer works."),
                    _ => println!("The previous token keeps working for {grace} more."),
                }
            }
        }
        SourceCommand::Remove { name, purge, deprovision, release } => {
            let counted = |list: &[Released]| {
                list.iter().map(|r| format!("{} in {}", r.users, r.target)).collect::<Vec<_>>().join(", ")
            };
            if deprovision {
                let started: Deprovisioning =
                    api.exchange(Method::POST, &format!("{}/deprovision", at(&name)), None::<&()>).await?.0;
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
            let path = format!("{}?release={release}&purge={purge}", at(&name));
            let removed: Removed = match api.exchange(Method::DELETE, &path, None::<&()>).await {
                Ok((removed, _)) => removed,
                Err(client::Error::Problem(p)) if p.kind.ends_with(":conflict") => {
                    let (what, next) = if p.detail.contains("holds") {
                        ("still holds users and groups", "add --purge to delete them with it")
                    } else {
                        (
                            "manages accounts in targets",
                            "say what becomes of them: --deprovision to have the targets deprovision them first, or --release to stop managing them and leave them as they are",
                        )
                    };
                    bail!("source '{name}' {what} ({}); {next}", p.detail);
                }
                Err(e) => return Err(e.into()),
            };
            if !removed.released.is_empty() {
                println!("Released the accounts idsync managed for '{name}': {}.", counted(&removed.released));
            }
            println!("Source '{name}' removed.");
            if !removed.bindings.is_empty() {
                println!("Its bindings went with it: {}.", removed.bindings.join(", "));
            }
        }
    }
    Ok(())
}

/// A source in words: where it receives or reads, and for a pull source how and when.
fn print_detail(detail: &SourceDetail) {
    let s = &detail.source;
    let Some(p) = &detail.pull else {
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
        return;
    };
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
        Some(_) if p["paused"] == true => println!("Schedule:  paused (resume it through the API)"),
        Some(schedule) => println!(
            "Schedule:  {schedule} ({}), next run {}",
            p["timezone"].as_str().unwrap_or("UTC"),
            p["next_run"].as_str().unwrap_or("being worked out")
        ),
        None => println!("Schedule:  none ('idsync source sync {}' reads it)", s.name),
    }
    match p["last_run"].as_object() {
        Some(r) => println!(
            "Last run:  {} ({}, started {}): {}",
            r["id"],
            r["state"].as_str().unwrap_or_default(),
            r["started"].as_str().unwrap_or_default(),
            app::runs::describe(api_types::RunKind::Pull, &r["summary"])
        ),
        None => println!("Last run:  never"),
    }
}

/// `source sync --dry-run` in words.
fn print_preview(name: &str, preview: &PullPreview) -> anyhow::Result<()> {
    let summary: sync::PullSummary =
        serde_json::from_value(preview.source.clone()).context("the server's preview of the source is unreadable")?;
    println!(
        "dry run of {name}: read {} users and {} groups; the store would get users {} created, {} updated, {} deleted; groups {} created, {} updated, {} deleted",
        summary.users_read,
        summary.groups_read,
        summary.users_created,
        summary.users_updated,
        summary.users_deleted,
        summary.groups_created,
        summary.groups_updated,
        summary.groups_deleted
    );
    if preview.targets.is_empty() {
        println!(
            "no binding feeds a target from {name}; add one with 'idsync binding add --source {name} --target TARGET'"
        );
    }
    for plan in &preview.targets {
        println!("{} (run {}): {} operations would be applied", plan.target, plan.run, plan.ops.len());
        crate::sync_cli::print_plan(plan);
        if let Some(r) = &plan.hold_reason {
            println!("  safeguard: a real run would hold the deprovisioning for approval: {r}");
        }
    }
    Ok(())
}
