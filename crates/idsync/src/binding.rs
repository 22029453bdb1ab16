//! `idsync binding …`: which source feeds which target, and the rules. Bindings live in the
//! database beside sources and targets, so these commands work from any directory, and a running
//! server applies a change at once: it reloads the bindings and reconciles what a new or changed
//! binding covers. Every change is checked before it is saved; an invalid rule saves nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use engine::BindingSpec;
use serde_json::{Map, Value, json};
use store::sqlite::SqliteStore;
use store::{BindingRecord, BindingStore};
use sync::{Bindings, Engine};

use crate::config::Config;
use crate::serve::open_store;

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

/// The maps whose keys are names of the administrator's choosing (group names, target property
/// names): below them the rest of a key is one name, not further dotted keys.
const NAME_MAPS: [&str; 2] = ["groups.mapping.", "users.custom_attributes."];

/// The segments of a rule key: TOML's dotted keys (a quoted segment keeps its dots and blanks),
/// except below a name map, where the rest is one name as typed or as one quoted TOML string.
fn key_path(key: &str) -> anyhow::Result<Vec<String>> {
    for map in NAME_MAPS {
        if let Some(rest) = key.strip_prefix(map) {
            let name = if rest.starts_with('"') || rest.starts_with('\'') {
                let doc = toml::from_str::<toml::Table>(&format!("v = {rest}"))
                    .ok()
                    .filter(|t: &toml::Table| t.get("v").is_some_and(toml::Value::is_str))
                    .with_context(|| {
                        format!("{rest} in {key} is not one quoted name; leave the quotes off or close them")
                    })?;
                doc["v"].as_str().unwrap_or_default().to_string()
            } else {
                rest.to_string()
            };
            if name.trim().is_empty() {
                bail!("{key} names no entry; give the name after {map}");
            }
            let mut path: Vec<String> = map.trim_end_matches('.').split('.').map(String::from).collect();
            path.push(name);
            return Ok(path);
        }
    }
    let parsed: toml::Table = toml::from_str(&format!("{key} = 0")).map_err(|_| {
        anyhow::anyhow!(
            "'{key}' is not a rule key; write it as users.NAME or groups.NAME (quote parts with dots or blanks)"
        )
    })?;
    let mut path = Vec::new();
    let mut at = &parsed;
    loop {
        let (name, value) = at.iter().next().context("empty key")?;
        path.push(name.clone());
        match value {
            toml::Value::Table(inner) => at = inner,
            _ => break,
        }
    }
    Ok(path)
}

/// A TOML value as written on the command line; bare words are strings.
fn parse_value(text: &str) -> anyhow::Result<Value> {
    let value = match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut doc) => doc.remove("v").unwrap_or_else(|| toml::Value::String(text.into())),
        Err(_) => toml::Value::String(text.into()),
    };
    serde_json::to_value(value).context("the value cannot be stored")
}

