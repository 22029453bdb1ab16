//! Pull runs as the command line and the server start them: the installation's settings for
//! `app::pull`, a spinner on a terminal, and Ctrl-C or SIGTERM as the signal that stops a run.

use std::time::Duration;

use app::pull::{PullEnv, ReadMode};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;

/// What a pull run needs of this installation's configuration.
pub fn env(config: &Config) -> PullEnv {
    PullEnv { data_dir: config.data_dir.clone(), timeout: Duration::from_secs(config.sync.timeout_seconds) }
}

/// A spinner on a terminal; indicatif draws nothing elsewhere.
struct Spinner(ProgressBar);

impl app::pull::Progress for Spinner {
    fn report(&self, phase: app::pull::Phase, users_read: u64) {
        match phase {
            app::pull::Phase::Reading if users_read > 0 => {
                self.0.set_message(format!("{phase}: {users_read} users read and stored"));
            }
            _ => self.0.set_message(phase.to_string()),
        }
    }
}

fn spinner(name: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix}: {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(name.to_string());
    bar.set_message("connecting");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// `source sync`: one run, its progress shown on a terminal.
pub async fn pull_now(
    store: &dyn store::Database,
    name: &str,
    config: &Config,
    mode: ReadMode,
) -> anyhow::Result<sync::PullSummary> {
    let bar = spinner(name);
    let result = app::pull::pull_now(store, name, &env(config), mode, &Spinner(bar.clone()), stop_signal()).await;
    bar.finish_and_clear();
    Ok(result?)
}

/// Ctrl-C or SIGTERM: a run ends as interrupted and frees its source at once.
pub async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return "a signal";
    }
    let _ = tokio::signal::ctrl_c().await;
    "a signal"
}
