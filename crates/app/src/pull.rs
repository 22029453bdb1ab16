//! Pull sources: their stored settings (which provider, how, when), their connectors with the
//! credentials unsealed, and one run — incremental when the provider offers it and a full read is
//! not due, full otherwise — recorded as a run, holding the source's run lock while it works.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{RunKind, RunStart, RunState, Store};

use crate::schedule::Schedule;
use crate::secrets::SecretBox;
use crate::{Checked, Error, passed};

/// What a run needs of the installation: where its secret key is, and how long to wait for a
/// provider's answer.
#[derive(Debug, Clone)]
pub struct PullEnv {
    pub data_dir: PathBuf,
    pub timeout: Duration,
}

/// What a pull run is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading only what changed since the last run.
    ReadingChanges,
    /// Storing the changes read.
    StoringChanges { users: usize, groups: usize },
    /// Reading every user, storing each as it arrives.
    Reading,
    /// Storing the groups and their members, after the users.
    StoringGroups { groups: usize },
}

impl Phase {
    /// A stable name for the API.
    pub fn code(self) -> &'static str {
        match self {
            Phase::ReadingChanges => "reading_changes",
            Phase::StoringChanges { .. } => "storing_changes",
            Phase::Reading => "reading",
            Phase::StoringGroups { .. } => "storing_groups",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::ReadingChanges => f.write_str("reading the changes since the last run"),
            Phase::StoringChanges { users, groups } => {
                write!(f, "storing {users} changed users and {groups} changed groups")
            }
            Phase::Reading => f.write_str("reading everything"),
            Phase::StoringGroups { groups } => write!(f, "storing {groups} groups and their members"),
        }
    }
}

/// Where a run says how it is getting on: a terminal's spinner, an API task's progress, nowhere.
pub trait Progress: Send + Sync {
    /// The run is in `phase` and has read and stored `users_read` users so far.
    fn report(&self, phase: Phase, users_read: u64);
}

/// Progress nobody watches (scheduled runs).
pub struct Unwatched;

impl Progress for Unwatched {
    fn report(&self, _: Phase, _: u64) {}
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    pub connector: sources::SourceConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How long incremental runs may go on before a full read heals drift (`12h`, `1d`, `7d`);
    /// [`DEFAULT_FULL_EVERY`] when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_every: Option<String>,
    /// At most this many requests a second to the provider (to stay within its quota).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
}

/// Incremental runs miss what a provider does not report (hard deletions in Okta and OneLogin,
/// users leaving a scope): a daily full read catches it.
pub const DEFAULT_FULL_EVERY: &str = "1d";

impl PullConfig {
    pub fn schedule(&self) -> Result<Option<Schedule>, Error> {
        self.schedule.as_deref().map(|s| Schedule::parse(s, self.timezone.as_deref())).transpose()
    }

    pub fn full_every(&self) -> Result<jiff::SignedDuration, Error> {
        let text = self.full_every.as_deref().unwrap_or(DEFAULT_FULL_EVERY);
        let seconds = crate::duration::parse_seconds(text)?;
        Ok(jiff::SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX)))
    }
}

pub fn pull_connector(
    pull: &PullConfig,
    credentials: rest::Credentials,
    env: &PullEnv,
) -> Result<Box<dyn sources::Connector>, Error> {
    rest::install_crypto();
    let retry = sources::Retry { rate: pull.max_rate, ..sources::Retry::default() };
    Ok(sources::connect_with(&pull.connector, credentials, env.timeout, retry)?)
}

/// The connector of a stored pull source, its credentials unsealed.
pub async fn stored_connector(
    store: &dyn Store,
    name: &str,
    env: &PullEnv,
) -> Result<Box<dyn sources::Connector>, Error> {
    let settings = store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?;
    Ok(connector_of(&settings, name, env)?.1)
}

/// A pull source's settings as stored, and its connector with the credentials unsealed.
fn connector_of(
    settings: &store::PullSettings,
    name: &str,
    env: &PullEnv,
) -> Result<(PullConfig, Box<dyn sources::Connector>), Error> {
    let pull = decoded(settings)?;
    let credentials = unsealed(&SecretBox::open(&env.data_dir)?, settings, name)?;
    let connector = pull_connector(&pull, credentials, env)?;
    Ok((pull, connector))
}

