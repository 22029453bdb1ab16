use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A source as the list of sources shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    pub name: String,
    /// The kind of identity provider (scim, entra, okta, ldap, …).
    pub kind: String,
    /// Where the source's SCIM client sends its requests.
    pub base_url: String,
    /// For a pull source: where it reads (the provider's URL, or the directory's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<String>,
    /// RFC 3339.
    pub created: String,
    pub users: u64,
    pub groups: u64,
}

/// A bearer token of a source, by its dates only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceToken {
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// One source in full; its secrets never.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceDetail {
    #[serde(flatten)]
    pub source: Source,
    /// The bearer tokens that open its SCIM endpoint now (two during a rotation's grace).
    pub tokens: Vec<SourceToken>,
    /// How it is read, for a pull source: connector settings (no secrets), schedule, time zone,
    /// how often it is read in full, the request rate, its last and next runs, and the next five
    /// scheduled times (`next_runs`, in the schedule's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pull: Option<Value>,
}

/// A target as the list of targets shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Target {
    pub name: String,
    /// jira, confluence, bitbucket or scim.
    pub kind: String,
    pub url: String,
    pub healthy: bool,
    /// ok, credentials refused, DOWN, or unknown (not checked yet).
    pub health: String,
    pub health_detail: String,
    /// Users idsync created or linked there and manages.
    pub managed_users: u64,
    /// Changes waiting in the outbox.
    pub pending: u64,
}

/// One target in full; the credentials only by their type (and a user name), never their secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetDetail {
    pub name: String,
    pub kind: String,
    pub url: String,
    /// token, basic (user name) or key file.
    pub auth: String,
    pub created: String,
    pub healthy: bool,
    pub health_detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_changed: Option<String>,
    pub managed_users: u64,
    pub pending: u64,
    /// The sources bound to it.
    pub fed_by: Vec<String>,
}

/// Which source feeds which target, with the rules the administrator set (defaults left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Binding {
    pub source: String,
    pub target: String,
    /// The rules set on it, by their keys (`users.username_regex`, `groups.default`, …).
    #[schema(value_type = Object)]
    pub rules: Value,
    /// Goes up with every change of the rules.
    pub revision: i64,
    /// `reconciled`, `reconcile due`, or `broken: <why>` when its rules do not compile.
    pub state: String,
    pub created: String,
    pub updated: String,
}

/// One person across every source and target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    /// What was asked: a userName, an email address or an external id.
    pub query: String,
    /// Every source record that names them.
    pub records: Vec<ExplainedRecord>,
    /// The latest log entries about them under any of their names, newest first: what was done,
    /// held or refused (the `planned` entries of previews are left out).
    pub log: Vec<crate::LogEntry>,
}

/// One source record, and what each binding of its source makes of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainedRecord {
    pub source: String,
    /// The record's id in idsync's copy of the source.
    pub id: String,
    pub user_name: String,
    /// The record as stored, which the rules see.
    #[schema(value_type = Object)]
    pub record: Value,
    /// Its groups in the source (direct memberships).
    pub groups: Vec<String>,
    pub targets: Vec<ExplainedTarget>,
}

/// What one binding's rules make of a record in its target, and what idsync manages there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainedTarget {
    pub target: String,
    /// The username the rules give; absent when they leave the record out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Why the rules leave the record out, when they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_scope: Option<String>,
    /// Active, or what becomes of an inactive user.
    pub state: String,
    /// Each attribute with its value and the rule that produced it.
    pub attributes: Vec<ExplainedValue>,
    /// Each source group (or default) with the target groups it gives and the rule.
    pub memberships: Vec<ExplainedValue>,
    /// The target user idsync manages for this record, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_as: Option<String>,
    /// The memberships idsync granted there, with how long they are kept.
    pub granted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainedValue {
    pub name: String,
    pub value: String,
    pub rule: String,
}

/// What idsync sees in a target and never touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Unmanaged {
    /// Target users idsync manages (for comparison).
    pub managed_users: u64,
    /// Target groups idsync grants memberships in.
    pub managed_groups: Vec<String>,
    /// Target groups idsync grants nothing in: it never changes them.
    pub groups: Vec<String>,
    /// Target users whose name a source claims but that idsync found there and does not manage
    /// (reported as conflicts and left alone; `adopt_existing` decides).
    pub conflicts: Vec<String>,
}
