//! Every rule of a binding as a form field: how each is shown, and how a submitted form becomes
//! rules again (starting from the rules it was made from, so a rule the form leaves out keeps its
//! value).

use std::collections::HashMap;

use serde_json::{Map, Value};

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Toggle,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// Text; empty means not set.
    Text,
    /// A regex and its replacement.
    Transform,
    /// One entry per line.
    Lines,
    /// `key = value` per line.
    Map,
    /// `key = one, another` per line.
    MapList,
    /// Any of these words, each its own box.
    Flags(&'static [&'static str]),
}

pub struct RuleField {
    /// `users` or `groups`.
    pub table: &'static str,
    pub key: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub kind: Kind,
}

const DEPROVISION: &[&str] = &["disable", "delete", "leave"];

const fn field(
    table: &'static str,
    key: &'static str,
    label: &'static str,
    hint: &'static str,
    kind: Kind,
) -> RuleField {
    RuleField { table, key, label, hint, kind }
}

pub const FIELDS: &[RuleField] = &[
    field("users", "import", "Create users who are not in the target yet", "", Kind::Toggle),
    field("users", "update", "Keep their attributes up to date", "", Kind::Toggle),
    field(
        "users",
        "update_fields",
        "Which attributes",
        "What idsync keeps up to date after it created a user.",
        Kind::Flags(&["email", "display_name", "username", "custom_attributes"]),
    ),
    field(
        "users",
        "adopt_existing",
        "Manage target users who already exist with the same username",
        "Off: such a user is reported as a conflict and left alone.",
        Kind::Toggle,
    ),
    field("users", "sync_active", "Follow the source's active flag", "", Kind::Toggle),
    field(
        "users",
        "on_inactive",
        "A user the source marks inactive is",
        "disable is reversible; leave does nothing.",
        Kind::Choice(DEPROVISION),
    ),
    field(
        "users",
        "on_removed",
        "A user removed from the source, or out of scope, is",
        "Deactivations and deletions go through the safeguard.",
        Kind::Choice(DEPROVISION),
    ),
    field(
        "users",
        "filter",
        "Only users matching",
        "A SCIM filter, such as userType eq \"Employee\"; empty: every user.",
        Kind::Text,
    ),
    field(
        "users",
        "username_attribute",
        "Username from",
        "The source attribute (SCIM path) that becomes the username.",
        Kind::Text,
    ),
    field(
        "users",
        "username_transform",
        "Username transform",
        "A regex for the whole name and its replacement ($1 is the first group), such as (.*)@example\\.com → $1.",
        Kind::Transform,
    ),
    field("users", "email_attribute", "Email from", "", Kind::Text),
    field("users", "display_name_attribute", "Display name from", "", Kind::Text),
    field(
        "users",
        "custom_attributes",
        "Target properties from source attributes",
        "One per line: property = SCIM path, such as department = urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department.",
        Kind::Map,
    ),
    field(
        "users",
        "directory",
        "Target user directory",
        "Jira and Confluence: the directory that receives users; empty: the first writable one.",
        Kind::Text,
    ),
    field(
        "users",
        "default_project_lead",
        "Projects led by a deprovisioned user go to",
        "Jira: a username; empty: they keep their lead.",
        Kind::Text,
    ),
    field(
        "users",
        "default_component_lead",
        "Components led by a deprovisioned user go to",
        "Jira: a username.",
        Kind::Text,
    ),
    field("groups", "import", "Carry group memberships over", "", Kind::Toggle),
    field(
        "groups",
        "mapping",
        "Group mapping",
        "One per line: source group = target group, another target group.",
        Kind::MapList,
    ),
    field("groups", "on_the_fly", "Map every other group to the target group of the same name", "", Kind::Toggle),
    field(
        "groups",
        "name_transform",
        "Group name transform (for groups mapped on the fly)",
        "Groups whose name does not match are not mapped; such as app-(.*) → $1.",
        Kind::Transform,
    ),
    field("groups", "create_missing", "Create target groups that are missing", "", Kind::Toggle),
    field(
        "groups",
        "include",
        "Only these source groups",
        "One per line: a name, or re: and a regex; empty: every group.",
        Kind::Lines,
    ),
    field("groups", "exclude", "Never these source groups", "One per line, as above.", Kind::Lines),
    field("groups", "default_for_new", "Groups every new user joins once", "One target group per line.", Kind::Lines),
    field(
        "groups",
        "default_for_all",
        "Groups every managed user is kept in",
        "One target group per line.",
        Kind::Lines,
    ),
    field("groups", "keep_existing", "Keep memberships idsync did not grant", "", Kind::Toggle),
    field(
        "groups",
        "flatten_nested",
        "Members of nested groups count as members of the groups around them",
        "",
        Kind::Toggle,
    ),
];

/// A field with what it holds now.
pub struct FieldView {
    pub name: String,
    pub label: &'static str,
    pub hint: &'static str,
    /// toggle, choice, text, transform, lines.
    pub input: &'static str,
    pub options: &'static [&'static str],
    pub value: String,
    /// A transform's replacement.
    pub second: String,
    pub on: bool,
    /// For boxes of words: each word and whether it is ticked.
    pub flags: Vec<(&'static str, bool)>,
}

