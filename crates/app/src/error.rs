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
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
