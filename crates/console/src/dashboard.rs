//! The dashboard: a card per source and target, and the held runs.

use super::*;

struct SourceCard {
    name: String,
    kind: String,
    reads: Option<String>,
    users: u64,
    groups: u64,
    last_run: String,
    next_run: String,
}

struct TargetCard {
    name: String,
    kind: String,
    healthy: bool,
    health: String,
    detail: String,
    managed_users: u64,
    pending: u64,
    oldest_pending: Option<String>,
}

struct HeldCard {
    id: i64,
    target: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    signed_in: Option<String>,
    sources: Vec<SourceCard>,
    targets: Vec<TargetCard>,
    held: Vec<HeldCard>,
}

pub(super) async fn dashboard(State(s): State<ConsoleState>, SignedIn(signed): SignedIn) -> Response {
    let server =
        app::diagnostics::Server { version: env!("CARGO_PKG_VERSION"), started: s.started, logging: &s.logging };
    let status = match app::diagnostics::status(&*s.db, &server, &s.root).await {
        Ok(status) => status,
        Err(e) => return failure(&e),
    };
    let sources = match app::sources::list(&*s.db, &s.root).await {
        Ok(sources) => sources,
        Err(e) => return failure(&e),
    };
    let sources = sources
        .into_iter()
        .map(|source| {
            let known = status.sources.iter().find(|st| st.name == source.name);
            let last_run = known
                .and_then(|st| st.last_run.as_ref())
                .map(|r| format!("{} {}", r["state"].as_str().unwrap_or(""), r["started"].as_str().unwrap_or("")))
                .unwrap_or_else(|| if source.reads.is_some() { "never".into() } else { "pushes as it changes".into() });
            let next_run = known
                .and_then(|st| st.next_run.clone())
                .unwrap_or_else(|| if source.reads.is_some() { "not scheduled".into() } else { "—".into() });
            SourceCard {
                name: source.name,
                kind: source.kind,
                reads: source.reads,
                users: source.users,
                groups: source.groups,
                last_run,
                next_run,
            }
        })
        .collect();
    let targets = status
        .targets
        .into_iter()
        .map(|t| TargetCard {
            name: t.name,
            kind: t.kind,
            healthy: t.healthy,
            health: t.health,
            detail: t.health_detail,
            managed_users: t.managed_users,
            pending: t.pending,
            oldest_pending: t.oldest_pending,
        })
        .collect();
    let held = status
        .held_runs
        .into_iter()
        .map(|r| HeldCard { id: r.id, target: r.target, reason: r.hold_reason.unwrap_or_default() })
        .collect();
    page(&Dashboard { signed_in: Some(signed.administrator), sources, targets, held })
}
