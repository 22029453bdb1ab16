//! One person across every source and target: each source record that names them, what each
//! binding's rules make of it (with the rule behind each attribute and membership), what idsync
//! manages for them in each target, and the latest log entries about them.

use api_types::{ExplainedRecord, ExplainedTarget, ExplainedValue, Explanation, LogEntry};
use engine::CompiledRules;
use model::ResourceKind;
use serde_json::Value;
use store::{EventQuery, ListQuery, Load, Store};

use crate::Error;

const LOG_ENTRIES: u32 = 20;

fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// What the rules make of one record for one target.
fn explain_target(target: &str, rules: &CompiledRules, record: &Value, groups: &[String]) -> ExplainedTarget {
    let u = &rules.rules.users;
    let username = engine::desired_name(rules, record);
    let out_of_scope = username.is_none().then(|| match &u.filter {
        Some(filter) if rules.user_filter.as_ref().is_some_and(|f| !model::eval::matches(f, record)) => {
            format!("left out by users.filter ({filter})")
        }
        _ => format!("no username: the record has no {}", u.username_attribute),
    });
    let value = |path: &model::patch::PatchPath| engine::attributes::extract(record, path).unwrap_or_default();
    let mut attributes = vec![
        ExplainedValue {
            name: "username".into(),
            value: username.clone().unwrap_or_default(),
            rule: match &u.username_transform {
                Some(t) => format!(
                    "users.username_attribute ({}) through users.username_transform ({} → {})",
                    u.username_attribute, t.pattern, t.replacement
                ),
                None => format!("users.username_attribute ({})", u.username_attribute),
            },
        },
        ExplainedValue {
            name: "email".into(),
            value: value(&rules.email),
            rule: format!("users.email_attribute ({})", u.email_attribute),
        },
        ExplainedValue {
            name: "display name".into(),
            value: engine::attributes::extract(record, &rules.display_name)
                .or_else(|| engine::attributes::fallback_display_name(record))
                .unwrap_or_default(),
            rule: format!("users.display_name_attribute ({})", u.display_name_attribute),
        },
    ];
    for (key, path) in &rules.custom {
        attributes.push(ExplainedValue {
            name: key.clone(),
            value: value(path),
            rule: format!(
                "users.custom_attributes.{key} ({})",
                u.custom_attributes.get(key).cloned().unwrap_or_default()
            ),
        });
    }
    let mut memberships: Vec<ExplainedValue> = crate::drafts::apply(rules, record, groups)
        .groups
        .into_iter()
        .map(|g| ExplainedValue {
            name: g.source.clone(),
            value: g.targets.join(", "),
            rule: match g.how.as_str() {
                "mapped by hand" => format!("groups.mapping.{}", g.source),
                "on the fly" if rules.group_transform.is_some() => {
                    "groups.on_the_fly through groups.name_transform".to_string()
                }
                "on the fly" => "groups.on_the_fly".to_string(),
                other => other.to_string(),
            },
        })
        .collect();
    for group in &rules.rules.groups.default_for_all {
        memberships.push(ExplainedValue {
            name: "(every user)".into(),
            value: group.clone(),
            rule: "groups.default_for_all".into(),
        });
    }
    for group in &rules.rules.groups.default_for_new {
        memberships.push(ExplainedValue {
            name: "(new users, once)".into(),
            value: group.clone(),
            rule: "groups.default_for_new".into(),
        });
    }
    let active = match model::eval::get_ci(record, "active") {
        Some(Value::Bool(false)) => format!("inactive at the source: {}", deprovision(u.on_inactive)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            format!("inactive at the source: {}", deprovision(u.on_inactive))
        }
        _ => "active".to_string(),
    };
    ExplainedTarget {
        target: target.to_string(),
        username,
        out_of_scope,
        state: active,
        attributes,
        memberships,
        managed_as: None,
        granted: Vec::new(),
    }
}

fn deprovision(d: engine::Deprovision) -> &'static str {
    match d {
        engine::Deprovision::Disable => "users.on_inactive deactivates them",
        engine::Deprovision::Delete => "users.on_inactive deletes them",
        engine::Deprovision::Leave => "users.on_inactive leaves them as they are",
    }
}