fn lines_of(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::Array(items) => {
                    format!("{k} = {}", items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                }
                other => format!("{k} = {}", other.as_str().unwrap_or_default()),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The fields of one table (`users` or `groups`) as `rules` (in full) fill them.
pub fn views(rules: &Value, table: &str) -> Vec<FieldView> {
    FIELDS
        .iter()
        .filter(|f| f.table == table)
        .map(|f| {
            let value = &rules[f.table][f.key];
            let (input, options) = match f.kind {
                Kind::Toggle => ("toggle", &[][..]),
                Kind::Choice(options) => ("choice", options),
                Kind::Text => ("text", &[][..]),
                Kind::Transform => ("transform", &[][..]),
                Kind::Lines | Kind::Map | Kind::MapList => ("lines", &[][..]),
                Kind::Flags(options) => ("flags", options),
            };
            let (text, second) = match f.kind {
                Kind::Transform => (
                    value["pattern"].as_str().unwrap_or_default().to_string(),
                    value["replacement"].as_str().unwrap_or_default().to_string(),
                ),
                Kind::Lines | Kind::Map | Kind::MapList => (lines_of(value), String::new()),
                Kind::Flags(_) => (String::new(), String::new()),
                _ => (value.as_str().unwrap_or_default().to_string(), String::new()),
            };
            let flags = match f.kind {
                Kind::Flags(options) => options
                    .iter()
                    .map(|o| (*o, value.as_array().is_some_and(|set| set.iter().any(|v| v == *o))))
                    .collect(),
                _ => Vec::new(),
            };
            FieldView {
                name: format!("{}.{}", f.table, f.key),
                label: f.label,
                hint: f.hint,
                input,
                options,
                value: text,
                second,
                on: value == &Value::Bool(true),
                flags,
            }
        })
        .collect()
}

fn entries(text: &str, label: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            line.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .ok_or_else(|| format!("{label}: '{line}' is not written as name = value"))
        })
        .collect()
}

/// The rules a submitted form gives, in full: `base` (the rules the form was made from, in full)
/// with every field of the form put in.
pub fn parse(base: &Value, form: &HashMap<String, String>) -> Result<Value, String> {
    let mut rules = base.clone();
    for f in FIELDS {
        let name = format!("{}.{}", f.table, f.key);
        let given = |suffix: &str| form.get(&format!("{name}{suffix}")).map(|v| v.trim()).unwrap_or_default();
        let value = match f.kind {
            Kind::Toggle => Value::Bool(form.contains_key(&name)),
            Kind::Choice(options) => {
                let chosen = given("");
                if !options.contains(&chosen) {
                    return Err(format!("{}: choose one of {}", f.label, options.join(", ")));
                }
                chosen.into()
            }
            Kind::Text if given("").is_empty() => Value::Null,
            Kind::Text => given("").into(),
            Kind::Transform if given(".pattern").is_empty() => Value::Null,
            Kind::Transform => serde_json::json!({"pattern": given(".pattern"), "replacement": given(".replacement")}),
            Kind::Lines => {
                Value::Array(given("").lines().map(str::trim).filter(|l| !l.is_empty()).map(Value::from).collect())
            }
            Kind::Map => Value::Object(entries(given(""), f.label)?.into_iter().map(|(k, v)| (k, v.into())).collect()),
            Kind::Flags(options) => Value::Array(
                options.iter().filter(|o| form.contains_key(&format!("{name}.{o}"))).map(|o| Value::from(*o)).collect(),
            ),
            Kind::MapList => Value::Object(
                entries(given(""), f.label)?
                    .into_iter()
                    .map(|(k, v)| {
                        let targets: Vec<Value> =
                            v.split(',').map(str::trim).filter(|t| !t.is_empty()).map(Value::from).collect();
                        (k, Value::Array(targets))
                    })
                    .collect::<Map<_, _>>(),
            ),
        };
        if !rules[f.table].is_object() {
            rules[f.table] = Value::Object(Map::new());
        }
        rules[f.table][f.key] = value;
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_gives_back_the_rules_it_shows() {
        let rules = serde_json::json!({
            "users": {"import": true, "on_removed": "delete", "filter": null,
                      "username_transform": {"pattern": "(.*)@x", "replacement": "$1"},
                      "custom_attributes": {"department": "title"}, "update_fields": ["email"]},
            "groups": {"mapping": {"Sales EU": ["jira-sales", "jira-eu"]}, "include": ["a", "re:b.*"]},
        });
        let mut form = HashMap::new();
        for table in ["users", "groups"] {
            for v in views(&rules, table) {
                match v.input {
                    "toggle" if !v.on => {}
                    "flags" => {
                        for (flag, on) in &v.flags {
                            if *on {
                                form.insert(format!("{}.{flag}", v.name), "yes".into());
                            }
                        }
                    }
                    "transform" => {
                        form.insert(format!("{}.pattern", v.name), v.value);
                        form.insert(format!("{}.replacement", v.name), v.second);
                    }
                    _ => {
                        form.insert(v.name, v.value);
                    }
                }
            }
        }
        form.insert("users.on_inactive".into(), "disable".into());
        let parsed = parse(&rules, &form).unwrap();
        assert_eq!(parsed["users"]["on_removed"], "delete");
        assert_eq!(parsed["users"]["username_transform"], rules["users"]["username_transform"]);
        assert_eq!(parsed["users"]["custom_attributes"], rules["users"]["custom_attributes"]);
        assert_eq!(parsed["groups"]["mapping"], rules["groups"]["mapping"]);
        assert_eq!(parsed["groups"]["include"], rules["groups"]["include"]);
        assert_eq!(parsed["users"]["update_fields"], serde_json::json!(["email"]), "each ticked word");
        assert_eq!(parsed["groups"]["import"], false, "an unticked box is off");

        form.insert("groups.mapping".into(), "no equals sign here".into());
        assert!(parse(&rules, &form).unwrap_err().contains("not written as name = value"));
        form.insert("users.on_removed".into(), "explode".into());
        assert!(parse(&rules, &form).unwrap_err().contains("choose one of"));
    }
}
