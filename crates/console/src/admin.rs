//! Administration: administrators, admin tokens, the audit log, about.

use super::*;

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

pub(super) async fn admin_page(State(s): State<ConsoleState>, SignedIn(signed): SignedIn) -> Response {
    admin_view(&s, signed, Said::default()).await
}

/// What an audit entry keeps of an object removed by name.
fn named(object: &str) -> Option<serde_json::Value> {
    Some(serde_json::json!({"name": object.rsplit('/').next()}))
}

fn problem(e: &app::Error) -> Said {
    Said { problem: Some(e.to_string()), ..Said::default() }
}

#[derive(Deserialize)]
pub(super) struct NewAdministratorForm {
    name: String,
    password: String,
}

pub(super) async fn add_administrator(
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

pub(super) async fn remove_administrator(
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
pub(super) struct NewTokenForm {
    name: String,
    scope: api_types::Scope,
    #[serde(default)]
    expires_in: String,
    password: Option<String>,
}

/// Creating an admin token is dangerous: the password again, unless given in the last minutes.
pub(super) async fn create_token(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Peer(peer): Peer,
    Form(form): Form<NewTokenForm>,
) -> Response {
    if let Err(problem) = confirm(&s, &signed, &peer, form.password.as_deref(), "no token was created").await {
        return admin_view(&s, signed, Said { problem: Some(problem), ..Said::default() }).await;
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

pub(super) async fn revoke_token(
    State(s): State<ConsoleState>,
    SignedIn(signed): SignedIn,
    Path(name): Path<String>,
) -> Response {
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
