//! Target adapters: how idsync reads and changes users, groups and memberships in Jira,
//! Confluence and Bitbucket Data Center and in any SCIM 2.0 application. Each adapter speaks the
//! application's REST API (see `external-apis.md`) and reports every failure as a [`TargetError`]
//! that says whether retrying can help and what the application answered.
#![forbid(unsafe_code)]

mod bitbucket;
mod confluence;
mod jira;
mod scim;

use std::time::Duration;

use async_trait::async_trait;
use model::target::{Capabilities, Lead, Operation, TargetUser};
use serde::{Deserialize, Serialize};

pub use rest::{Check, CheckStatus, Credentials, Http, RestError as TargetError, install_crypto};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Jira,
    Confluence,
    Bitbucket,
    Scim,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "jira" => Kind::Jira,
            "confluence" => Kind::Confluence,
            "bitbucket" => Kind::Bitbucket,
            "scim" => Kind::Scim,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jira => "jira",
            Kind::Confluence => "confluence",
            Kind::Bitbucket => "bitbucket",
            Kind::Scim => "scim",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Jira => "Jira",
            Kind::Confluence => "Confluence",
            Kind::Bitbucket => "Bitbucket",
            Kind::Scim => "the SCIM application",
        }
    }

    pub fn capabilities(self) -> Capabilities {
        match self {
            Kind::Jira => Capabilities::ALL,
            Kind::Confluence => Capabilities { deactivate: true, rename: false, properties: false, leads: false },
            Kind::Bitbucket => Capabilities { deactivate: false, rename: true, properties: false, leads: false },
            Kind::Scim => Capabilities { deactivate: true, rename: true, properties: false, leads: false },
        }
    }
}

#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub credentials: Credentials,
    pub timeout: Duration,
}

/// Creates and deletes a throwaway group: the one way to learn that the directory idsync writes
/// to is writable without changing anything for good.
async fn write_check<C: TargetClient + ?Sized>(client: &C, product: &str) -> Check {
    let probe = probe_group();
    let created = client.apply(&Operation::CreateGroup { group: probe.clone() }).await;
    match created {
        Ok(()) => match client.delete_group(&probe).await {
            Ok(()) => Check::ok(format!("{product}'s user directory is writable (created and deleted group {probe})")),
            Err(e) => {
                Check::warning(format!("created test group {probe} but could not delete it ({e}); delete it by hand"))
            }
        },
        Err(e) => Check::failed(format!(
            "cannot write to {product}'s user directory ({e}). idsync needs an internal or writable directory first in {product}'s directory order; users from a read-only LDAP or Crowd directory cannot be changed over REST"
        )),
    }
}

/// What idsync needs from a target application.
#[async_trait]
pub trait TargetClient: Send + Sync {
    fn kind(&self) -> Kind;

    fn capabilities(&self) -> Capabilities {
        self.kind().capabilities()
    }

    /// Reachability, credentials, administrator rights and a writable user directory, each
    /// reported in words an administrator can act on. Stops at the first failure.
    async fn check(&self) -> Vec<Check>;

    /// A user by name (case-insensitive), with their groups and the named properties.
    async fn user(&self, name: &str, properties: &[String]) -> Result<Option<TargetUser>, TargetError>;

    /// Names of all groups.
    async fn groups(&self) -> Result<Vec<String>, TargetError>;

    /// Project and component leads (Jira); empty elsewhere.
    async fn leads(&self) -> Result<Vec<Lead>, TargetError> {
        Ok(Vec::new())
    }

    /// Applies one operation. Repeating an operation that already took effect succeeds: creating
    /// a user or group that exists, adding a member twice, removing what is gone. (A retry after
    /// a crash can find the effect of its own earlier, interrupted request.)
    async fn apply(&self, op: &Operation) -> Result<(), TargetError>;

    /// Deletes a group; idsync itself only does this for the write check of `target test`.
    async fn delete_group(&self, group: &str) -> Result<(), TargetError>;
}

pub fn connect(config: &TargetConfig) -> Result<Box<dyn TargetClient>, TargetError> {
    let http = Http::new(&config.url, config.credentials.clone(), config.timeout)?;
    Ok(match config.kind {
        Kind::Jira => Box::new(jira::Jira::new(http)),
        Kind::Confluence => Box::new(confluence::Confluence::new(http)),
        Kind::Bitbucket => Box::new(bitbucket::Bitbucket::new(http)),
        Kind::Scim => Box::new(scim::Scim::new(http)),
    })
}

/// A throwaway group name for the write check.
fn probe_group() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("idsync-write-check-{nanos:08x}")
}

/// Random initial password for users who sign in through SSO and never use it.
fn random_password() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>() + "Aa1!"
}
