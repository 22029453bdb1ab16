//! What idsync knows about a target application and the operations it sends to one. The planner
//! produces [`Operation`]s; target adapters apply them. Names are compared case-insensitively, as
//! Jira, Confluence and Bitbucket do.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The form under which user and group names are compared.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// [`fold`] without a copy for names that are folded already (most are).
pub fn fold_cow(name: &str) -> std::borrow::Cow<'_, str> {
    if name.chars().any(|c| c.is_uppercase() || !c.is_ascii()) {
        std::borrow::Cow::Owned(fold(name))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Whether two names are the same once folded, without allocating.
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

/// A user as the target reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetUser {
    pub name: String,
    /// The target's immutable key (Jira `key`, Confluence `userKey`, Bitbucket `id`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub active: bool,
    /// Names of the groups the user is a direct member of.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// Custom attributes (Jira user properties) idsync manages, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadKind {
    Project,
    Component,
}

/// A Jira project or component and the user who leads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub kind: LeadKind,
    /// Project key or component id: what the target's API addresses it by.
    pub id: String,
    pub name: String,
    pub lead: Option<String>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// One change to one object of a target. Each is idempotent where the target allows it, so
/// applying an operation twice after a crash does no harm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Operation {
    CreateUser {
        user: NewUser,
    },
    /// Only the fields that are `Some` change.
    UpdateUser {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    RenameUser {
        name: String,
        new_name: String,
    },
    SetActive {
        name: String,
        active: bool,
    },
    DeleteUser {
        name: String,
    },
    SetProperty {
        name: String,
        key: String,
        value: String,
    },
    CreateGroup {
        group: String,
    },
    AddMember {
        group: String,
        user: String,
    },
    RemoveMember {
        group: String,
        user: String,
    },
    SetLead {
        kind: LeadKind,
        id: String,
        lead: String,
    },
}

impl Operation {
    /// The word the provisioning log uses for this operation.
    pub fn action(&self) -> &'static str {
        match self {
            Operation::CreateUser { .. } => "create_user",
            Operation::UpdateUser { .. } => "update_user",
            Operation::RenameUser { .. } => "rename_user",
            Operation::SetActive { active: true, .. } => "activate_user",
            Operation::SetActive { active: false, .. } => "deactivate_user",
            Operation::DeleteUser { .. } => "delete_user",
            Operation::SetProperty { .. } => "set_property",
            Operation::CreateGroup { .. } => "create_group",
            Operation::AddMember { .. } => "add_member",
            Operation::RemoveMember { .. } => "remove_member",
            Operation::SetLead { .. } => "set_lead",
        }
    }

    /// The user the operation concerns, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Operation::CreateUser { user } => Some(&user.name),
            Operation::UpdateUser { name, .. }
            | Operation::RenameUser { name, .. }
            | Operation::SetActive { name, .. }
            | Operation::DeleteUser { name }
            | Operation::SetProperty { name, .. } => Some(name),
            Operation::AddMember { user, .. } | Operation::RemoveMember { user, .. } => Some(user),
            Operation::SetLead { lead, .. } => Some(lead),
            Operation::CreateGroup { .. } => None,
        }
    }

    /// The group the operation concerns, if any.
    pub fn group(&self) -> Option<&str> {
        match self {
            Operation::CreateGroup { group }
            | Operation::AddMember { group, .. }
            | Operation::RemoveMember { group, .. } => Some(group),
            _ => None,
        }
    }

    /// Deactivations and deletions: what the safeguard counts.
    pub fn is_deprovisioning(&self) -> bool {
        matches!(self, Operation::SetActive { active: false, .. } | Operation::DeleteUser { .. })
    }
}

/// What a target can do; the planner works around what it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Users can be deactivated (Bitbucket cannot: access is revoked by removing memberships).
    pub deactivate: bool,
    pub rename: bool,
    /// Custom user attributes (Jira user properties).
    pub properties: bool,
    /// Project and component leads (Jira).
    pub leads: bool,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities { deactivate: true, rename: true, properties: true, leads: true };
}

/// A target user idsync manages on behalf of one source user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLink {
    pub source: String,
    pub source_id: String,
    /// The username in the target, as idsync last set it.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantOrigin {
    /// A mapped source group or a default group for all users: kept only while the rules want it.
    Rule,
    /// A default group given once when idsync created the user: kept for good.
    DefaultForNew,
}

/// A target membership idsync granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub source: String,
    pub group: String,
    pub user: String,
    pub origin: GrantOrigin,
}

/// Everything idsync owns in one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ownership {
    pub users: Vec<UserLink>,
    pub grants: Vec<Grant>,
}
