//! `idsync simulate KIND`: a simulated application or identity provider to point idsync at.

use anyhow::Context;
use clap::Args;
use simulators::{Credentials, Simulator};

#[derive(Args)]
pub struct SimulateArgs {
    /// jira, confluence, bitbucket, keycloak, okta, onelogin, oracle, entra, google or aws.
    kind: String,
    /// Identity providers: start with this many users (user0001, …; every tenth disabled).
    #[arg(long, default_value_t = 0)]
    users: usize,
    /// Identity providers: and this many groups (group01, …), the users spread over them.
    #[arg(long, default_value_t = 0)]
    groups: usize,
    /// The product version to behave as (Jira: 8.2.0 lacks deactivation, 10.3.0 has /user/list;
    /// Confluence: below 8.4 lacks user administration).
    #[arg(long)]
    version: Option<String>,
}

/// Serves the simulator on `listen` until Ctrl-C.
pub async fn run(args: SimulateArgs, listen: &str) -> anyhow::Result<()> {
    let credentials = Credentials::default();
    let sim = match (args.kind.as_str(), args.version) {
        ("jira", Some(version)) => Simulator::Jira(simulators::jira::Jira::new(
            credentials.clone(),
            simulators::jira::JiraOptions { version, ..Default::default() },
        )),
        ("confluence", Some(version)) => Simulator::Confluence(simulators::confluence::Confluence::new(
            credentials.clone(),
            simulators::confluence::ConfluenceOptions { version, ..Default::default() },
        )),
        (kind, _) => Simulator::by_kind(kind, credentials.clone()).with_context(|| {
            format!("there is no simulator for '{kind}': use jira, confluence, bitbucket, keycloak, okta, onelogin, oracle, entra, google or aws")
        })?,
    };
    if (args.users > 0 || args.groups > 0) && sim.seed(args.users, args.groups).is_none() {
        anyhow::bail!(
            "--users and --groups fill identity providers; {} is an application, which gets its users from idsync",
            args.kind
        );
    }
    let running = sim.start(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    println!("simulated {} at {}", args.kind, running.base_url);
    let client = match &sim {
        Simulator::Keycloak(kc) => {
            Some(format!("realm {}, client id {}, client secret {}", kc.realm, kc.client_id, kc.client_secret))
        }
        Simulator::OneLogin(ol) => Some(format!("client id {}, client secret {}", ol.client_id, ol.client_secret)),
        Simulator::Oracle(o) => Some(format!("client id {}, client secret {}", o.client_id, o.client_secret)),
        Simulator::Entra(e) => {
            Some(format!("tenant {}, client id {}, client secret {}", e.tenant, e.client_id, e.client_secret))
        }
        Simulator::Google(g) => {
            let key = std::env::temp_dir().join(format!("idsync-google-sim-{}.json", std::process::id()));
            std::fs::write(&key, g.key_file()).with_context(|| format!("cannot write {}", key.display()))?;
            Some(format!("--admin {} --key-file {} (a test key)", g.admin, key.display()))
        }
        Simulator::Aws(a) => Some(format!(
            "--region {} --identity-store {}, access key id {}, secret access key {}",
            a.region, a.store_id, a.access_key, a.secret_key
        )),
        _ => None,
    };
    if let Some(client) = client {
        println!("  {client}");
        if args.users + args.groups == 0 {
            println!("  (empty; start it with --users N --groups M to have something to read)");
        } else {
            println!("  holds {} users and {} groups", args.users, args.groups);
        }
        println!("stop with Ctrl-C");
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }
    println!("  admin token:  {}", credentials.admin_token);
    println!("  basic auth:   {}:{}", credentials.admin_user, credentials.admin_password);
    println!("  viewer token: {} (no admin rights)", credentials.viewer_token);
    println!("  state:        {}/_sim/state   faults: POST {}/_sim/faults", running.base_url, running.base_url);
    println!("stop with Ctrl-C");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
