//! One target: its health and what idsync owes it, the connection checks, a preview of a full
//! sync grouped by action and the sync itself, what idsync leaves alone there, a new address or
//! token (checked first), and deleting it with the password again.

use super::*;

#[derive(Template)]
#[template(path = "target.html")]
struct TargetPage {
    signed_in: Option<String>,
    target: api_types::TargetDetail,
    recent: bool,
    checks: Vec<CheckRow>,
    notice: Option<String>,
    problem: Option<String>,
}

#[derive(Default)]
pub(super) struct TargetSaid {
    checks: Vec<api_types::Check>,
    notice: Option<String>,
    problem: Option<String>,
}

impl TargetSaid {
    fn problem(text: impl Into<String>) -> Self {
        TargetSaid { problem: Some(text.into()), ..TargetSaid::default() }
    }
}

pub(super) async fn target_view(s: &ConsoleState, signed: Signed, name: &str, said: TargetSaid) -> Response {
    let target = match app::targets::detail(&*s.db, &s.connector, name).await {
        Ok(target) => target,
        Err(app::Error::Missing { message, .. }) => return (StatusCode::NOT_FOUND, message).into_response(),
        Err(e) => return failure(&e),
    };
    page(&TargetPage {
        recent: signed.recently_authenticated,
        signed_in: Some(signed.administrator),
        target,
        checks: check_rows(said.checks),
        notice: said.notice,
        problem: said.problem,
    })
}

pub(super) async fn target_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
    target_view(&s, signed, &name, TargetSaid::default()).await
}

pub(super) async fn test_target(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
    let said = match app::targets::test(&*s.db, &s.connector, &name).await {
        Ok(checks) => TargetSaid { checks: app::checks(checks), ..TargetSaid::default() },
        Err(e) => TargetSaid::problem(e.to_string()),
    };
    target_view(&s, signed, &name, said).await
}

#[derive(Deserialize)]
pub(super) struct PreviewForm {
    #[serde(default)]
    only: String,
}

/// What a full sync would do now, grouped by action; nothing changes but the dry run's record.
pub(super) async fn preview_target(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Path(name): Path<String>,
    Form(form): Form<PreviewForm>,
) -> Response {
    let view = match s.engine.full_sync(&name, true).await {
        Ok(report) => PlanView::of(&report, &form.only),
        Err(e) => PlanView::failed(app::Error::from(e).to_string()),
    };
    page(&view)
}

/// Starts a full sync in the background and leads to its run.
pub(super) async fn synchronize_target(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
    match s.tasks.start_reconcile(s.engine.clone(), s.db.clone(), &name, false, None).await {
        Ok(started) => {
            let after = serde_json::json!({"run": started.run});
            audited(&s, &signed, "target.sync", &format!("target/{name}"), None, Some(after)).await;
            Redirect::to(&format!("/ui/runs/{}", started.run)).into_response()
        }
        Err(e) => target_view(&s, signed, &name, TargetSaid::problem(e.to_string())).await,
    }
}

#[derive(Template)]
#[template(path = "unmanaged.html")]
struct UnmanagedView {
    unmanaged: Option<api_types::Unmanaged>,
    problem: Option<String>,
}

/// What idsync sees in the target and never touches (asks the target).
pub(super) async fn unmanaged(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Path(name): Path<String>,
) -> Response {
    page(&match app::targets::unmanaged(&*s.db, &s.connector, &name).await {
        Ok(unmanaged) => UnmanagedView { unmanaged: Some(unmanaged), problem: None },
        Err(e) => UnmanagedView { unmanaged: None, problem: Some(e.to_string()) },
    })
}

#[derive(Deserialize)]
pub(super) struct EditForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    token: String,
}

/// A new address and/or token, checked before anything is saved.
pub(super) async fn edit_target(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let url = Some(form.url.trim().to_string()).filter(|u| !u.is_empty());
    let token = Some(form.token.trim().to_string()).filter(|t| !t.is_empty());
    let credentials = match token
        .map(|token| app::targets::credentials(api_types::Credentials::Bearer { token: api_types::Secret::new(token) }))
        .transpose()
    {
        Ok(credentials) => credentials,
        Err(e) => {
            return target_view(&s, signed, &name, TargetSaid::problem(e.to_string())).await;
        }
    };
    let changed_token = credentials.is_some();
    let said = match app::targets::change(&*s.db, &s.connector, &name, url.clone(), credentials, true).await {
        Ok(checked) if checked.saved => {
            let after = serde_json::json!({"url": url, "credentials": changed_token.then_some(app::audit::CHANGED)});
            audited(&s, &signed, "target.change", &format!("target/{name}"), None, Some(after)).await;
            TargetSaid {
                checks: app::checks(checked.checks),
                notice: Some(format!("target {name} changed")),
                ..TargetSaid::default()
            }
        }
        Ok(checked) => TargetSaid {
            checks: app::checks(checked.checks),
            problem: Some("a check failed, so nothing was changed; fix what it says and try again".into()),
            ..TargetSaid::default()
        },
        Err(e) => TargetSaid { problem: Some(format!("{e}; nothing was changed")), ..TargetSaid::default() },
    };
    target_view(&s, signed, &name, said).await
}

#[derive(Deserialize)]
pub(super) struct DeleteTargetForm {
    password: Option<String>,
}

/// Deletes a target with its bindings (the password again); nothing changes in the application.
pub(super) async fn delete_target(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Path(name): Path<String>,
    Form(form): Form<DeleteTargetForm>,
) -> Response {
    if let Err(problem) = confirm(&s, &signed, &peer, form.password.as_deref(), "nothing was deleted").await {
        return target_view(&s, signed, &name, TargetSaid::problem(problem)).await;
    }
    match app::targets::remove(&*s.db, &name).await {
        Ok(bindings) => {
            let object = format!("target/{name}");
            let after = serde_json::json!({"bindings": bindings});
            audited(&s, &signed, "target.remove", &object, Some(serde_json::json!({"name": name})), Some(after)).await;
            let notice = format!(
                "target {name} deleted with {} bindings; nothing changed in the application itself",
                bindings.len()
            );
            targets_said(&s, signed, notice).await
        }
        Err(e) if is_refusal(&e) => target_view(&s, signed, &name, TargetSaid::problem(e.to_string())).await,
        Err(e) => failure(&e),
    }
}
