//! The administrator's rules for one binding (a source feeding a target), as a plain serde type so
//! the config file, the CLI, the admin API and the console all edit the same thing, and their
//! compiled form that the planner uses. Compiling checks everything that can be wrong in a rule
//! (regexes, attribute paths, filters) so a bad rule is refused when it is saved, not at sync time.

use std::collections::BTreeMap;

use model::filter::Filter;
use model::patch::{PatchPath, parse_path};
use model::schema::USER_TYPE;
use model::{FilterLimits, ScimError};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// What deprovisioning a user means in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deprovision {
    /// Deactivate the user (reversible; the default).
    #[default]
    Disable,
    Delete,
    /// Do nothing.
    Leave,
}

/// A regex and its replacement (`$1`, `$2`, `${name}` refer to capture groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    pub pattern: String,
    pub replacement: String,
}

/// Which user attributes idsync keeps up to date after creating a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserField {
    Email,
    DisplayName,
    Username,
    CustomAttributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserRules {
    /// The target's user directory that receives users (Jira/Confluence directory name or id);
    /// informational for targets that have one writable directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// Create users that do not exist in the target.
    pub import: bool,
    /// Keep the attributes in `update_fields` up to date.
    pub update: bool,
    pub update_fields: Vec<UserField>,
    /// Manage existing target users that match a source user by username. When off, such a user is
    /// reported as a conflict and left alone.
    pub adopt_existing: bool,
    /// Follow the source's `active` flag.
    pub sync_active: bool,
    /// What a user the source marks inactive becomes.
    pub on_inactive: Deprovision,
    /// What a user removed from the source, or out of this binding's scope, becomes.
    pub on_removed: Deprovision,
    /// Only users matching this SCIM filter are in scope (e.g. `userType eq "Employee"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Source attribute (SCIM path) for the target username.
    pub username_attribute: String,
    pub email_attribute: String,
    pub display_name_attribute: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_transform: Option<Transform>,
    /// Target user property → source attribute (SCIM path), e.g. `department =
    /// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"`.
    pub custom_attributes: BTreeMap<String, String>,
    /// Jira: who takes over projects led by a user idsync deactivates or deletes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_project_lead: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_component_lead: Option<String>,
}

