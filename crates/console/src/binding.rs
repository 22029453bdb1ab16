//! A binding's user and group sync settings: every rule as a form field, checked as it is typed,
//! tried on a stored user, and previewed — the planner over the stored source with the unsaved
//! rules — before anything is saved.

use std::collections::HashMap;

use serde_json::Value;

use super::*;
use rules_form::FieldView;

type Given = HashMap<String, String>;

#[derive(Template)]
#[template(path = "binding.html")]
struct BindingPage {
    signed_in: Option<String>,
    source: String,
    target: String,
    state: String,
    revision: i64,
    users: Vec<FieldView>,
    groups: Vec<FieldView>,
    notice: Option<String>,
    problem: Option<String>,
}

/// The binding's rules in full (defaults filled in), as JSON the form reads.
async fn full_rules(s: &ConsoleState, source: &str, target: &str) -> Result<(api_types::Binding, Value), app::Error> {
    let binding = app::bindings::show(&*s.db, source, target).await?;
    let rules = app::drafts::full(source, target, &binding.rules)?;
    Ok((binding, rules))
}

async fn binding_view(
    s: &ConsoleState,
    signed: Signed,
    source: &str,
    target: &str,
    draft: Option<&Value>,
    notice: Option<String>,
    problem: Option<String>,
) -> Response {
    let (binding, rules) = match full_rules(s, source, target).await {
        Ok(found) => found,
        Err(app::Error::Missing { message, .. }) => return (StatusCode::NOT_FOUND, message).into_response(),
        Err(e) => return failure(&e),
    };
    let shown = draft.unwrap_or(&rules);
    page(&BindingPage {
        signed_in: Some(signed.administrator),
        source: binding.source,
        target: binding.target,
        state: binding.state,
        revision: binding.revision,
        users: rules_form::views(shown, "users"),
        groups: rules_form::views(shown, "groups"),
        notice,
        problem,
    })
}

pub(super) async fn binding_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path((source, target)): Path<(String, String)>,
) -> Response {
    binding_view(&s, signed, &source, &target, None, None, None).await
}

/// The draft the form holds: in full (for showing it again) and as it would be stored.
async fn draft(s: &ConsoleState, source: &str, target: &str, form: &Given) -> Result<(Value, Value), String> {
    let (_, base) = full_rules(s, source, target).await.map_err(|e| e.to_string())?;
    let full = rules_form::parse(&base, form)?;
    let stored = app::drafts::stored_from(&full).map_err(|e| e.to_string())?;
    Ok((full, stored))
}

#[derive(Template)]
#[template(path = "rules_checked.html")]
struct Checked {
    problem: Option<String>,
    tried_user: String,
    tried: Option<api_types::Trial>,
    try_problem: Option<String>,
}

/// Whether the unsaved rules hold together, and what they make of the user in the "try it" box.
pub(super) async fn check_rules(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Path((source, target)): Path<(String, String)>,
    Form(form): Form<Given>,
) -> Response {
    let tried_user = form.get("try_user").map(|u| u.trim().to_string()).unwrap_or_default();
    let mut checked = Checked { problem: None, tried_user: tried_user.clone(), tried: None, try_problem: None };
    match draft(&s, &source, &target, &form).await {
        Err(problem) => checked.problem = Some(problem),
        Ok((_, rules)) => match app::bindings::checked(&source, &target, &rules) {
            Err(e) => checked.problem = Some(e.to_string()),
            Ok(_) if tried_user.is_empty() => {}
            Ok(_) => match app::drafts::try_on(&*s.db, &source, &target, &rules, &tried_user).await {
                Ok(tried) => checked.tried = Some(tried),
                Err(e) => checked.try_problem = Some(e.to_string()),
            },
        },
    }
    page(&checked)
}

/// One kind of operation of a plan, with each one's subject and reason.
struct PlanGroup {
    action: String,
    ops: Vec<(String, String)>,
    more: usize,
}

#[derive(Template)]
#[template(path = "plan.html")]
pub(super) struct PlanView {
    problem: Option<String>,
    groups: Vec<PlanGroup>,
    skipped: Vec<(String, String)>,
    total: usize,
    hold_reason: Option<String>,
    only: String,
}

const SHOWN_PER_ACTION: usize = 200;

impl PlanView {
    pub(super) fn failed(problem: String) -> Self {
        PlanView {
            problem: Some(problem),
            groups: Vec::new(),
            skipped: Vec::new(),
            total: 0,
            hold_reason: None,
            only: String::new(),
        }
    }