fn decoded(settings: &store::PullSettings) -> Result<PullConfig, Error> {
    serde_json::from_str(&settings.config)
        .map_err(|e| Error::Invalid(format!("the stored source settings are unreadable: {e}")))
}

fn bound_to(name: &str) -> String {
    format!("source:{name}")
}

pub(crate) fn unsealed(
    secrets: &SecretBox,
    settings: &store::PullSettings,
    name: &str,
) -> Result<rest::Credentials, Error> {
    serde_json::from_slice(&secrets.open_sealed(&settings.secret, &bound_to(name))?)
        .map_err(|_| Error::Secret(format!("the stored credentials of source {name} are not readable; set them again")))
}

pub(crate) fn sealed(secrets: &SecretBox, credentials: &rest::Credentials, name: &str) -> Result<Vec<u8>, Error> {
    let plain = serde_json::to_vec(credentials).map_err(|e| Error::Secret(format!("credentials: {e}")))?;
    secrets.seal(&plain, &bound_to(name))
}

fn encoded(pull: &PullConfig) -> Result<String, Error> {
    serde_json::to_string(pull).map_err(|e| Error::Invalid(format!("the source settings cannot be stored: {e}")))
}

impl PullConfig {
    /// Refuses settings a run could not follow: a schedule, time zone or full-read interval
    /// that does not parse, or a rate limit that is not above 0.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
            return Err(Error::Invalid("the rate limit must be above 0 requests a second".into()));
        }
        self.schedule()?;
        self.full_every()?;
        crate::no_credentials_in(self.connector.location())
    }
}

/// The settings of the pull source `name`.
pub async fn settings(store: &dyn store::Database, name: &str) -> Result<PullConfig, Error> {
    decoded(&store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?)
}

/// Adds a pull source, after checking that idsync can read the provider when `check` is true.
/// Its SCIM endpoint stays closed: nobody holds a token for it.
pub async fn add(
    store: &dyn store::Database,
    env: &PullEnv,
    name: &str,
    pull: &PullConfig,
    credentials: rest::Credentials,
    check: bool,
) -> Result<Checked, Error> {
    model::validate_source_name(name).map_err(Error::Invalid)?;
    pull.validate()?;
    let secrets = SecretBox::open(&env.data_dir)?;
    let mut checks = Vec::new();
    if check {
        checks = pull_connector(pull, credentials.clone(), env)?.check().await;
        if !passed(&checks) {
            return Ok(Checked { checks, saved: false });
        }
    }
    let secret = sealed(&secrets, &credentials, name)?;
    store.create_source(name, pull.connector.kind(), &scim::hash_token(&crate::tokens::new_token())).await?;
    store.set_pull(name, &encoded(pull)?, &secret).await?;
    Ok(Checked { checks, saved: true })
}

/// Changes a pull source's settings, and its credentials when given, after checking the changed
/// source when `check` is true. The next run reads everything, since what changed since the
/// last run was tracked under the old settings.
pub async fn edit(
    store: &dyn store::Database,
    env: &PullEnv,
    name: &str,
    pull: &PullConfig,
    credentials: Option<rest::Credentials>,
    check: bool,
) -> Result<Checked, Error> {
    pull.validate()?;
    let stored = store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?;
    let secrets = SecretBox::open(&env.data_dir)?;
    let credentials = match credentials {
        Some(given) => given,
        None => unsealed(&secrets, &stored, name)?,
    };
    let mut checks = Vec::new();
    if check {
        checks = pull_connector(pull, credentials.clone(), env)?.check().await;
        if !passed(&checks) {
            return Ok(Checked { checks, saved: false });
        }
    }
    store.set_pull(name, &encoded(pull)?, &sealed(&secrets, &credentials, name)?).await?;
    store.set_pull_cursor(name, None, false).await?;
    Ok(Checked { checks, saved: true })
}

/// Sets when a pull source runs by itself (`None`: only when asked); the next run is worked out
/// afresh from the new schedule. Returns the schedule as understood.
pub async fn set_schedule(
    store: &dyn store::Database,
    name: &str,
    schedule: Option<String>,
    timezone: Option<String>,
    full_every: Option<String>,
) -> Result<Option<Schedule>, Error> {
    let stored = store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?;
    let mut pull = decoded(&stored)?;
    pull.schedule = schedule;
    pull.timezone = timezone;
    if full_every.is_some() {
        pull.full_every = full_every;
    }
    pull.validate()?;
    store.set_pull(name, &encoded(&pull)?, &stored.secret).await?;
    let paused = state_of(&stored).paused;
    store.set_pull_state(name, &state_text(&crate::schedule::ScheduleState { paused, ..Default::default() })?).await?;
    pull.schedule()
}

