//! A pull source as stored: which provider it reads, how, and when.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::schedule::Schedule;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    pub connector: sources::SourceConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How long incremental runs may go on before a full read heals drift (`12h`, `1d`, `7d`);
    /// [`DEFAULT_FULL_EVERY`] when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_every: Option<String>,
    /// At most this many requests a second to the provider (to stay within its quota).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
}

/// Incremental runs miss what a provider does not report (hard deletions in Okta and OneLogin,
/// users leaving a scope): a daily full read catches it.
pub const DEFAULT_FULL_EVERY: &str = "1d";

impl PullConfig {
    pub fn schedule(&self) -> Result<Option<Schedule>, Error> {
        self.schedule.as_deref().map(|s| Schedule::parse(s, self.timezone.as_deref())).transpose()
    }

    pub fn full_every(&self) -> Result<jiff::SignedDuration, Error> {
        let text = self.full_every.as_deref().unwrap_or(DEFAULT_FULL_EVERY);
        let seconds = crate::duration::parse_seconds(text)?;
        Ok(jiff::SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX)))
    }
}
