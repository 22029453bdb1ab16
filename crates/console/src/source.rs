//! One source: what it holds and how it is read, and what an administrator does with it —
//! synchronize now, preview a read, test, search a user, schedule, pause, rotate its token,
//! delete it. (Changing a pull source's settings is with the per-provider forms, in `sources`.)

use super::*;

/// A pull source's reading, as the page shows it.
struct Reading {
    connector: String,
    schedule: String,
    timezone: String,
    full_every: String,
    paused: bool,
    next_runs: Vec<String>,
    last_run: Option<(i64, String)>,
}

fn reading(pull: &serde_json::Value) -> Reading {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let connector = pull["connector"]
        .as_object()
        .map(|c| {
            c.iter()
                .filter(|(k, _)| *k != "kind")
                .map(|(k, v)| format!("{k}: {}", shown(v)))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default();
    Reading {
        connector,
        schedule: text(&pull["schedule"]),
        timezone: text(&pull["timezone"]),
        full_every: text(&pull["full_every"]),
        paused: pull["paused"] == true,
        next_runs: serde_json::from_value(pull["next_runs"].clone()).unwrap_or_default(),
        last_run: pull["last_run"]["id"].as_i64().map(|id| (id, text(&pull["last_run"]["state"]))),
    }
}

/// What a search for one user found.
struct Found {
    user: String,
    raw: Vec<(String, String)>,
    mapped: Vec<(String, String)>,
    groups: Vec<String>,
}

fn attributes(value: &serde_json::Value) -> Vec<(String, String)> {
    value.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), shown(v))).collect()).unwrap_or_default()
}

/// What one action on the page came to.
#[derive(Default)]
pub(super) struct Outcome {
    notice: Option<String>,
    problem: Option<String>,
    checks: Vec<CheckRow>,
    found: Option<Found>,
    /// A new token, shown this once.
    token: Option<String>,
}

impl Outcome {
    fn notice(text: impl Into<String>) -> Self {
        Outcome { notice: Some(text.into()), ..Outcome::default() }
    }

    fn problem(text: impl Into<String>) -> Self {
        Outcome { problem: Some(text.into()), ..Outcome::default() }
    }
}

#[derive(Template)]
#[template(path = "source.html")]
struct SourcePage {
    signed_in: Option<String>,
    source: api_types::Source,
    tokens: Vec<api_types::SourceToken>,
    reading: Option<Reading>,
    managed: Vec<(String, u64)>,
    /// The targets it feeds, and those it could.
    bound: Vec<String>,
    unbound: Vec<String>,
    recent: bool,
    notice: Option<String>,
    problem: Option<String>,
    checks: Vec<CheckRow>,
    found: Option<Found>,
    token: Option<String>,
}

async fn source_view(s: &ConsoleState, signed: Signed, name: &str, outcome: Outcome) -> Response {
    let detail = match app::sources::detail(&*s.db, &s.root, name).await {
        Ok(detail) => detail,
        Err(app::Error::Missing { message, .. }) => return (StatusCode::NOT_FOUND, message).into_response(),
        Err(e) => return failure(&e),
    };
    let managed = match s.db.managed_by_source(name).await {
        Ok(managed) => managed,
        Err(e) => return failure(&e.into()),
    };
    let (bindings, targets) = match (app::bindings::list(&*s.db).await, app::targets::overview(&*s.db).await) {
        (Ok(bindings), Ok(targets)) => (bindings, targets),
        (Err(e), _) | (_, Err(e)) => return failure(&e),
    };
    let bound: Vec<String> = bindings.into_iter().filter(|b| b.source == name).map(|b| b.target).collect();
    let unbound = targets.into_iter().map(|t| t.name).filter(|t| !bound.contains(t)).collect();
    page(&SourcePage {
        signed_in: Some(signed.administrator.clone()),
        recent: signed.recently_authenticated,
        source: detail.source,
        tokens: detail.tokens,
        reading: detail.pull.as_ref().map(reading),
        managed,
        bound,
        unbound,
        notice: outcome.notice,
        problem: outcome.problem,
        checks: outcome.checks,
        found: outcome.found,
        token: outcome.token,
    })
}

/// The source's page with what an action elsewhere refused.
pub(super) async fn source_said(s: &ConsoleState, signed: Signed, name: &str, problem: String) -> Response {
    source_view(s, signed, name, Outcome::problem(problem)).await
}

pub(super) async fn source_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
    source_view(&s, signed, &name, Outcome::default()).await
}

