//! `idsync admin-token`: tokens of the admin API, through the API. `--local` works on the data
//! directory itself, for the first token and for rescue when no token works.

use anyhow::bail;
use api_types::{AdminToken, IssuedAdminToken, NewAdminToken, Scope};
use clap::Subcommand;
use reqwest::Method;

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
    pub fn local(&self) -> bool {
        match self {
            AdminTokenCommand::Create { local, .. }
            | AdminTokenCommand::List { local, .. }
            | AdminTokenCommand::Revoke { local, .. } => *local,
        }
    }
}

/// `--local`: on the data directory itself, for the first token and for rescue; refused while a
/// server holds the data directory (without --local the command goes through it).
pub async fn run_local(cmd: AdminTokenCommand, config: &Config) -> anyhow::Result<()> {
    let Some(_held) = crate::local::try_lock(&config.data_dir, crate::local::Holder::Command)? else {
        bail!(
            "a server runs on {}: leave out --local, and the command goes through the server",
            config.data_dir.display()
        );
    };
    let store = open_store(config).await?;
    let result = async {
        match cmd {
            AdminTokenCommand::Create { name, scope, expires_in, json, .. } => {
                let request = NewAdminToken { name, scope, expires_in };
                let issued = app::admin_tokens::create(&store, &request, jiff::Timestamp::now()).await?;
                print_issued(&issued, &serde_json::to_string(&issued)?, json);
            }
            AdminTokenCommand::List { json, .. } => {
                let tokens = app::admin_tokens::list(&store).await?;
                print_tokens(
                    &tokens,
                    &serde_json::to_string(&api_types::Page { items: tokens.clone(), next: None })?,
                    json,
                );
            }
            AdminTokenCommand::Revoke { name, .. } => {
                app::admin_tokens::revoke(&store, &name).await?;
                println!("Admin token '{name}' revoked; it no longer opens the API.");
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}

pub async fn run(cmd: AdminTokenCommand, api: &client::Client) -> anyhow::Result<()> {
    match cmd {
        AdminTokenCommand::Create { name, scope, expires_in, json, .. } => {
            let request = NewAdminToken { name, scope, expires_in };
            let (issued, text): (IssuedAdminToken, String) =
                api.exchange(Method::POST, "/admin-tokens", Some(&request)).await?;
            print_issued(&issued, &text, json);
        }
        AdminTokenCommand::List { json, .. } => {
            let (tokens, text) = crate::pages::all::<AdminToken>(api, "/admin-tokens").await?;
            print_tokens(&tokens, &text, json);
        }
        AdminTokenCommand::Revoke { name, .. } => {
            api.send(Method::DELETE, &format!("/admin-tokens/{}", client::segment(&name)), None::<&()>).await?;
            println!("Admin token '{name}' revoked; it no longer opens the API.");
        }
    }
    Ok(())
}

fn print_issued(issued: &IssuedAdminToken, text: &str, json: bool) {
    if json {
        println!("{text}");
    } else {
        println!("Admin token '{}' ({}): {}", issued.token.name, issued.token.scope, issued.secret);
        println!("It is shown this once; idsync keeps only its hash. Send it as 'Authorization: Bearer <token>'.");
    }
}

fn print_tokens(tokens: &[AdminToken], text: &str, json: bool) {
    if json {
        println!("{text}");
    } else if tokens.is_empty() {
        println!("No admin tokens yet. Create one with: idsync admin-token create --local --name NAME --scope admin");
    } else {
        println!("{:<24} {:<8} {:<25} {:<25} LAST USED", "NAME", "SCOPE", "CREATED", "EXPIRES");
        for t in tokens {
            println!(
                "{:<24} {:<8} {:<25} {:<25} {}",
                t.name,
                t.scope.to_string(),
                t.created,
                t.expires.as_deref().unwrap_or("never"),
                t.last_used.as_deref().unwrap_or("never")
            );
        }
    }
}
