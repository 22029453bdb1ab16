//! The web console: server-rendered pages (askama) over the same `app` services as the admin API,
//! for administrators signed in with a password. Sessions live in the database behind a
//! `__Host-` cookie; every state-changing request must come from the console's own pages (the
//! `Origin` / `Sec-Fetch-Site` check); pages carry a strict Content-Security-Policy and load
//! nothing from elsewhere.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use app::administrators::{Signed, Throttle};
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde::Deserialize;

mod assets;
mod providers;

const COOKIE: &str = "__Host-idsync";

/// What the pages work with.
#[derive(Clone)]
pub struct ConsoleState {
    pub db: Arc<dyn store::Database>,
    pub throttle: Arc<Throttle>,
    pub policy: app::administrators::SessionPolicy,
    /// Where the server is reached, for the URLs pages show.
    pub root: String,
    pub logging: Arc<app::diagnostics::Logging>,
    pub started: Timestamp,
    pub engine: Arc<sync::Engine>,
    pub connector: Arc<app::targets::SealedConnector>,
    /// Runs this server carries on, for their progress.
    pub tasks: Arc<app::runs::Tasks>,
}

/// The console's routes: `/` leads to it, the pages are under `/ui/`. `trusted_origin` is the
/// public URL, whose `Origin` is accepted for forms even behind a proxy that rewrites `Host`.
pub fn router(state: ConsoleState, trusted_origin: Option<&str>) -> Router {
    let mut csrf = tower_http::csrf::CsrfLayer::new();
    if let Some(origin) = trusted_origin.map(|o| o.trim_end_matches('/')) {
        match csrf.clone().add_trusted_origin(origin) {
            Ok(with_origin) => csrf = with_origin,
            Err(e) => tracing::warn!(origin, error = %e, "public_url is not an origin the console can trust"),
        }
    }
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(dashboard))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", axum::routing::post(logout))
        .route("/ui/sources", get(sources_page).post(add_source))
        .route("/ui/admin", get(admin_page))
        .route("/ui/admin/administrators", axum::routing::post(add_administrator))
        .route("/ui/admin/administrators/{name}/remove", axum::routing::post(remove_administrator))
        .route("/ui/admin/tokens", axum::routing::post(create_token))
        .route("/ui/admin/tokens/{name}/revoke", axum::routing::post(revoke_token))
        .route("/ui/troubleshooting", get(troubleshooting_page))
        .route("/ui/troubleshooting/level", axum::routing::post(set_level))
        .route("/ui/troubleshooting/tail", get(tail))
        .route("/ui/troubleshooting/bundle", get(bundle))
        .route("/ui/log", get(log_page))
        .route("/ui/log.csv", get(log_csv))
        .route("/ui/log.json", get(log_json))
        .route("/ui/targets", get(targets_page).post(add_target))
        .route("/ui/targets/{name}/test", axum::routing::post(test_target))
        .route("/ui/runs", get(runs_page))
        .route("/ui/runs/{id}", get(run_page))
        .route("/ui/runs/{id}/decision", axum::routing::post(decide))
        .route(&assets::STYLESHEET_PATH, get(assets::stylesheet))
        .route(&assets::SCRIPT_PATH, get(assets::script))
        .route("/favicon.ico", get(assets::icon))
        .layer(csrf)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// The headers every console answer carries: what the page may load (only from here), that it
/// may not be framed, sniffed, or leak where it was, and that it is not cached.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    set(headers, header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The administrator a page is for; without a live session, the page leads to the sign-in.
struct SignedIn(Signed);

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let secret = session_secret(&parts.headers).ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        match app::administrators::session(&*state.db, &state.policy, &secret, Timestamp::now()).await {
            Ok(signed) => Ok(SignedIn(signed)),
            Err(app::Error::Unauthenticated(_)) => Err(Redirect::to("/ui/login").into_response()),
            Err(e) => Err(failure(&e)),
        }
    }
}

/// A failure of idsync itself, in words that say what to do.
fn failure(error: &app::Error) -> Response {
    tracing::warn!(error = %error, "a console page failed");
    let said = format!(
        "idsync could not show this page: {error}. Reload it in a moment; if it keeps failing, see the server's log."
    );
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], said).into_response()
}

fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "idsync could not render this page; see the server's log")
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    stylesheet: &'static str,
    signed_in: Option<String>,
    name: String,
    problem: Option<String>,
}

