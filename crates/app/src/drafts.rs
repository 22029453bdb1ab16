//! Rules being edited before they are saved: in full with their defaults (for a form), back to
//! what is stored (only what differs from the defaults, so a later default applies to what was
//! never chosen), and tried on one stored user of the source.

use api_types::{Trial, TrialGroup};
use engine::{BindingSpec, CompiledRules, MappedBy, Rules};
use model::ResourceKind;
use serde_json::{Map, Value};
use store::{BindingStore, ListQuery, Load, Store};

use crate::Error;

/// A binding's rules with every default filled in.
pub fn full(source: &str, target: &str, stored: &Value) -> Result<Value, Error> {
    let spec =
        BindingSpec::from_rules(source, target, stored).map_err(|e| Error::Invalid(format!("invalid rule: {e}")))?;
    serde_json::to_value(spec.rules()).map_err(|e| Error::Invalid(format!("the rules cannot be written: {e}")))
}

/// Rules in full (as [`full`] gives them, perhaps changed) as they would be stored.
pub fn stored_from(full: &Value) -> Result<Value, Error> {
    let rules: Rules =
        serde_json::from_value(full.clone()).map_err(|e| Error::Invalid(format!("invalid rule: {e}")))?;
    Ok(stored(&rules))
}

/// The rules as they are stored: per table, only the keys whose value differs from the default.
fn stored(rules: &Rules) -> Value {
    let given = serde_json::to_value(rules).unwrap_or_default();
    let defaults = serde_json::to_value(Rules::default()).unwrap_or_default();
    let mut out = Map::new();
    for table in ["users", "groups"] {
        let (Some(given), Some(defaults)) = (given[table].as_object(), defaults[table].as_object()) else {
            continue;
        };
        let changed: Map<String, Value> = given
            .iter()
            .filter(|(key, value)| !value.is_null() && defaults.get(*key) != Some(value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !changed.is_empty() {
            out.insert(table.into(), Value::Object(changed));
        }
    }
    Value::Object(out)
}

/// Replaces a binding's rules, checked with everything else first; the binding as it was and is.
pub async fn save(
    store: &dyn BindingStore,
    source: &str,
    target: &str,
    rules: &Value,
) -> Result<(api_types::Binding, api_types::Binding), Error> {
    let before = crate::bindings::show(store, source, target).await?;
    crate::bindings::checked(source, target, rules)?;
    store.set_binding_rules(source, target, rules).await?;
    Ok((before, crate::bindings::show(store, source, target).await?))
}

/// Applies compiled rules to one source record and its direct groups.
pub fn apply(rules: &CompiledRules, record: &Value, groups: &[String]) -> Trial {
    let groups = groups
        .iter()
        .map(|name| {
            let (targets, how) = match rules.map_group(name) {
                Some((targets, MappedBy::Manual)) => (targets, "mapped by hand"),
                Some((targets, MappedBy::OnTheFly)) => (targets, "on the fly"),
                None if !rules.rules.groups.import => (Vec::new(), "not carried over: groups.import is off"),
                None if !rules.group_selected(name) => (Vec::new(), "left out by groups.include or groups.exclude"),
                None => (
                    Vec::new(),
                    "not mapped: no mapping, and on-the-fly mapping is off or its transform does not match",
                ),
            };
            TrialGroup { source: name.clone(), targets, how: how.to_string() }
        })
        .collect();
    Trial { username: engine::desired_name(rules, record), groups }
}

/// Tries draft rules on the stored user of `source` whose userName is `user_name`.
pub async fn try_on(
    store: &dyn store::Database,
    source: &str,
    target: &str,
    rules: &Value,
    user_name: &str,
) -> Result<Trial, Error> {
    let compiled = crate::bindings::checked(source, target, rules)?
        .compile()
        .map_err(|e| Error::Invalid(format!("invalid rule: {e}")))?;
    let found = store.source(source).await?.ok_or_else(|| Error::Missing {
        message: format!("there is no source named '{source}'"),
        hint: Some(model::Hint::ListSources),
    })?;
    let quoted = user_name.replace('\\', "\\\\").replace('"', "\\\"");
    let filter =
        model::Filter::parse(&format!("userName eq \"{quoted}\""), &model::schema::USER_TYPE, Default::default())
            .map_err(|e| Error::Invalid(format!("'{user_name}' cannot be looked up: {}", e.detail)))?;
    let query = ListQuery {
        filter: Some(&filter),
        sort_by: None,
        descending: false,
        start_index: 1,
        count: 1,
        load: Load { members: false, groups: true, member_limit: None },
    };
    let user =
        Store::list(store, found.id, ResourceKind::User, &query).await?.items.into_iter().next().ok_or_else(|| {
            Error::Missing { message: format!("source {source} holds no user {user_name}"), hint: None }
        })?;
    let groups: Vec<String> = user.groups.unwrap_or_default().into_iter().map(|g| g.display).collect();
    Ok(apply(&compiled, &Value::Object(user.data), &groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_differs_from_the_defaults_is_stored() {
        let stored_rules =
            serde_json::json!({"users": {"on_removed": "delete"}, "groups": {"default_for_all": ["staff"]}});
        let rules = full("hr", "jira", &stored_rules).unwrap();
        assert_eq!(rules["users"]["on_inactive"], "disable", "with the defaults");
        assert_eq!(stored_from(&rules).unwrap(), stored_rules, "a round trip changes nothing");
        assert_eq!(stored(&Rules::default()), serde_json::json!({}));
        assert!(full("hr", "jira", &serde_json::json!({"users": {"no_such_rule": 1}})).is_err());
    }

    #[test]
    fn draft_rules_are_tried_on_a_record() {
        let rules = serde_json::json!({
            "users": {"username_transform": {"pattern": "(.*)@example\\.com", "replacement": "$1"}},
            "groups": {"mapping": {"Sales EU": ["jira-sales"]}, "exclude": ["re:temp-.*"],
                       "name_transform": {"pattern": "app-(.*)", "replacement": "$1"}},
        });
        let compiled = crate::bindings::checked("hr", "jira", &rules).unwrap().compile().unwrap();
        let record = serde_json::json!({"userName": "ann@example.com"});
        let groups = ["Sales EU".to_string(), "app-dev".into(), "temp-1".into(), "other".into()];
        let tried = apply(&compiled, &record, &groups);
        assert_eq!(tried.username.as_deref(), Some("ann"));
        let how: Vec<(&str, Vec<String>, &str)> =
            tried.groups.iter().map(|g| (g.source.as_str(), g.targets.clone(), g.how.as_str())).collect();
        assert_eq!(how[0], ("Sales EU", vec!["jira-sales".to_string()], "mapped by hand"));
        assert_eq!(how[1], ("app-dev", vec!["dev".to_string()], "on the fly"));
        assert!(how[2].2.contains("groups.exclude"), "{how:?}");
        assert!(how[3].1.is_empty() && how[3].2.starts_with("not mapped"), "{how:?}");

        let scoped = serde_json::json!({"users": {"filter": "userType eq \"Employee\""}});
        let compiled = crate::bindings::checked("hr", "jira", &scoped).unwrap().compile().unwrap();
        assert_eq!(apply(&compiled, &record, &[]).username, None, "out of scope");
    }
}
