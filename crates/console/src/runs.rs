//! Runs, and the decision on a held one.

use super::*;

/// A run as the pages show it.
struct RunRow {
    id: i64,
    kind: String,
    target: String,
    state: String,
    started: String,
    finished: String,
    /// How long it took, or has been going.
    took: String,
    outcome: String,
    /// What went wrong, record by record (each refused record named).
    problems: Vec<String>,
    held: bool,
    reason: Option<String>,
}

/// A run's duration in words: seconds to the tenth under a minute, else minutes and seconds.
fn took(started: &str, finished: Option<&str>) -> String {
    let Ok(start) = started.parse::<Timestamp>() else { return String::new() };
    let end = finished.and_then(|f| f.parse::<Timestamp>().ok()).unwrap_or_else(Timestamp::now);
    let seconds = end.duration_since(start).as_secs_f64().max(0.0);
    let going = if finished.is_none() { " so far" } else { "" };
    if seconds < 60.0 {
        format!("{seconds:.1} s{going}")
    } else {
        format!("{} min {:02.0} s{going}", (seconds / 60.0).floor(), seconds % 60.0)
    }
}

fn run_row(r: &api_types::Run) -> RunRow {
    RunRow {
        id: r.id,
        kind: r.kind.as_str().to_string(),
        target: r.target.clone(),
        state: r.state.as_str().to_string(),
        started: r.started.clone(),
        finished: r.finished.clone().unwrap_or_else(|| "—".into()),
        took: took(&r.started, r.finished.as_deref()),
        outcome: app::runs::describe(r.kind, &r.summary),
        problems: r.summary["problems"]
            .as_array()
            .map(|p| p.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        held: r.state == api_types::RunState::Held,
        reason: r.hold_reason.clone(),
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    signed_in: Option<String>,
    runs: Vec<RunRow>,
    next: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Older {
    after: Option<i64>,
}

const RUNS_PER_PAGE: u32 = 50;

pub(super) async fn runs_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(older): Query<Older>,
) -> Response {
    let mut runs = match app::runs::list(&*s.db, None, older.after, RUNS_PER_PAGE + 1).await {
        Ok(runs) => runs,
        Err(e) => return failure(&e),
    };
    let next = (runs.len() > RUNS_PER_PAGE as usize).then(|| {
        runs.truncate(RUNS_PER_PAGE as usize);
        runs.last().map(|r| r.id)
    });
    page(&RunsPage {
        signed_in: Some(signed.administrator),
        runs: runs.iter().map(run_row).collect(),
        next: next.flatten(),
    })
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    signed_in: Option<String>,
    run: RunRow,
    /// How the run is getting on, while this server carries it on.
    live: Option<Progress>,
    held: Vec<app::runs::HeldOperation>,
    /// Whether the password was given recently enough to approve without giving it again.
    recent: bool,
    notice: Option<String>,
    problem: Option<String>,
}

async fn run_view(
    s: &ConsoleState,
    signed: Signed,
    id: i64,
    notice: Option<String>,
    problem: Option<String>,
) -> Response {
    let run = match app::runs::show(&*s.db, &s.tasks, id).await {
        Ok(run) => run,
        Err(app::Error::Missing { message, .. }) => return (StatusCode::NOT_FOUND, message).into_response(),
        Err(e) => return failure(&e),
    };
    let held = if run.state == api_types::RunState::Held { app::runs::held_operations(&run) } else { Vec::new() };
    page(&RunPage {
        live: run.progress.as_ref().map(|p| Progress::going(p, None)),
        recent: signed.recently_authenticated,
        signed_in: Some(signed.administrator),
        run: run_row(&run),
        held,
        notice,
        problem,
    })
}

pub(super) async fn run_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    run_view(&s, signed, id, None, None).await
}

/// Approve all (the password again, unless given in the last few minutes), approve the users
/// ticked (the rest stay held), or reject a held run. The form comes as pairs, since every ticked
/// user is one `user` field (`<source>/<id in the source>`).
pub(super) async fn decide(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let object = format!("run/{id}");
    let field = |name: &str| first(&form, name);
    let chosen: Vec<api_types::HeldUser> = every(&form, "user")
        .filter_map(|v| v.split_once('/'))
        .map(|(source, id)| api_types::HeldUser { source: source.to_string(), id: id.to_string() })
        .collect();
    let users = match field("decision") {
        Some("approve") => None,
        Some("approve-selected") => Some(chosen.as_slice()),
        Some("reject") => {
            return match app::runs::reject(&s.engine, id).await {
                Ok(()) => {
                    audited(&s, &signed, "run.reject", &object, None, Some(serde_json::json!({}))).await;
                    run_view(&s, signed, id, Some("rejected: nothing was deactivated or deleted".into()), None).await
                }
                Err(e) => run_view(&s, signed, id, None, Some(e.to_string())).await,
            };
        }
        other => {
            let problem = format!("'{}' is not a decision", other.unwrap_or_default());
            return run_view(&s, signed, id, None, Some(problem)).await;
        }
    };
    if let Err(problem) = confirm(&s, &signed, &peer, field("password"), "nothing was approved").await {
        return run_view(&s, signed, id, None, Some(problem)).await;
    }
    match app::runs::approve(&s.engine, id, users).await {
        Ok(approved) => {
            let after = serde_json::json!({"applied": approved.applied, "failed": approved.failed, "users": users});
            audited(&s, &signed, "run.approve", &object, None, Some(after)).await;
            let mut notice = format!("approved: {} applied, {} failed", approved.applied, approved.failed);
            if let Some(reason) = approved.hold_reason {
                notice.push_str(&format!("; {reason}"));
            }
            run_view(&s, signed, id, Some(notice), None).await
        }
        Err(e) => run_view(&s, signed, id, None, Some(e.to_string())).await,
    }
}

/// A run's progress as the live part of its page shows it: going on, or how it ended.
#[derive(Template)]
#[template(path = "progress.html")]
struct Progress {
    id: i64,
    message: String,
    users_read: u64,
    requests: u64,
    elapsed: String,
    /// Done so far, from 0 to 1, when there is an estimate.
    fraction: Option<f64>,
    eta: Option<String>,
    /// Set once the run ended.
    ended: Option<RunRow>,
}

impl Progress {
    fn going(p: &api_types::RunProgress, ended: Option<RunRow>) -> Self {
        Progress {
            id: p.run,
            message: p.message.clone(),
            users_read: p.users_read,
            requests: p.requests,
            elapsed: format!("{:.0} s", p.elapsed_seconds),
            fraction: p
                .eta_seconds
                .map(|eta| p.elapsed_seconds / (p.elapsed_seconds + eta).max(f64::EPSILON))
                .map(|f| (f * 100.0).round() / 100.0),
            eta: p.eta_seconds.map(|eta| format!("about {eta:.0} s to go")),
            ended,
        }
    }
}

/// The live part of a run's page, for the page to show instead of what it had.
async fn progress_now(s: &ConsoleState, p: &api_types::RunProgress) -> Result<Progress, app::Error> {
    if p.state.is_none() {
        return Ok(Progress::going(p, None));
    }
    let run = app::runs::show(&*s.db, &s.tasks, p.run).await?;
    Ok(Progress::going(p, Some(run_row(&run))))
}

fn fragment(template: &Progress) -> String {
    template.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the progress of a run failed to render");
        "<p class=\"problem\">The progress cannot be shown; reload the page.</p>".to_string()
    })
}