/// Everything idsync knows about the person `name`: a userName, an email address or an
/// external id in any source, or the username of a target user idsync manages.
pub async fn user(db: &dyn store::Database, bindings: &sync::Bindings, name: &str) -> Result<Explanation, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("give a user name, an email address or an external id to explain".into()));
    }
    let q = quoted(name);
    // One attribute at a time, the indexed ones first: an `or` of them would read every record.
    let mut filters = Vec::new();
    for attribute in ["userName", "externalId", "emails.value"] {
        let text = format!("{attribute} eq \"{q}\"");
        filters.push(
            model::Filter::parse(&text, &model::schema::USER_TYPE, model::FilterLimits::default())
                .map_err(|e| Error::Invalid(format!("'{name}' cannot be looked up: {}", e.detail)))?,
        );
    }
    let load = Load { members: false, groups: true, member_limit: None };
    let sources = db.list_sources().await?;
    // The records named in a source, and those behind a target username idsync manages.
    let mut found: Vec<(store::Source, store::StoredResource)> = Vec::new();
    for source in &sources {
        for filter in &filters {
            let query =
                ListQuery { filter: Some(filter), sort_by: None, descending: false, start_index: 1, count: 10, load };
            let users = Store::list(db, source.id, ResourceKind::User, &query).await?.items;
            if !users.is_empty() {
                found.extend(users.into_iter().map(|user| (source.clone(), user)));
                break;
            }
        }
    }
    for target in db.targets().await? {
        for link in db.ownership(&target.name, &[], &[name.to_string()]).await?.users {
            let Some(source) = sources.iter().find(|s| s.name == link.source) else { continue };
            if found.iter().any(|(s, u)| s.name == link.source && u.id == link.source_id) {
                continue;
            }
            if let Some(user) = Store::get(db, source.id, ResourceKind::User, &link.source_id, load).await? {
                found.push((source.clone(), user));
            }
        }
    }
    let mut records = Vec::new();
    let mut names = vec![name.to_string()];
    for (source, user) in found {
        let record = Value::Object(user.data.clone());
        let groups: Vec<String> = user.groups.clone().unwrap_or_default().into_iter().map(|g| g.display).collect();
        let mut targets = Vec::new();
        for (spec, rules) in bindings.for_source(&source.name) {
            let mut explained = explain_target(&spec.target, rules, &record, &groups);
            let owned = db.ownership(&spec.target, &[(source.name.clone(), user.id.clone())], &[]).await?;
            if let Some(link) = owned.users.iter().find(|l| l.source == source.name && l.source_id == user.id) {
                explained.managed_as = Some(link.name.clone());
                let granted = db.ownership(&spec.target, &[], std::slice::from_ref(&link.name)).await?;
                explained.granted = granted
                    .grants
                    .into_iter()
                    .filter(|g| g.source == source.name)
                    .map(|g| format!("{} ({})", g.group, origin(g.origin)))
                    .collect();
                names.push(link.name.clone());
            }
            if let Some(username) = &explained.username {
                names.push(username.clone());
            }
            targets.push(explained);
        }
        records.push(ExplainedRecord {
            source: source.name.clone(),
            id: user.id.clone(),
            user_name: record["userName"].as_str().unwrap_or_default().to_string(),
            record,
            groups,
            targets,
        });
    }
    names.sort_by_key(|n| n.to_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    // What happened to them, not what previews planned: dry runs log `planned` entries too.
    let mut log: Vec<LogEntry> = Vec::new();
    for user in &names {
        let query = EventQuery { user: Some(user.clone()), limit: LOG_ENTRIES * 10, ..EventQuery::default() };
        log.extend(crate::log::entries(db, &query).await?.into_iter().filter(|e| e.result != "planned"));
    }
    log.sort_by_key(|e| std::cmp::Reverse(e.id));
    log.dedup_by_key(|e| e.id);
    log.truncate(LOG_ENTRIES as usize);
    Ok(Explanation { query: name.to_string(), records, log })
}

fn origin(o: model::target::GrantOrigin) -> &'static str {
    match o {
        model::target::GrantOrigin::Rule => "kept while the rules want it",
        model::target::GrantOrigin::DefaultForNew => "given once at creation",
    }
}
