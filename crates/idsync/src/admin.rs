//! `idsync admin`: administrators of the web console, through the admin API. `--local` works on
//! the data directory itself, for the first administrator and for rescue.

use std::path::PathBuf;

use anyhow::{Context, bail};
use api_types::Administrator;
use clap::{Args, Subcommand};
use reqwest::Method;

use crate::config::Config;
use crate::serve::open_store;

/// The password is read from a file or an environment variable, never from the command line.
#[derive(Args)]
pub struct PasswordArgs {
    /// A file holding the password (12 characters or more).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    #[arg(long)]
    password_env: Option<String>,
}

impl PasswordArgs {
    fn read(&self) -> anyhow::Result<String> {
        crate::target::read_secret(&self.password_file, &self.password_env, "password")?
            .context("give the password with --password-file or --password-env")
    }
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an administrator, who signs in to the web console with the password.
    Create {
        /// 1 to 64 letters, digits, '.', '_', '-' or '@'.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Work on the data directory, not through a running server (for the first one).
        #[arg(long)]
        local: bool,
    },
    /// List the administrators: names, when made, last sign-in.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Give an administrator a new password; their sessions end.
    SetPassword {
        /// The administrator's name.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Work on the data directory, not through a running server (for rescue).
        #[arg(long)]
        local: bool,
    },
    /// Remove an administrator (not the last one); their sessions end.
    Remove {
        /// The administrator's name.
        name: String,
    },
}

impl AdminCommand {
    pub fn local(&self) -> bool {
        matches!(self, AdminCommand::Create { local: true, .. } | AdminCommand::SetPassword { local: true, .. })
    }
}

/// `--local`: refused while a server holds the data directory (without it the command goes
/// through the server, audited).
pub async fn run_local(cmd: AdminCommand, config: &Config) -> anyhow::Result<()> {
    let Some(_held) = crate::local::try_lock(&config.data_dir, crate::local::Holder::Command)? else {
        bail!(
            "a server runs on {}: leave out --local, and the command goes through the server",
            config.data_dir.display()
        );
    };
    let store = open_store(config).await?;
    let now = jiff::Timestamp::now();
    let result = match cmd {
        AdminCommand::Create { name, password, .. } => {
            async {
                let made = app::administrators::create(&store, &name, &password.read()?, now).await?;
                println!("administrator '{}' created; they sign in to the console at /", made.name);
                anyhow::Ok(())
            }
            .await
        }
        AdminCommand::SetPassword { name, password, .. } => {
            async {
                app::administrators::set_password(&store, &name, &password.read()?, now).await?;
                println!("administrator '{name}' has a new password; their sessions have ended");
                anyhow::Ok(())
            }
            .await
        }
        AdminCommand::List { .. } | AdminCommand::Remove { .. } => {
            Err(anyhow::anyhow!("only 'admin create' and 'admin set-password' work with --local"))
        }
    };
    store.close().await;
    result
}

pub async fn run(cmd: AdminCommand, api: &client::Client) -> anyhow::Result<()> {
    let at = |name: &str| format!("/administrators/{}", client::segment(name));
    match cmd {
        AdminCommand::Create { name, password, .. } => {
            let body = serde_json::json!({"name": name, "password": password.read()?});
            let made: Administrator = api.exchange(Method::POST, "/administrators", Some(&body)).await?.0;
            println!("administrator '{}' created; they sign in to the console at {}/", made.name, api.base());
        }
        AdminCommand::List { json } => {
            let (all, text) = crate::pages::all::<Administrator>(api, "/administrators").await?;
            if json {
                println!("{text}");
            } else if all.is_empty() {
                println!(
                    "No administrators yet. Create the first with: idsync admin create --local --name NAME --password-file FILE"
                );
            } else {
                println!("{:<32} {:<25} LAST SIGN-IN", "NAME", "CREATED");
                for a in all {
                    println!("{:<32} {:<25} {}", a.name, a.created, a.last_login.as_deref().unwrap_or("never"));
                }
            }
        }
        AdminCommand::SetPassword { name, password, .. } => {
            let body = serde_json::json!({"password": password.read()?});
            api.send(Method::PUT, &format!("{}/password", at(&name)), Some(&body)).await?;
            println!("administrator '{name}' has a new password; their sessions have ended");
        }
        AdminCommand::Remove { name } => {
            api.send(Method::DELETE, &at(&name), None::<&()>).await?;
            println!("administrator '{name}' removed; their sessions have ended");
        }
    }
    Ok(())
}
