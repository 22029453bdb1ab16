//! The planner's inputs besides the rules: what a source says, what a target holds, and which
//! target objects idsync owns on whose behalf.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use model::target::{Lead, TargetUser, fold, fold_cow};
use serde_json::Value;

/// A user as its source knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUser {
    pub id: String,
    /// The SCIM representation (core attributes plus extension objects).
    pub record: Value,
    /// Ids of the groups the user is a direct member of.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceGroup {
    pub id: String,
    pub name: String,
    /// Ids of the groups this group is a direct member of.
    pub parents: Vec<String>,
}

/// Which of a source's users a plan decides about.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every user of the source, and every target user linked to it.
    Full,
    /// Only these source user ids; an id missing from the snapshot's users was removed.
    Users(BTreeSet<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceSnapshot {
    pub source: String,
    pub users: Vec<SourceUser>,
    /// Every group the users' memberships lead to (for nesting, their ancestors too), by id.
    pub groups: HashMap<String, SourceGroup>,
    pub scope: Scope,
    /// False when some read of the source failed: then nothing is deprovisioned.
    pub complete: bool,
}

/// What idsync knows of a target: every user a plan may touch, all groups, and (Jira) leads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetState {
    /// By folded name.
    pub users: BTreeMap<String, TargetUser>,
    /// Folded name → name as the target spells it.
    pub groups: BTreeMap<String, String>,
    pub leads: Vec<Lead>,
}

impl TargetState {
    pub fn user(&self, name: &str) -> Option<&TargetUser> {
        self.users.get(fold_cow(name).as_ref())
    }

    pub fn insert_user(&mut self, user: TargetUser) {
        self.users.insert(fold(&user.name), user);
    }

    pub fn insert_group(&mut self, name: &str) {
        self.groups.entry(fold(name)).or_insert_with(|| name.to_string());
    }
}