fn set_rule(rules: &mut Value, path: &[String], value: Value) -> anyhow::Result<()> {
    let (leaf, parents) = path.split_last().context("empty key")?;
    let mut at = rules;
    for part in parents {
        let object = at.as_object_mut().with_context(|| format!("{part} is inside a rule that is not a table"))?;
        at = object.entry(part.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    at.as_object_mut().with_context(|| format!("{} is not a table", parents.join(".")))?.insert(leaf.clone(), value);
    Ok(())
}

/// Removes the rule at `path` and any table it leaves empty; false when it was not set.
fn unset_rule(rules: &mut Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else { return false };
    let Some(object) = rules.as_object_mut() else { return false };
    if rest.is_empty() {
        return object.remove(first).is_some();
    }
    let Some(inner) = object.get_mut(first) else { return false };
    let removed = unset_rule(inner, rest);
    if inner.as_object().is_some_and(Map::is_empty) {
        object.remove(first);
    }
    removed
}

/// The binding the rules make, compiled: an invalid rule is refused with the field at fault.
fn checked(source: &str, target: &str, rules: &Value) -> anyhow::Result<BindingSpec> {
    let spec = BindingSpec::from_rules(source, target, rules).map_err(|e| anyhow::anyhow!("invalid rule: {e}"))?;
    spec.compile().map_err(|e| anyhow::anyhow!("invalid rule: {e}"))?;
    Ok(spec)
}

fn no_binding(source: &str, target: &str) -> anyhow::Error {
    anyhow::anyhow!("there is no binding {source} → {target}; 'idsync binding list' shows the ones there are")
}

/// The `[[binding]]` tables of a TOML text as (source, target, rules), each checked; any
/// invalid one refuses them all, so an import is never half done.
pub fn parse_binding_tables(text: &str, origin: &Path) -> anyhow::Result<Vec<(String, String, Value)>> {
    let doc: toml::Table = toml::from_str(text).with_context(|| format!("{} is not valid TOML", origin.display()))?;
    let Some(tables) = doc.get("binding") else {
        bail!("{} holds no [[binding]] tables", origin.display());
    };
    let tables =
        tables.as_array().with_context(|| format!("'binding' in {} must be [[binding]] tables", origin.display()))?;
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        let Some(table) = table.as_table() else {
            problems.push(format!("binding {} is not a table", i + 1));
            continue;
        };
        let name = |key: &str| table.get(key).and_then(toml::Value::as_str).map(String::from);
        let (Some(source), Some(target)) = (name("source"), name("target")) else {
            problems.push(format!("binding {} needs source = \"…\" and target = \"…\"", i + 1));
            continue;
        };
        let mut rules = table.clone();
        rules.remove("source");
        rules.remove("target");
        let rules = serde_json::to_value(rules)?;
        match checked(&source, &target, &rules) {
            Ok(_) => entries.push((source, target, rules)),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("nothing was imported from {}:\n  {}", origin.display(), problems.join("\n  "));
    }
    Ok(entries)
}

/// Adds the bindings that do not exist yet; returns a line per binding saying what happened.
pub async fn import(store: &dyn BindingStore, entries: &[(String, String, Value)]) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for (source, target, rules) in entries {
        if store.binding(source, target).await?.is_some() {
            lines.push(format!("{source} → {target}: exists already; left as it is"));
            continue;
        }
        store.add_binding(source, target, rules).await.with_context(|| format!("binding {source} → {target}"))?;
        lines.push(format!("{source} → {target}: imported"));
    }
    Ok(lines)
}

fn state(record: &BindingRecord, bindings: &Bindings) -> String {
    if let Some(b) = bindings.broken().iter().find(|b| b.source == record.source && b.target == record.target) {
        return format!("broken: {}", b.error);
    }
    if record.needs_reconcile() { "reconcile due".into() } else { "reconciled".into() }
}

const RECONCILE_NOTE: &str = "a running server reconciles the target for it at once, through the safeguard \
    (it shows in 'idsync runs list'); a server started later does it at start";

/// A dry run of `target` as if `source → target` had `rules` (a binding added or changed): what the
/// change would cause, through the planner and the safeguard's judgement, saving nothing.
async fn preview(
    config: &Config,
    store: &Arc<SqliteStore>,
    source: &str,
    target: &str,
    rules: Value,
) -> anyhow::Result<()> {
    let mut records = store.bindings().await?;
    records.retain(|r| !(r.source == source && r.target == target));
    let at = String::new();
    records.push(BindingRecord {
        source: source.into(),
        target: target.into(),
        rules,
        revision: 1,
        reconciled: 0,
        created: at.clone(),
        updated: at,
    });
    let connector = crate::target::connector(config)?;
    let engine = Engine::new(store.clone(), Arc::new(connector), Bindings::from_records(&records), config.sync.clone());
    let report = engine.full_sync(target, true).await.with_context(|| format!("previewing {target} failed"))?;
    crate::sync_cli::print_dry_run(&report);
    println!("nothing was saved");
    Ok(())
}

pub async fn run(cmd: BindingCommand, config: &Config) -> anyhow::Result<()> {
    let store = Arc::new(open_store(config).await?);
    let result = run_with(cmd, config, &store).await;
    store.close().await;
    result
}

async fn run_with(cmd: BindingCommand, config: &Config, store: &Arc<SqliteStore>) -> anyhow::Result<()> {
    match cmd {
        BindingCommand::Add { source, target, dry_run: true } => {
            if store.binding(&source, &target).await?.is_some() {
                bail!("binding {source} → {target} exists already; change its rules with 'idsync binding set'");
            }
            preview(config, store, &source, &target, json!({})).await?;
        }
        BindingCommand::Add { source, target, dry_run: false } => {
            store.add_binding(&source, &target, &json!({})).await?;
            println!("bound {source} → {target} with the default rules:");
            println!("  users are created, updated and deactivated (never deleted) as the source says;");
            println!("  source groups map to target groups of the same name, created when missing;");
            println!("  memberships idsync did not grant are kept.");
            println!("{RECONCILE_NOTE}.");
            println!("see every rule with 'idsync binding show {source} {target}'");
        }
        BindingCommand::List { json } => {
            let records = store.bindings().await?;
            let bindings = Bindings::from_records(&records);
            if json {
                let rows: Vec<Value> = records
                    .iter()
                    .map(|r| {
                        json!({"source": r.source, "target": r.target, "revision": r.revision,
                               "state": state(r, &bindings), "updated": r.updated})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if records.is_empty() {
                println!("no bindings; add one with 'idsync binding add --source SOURCE --target TARGET'");
            } else {
                let width = records.iter().map(|r| r.source.len() + r.target.len() + 3).max().unwrap_or(0);
                for r in &records {
                    println!("{:<width$}  {}", format!("{} → {}", r.source, r.target), state(r, &bindings));
                }
            }
        }
        BindingCommand::Show { source, target } => {
            let record = store.binding(&source, &target).await?.ok_or_else(|| no_binding(&source, &target))?;
            let spec = BindingSpec::from_rules(&source, &target, &record.rules)
                .map_err(|e| anyhow::anyhow!("the stored rules cannot be read: {e}"))?;
            print!("{}", toml::to_string(&spec)?);
        }
        BindingCommand::Set { source, target, key, value: text, dry_run } => {
            let path = key_path(&key)?;
            if path.len() < 2 || !matches!(path[0].as_str(), "users" | "groups") {
                bail!(
                    "rule keys start with users. or groups., e.g. users.on_removed; 'idsync binding show' lists them"
                );
            }
            let record = store.binding(&source, &target).await?.ok_or_else(|| no_binding(&source, &target))?;
            let mut rules = record.rules;
            set_rule(&mut rules, &path, parse_value(&text)?)?;
            checked(&source, &target, &rules).context("nothing was changed")?;
            if dry_run {
                return preview(config, store, &source, &target, rules).await;
            }
            store.set_binding_rules(&source, &target, &rules).await?;
            println!("{source} → {target}: {key} = {text}");
            println!("{RECONCILE_NOTE}.");
        }
        BindingCommand::Unset { source, target, key, dry_run } => {
            let path = key_path(&key)?;
            let record = store.binding(&source, &target).await?.ok_or_else(|| no_binding(&source, &target))?;
            let mut rules = record.rules;
            if !unset_rule(&mut rules, &path) {
                bail!("{key} is not set; it has its default already");
            }
            checked(&source, &target, &rules).context("nothing was changed")?;
            if dry_run {
                return preview(config, store, &source, &target, rules).await;
            }
            store.set_binding_rules(&source, &target, &rules).await?;
            println!("{source} → {target}: {key} is back to its default");
            println!("{RECONCILE_NOTE}.");
        }
        BindingCommand::Remove { source, target } => {
            store.remove_binding(&source, &target).await?;
            println!("removed binding {source} → {target}; users idsync created in {target} stay as they are");
        }
        BindingCommand::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let entries = parse_binding_tables(&text, &file)?;
            for line in import(&**store, &entries).await? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn path(key: &str) -> Vec<String> {
        key_path(key).unwrap()
    }

    #[test]
    fn keys_follow_toml_and_names_below_maps_are_taken_whole() {
        assert_eq!(path("users.on_removed"), ["users", "on_removed"]);
        assert_eq!(path("groups.mapping.Eng.Team"), ["groups", "mapping", "Eng.Team"]);
        assert_eq!(path("groups.mapping.Team [EU] \"x\""), ["groups", "mapping", "Team [EU] \"x\""]);
        assert_eq!(path("groups.mapping.\"Eng.Team\""), ["groups", "mapping", "Eng.Team"], "the quotes are not kept");
        assert_eq!(path("groups.mapping.'say \"hi\"'"), ["groups", "mapping", "say \"hi\""]);
        assert_eq!(path("users.custom_attributes.cost.center"), ["users", "custom_attributes", "cost.center"]);
        assert_eq!(path("users.\"username_transform\".pattern"), ["users", "username_transform", "pattern"]);
        assert!(key_path("groups.mapping.\"open").is_err());
        assert!(key_path("groups.mapping.").is_err());
        assert!(key_path("users on_removed").is_err());
    }

    #[test]
    fn rules_are_set_and_unset_leaving_no_empty_tables() {
        let mut rules = json!({});
        set_rule(&mut rules, &path("groups.mapping.Eng.Team"), json!(["jira-dev"])).unwrap();
        set_rule(&mut rules, &path("users.import"), json!(false)).unwrap();
        assert_eq!(rules, json!({"groups": {"mapping": {"Eng.Team": ["jira-dev"]}}, "users": {"import": false}}));
        assert!(checked("a", "b", &rules).is_ok());
        assert!(unset_rule(&mut rules, &path("groups.mapping.Eng.Team")));
        assert!(!unset_rule(&mut rules, &path("groups.mapping.Eng.Team")));
        assert_eq!(rules, json!({"users": {"import": false}}));
    }

    #[test]
    fn values_are_toml_and_bare_words_are_text() {
        assert_eq!(parse_value("delete").unwrap(), json!("delete"));
        assert_eq!(parse_value("false").unwrap(), json!(false));
        assert_eq!(parse_value("[\"a\", 'b']").unwrap(), json!(["a", "b"]));
        assert_eq!(parse_value("{ pattern = '(.*)', replacement = '$1' }").unwrap()["pattern"], json!("(.*)"));
    }

    #[test]
    fn an_import_with_one_bad_binding_imports_nothing() {
        let text = "[[binding]]\nsource = 'a'\ntarget = 'b'\n[binding.groups]\nmapping = { 'x.y' = ['z'] }\n\
                    [[binding]]\nsource = 'a'\ntarget = 'c'\n[binding.users]\nimprt = true\n";
        let err = parse_binding_tables(text, Path::new("f.toml")).unwrap_err().to_string();
        assert!(err.contains("nothing was imported") && err.contains("a → c") && err.contains("imprt"), "{err}");
        let good = parse_binding_tables(
            &text[..text.find("[[binding]]\nsource = 'a'\ntarget = 'c'").unwrap()],
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(good, [("a".to_string(), "b".to_string(), json!({"groups": {"mapping": {"x.y": ["z"]}}}))]);
    }
}