/// The run's progress as server-sent events of HTML: the state at once, then every change; the
/// last `progress` event says how it ended, and a `finished` event (with data, or browsers drop
/// it) closes the stream.
pub(super) async fn progress_events(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures_util::StreamExt;
    let follow = match app::runs::follow(&*s.db, &s.tasks, id).await {
        Ok(follow) => follow,
        Err(app::Error::Missing { message, .. }) => return (StatusCode::NOT_FOUND, message).into_response(),
        Err(e) => return failure(&e),
    };
    let events = follow.then(move |p| {
        let s = s.clone();
        async move {
            let html = match progress_now(&s, &p).await {
                Ok(progress) => fragment(&progress),
                Err(e) => {
                    tracing::warn!(run = p.run, error = %e, "a run's progress could not be read");
                    "<p class=\"problem\">idsync could not read how the run ended; reload the page.</p>".to_string()
                }
            };
            let mut events = vec![Ok::<_, std::convert::Infallible>(Event::default().event("progress").data(html))];
            if p.state.is_some() {
                events.push(Ok(Event::default().event("finished").data("done")));
            }
            futures_util::stream::iter(events)
        }
    });
    Sse::new(events.flatten()).keep_alive(KeepAlive::default()).into_response()
}

/// The same as one event, for a page whose browser cannot follow events (it asks every few
/// seconds instead).
pub(super) async fn progress_fragment(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    let run = match app::runs::show(&*s.db, &s.tasks, id).await {
        Ok(run) => run,
        Err(app::Error::Missing { message, .. }) => return (StatusCode::NOT_FOUND, message).into_response(),
        Err(e) => return failure(&e),
    };
    let progress = match &run.progress {
        Some(p) => Progress::going(p, None),
        None => {
            let last = app::runs::ended(&run);
            Progress::going(&last, Some(run_row(&run)))
        }
    };
    Html(fragment(&progress)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_reads_in_seconds_then_minutes() {
        assert_eq!(took("2026-12-01T10:00:00.000Z", Some("2026-12-01T10:00:02.340Z")), "2.3 s");
        assert_eq!(took("2026-12-01T10:00:00.000Z", Some("2026-12-01T10:03:05.000Z")), "3 min 05 s");
        assert!(took("2026-12-01T10:00:00.000Z", None).ends_with("so far"));
        assert_eq!(took("not a time", None), "");
    }
}
