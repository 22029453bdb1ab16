//! Bindings: which source feeds which target, and the rules. Every change is checked (parsed and
//! compiled) before it is saved, so an invalid rule saves nothing; an import of several bindings
//! is checked whole, so it is never half done.

use engine::BindingSpec;
use serde_json::{Map, Value};
use store::{BindingRecord, BindingStore};
use sync::Bindings;

use crate::Error;

/// The maps whose keys are names of the administrator's choosing (group names, target property
/// names): below them the rest of a key is one name, not further dotted keys.
const NAME_MAPS: [&str; 2] = ["groups.mapping.", "users.custom_attributes."];

/// The segments of a rule key: TOML's dotted keys (a quoted segment keeps its dots and blanks),
/// except below a name map, where the rest is one name as typed or as one quoted TOML string.
pub fn rule_key(key: &str) -> Result<Vec<String>, Error> {
    for map in NAME_MAPS {
        if let Some(rest) = key.strip_prefix(map) {
            let name = if rest.starts_with('"') || rest.starts_with('\'') {
                let doc = toml::from_str::<toml::Table>(&format!("v = {rest}"))
                    .ok()
                    .filter(|t: &toml::Table| t.get("v").is_some_and(toml::Value::is_str))
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "{rest} in {key} is not one quoted name; leave the quotes off or close them"
                        ))
                    })?;
                doc["v"].as_str().unwrap_or_default().to_string()
            } else {
                rest.to_string()
            };
            if name.trim().is_empty() {
                return Err(Error::Invalid(format!("{key} names no entry; give the name after {map}")));
            }
            let mut path: Vec<String> = map.trim_end_matches('.').split('.').map(String::from).collect();
            path.push(name);
            return Ok(path);
        }
    }
    let not_a_key = || {
        Error::Invalid(format!(
            "'{key}' is not a rule key; write it as users.NAME or groups.NAME (quote parts with dots or blanks)"
        ))
    };
    let parsed: toml::Table = toml::from_str(&format!("{key} = 0")).map_err(|_| not_a_key())?;
    let mut path = Vec::new();
    let mut at = &parsed;
    loop {
        let (name, value) = at.iter().next().ok_or_else(not_a_key)?;
        path.push(name.clone());
        match value {
            toml::Value::Table(inner) => at = inner,
            _ => break,
        }
    }
    Ok(path)
}

/// A TOML value as written by an administrator; bare words are text.
pub fn rule_value(text: &str) -> Value {
    let value = match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut doc) => doc.remove("v").unwrap_or_else(|| toml::Value::String(text.into())),
        Err(_) => toml::Value::String(text.into()),
    };
    serde_json::to_value(value).unwrap_or_else(|_| Value::String(text.into()))
}

