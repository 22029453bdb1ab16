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
    outcome: String,
    held: bool,
    reason: Option<String>,
}

fn run_row(r: &api_types::Run) -> RunRow {
    RunRow {
        id: r.id,
        kind: r.kind.as_str().to_string(),
        target: r.target.clone(),
        state: r.state.as_str().to_string(),
        started: r.started.clone(),
        finished: r.finished.clone().unwrap_or_else(|| "—".into()),
        outcome: app::runs::describe(r.kind, &r.summary),
        held: r.state == api_types::RunState::Held,
        reason: r.hold_reason.clone(),
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    stylesheet: &'static str,
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
        stylesheet: &assets::STYLESHEET_PATH,
        signed_in: Some(signed.administrator),
        runs: runs.iter().map(run_row).collect(),
        next: next.flatten(),
    })
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    stylesheet: &'static str,
    signed_in: Option<String>,
    run: RunRow,
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
        stylesheet: &assets::STYLESHEET_PATH,
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

#[derive(Deserialize)]
pub(super) struct Decision {
    decision: String,
    password: Option<String>,
}

/// Approve (the password again, unless given in the last few minutes) or reject a held run.
pub(super) async fn decide(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Path(id): Path<i64>,
    Form(form): Form<Decision>,
) -> Response {
    let object = format!("run/{id}");
    match form.decision.as_str() {
        "approve" => {
            if !signed.recently_authenticated {
                let password = form.password.unwrap_or_default();
                if let Err(e) = app::administrators::reauthenticate(
                    &*s.db,
                    &s.throttle,
                    &signed,
                    &password,
                    &peer,
                    Timestamp::now(),
                )
                .await
                {
                    let problem = match e {
                        app::Error::Unauthenticated(_) => "the password is wrong; nothing was approved".to_string(),
                        other => format!("{other}; nothing was approved"),
                    };
                    return run_view(&s, signed, id, None, Some(problem)).await;
                }
            }
            match app::runs::approve(&s.engine, id).await {
                Ok(approved) => {
                    let after = serde_json::json!({"applied": approved.applied, "failed": approved.failed});
                    audited(&s, &signed, "run.approve", &object, None, Some(after)).await;
                    let notice = format!("approved: {} applied, {} failed", approved.applied, approved.failed);
                    run_view(&s, signed, id, Some(notice), None).await
                }
                Err(e) => run_view(&s, signed, id, None, Some(e.to_string())).await,
            }
        }
        "reject" => match app::runs::reject(&s.engine, id).await {
            Ok(()) => {
                audited(&s, &signed, "run.reject", &object, None, Some(serde_json::json!({}))).await;
                run_view(&s, signed, id, Some("rejected: nothing was deactivated or deleted".into()), None).await
            }
            Err(e) => run_view(&s, signed, id, None, Some(e.to_string())).await,
        },
        other => run_view(&s, signed, id, None, Some(format!("'{other}' is not a decision"))).await,
    }
}
