//! The REST client idsync's adapters and connectors share: authentication, timeouts, and the
//! translation of every failure into a [`RestError`] that says whether retrying can help and what
//! the other side answered, plus the check lines `target test` and `source test` print.
#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod http;
mod pace;
pub mod sent;

pub use http::{Answer, Http, message_of};
pub use pace::Pace;
pub use reqwest::header::HeaderMap;
pub use reqwest::{Method, Url};

/// How idsync authenticates to an application or an identity provider. Never printed: `Debug`
/// hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Credentials {
    /// Personal access token (Jira, Confluence), HTTP access token (Bitbucket), bearer token.
    Bearer {
        token: String,
    },
    Basic {
        username: String,
        password: String,
    },
    /// Okta API token: `Authorization: SSWS <token>`.
    Ssws {
        token: String,
    },
    /// A key that signs token requests and is never sent itself: a Google service-account key
    /// file, or an OAuth client's private key (PEM) with the client's id. Requests made with it
    /// carry no authorization until a token replaces it.
    Key {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Bearer { .. } => f.write_str("Bearer(…)"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, …)"),
            Credentials::Ssws { .. } => f.write_str("Ssws(…)"),
            Credentials::Key { .. } => f.write_str("Key(…)"),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RestError {
    #[error("{0}")]
    Config(String),
    #[error("unreachable: {detail}")]
    Unreachable { detail: String },
    #[error("throttled (429){}: {message}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    Throttled { retry_after: Option<Duration>, message: String },
    #[error("server error: {message}")]
    Server { status: u16, retry_after: Option<Duration>, message: String },
    #[error("credentials refused: {message}; check the stored token or password")]
    Unauthorized { message: String },
    #[error("permission denied: {message}; the account lacks a right this needs")]
    Forbidden { message: String },
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("rejected: {message}")]
    Rejected { status: u16, message: String },
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("{0}")]
    Unsupported(String),
}

impl RestError {
    /// Whether the same request may succeed later: outages, throttling, server errors, and
    /// refused credentials (they succeed once an administrator fixes the token).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RestError::Unreachable { .. }
                | RestError::Throttled { .. }
                | RestError::Server { .. }
                | RestError::Unauthorized { .. }
        )
    }

    /// How long the other side asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RestError::Throttled { retry_after, .. } | RestError::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the other side as a whole is unusable (not just this one request).
    pub fn is_outage(&self) -> bool {
        matches!(self, RestError::Unreachable { .. } | RestError::Unauthorized { .. } | RestError::Server { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    /// Works, with a limitation the administrator should know about.
    Warning,
    Failed,
}

/// One line of `target test` or `source test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub status: CheckStatus,
    pub what: String,
}

impl Check {
    pub fn ok(what: impl Into<String>) -> Self {
        Check { status: CheckStatus::Ok, what: what.into() }
    }

    pub fn warning(what: impl Into<String>) -> Self {
        Check { status: CheckStatus::Warning, what: what.into() }
    }

    pub fn failed(what: impl Into<String>) -> Self {
        Check { status: CheckStatus::Failed, what: what.into() }
    }
}

/// Installs the TLS crypto provider; call once at start-up before anything is contacted.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