fn state_of(settings: &store::PullSettings) -> crate::schedule::ScheduleState {
    settings.state.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
}

fn state_text(state: &crate::schedule::ScheduleState) -> Result<String, Error> {
    serde_json::to_string(state).map_err(|e| Error::Invalid(format!("the schedule state cannot be written: {e}")))
}

/// Stops or resumes a pull source's scheduled runs (runs asked for still run).
pub async fn set_paused(store: &dyn store::Database, name: &str, paused: bool) -> Result<(), Error> {
    let stored = store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?;
    let mut state = state_of(&stored);
    state.paused = paused;
    if !paused {
        state.next_run = None;
    }
    store.set_pull_state(name, &state_text(&state)?).await.map_err(Error::from)
}

/// Checks a stored pull source: the provider answers, the credentials work, the reads are allowed.
pub async fn test(store: &dyn store::Database, env: &PullEnv, name: &str) -> Result<Vec<rest::Check>, Error> {
    Ok(stored_connector(store, name, env).await?.check().await)
}

/// One user as the provider returns it, the record idsync would store for it, and its groups.
pub async fn lookup(
    store: &dyn store::Database,
    env: &PullEnv,
    name: &str,
    username: &str,
) -> Result<api_types::Lookup, Error> {
    let connector = stored_connector(store, name, env).await?;
    let Some(raw) = connector.lookup(username).await? else {
        return Err(Error::Missing { message: format!("source {name} has no user {username}"), hint: None });
    };
    let (mapped, groups) = match connector.read_user(username).await? {
        Some((user, groups)) => {
            let mapped =
                sync::stored_form(user).map(serde_json::Value::Object).unwrap_or_else(|e| json!({"refused": e.detail}));
            let mut names: Vec<String> = groups.into_iter().map(|g| g.name).collect();
            names.sort();
            (mapped, names)
        }
        None => (json!({"left out": "outside the source's scope, so idsync does not store this user"}), Vec::new()),
    };
    Ok(api_types::Lookup { raw, mapped, groups })
}

/// Reads a pull source in full and says what its next run would change in idsync's copy and in
/// every bound target, changing neither (each target's plan is recorded as a dry run).
pub async fn preview(
    store: &dyn store::Database,
    engine: &sync::Engine,
    env: &PullEnv,
    name: &str,
) -> Result<api_types::PullPreview, Error> {
    let source = store.source(name).await?.ok_or_else(|| Error::Missing {
        message: format!("there is no source named '{name}'"),
        hint: Some(model::Hint::ListSources),
    })?;
    let snapshot = stored_connector(store, name, env).await?.read().await;
    if !snapshot.complete {
        return Err(Error::Incomplete(format!(
            "the read of {name} was incomplete, so nothing can be previewed: {}",
            snapshot.problems.join("; ")
        )));
    }
    let (preview, summary) = sync::preview_snapshot(store, &source, &snapshot).await?;
    let targets: Vec<String> = engine.bindings().for_source(name).map(|(spec, _)| spec.target.clone()).collect();
    let mut plans = Vec::new();
    for target in &targets {
        plans.push(crate::plan(&engine.preview(target, preview.clone()).await?));
    }
    Ok(api_types::PullPreview { source: serde_json::to_value(summary).unwrap_or_default(), targets: plans })
}

/// A pull source's settings as the API sends them, checked.
pub fn settings_from(value: serde_json::Value) -> Result<PullConfig, Error> {
    let pull: PullConfig = serde_json::from_value(value)
        .map_err(|e| Error::Invalid(format!("the settings are not a pull source's: {e}")))?;
    pull.validate()?;
    Ok(pull)
}

/// How a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Only what changed, when the provider can say and a full read is not due.
    Auto,
    /// Everything, whatever the cadence.
    Full,
}

/// Reads a pull source and stores what changed, recorded as a run. A full
/// read leaves the cursor the next incremental run continues from; a read that failed part-way
/// neither removes anything nor moves the cursor.
pub async fn pull_now(
    store: &dyn store::Database,
    name: &str,
    env: &PullEnv,
    mode: ReadMode,
    progress: &dyn Progress,
    stop: impl Future<Output = &'static str>,
) -> Result<sync::PullSummary, Error> {
    let run = begin(store, name).await?;
    carry_on(store, run, name, env, mode, progress, stop).await
}

