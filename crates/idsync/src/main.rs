//! `idsync`: the server and the command line that manages it.
#![forbid(unsafe_code)]

mod admin;
mod admin_token;
mod binding;
mod config;
mod connection;
mod demo;
mod files;
mod local;
mod logging;
mod pages;
mod pull;
mod remote;
mod serve;
mod simulate;
mod source;
mod source_settings;
mod sync_cli;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::connection::with_api;

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
    #[command(flatten)]
    remote: remote::Remote,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process, so the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (SCIM endpoints, health, metrics).
    Serve,
    /// Manage sources: the identity providers that feed idsync.
    #[command(subcommand)]
    Source(source::SourceCommand),
    /// Manage targets: the applications idsync provisions.
    #[command(subcommand)]
    Target(target::TargetCommand),
    /// Manage bindings: which source feeds which target, and the rules.
    #[command(subcommand)]
    Binding(binding::BindingCommand),
    /// Manage tokens of the admin API.
    #[command(subcommand)]
    AdminToken(admin_token::AdminTokenCommand),
    /// Manage the administrators who sign in to the web console.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Reconcile targets fully now (healing any drift), or preview it with --dry-run.
    Sync {
        /// One target; all bound targets when left out.
        #[arg(long)]
        target: Option<String>,
        /// Print the exact plan, with reasons, without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Runs: full syncs, dry-runs, and deprovisioning held for approval.
    #[command(subcommand)]
    Runs(sync_cli::RunsCommand),
    /// The provisioning log: every change idsync made or held, and why.
    Log(sync_cli::LogArgs),
    /// Check a server's address and admin token (--server, IDSYNC_TOKEN or --admin-token-file) and save them for later commands.
    Login,
    /// Forget what 'login' saved.
    Logout,
    /// How the running server is doing: targets' health and backlog, sources' runs, held runs.
    Status {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Turn debug logging of the running server on or off, without a restart.
    #[command(subcommand)]
    Debug(remote::DebugCommand),
    /// Download a support bundle from the running server: status, configuration without secrets, recent logs.
    SupportBundle {
        /// Where to write the zip [default: idsync-support-<time>.zip here].
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Print a backup of the configuration (secrets left out, or sealed with --passphrase-file).
    Backup {
        /// A file holding a passphrase (12 characters or more) that seals every secret into the backup.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// The database itself: an online copy, or a restore of one while the server is stopped.
    #[command(subcommand)]
    Db(local::DbCommand),
    /// Restore a configuration backup: shows what changes, then changes it all or nothing.
    Restore(remote::RestoreArgs),
    /// Serve a faithful fake of an application's or identity provider's API, for trying idsync out.
    Simulate(simulate::SimulateArgs),
    /// Watch idsync provision a simulated Jira and Confluence from scripted SCIM pushes.
    Demo(demo::DemoArgs),
}

/// `idsync log | head` closes the pipe before idsync is done printing, and printing then panics.
/// A command whose reader has gone has nothing more to say: it ends quietly, with the status a
/// shell gives a program stopped by SIGPIPE.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The hint a library attached to the error, if any (see `model::Hint`).
fn hint_of(e: &anyhow::Error) -> Option<model::Hint> {
    e.chain().find_map(|cause| {
        cause
            .downcast_ref::<sync::SyncError>()
            .and_then(sync::SyncError::hint)
            .or_else(|| cause.downcast_ref::<app::Error>().and_then(app::Error::hint))
            .or_else(|| cause.downcast_ref::<store::StoreError>().and_then(|s| s.hint().cloned()))
            .or_else(|| match cause.downcast_ref::<client::Error>() {
                Some(client::Error::Problem(p)) => p.hint.clone().map(hint_from_api),
                _ => None,
            })
    })
}

fn hint_from_api(hint: api_types::ProblemHint) -> model::Hint {
    match hint {
        api_types::ProblemHint::ListSources => model::Hint::ListSources,
        api_types::ProblemHint::ListTargets => model::Hint::ListTargets,
        api_types::ProblemHint::ListRuns => model::Hint::ListRuns,
        api_types::ProblemHint::ListBindings => model::Hint::ListBindings,
        api_types::ProblemHint::AddBinding { target } => model::Hint::AddBinding { target },
    }
}

/// A hint as the command that acts on it.
fn render_hint(hint: &model::Hint) -> String {
    match hint {
        model::Hint::ListSources => "'idsync source list' shows the sources".into(),
        model::Hint::ListTargets => "'idsync target list' shows the targets".into(),
        model::Hint::ListRuns => "'idsync runs list' shows the recent runs".into(),
        model::Hint::ListBindings => "'idsync binding list' shows the bindings".into(),
        model::Hint::AddBinding { target } => {
            format!("bind a source to it with 'idsync binding add --source SOURCE --target {target}'")
        }
    }
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let given = demo::Given { data_dir: cli.data_dir.is_some(), listen: cli.listen.is_some() };
    let overrides = Overrides { listen: cli.listen, data_dir: cli.data_dir, log_format: cli.log_format };
    let file = Config::locate(cli.config.as_deref());
    let config = match Config::load(file.as_deref(), overrides) {
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
            Command::Source(cmd) => with_api(&cli.remote, &config, async |c| source::run(cmd, c).await).await,
            Command::Target(cmd) => with_api(&cli.remote, &config, async |c| target::run(cmd, &c.api).await).await,
            Command::Binding(cmd) => with_api(&cli.remote, &config, async |c| binding::run(cmd, &c.api).await).await,
            Command::AdminToken(cmd) if cmd.local() => admin_token::run_local(cmd, &config).await,
            Command::Admin(cmd) if cmd.local() => admin::run_local(cmd, &config).await,
            Command::Admin(cmd) => with_api(&cli.remote, &config, async |c| admin::run(cmd, &c.api).await).await,
            Command::AdminToken(cmd) => {
                with_api(&cli.remote, &config, async |c| admin_token::run(cmd, &c.api).await).await
            }
            Command::Sync { target, dry_run, json } => {
                with_api(&cli.remote, &config, async |c| remote::sync(target, dry_run, json, &c.api).await).await
            }
            Command::Runs(cmd) => with_api(&cli.remote, &config, async |c| sync_cli::runs(cmd, &c.api).await).await,
            Command::Log(args) => with_api(&cli.remote, &config, async |c| sync_cli::log(args, &c.api).await).await,
            Command::Login => remote::login(&cli.remote, &config).await,
            Command::Logout => remote::logout(),
            Command::Status { json } => with_api(&cli.remote, &config, async |c| remote::status(json, c).await).await,
            Command::Debug(cmd) => with_api(&cli.remote, &config, async |c| remote::debug(cmd, c).await).await,
            Command::SupportBundle { output } => {
                with_api(&cli.remote, &config, async |c| remote::support_bundle(output, &c.api).await).await
            }
            Command::Backup { passphrase_file } => {
                with_api(&cli.remote, &config, async |c| remote::backup(passphrase_file, &c.api).await).await
            }
            Command::Restore(args) => {
                with_api(&cli.remote, &config, async |c| remote::restore(args, &c.api).await).await
            }
            Command::Db(cmd) => local::db(cmd, &config).await,
            // The global --listen, where a simulator defaults to a free port rather than idsync's own.
            Command::Simulate(args) => {
                simulate::run(args, if given.listen { &config.listen } else { "127.0.0.1:0" }).await
            }
            Command::Demo(args) => demo::run(args, &config, given).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match hint_of(&e) {
                Some(hint) => eprintln!("idsync: {e:#}; {}", render_hint(&hint)),
                None => eprintln!("idsync: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn undescribed(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id != "help" && id != "version" && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} {id}"));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                out.push(format!("{path} {} (the command)", sub.get_name()));
            }
            undescribed(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    /// clap merges arguments that share an id, so a command's `--url` would silently set the
    /// global `--server` were both called `url`.
    fn shadowing(command: &clap::Command, globals: &[String], path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments().filter(|a| !a.is_global_set()) {
            if globals.iter().any(|g| g == arg.get_id().as_str()) {
                out.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            shadowing(sub, globals, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn no_flag_of_a_command_shares_an_id_with_a_global_flag() {
        let cli = super::Cli::command();
        let globals: Vec<String> =
            cli.get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().to_string()).collect();
        assert!(globals.iter().any(|g| g == "server"), "the globals are found: {globals:?}");
        let mut clashes = Vec::new();
        for sub in cli.get_subcommands() {
            shadowing(sub, &globals, &format!("idsync {}", sub.get_name()), &mut clashes);
        }
        assert!(clashes.is_empty(), "flags sharing a global's id:\n{}", clashes.join("\n"));
    }

    #[test]
    fn every_command_and_flag_is_described() {
        let mut missing = Vec::new();
        undescribed(&super::Cli::command(), "idsync", &mut missing);
        assert!(missing.is_empty(), "without a description:\n{}", missing.join("\n"));
    }
}
