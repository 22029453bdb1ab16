/// An error of the application layer. `code` is stable (for the API and scripts); the message
/// says what went wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value the administrator gave is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The secret key is missing, unreadable, or not the one a secret was sealed with.
    #[error("{0}")]
    Secret(String),
    /// Something asked for does not exist.
    #[error("{message}")]
    Missing { message: String, hint: Option<model::Hint> },
    /// The source already runs (in this process or another).
    #[error("{0}")]
    Busy(String),
    /// The identity provider or application took longer than the time allowed.
    #[error("{0}")]
    TimedOut(String),
    /// The identity provider's answers fell short of a whole read (pages missing, requests failed).
    #[error("{0}")]
    Incomplete(String),
    /// A part idsync needs (the store, the engine) cannot serve now; trying later may help.
    #[error("{0}")]
    Unavailable(String),
    /// A run was stopped before it finished.
    #[error("{0}")]
    Interrupted(String),
    /// The caller's credentials were missing or not accepted.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed attempts: wait before the next.
    #[error("{0}")]
    Throttled(String),
    /// The caller is known, and not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The identity provider or application could not be reached, or refused.
    #[error(transparent)]
    Remote(#[from] rest::RestError),
    /// A file idsync needs could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::Secret(_) => "secret",
            Error::Io { .. } => "io",
            Error::Missing { .. } => "not_found",
            Error::Busy(_) => "busy",
            Error::Interrupted(_) => "interrupted",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::Throttled(_) => "throttled",
            Error::TimedOut(_) => "timed_out",
            Error::Unavailable(_) => "unavailable",
            Error::Incomplete(_) => "incomplete",
            Error::Store(store::StoreError::Conflict(_)) => "conflict",
            Error::Store(store::StoreError::NotFound { .. }) => "not_found",
            Error::Store(_) => "store",
            Error::Remote(_) => "remote",
        }
    }

    /// What the administrator can do about it, when known.
    pub fn hint(&self) -> Option<model::Hint> {
        match self {
            Error::Missing { hint, .. } => hint.clone(),
            Error::Store(e) => e.hint().cloned(),
            _ => None,
        }
    }

    pub fn not_pull(name: &str) -> Error {
        Error::Missing {
            message: format!("'{name}' is not a pull source (or does not exist)"),
            hint: Some(model::Hint::ListSources),
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

impl From<sync::SyncError> for Error {
    fn from(e: sync::SyncError) -> Self {
        let hint = e.hint();
        match e {
            sync::SyncError::Store(e) => Error::Store(e),
            sync::SyncError::Target { error, .. } => Error::Remote(error),
            sync::SyncError::Rules(e) => Error::Invalid(e.to_string()),
            sync::SyncError::Invalid(message) => Error::Invalid(message),
            missing @ (sync::SyncError::NoTarget(_)
            | sync::SyncError::Unbound(_)
            | sync::SyncError::MissingSource { .. }
            | sync::SyncError::NoRun(_)) => Error::Missing { message: missing.to_string(), hint },
        }
    }
}
