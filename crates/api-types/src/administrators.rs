use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Secret;

/// An administrator of the web console (never their password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Administrator {
    pub name: String,
    pub created: String,
    pub password_changed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
}

/// An administrator to create.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdministrator {
    /// 1 to 64 letters, digits, '.', '_', '-' or '@'; unique without regard to case.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// 12 characters or more, not the name.
    #[schema(value_type = String, min_length = 12)]
    pub password: Secret,
}

/// A new password for an administrator; their sessions end with it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String, min_length = 12)]
    pub password: Secret,
}
