//! Pull runs: the installation's settings for `app::pull`, and Ctrl-C or SIGTERM as the signal
//! that stops one the command line follows.

use std::time::Duration;

use app::pull::PullEnv;

use crate::config::Config;

/// What a pull run needs of this installation's configuration.
pub fn env(config: &Config) -> PullEnv {
    PullEnv { data_dir: config.data_dir.clone(), timeout: Duration::from_secs(config.sync.timeout_seconds) }
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
