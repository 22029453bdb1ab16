//! `idsync binding …`: which source feeds which target, and the rules. Bindings live in the
//! config file as `[[binding]]` tables; these commands edit that file in place (comments and
//! layout survive) and refuse any change that would make a rule invalid. A running server picks
//! changes up within seconds.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use crate::config::{Config, DEFAULT_FILE};

#[derive(Subcommand)]
pub enum BindingCommand {
    /// Feed a target from a source, with the default rules.
    Add {
        #[arg(long)]
        source: String,
        #[arg(long)]
        target: String,
    },
    /// List bindings.
    List,
    /// Print a binding's rules, defaults included, as TOML.
    Show { source: String, target: String },
    /// Set one rule: a dotted key and a TOML value, e.g. `users.on_removed delete`,
    /// `groups.default_for_new '["jira-software-users"]'`, `groups.mapping.Engineering '["jira-dev"]'`.
    Set { source: String, target: String, key: String, value: String },
    /// Return one rule to its default.
    Unset { source: String, target: String, key: String },
    /// Stop feeding the target from the source. What idsync created there stays.
    Remove { source: String, target: String },
}

fn config_file(config: &Config) -> PathBuf {
    config.file.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_FILE))
}

fn read(path: &PathBuf) -> anyhow::Result<DocumentMut> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse().with_context(|| format!("config file {} is not valid TOML", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DocumentMut::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read config file {}", path.display())),
    }
}

/// Writes the document after checking that it still makes a valid configuration.
fn write(path: &PathBuf, doc: &DocumentMut) -> anyhow::Result<()> {
    let text = doc.to_string();
    let parsed: Config =
        toml::from_str(&text).context("the change would make the config file invalid; nothing was written")?;
    parsed.bindings().context("nothing was written")?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn bindings(doc: &mut DocumentMut) -> anyhow::Result<&mut ArrayOfTables> {
    if !doc.contains_key("binding") {
        doc.insert("binding", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    doc["binding"].as_array_of_tables_mut().context("'binding' in the config file must be [[binding]] tables")
}

fn find<'a>(list: &'a mut ArrayOfTables, source: &str, target: &str) -> Option<&'a mut Table> {
    list.iter_mut().find(|t| {
        t.get("source").and_then(Item::as_str) == Some(source) && t.get("target").and_then(Item::as_str) == Some(target)
    })
}

fn no_binding(source: &str, target: &str) -> anyhow::Error {
    anyhow::anyhow!("there is no binding {source} → {target}; 'idsync binding list' shows the ones there are")
}

/// A TOML value as written on the command line; bare words are strings.
fn parse_value(text: &str) -> toml_edit::Value {
    let doc = format!("v = {text}");
    match doc.parse::<DocumentMut>() {
        Ok(d) => d["v"].as_value().cloned().unwrap_or_else(|| text.into()),
        Err(_) => text.into(),
    }
}

pub async fn run(cmd: BindingCommand, config: &Config) -> anyhow::Result<()> {
    let path = config_file(config);
    match cmd {
        BindingCommand::Add { source, target } => {
            let mut doc = read(&path)?;
            let list = bindings(&mut doc)?;
            if find(list, &source, &target).is_some() {
                bail!("binding {source} → {target} exists already; change its rules with 'idsync binding set'");
            }
            let mut t = Table::new();
            t.insert("source", value(&source));
            t.insert("target", value(&target));
            list.push(t);
            write(&path, &doc)?;
            println!("bound {source} → {target} in {} with the default rules:", path.display());
            println!("  users are created, updated and deactivated (never deleted) as the source says;");
            println!("  source groups map to target groups of the same name, created when missing;");
            println!("  memberships idsync did not grant are kept.");
            println!(
                "preview with 'idsync sync --target {target} --dry-run'; see every rule with 'idsync binding show {source} {target}'"
            );
        }
        BindingCommand::List => {
            if config.binding.is_empty() {
                println!("no bindings; add one with 'idsync binding add --source SOURCE --target TARGET'");
            }
            for b in &config.binding {
                println!("{} → {}", b.source, b.target);
            }
        }
        BindingCommand::Show { source, target } => {
            let spec = config
                .binding
                .iter()
                .find(|b| b.source == source && b.target == target)
                .ok_or_else(|| no_binding(&source, &target))?;
            print!("{}", toml::to_string(spec)?);
        }
        BindingCommand::Set { source, target, key, value: text } => {
            let mut doc = read(&path)?;
            let table = find(bindings(&mut doc)?, &source, &target).ok_or_else(|| no_binding(&source, &target))?;
            let parts: Vec<&str> = key.split('.').collect();
            if parts.len() < 2 || !matches!(parts[0], "users" | "groups") {
                bail!(
                    "rule keys start with users. or groups., e.g. users.on_removed; 'idsync binding show' lists them"
                );
            }
            let mut at: &mut Table = table;
            for part in &parts[..parts.len() - 1] {
                if !at.contains_key(part) {
                    let mut sub = Table::new();
                    sub.set_implicit(true);
                    at.insert(part, Item::Table(sub));
                }
                at = at[part].as_table_mut().with_context(|| format!("{part} in {key} is not a table"))?;
            }
            at.insert(parts[parts.len() - 1], Item::Value(parse_value(&text)));
            write(&path, &doc)?;
            println!("{source} → {target}: {key} = {text}");
        }
        BindingCommand::Unset { source, target, key } => {
            let mut doc = read(&path)?;
            let table = find(bindings(&mut doc)?, &source, &target).ok_or_else(|| no_binding(&source, &target))?;
            let parts: Vec<&str> = key.split('.').collect();
            let mut at: &mut Table = table;
            for part in &parts[..parts.len() - 1] {
                at = at.get_mut(part).and_then(Item::as_table_mut).with_context(|| format!("{key} is not set"))?;
            }
            if at.remove(parts[parts.len() - 1]).is_none() {
                bail!("{key} is not set; it has its default already");
            }
            write(&path, &doc)?;
            println!("{source} → {target}: {key} is back to its default");
        }
        BindingCommand::Remove { source, target } => {
            let mut doc = read(&path)?;
            let list = bindings(&mut doc)?;
            let before = list.len();
            list.retain(|t| {
                !(t.get("source").and_then(Item::as_str) == Some(source.as_str())
                    && t.get("target").and_then(Item::as_str) == Some(target.as_str()))
            });
            if list.len() == before {
                return Err(no_binding(&source, &target));
            }
            write(&path, &doc)?;
            println!("removed binding {source} → {target}; users idsync created in {target} stay as they are");
        }
    }
    Ok(())
}