fn set_rule(rules: &mut Value, path: &[String], value: Value) -> Result<(), Error> {
    let (leaf, parents) = path.split_last().ok_or_else(|| Error::Invalid("the rule key is empty".into()))?;
    let mut at = rules;
    for part in parents {
        let object =
            at.as_object_mut().ok_or_else(|| Error::Invalid(format!("{part} is inside a rule that is not a table")))?;
        at = object.entry(part.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    at.as_object_mut()
        .ok_or_else(|| Error::Invalid(format!("{} is not a table", parents.join("."))))?
        .insert(leaf.clone(), value);
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
pub fn checked(source: &str, target: &str, rules: &Value) -> Result<BindingSpec, Error> {
    let spec =
        BindingSpec::from_rules(source, target, rules).map_err(|e| Error::Invalid(format!("invalid rule: {e}")))?;
    spec.compile().map_err(|e| Error::Invalid(format!("invalid rule: {e}")))?;
    Ok(spec)
}

/// `rules` with `key` set to the value `text` gives, checked; nothing is saved.
pub fn with_rule_set(source: &str, target: &str, rules: &Value, key: &str, text: &str) -> Result<Value, Error> {
    let path = rule_key(key)?;
    if path.len() < 2 || !matches!(path[0].as_str(), "users" | "groups") {
        return Err(Error::Invalid(format!(
            "rule keys start with users. or groups., e.g. users.on_removed; the rules of {source} → {target} show every key"
        )));
    }
    let mut rules = rules.clone();
    set_rule(&mut rules, &path, rule_value(text))?;
    checked(source, target, &rules).map_err(nothing_changed)?;
    Ok(rules)
}

/// `rules` with `key` back to its default, checked; nothing is saved.
pub fn with_rule_unset(source: &str, target: &str, rules: &Value, key: &str) -> Result<Value, Error> {
    let path = rule_key(key)?;
    let mut rules = rules.clone();
    if !unset_rule(&mut rules, &path) {
        return Err(Error::Invalid(format!("{key} is not set; it has its default already")));
    }
    checked(source, target, &rules).map_err(nothing_changed)?;
    Ok(rules)
}

fn nothing_changed(e: Error) -> Error {
    Error::Invalid(format!("nothing was changed: {e}"))
}

/// The stored binding `source → target`.
pub async fn binding(store: &dyn BindingStore, source: &str, target: &str) -> Result<BindingRecord, Error> {
    store.binding(source, target).await?.ok_or_else(|| Error::Missing {
        message: format!("there is no binding {source} → {target}"),
        hint: Some(model::Hint::ListBindings),
    })
}

/// Whether a binding is in force: broken (its rules do not compile), waiting for a reconcile, or
/// reconciled.
fn state(record: &BindingRecord, bindings: &Bindings) -> String {
    if let Some(b) = bindings.broken().iter().find(|b| b.source == record.source && b.target == record.target) {
        return format!("broken: {}", b.error);
    }
    if record.needs_reconcile() { "reconcile due".into() } else { "reconciled".into() }
}

fn view(record: &BindingRecord, bindings: &Bindings) -> api_types::Binding {
    api_types::Binding {
        state: state(record, bindings),
        source: record.source.clone(),
        target: record.target.clone(),
        rules: record.rules.clone(),
        revision: record.revision,
        created: record.created.to_string(),
        updated: record.updated.to_string(),
    }
}

/// Binds a source to a target with the default rules.
pub async fn add(store: &dyn BindingStore, source: &str, target: &str) -> Result<api_types::Binding, Error> {
    store.add_binding(source, target, &Value::Object(Map::new())).await?;
    show(store, source, target).await
}

/// Sets one rule (checked with all the others before it is saved); returns the binding as it was
/// and as it is.
pub async fn change_rule(
    store: &dyn BindingStore,
    source: &str,
    target: &str,
    key: &str,
    text: &str,
) -> Result<(api_types::Binding, api_types::Binding), Error> {
    let before = show(store, source, target).await?;
    let rules = with_rule_set(source, target, &before.rules, key, text)?;
    store.set_binding_rules(source, target, &rules).await?;
    Ok((before, show(store, source, target).await?))
}

/// Puts one rule back to its default; returns the binding as it was and as it is.
pub async fn reset_rule(
    store: &dyn BindingStore,
    source: &str,
    target: &str,
    key: &str,
) -> Result<(api_types::Binding, api_types::Binding), Error> {
    let before = show(store, source, target).await?;
    let rules = with_rule_unset(source, target, &before.rules, key)?;
    store.set_binding_rules(source, target, &rules).await?;
    Ok((before, show(store, source, target).await?))
}

/// Removes a binding; what idsync made in the target stays.
pub async fn remove(store: &dyn BindingStore, source: &str, target: &str) -> Result<api_types::Binding, Error> {
    let before = show(store, source, target).await?;
    store.remove_binding(source, target).await?;
    Ok(before)
}

/// What `source → target` with `rules` (a binding added or changed) would do to the target: a dry
/// run through the planner and the safeguard's judgement, saving nothing but the dry run's record.
pub async fn preview(
    engine: &sync::Engine,
    store: &dyn BindingStore,
    source: &str,
    target: &str,
    rules: Value,
) -> Result<sync::RunReport, Error> {
    checked(source, target, &rules)?;
    let mut records = store.bindings().await?;
    records.retain(|r| !(r.source == source && r.target == target));
    records.push(BindingRecord {
        source: source.into(),
        target: target.into(),
        rules,
        revision: 1,
        reconciled: 0,
        created: store::Time::now(),
        updated: store::Time::now(),
    });
    Ok(engine.with_bindings(Bindings::from_records(&records)).full_sync(target, true).await?)
}

/// Every binding with its state, by source then target.
pub async fn list(store: &dyn BindingStore) -> Result<Vec<api_types::Binding>, Error> {
    let records = store.bindings().await?;
    let bindings = Bindings::from_records(&records);
    Ok(records.iter().map(|r| view(r, &bindings)).collect())
}

/// One binding with its state.
pub async fn show(store: &dyn BindingStore, source: &str, target: &str) -> Result<api_types::Binding, Error> {
    let record = binding(store, source, target).await?;
    let bindings = Bindings::from_records(std::slice::from_ref(&record));
    Ok(view(&record, &bindings))
}

/// The bindings `keep` selects, as "source → target".
pub(crate) async fn named(
    store: &dyn BindingStore,
    keep: impl Fn(&BindingRecord) -> bool,
) -> Result<Vec<String>, Error> {
    Ok(store.bindings().await?.iter().filter(|b| keep(b)).map(|b| format!("{} → {}", b.source, b.target)).collect())
}

/// The `[[binding]]` tables of a TOML text as (source, target, rules), each checked; any
/// invalid one refuses them all. `origin` names the text in messages.
pub fn parse_binding_tables(text: &str, origin: &str) -> Result<Vec<(String, String, Value)>, Error> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| Error::Invalid(format!("{origin} is not valid TOML: {e}")))?;
    let Some(tables) = doc.get("binding") else {
        return Err(Error::Invalid(format!("{origin} holds no [[binding]] tables")));
    };
    let tables =
        tables.as_array().ok_or_else(|| Error::Invalid(format!("'binding' in {origin} must be [[binding]] tables")))?;
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
        let rules = match serde_json::to_value(rules) {
            Ok(rules) => rules,
            Err(e) => {
                problems.push(format!("{source} → {target}: {e}"));
                continue;
            }
        };
        match checked(&source, &target, &rules) {
            Ok(_) => entries.push((source, target, rules)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(format!("nothing was imported from {origin}:\n  {}", problems.join("\n  "))));
    }
    Ok(entries)
}

/// Adds the bindings that do not exist yet; returns a line per binding saying what happened.
pub async fn import(store: &dyn BindingStore, entries: &[(String, String, Value)]) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for (source, target, rules) in entries {
        if store.binding(source, target).await?.is_some() {
            lines.push(format!("{source} → {target}: exists already; left as it is"));
            continue;
        }
        store.add_binding(source, target, rules).await?;
        lines.push(format!("{source} → {target}: imported"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(key: &str) -> Vec<String> {
        rule_key(key).unwrap()
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
        assert!(rule_key("groups.mapping.\"open").is_err());
        assert!(rule_key("groups.mapping.").is_err());
        assert!(rule_key("users on_removed").is_err());
    }

    #[test]
    fn rules_are_set_and_unset_leaving_no_empty_tables() {
        let rules = with_rule_set("a", "b", &json!({}), "groups.mapping.Eng.Team", "[\"jira-dev\"]").unwrap();
        let rules = with_rule_set("a", "b", &rules, "users.import", "false").unwrap();
        assert_eq!(rules, json!({"groups": {"mapping": {"Eng.Team": ["jira-dev"]}}, "users": {"import": false}}));
        let rules = with_rule_unset("a", "b", &rules, "groups.mapping.Eng.Team").unwrap();
        assert_eq!(rules, json!({"users": {"import": false}}));
        let again = with_rule_unset("a", "b", &rules, "groups.mapping.Eng.Team").unwrap_err();
        assert!(again.to_string().contains("is not set"), "{again}");
    }

    #[test]
    fn an_invalid_rule_changes_nothing() {
        let wrong = with_rule_set("a", "b", &json!({}), "users.on_removed", "explode").unwrap_err();
        assert!(wrong.to_string().starts_with("nothing was changed"), "{wrong}");
        let outside = with_rule_set("a", "b", &json!({}), "sync.anything", "1").unwrap_err();
        assert!(outside.to_string().starts_with("rule keys start with"), "{outside}");
    }

    #[test]
    fn values_are_toml_and_bare_words_are_text() {
        assert_eq!(rule_value("delete"), json!("delete"));
        assert_eq!(rule_value("false"), json!(false));
        assert_eq!(rule_value("[\"a\", 'b']"), json!(["a", "b"]));
        assert_eq!(rule_value("{ pattern = '(.*)', replacement = '$1' }")["pattern"], json!("(.*)"));
    }

    #[test]
    fn an_import_with_one_bad_binding_imports_nothing() {
        let text = "[[binding]]\nsource = 'a'\ntarget = 'b'\n[binding.groups]\nmapping = { 'x.y' = ['z'] }\n\
                    [[binding]]\nsource = 'a'\ntarget = 'c'\n[binding.users]\nimprt = true\n";
        let err = parse_binding_tables(text, "f.toml").unwrap_err().to_string();
        assert!(err.contains("nothing was imported") && err.contains("a → c") && err.contains("imprt"), "{err}");
        let good =
            parse_binding_tables(&text[..text.find("[[binding]]\nsource = 'a'\ntarget = 'c'").unwrap()], "f").unwrap();
        assert_eq!(good, [("a".to_string(), "b".to_string(), json!({"groups": {"mapping": {"x.y": ["z"]}}}))]);
    }
}
