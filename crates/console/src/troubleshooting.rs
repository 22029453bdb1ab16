//! Troubleshooting: the log level, the live tail, status, the support bundle.

use super::*;

/// The log lines the troubleshooting page shows and refreshes.
const TAIL_LINES: usize = 200;

#[derive(Template)]
#[template(path = "tail.html")]
struct Tail {
    lines: Vec<String>,
}

/// The newest lines, or the newest that contain `filter`, from all the lines kept.
fn tail_lines(s: &ConsoleState, filter: &str) -> Vec<String> {
    if filter.is_empty() {
        return s.logging.recent_text(TAIL_LINES);
    }
    let mut matching: Vec<String> =
        s.logging.recent_text(usize::MAX).into_iter().rev().filter(|l| l.contains(filter)).take(TAIL_LINES).collect();
    matching.reverse();
    matching
}

#[derive(Deserialize, Default)]
pub(super) struct TailFilter {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "troubleshooting.html")]
struct TroubleshootingPage {
    signed_in: Option<String>,
    level: String,
    /// The filter in force, as `tracing` directives.
    directives: String,
    default_level: String,
    until: Option<String>,
    lines: Vec<String>,
    q: String,
    q_encoded: String,
    version: String,
    uptime: u64,
    lag: i64,
    targets: Vec<api_types::TargetStatus>,
    problem: Option<String>,
}

async fn troubleshooting_view(s: &ConsoleState, signed: Signed, filter: &str, problem: Option<String>) -> Response {
    let server =
        app::diagnostics::Server { version: env!("CARGO_PKG_VERSION"), started: s.started, logging: &s.logging };
    let status = match app::diagnostics::status(&*s.db, &server, &s.root).await {
        Ok(status) => status,
        Err(e) => return failure(&e),
    };
    let level = s.logging.level();
    // The debug level is a list of directives, one per part of idsync; it reads as one word.
    let shown = if s.logging.debugging() { "debug".to_string() } else { level.level.clone() };
    page(&TroubleshootingPage {
        signed_in: Some(signed.administrator),
        directives: level.level,
        level: shown,
        default_level: level.default,
        until: level.until,
        lines: tail_lines(s, filter),
        q: filter.to_string(),
        q_encoded: api_types::percent_encoded(filter),
        version: status.version,
        uptime: status.uptime_seconds,
        lag: status.journal.lag,
        targets: status.targets,
        problem,
    })
}

pub(super) async fn troubleshooting_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(filter): Query<TailFilter>,
) -> Response {
    troubleshooting_view(&s, signed, filter.q.trim(), None).await
}

pub(super) async fn tail(
    State(s): State<ConsoleState>,
    SignedIn(_): SignedIn,
    Query(filter): Query<TailFilter>,
) -> Response {
    page(&Tail { lines: tail_lines(&s, filter.q.trim()) })
}

#[derive(Deserialize)]
pub(super) struct LevelForm {
    level: String,
}

/// Debug for 30 minutes, or back to the level the server started with.
pub(super) async fn set_level(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Form(form): Form<LevelForm>,
) -> Response {
    let before = s.logging.level();
    let window = (form.level == "debug").then(|| std::time::Duration::from_secs(30 * 60));
    match s.logging.set(&form.level, window) {
        Ok(after) => {
            let (before, after) = (serde_json::to_value(before).ok(), serde_json::to_value(after).ok());
            audited(&s, &signed, "log_level.set", "diagnostics/log-level", before, after).await;
            let mut response = Redirect::to("/ui/troubleshooting").into_response();
            *response.status_mut() = StatusCode::SEE_OTHER;
            response
        }
        Err(e) => troubleshooting_view(&s, signed, "", Some(e.to_string())).await,
    }
}

pub(super) async fn bundle(State(s): State<ConsoleState>, SignedIn(_): SignedIn) -> Response {
    let server =
        app::diagnostics::Server { version: env!("CARGO_PKG_VERSION"), started: s.started, logging: &s.logging };
    match app::diagnostics::bundle(&*s.db, &s.connector, &server, &s.root).await {
        Ok(zip) => {
            let name =
                format!("attachment; filename=\"idsync-support-{}.zip\"", Timestamp::now().strftime("%Y%m%dT%H%M%SZ"));
            let mut response = ([(header::CONTENT_TYPE, "application/zip")], zip).into_response();
            if let Ok(value) = HeaderValue::from_str(&name) {
                response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(e) => failure(&e),
    }
}
