use model::ScimError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the resource has version {current}, not the one in If-Match; fetch it again and retry")]
    VersionMismatch { current: u64 },
    #[error("{0}")]
    Rejected(ScimError),
    #[error("database error: {0}")]
    Database(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}
