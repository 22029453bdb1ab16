//! Bodies of the requests that change configuration, and what they answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One finding of a connection check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    pub status: CheckStatus,
    /// What was checked and what was found; for a failure, what to do about it.
    pub what: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    /// Works, with a limitation the administrator should know about.
    Warning,
    Failed,
}

/// What the checks of a new or changed object found, and whether the change was saved: a failed
/// check saves nothing unless the request said not to check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Checked {
    pub saved: bool,
    pub checks: Vec<Check>,
}

/// How idsync signs in to a target or an identity provider. The secrets are read from a request
/// and never written back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// A personal access token (Jira, Confluence), HTTP access token (Bitbucket) or bearer token (SCIM).
    Bearer { token: crate::Secret },
    /// A user and password (basic authentication), or an OAuth client's id and secret.
    Basic {
        #[schema(min_length = 1)]
        username: String,
        password: crate::Secret,
    },
    /// An Okta API token (`Authorization: SSWS <token>`).
    Ssws { token: crate::Secret },
    /// A key that signs token requests: a Google service-account key file's contents, or an
    /// OAuth client's private key (PEM) with the client's id.
    Key {
        key: crate::Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Jira,
    Confluence,
    Bitbucket,
    Scim,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Jira => "jira",
            TargetKind::Confluence => "confluence",
            TargetKind::Bitbucket => "bitbucket",
            TargetKind::Scim => "scim",
        }
    }
}

fn yes() -> bool {
    true
}

/// A target to add.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    /// 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub name: String,
    pub kind: TargetKind,
    /// The base URL (`https://jira.example.com`), or the SCIM base URL of an application.
    #[schema(format = "iri", pattern = "^https?://")]
    pub url: String,
    pub credentials: Credentials,
    /// Check that idsync can reach and use the target before saving it (the default).
    #[serde(default = "yes")]
    pub check: bool,
}

/// A change of a target's address and/or credentials.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "iri", pattern = "^https?://")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// Check the changed target before saving (the default).
    #[serde(default = "yes")]
    pub check: bool,
}

/// A push source to add: an identity provider that sends SCIM requests to idsync.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPushSource {
    /// 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub name: String,
}

/// A new bearer token of a source, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedSourceToken {
    pub name: String,
    /// Where the identity provider sends its SCIM requests.
    pub base_url: String,
    pub token: String,
}

/// A token rotation: the previous token keeps working for the grace period.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRotation {
    /// `0`, `90s`, `15m`, `2h`, `1d`; `0` (the default) ends the previous token at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(0|[1-9][0-9]{0,4}[smhd]?)$")]
    pub grace: Option<String>,
}

/// What removing an object took with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Removed {
    /// The bindings that went with it, as `source → target`.
    pub bindings: Vec<String>,
    /// Per target, how many users idsync stopped managing (they stay as they are).
    #[serde(default)]
    pub released: Vec<Released>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Released {
    pub target: String,
    pub users: u64,
}

/// A binding to add, with the default rules.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub source: String,
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub target: String,
}

/// The value of one rule, as the CLI takes it: `true`, `3`, `"text"`, `["a", "b"]`, or a bare word.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleValue {
    pub value: String,
}

/// What a check of a stored object found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tested {
    /// No check failed.
    pub passed: bool,
    pub checks: Vec<Check>,
}

impl From<Vec<Check>> for Tested {
    fn from(checks: Vec<Check>) -> Self {
        Tested { passed: checks.iter().all(|c| c.status != CheckStatus::Failed), checks }
    }
}

/// What becomes of what a removed source holds and manages.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourceRemoval {
    /// Stop managing the accounts it manages in targets, leaving them there as they are. Without
    /// it, a source that manages accounts is not removed.
    #[serde(default)]
    pub release: bool,
    /// Delete the users and groups it holds with it. Without it, a source that holds any is not removed.
    #[serde(default)]
    pub purge: bool,
}