/// Takes a pull source's run lock and records the run as started; the run itself is
/// [`carry_on`]. Split so that a caller can answer with the run's id before the run is done.
pub async fn begin(store: &dyn store::Database, name: &str) -> Result<i64, Error> {
    store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?;
    let run = match store.start_run(RunKind::Pull, name, &run_holder(), RUN_LEASE, &holder_is_gone).await? {
        RunStart::Started { id, took_over } => {
            if let Some(stale) = took_over {
                tracing::warn!(source = %name, run = stale, "took over the lock of a run whose process is gone; it is marked interrupted");
            }
            id
        }
        RunStart::Busy(r) => {
            return Err(Error::Busy(format!(
                "run {} of {name} is still going (started {}); try again when it is done",
                r.id, r.started
            )));
        }
    };
    Ok(run)
}

/// Carries on the run [`begin`] started, to its end: done, failed, or interrupted by `stop`,
/// which says what stopped it ("a signal", "a cancel request").
pub async fn carry_on(
    store: &dyn store::Database,
    run: i64,
    name: &str,
    env: &PullEnv,
    mode: ReadMode,
    progress: &dyn Progress,
    stop: impl Future<Output = &'static str>,
) -> Result<sync::PullSummary, Error> {
    let source = store.source(name).await?.ok_or_else(|| Error::not_pull(name))?;
    // The lease is renewed while the run works; a signal ends the run as interrupted and releases
    // the lock at once, so the source can run again without waiting for the lease.
    // The renewal is polled beside the work, never instead of it: it may wait for the store's
    // one write connection, which the work may hold.
    let work = read_and_apply(store, &source, env, mode, progress);
    let renewing = async {
        loop {
            tokio::time::sleep(RUN_LEASE / 3).await;
            if let Err(e) = store.renew_run(run, RUN_LEASE).await {
                tracing::warn!(source = %name, error = %e, "cannot renew the run's lease; will retry");
            }
        }
    };
    let stopped = stop;
    tokio::pin!(work, renewing, stopped);
    let result = tokio::select! {
        r = &mut work => Ok(r),
        () = &mut renewing => Err("losing its lease"),
        why = &mut stopped => Err(why),
    };
    let result = match result {
        Ok(result) => result,
        Err(why) => {
            let summary = json!({"error": format!("interrupted by {why} before the run finished")});
            store.update_run(run, RunState::Interrupted, &summary, None, None).await?;
            return Err(Error::Interrupted(format!(
                "run {run} of {name} was interrupted by {why}; what it had stored stays, nothing was removed"
            )));
        }
    };
    match &result {
        Ok(summary) => {
            let state = if summary.complete { RunState::Done } else { RunState::Failed };
            let recorded = serde_json::to_value(summary).unwrap_or_default();
            store.update_run(run, state, &recorded, None, None).await?;
        }
        Err(e) => {
            store.update_run(run, RunState::Failed, &json!({"error": e.to_string()}), None, None).await?;
        }
    }
    result
}

/// How long a run's lock holds without renewal (renewed every third of it while the run works).
/// A holder on the same host that has ended is noticed at once, whatever the lease.
const RUN_LEASE: Duration = Duration::from_secs(180);

