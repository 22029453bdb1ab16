//! `idsync`: the server and the command line that manages it.
#![forbid(unsafe_code)]

mod config;
mod serve;
mod source;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "idsync",
    version,
    about = "Keeps users and groups of Jira, Confluence, Bitbucket and SCIM apps in step with your identity providers"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "IDSYNC_CONFIG")]
    config: Option<PathBuf>,
    /// Where idsync keeps its database [default: ./idsync-data].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address the HTTP server listens on [default: 127.0.0.1:8080].
    #[arg(long, global = true)]
    listen: Option<String>,
    /// `text` or `json`.
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (SCIM endpoints, health, metrics).
    Serve,
    /// Manage sources: the identity providers that feed idsync.
    #[command(subcommand)]
    Source(source::SourceCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides { listen: cli.listen, data_dir: cli.data_dir, log_format: cli.log_format };
    let config = match Config::load(cli.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("idsync: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("idsync: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => serve::run(config).await,
            Command::Source(cmd) => source::run(cmd, &config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idsync: {e:#}");
            ExitCode::FAILURE
        }
    }
}
