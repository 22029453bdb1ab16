//! Pull connectors: each reads an identity provider's users and groups through its API and hands
//! them over as SCIM-shaped records, the same form the SCIM server stores, so the sync engine treats
//! pushed and pulled identities alike. Shared here: the snapshot types and the retrying page
//! fetch; each connector holds only what is particular to its provider.
#![forbid(unsafe_code)]

mod aws;
mod entra;
mod fetch;
mod google;
mod jwt;
mod keycloak;
mod ldap;
mod oauth;
mod okta;
mod onelogin;
mod paging;
mod scim;
mod sigv4;

use std::time::Duration;

use async_trait::async_trait;
use rest::{Check, Credentials, Http, RestError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use fetch::Retry;
pub use ldap::{Directory, LdapSettings, Membership};

/// A user as read from the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledUser {
    /// The provider's immutable id: the key that ties the record to the one idsync stores.
    pub external_id: String,
    /// SCIM 2.0 representation (core and enterprise extension).
    pub record: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PulledGroup {
    pub external_id: String,
    pub name: String,
    /// External ids of the member users and groups.
    pub members: Vec<String>,
    /// Further attributes of the group as the provider has them, under the URN of an extension
    /// schema (LDAP's `mail` and `description` under [`GROUP_EXTENSION`]).
    pub attributes: Map<String, Value>,
}

/// Where group attributes that SCIM's Group schema has no place for are kept.
pub const GROUP_EXTENSION: &str = "urn:idsync:params:scim:schemas:extension:source:2.0:Group";

impl PulledGroup {
    pub fn new(external_id: impl Into<String>, name: impl Into<String>, members: Vec<String>) -> Self {
        PulledGroup { external_id: external_id.into(), name: name.into(), members, attributes: Map::new() }
    }
}

/// Everything one run read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub users: Vec<PulledUser>,
    pub groups: Vec<PulledGroup>,
    /// False when some read failed for good: then nothing may be removed on its account.
    pub complete: bool,
    /// What went wrong, in words an administrator can act on.
    pub problems: Vec<String>,
    /// Requests sent to the provider.
    pub requests: u64,
    /// Where an incremental read can continue from this read; None when the provider offers no
    /// incremental read (or this read could not establish one).
    pub cursor: Option<String>,
}

impl Snapshot {
    /// Records a read that failed: the snapshot is incomplete from now on.
    pub fn failed(&mut self, problem: String) {
        self.complete = false;
        self.problems.push(problem);
    }
}

/// Where a streaming read hands its users, one at a time.
pub type UserSink = tokio::sync::mpsc::Sender<PulledUser>;

/// Where a connector puts the users it reads: into the snapshot, or straight to a sink (so a run
/// never holds a whole directory).
pub(crate) enum Users<'a> {
    Collect(&'a mut Vec<PulledUser>),
    Send(&'a UserSink),
}

impl Users<'_> {
    /// False when the receiver is gone (the run was abandoned): stop reading.
    pub(crate) async fn deliver(&mut self, user: PulledUser) -> bool {
        match self {
            Users::Collect(list) => {
                list.push(user);
                true
            }
            Users::Send(sink) => sink.send(user).await.is_ok(),
        }
    }
}

/// What changed at the provider since a cursor: what an incremental read returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Users created or changed (their whole record).
    pub users: Vec<PulledUser>,
    /// External ids of users the provider deleted.
    pub removed_users: Vec<String>,
    pub groups: Vec<ChangedGroup>,
    pub removed_groups: Vec<String>,
    /// Users whose whole set of direct groups is known (by external ids): where a provider lists
    /// a user's groups on the user (OneLogin's roles), a changed user brings its memberships.
    pub memberships: Vec<(String, Vec<String>)>,
    /// When the source is scoped (to a group, an app), or the provider reports no deletions and
    /// a cheap listing of ids stands in for them: every user in scope now. Stored users outside
    /// it have left the scope, or the provider.
    pub scope: Option<Vec<String>>,
    /// The same for groups: every group there is now, when listed.
    pub group_scope: Option<Vec<String>>,
    /// Where the next incremental read continues.
    pub cursor: Option<String>,
    /// The provider no longer knows the cursor (an expired delta link): read everything.
    pub restart: bool,
    /// False when some read failed: what was read may be applied, but the cursor must not move.
    pub complete: bool,
    pub problems: Vec<String>,
    pub requests: u64,
}

impl Changes {
    /// The provider cannot continue from the cursor (it forgot it, or it is unreadable): the run
    /// reads everything instead.
    pub fn restart(problem: impl Into<String>) -> Changes {
        Changes { restart: true, problems: vec![problem.into()], ..Changes::default() }
    }

