//! The web console: server-rendered pages (askama) over the same `app` services as the admin API,
//! for administrators signed in with a password. Sessions live in the database behind a
//! `__Host-` cookie; every state-changing request must come from the console's own pages (the
//! `Origin` / `Sec-Fetch-Site` check); pages carry a strict Content-Security-Policy and load
//! nothing from elsewhere.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use app::administrators::Signed;
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde::Deserialize;

mod admin;
mod assets;
mod backup;
mod binding;
mod dashboard;
mod explain;
mod log;
mod providers;
mod pull_providers;
mod rules_form;
mod runs;
mod session;
mod source;
mod sources;
mod target;
mod targets;
mod troubleshooting;

use admin::*;
use backup::*;
use binding::*;
use dashboard::*;
use explain::*;
use log::*;
use runs::*;
use session::*;
use source::*;
use sources::*;
use target::*;
use targets::*;
use troubleshooting::*;

/// What the pages work with.
#[derive(Clone)]
pub struct ConsoleState {
    pub db: Arc<dyn store::Database>,
    pub policy: app::administrators::SessionPolicy,
    /// Where the server is reached, for the URLs pages show.
    pub root: String,
    pub logging: Arc<app::diagnostics::Logging>,
    pub started: Timestamp,
    pub engine: Arc<sync::Engine>,
    pub connector: Arc<app::targets::SealedConnector>,
    /// Runs this server carries on, for their progress.
    pub tasks: Arc<app::runs::Tasks>,
    /// How pull sources are read.
    pub pull_env: app::pull::PullEnv,
    /// Turns true when the server stops, which interrupts the reads started here.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The SCIM endpoint's memory of tokens it accepted, forgotten when tokens change.
    pub auth_cache: Arc<scim::AuthCache>,
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
        .route("/ui/sources/new/{kind}", get(new_pull_page).post(add_pull))
        .route("/ui/sources/{name}", get(source_page))
        .route("/ui/sources/{name}/sync", axum::routing::post(synchronize))
        .route("/ui/sources/{name}/test", axum::routing::post(test_source))
        .route("/ui/sources/{name}/preview", axum::routing::post(preview_read))
        .route("/ui/sources/{name}/settings", get(settings_page).post(save_settings))
        .route("/ui/sources/{name}/lookup", get(lookup))
        .route("/ui/sources/{name}/schedule", axum::routing::post(set_schedule))
        .route("/ui/sources/{name}/schedule/next", get(schedule_preview))
        .route("/ui/sources/{name}/pause", axum::routing::post(pause))
        .route("/ui/sources/{name}/rotate", axum::routing::post(rotate))
        .route("/ui/sources/{name}/delete", axum::routing::post(delete))
        .route("/ui/bindings", axum::routing::post(add_binding))
        .route("/ui/bindings/{source}/{target}", get(binding_page).post(save_rules))
        .route("/ui/bindings/{source}/{target}/check", axum::routing::post(check_rules))
        .route("/ui/bindings/{source}/{target}/preview", axum::routing::post(preview_rules))
        .route("/ui/backup", get(backup_page))
        .route("/ui/backup/download", get(download))
        .route("/ui/backup/sealed", axum::routing::post(download_sealed))
        .route("/ui/backup/restore", axum::routing::post(upload))
        .route("/ui/backup/apply", axum::routing::post(apply))
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
        .route("/ui/explain", get(explain_page))
        .route("/ui/log.csv", get(log_csv))
        .route("/ui/log.json", get(log_json))
        .route("/ui/targets", get(targets_page).post(add_target))
        .route("/ui/targets/{name}", get(target_page))
        .route("/ui/targets/{name}/test", axum::routing::post(test_target))
        .route("/ui/targets/{name}/preview", axum::routing::post(preview_target))
        .route("/ui/targets/{name}/sync", axum::routing::post(synchronize_target))
        .route("/ui/targets/{name}/unmanaged", get(unmanaged))
        .route("/ui/targets/{name}/edit", axum::routing::post(edit_target))
        .route("/ui/targets/{name}/delete", axum::routing::post(delete_target))
        .route("/ui/runs", get(runs_page))
        .route("/ui/runs/{id}", get(run_page))
        .route("/ui/runs/{id}/decision", axum::routing::post(decide))
        .route("/ui/runs/{id}/events", get(progress_events))
        .route("/ui/runs/{id}/progress", get(progress_fragment))
        .route("/ui/assets/{file}", get(assets::file))
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

/// Whether the page says what was wrong (rather than idsync failing).
fn is_refusal(e: &app::Error) -> bool {
    matches!(e, app::Error::Invalid(_) | app::Error::Missing { .. } | app::Error::Store(store::StoreError::Conflict(_)))
}

/// One check of a connection test, as the pages list it.
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

/// A JSON value as a page shows it: text as it is, anything else as JSON.
fn shown(value: &serde_json::Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

/// The first value of a field of a form read as pairs (one whose boxes repeat a field name).
fn first<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Every value of a field of a form read as pairs: one per ticked box.
fn every<'a>(form: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    form.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// How many rows a list page shows.
const PER_PAGE: usize = 50;

/// Where a list sorted by name goes on from: `?after=<the last name shown>`.
#[derive(Deserialize, Default)]
struct After {
    after: Option<String>,
}

/// One page of a list sorted by name: the items after `after`, and the name to go on from when
/// there are more.
fn page_of<T>(items: Vec<T>, after: Option<&str>, name: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = items.into_iter().filter(|item| after.is_none_or(|a| name(item) > a)).collect();
    let more = rest.len() > PER_PAGE;
    rest.truncate(PER_PAGE);
    let next = more.then(|| rest.last().map(|item| name(item).to_string())).flatten();
    (rest, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_goes_on_from_the_last_name_shown() {
        let names: Vec<String> = (0..120).map(|i| format!("s{i:03}")).collect();
        let (first, next) = page_of(names.clone(), None, |n| n.as_str());
        assert_eq!((first.len(), next.as_deref()), (PER_PAGE, Some("s049")));
        let (second, next) = page_of(names.clone(), next.as_deref(), |n| n.as_str());
        assert_eq!((second[0].as_str(), next.as_deref()), ("s050", Some("s099")));
        let (last, next) = page_of(names, next.as_deref(), |n| n.as_str());
        assert_eq!((last.len(), next), (20, None));
    }
}
