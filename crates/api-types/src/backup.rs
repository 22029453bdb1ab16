use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Secret;

/// A backup whose secrets are sealed under a passphrase.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SealedBackup {
    /// At least 12 characters. Without it nothing opens the secrets again.
    pub passphrase: Secret,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RestoreMode {
    /// Create and change what the backup holds; leave what only this installation has.
    #[default]
    Merge,
    /// Also remove what only this installation has (bindings, targets, and sources that hold
    /// no users or groups).
    Replace,
}

/// A restore of a configuration backup.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Restore {
    /// The backup document, as `GET /api/v1/backup` wrote it.
    #[schema(value_type = Object)]
    pub document: Value,
    #[serde(default)]
    pub mode: RestoreMode,
    /// Only show what would change.
    #[serde(default)]
    pub dry_run: bool,
    /// The passphrase its secrets were sealed with, if they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<Secret>,
    /// Give every restored push source a new bearer token (shown in the answer) instead of the
    /// ones in the backup.
    #[serde(default)]
    pub rotate_scim_tokens: bool,
    /// Restore only these objects (`source/<name>`, `target/<name>`, `binding/<source>/<target>`,
    /// as the answer names them), leaving every other as it is; all when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// In the backup, not here: created.
    Created,
    /// In both, different: changed to the backup's.
    Changed,
    Unchanged,
    /// Only here: left as it is (merge).
    OnlyHere,
    /// Only here: removed (replace).
    Removed,
    /// Left as it is here: the restore was told to leave it out.
    NotChosen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretChange {
    Changed,
    Unchanged,
    /// Not in the backup: what is stored here stays (or, for a new object, it has none yet).
    Omitted,
}

/// What a restore does, or would do, to one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ObjectChange {
    /// `source/<name>`, `target/<name>`, `binding/<source>/<target>`, `admin_token/<name>`.
    pub object: String,
    pub change: Change,
    /// The fields that differ, for a changed object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretChange>,
}

/// What a restore did, or would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RestoreReport {
    /// False for a dry run.
    pub applied: bool,
    pub changes: Vec<ObjectChange>,
    /// New bearer tokens of push sources, by source, when asked to rotate them: shown this once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scim_tokens: BTreeMap<String, String>,
    /// What to do next: sources come back paused, credentials that were left out, admin tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