    pub fn failed(&mut self, problem: String) {
        self.complete = false;
        self.problems.push(problem);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangedGroup {
    pub external_id: String,
    /// The new name, when it changed (or is known).
    pub name: Option<String>,
    pub members: MemberChanges,
    /// The group's further attributes (see [`PulledGroup::attributes`]), when the provider
    /// reported them; None keeps the stored ones.
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MemberChanges {
    /// Membership did not change.
    Same,
    /// The whole current membership (external ids of users and groups).
    All(Vec<String>),
    /// Members that joined and left.
    Delta { added: Vec<String>, removed: Vec<String> },
}

/// The SCIM form of a person as most providers describe one.
pub(crate) fn scim_user(
    user_name: &Value,
    given: &str,
    family: &str,
    email: Option<&str>,
    active: bool,
) -> Map<String, Value> {
    let mut record = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "active": active,
        "name": {"givenName": given, "familyName": family},
        "displayName": format!("{given} {family}").trim(),
    });
    if let Some(email) = email.filter(|e| !e.is_empty()) {
        record["emails"] = serde_json::json!([{"value": email, "primary": true}]);
    }
    record.as_object().cloned().unwrap_or_default()
}

/// The groups one user is in, as a login sync reads them: each with that user as its member.
pub(crate) fn groups_of_user(
    user: &PulledUser,
    groups: &Value,
    name: impl Fn(&Value) -> Option<&str>,
) -> Vec<PulledGroup> {
    groups
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| Some(PulledGroup::new(g["id"].as_str()?, name(g)?, vec![user.external_id.clone()])))
        .collect()
}

/// What a pull source is and where it lives; stored as JSON with the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// Any SCIM 2.0 service provider, read with a bearer token.
    Scim { url: String },
    /// Microsoft Entra ID through Microsoft Graph, with an app registration's client secret.
    Entra {
        tenant: String,
        /// `https://graph.microsoft.com` (another host only for tests and national clouds).
        graph_url: String,
        /// `https://login.microsoftonline.com`.
        #[serde(default = "entra_login_url")]
        login_url: String,
        /// The Graph attribute that becomes the username: userPrincipalName, mail,
        /// onPremisesSamAccountName.
        #[serde(default = "entra_username_attribute")]
        username_attribute: String,
        /// Only the users in these groups (object ids), nested groups included.
        #[serde(default, deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
        only_group: Vec<String>,
    },
    /// Keycloak's Admin REST API, signed in with a client id and secret (client credentials).
    Keycloak { url: String, realm: String },
    /// Okta's Management API with an API token (`SSWS`).
    Okta {
        url: String,
        /// Only the users and groups assigned to this app (its id, `0oa…`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
    },
    /// An Oracle IDCS / OCI IAM identity domain (SCIM) with a confidential application's client
    /// credentials.
    Oracle {
        url: String,
        /// Only the users and groups granted this app (its id).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
        /// A user attribute whose values name more groups (`urn:…:custom:User:jiraGroups`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_attribute: Option<String>,
    },
    /// OneLogin API v2 with an API credential (client id and secret).
    #[serde(rename = "onelogin")]
    OneLogin { url: String },
    /// Google Workspace's Directory API, read by a service account with domain-wide delegation.
    Google {
        /// `https://admin.googleapis.com`.
        url: String,
        /// The administrator the service account acts for.
        admin: String,
        /// The account's customer id; `my_customer` is the administrator's own.
        #[serde(default = "google_customer")]
        customer: String,
        /// Read one domain of the account instead of all of them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        domain: Option<String>,
        /// Only users of this organisational unit (`/Engineering`) and the units below it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        org_unit: Option<String>,
        /// Only members of this group (its address), nested groups included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        only_group: Option<String>,
    },
    /// AWS IAM Identity Center's identity store, read with an access key.
    Aws {
        /// `https://identitystore.{region}.amazonaws.com`.
        url: String,
        /// The identity store id, `d-…`.
        identity_store: String,
        /// Needed only when the URL does not name the region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// An LDAP directory (Active Directory, OpenLDAP, 389-DS, …) read with a bind DN and password.
    Ldap(LdapSettings),
}

fn entra_login_url() -> String {
    "https://login.microsoftonline.com".into()
}

/// A setting given once or several times.
pub(crate) fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn google_customer() -> String {
    "my_customer".into()
}

fn entra_username_attribute() -> String {
    "userPrincipalName".into()
}

