//! Faithful local fakes of the external APIs idsync talks to, for tests, benchmarks and the demo.
//! Each follows `external-apis.md`: paging, error bodies, authentication, case rules, version
//! differences and rate limiting, with faults a test can switch on (down, slow, 500s, 429 storms).
#![forbid(unsafe_code)]
// Helpers return the error response itself; its size does not matter in a test fake.
#![allow(clippy::result_large_err)]

pub mod active_directory;
pub mod aws;
pub mod bitbucket;
pub mod common;
pub mod confluence;
pub mod entra;
pub mod google;
pub mod jira;
pub mod keycloak;
pub mod okta;
pub mod onelogin;
pub mod oracle;
pub mod slapd;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use common::{Control, Credentials, Faults};

/// A simulator of one application.
#[derive(Clone)]
pub enum Simulator {
    Jira(Arc<jira::Jira>),
    Confluence(Arc<confluence::Confluence>),
    Bitbucket(Arc<bitbucket::Bitbucket>),
    Keycloak(Arc<keycloak::Keycloak>),
    Okta(Arc<okta::Okta>),
    OneLogin(Arc<onelogin::OneLogin>),
    Oracle(Arc<oracle::Oracle>),
    Entra(Arc<entra::Entra>),
    Google(Arc<google::Google>),
    Aws(Arc<aws::IdentityStore>),
}

impl Simulator {
    /// Fills an identity provider's simulator with `users` users (`user0001`, … active, every
    /// tenth disabled) and `groups` groups (`group01`, …), user i in group i mod `groups`, so a
    /// pull source has something to read. Applications start with their admin only and take
    /// their users from idsync: None for them.
    pub fn seed(&self, users: usize, groups: usize) -> Option<()> {
        let name = |i: usize| format!("user{:04}", i + 1);
        let group = |g: usize| format!("group{:02}", g + 1);
        let of = |g: usize| (0..users).filter(move |i| groups > 0 && i % groups == g);
        match self {
            Simulator::Entra(s) => {
                let mut d = common::lock(&s.data);
                let ids: Vec<String> =
                    (0..users).map(|i| d.add_user(&format!("{}@contoso.com", name(i)), i % 10 != 9)).collect();
                for g in 0..groups {
                    let members: Vec<&str> = of(g).map(|i| ids[i].as_str()).collect();
                    d.add_group(&group(g), &members);
                }
            }
            Simulator::Okta(s) => {
                let mut d = common::lock(&s.data);
                let ids: Vec<String> = (0..users)
                    .map(|i| {
                        d.add_user(
                            &format!("{}@example.com", name(i)),
                            if i % 10 == 9 { "SUSPENDED" } else { "ACTIVE" },
                        )
                    })
                    .collect();
                for g in 0..groups {
                    let members: Vec<&str> = of(g).map(|i| ids[i].as_str()).collect();
                    d.add_group(&group(g), &members);
                }
            }
            Simulator::Keycloak(s) => {
                let mut d = common::lock(&s.data);
                let ids: Vec<String> = (0..users).map(|i| d.add_user(&name(i), i % 10 != 9)).collect();
                for g in 0..groups {
                    let members: Vec<&str> = of(g).map(|i| ids[i].as_str()).collect();
                    d.add_group(&group(g), None, &members);
                }
            }
            Simulator::OneLogin(s) => {
                let mut d = common::lock(&s.data);
                let ids: Vec<u64> = (0..users).map(|i| d.add_user(&name(i), if i % 10 == 9 { 2 } else { 1 })).collect();
                for g in 0..groups {
                    let members: Vec<u64> = of(g).map(|i| ids[i]).collect();
                    d.add_role(&group(g), &members);
                }
            }
            Simulator::Oracle(s) => {
                let mut d = common::lock(&s.data);
                let ids: Vec<String> = (0..users).map(|i| d.add_user(&name(i), i % 10 != 9)).collect();
                for g in 0..groups {
                    let members: Vec<&str> = of(g).map(|i| ids[i].as_str()).collect();
                    d.add_group(&group(g), &members);
                }
            }
            Simulator::Google(s) => {
                let mut d = common::lock(&s.data);
                let ids: Vec<String> =
                    (0..users).map(|i| d.add_user(&format!("{}@example.com", name(i)), i % 10 == 9)).collect();
                for g in 0..groups {
                    let members: Vec<&str> = of(g).map(|i| ids[i].as_str()).collect();
                    d.add_group(&format!("{}@example.com", group(g)), &group(g), &members);
                }
            }
            Simulator::Aws(s) => {
                let mut d = common::lock(&s.data);
                let ids: Vec<String> = (0..users).map(|i| d.add_user(&name(i))).collect();
                for g in 0..groups {
                    let members: Vec<&str> = of(g).map(|i| ids[i].as_str()).collect();
                    d.add_group(&group(g), &members);
                }
            }
            Simulator::Jira(_) | Simulator::Confluence(_) | Simulator::Bitbucket(_) => return None,
        }
        Some(())
    }

