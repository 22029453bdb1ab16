use model::{Hint, ScimError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{message}")]
    NotFound { message: String, hint: Option<Hint> },
    #[error("{0}")]
    Conflict(String),
    #[error("the resource has version {current}, not the one in If-Match; fetch it again and retry")]
    VersionMismatch { current: u64 },
    #[error("{0}")]
    Rejected(ScimError),
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    pub fn not_found(message: impl Into<String>) -> Self {
        StoreError::NotFound { message: message.into(), hint: None }
    }

    /// What the administrator can do about it, when the store knows.
    pub fn hint(&self) -> Option<&Hint> {
        match self {
            StoreError::NotFound { hint, .. } => hint.as_ref(),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}
