//! `idsync admin-token`: tokens of the admin API. `--local` works on the data directory itself,
//! for the first token and for rescue when no token works.

use anyhow::bail;
use api_types::{NewAdminToken, Scope};
use clap::Subcommand;

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token; its secret is printed this once.
    Create {
        /// 1 to 64 letters, digits, '.', '_' or '-'.
        #[arg(long)]
        name: String,
        /// read (sees everything but secrets), operate (also runs, approves, debug) or admin.
        #[arg(long)]
        scope: Scope,
        /// How long it works (90s, 15m, 12h, 30d); no expiry when left out.
        #[arg(long)]
        expires_in: Option<String>,
        /// Work on the data directory, not through a running server.
        #[arg(long)]
        local: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the tokens: name, scope, dates, last use.
    List {
        /// Work on the data directory, not through a running server.
        #[arg(long)]
        local: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's name.
        name: String,
        /// Work on the data directory, not through a running server.
        #[arg(long)]
        local: bool,
    },
}

impl AdminTokenCommand {
    fn local(&self) -> bool {
        match self {
            AdminTokenCommand::Create { local, .. }
            | AdminTokenCommand::List { local, .. }
            | AdminTokenCommand::Revoke { local, .. } => *local,
        }
    }
}

pub async fn run(cmd: AdminTokenCommand, config: &Config) -> anyhow::Result<()> {
    if !cmd.local() {
        bail!("admin tokens are managed on the data directory for now: add --local, on the server's host");
    }
    let store = open_store(config).await?;
    match cmd {
        AdminTokenCommand::Create { name, scope, expires_in, json, .. } => {
            let request = NewAdminToken { name, scope, expires_in };
            let issued = app::admin_tokens::create(&store, &request, jiff::Timestamp::now()).await?;
            if json {
                println!("{}", serde_json::to_string(&issued)?);
            } else {
                println!("Admin token '{}' ({}): {}", issued.token.name, issued.token.scope, issued.secret);
                println!(
                    "It is shown this once; idsync keeps only its hash. Send it as 'Authorization: Bearer <token>'."
                );
            }
        }
        AdminTokenCommand::List { json, .. } => {
            let tokens = app::admin_tokens::list(&store).await?;
            if json {
                println!("{}", serde_json::to_string(&tokens)?);
            } else if tokens.is_empty() {
                println!(
                    "No admin tokens yet. Create one with: idsync admin-token create --local --name NAME --scope admin"
                );
            } else {
                println!("{:<24} {:<8} {:<25} {:<25} LAST USED", "NAME", "SCOPE", "CREATED", "EXPIRES");
                for t in tokens {
                    println!(
                        "{:<24} {:<8} {:<25} {:<25} {}",
                        t.name,
                        t.scope,
                        t.created,
                        t.expires.as_deref().unwrap_or("never"),
                        t.last_used.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        AdminTokenCommand::Revoke { name, .. } => {
            app::admin_tokens::revoke(&store, &name).await?;
            println!("Admin token '{name}' revoked; it no longer opens the API.");
        }
    }
    store.close().await;
    Ok(())
}
