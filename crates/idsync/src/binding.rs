//! `idsync binding …`: which source feeds which target, and the rules, through the admin API. A
//! running server applies a change at once: it reloads the bindings and reconciles what a new or
//! changed binding covers. Every change is checked before it is saved; an invalid rule saves nothing.

use std::path::PathBuf;

use anyhow::{Context, bail};
use api_types::{Binding, BindingImport, DraftRules, Imported, NewBinding, Plan, RuleValue};
use clap::Subcommand;
use engine::BindingSpec;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum BindingCommand {
    /// Feed a target from a source, with the default rules. A running server reconciles the
    /// target for it at once, so users pushed before the binding existed reach the target.
    Add {
        /// The source that feeds the target.
        #[arg(long)]
        source: String,
        /// The target the source feeds.
        #[arg(long)]
        target: String,
        /// Print the plan the binding would cause in the target, and save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List bindings, with whether each is reconciled, waiting for a reconcile, or broken.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a binding's rules, defaults included, as TOML.
    Show {
        /// The source that feeds the target.
        source: String,
        /// The target the source feeds.
        target: String,
    },
    /// Set one rule: a dotted key and a TOML value (bare words are text), e.g.
    /// `users.on_removed delete`, `groups.default_for_new '["jira-software-users"]'`.
    /// Below `groups.mapping.` and `users.custom_attributes.` the rest of the key is one name,
    /// dots and blanks included: `'groups.mapping.Eng.Team Leads' '["jira-leads"]'`.
    Set {
        /// The source that feeds the target.
        source: String,
        /// The target the source feeds.
        target: String,
        /// A rule key, e.g. users.on_removed or groups.mapping.NAME.
        key: String,
        /// A TOML value; bare words are text.
        value: String,
        /// Print the plan the change would cause in the target, and save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Return one rule to its default.
    Unset {
        /// The source that feeds the target.
        source: String,
        /// The target the source feeds.
        target: String,
        /// A rule key, e.g. users.on_removed or groups.mapping.NAME.
        key: String,
        /// Print the plan the change would cause in the target, and save nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop feeding the target from the source. What idsync created there stays.
    Remove {
        /// The source that feeds the target.
        source: String,
        /// The target the source feeds.
        target: String,
    },
    /// Copy the `[[binding]]` tables of a TOML file (an older idsync.toml) into the database,
    /// once. Bindings that exist already are left as they are.
    Import {
        /// A TOML file with [[binding]] tables, such as an older idsync.toml.
        file: PathBuf,
    },
}

const RECONCILE_NOTE: &str = "a running server reconciles the target for it at once, through the safeguard \
    (it shows in 'idsync runs list'); a server started later does it at start";

fn at(source: &str, target: &str) -> String {
    format!("/bindings/{}/{}", client::segment(source), client::segment(target))
}

/// A dry run of `target` as if `source → target` had `rules` (a binding added or changed): what the
/// change would cause, saving nothing.
async fn preview(api: &client::Client, source: &str, target: &str, rules: Value) -> anyhow::Result<()> {
    let path = format!("{}/preview", at(source, target));
    let plan: Plan = api
        .exchange(Method::POST, &path, Some(&DraftRules { rules }))
        .await
        .with_context(|| format!("previewing {target} failed"))?
        .0;
    crate::sync_cli::print_dry_run(&plan);
    println!("nothing was saved");
    Ok(())
}

pub async fn run(cmd: BindingCommand, api: &client::Client) -> anyhow::Result<()> {
    match cmd {
        BindingCommand::Add { source, target, dry_run: true } => {
            if api.get::<Binding>(&at(&source, &target)).await.is_ok() {
                bail!("binding {source} → {target} exists already; change its rules with 'idsync binding set'");
            }
            preview(api, &source, &target, json!({})).await?;
        }
        BindingCommand::Add { source, target, dry_run: false } => {
            let body = NewBinding { source: source.clone(), target: target.clone() };
            api.exchange::<Binding>(Method::POST, "/bindings", Some(&body)).await?;
            println!("bound {source} → {target} with the default rules:");
            println!("  users are created, updated and deactivated (never deleted) as the source says;");
            println!("  source groups map to target groups of the same name, created when missing;");
            println!("  memberships idsync did not grant are kept.");
            println!("{RECONCILE_NOTE}.");
            println!("see every rule with 'idsync binding show {source} {target}'");
        }
        BindingCommand::List { json } => {
            let (listed, text) = crate::pages::all::<Binding>(api, "/bindings").await?;
            if json {
                println!("{text}");
            } else if listed.is_empty() {
                println!("no bindings; add one with 'idsync binding add --source SOURCE --target TARGET'");
            } else {
                let width = listed.iter().map(|b| b.source.len() + b.target.len() + 3).max().unwrap_or(0);
                for b in &listed {
                    println!("{:<width$}  {}", format!("{} → {}", b.source, b.target), b.state);
                }
            }
        }
        BindingCommand::Show { source, target } => {
            let record: Binding = api.get(&at(&source, &target)).await?;
            let spec = BindingSpec::from_rules(&source, &target, &record.rules)
                .map_err(|e| anyhow::anyhow!("the stored rules cannot be read: {e}"))?;
            print!("{}", toml::to_string(&spec)?);
        }
        BindingCommand::Set { source, target, key, value: text, dry_run: true } => {
            let record: Binding = api.get(&at(&source, &target)).await?;
            let rules = app::bindings::with_rule_set(&source, &target, &record.rules, &key, &text)?;
            return preview(api, &source, &target, rules).await;
        }
        BindingCommand::Set { source, target, key, value: text, dry_run: false } => {
            let path = format!("{}/rules/{}", at(&source, &target), client::segment(&key));
            api.exchange::<Binding>(Method::PUT, &path, Some(&RuleValue { value: text.clone() })).await?;
            println!("{source} → {target}: {key} = {text}");
            println!("{RECONCILE_NOTE}.");
        }
        BindingCommand::Unset { source, target, key, dry_run: true } => {
            let record: Binding = api.get(&at(&source, &target)).await?;
            let rules = app::bindings::with_rule_unset(&source, &target, &record.rules, &key)?;
            return preview(api, &source, &target, rules).await;
        }
        BindingCommand::Unset { source, target, key, dry_run: false } => {
            let path = format!("{}/rules/{}", at(&source, &target), client::segment(&key));
            api.exchange::<Binding>(Method::DELETE, &path, None::<&()>).await?;
            println!("{source} → {target}: {key} is back to its default");
            println!("{RECONCILE_NOTE}.");
        }
        BindingCommand::Remove { source, target } => {
            api.send(Method::DELETE, &at(&source, &target), None::<&()>).await?;
            println!("removed binding {source} → {target}; users idsync created in {target} stay as they are");
        }
        BindingCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // Read here first, so that a mistake is reported against the file's name.
            app::bindings::parse_binding_tables(&text, &file.display().to_string())?;
            let imported: Imported =
                api.exchange(Method::POST, "/bindings/import", Some(&BindingImport { toml: text })).await?.0;
            for line in imported.bindings {
                println!("{line}");
            }
            println!("{RECONCILE_NOTE}.");
            println!(
                "idsync no longer reads [[binding]] tables from a config file: remove them from {}",
                file.display()
            );
        }
    }
    Ok(())
}