#[derive(Deserialize)]
pub(super) struct SyncForm {
    #[serde(default)]
    full: Option<String>,
}

/// Starts a read of a pull source and leads to its run, which shows the progress as it goes.
pub(super) async fn synchronize(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Form(form): Form<SyncForm>,
) -> Response {
    let mode = if form.full.is_some() { app::pull::ReadMode::Full } else { app::pull::ReadMode::Auto };
    match s.tasks.start_pull(s.db.clone(), s.pull_env.clone(), &name, mode, None, s.shutdown.clone()).await {
        Ok(started) => {
            let after = serde_json::json!({"run": started.run, "full": form.full.is_some()});
            audited(&s, &signed, "source.sync", &format!("source/{name}"), None, Some(after)).await;
            Redirect::to(&format!("/ui/runs/{}", started.run)).into_response()
        }
        Err(e) if is_refusal(&e) => source_view(&s, signed, &name, Outcome::problem(e.to_string())).await,
        Err(e) => failure(&e),
    }
}

pub(super) async fn test_source(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
    let outcome = match app::pull::test(&*s.db, &s.pull_env, &name).await {
        Ok(checks) => Outcome { checks: check_rows(app::checks(checks)), ..Outcome::default() },
        Err(e) => Outcome::problem(e.to_string()),
    };
    source_view(&s, signed, &name, outcome).await
}

#[derive(Deserialize)]
pub(super) struct LookupQuery {
    #[serde(default)]
    user: String,
}

/// Every attribute the provider returns for one user, and what idsync makes of it.
pub(super) async fn lookup(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Query(query): Query<LookupQuery>,
) -> Response {
    let user = query.user.trim().to_string();
    if user.is_empty() {
        return source_view(&s, signed, &name, Outcome::problem("give a user name or id to search for")).await;
    }
    let outcome = match app::pull::lookup(&*s.db, &s.pull_env, &name, &user).await {
        Ok(found) => Outcome {
            found: Some(Found {
                user,
                raw: attributes(&found.raw),
                mapped: attributes(&found.mapped),
                groups: found.groups,
            }),
            ..Outcome::default()
        },
        Err(e) => Outcome::problem(e.to_string()),
    };
    source_view(&s, signed, &name, outcome).await
}

#[derive(Deserialize)]
pub(super) struct ScheduleForm {
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    full_every: String,
}