async fn login_page() -> Response {
    page(&LoginPage { stylesheet: &assets::STYLESHEET_PATH, signed_in: None, name: String::new(), problem: None })
}

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

/// The address a request came from (as the listener saw it), for the limit on failed sign-ins.
struct Peer(String);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
        Ok(Peer(peer.unwrap_or_else(|| "unknown".into())))
    }
}

async fn login(
    State(s): State<ConsoleState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let now = Timestamp::now();
    let refused = |status: StatusCode, problem: String, name: String| {
        let mut response =
            page(&LoginPage { stylesheet: &assets::STYLESHEET_PATH, signed_in: None, name, problem: Some(problem) });
        *response.status_mut() = status;
        response
    };
    match app::administrators::login(&*s.db, &s.policy, &s.throttle, &form.name, &form.password, &peer, now).await {
        Ok(opened) => {
            // A session the browser brought along ends: the new one is the only one this login made.
            if let Some(old) = session_secret(&headers) {
                let _ = app::administrators::logout(&*s.db, &old).await;
            }
            let max_age = opened.expires.duration_since(now).as_secs().max(0);
            let cookie =
                format!("{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}", opened.secret);
            let mut response = Redirect::to("/ui/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            *response.status_mut() = StatusCode::SEE_OTHER;
            response
        }
        Err(app::Error::Throttled(message)) => refused(StatusCode::TOO_MANY_REQUESTS, message, form.name),
        Err(app::Error::Unauthenticated(message)) => refused(StatusCode::UNAUTHORIZED, message, form.name),
        Err(e) => failure(&e),
    }
}

async fn logout(State(s): State<ConsoleState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_secret(&headers)
        && let Err(e) = app::administrators::logout(&*s.db, &secret).await
    {
        return failure(&e);
    }
    let mut response = Redirect::to("/ui/login").into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-idsync=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

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
    stylesheet: &'static str,
    signed_in: Option<String>,
    sources: Vec<SourceCard>,
    targets: Vec<TargetCard>,
    held: Vec<HeldCard>,
}

async fn dashboard(State(s): State<ConsoleState>, SignedIn(signed): SignedIn) -> Response {
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
    page(&Dashboard {
        stylesheet: &assets::STYLESHEET_PATH,
        signed_in: Some(signed.administrator),
        sources,
        targets,
        held,
    })
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    stylesheet: &'static str,
    signed_in: Option<String>,
    sources: Vec<api_types::Source>,
    providers: &'static [providers::PushProvider],
    chosen: String,
    name: String,
    problem: Option<String>,
}

async fn sources_view(s: &ConsoleState, signed: Signed, chosen: &str, name: &str, problem: Option<String>) -> Response {
    match app::sources::list(&*s.db, &s.root).await {
        Ok(sources) => page(&SourcesPage {
            stylesheet: &assets::STYLESHEET_PATH,
            signed_in: Some(signed.administrator),
            sources,
            providers: providers::PUSH,
            chosen: chosen.to_string(),
            name: name.to_string(),
            problem,
        }),
        Err(e) => failure(&e),
    }
}

async fn sources_page(State(s): State<ConsoleState>, SignedIn(signed): SignedIn) -> Response {
    sources_view(&s, signed, "entra", "", None).await
}

#[derive(Deserialize)]
struct NewSource {
    provider: String,
    name: String,
}

#[derive(Template)]
#[template(path = "source_added.html")]
struct SourceAdded {
    stylesheet: &'static str,
    script: &'static str,
    signed_in: Option<String>,
    provider: &'static providers::PushProvider,
    name: String,
    base_url: String,
    token: String,
}

async fn add_source(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Form(form): Form<NewSource>,
) -> Response {
    let Some(provider) = providers::push(&form.provider) else {
        let problem = format!("'{}' is not an identity provider the console knows", form.provider);
        return sources_view(&s, signed, "scim", &form.name, Some(problem)).await;
    };
    match app::sources::create_push(&*s.db, &form.name, "scim").await {
        Ok(token) => {
            let after = serde_json::json!({"name": form.name, "kind": "scim", "token": app::audit::CHANGED});
            audited(&s, &signed, "source.add", &format!("source/{}", form.name), None, Some(after)).await;
            page(&SourceAdded {
                stylesheet: &assets::STYLESHEET_PATH,
                script: &assets::SCRIPT_PATH,
                signed_in: Some(signed.administrator),
                provider,
                base_url: app::sources::scim_url(&s.root, &form.name),
                name: form.name,
                token,
            })
        }
        Err(e @ (app::Error::Invalid(_) | app::Error::Store(store::StoreError::Conflict(_)))) => {
            sources_view(&s, signed, provider.key, &form.name, Some(e.to_string())).await
        }
        Err(e) => failure(&e),
    }
}

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

fn word<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

fn run_row(r: &api_types::Run) -> RunRow {
    RunRow {
        id: r.id,
        kind: word(r.kind),
        target: r.target.clone(),
        state: word(r.state),
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
struct Older {
    after: Option<i64>,
}

const RUNS_PER_PAGE: u32 = 50;

async fn runs_page(State(s): State<ConsoleState>, SignedIn(signed): SignedIn, Query(older): Query<Older>) -> Response {
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

async fn run_page(State(s): State<ConsoleState>, SignedIn(signed): SignedIn, Path(id): Path<i64>) -> Response {
    run_view(&s, signed, id, None, None).await
}

#[derive(Deserialize)]
struct Decision {
    decision: String,
    password: Option<String>,
}

/// Approve (the password again, unless given in the last few minutes) or reject a held run.
async fn decide(
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

/// A search of the provisioning log as the form sends it; empty fields select everything.
#[derive(Deserialize, Default, serde::Serialize)]
struct LogSearch {
    #[serde(default)]
    user: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    since: String,
    #[serde(default, skip_serializing)]
    after: Option<i64>,
}

const LOG_RESULTS: &[&str] = &["applied", "failed", "retrying", "skipped", "conflict", "held", "planned", "rejected"];
const LOG_PER_PAGE: u32 = 100;
/// The most entries one download holds.
const LOG_DOWNLOAD: u32 = 100_000;

impl LogSearch {
    fn query(&self, limit: u32) -> Result<store::EventQuery, String> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let since = match text(&self.since) {
            Some(t) => Some(
                t.parse::<store::Time>()
                    .map_err(|_| format!("'{t}' is not a time: write it as RFC 3339, such as 2026-12-01T09:00:00Z"))?,
            ),
            None => None,
        };
        Ok(store::EventQuery {
            user: text(&self.user),
            group: text(&self.group),
            source: text(&self.source),
            target: text(&self.target),
            result: text(&self.result),
            since,
            before: self.after,
            limit,
            ..store::EventQuery::default()
        })
    }

    /// The search as a query string, for the next page and the downloads.
    fn encoded(&self) -> String {
        let pairs = [
            ("user", &self.user),
            ("group", &self.group),
            ("source", &self.source),
            ("target", &self.target),
            ("result", &self.result),
            ("since", &self.since),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", api_types::percent_encoded(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

struct LogRow {
    at: String,
    result: String,
    target: String,
    action: String,
    object: String,
    reason: String,
    detail: Option<String>,
}

fn log_row(e: api_types::LogEntry) -> LogRow {
    let object = match (&e.user, &e.group) {
        (Some(u), Some(g)) => format!("{u} in {g}"),
        (Some(u), None) => u.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => String::new(),
    };
    LogRow {
        at: e.at,
        result: e.result,
        target: e.target,
        action: e.action,
        object,
        reason: e.reason,
        detail: e.detail,
    }
}

#[derive(Template)]
#[template(path = "log.html")]
struct LogPage {
    stylesheet: &'static str,
    signed_in: Option<String>,
    q: LogSearch,
    query: String,
    results: &'static [&'static str],
    entries: Vec<LogRow>,
    next: Option<i64>,
    problem: Option<String>,
}

async fn log_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(search): Query<LogSearch>,
) -> Response {
    let (entries, next, problem) = match search.query(LOG_PER_PAGE + 1) {
        Ok(query) => match app::log::entries(&*s.db, &query).await {
            Ok(mut entries) => {
                let next = (entries.len() > LOG_PER_PAGE as usize).then(|| {
                    entries.truncate(LOG_PER_PAGE as usize);
                    entries.last().map(|e| e.id)
                });
                (entries, next.flatten(), None)
            }
            Err(e) => return failure(&e),
        },
        Err(problem) => (Vec::new(), None, Some(problem)),
    };
    page(&LogPage {
        stylesheet: &assets::STYLESHEET_PATH,
        signed_in: Some(signed.administrator),
        query: search.encoded(),
        q: search,
        results: LOG_RESULTS,
        entries: entries.into_iter().map(log_row).collect(),
        next,
        problem,
    })
}

async fn log_download(s: &ConsoleState, search: &LogSearch) -> Result<Vec<api_types::LogEntry>, Response> {
    let query = search.query(LOG_DOWNLOAD).map_err(|p| (StatusCode::BAD_REQUEST, p).into_response())?;
    app::log::entries(&*s.db, &query).await.map_err(|e| failure(&e))
}

fn attachment(content_type: &'static str, name: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CONTENT_DISPOSITION, name)], body).into_response()
}

/// A CSV field, quoted when it must be, and never read as a formula by a spreadsheet.
fn csv_field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

async fn log_csv(State(s): State<ConsoleState>, SignedIn(_): SignedIn, Query(search): Query<LogSearch>) -> Response {
    let entries = match log_download(&s, &search).await {
        Ok(entries) => entries,
        Err(response) => return response,
    };
    let mut body = String::from("at,result,source,target,action,user,group,reason,detail\r\n");
    for e in entries {
        let fields = [
            e.at,
            e.result,
            e.source,
            e.target,
            e.action,
            e.user.unwrap_or_default(),
            e.group.unwrap_or_default(),
            e.reason,
            e.detail.unwrap_or_default(),
        ];
        body.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        body.push_str("\r\n");
    }
    attachment("text/csv; charset=utf-8", "attachment; filename=\"idsync-log.csv\"", body)
}

async fn log_json(State(s): State<ConsoleState>, SignedIn(_): SignedIn, Query(search): Query<LogSearch>) -> Response {
    match log_download(&s, &search).await {
        Ok(entries) => attachment(
            "application/json",
            "attachment; filename=\"idsync-log.json\"",
            serde_json::to_string_pretty(&entries).unwrap_or_default(),
        ),
        Err(response) => response,
    }
}

struct AdministratorRow {
    name: String,
    created: String,
    last_login: String,
}

struct TokenRow {
    name: String,
    scope: String,
    expires: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    stylesheet: &'static str,
    script: &'static str,
    signed_in: Option<String>,
    recent: bool,
    administrators: Vec<AdministratorRow>,
    tokens: Vec<TokenRow>,
    audit: Vec<api_types::AuditEntry>,
    version: &'static str,
    database: String,
    new_secret: Option<String>,
    notice: Option<String>,
    problem: Option<String>,
}

/// What the administration page says after an action.
#[derive(Default)]
struct Said {
    new_secret: Option<String>,
    notice: Option<String>,
    problem: Option<String>,
}

async fn admin_view(s: &ConsoleState, signed: Signed, said: Said) -> Response {
    let gathered = async {
        let administrators = app::administrators::list(&*s.db).await?;
        let tokens = app::admin_tokens::list(&*s.db).await?;
        let audit = app::audit::list(&*s.db, None, None, 50).await?;
        let version = s.db.schema_version().await?;
        Ok::<_, app::Error>((administrators, tokens, audit, format!("{} (schema {version})", s.db.backend())))
    };
    let (administrators, tokens, audit, database) = match gathered.await {
        Ok(all) => all,
        Err(e) => return failure(&e),
    };
    page(&AdminPage {
        stylesheet: &assets::STYLESHEET_PATH,
        script: &assets::SCRIPT_PATH,
        recent: signed.recently_authenticated,
        signed_in: Some(signed.administrator),
        administrators: administrators
            .into_iter()
            .map(|a| AdministratorRow {
                name: a.name,
                created: a.created,
                last_login: a.last_login.unwrap_or_else(|| "never".into()),
            })
            .collect(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                name: t.name,
                scope: t.scope.to_string(),
                expires: t.expires.unwrap_or_else(|| "never".into()),
                last_used: t.last_used.unwrap_or_else(|| "never".into()),
            })
            .collect(),
        audit,
        version: env!("CARGO_PKG_VERSION"),
        database,
        new_secret: said.new_secret,
        notice: said.notice,
        problem: said.problem,
    })
}

async fn admin_page(State(s): State<ConsoleState>, SignedIn(signed): SignedIn) -> Response {
    admin_view(&s, signed, Said::default()).await
}

/// Records a change made in the console, under the administrator's name. The change is made by
/// then: a failure to record it is logged, not reported as the change failing.
async fn audited(
    s: &ConsoleState,
    signed: &Signed,
    action: &str,
    object: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) {
    let actor = app::audit::Actor::administrator(&signed.administrator);
    if let Err(e) = app::audit::record(&*s.db, &actor, action, object, before, after).await {
        tracing::error!(action, object, error = %e, "a change was made and the audit log could not record it");
    }
}

/// What an audit entry keeps of an object removed by name.
fn named(object: &str) -> Option<serde_json::Value> {
    Some(serde_json::json!({"name": object.rsplit('/').next()}))
}

/// Whether the page says what was wrong (rather than idsync failing).
fn is_refusal(e: &app::Error) -> bool {
    matches!(e, app::Error::Invalid(_) | app::Error::Missing { .. } | app::Error::Store(store::StoreError::Conflict(_)))
}

fn problem(e: &app::Error) -> Said {
    Said { problem: Some(e.to_string()), ..Said::default() }
}

#[derive(Deserialize)]
struct NewAdministratorForm {
    name: String,
    password: String,
}

async fn add_administrator(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Form(form): Form<NewAdministratorForm>,
) -> Response {
    let said = match app::administrators::create(&*s.db, &form.name, &form.password, Timestamp::now()).await {
        Ok(made) => {
            let after = serde_json::json!({"name": made.name, "password": app::audit::CHANGED});
            audited(&s, &signed, "administrator.add", &format!("administrator/{}", made.name), None, Some(after)).await;
            Said { notice: Some(format!("administrator {} added", made.name)), ..Said::default() }
        }
        Err(e) if is_refusal(&e) => problem(&e),
        Err(e) => return failure(&e),
    };
    admin_view(&s, signed, said).await
}

async fn remove_administrator(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
    let said = match app::administrators::remove(&*s.db, &name).await {
        Ok(()) => {
            let object = format!("administrator/{name}");
            audited(&s, &signed, "administrator.remove", &object, named(&object), None).await;
            Said { notice: Some(format!("administrator {name} removed; their sessions have ended")), ..Said::default() }
        }
        Err(e) if is_refusal(&e) => problem(&e),
        Err(e) => return failure(&e),
    };
    if name.eq_ignore_ascii_case(&signed.administrator) && said.problem.is_none() {
        return Redirect::to("/ui/login").into_response();
    }
    admin_view(&s, signed, said).await
}

#[derive(Deserialize)]
struct NewTokenForm {
    name: String,
    scope: api_types::Scope,
    #[serde(default)]
    expires_in: String,
    password: Option<String>,
}

/// Creating an admin token is dangerous: the password again, unless given in the last minutes.
async fn create_token(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Form(form): Form<NewTokenForm>,
) -> Response {
    if !signed.recently_authenticated {
        let password = form.password.clone().unwrap_or_default();
        if let Err(e) =
            app::administrators::reauthenticate(&*s.db, &s.throttle, &signed, &password, &peer, Timestamp::now()).await
        {
            let problem = match e {
                app::Error::Unauthenticated(_) => "the password is wrong; no token was created".to_string(),
                other => format!("{other}; no token was created"),
            };
            return admin_view(&s, signed, Said { problem: Some(problem), ..Said::default() }).await;
        }
    }
    let expires_in = Some(form.expires_in.trim().to_string()).filter(|e| !e.is_empty());
    let request = api_types::NewAdminToken { name: form.name, scope: form.scope, expires_in };
    let said = match app::admin_tokens::create(&*s.db, &request, Timestamp::now()).await {
        Ok(issued) => {
            let after = serde_json::json!({"name": issued.token.name, "scope": issued.token.scope, "expires": issued.token.expires});
            audited(&s, &signed, "admin_token.add", &format!("admin-token/{}", issued.token.name), None, Some(after))
                .await;
            Said {
                notice: Some(format!("admin token {} created", issued.token.name)),
                new_secret: Some(issued.secret),
                ..Said::default()
            }
        }
        Err(e) if is_refusal(&e) => problem(&e),
        Err(e) => return failure(&e),
    };
    admin_view(&s, signed, said).await
}

async fn revoke_token(State(s): State<ConsoleState>, SignedIn(signed): SignedIn, Path(name): Path<String>) -> Response {
    let said = match app::admin_tokens::revoke(&*s.db, &name).await {
        Ok(()) => {
            let object = format!("admin-token/{name}");
            audited(&s, &signed, "admin_token.revoke", &object, named(&object), None).await;
            Said { notice: Some(format!("admin token {name} revoked; it no longer opens the API")), ..Said::default() }
        }
        Err(e) if is_refusal(&e) => problem(&e),
        Err(e) => return failure(&e),
    };
    admin_view(&s, signed, said).await
}

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
struct TailFilter {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "troubleshooting.html")]
struct TroubleshootingPage {
    stylesheet: &'static str,
    script: &'static str,
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
        stylesheet: &assets::STYLESHEET_PATH,
        script: &assets::SCRIPT_PATH,
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

async fn troubleshooting_page(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Query(filter): Query<TailFilter>,
) -> Response {
    troubleshooting_view(&s, signed, filter.q.trim(), None).await
}

async fn tail(State(s): State<ConsoleState>, SignedIn(_): SignedIn, Query(filter): Query<TailFilter>) -> Response {
    page(&Tail { lines: tail_lines(&s, filter.q.trim()) })
}

#[derive(Deserialize)]
struct LevelForm {
    level: String,
}

/// Debug for 30 minutes, or back to the level the server started with.
async fn set_level(State(s): State<ConsoleState>, SignedIn(signed): SignedIn, Form(form): Form<LevelForm>) -> Response {
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

async fn bundle(State(s): State<ConsoleState>, SignedIn(_): SignedIn) -> Response {
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

struct CheckRow {
    status: &'static str,
    what: String,
}

fn check_rows(checks: Vec<api_types::Check>) -> Vec<CheckRow> {
    checks
        .into_iter()
        .map(|c| CheckRow {
            status: match c.status {
                api_types::CheckStatus::Ok => "ok",
                api_types::CheckStatus::Warning => "warning",
                api_types::CheckStatus::Failed => "failed",
            },
            what: c.what,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    stylesheet: &'static str,
    signed_in: Option<String>,
    targets: Vec<api_types::Target>,
    /// What the checks below were of.
    checked: String,
    checks: Vec<CheckRow>,
    name: String,
    url: String,
    notice: Option<String>,
    problem: Option<String>,
}

/// What the targets page shows besides the list: a check's findings, a draft, what happened.
#[derive(Default)]
struct TargetsSaid {
    checked: String,
    checks: Vec<api_types::Check>,
    name: String,
    url: String,
    notice: Option<String>,
    problem: Option<String>,
}

async fn targets_view(s: &ConsoleState, signed: Signed, said: TargetsSaid) -> Response {
    let targets = match app::targets::overview(&*s.db).await {
        Ok(targets) => targets,
        Err(e) => return failure(&e),
    };
    page(&TargetsPage {
        stylesheet: &assets::STYLESHEET_PATH,
        signed_in: Some(signed.administrator),
        targets,
        checked: said.checked,
        checks: check_rows(said.checks),
        name: said.name,
        url: said.url,
        notice: said.notice,
        problem: said.problem,
    })
}

async fn targets_page(State(s): State<ConsoleState>, SignedIn(signed): SignedIn) -> Response {
    targets_view(&s, signed, TargetsSaid::default()).await
}

#[derive(Deserialize)]
struct NewTargetForm {
    kind: String,
    name: String,
    url: String,
    token: String,
}

/// Checks a target and saves it only when every check passes.
async fn add_target(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Form(form): Form<NewTargetForm>,
) -> Response {
    let draft = |problem: String| TargetsSaid {
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
                    checked: format!("Checks of {}", form.name),
                    checks,
                    notice: Some(format!("target {} added; bind a source to it to provision it", form.name)),
                    ..TargetsSaid::default()
                }
            } else {
                TargetsSaid {
                    checked: format!("Checks of {}", form.name),
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

async fn test_target(State(s): State<ConsoleState>, SignedIn(signed): SignedIn, Path(name): Path<String>) -> Response {
    let said = match app::targets::test(&*s.db, &s.connector, &name).await {
        Ok(checks) => {
            TargetsSaid { checked: format!("Checks of {name}"), checks: app::checks(checks), ..TargetsSaid::default() }
        }
        Err(e) => TargetsSaid { problem: Some(e.to_string()), ..TargetsSaid::default() },
    };
    targets_view(&s, signed, said).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; __Host-idsync=abc123; other=1"));
        assert_eq!(session_secret(&headers).as_deref(), Some("abc123"));
        headers.insert(header::COOKIE, HeaderValue::from_static("idsync=not-it"));
        assert_eq!(session_secret(&headers), None);
    }
}