    /// The plan grouped by action, keeping only operations whose subject or reason holds `only`.
    pub(super) fn of(report: &sync::RunReport, only: &str) -> Self {
        let skipped: Vec<(String, String)> =
            report.plan.skipped.iter().map(|s| (s.user.clone(), s.reason.clone())).collect();
        Self::of_ops(&report.plan.ops, &skipped, report.hold_reason.clone(), only)
    }

    /// The same for a plan as the API sends it.
    pub(super) fn of_plan(plan: &api_types::Plan, only: &str) -> Self {
        let ops: Vec<engine::PlannedOp> =
            plan.ops.iter().filter_map(|op| serde_json::from_value(op.clone()).ok()).collect();
        Self::of_ops(&ops, &[], plan.hold_reason.clone(), only)
    }

    fn of_ops(
        ops: &[engine::PlannedOp],
        skipped: &[(String, String)],
        hold_reason: Option<String>,
        only: &str,
    ) -> Self {
        let wanted = only.trim().to_lowercase();
        let keep = |text: &str| wanted.is_empty() || text.to_lowercase().contains(&wanted);
        let mut groups: Vec<PlanGroup> = Vec::new();
        let mut total = 0;
        for planned in ops {
            let subject = match (planned.op.user(), planned.op.group()) {
                (Some(user), Some(group)) => format!("{user} in {group}"),
                (Some(user), None) => user.to_string(),
                (None, Some(group)) => group.to_string(),
                (None, None) => String::new(),
            };
            if !keep(&subject) && !keep(&planned.reason) {
                continue;
            }
            total += 1;
            let action = planned.op.action();
            let at = match groups.iter().position(|g| g.action == action) {
                Some(at) => at,
                None => {
                    groups.push(PlanGroup { action: action.to_string(), ops: Vec::new(), more: 0 });
                    groups.len() - 1
                }
            };
            let group = &mut groups[at];
            if group.ops.len() < SHOWN_PER_ACTION {
                group.ops.push((subject, planned.reason.clone()));
            } else {
                group.more += 1;
            }
        }
        let skipped = skipped.iter().filter(|(user, reason)| keep(user) || keep(reason)).cloned().collect();
        PlanView { problem: None, groups, skipped, total, hold_reason, only: only.to_string() }
    }
}

/// What the unsaved rules would do to the target: a dry run of the planner over the stored
/// source, saving nothing but the dry run's record.
pub(super) async fn preview_rules(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Path((source, target)): Path<(String, String)>,
    Form(form): Form<Given>,
) -> Response {
    let only = form.get("only").cloned().unwrap_or_default();
    let view = match draft(&s, &source, &target, &form).await {
        Err(problem) => PlanView::failed(problem),
        Ok((_, rules)) => match app::bindings::preview(&s.engine, &*s.db, &source, &target, rules).await {
            Ok(report) => PlanView::of(&report, &only),
            Err(e) => PlanView::failed(e.to_string()),
        },
    };
    page(&view)
}

pub(super) async fn save_rules(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path((source, target)): Path<(String, String)>,
    Form(form): Form<Given>,
) -> Response {
    let (full, rules) = match draft(&s, &source, &target, &form).await {
        Ok(drafted) => drafted,
        Err(problem) => return binding_view(&s, signed, &source, &target, None, None, Some(problem)).await,
    };
    match app::drafts::save(&*s.db, &source, &target, &rules).await {
        Ok((before, after)) => {
            let object = format!("binding/{source}/{target}");
            audited(&s, &signed, "binding.rules", &object, Some(before.rules), Some(after.rules)).await;
            let notice = "rules saved; the target is brought in line with them now".to_string();
            binding_view(&s, signed, &source, &target, None, Some(notice), None).await
        }
        Err(e) if is_refusal(&e) => {
            let problem = format!("{e}; nothing was saved");
            binding_view(&s, signed, &source, &target, Some(&full), None, Some(problem)).await
        }
        Err(e) => failure(&e),
    }
}

#[derive(Deserialize)]
pub(super) struct NewBinding {
    source: String,
    target: String,
}

pub(super) async fn add_binding(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Form(form): Form<NewBinding>,
) -> Response {
    match app::bindings::add(&*s.db, &form.source, &form.target).await {
        Ok(binding) => {
            let object = format!("binding/{}/{}", binding.source, binding.target);
            audited(&s, &signed, "binding.add", &object, None, Some(binding.rules)).await;
            Redirect::to(&format!("/ui/bindings/{}/{}", binding.source, binding.target)).into_response()
        }
        Err(e) if is_refusal(&e) => source_said(&s, signed, &form.source, e.to_string()).await,
        Err(e) => failure(&e),
    }
}