/// A pull source to add: an identity provider idsync reads.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPullSource {
    /// 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub name: String,
    /// The connector and how it runs: `{"connector": {"kind": "okta", "url": …}, "schedule": "daily 02:30",
    /// "timezone": …, "full_every": …, "max_rate": …}`, as `GET /sources/{name}` shows under `pull`.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub credentials: Credentials,
    /// Check that idsync can sign in and read before saving (the default).
    #[serde(default = "yes")]
    pub check: bool,
}

/// New settings (and, optionally, credentials) of a pull source; the next run reads everything.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullChange {
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    #[serde(default = "yes")]
    pub check: bool,
}

/// When a pull source runs by itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleChange {
    /// `every 15m`, `hourly`, `daily 02:30`, `weekly mon 03:00`, `cron 0 */2 * * *`; absent or null: no schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The schedule's time zone, such as Europe/Berlin (UTC when absent).
    #[serde(default)]
    pub timezone: Option<String>,
    /// How long scheduled runs may read only changes before one reads everything (`1d` when absent).
    #[serde(default)]
    pub full_every: Option<String>,
}

/// A user as the identity provider returns it, and what idsync makes of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lookup {
    /// Every attribute the provider returned.
    #[schema(value_type = Object)]
    pub raw: serde_json::Value,
    /// The record idsync stores, which the rules see (or why it is left out or refused).
    #[schema(value_type = Object)]
    pub mapped: serde_json::Value,
    pub groups: Vec<String>,
}

/// A new login-sync token of a pull source, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginToken {
    /// Where the sign-in plugin posts `{"username": …}`.
    pub url: String,
    pub token: String,
}

/// Draft rules for a binding, to see what they would do before saving them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftRules {
    /// The rules as a binding's `rules` holds them.
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
}

/// Rules to try on one stored user of the source: the binding's saved rules, or a draft.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesTrial {
    /// The source user's `userName`.
    #[schema(min_length = 1)]
    pub user: String,
    /// Draft rules as a binding's `rules` holds them; the saved ones when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rules: Option<serde_json::Value>,
}

/// What rules make of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Trial {
    /// The username in the target; absent when the rules leave the user out (its filter, or an
    /// empty name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Each of the user's own source groups with the target groups it maps to, and how.
    pub groups: Vec<TrialGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrialGroup {
    pub source: String,
    pub targets: Vec<String>,
    /// `mapped by hand`, `on the fly`, or why the group is not mapped.
    pub how: String,
}

/// What a full reconcile would do, operation by operation, with the reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Plan {
    /// The dry run that recorded it.
    pub run: i64,
    pub target: String,
    /// Each operation: its action, the user or group, and why.
    #[schema(value_type = Vec<Object>)]
    pub ops: Vec<serde_json::Value>,
    /// Why a real run would hold the deprovisioning for approval, when it would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_reason: Option<String>,
}

/// A source emptied so that every bound target deprovisions what it managed, as each binding's
/// `on_removed` rule says and through the safeguard; the source stays until removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Deprovisioning {
    /// Users and groups the source held.
    pub emptied: u64,
    /// The accounts the targets now deprovision, per target.
    pub managed: Vec<Released>,
}

/// What a read of a pull source would change, read in full now and saved nowhere: idsync's copy
/// of the source, and every bound target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PullPreview {
    /// What the read would change in idsync's copy (a pull run's summary).
    #[schema(value_type = Object)]
    pub source: serde_json::Value,
    /// Each bound target's plan.
    pub targets: Vec<Plan>,
}

/// `[[binding]]` tables of an old configuration file, to copy into the database once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingImport {
    /// The file's TOML text.
    pub toml: String,
}

/// What an import did, one line per binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Imported {
    pub bindings: Vec<String>,
}

/// Who is signing in, as an SSO plugin asks for them to be brought up to date.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginSyncRequest {
    /// The user's name at the identity provider.
    #[schema(min_length = 1)]
    pub username: String,
}

/// What a sync at login did: the user, and the result in each bound target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginSynced {
    pub username: String,
    pub targets: Vec<LoginSyncResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginSyncResult {
    pub target: String,
    /// `applied`, or what kept the target from getting the user.
    pub result: String,
}