impl SourceConfig {
    /// Where the provider is read.
    pub fn location(&self) -> &str {
        match self {
            SourceConfig::Scim { url }
            | SourceConfig::Keycloak { url, .. }
            | SourceConfig::Okta { url, .. }
            | SourceConfig::Oracle { url, .. }
            | SourceConfig::OneLogin { url }
            | SourceConfig::Google { url, .. }
            | SourceConfig::Aws { url, .. } => url,
            SourceConfig::Entra { graph_url, .. } => graph_url,
            SourceConfig::Ldap(settings) => &settings.url,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Scim { .. } => "scim",
            SourceConfig::Entra { .. } => "entra",
            SourceConfig::Keycloak { .. } => "keycloak",
            SourceConfig::Okta { .. } => "okta",
            SourceConfig::OneLogin { .. } => "onelogin",
            SourceConfig::Oracle { .. } => "oracle",
            SourceConfig::Google { .. } => "google",
            SourceConfig::Aws { .. } => "aws",
            SourceConfig::Ldap(_) => "ldap",
        }
    }
}

#[async_trait]
pub trait Connector: Send + Sync {
    /// Reachability, credentials and read permissions, each failure in words an administrator can
    /// act on. Stops at the first failure.
    async fn check(&self) -> Vec<Check>;

    /// Every attribute the provider returns for one user, as it returns it; None if unknown.
    async fn lookup(&self, username: &str) -> Result<Option<Value>, RestError>;

    /// All users and groups, and (for providers that offer one) the cursor an incremental read
    /// continues from.
    async fn read(&self) -> Snapshot;

    /// [`Self::read`], with the users sent to `users` as they arrive; the snapshot returned holds
    /// the groups and the outcome but no users. Connectors of large directories stream for real.
    async fn read_streaming(&self, users: UserSink) -> Snapshot {
        let mut snapshot = self.read().await;
        for user in std::mem::take(&mut snapshot.users) {
            if users.send(user).await.is_err() {
                break;
            }
        }
        snapshot
    }

    /// What changed since `cursor` (from a snapshot or earlier changes). Only asked of providers
    /// whose reads return a cursor.
    async fn read_changes(&self, cursor: &str) -> Changes {
        let _ = cursor;
        Changes::restart("this provider has no incremental read")
    }

    /// One user and the groups it is in (each with that user as its only member listed): what a
    /// sync at login needs. None when the provider has no such user.
    async fn read_user(&self, username: &str) -> Result<Option<(PulledUser, Vec<PulledGroup>)>, RestError>;
}

pub fn connect(
    config: &SourceConfig,
    credentials: Credentials,
    timeout: Duration,
) -> Result<Box<dyn Connector>, RestError> {
    connect_with(config, credentials, timeout, Retry::default())
}

/// [`connect`] with a chosen retry policy.
pub fn connect_with(
    config: &SourceConfig,
    credentials: Credentials,
    timeout: Duration,
    retry: Retry,
) -> Result<Box<dyn Connector>, RestError> {
    match config {
        SourceConfig::Scim { url } => {
            Ok(Box::new(scim::Scim::new(Http::new(url, credentials, timeout)?.paced(retry.rate), None, retry, None)))
        }
        SourceConfig::Entra { tenant, graph_url, login_url, username_attribute, only_group } => {
            let settings = entra::EntraSettings {
                graph: graph_url,
                login: login_url,
                tenant,
                username_attribute,
                only_groups: only_group,
            };
            Ok(Box::new(entra::Entra::new(settings, credentials, timeout, retry)?))
        }
        SourceConfig::Oracle { url, app, group_attribute } => {
            Ok(Box::new(scim::Scim::oracle(url, credentials, timeout, retry, app.clone(), group_attribute.clone())?))
        }
        SourceConfig::Keycloak { url, realm } => {
            Ok(Box::new(keycloak::Keycloak::new(url, realm, credentials, timeout, retry)?))
        }
        SourceConfig::Okta { url, app } => {
            Ok(Box::new(okta::Okta::connect(url, credentials, timeout, retry, app.clone())?))
        }
        SourceConfig::OneLogin { url } => Ok(Box::new(onelogin::OneLogin::new(url, credentials, timeout, retry)?)),
        SourceConfig::Google { url, admin, customer, domain, org_unit, only_group } => {
            let settings = google::GoogleSettings {
                url,
                admin,
                customer,
                domain: domain.as_deref(),
                org_unit: org_unit.as_deref(),
                only_group: only_group.as_deref(),
            };
            Ok(Box::new(google::Google::new(settings, credentials, timeout, retry)?))
        }
        SourceConfig::Aws { url, identity_store, region } => {
            Ok(Box::new(aws::Aws::new(url, region.as_deref(), identity_store, credentials, timeout, retry)?))
        }
        SourceConfig::Ldap(settings) => Ok(Box::new(ldap::LdapSource::new(settings.clone(), credentials, timeout)?)),
    }
}
