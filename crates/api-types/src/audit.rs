use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One change of configuration, or one approval: when, by whom, what it was before and after.
/// Secrets appear only as `"changed"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// `token <name>` for an admin token, `administrator <name>` for someone signed in to the console.
    pub actor: String,
    /// What was done, such as `target.add`, `binding.rule.set`, `admin_token.revoke`.
    pub action: String,
    /// What it was done to, such as `target/jira`, `binding/hr/jira`.
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// Which audit entries to read, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this object (`target/jira`, `source/hr`, …).
    pub object: Option<String>,
    /// The `next` cursor of the previous page.
    #[param(pattern = "^([0-9a-fA-F]{2})*$")]
    pub after: Option<String>,
    /// At most this many entries (1 to 1000; 100 when absent).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}
