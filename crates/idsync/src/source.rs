//! `idsync source …`: create push sources, show them, rotate and revoke their tokens.
//! Works against the same data directory as a running server.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;
use store::{Store, StoreError};

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand)]
pub enum SourceCommand {
    /// Create a source and print its SCIM base URL and bearer token (shown this once).
    Add {
        #[arg(long)]
        name: String,
        /// Only `scim` (push) for now.
        #[arg(long, default_value = "scim")]
        kind: String,
        /// Print one JSON object {"name", "base_url", "token"}.
        #[arg(long)]
        json: bool,
    },
    /// List sources.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one source.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new token; the old one stops working at once or after --grace.
    RotateToken {
        name: String,
        /// How long the old token keeps working: 0, 90s, 15m, 2h, 1d.
        #[arg(long, default_value = "0")]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a source. Refused while it holds users or groups, unless --purge.
    Remove {
        name: String,
        #[arg(long)]
        purge: bool,
    },
}

/// A new 256-bit token, hex-encoded behind a prefix that secret scanners can spot.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    let mut s = String::with_capacity(71);
    s.push_str("idsync_");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn parse_duration(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("'{s}' is not a duration such as 0, 90s, 15m, 2h or 1d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("'{s}' is not a duration such as 0, 90s, 15m, 2h or 1d"),
    };
    Ok(n * factor)
}

/// Running servers cache tokens; this tells them to read them again.
fn tokens_changed(config: &Config) -> anyhow::Result<()> {
    scim::bump_auth_epoch(&config.auth_epoch_path()).with_context(|| {
        format!("tokens changed, but {} could not be written; restart the server", config.auth_epoch_path().display())
    })
}

fn explain(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn run(cmd: SourceCommand, config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = run_with(&store, cmd, config).await;
    store.close().await;
    result
}

async fn run_with(store: &dyn Store, cmd: SourceCommand, config: &Config) -> anyhow::Result<()> {
    match cmd {
        SourceCommand::Add { name, kind, json } => {
            model::validate_source_name(&name).map_err(anyhow::Error::msg)?;
            if kind != "scim" {
                bail!("source kind '{kind}' is not available yet; 'scim' (push from Entra ID, Okta, OneLogin, …) is");
            }
            let token = new_token();
            store.create_source(&name, &kind, &scim::hash_token(&token)).await.map_err(explain)?;
            let base_url = config.base_url(&name);
            if json {
                println!("{}", json!({"name": name, "base_url": base_url, "token": token}));
            } else {
                println!("Source '{name}' created.\n");
                println!("  SCIM base URL:  {base_url}");
                println!("  Bearer token:   {token}\n");
                println!("The token is shown only this once; store it in your identity provider now.");
                println!(
                    "Entra ID: Tenant URL = base URL, Secret Token = token. Okta: Base URL = base URL, API Token = token."
                );
            }
        }
        SourceCommand::List { json } => {
            let sources = store.list_sources().await.map_err(explain)?;
            if json {
                let list: Vec<_> = sources
                    .iter()
                    .map(|s| json!({"name": s.name, "kind": s.kind, "base_url": config.base_url(&s.name), "created": s.created, "users": s.users, "groups": s.groups}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if sources.is_empty() {
                println!("No sources yet. Add one with: idsync source add --kind scim --name NAME");
            } else {
                println!("{:<24} {:<6} {:>8} {:>8}  BASE URL", "NAME", "KIND", "USERS", "GROUPS");
                for s in sources {
                    println!(
                        "{:<24} {:<6} {:>8} {:>8}  {}",
                        s.name,
                        s.kind,
                        s.users,
                        s.groups,
                        config.base_url(&s.name)
                    );
                }
            }
        }
        SourceCommand::Show { name, json } => {
            let s = store
                .source(&name)
                .await
                .map_err(explain)?
                .with_context(|| format!("there is no source named '{name}'"))?;
            let tokens = store.tokens(&name).await.map_err(explain)?;
            if json {
                let t: Vec<_> = tokens.iter().map(|t| json!({"created": t.created, "expires": t.expires})).collect();
                println!(
                    "{}",
                    json!({"name": s.name, "kind": s.kind, "base_url": config.base_url(&s.name), "created": s.created, "users": s.users, "groups": s.groups, "tokens": t})
                );
            } else {
                println!(
                    "Name:      {}\nKind:      {}\nBase URL:  {}\nCreated:   {}\nUsers:     {}\nGroups:    {}",
                    s.name,
                    s.kind,
                    config.base_url(&s.name),
                    s.created,
                    s.users,
                    s.groups
                );
                println!("Tokens:    {} valid", tokens.len());
                for t in tokens {
                    println!(
                        "  issued {}{}",
                        t.created,
                        t.expires.map(|e| format!(", expires {e}")).unwrap_or_default()
                    );
                }
            }
        }
        SourceCommand::RotateToken { name, grace, json } => {
            let grace = parse_duration(&grace)?;
            let token = new_token();
            store.rotate_token(&name, &scim::hash_token(&token), grace).await.map_err(explain)?;
            tokens_changed(config)?;
            if json {
                println!("{}", json!({"name": name, "base_url": config.base_url(&name), "token": token}));
            } else {
                println!("New bearer token for '{name}': {token}");
                if grace == 0 {
                    println!("The previous token no longer works.");
                } else {
                    println!("The previous token keeps working for {grace} more seconds.");
                }
            }
        }
        SourceCommand::Remove { name, purge } => {
            store.remove_source(&name, purge).await.map_err(explain)?;
            tokens_changed(config)?;
            println!("Source '{name}' removed.");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = new_token();
        assert_eq!(a.len(), 7 + 64);
        assert_ne!(a, new_token());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