    /// A simulator by kind name (`jira`, `confluence`, `bitbucket`, `keycloak`, `okta`, `onelogin`, `oracle`, `entra`, `google`, `aws`) with default options.
    pub fn by_kind(kind: &str, credentials: Credentials) -> Option<Self> {
        Some(match kind {
            "jira" => Simulator::Jira(jira::Jira::new(credentials, Default::default())),
            "confluence" => Simulator::Confluence(confluence::Confluence::new(credentials, Default::default())),
            "bitbucket" => Simulator::Bitbucket(bitbucket::Bitbucket::new(credentials)),
            "keycloak" => Simulator::Keycloak(keycloak::Keycloak::new(credentials)),
            "okta" => Simulator::Okta(okta::Okta::new(credentials)),
            "onelogin" => Simulator::OneLogin(onelogin::OneLogin::new(credentials)),
            "oracle" => Simulator::Oracle(oracle::Oracle::new(credentials)),
            "entra" => Simulator::Entra(entra::Entra::new(credentials)),
            "google" => Simulator::Google(google::Google::new(credentials)),
            "aws" => Simulator::Aws(aws::IdentityStore::new(credentials)),
            _ => return None,
        })
    }

    pub fn control(&self) -> &Arc<Control> {
        match self {
            Simulator::Jira(s) => &s.control,
            Simulator::Confluence(s) => &s.control,
            Simulator::Bitbucket(s) => &s.control,
            Simulator::Keycloak(s) => &s.control,
            Simulator::Okta(s) => &s.control,
            Simulator::OneLogin(s) => &s.control,
            Simulator::Oracle(s) => &s.control,
            Simulator::Entra(s) => &s.control,
            Simulator::Google(s) => &s.control,
            Simulator::Aws(s) => &s.control,
        }
    }

    fn set_base_url(&self, base: &str) {
        match self {
            Simulator::Jira(s) => s.set_base_url(base),
            Simulator::Confluence(s) => s.set_base_url(base),
            Simulator::Bitbucket(s) => s.set_base_url(base),
            Simulator::Okta(s) => s.set_base_url(base),
            Simulator::Entra(s) => s.set_base_url(base),
            Simulator::Google(s) => s.set_base_url(base),
            Simulator::Keycloak(_) | Simulator::OneLogin(_) | Simulator::Oracle(_) | Simulator::Aws(_) => {}
        }
    }

    fn router(&self) -> Router {
        match self {
            Simulator::Jira(s) => s.router(),
            Simulator::Confluence(s) => s.router(),
            Simulator::Bitbucket(s) => s.router(),
            Simulator::Keycloak(s) => s.router(),
            Simulator::Okta(s) => s.router(),
            Simulator::OneLogin(s) => s.router(),
            Simulator::Oracle(s) => s.router(),
            Simulator::Entra(s) => s.router(),
            Simulator::Google(s) => s.router(),
            Simulator::Aws(s) => s.router(),
        }
    }

    /// Serves the simulator on `listener` until the task is aborted.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<Running> {
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        self.set_base_url(&base_url);
        let router = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Running { addr, base_url, task })
    }

    /// Binds `addr` (port 0 for a free one) and serves.
    pub async fn start(&self, addr: &str) -> std::io::Result<Running> {
        self.serve(TcpListener::bind(addr).await?)
    }
}

/// A simulator being served.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: String,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops serving: connections are refused from now on, as when the application is down.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}
