//! `/api/v1`: the admin API. Each operation is a thin handler over an `app` service, registered
//! together with its OpenAPI description, so the served document cannot miss a route.

use std::sync::Arc;

use api_types::{Problem, ProblemHint, Scope};
use axum::http::header;
use axum::routing::{any, get};
use axum::{Extension, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod admin_tokens;
mod administrators;
mod audit;
mod auth;
mod backup;
mod bindings;
mod diagnostics;
mod log;
mod login_sync;
mod page;
mod problem;
mod reference;
mod runs;
mod sources;
mod targets;

pub use problem::{ApiError, refuse_oversized};

/// What the handlers work with.
#[derive(Clone)]
pub struct ApiState {
    pub db: Arc<dyn store::Database>,
    pub connector: Arc<app::targets::SealedConnector>,
    /// Where this server is reached (`public_url`, or `http://<listen address>`), for the URLs it hands out.
    pub root: String,
    /// The SCIM endpoints' cache of source tokens, emptied when the API changes tokens.
    pub auth_cache: Arc<scim::AuthCache>,
    pub engine: Arc<sync::Engine>,
    /// Runs started through the API (pull reads, reconciles), carried on in the background.
    pub tasks: Arc<app::runs::Tasks>,
    pub pull_env: app::pull::PullEnv,
    /// Turns true when the server shuts down; runs in the background stop then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub logging: Arc<app::diagnostics::Logging>,
    /// How long a sync at login may take in all.
    pub login_timeout: std::time::Duration,
    /// When the server started, for its uptime.
    pub started: jiff::Timestamp,
}

/// Every operation answers a refusal as a problem document: said once here rather than on each
/// operation. (Which admin token scope each takes, `auth::scoped` says.)
struct Conventions;

pub(crate) const TOKEN_SCHEME: &str = "admin_token";

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(TOKEN_SCHEME, SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("login_sync_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        let refusal = ResponseBuilder::new()
            .description("A refusal, as an RFC 9457 problem document: 400 invalid input, 401 no valid admin token, 403 a scope that does not cover the operation, 404 no such object, 409 a conflict, 422 a failed check, 424 the identity provider or application failed or took too long, 5xx idsync failed")
            .content("application/problem+json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
            .build();
        for operation in operations_of(doc) {
            operation.responses.responses.insert("default".into(), refusal.clone().into());
        }
    }
}

/// Every operation of `doc`.
pub(crate) fn operations_of(
    doc: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
    })
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idsync admin API",
        description = "Configure and operate idsync: sources, targets, bindings, runs and admin tokens. Send an admin token as `Authorization: Bearer <token>`; a `read` token sees everything but secrets, `operate` also runs, approves and rejects, `admin` may do everything. Lists are paged with cursors: pass a page's `next` as `after`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(Problem, ProblemHint)),
    tags(
        (name = "sources", description = "Identity providers that push over SCIM or are read on a schedule"),
        (name = "targets", description = "Applications idsync provisions"),
        (name = "bindings", description = "Which source feeds which target, with the rules"),
        (name = "admin-tokens", description = "Tokens of this API"),
        (name = "administrators", description = "Who may sign in to the web console"),
        (name = "runs", description = "Reads of pull sources and reconciles of targets: start, follow, cancel, approve, reject"),
        (name = "log", description = "The provisioning log: what idsync did in each target, and why"),
        (name = "audit", description = "Who changed what, and when"),
        (name = "backup", description = "Backup and restore of the configuration"),
        (name = "diagnostics", description = "Status, log level at run time, recent logs, support bundles"),
    )
)]
struct ApiDoc;