/// This process, as a run lock names its holder: host and process id.
fn run_holder() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Whether the process holding a run lock has ended: known only for a holder on this host (its
/// process id is gone); elsewhere the lease decides.
fn holder_is_gone(holder: &str) -> bool {
    match holder.rsplit_once(':') {
        Some((host, pid)) if host == host_name() && !host.is_empty() => {
            pid.parse::<u32>().is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        }
        _ => false,
    }
}

async fn read_and_apply(
    store: &dyn store::Database,
    source: &store::Source,
    env: &PullEnv,
    mode: ReadMode,
    progress: &dyn Progress,
) -> Result<sync::PullSummary, Error> {
    let name = &source.name;
    let settings = store.pull(name).await?.ok_or_else(|| Error::not_pull(name))?;
    let (pull, connector) = connector_of(&settings, name, env)?;
    let full_due = settings.last_full.map(store::Time::timestamp).is_none_or(|last| {
        pull.full_every().is_ok_and(|every| jiff::Timestamp::now() >= last.saturating_add(every).unwrap_or(last))
    });
    let mut notes = Vec::new();
    if let (Some(cursor), false, ReadMode::Auto) = (&settings.cursor, full_due, mode) {
        progress.report(Phase::ReadingChanges, 0);
        let changes = connector.read_changes(cursor).await;
        if changes.restart {
            notes.push(format!(
                "the provider no longer knows where the last run stopped ({}); everything was read",
                changes.problems.join("; ")
            ));
        } else {
            progress.report(Phase::StoringChanges { users: changes.users.len(), groups: changes.groups.len() }, 0);
            let next = changes.cursor.clone();
            let complete = changes.complete;
            let summary = sync::apply_changes(store, source, changes).await?;
            if complete {
                store.set_pull_cursor(name, next.as_deref(), false).await?;
            }
            return Ok(summary);
        }
    }
    // Users are written as they arrive, so a run holds a page of a large directory, not all of it.
    let mut writer = sync::UserWriter::new(store, source).await?;
    let (sink, arriving) = tokio::sync::mpsc::channel(1000);
    let write = async {
        // Owned here, so a failed write closes the channel and the read stops instead of waiting.
        let mut arriving = arriving;
        progress.report(Phase::Reading, 0);
        let mut stored = 0u64;
        while let Some(user) = arriving.recv().await {
            writer.write(store, source, user).await?;
            stored += 1;
            if stored.is_multiple_of(100) {
                progress.report(Phase::Reading, stored);
            }
        }
        Ok::<_, store::StoreError>(stored)
    };
    let (snapshot, written) = tokio::join!(connector.read_streaming(sink), write);
    let stored = written?;
    let (cursor, complete) = (snapshot.cursor.clone(), snapshot.complete);
    progress.report(Phase::StoringGroups { groups: snapshot.groups.len() }, stored);
    let mut summary = writer.finish(store, source, snapshot).await?;
    if complete {
        store.set_pull_cursor(name, cursor.as_deref(), true).await?;
    }
    summary.problems.extend(notes);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use store::Store;

    use super::*;

    #[tokio::test]
    async fn invalid_settings_save_nothing_and_an_edit_reads_everything_next() {
        let (dir, store) = crate::scratch_store().await;
        let env = PullEnv { data_dir: dir.path().into(), timeout: Duration::from_secs(2) };
        let token = rest::Credentials::Bearer { token: "t".into() };
        let mut pull = PullConfig {
            connector: sources::SourceConfig::Scim { url: "http://127.0.0.1:9/scim/v2".into() },
            schedule: Some("every now and then".into()),
            timezone: None,
            full_every: None,
            max_rate: None,
        };
        assert!(matches!(add(&store, &env, "hr", &pull, token.clone(), false).await, Err(Error::Invalid(_))));
        pull.schedule = None;
        pull.max_rate = Some(0.0);
        assert!(matches!(add(&store, &env, "hr", &pull, token.clone(), false).await, Err(Error::Invalid(_))));
        assert!(store.source("hr").await.unwrap().is_none(), "nothing was saved");
        pull.max_rate = None;
        let unreachable = add(&store, &env, "hr", &pull, token.clone(), true).await.unwrap();
        assert!(!unreachable.saved && store.source("hr").await.unwrap().is_none());

        assert!(add(&store, &env, "hr", &pull, token, false).await.unwrap().saved);
        store.set_pull_cursor("hr", Some("delta-1"), true).await.unwrap();
        pull.max_rate = Some(5.0);
        assert!(edit(&store, &env, "hr", &pull, None, false).await.unwrap().saved);
        assert_eq!(settings(&store, "hr").await.unwrap().max_rate, Some(5.0));
        assert_eq!(store.pull("hr").await.unwrap().unwrap().cursor, None, "the next run reads everything");
        assert!(stored_connector(&store, "hr", &env).await.is_ok(), "the credentials were sealed again");

        let hourly = set_schedule(&store, "hr", Some("hourly".into()), None, None).await.unwrap();
        assert!(hourly.is_some());
        assert!(set_schedule(&store, "hr", Some("sometimes".into()), None, None).await.is_err());
        assert_eq!(
            settings(&store, "hr").await.unwrap().schedule.as_deref(),
            Some("hourly"),
            "a bad one changes nothing"
        );
    }
}
