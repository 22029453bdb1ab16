use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an admin token may do. Each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Sees everything but secrets.
    Read,
    /// Also starts, approves, rejects and cancels runs, and turns debug logging on and off.
    Operate,
    /// Everything, configuration and admin tokens included.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do what needs `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Scope::Read),
            "operate" => Ok(Scope::Operate),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("a scope is read, operate or admin, not '{other}'")),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An admin token as it is listed: never its secret, which only its creator saw once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AdminToken {
    pub name: String,
    pub scope: Scope,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339; absent when the token does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// RFC 3339, to the minute; absent when it was never used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<String>,
}

/// A request for a new admin token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdminToken {
    /// 1 to 64 letters, digits, '.', '_' or '-'; unique among admin tokens.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    pub scope: Scope,
    /// How long it works: 1 to 99999 seconds, minutes, hours or days (`90s`, `15m`, `12h`,
    /// `30d`); absent for no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[1-9][0-9]{0,4}[smhd]$")]
    pub expires_in: Option<String>,
}

/// A new admin token with its secret, which is shown this once and stored only as a hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedAdminToken {
    #[serde(flatten)]
    pub token: AdminToken,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}