fn operations() -> OpenApiRouter<ApiState> {
    let read = OpenApiRouter::new()
        .routes(routes!(sources::list))
        .routes(routes!(sources::show))
        .routes(routes!(targets::list))
        .routes(routes!(targets::show))
        .routes(routes!(targets::unmanaged))
        .routes(routes!(bindings::list))
        .routes(routes!(bindings::show))
        .routes(routes!(admin_tokens::list))
        .routes(routes!(administrators::list))
        .routes(routes!(audit::list))
        .routes(routes!(runs::list))
        .routes(routes!(runs::show))
        .routes(routes!(runs::events))
        .routes(routes!(diagnostics::status))
        .routes(routes!(diagnostics::log_level))
        .routes(routes!(diagnostics::logs))
        .routes(routes!(diagnostics::download_logs))
        .routes(routes!(backup::export))
        .routes(routes!(log::read))
        .routes(routes!(log::explain))
        .routes(routes!(sources::lookup))
        .routes(routes!(bindings::try_rules));
    let operate = OpenApiRouter::new()
        .routes(routes!(targets::test))
        .routes(routes!(sources::test))
        .routes(routes!(bindings::preview))
        .routes(routes!(runs::start_pull))
        .routes(routes!(sources::preview))
        .routes(routes!(runs::start_reconcile))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::approve))
        .routes(routes!(runs::reject))
        .routes(routes!(diagnostics::set_log_level))
        .routes(routes!(diagnostics::bundle));
    let admin = OpenApiRouter::new()
        .routes(routes!(sources::create))
        .routes(routes!(sources::rotate_token))
        .routes(routes!(sources::remove))
        .routes(routes!(sources::deprovision))
        .routes(routes!(targets::create))
        .routes(routes!(targets::change))
        .routes(routes!(targets::remove))
        .routes(routes!(bindings::create))
        .routes(routes!(bindings::set_rule))
        .routes(routes!(bindings::unset_rule))
        .routes(routes!(bindings::remove))
        .routes(routes!(bindings::import))
        .routes(routes!(admin_tokens::create))
        .routes(routes!(admin_tokens::revoke))
        .routes(routes!(administrators::create))
        .routes(routes!(administrators::set_password))
        .routes(routes!(administrators::remove))
        .routes(routes!(backup::export_sealed))
        .routes(routes!(backup::restore))
        .routes(routes!(sources::create_pull))
        .routes(routes!(sources::change_pull))
        .routes(routes!(sources::set_schedule))
        .routes(routes!(sources::login_token))
        .routes(routes!(sources::pause))
        .routes(routes!(sources::resume));
    let v1 = auth::scoped(Scope::Read, read)
        .merge(auth::scoped(Scope::Operate, operate))
        .merge(auth::scoped(Scope::Admin, admin))
        // Its own token, the source's login-sync token, which it checks itself.
        .routes(routes!(login_sync::login_sync));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}

/// Records a change made through the API. The change is made by then: a failure to record it is
/// logged as an error rather than reported as the change failing.
async fn audit(
    state: &ApiState,
    caller: &app::admin_tokens::Caller,
    action: &str,
    object: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) {
    if let Err(e) = app::audit::record(&*state.db, &caller.into(), action, object, before, after).await {
        tracing::error!(action, object, error = %e, "a change was made and the audit log could not record it");
    }
}

/// The OpenAPI 3.1 document of the admin API, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    with_conventions(operations().into_openapi())
}

/// The conventions reach every operation only once the routes have put theirs in the document.
fn with_conventions(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    Conventions.modify(&mut doc);
    doc
}

/// The document as served and as committed: pretty, with a final newline, so it diffs well.
pub fn document(doc: &utoipa::openapi::OpenApi) -> String {
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// The admin API's routes, to merge into the server's router.
pub fn router(state: ApiState) -> Router {
    let (operations, doc) = operations().split_for_parts();
    let doc = with_conventions(doc);
    let reference = reference::page(&serde_json::to_value(&doc).unwrap_or_default());
    let doc = document(&doc);
    let page_headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    operations
        .route(
            "/api/v1/openapi.json",
            get(move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], doc.clone()))),
        )
        .route("/api/v1/docs", get(move || std::future::ready((page_headers, reference.clone()))))
        .route("/api/v1/docs.css", get(|| std::future::ready(([(header::CONTENT_TYPE, "text/css")], reference::STYLE))))
        .route("/api/v1/{*rest}", any(problem::no_such_operation))
        .layer(axum::middleware::from_fn(problem::render_problems))
        .layer(Extension(state.clone()))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// The document is committed (`docs/api/openapi.json`) so that a change of the API shows in
    /// review; this fails when the code and the committed document part. To accept a change, run
    /// `IDSYNC_WRITE_OPENAPI=1 cargo test -p server` and commit the file.
    #[test]
    fn the_committed_openapi_document_is_the_one_the_code_makes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api/openapi.json");
        let made = super::document(&super::openapi());
        if std::env::var_os("IDSYNC_WRITE_OPENAPI").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &made).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == made,
            "docs/api/openapi.json differs from the API the code serves; if the change is meant, regenerate it with IDSYNC_WRITE_OPENAPI=1 cargo test -p server and commit it"
        );
    }
}