impl Default for UserRules {
    fn default() -> Self {
        UserRules {
            directory: None,
            import: true,
            update: true,
            update_fields: vec![
                UserField::Email,
                UserField::DisplayName,
                UserField::Username,
                UserField::CustomAttributes,
            ],
            adopt_existing: true,
            sync_active: true,
            on_inactive: Deprovision::Disable,
            on_removed: Deprovision::Disable,
            filter: None,
            username_attribute: "userName".into(),
            email_attribute: "emails.value".into(),
            display_name_attribute: "displayName".into(),
            username_transform: None,
            custom_attributes: BTreeMap::new(),
            default_project_lead: None,
            default_component_lead: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupRules {
    /// Carry the source's group memberships over (through `mapping` and on-the-fly mapping).
    pub import: bool,
    /// Source group name → target group names.
    pub mapping: BTreeMap<String, Vec<String>>,
    /// Map every unmapped source group to the target group of the same name.
    pub on_the_fly: bool,
    /// Applied to names mapped on the fly; groups whose name does not match are not mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_transform: Option<Transform>,
    /// Create target groups that are missing.
    pub create_missing: bool,
    /// Source groups taken into account: each entry is an exact name (case-insensitive) or
    /// `re:` followed by a regex. Empty means all.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Target groups every new user joins once, when idsync creates it.
    pub default_for_new: Vec<String>,
    /// Target groups every managed user is kept in.
    pub default_for_all: Vec<String>,
    /// Never remove a membership idsync did not grant.
    pub keep_existing: bool,
    /// Members of nested source groups count as members of every enclosing group.
    pub flatten_nested: bool,
}

impl Default for GroupRules {
    fn default() -> Self {
        GroupRules {
            import: true,
            mapping: BTreeMap::new(),
            on_the_fly: true,
            name_transform: None,
            create_missing: true,
            include: Vec::new(),
            exclude: Vec::new(),
            default_for_new: Vec::new(),
            default_for_all: Vec::new(),
            keep_existing: true,
            flatten_nested: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    pub users: UserRules,
    pub groups: GroupRules,
}

/// When a plan's deactivations and deletions are held for approval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Safeguard {
    /// Hold when more users than this would be deactivated or deleted.
    pub max_count: u64,
    /// Hold when more than this share (0–1) of the target's managed users would be ...
    pub max_share: f64,
    /// ... and at least this many: a share of a handful of users says little.
    pub min_count: u64,
}

impl Default for Safeguard {
    fn default() -> Self {
        Safeguard { max_count: 25, max_share: 0.1, min_count: 5 }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field}: {message}")]
pub struct RuleError {
    /// Where in the rules the problem is, e.g. `users.username_transform.pattern`.
    pub field: String,
    pub message: String,
}

fn rule_error(field: &str, message: impl Into<String>) -> RuleError {
    RuleError { field: field.to_string(), message: message.into() }
}

#[derive(Debug, Clone)]
pub struct CompiledTransform {
    regex: Regex,
    replacement: String,
}

impl CompiledTransform {
    fn compile(t: &Transform, field: &str) -> Result<Self, RuleError> {
        // Anchored so that `(.*)@.*` means the whole name, as administrators read it.
        let regex = Regex::new(&format!("^(?:{})$", t.pattern))
            .map_err(|e| rule_error(&format!("{field}.pattern"), regex_message(&t.pattern, &e)))?;
        Ok(CompiledTransform { regex, replacement: t.replacement.clone() })
    }

    /// The transformed name, or None when the name does not match.
    pub fn apply(&self, name: &str) -> Option<String> {
        let caps = self.regex.captures(name)?;
        let mut out = String::new();
        caps.expand(&self.replacement, &mut out);
        Some(out)
    }
}

/// The regex crate reports errors against the text it was given; ours is wrapped in an anchor
/// group, so report the administrator's own pattern and the column within it.
fn regex_message(pattern: &str, err: &regex::Error) -> String {
    let inner = match Regex::new(pattern) {
        Err(e) => e.to_string(),
        Ok(_) => err.to_string(),
    };
    format!("invalid regex '{pattern}':\n{inner}")
}

#[derive(Debug, Clone)]
pub enum NamePattern {
    Exact(String),
    Regex(Regex),
}

impl NamePattern {
    fn compile(entry: &str, field: &str) -> Result<Self, RuleError> {
        match entry.strip_prefix("re:") {
            Some(re) => Regex::new(&format!("^(?:{re})$"))
                .map(NamePattern::Regex)
                .map_err(|e| rule_error(field, regex_message(re, &e))),
            None => Ok(NamePattern::Exact(model::target::fold(entry))),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Exact(n) => *n == model::target::fold(name),
            NamePattern::Regex(r) => r.is_match(name),
        }
    }
}

/// Rules checked and ready for the planner.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    pub rules: Rules,
    pub user_filter: Option<Filter>,
    pub username: PatchPath,
    pub email: PatchPath,
    pub display_name: PatchPath,
    pub custom: Vec<(String, PatchPath)>,
    pub username_transform: Option<CompiledTransform>,
    pub group_transform: Option<CompiledTransform>,
    pub include: Vec<NamePattern>,
    pub exclude: Vec<NamePattern>,
    /// `mapping` with folded keys.
    pub mapping: BTreeMap<String, Vec<String>>,
}

fn attribute(path: &str, field: &str) -> Result<PatchPath, RuleError> {
    parse_path(path, &USER_TYPE, FilterLimits::default())
        .map_err(|e: ScimError| rule_error(field, format!("'{path}' is not a SCIM attribute path: {}", e.detail)))
}

impl CompiledRules {
    pub fn compile(rules: &Rules) -> Result<Self, RuleError> {
        let u = &rules.users;
        let g = &rules.groups;
        let user_filter = u
            .filter
            .as_deref()
            .map(|f| {
                Filter::parse(f, &USER_TYPE, FilterLimits::default())
                    .map_err(|e| rule_error("users.filter", format!("'{f}' is not a SCIM filter: {}", e.detail)))
            })
            .transpose()?;
        let mut custom = Vec::new();
        for (key, path) in &u.custom_attributes {
            if key.trim().is_empty() {
                return Err(rule_error("users.custom_attributes", "a property key is empty"));
            }
            custom.push((key.clone(), attribute(path, &format!("users.custom_attributes.{key}"))?));
        }
        let patterns = |list: &[String], field: &str| -> Result<Vec<NamePattern>, RuleError> {
            list.iter().enumerate().map(|(i, e)| NamePattern::compile(e, &format!("{field}[{i}]"))).collect()
        };
        for (source_group, targets) in &g.mapping {
            if targets.iter().any(|t| t.trim().is_empty()) {
                return Err(rule_error(&format!("groups.mapping.{source_group}"), "a target group name is empty"));
            }
        }
        for (field, list) in
            [("groups.default_for_new", &g.default_for_new), ("groups.default_for_all", &g.default_for_all)]
        {
            if list.iter().any(|t| t.trim().is_empty()) {
                return Err(rule_error(field, "a group name is empty"));
            }
        }
        Ok(CompiledRules {
            user_filter,
            username: attribute(&u.username_attribute, "users.username_attribute")?,
            email: attribute(&u.email_attribute, "users.email_attribute")?,
            display_name: attribute(&u.display_name_attribute, "users.display_name_attribute")?,
            custom,
            username_transform: u
                .username_transform
                .as_ref()
                .map(|t| CompiledTransform::compile(t, "users.username_transform"))
                .transpose()?,
            group_transform: g
                .name_transform
                .as_ref()
                .map(|t| CompiledTransform::compile(t, "groups.name_transform"))
                .transpose()?,
            include: patterns(&g.include, "groups.include")?,
            exclude: patterns(&g.exclude, "groups.exclude")?,
            mapping: g.mapping.iter().map(|(k, v)| (model::target::fold(k), v.clone())).collect(),
            rules: rules.clone(),
        })
    }

    /// Whether a source group is taken into account at all.
    pub fn group_selected(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(name)))
            && !self.exclude.iter().any(|p| p.matches(name))
    }

    /// The target groups a source group maps to, and how: manual mapping wins over on-the-fly.
    pub fn map_group(&self, name: &str) -> Option<(Vec<String>, MappedBy)> {
        if !self.rules.groups.import || !self.group_selected(name) {
            return None;
        }
        if let Some(targets) = self.mapping.get(&model::target::fold(name)) {
            return Some((targets.clone(), MappedBy::Manual));
        }
        if !self.rules.groups.on_the_fly {
            return None;
        }
        match &self.group_transform {
            Some(t) => t.apply(name).filter(|n| !n.is_empty()).map(|n| (vec![n], MappedBy::OnTheFly)),
            None => Some((vec![name.to_string()], MappedBy::OnTheFly)),
        }
    }

    pub fn transform_username(&self, name: &str) -> String {
        self.username_transform.as_ref().and_then(|t| t.apply(name)).unwrap_or_else(|| name.to_string())
    }

    pub fn updates(&self, field: UserField) -> bool {
        self.rules.users.update && self.rules.users.update_fields.contains(&field)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedBy {
    Manual,
    OnTheFly,
}

/// One binding: which source feeds which target, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingSpec {
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub users: UserRules,
    #[serde(default)]
    pub groups: GroupRules,
}

impl BindingSpec {
    /// The binding made of stored rules: a JSON object with `users` and `groups` tables holding
    /// only what differs from the defaults.
    pub fn from_rules(source: &str, target: &str, rules: &serde_json::Value) -> Result<Self, RuleError> {
        let field = || format!("binding {source} → {target}");
        let mut object = match rules {
            serde_json::Value::Object(o) => o.clone(),
            _ => return Err(RuleError { field: field(), message: "rules must be a table".into() }),
        };
        object.insert("source".into(), source.into());
        object.insert("target".into(), target.into());
        serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| RuleError { field: field(), message: e.to_string() })
    }

    pub fn rules(&self) -> Rules {
        Rules { users: self.users.clone(), groups: self.groups.clone() }
    }

    /// Compiles the rules, naming the binding in any error.
    pub fn compile(&self) -> Result<CompiledRules, RuleError> {
        CompiledRules::compile(&self.rules()).map_err(|e| RuleError {
            field: format!("binding {} → {}: {}", self.source, self.target, e.field),
            message: e.message,
        })
    }
}
