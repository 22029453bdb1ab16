//! Targets: the list with their health, and adding one checked first.

use super::*;

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    signed_in: Option<String>,
    targets: Vec<api_types::Target>,
    checks: Vec<CheckRow>,
    kind: String,
    name: String,
    url: String,
    notice: Option<String>,
    problem: Option<String>,
    next: Option<String>,
}

/// What the targets page shows besides the list: a check's findings, a draft, what happened.
#[derive(Default)]
struct TargetsSaid {
    checks: Vec<api_types::Check>,
    kind: String,
    name: String,
    url: String,
    notice: Option<String>,
    problem: Option<String>,
    after: Option<String>,
}

async fn targets_view(s: &ConsoleState, signed: Signed, said: TargetsSaid) -> Response {
    let targets = match app::targets::overview(&*s.db).await {
        Ok(targets) => targets,
        Err(e) => return failure(&e),
    };
    let (targets, next) = page_of(targets, said.after.as_deref(), |t| t.name.as_str());
    page(&TargetsPage {
        signed_in: Some(signed.administrator),
        targets,
        checks: check_rows(said.checks),
        kind: said.kind,
        name: said.name,
        url: said.url,
        notice: said.notice,
        problem: said.problem,
        next,
    })
}

pub(super) async fn targets_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(after): Query<After>,
) -> Response {
    targets_view(&s, signed, TargetsSaid { after: after.after, ..TargetsSaid::default() }).await
}

/// The list of targets with what an action elsewhere came to.
pub(super) async fn targets_said(s: &ConsoleState, signed: Signed, notice: String) -> Response {
    targets_view(s, signed, TargetsSaid { notice: Some(notice), ..TargetsSaid::default() }).await
}

#[derive(Deserialize)]
pub(super) struct NewTargetForm {
    kind: String,
    name: String,
    url: String,
    token: String,
}

/// Checks a target and saves it only when every check passes.
pub(super) async fn add_target(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Form(form): Form<NewTargetForm>,
) -> Response {
    let draft = |problem: String| TargetsSaid {
        kind: form.kind.clone(),
        name: form.name.clone(),
        url: form.url.clone(),
        problem: Some(problem),
        ..TargetsSaid::default()
    };
    let kind = match app::targets::kind(&form.kind) {
        Ok(kind) => kind,
        Err(e) => return targets_view(&s, signed, draft(e.to_string())).await,
    };
    let credentials = match app::targets::credentials(api_types::Credentials::Bearer {
        token: api_types::Secret::new(form.token.trim()),
    }) {
        Ok(credentials) => credentials,
        Err(e) => return targets_view(&s, signed, draft(e.to_string())).await,
    };
    let new = app::targets::NewTarget { name: form.name.clone(), kind, url: form.url.clone(), credentials };
    match app::targets::add(&*s.db, &s.connector, new, true).await {
        Ok(checked) => {
            let saved = checked.saved;
            let checks = app::checks(checked.checks);
            let said = if saved {
                let after = serde_json::json!({"name": form.name, "kind": form.kind, "url": form.url, "credentials": app::audit::CHANGED});
                audited(&s, &signed, "target.add", &format!("target/{}", form.name), None, Some(after)).await;
                TargetsSaid {
                    checks,
                    notice: Some(format!("target {} added; bind a source to it to provision it", form.name)),
                    ..TargetsSaid::default()
                }
            } else {
                TargetsSaid {
                    checks,
                    ..draft(format!(
                        "target {} was not saved: a check failed; fix what it says and try again",
                        form.name
                    ))
                }
            };
            targets_view(&s, signed, said).await
        }
        Err(e) if is_refusal(&e) => targets_view(&s, signed, draft(e.to_string())).await,
        Err(e) => targets_view(&s, signed, draft(format!("{e}; nothing was saved"))).await,
    }
}