fn given(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

pub(super) async fn set_schedule(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Response {
    let schedule = given(&form.schedule).filter(|s| s != "off");
    let timezone = given(&form.timezone);
    let full_every = given(&form.full_every);
    let after = serde_json::json!({"schedule": schedule, "timezone": timezone, "full_every": full_every});
    let outcome = match app::pull::set_schedule(&*s.db, &name, schedule.clone(), timezone, full_every).await {
        Ok(_) => {
            audited(&s, &signed, "source.schedule", &format!("source/{name}"), None, Some(after)).await;
            Outcome::notice(match schedule {
                Some(text) => format!("schedule saved: {text}"),
                None => "schedule removed: the source is read only when asked".to_string(),
            })
        }
        Err(e) => Outcome::problem(e.to_string()),
    };
    source_view(&s, signed, &name, outcome).await
}

#[derive(Template)]
#[template(path = "next_runs.html")]
struct NextRuns {
    times: Vec<String>,
    problem: Option<String>,
}

/// The next five runs of a schedule being typed, before it is saved.
pub(super) async fn schedule_preview(SignedIn(_): SignedIn, Query(form): Query<ScheduleForm>) -> Response {
    let rendered = match given(&form.schedule).filter(|s| s != "off") {
        None => NextRuns { times: Vec::new(), problem: None },
        Some(text) => {
            match app::schedule::upcoming(&text, given(&form.timezone).as_deref(), None, Timestamp::now(), 5) {
                Ok(times) => NextRuns { times, problem: None },
                Err(e) => NextRuns { times: Vec::new(), problem: Some(e.to_string()) },
            }
        }
    };
    page(&rendered)
}

#[derive(Deserialize)]
pub(super) struct PauseForm {
    paused: bool,
}

pub(super) async fn pause(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Form(form): Form<PauseForm>,
) -> Response {
    let outcome = match app::pull::set_paused(&*s.db, &name, form.paused).await {
        Ok(()) => {
            let action = if form.paused { "source.pause" } else { "source.resume" };
            let after = serde_json::json!({"paused": form.paused});
            audited(&s, &signed, action, &format!("source/{name}"), None, Some(after)).await;
            Outcome::notice(if form.paused {
                "paused: no scheduled runs until resumed (Synchronize now still reads it)"
            } else {
                "resumed: scheduled runs go on"
            })
        }
        Err(e) => Outcome::problem(e.to_string()),
    };
    source_view(&s, signed, &name, outcome).await
}

#[derive(Deserialize)]
pub(super) struct RotateForm {
    #[serde(default)]
    grace_minutes: u64,
}

/// A new SCIM token; the old one keeps working for the grace period, so the provider can be
/// given the new one without a gap.
pub(super) async fn rotate(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Form(form): Form<RotateForm>,
) -> Response {
    let outcome =
        match app::sources::rotate_token(&*s.db, &s.auth_cache, &name, form.grace_minutes.saturating_mul(60)).await {
            Ok(token) => {
                let after = serde_json::json!({"token": app::audit::CHANGED, "grace_seconds": form.grace_minutes * 60});
                audited(&s, &signed, "source.token.rotate", &format!("source/{name}"), None, Some(after)).await;
                let notice = match form.grace_minutes {
                    0 => "new token issued; the old one no longer opens the source".to_string(),
                    m => format!("new token issued; the old one keeps working for {m} minutes"),
                };
                Outcome { notice: Some(notice), token: Some(token), ..Outcome::default() }
            }
            Err(e) => Outcome::problem(e.to_string()),
        };
    source_view(&s, signed, &name, outcome).await
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    password: Option<String>,
    #[serde(default)]
    purge: Option<String>,
}

/// Deletes a source (the password again): the accounts it manages stay in the targets as they
/// are, unmanaged; with `purge`, the users and groups it holds go with it.
pub(super) async fn delete(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    if let Err(problem) = confirm(&s, &signed, &peer, form.password.as_deref(), "nothing was deleted").await {
        return source_view(&s, signed, &name, Outcome::problem(problem)).await;
    }
    let purge = form.purge.is_some();
    match app::sources::remove(&*s.db, &s.auth_cache, &name, app::sources::Removal::Release, purge).await {
        Ok(app::sources::Removed::Done { released, bindings }) => {
            let after = serde_json::json!({"purge": purge, "released": released, "bindings": bindings});
            audited(
                &s,
                &signed,
                "source.remove",
                &format!("source/{name}"),
                Some(serde_json::json!({"name": name})),
                Some(after),
            )
            .await;
            let released: u64 = released.iter().map(|(_, n)| n).sum();
            let notice = format!(
                "source {name} deleted with {} bindings; {released} accounts it managed stay in their targets, unmanaged",
                bindings.len()
            );
            sources_said(&s, signed, Some(notice)).await
        }
        Ok(app::sources::Removed::StillHolds(held)) => {
            let problem = format!(
                "source {name} still holds {held} users and groups; tick \"delete what it holds\" to delete them with it. Nothing was deleted."
            );
            source_view(&s, signed, &name, Outcome::problem(problem)).await
        }
        Ok(app::sources::Removed::StillManages(managed)) => {
            let accounts: u64 = managed.iter().map(|(_, n)| n).sum();
            let problem = format!("source {name} still manages {accounts} accounts; nothing was deleted");
            source_view(&s, signed, &name, Outcome::problem(problem)).await
        }
        Err(e) if is_refusal(&e) => source_view(&s, signed, &name, Outcome::problem(e.to_string())).await,
        Err(e) => failure(&e),
    }
}

#[derive(Template)]
#[template(path = "pull_preview.html")]
struct PullPreviewView {
    problem: Option<String>,
    /// What the read would change in idsync's copy of the source, in words.
    source: String,
    /// Each bound target with its plan, rendered.
    targets: Vec<(String, String)>,
}

/// Reads the source in full now and shows what its next run would change, here and in every
/// bound target, saving nothing.
pub(super) async fn preview_read(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Path(name): Path<String>,
) -> Response {
    let view = match app::pull::preview(&*s.db, &s.engine, &s.pull_env, &name).await {
        Ok(preview) => PullPreviewView {
            problem: None,
            source: app::runs::describe(api_types::RunKind::Pull, &preview.source),
            targets: preview
                .targets
                .iter()
                .map(|plan| {
                    let html = PlanView::of_plan(plan, "").render().unwrap_or_default();
                    (plan.target.clone(), html)
                })
                .collect(),
        },
        Err(e) => PullPreviewView { problem: Some(e.to_string()), source: String::new(), targets: Vec::new() },
    };
    page(&view)
}
